//! The CIFAR-10 binary format: each file is a run of 3,073-byte records, one label byte
//! (0..=9) then the red, green and blue 32x32 planes, each row-major. Files are read whole
//! and checked: a length that is not a whole number of records, or a label out of range,
//! is an error naming the file and the record.

use super::labelled::LabelledImages;
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// Image side in pixels.
pub const SIDE: usize = 32;
/// Bytes per record: one label byte and three 32x32 planes.
pub const RECORD_LEN: usize = 1 + 3 * SIDE * SIDE;

/// The ten class names, used when `batches.meta.txt` is absent.
pub const CLASS_NAMES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// Parses CIFAR-10 records from bytes; `path` labels errors.
pub fn parse(bytes: &[u8], path: &Path, class_names: &[String]) -> Result<LabelledImages> {
    if bytes.is_empty() || !bytes.len().is_multiple_of(RECORD_LEN) {
        return Err(Error::bad_input(
            path,
            "length",
            bytes.len(),
            format!(
                "not a whole number of {RECORD_LEN}-byte CIFAR-10 records ({} whole records and {} bytes left over)",
                bytes.len() / RECORD_LEN,
                bytes.len() % RECORD_LEN
            ),
        ));
    }
    let count = bytes.len() / RECORD_LEN;
    let plane = SIDE * SIDE;
    let mut out = LabelledImages::empty(SIDE, SIDE, 3, class_names.to_vec());
    out.pixels = vec![0u8; count * plane * 3];
    out.labels = Vec::with_capacity(count);
    for (r, record) in bytes.chunks_exact(RECORD_LEN).enumerate() {
        let label = record[0];
        if label as usize >= class_names.len() {
            return Err(Error::bad_input(
                path,
                &format!("record {r} label"),
                label,
                format!("labels must be in 0..{}", class_names.len()),
            ));
        }
        out.labels.push(label as u16);
        // Planar RGB on disk -> interleaved NHWC in memory.
        let dst = &mut out.pixels[r * plane * 3..(r + 1) * plane * 3];
        for c in 0..3 {
            let src = &record[1 + c * plane..1 + (c + 1) * plane];
            for (p, &v) in src.iter().enumerate() {
                dst[p * 3 + c] = v;
            }
        }
    }
    Ok(out)
}

/// Reads one CIFAR-10 binary file.
pub fn read_file(path: &Path, class_names: &[String]) -> Result<LabelledImages> {
    let bytes = std::fs::read(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&bytes, path, class_names)
}

/// The class names from `DIR/batches.meta.txt` (one per line), or the standard ten.
pub fn class_names(dir: &Path) -> Result<Vec<String>> {
    let meta = dir.join("batches.meta.txt");
    if !meta.exists() {
        return Ok(CLASS_NAMES.iter().map(|s| s.to_string()).collect());
    }
    let text = std::fs::read_to_string(&meta).map_err(|source| Error::Read {
        path: meta.clone(),
        source,
    })?;
    let names: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    if names.is_empty() || names.len() > 256 {
        return Err(Error::bad_input(
            &meta,
            "class names",
            names.len(),
            "expected 1..=256 non-empty lines",
        ));
    }
    Ok(names)
}

/// The training files `DIR/data_batch_*.bin` (sorted by name) and the test file
/// `DIR/test_batch.bin` if present.
pub fn files(dir: &Path) -> Result<(Vec<PathBuf>, Option<PathBuf>)> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut train = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| Error::Read {
            path: dir.to_path_buf(),
            source,
        })?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("data_batch_") && name.ends_with(".bin") {
            train.push(entry.path());
        }
    }
    train.sort();
    if train.is_empty() {
        return Err(Error::bad_input(
            dir,
            "data_batch_*.bin",
            "none",
            "a CIFAR-10 folder needs at least one training file data_batch_N.bin",
        ));
    }
    let test = dir.join("test_batch.bin");
    Ok((train, test.exists().then_some(test)))
}

/// Reads a CIFAR-10 folder: (training images, test images if `test_batch.bin` exists).
pub fn read_dir(dir: &Path) -> Result<(LabelledImages, Option<LabelledImages>)> {
    let names = class_names(dir)?;
    let (train_files, test_file) = files(dir)?;
    let mut train = LabelledImages::empty(SIDE, SIDE, 3, names.clone());
    for f in &train_files {
        train.append(&read_file(f, &names)?);
    }
    let test = match test_file {
        Some(f) => Some(read_file(&f, &names)?),
        None => None,
    };
    Ok((train, test))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        CLASS_NAMES.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_planar_records_into_interleaved_pixels() {
        let mut rec = vec![0u8; RECORD_LEN * 2];
        rec[0] = 3;
        rec[1] = 10; // R of pixel 0
        rec[1 + 1024] = 20; // G of pixel 0
        rec[1 + 2048 + 5] = 30; // B of pixel 5
        rec[RECORD_LEN] = 9;
        let p = Path::new("x.bin");
        let imgs = parse(&rec, p, &names()).unwrap();
        assert_eq!(imgs.labels, vec![3, 9]);
        assert_eq!(&imgs.image(0)[..3], &[10, 20, 0]);
        assert_eq!(imgs.image(0)[5 * 3 + 2], 30);
    }

    #[test]
    fn rejects_partial_records_and_bad_labels() {
        let p = Path::new("x.bin");
        let err = parse(&vec![0u8; RECORD_LEN + 7], p, &names()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("x.bin") && msg.contains("3080") && msg.contains("whole number"));
        let mut rec = vec![0u8; RECORD_LEN];
        rec[0] = 12;
        let msg = parse(&rec, p, &names()).unwrap_err().to_string();
        assert!(
            msg.contains("record 0 label") && msg.contains("12"),
            "{msg}"
        );
    }
}
