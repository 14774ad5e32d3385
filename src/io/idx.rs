//! The IDX format of MNIST (`*-images-idx3-ubyte`, `*-labels-idx1-ubyte`), gzipped or not:
//! a big-endian header (two zero bytes, a type byte, the number of dimensions, then each
//! dimension as a u32) followed by the values. Only unsigned bytes (type 0x08) are accepted.
//! The header is checked against the data actually present, and memory grows only with bytes
//! actually read, so a header that lies about its sizes cannot trigger a huge allocation.

use super::labelled::LabelledImages;
use crate::error::{Error, Result};
use std::io::Read;
use std::path::{Path, PathBuf};

/// The largest payload accepted (1 GiB); MNIST's training images are 47 MB.
const MAX_PAYLOAD: u64 = 1 << 30;

/// An IDX array of bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    pub shape: Vec<usize>,
    pub data: Vec<u8>,
}

fn read_err(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Read {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads an IDX file of unsigned bytes, transparently un-gzipping `.gz` content (detected by
/// its magic bytes, not the name).
pub fn read(path: &Path) -> Result<IdxArray> {
    let mut file = std::fs::File::open(path).map_err(read_err(path))?;
    let mut magic = [0u8; 2];
    let got = file.read(&mut magic).map_err(read_err(path))?;
    let file = {
        use std::io::Seek;
        file.seek(std::io::SeekFrom::Start(0))
            .map_err(read_err(path))?;
        file
    };
    let reader: Box<dyn Read> = if got == 2 && magic == [0x1f, 0x8b] {
        Box::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)))
    } else {
        Box::new(std::io::BufReader::new(file))
    };
    parse(reader, path)
}

/// Parses an IDX stream; `path` labels errors.
pub fn parse(mut reader: impl Read, path: &Path) -> Result<IdxArray> {
    let truncated = |what: &str| {
        Error::bad_input(
            path,
            what,
            "missing",
            "the file ends inside the IDX header (truncated, or not an IDX file)",
        )
    };
    let mut head = [0u8; 4];
    reader
        .read_exact(&mut head)
        .map_err(|_| truncated("magic"))?;
    if head[0] != 0 || head[1] != 0 {
        return Err(Error::bad_input(
            path,
            "magic",
            format!(
                "{:02x}{:02x}{:02x}{:02x}",
                head[0], head[1], head[2], head[3]
            ),
            "an IDX file starts with two zero bytes (is this an IDX or gzipped IDX file?)",
        ));
    }
    if head[2] != 0x08 {
        return Err(Error::bad_input(
            path,
            "type",
            format!("0x{:02x}", head[2]),
            "only unsigned-byte IDX data (type 0x08) is supported",
        ));
    }
    let ndim = head[3] as usize;
    if !(1..=4).contains(&ndim) {
        return Err(Error::bad_input(
            path,
            "dimensions",
            ndim,
            "expected 1 to 4 dimensions",
        ));
    }
    let mut shape = Vec::with_capacity(ndim);
    let mut total: u64 = 1;
    for d in 0..ndim {
        let mut b = [0u8; 4];
        reader
            .read_exact(&mut b)
            .map_err(|_| truncated(&format!("dimension {d}")))?;
        let n = u32::from_be_bytes(b) as u64;
        shape.push(n as usize);
        total = total.saturating_mul(n);
    }
    if total > MAX_PAYLOAD {
        return Err(Error::bad_input(
            path,
            "shape",
            format!("{shape:?}"),
            format!("claims {total} bytes of data, more than the {MAX_PAYLOAD}-byte limit"),
        ));
    }
    // Read at most one byte more than claimed, growing only with data that is really there.
    let mut data = Vec::new();
    reader.take(total + 1).read_to_end(&mut data).map_err(|e| {
        Error::bad_input(
            path,
            "data",
            "unreadable",
            format!("corrupt or truncated compressed data: {e}"),
        )
    })?;
    if data.len() as u64 != total {
        let found = if data.len() as u64 > total {
            format!("more than {total}")
        } else {
            data.len().to_string()
        };
        return Err(Error::bad_input(
            path,
            "data length",
            found,
            format!("the header {shape:?} claims {total} bytes"),
        ));
    }
    Ok(IdxArray { shape, data })
}

/// Reads an image file (n, rows, cols) and a label file (n) into labelled images with
/// class names "0".."9"; a label outside 0..=9 is refused.
pub fn read_pair(images: &Path, labels: &Path) -> Result<LabelledImages> {
    let img = read(images)?;
    let lab = read(labels)?;
    // The magic number is 0x0800 + the number of dimensions: 2051 for images, 2049 for
    // labels. Naming it tells a swapped or foreign file apart from a damaged one.
    let magic = |a: &IdxArray| 0x0800 + a.shape.len();
    if img.shape.len() != 3 {
        return Err(Error::bad_input(
            images,
            "magic",
            format!(
                "{} (0x{:08x}, {} dimensions {:?})",
                magic(&img),
                magic(&img),
                img.shape.len(),
                img.shape
            ),
            "an MNIST image file has magic 2051 (0x00000803: unsigned bytes, 3 dimensions: \
             images, rows, columns)",
        ));
    }
    if lab.shape.len() != 1 {
        return Err(Error::bad_input(
            labels,
            "magic",
            format!(
                "{} (0x{:08x}, {} dimensions {:?})",
                magic(&lab),
                magic(&lab),
                lab.shape.len(),
                lab.shape
            ),
            "an MNIST label file has magic 2049 (0x00000801: unsigned bytes, 1 dimension)",
        ));
    }
    if let Some(i) = lab.data.iter().position(|&l| l > 9) {
        return Err(Error::bad_input(
            labels,
            &format!("label {i}"),
            lab.data[i],
            "MNIST labels are digits 0..=9",
        ));
    }
    if lab.shape[0] != img.shape[0] {
        return Err(Error::bad_input(
            labels,
            "count",
            lab.shape[0],
            format!("{} holds {} images", images.display(), img.shape[0]),
        ));
    }
    let names = (0..10).map(|c| c.to_string()).collect();
    let mut out = LabelledImages::empty(img.shape[1], img.shape[2], 1, names);
    out.pixels = img.data;
    out.labels = lab.data.iter().map(|&l| l as u16).collect();
    Ok(out)
}

/// Finds `DIR/PREFIX-images-idx3-ubyte[.gz]` and the matching label file.
pub fn find_pair(dir: &Path, prefix: &str) -> Option<(PathBuf, PathBuf)> {
    let pick = |stem: String| {
        let plain = dir.join(&stem);
        let gz = dir.join(format!("{stem}.gz"));
        if plain.exists() {
            Some(plain)
        } else if gz.exists() {
            Some(gz)
        } else {
            None
        }
    };
    Some((
        pick(format!("{prefix}-images-idx3-ubyte"))?,
        pick(format!("{prefix}-labels-idx1-ubyte"))?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(shape: &[u32], data: &[u8]) -> Vec<u8> {
        let mut v = vec![0, 0, 8, shape.len() as u8];
        for s in shape {
            v.extend_from_slice(&s.to_be_bytes());
        }
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn parses_and_checks_lengths() {
        let p = Path::new("t.idx");
        let a = parse(&idx(&[2, 2], &[1, 2, 3, 4])[..], p).unwrap();
        assert_eq!(a.shape, vec![2, 2]);
        assert_eq!(a.data, vec![1, 2, 3, 4]);
        let short = parse(&idx(&[2, 2], &[1, 2, 3])[..], p).unwrap_err();
        assert!(short.to_string().contains("claims 4 bytes"), "{short}");
        let long = parse(&idx(&[2, 2], &[1, 2, 3, 4, 5])[..], p).unwrap_err();
        assert!(long.to_string().contains("more than 4"), "{long}");
    }

    #[test]
    fn a_lying_header_is_refused_without_allocating() {
        let p = Path::new("t.idx");
        let huge = parse(&idx(&[60000, 60000, 60000], &[0; 16])[..], p).unwrap_err();
        assert!(huge.to_string().contains("limit"), "{huge}");
        let bad_magic = parse(&[1u8, 2, 8, 1, 0, 0, 0, 0][..], p).unwrap_err();
        assert!(bad_magic.to_string().contains("magic"));
        let bad_type = parse(&[0u8, 0, 0x0d, 1, 0, 0, 0, 0][..], p).unwrap_err();
        assert!(bad_type.to_string().contains("0x0d"));
    }
}
