//! Property tests of the IDX (MNIST), CIFAR-10 and checkpoint readers, beside the `.npy`
//! ones in npy_props.rs: any byte string yields a value or an error, never a panic, and what
//! parses is self-consistent. The checkpoint cases are sealed with a correct SHA-256 so that
//! they reach the section parser behind the checksum. The fuzz targets in fuzz/ explore the
//! same functions for longer.

use proptest::prelude::*;
use sha2::Digest;
use simplecell::io::checkpoint::{Checkpoint, MAGIC};
use simplecell::io::{cifar, idx};
use std::path::Path;

fn no_panic<T>(what: &str, bytes: &[u8], f: impl FnOnce() -> T) -> Result<T, TestCaseError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .map_err(|_| TestCaseError::fail(format!("{what} panicked on {bytes:?}")))
}

/// An IDX header of `dims` followed by `tail`.
fn idx_bytes(dims: &[u32], tail: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v.extend_from_slice(tail);
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    #[test]
    fn idx_any_bytes_give_a_value_or_an_error(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let r = no_panic("idx::parse", &bytes, || idx::parse(&bytes[..], Path::new("x")))?;
        if let Ok(a) = r {
            prop_assert_eq!(a.shape.iter().product::<usize>(), a.data.len());
        }
    }

    #[test]
    fn idx_plausible_headers_with_any_payload(
        dims in prop::collection::vec(0u32..6, 1..5),
        tail in prop::collection::vec(any::<u8>(), 0..120),
    ) {
        let bytes = idx_bytes(&dims, &tail);
        let r = no_panic("idx::parse", &bytes, || idx::parse(&bytes[..], Path::new("x")))?;
        let claimed: usize = dims.iter().map(|&d| d as usize).product();
        // It parses exactly when the payload is as long as the header claims.
        prop_assert_eq!(r.is_ok(), claimed == tail.len());
    }

    #[test]
    fn cifar_any_bytes_give_a_value_or_an_error(
        records in 0usize..3,
        extra in 0usize..3,
        label in any::<u8>(),
        seed in any::<u8>(),
    ) {
        let len = records * cifar::RECORD_LEN + extra;
        let bytes: Vec<u8> = (0..len).map(|i| if i % cifar::RECORD_LEN == 0 { label } else { (i as u8) ^ seed }).collect();
        let names: Vec<String> = cifar::CLASS_NAMES.iter().map(|s| s.to_string()).collect();
        let r = no_panic("cifar::parse", &bytes, || cifar::parse(&bytes, Path::new("c.bin"), &names))?;
        prop_assert_eq!(r.is_ok(), records > 0 && extra == 0 && label < 10);
    }

    #[test]
    fn sealed_checkpoints_give_a_value_or_an_error(body in prop::collection::vec(any::<u8>(), 0..200)) {
        let mut bytes = MAGIC.to_vec();
        // Half the cases start like a real container (version 2, kind "learn").
        if body.first().is_some_and(|b| b % 2 == 0) {
            bytes.extend_from_slice(&2u32.to_le_bytes());
            bytes.extend_from_slice(&5u16.to_le_bytes());
            bytes.extend_from_slice(b"learn");
        }
        bytes.extend_from_slice(&body);
        let digest = sha2::Sha256::digest(&bytes);
        bytes.extend_from_slice(&digest);
        let r = no_panic("Checkpoint::parse", &bytes, || {
            Checkpoint::parse(Path::new("k"), bytes.clone(), "learn")
        })?;
        if let Ok(c) = r {
            for name in ["state", "dictionary"] {
                no_panic("sections", &bytes, || (c.f32s(name).is_ok(), c.json::<serde_json::Value>(name).is_ok()))?;
            }
        }
        let unsealed = no_panic("Checkpoint::parse", &body, || {
            Checkpoint::parse(Path::new("k"), body.clone(), "learn")
        })?;
        prop_assert!(unsealed.is_err());
    }
}
