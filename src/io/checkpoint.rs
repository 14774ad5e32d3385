//! The checkpoint container: one file of named sections (JSON state, raw float32 arrays,
//! any bytes) with a format version, a kind (which job wrote it) and a SHA-256 over
//! everything, written atomically. A flipped byte or a file cut short fails the checksum and
//! is refused with an error naming the file, so a run never resumes from damaged state.
//!
//! Layout, all integers little-endian:
//!
//! ```text
//! SIMPLECELL-CHECKPOINT\n       magic
//! u32 version                   FORMAT_VERSION
//! u16 n, n bytes                kind, UTF-8 ("learn", "cnn", ...)
//! u32 sections
//! per section: u16 n, n bytes (name), u64 payload length
//! the payloads, in section order
//! 32 bytes                      SHA-256 of everything above
//! ```

use crate::error::{Error, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::Digest;
use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// The first bytes of every container file.
pub const MAGIC: &[u8] = b"SIMPLECELL-CHECKPOINT\n";

/// The layout version this build writes and reads.
pub const FORMAT_VERSION: u32 = 2;

const DIGEST_LEN: usize = 32;

/// A checkpoint being assembled; [`CheckpointWriter::write`] puts it on disk.
#[derive(Debug, Clone)]
pub struct CheckpointWriter {
    kind: String,
    sections: Vec<(String, Vec<u8>)>,
}

impl CheckpointWriter {
    /// An empty checkpoint of `kind` (the job that reads it back checks the kind).
    pub fn new(kind: &str) -> Self {
        Self {
            kind: kind.to_string(),
            sections: Vec::new(),
        }
    }

    /// Adds `value` as a JSON section.
    pub fn json(&mut self, name: &str, value: &impl Serialize) -> Result<&mut Self> {
        let bytes = serde_json::to_vec(value).map_err(|e| {
            Error::failed(
                format!("serialising checkpoint section {name}"),
                e.to_string(),
            )
        })?;
        Ok(self.bytes(name, bytes))
    }

    /// Adds float32 values as a raw little-endian section (exact bits).
    pub fn f32s(&mut self, name: &str, values: &[f32]) -> &mut Self {
        let mut bytes = Vec::with_capacity(4 * values.len());
        for v in values {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        self.bytes(name, bytes)
    }

    /// Adds raw bytes as a section.
    pub fn bytes(&mut self, name: &str, bytes: Vec<u8>) -> &mut Self {
        debug_assert!(
            self.sections.iter().all(|(n, _)| n != name),
            "section {name} added twice"
        );
        self.sections.push((name.to_string(), bytes));
        self
    }

    /// Writes the checkpoint atomically to `path`, replacing an older one only once the new
    /// one is complete on disk.
    pub fn write(&self, path: &Path) -> Result<()> {
        let mut header = Vec::new();
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        push_name(&mut header, &self.kind);
        header.extend_from_slice(&(self.sections.len() as u32).to_le_bytes());
        for (name, bytes) in &self.sections {
            push_name(&mut header, name);
            header.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        }
        let mut hasher = sha2::Sha256::new();
        hasher.update(&header);
        for (_, bytes) in &self.sections {
            hasher.update(bytes);
        }
        let digest = hasher.finalize();
        crate::io::atomic::write_with(path, true, |w| {
            w.write_all(&header)?;
            for (_, bytes) in &self.sections {
                w.write_all(bytes)?;
            }
            w.write_all(&digest)
        })
    }
}

fn push_name(out: &mut Vec<u8>, name: &str) {
    let len = u16::try_from(name.len()).expect("section names are short");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(name.as_bytes());
}

/// A checkpoint read from disk and verified.
#[derive(Debug)]
pub struct Checkpoint {
    path: PathBuf,
    bytes: Vec<u8>,
    sections: Vec<(String, Range<usize>)>,
}

impl Checkpoint {
    /// True when `bytes` start like a container file (as opposed to an older format).
    pub fn recognises(bytes: &[u8]) -> bool {
        bytes.starts_with(MAGIC)
    }

    /// Reads and verifies `path`, which must hold a checkpoint of `kind`.
    pub fn read(path: &Path, kind: &str) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, bytes, kind)
    }

    /// Verifies `bytes` (the contents of `path`) as a checkpoint of `kind`.
    pub fn parse(path: &Path, bytes: Vec<u8>, kind: &str) -> Result<Self> {
        let bad = |field: &str, value: String, reason: &str| {
            Error::bad_input(path, field, value, reason.to_string())
        };
        if !Self::recognises(&bytes) {
            return Err(bad(
                "magic",
                format!("{} bytes", bytes.len()),
                "not a simplecell checkpoint",
            ));
        }
        if bytes.len() < MAGIC.len() + DIGEST_LEN {
            return Err(bad(
                "length",
                format!("{} bytes", bytes.len()),
                "the checkpoint is truncated",
            ));
        }
        let (body, digest) = bytes.split_at(bytes.len() - DIGEST_LEN);
        if sha2::Sha256::digest(body).as_slice() != digest {
            return Err(bad(
                "sha256",
                "mismatch".into(),
                "the checkpoint is corrupt or truncated (its checksum does not match); \
                 it cannot be resumed from",
            ));
        }
        // The checksum holds, so the rest was written by a container writer; the checks
        // below guard against a writer of another version, not against damage.
        let mut at = MAGIC.len();
        let version = u32::from_le_bytes(take(body, &mut at, 4)?.try_into().expect("4 bytes"));
        if version != FORMAT_VERSION {
            return Err(bad(
                "version",
                version.to_string(),
                &format!("this build reads checkpoint format {FORMAT_VERSION}"),
            ));
        }
        let found = read_name(body, &mut at)?;
        if found != kind {
            return Err(bad(
                "kind",
                found,
                &format!("expected a checkpoint of a {kind} run"),
            ));
        }
        let count = u32::from_le_bytes(take(body, &mut at, 4)?.try_into().expect("4 bytes"));
        let mut lengths = Vec::new();
        for _ in 0..count {
            let name = read_name(body, &mut at)?;
            let len = u64::from_le_bytes(take(body, &mut at, 8)?.try_into().expect("8 bytes"));
            lengths.push((name, len as usize));
        }
        let mut sections = Vec::with_capacity(lengths.len());
        for (name, len) in lengths {
            let start = at;
            take(body, &mut at, len)?;
            sections.push((name, start..at));
        }
        if at != body.len() {
            return Err(bad(
                "sections",
                format!("{} bytes left over", body.len() - at),
                "the section table does not cover the file",
            ));
        }
        Ok(Self {
            path: path.to_path_buf(),
            bytes,
            sections,
        })
    }

    /// The file it was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The raw bytes of section `name`.
    pub fn bytes(&self, name: &str) -> Result<&[u8]> {
        self.sections
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, range)| &self.bytes[range.clone()])
            .ok_or_else(|| {
                Error::bad_input(
                    &self.path,
                    name,
                    "missing",
                    "the checkpoint has no such section",
                )
            })
    }

    /// Section `name` parsed as JSON.
    pub fn json<T: DeserializeOwned>(&self, name: &str) -> Result<T> {
        serde_json::from_slice(self.bytes(name)?).map_err(|e| {
            Error::bad_input(
                &self.path,
                name,
                e.to_string(),
                "cannot parse the checkpoint's state",
            )
        })
    }

    /// Section `name` as float32 values.
    pub fn f32s(&self, name: &str) -> Result<Vec<f32>> {
        let bytes = self.bytes(name)?;
        if !bytes.len().is_multiple_of(4) {
            return Err(Error::bad_input(
                &self.path,
                name,
                format!("{} bytes", bytes.len()),
                "a float32 section must be a whole number of 4-byte values",
            ));
        }
        Ok(bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }
}

/// The next `len` bytes of `body` at `*at`, advancing it.
fn take<'b>(body: &'b [u8], at: &mut usize, len: usize) -> Result<&'b [u8]> {
    let end = at.checked_add(len).filter(|&e| e <= body.len());
    let Some(end) = end else {
        return Err(Error::failed(
            "reading a checkpoint",
            "a length in the section table runs past the end of the file",
        ));
    };
    let out = &body[*at..end];
    *at = end;
    Ok(out)
}

fn read_name(body: &[u8], at: &mut usize) -> Result<String> {
    let len = u16::from_le_bytes(take(body, at, 2)?.try_into().expect("2 bytes")) as usize;
    String::from_utf8(take(body, at, len)?.to_vec())
        .map_err(|_| Error::failed("reading a checkpoint", "a name is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(path: &Path) {
        let mut w = CheckpointWriter::new("test");
        w.json("state", &serde_json::json!({"step": 7, "name": "x"}))
            .unwrap()
            .f32s("weights", &[1.0, -0.0, f32::MIN_POSITIVE, 3.5])
            .bytes("empty", Vec::new());
        w.write(path).unwrap();
    }

    #[test]
    fn sections_come_back_bit_for_bit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoint.bin");
        sample(&path);
        let c = Checkpoint::read(&path, "test").unwrap();
        let state: serde_json::Value = c.json("state").unwrap();
        assert_eq!(state["step"], 7);
        let w = c.f32s("weights").unwrap();
        let want = [1.0f32, -0.0, f32::MIN_POSITIVE, 3.5];
        assert!(w.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()));
        assert_eq!(c.bytes("empty").unwrap(), b"");
        let missing = c.bytes("nope").unwrap_err().to_string();
        assert!(missing.contains("checkpoint.bin") && missing.contains("nope"));
    }

    #[test]
    fn every_flipped_byte_and_every_truncation_is_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoint.bin");
        sample(&path);
        let good = std::fs::read(&path).unwrap();
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x10;
            let err = Checkpoint::parse(&path, bad, "test")
                .unwrap_err()
                .to_string();
            assert!(err.contains("checkpoint.bin"), "byte {i}: {err}");
        }
        for len in 0..good.len() {
            let err = Checkpoint::parse(&path, good[..len].to_vec(), "test")
                .unwrap_err()
                .to_string();
            assert!(err.contains("checkpoint.bin"), "length {len}: {err}");
        }
    }

    #[test]
    fn a_checkpoint_of_another_kind_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.bin");
        sample(&path);
        let err = Checkpoint::read(&path, "learn").unwrap_err().to_string();
        assert!(err.contains("kind") && err.contains("learn"), "{err}");
    }
}
