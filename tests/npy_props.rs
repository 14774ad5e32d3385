//! Property tests of the `.npy` reader: any byte string, and any corruption of a valid file,
//! yields an array or an error, never a panic; whatever parses is self-consistent; and what
//! the crate writes reads back bit for bit.

use proptest::prelude::*;
use simplecell::io::npy;
use std::path::Path;

/// A parse that must not panic; a success must fill its shape exactly from the bytes given.
fn parse_is_total(bytes: &[u8]) -> Result<(), TestCaseError> {
    let result = std::panic::catch_unwind(|| npy::parse(bytes, Path::new("p.npy")));
    let Ok(result) = result else {
        return Err(TestCaseError::fail(format!("panic on {bytes:?}")));
    };
    if let Ok(array) = result {
        let n: usize = array.shape.iter().product();
        prop_assert_eq!(n, array.data.len());
        prop_assert!(array.data.len() * 4 <= bytes.len());
    }
    Ok(())
}

fn valid_file(shape: &[usize], seed: u32) -> Vec<u8> {
    let n: usize = shape.iter().product();
    let data: Vec<f32> = (0..n).map(|i| (i as u32 ^ seed) as f32 * 0.25).collect();
    let mut buf = Vec::new();
    npy::write_to(&mut buf, shape, &data).unwrap();
    buf
}

fn shapes() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(0usize..6, 0..5)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_bytes_give_a_value_or_an_error(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        parse_is_total(&bytes)?;
    }

    #[test]
    fn any_bytes_after_a_valid_magic_give_a_value_or_an_error(
        version in 0u8..5,
        rest in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut bytes = b"\x93NUMPY".to_vec();
        bytes.extend_from_slice(&[version, 0]);
        bytes.extend_from_slice(&rest);
        parse_is_total(&bytes)?;
    }

    #[test]
    fn corrupted_valid_files_give_a_value_or_an_error(
        shape in shapes(),
        seed in any::<u32>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut bytes = valid_file(&shape, seed);
        for (at, value) in edits {
            // Edits land in the header two times in three: that is where parsing can go wrong.
            let limit = if value % 3 == 0 { bytes.len() } else { 128.min(bytes.len()) };
            let i = at.index(limit);
            bytes[i] = value;
        }
        if truncate {
            let len = cut.index(bytes.len() + 1);
            bytes.truncate(len);
        }
        parse_is_total(&bytes)?;
    }

    #[test]
    fn header_text_fuzzing_gives_a_value_or_an_error(
        text in "\\{('descr'|'shape'|'fortran_order'|: |, |\\(|\\)|True|False|'<f4'|'>f8'|[0-9]{1,25}|L| )*\\}",
        data in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend_from_slice(&(text.len() as u16).to_le_bytes());
        bytes.extend_from_slice(text.as_bytes());
        bytes.extend_from_slice(&data);
        parse_is_total(&bytes)?;
    }

    #[test]
    fn written_arrays_read_back_exactly(
        shape in shapes(),
        values in prop::collection::vec(any::<f32>(), 0..1024),
    ) {
        let n: usize = shape.iter().product();
        let data: Vec<f32> = (0..n).map(|i| values.get(i % values.len().max(1)).copied().unwrap_or(1.5)).collect();
        let mut buf = Vec::new();
        npy::write_to(&mut buf, &shape, &data).unwrap();
        prop_assert_eq!(buf.len() % 64, (n * 4) % 64);
        let back = npy::parse(&buf, Path::new("w.npy")).unwrap();
        prop_assert_eq!(back.shape, shape);
        // Bit-for-bit, NaN payloads included.
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        prop_assert_eq!(bits(&back.data), bits(&data));
    }
}
