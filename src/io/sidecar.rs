//! JSON provenance sidecars. Every output file `NAME.npy` (or report folder) has a JSON file
//! beside it holding what made it: the command, inputs (with content hashes), every
//! parameter, the seed, the tool version, timings and summary statistics.
//!
//! A sidecar is one typed value: [`Provenance`] holds the fields every sidecar shares and
//! flattens in the command's own record (a `#[derive(Serialize)]` struct next to the job
//! that writes it). [`Provenance::write`] goes through `serde_json::Value`, so float32
//! fields are written as their float64 widening, as they always have been.

use crate::error::{Error, Result};
use serde::Serialize;
use serde_json::Value;
use sha2::Digest;
use std::path::{Path, PathBuf};

/// The sidecar path for an output: same folder and stem, `.json` extension.
pub fn path_for(output: &Path) -> PathBuf {
    output.with_extension("json")
}

/// One sidecar: tool name and version, the command, when it was written (seconds since the
/// Unix epoch, so the file needs no time-zone library), and the command's `record`.
#[derive(Debug, Clone, Serialize)]
pub struct Provenance<R> {
    pub tool: &'static str,
    pub version: &'static str,
    pub command: String,
    pub written_unix_seconds: u64,
    #[serde(flatten)]
    pub record: R,
}

impl<R: Serialize> Provenance<R> {
    /// The sidecar of `command`, stamped now.
    pub fn new(command: &str, record: R) -> Self {
        Self {
            tool: "simplecell",
            version: env!("CARGO_PKG_VERSION"),
            command: command.to_string(),
            written_unix_seconds: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            record,
        }
    }

    /// Writes the sidecar pretty-printed and atomically to `path`.
    pub fn write(&self, path: &Path, force: bool) -> Result<()> {
        write(path, &to_value(self)?, force)
    }
}

/// `value` as JSON, with the error a sidecar writer reports.
pub fn to_value(value: &impl Serialize) -> Result<Value> {
    serde_json::to_value(value).map_err(|e| Error::failed("serialising sidecar", e.to_string()))
}

/// An input file as sidecars record it: the path as given and its SHA-256.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InputFile {
    pub path: String,
    pub sha256: String,
}

impl InputFile {
    /// Hashes `path` now.
    pub fn hash(path: &Path) -> Result<Self> {
        Ok(Self {
            path: path.display().to_string(),
            sha256: sha256_file(path)?,
        })
    }
}

/// The shared fields as a JSON map, for sidecars still assembled with `json!` (the CNN and
/// study ones, until they move to [`Provenance`]).
pub fn base(command: &str) -> serde_json::Map<String, Value> {
    match to_value(&Provenance::new(command, serde_json::Map::new())) {
        Ok(Value::Object(map)) => map,
        _ => unreachable!("a provenance header is a JSON object"),
    }
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

/// The first field (a dotted path) whose value differs between two records as their JSON
/// shows them, with both values (`a`'s first): what a resume that refuses other settings
/// names. None when they are equal.
pub fn first_difference(
    a: &serde_json::Value,
    b: &serde_json::Value,
) -> Option<(String, String, String)> {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter().find_map(|k| {
                let (va, vb) = (
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                );
                first_difference(va, vb).map(|(path, l, r)| {
                    let path = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{k}.{path}")
                    };
                    (path, l, r)
                })
            })
        }
        _ if a == b => None,
        _ => Some((String::new(), shown(a), shown(b))),
    }
}

/// A value as a user typed it: a float32 setting widened to float64 (0.05 stored as
/// 0.05000000074505806) is shown at float32's shortest form, which reads back the same.
fn shown(v: &serde_json::Value) -> String {
    match v.as_f64() {
        Some(x) if v.is_f64() && (x as f32) as f64 == x => format!("{}", x as f32),
        _ => v.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Record {
        lambda: f32,
        objective: f64,
        inputs: Vec<InputFile>,
    }

    #[test]
    fn first_difference_names_the_path_and_shows_float32_settings_as_typed() {
        let then = serde_json::json!({"lr": 0.05f32, "opt": {"momentum": 0.9f32, "k": 3}});
        let now = serde_json::json!({"lr": 0.05f32, "opt": {"momentum": 0.8f32, "k": 3}});
        assert_eq!(
            first_difference(&then, &now),
            Some(("opt.momentum".into(), "0.9".into(), "0.8".into()))
        );
        assert_eq!(first_difference(&then, &then), None);
        // A float64 value keeps its full form.
        let a = serde_json::json!({"x": 0.1f64});
        let b = serde_json::json!({"x": 7});
        assert_eq!(
            first_difference(&a, &b),
            Some(("x".into(), "0.1".into(), "7".into()))
        );
        let c = serde_json::json!({"x": 1.0f64 / 3.0});
        assert_eq!(first_difference(&c, &b).unwrap().1, "0.3333333333333333");
    }

    #[test]
    fn a_typed_sidecar_writes_the_keys_json_macros_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.bin");
        std::fs::write(&input, b"abc").unwrap();
        let side = Provenance::new(
            "test",
            Record {
                lambda: 0.1,
                objective: f64::NAN,
                inputs: vec![InputFile::hash(&input).unwrap()],
            },
        );
        let out = dir.path().join("out.json");
        side.write(&out, false).unwrap();
        let text = std::fs::read_to_string(&out).unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["tool"], "simplecell");
        assert_eq!(v["command"], "test");
        assert!(v["written_unix_seconds"].as_u64().unwrap() > 1_600_000_000);
        // float32 widened to float64, as `json!(0.1f32)` wrote it; NaN as null.
        assert_eq!(v["lambda"], serde_json::json!(0.1f32));
        assert!(text.contains("0.10000000149011612"), "{text}");
        assert!(v["objective"].is_null());
        assert_eq!(
            v["inputs"][0]["sha256"],
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        // The JSON-map form carries the same header.
        let m = base("test");
        assert_eq!(m["tool"], v["tool"]);
        assert_eq!(m["version"], v["version"]);
    }
}
