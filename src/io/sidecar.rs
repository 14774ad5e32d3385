//! JSON provenance sidecars. Every array file `NAME.npy` has `NAME.json` beside it holding
//! what made it: the command, inputs (with content hashes), every parameter, the seed, the
//! tool version, timings and summary statistics. Commands build the JSON with `serde_json`
//! and write it with [`write`]; [`base`] fills in the fields every sidecar shares.

use crate::error::{Error, Result};
use serde_json::{Value, json};
use sha2::Digest;
use std::path::{Path, PathBuf};

/// The sidecar path for an output: same folder and stem, `.json` extension.
pub fn path_for(output: &Path) -> PathBuf {
    output.with_extension("json")
}

/// Fields every sidecar carries: tool name and version, the command and the time it was
/// written (seconds since the Unix epoch, so the file needs no time-zone library).
pub fn base(command: &str) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("tool".into(), json!("simplecell"));
    m.insert("version".into(), json!(env!("CARGO_PKG_VERSION")));
    m.insert("command".into(), json!(command));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    m.insert("written_unix_seconds".into(), json!(now));
    m
}

/// Writes `value` pretty-printed and atomically to `path`.
pub fn write(path: &Path, value: &Value, force: bool) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value)
        .map_err(|e| Error::failed("serialising sidecar", e.to_string()))?;
    text.push('\n');
    crate::io::atomic::write_bytes(path, text.as_bytes(), force)
}

/// Reads a JSON file, naming it in errors.
pub fn read(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| {
        Error::bad_input(
            path,
            "json",
            format!("line {} column {}", e.line(), e.column()),
            e.to_string(),
        )
    })
}

/// SHA-256 of a file's contents as lowercase hex, for recording inputs.
pub fn sha256_file(path: &Path) -> Result<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// SHA-256 of bytes as lowercase hex.
pub fn sha256_bytes(bytes: &[u8]) -> String {
    hex(&sha2::Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
