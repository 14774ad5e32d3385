//! Fuzz target for the checkpoint container and the learner's checkpoint on top of it.
//! Random bytes never pass the SHA-256 check, so the target appends the correct digest to
//! MAGIC + the fuzzer's bytes: the fuzzer then explores the section table and the typed
//! state behind it (what a writer of another version, or a bug, could produce). Any input
//! must give a checkpoint or an error, never a panic or a huge allocation.
//! `cargo +nightly fuzz run checkpoint_parse -- -max_len=4096` from the repository root.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sha2::Digest;
use simplecell::io::checkpoint::{Checkpoint, MAGIC};
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let mut bytes = MAGIC.to_vec();
    bytes.extend_from_slice(data);
    let digest = sha2::Sha256::digest(&bytes);
    bytes.extend_from_slice(&digest);
    let path = Path::new("fuzz.ckpt");
    // Unsealed bytes exercise the refusal paths.
    let _ = Checkpoint::parse(path, data.to_vec(), "learn");
    let Ok(c) = Checkpoint::parse(path, bytes.clone(), "learn") else {
        return;
    };
    for name in ["state", "dictionary", "rule_state", "meta"] {
        let _ = c.json::<serde_json::Value>(name);
        let _ = c.f32s(name);
    }
    // The learner's typed checkpoint, through a file as it is read in a resume.
    let file = std::env::temp_dir().join(format!("fuzz-ckpt-{}.bin", std::process::id()));
    if std::fs::write(&file, &bytes).is_ok() {
        let _ = simplecell::dictionary::checkpoint::read(&file);
    }
});
