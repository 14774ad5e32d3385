//! Fuzz target for the MNIST IDX reader (plain and gzipped): any byte string must give an
//! array or an error, never a panic, and never an allocation beyond what the bytes hold.
//! `cargo +nightly fuzz run idx_parse -- -max_len=4096` from the repository root.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz-idx");
    if let Ok(array) = simplecell::io::idx::parse(data, path) {
        // What parses is self-consistent: the data fills the shape exactly from the input.
        let n: usize = array.shape.iter().product();
        assert_eq!(n, array.data.len());
        assert!(array.data.len() <= data.len());
    }
    // The same bytes behind a gzip stream: the decompressor's errors are errors too.
    let gz = flate2::read::GzDecoder::new(data);
    let _ = simplecell::io::idx::parse(gz, path);
});
