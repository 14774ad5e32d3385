//! Fuzz target for the CIFAR-10 binary reader: any byte string gives labelled images or an
//! error naming the record, never a panic. Inputs are short, so most are rejected for their
//! length; `-max_len=12300` lets the fuzzer build whole 3073-byte records.
//! `cargo +nightly fuzz run cifar_parse -- -max_len=12300` from the repository root.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let names: Vec<String> = simplecell::io::cifar::CLASS_NAMES
        .iter()
        .map(|s| s.to_string())
        .collect();
    if let Ok(images) = simplecell::io::cifar::parse(data, Path::new("fuzz.bin"), &names) {
        let n = data.len() / simplecell::io::cifar::RECORD_LEN;
        assert_eq!(images.labels.len(), n);
        assert!(images.labels.iter().all(|&l| (l as usize) < names.len()));
    }
});
