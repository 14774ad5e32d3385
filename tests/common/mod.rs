//! Shared helpers for the integration tests: locating `../shared/data` (skipping with a
//! printed reason when it is absent) and running the built binary.
#![allow(dead_code)]

pub mod labelled;

use std::path::PathBuf;
use std::process::{Command, Output};

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

/// Runs the `simplecell` binary with `args`.
pub fn simplecell(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_simplecell"))
        .args(args)
        .output()
        .expect("the simplecell binary runs")
}

/// Stderr of an output as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
