//! The `.npy` reader and writer against files written by NumPy itself
//! (tests/fixtures/npy, made by make_fixtures.py there): the crate reads every supported
//! layout exactly, rejects the unsupported ones by name, and writes byte-identical files.

use simplecell::io::npy;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/npy")
        .join(name)
}

/// The values make_fixtures.py stores, in C order: exact in float32.
fn values(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| ((i * 7 % 23) as f64 - 11.0) / 8.0 + i as f64 / 1024.0)
        .map(|v| v as f32)
        .collect()
}

#[test]
fn reads_every_supported_layout_exactly() {
    let cases: &[(&str, &[usize])] = &[
        ("f32_c_5.npy", &[5]),
        ("f32_c_3x4.npy", &[3, 4]),
        ("f32_c_2x3x4x5.npy", &[2, 3, 4, 5]),
        ("f32_c_0x7.npy", &[0, 7]),
        ("f32_c_1x144.npy", &[1, 144]),
        ("f32_c_1001x2.npy", &[1001, 2]),
        ("f32_scalar.npy", &[]),
        ("f64_c_3x4.npy", &[3, 4]),
        ("f32_fortran_3x4.npy", &[3, 4]),
        ("f64_fortran_2x3x4x5.npy", &[2, 3, 4, 5]),
        ("f32_bigendian_3x4.npy", &[3, 4]),
        ("f64_bigendian_fortran_3x4.npy", &[3, 4]),
        ("f32_v2_3x4.npy", &[3, 4]),
    ];
    for (name, shape) in cases {
        let path = fixture(name);
        let n: usize = shape.iter().product();
        let expected = values(n);
        let from_file = npy::read(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(from_file.shape, shape.to_vec(), "{name}");
        // Exact equality: the values are representable in float32 and float64 alike.
        assert_eq!(from_file.data, expected, "{name}");
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(npy::parse(&bytes, &path).unwrap(), from_file, "{name}");
    }
}

#[test]
fn crate_written_files_equal_np_save_bytes() {
    for (name, shape) in [
        ("f32_c_5.npy", vec![5]),
        ("f32_c_3x4.npy", vec![3, 4]),
        ("f32_c_2x3x4x5.npy", vec![2, 3, 4, 5]),
        ("f32_c_0x7.npy", vec![0, 7]),
        ("f32_c_1x144.npy", vec![1, 144]),
        ("f32_c_1001x2.npy", vec![1001, 2]),
        ("f32_scalar.npy", vec![]),
    ] {
        let numpy_bytes = std::fs::read(fixture(name)).unwrap();
        let n: usize = shape.iter().product();
        let mut ours = Vec::new();
        npy::write_to(&mut ours, &shape, &values(n)).unwrap();
        assert_eq!(ours, numpy_bytes, "{name}: bytes differ from np.save");
        let header = npy::header_bytes(&shape);
        assert_eq!(header[..], numpy_bytes[..header.len()], "{name}: header");
    }
}

#[test]
fn mapped_reader_agrees_and_refuses_other_layouts() {
    let m = npy::MappedNpy::open(&fixture("f32_c_1001x2.npy")).unwrap();
    assert_eq!(m.rows_cols(), (1001, 2));
    assert_eq!(m.data(), &values(2002)[..]);
    assert_eq!(m.row(1000), &values(2002)[2000..]);
    for name in [
        "f64_c_3x4.npy",
        "f32_fortran_3x4.npy",
        "f32_bigendian_3x4.npy",
    ] {
        let err = npy::MappedNpy::open(&fixture(name)).err().expect(name);
        assert!(err.to_string().contains(name), "{err}");
    }
}

#[test]
fn unsupported_dtypes_are_named_in_the_error() {
    for (name, descr) in [("i32_c_3x4.npy", "<i4"), ("f16_c_3x4.npy", "<f2")] {
        let err = npy::read(&fixture(name)).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains(name) && msg.contains("descr") && msg.contains(descr),
            "{msg}"
        );
        assert_eq!(err.exit_code(), 2);
    }
}
