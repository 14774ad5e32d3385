//! Shared helpers for the integration tests: locating `../shared/data` (skipping with a
//! printed reason when it is absent), running the built binary (to completion, or in the
//! background to interrupt it), writing `.npy` inputs and listing what a run left behind.
#![allow(dead_code)]

pub mod labelled;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// `../shared/data/SUB` beside the project, or None after printing why the test skips.
pub fn shared_data(sub: &str) -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(sub);
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "SKIPPED: {} is absent (it holds the shared test data; see ../shared/data/README.md)",
            dir.display()
        );
        None
    }
}

/// Runs the `simplecell` binary with `args` to completion.
pub fn simplecell<S: AsRef<OsStr>>(args: &[S]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_simplecell"))
        .args(args)
        .output()
        .expect("the simplecell binary runs")
}

/// Starts the `simplecell` binary with `args` in the background, output captured.
pub fn spawn<S: AsRef<OsStr>>(args: &[S]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_simplecell"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the simplecell binary starts")
}

/// Sends SIGINT (what Ctrl-C sends) to `child` and waits for it to end.
pub fn interrupt(child: Child) -> Output {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -INT failed");
    child
        .wait_with_output()
        .expect("the interrupted process ends")
}

/// Stderr of an output as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Writes float32 `data` of `shape` to `dir/name` and returns the path.
pub fn write_npy(dir: &Path, name: &str, shape: &[usize], data: &[f32]) -> PathBuf {
    let path = dir.join(name);
    simplecell::io::npy::write(&path, shape, data, true).expect("the test input is written");
    path
}

/// The names of the entries of `dir`, sorted.
pub fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("the folder is readable")
        .map(|e| {
            e.expect("a folder entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// The values of column `name` of a CSV file with a header row; unparsable cells (`nan`,
/// empty) are NaN.
pub fn csv_column(path: &Path, name: &str) -> Vec<f64> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let idx = r
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("{}: no column {name}", path.display()));
    r.records()
        .map(|rec| rec.unwrap()[idx].parse::<f64>().unwrap_or(f64::NAN))
        .collect()
}
