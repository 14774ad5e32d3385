//! Fuzz target for the `.npy` reader: any byte string must give an array or an error, never
//! a panic, an out-of-bounds access or an allocation larger than the input justifies.
//! Run with `cargo +nightly fuzz run npy_parse` from the repository root.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.npy");
    if let Ok(array) = simplecell::io::npy::parse(data, path) {
        // A value that parses must be self-consistent: its data fills its shape exactly.
        let n: usize = array.shape.iter().product();
        assert_eq!(n, array.data.len());
        assert!(array.data.len() * 4 <= data.len());
    }
    let _ = simplecell::io::npy::parse_header(data, path);
});
