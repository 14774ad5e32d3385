//! `simplecell extract` end to end: determinism, DC removal, the sidecar and CSV, the NumPy
//! header, and every bad input of issue 2 (each gives a clear message, a non-zero exit and
//! leaves the output folder empty).

mod common;

use common::{files_in, simplecell, stderr};
use simplecell::io::npy;
use simplecell::observer::Silent;
use simplecell::patches::{ExtractParams, ImageSource, Whitening, extract};
use std::path::{Path, PathBuf};

/// A small built-in configuration: 4 images of 128 pixels, 3000 patches of 8x8.
fn small(seed: u64, whitening: Whitening) -> ExtractParams {
    ExtractParams {
        source: ImageSource::BuiltIn {
            images: 4,
            size: 128,
        },
        patch_size: 8,
        count: 3000,
        seed,
        whitening,
        ..ExtractParams::default()
    }
}

#[test]
fn same_seed_same_bytes_different_seed_different_patches() {
    let dir = tempfile::tempdir().unwrap();
    for whitening in [Whitening::Of { f0: 0.4 }, Whitening::Zca { epsilon: 0.01 }] {
        let a = dir.path().join("a.npy");
        let b = dir.path().join("b.npy");
        let c = dir.path().join("c.npy");
        extract(&small(5, whitening).check().unwrap(), &a, true, &Silent).unwrap();
        extract(&small(5, whitening).check().unwrap(), &b, true, &Silent).unwrap();
        extract(&small(6, whitening).check().unwrap(), &c, true, &Silent).unwrap();
        let (ba, bb, bc) = (
            std::fs::read(&a).unwrap(),
            std::fs::read(&b).unwrap(),
            std::fs::read(&c).unwrap(),
        );
        assert_eq!(ba, bb, "{whitening:?}: same seed, different bytes");
        let (pa, pc) = (npy::read(&a).unwrap(), npy::read(&c).unwrap());
        let same_rows = pa
            .data
            .chunks_exact(64)
            .zip(pc.data.chunks_exact(64))
            .filter(|(x, y)| x == y)
            .count();
        // Different images and positions: no patch should coincide (flat patches could, but
        // whitened dead-leaves patches are almost never exactly equal).
        assert!(same_rows < 30, "{whitening:?}: {same_rows} equal patches");
        assert_ne!(ba, bc);
    }
}

#[test]
fn output_does_not_depend_on_the_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let mut outputs = Vec::new();
    for threads in ["1", "2", "3"] {
        let out = dir.path().join(format!("t{threads}.npy"));
        let o = simplecell(&[
            "--threads",
            threads,
            "extract",
            "--count",
            "2000",
            "--builtin-images",
            "3",
            "--builtin-size",
            "200",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        outputs.push(std::fs::read(&out).unwrap());
    }
    assert_eq!(outputs[0], outputs[1]);
    assert_eq!(outputs[0], outputs[2]);
}

#[test]
fn every_patch_has_zero_mean_with_dc_removal_and_not_without() {
    let dir = tempfile::tempdir().unwrap();
    for whitening in [
        Whitening::Of { f0: 0.4 },
        Whitening::Zca { epsilon: 0.01 },
        Whitening::None,
    ] {
        let out = dir.path().join("p.npy");
        let summary = extract(&small(1, whitening).check().unwrap(), &out, true, &Silent).unwrap();
        let a = npy::read(&out).unwrap();
        assert_eq!(a.shape, vec![3000, 64]);
        assert_eq!(summary.shape, [3000, 64]);
        for patch in a.data.chunks_exact(64) {
            let mean = patch.iter().map(|&v| v as f64).sum::<f64>() / 64.0;
            let rms = (patch.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / 64.0).sqrt();
            // f32 rounding: 1e-5 x rms is ~100 ulps of the values after removal, and 1e-6
            // absolute covers the rounding of the values before it (luminance <= 1).
            assert!(
                mean.abs() <= 1e-5 * rms + 1e-6,
                "{whitening:?}: mean {mean}"
            );
        }
        let mut config = small(1, whitening);
        config.dc_removal = false;
        config.whitening = Whitening::None;
        extract(&config.check().unwrap(), &out, true, &Silent).unwrap();
        let raw = npy::read(&out).unwrap();
        // Luminance in [0, 1] without DC removal: patch means are positive.
        let positive = raw
            .data
            .chunks_exact(64)
            .filter(|p| p.iter().sum::<f32>() > 0.0)
            .count();
        assert_eq!(positive, 3000);
    }
}

#[test]
fn header_is_numpys_and_sidecar_and_csv_record_provenance() {
    let Some(kodak) = common::shared_data("kodak") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("k.npy");
    let csv = dir.path().join("k.csv");
    let o = simplecell(&[
        "extract",
        "--images",
        kodak.to_str().unwrap(),
        "--count",
        "24001",
        "--out",
        out.to_str().unwrap(),
        "--csv",
        csv.to_str().unwrap(),
        "--seed",
        "3",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let bytes = std::fs::read(&out).unwrap();
    // np.save(np.zeros((24001, 144), np.float32)) writes exactly this 128-byte header
    // (checked against NumPy's bytes in tests/npy_fixtures.rs).
    let dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (24001, 144), }";
    let mut expected = b"\x93NUMPY\x01\x00\x76\x00".to_vec();
    expected.extend_from_slice(dict.as_bytes());
    expected.resize(127, b' ');
    expected.push(b'\n');
    assert_eq!(&bytes[..128], &expected[..]);
    assert_eq!(bytes.len(), 128 + 24001 * 144 * 4);

    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("k.json")).unwrap()).unwrap();
    assert_eq!(meta["command"], "extract");
    assert_eq!(meta["seed"], 3);
    assert_eq!(meta["parameters"]["whiten"], "of");
    assert_eq!(meta["parameters"]["f0_cycles_per_pixel"], 0.4);
    assert_eq!(meta["output"]["shape"], serde_json::json!([24001, 144]));
    let inputs = meta["inputs"].as_array().unwrap();
    assert_eq!(inputs.len(), 24);
    let first = &inputs[0];
    let path = PathBuf::from(first["path"].as_str().unwrap());
    assert_eq!(
        first["sha256"].as_str().unwrap(),
        simplecell::io::sidecar::sha256_file(&path).unwrap()
    );
    let total: u64 = inputs.iter().map(|i| i["patches"].as_u64().unwrap()).sum();
    assert_eq!(total, 24001);
    // Equal-sized images (all 768x512 or 512x768) get equal shares, the remainder of 1 to
    // the first.
    assert_eq!(first["patches"], 1001);
    assert!(meta["timings_seconds"]["total"].as_f64().unwrap() > 0.0);
    // OF whitening scales images to unit variance; DC removal and the margin leave patch
    // values with a standard deviation a little below 1.
    let std = meta["statistics"]["std"].as_f64().unwrap();
    assert!((0.8..=1.05).contains(&std), "std {std}");

    let table = std::fs::read_to_string(&csv).unwrap();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 25);
    assert_eq!(
        lines[0],
        "index,source,width,height,sha256,patches,rejected"
    );
    assert!(
        lines[1].starts_with("0,kodim01.png,768,512,"),
        "{}",
        lines[1]
    );
}

/// Writes a small valid PNG (gradient) of the given size.
fn write_png(path: &Path, w: u32, h: u32) {
    let img = image::GrayImage::from_fn(w, h, |x, y| image::Luma([((x * 7 + y * 13) % 256) as u8]));
    img.save(path).unwrap();
}

/// Runs extract with `args` + `--out DIR/out/o.npy`, expects `code`, a message containing
/// every string in `needles`, and nothing written.
fn expect_failure(args: &[&str], code: i32, needles: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let out = out_dir.join("o.npy");
    let mut full = vec!["extract"];
    full.extend_from_slice(args);
    full.extend_from_slice(&["--out", out.to_str().unwrap()]);
    let o = simplecell(&full);
    let msg = stderr(&o);
    assert_eq!(o.status.code(), Some(code), "{args:?}: {msg}");
    for n in needles {
        assert!(msg.contains(n), "{args:?}: message lacks {n:?}: {msg}");
    }
    assert!(!msg.contains("panicked"), "{msg}");
    assert!(
        files_in(&out_dir).is_empty(),
        "{args:?} wrote {:?}",
        files_in(&out_dir)
    );
}

#[test]
fn bad_options_are_usage_errors_naming_option_and_value() {
    expect_failure(&["--patch-size", "0"], 2, &["--patch-size", "0"]);
    expect_failure(&["--count", "0"], 2, &["--count", "0"]);
    expect_failure(&["--whiten", "pca"], 2, &["--whiten", "pca", "of"]);
    expect_failure(&["--f0", "0.9"], 2, &["--f0", "0.9"]);
    expect_failure(&["--min-std=-1"], 2, &["--min-std", "-1"]);
    expect_failure(&["--margin", "100000"], 2, &["--margin", "100000"]);
    // A threshold no patch passes fails while running, before anything is renamed into place.
    expect_failure(
        &[
            "--min-std",
            "1000",
            "--count",
            "10",
            "--builtin-images",
            "1",
            "--builtin-size",
            "64",
        ],
        2,
        &["--min-std", "1000"],
    );
}

#[test]
fn bad_image_folders_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-folder");
    expect_failure(
        &["--images", missing.to_str().unwrap()],
        2,
        &["no-such-folder"],
    );

    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    std::fs::write(empty.join("notes.txt"), "not an image").unwrap();
    expect_failure(
        &["--images", empty.to_str().unwrap()],
        2,
        &["empty", "no image files"],
    );

    let small = dir.path().join("small");
    std::fs::create_dir(&small).unwrap();
    write_png(&small.join("tiny.png"), 20, 20);
    // 20 < 12 + 2 x 8: too small for the default patch and margin.
    expect_failure(
        &["--images", small.to_str().unwrap()],
        2,
        &["tiny.png", "20x20", "margin"],
    );

    let bad = dir.path().join("corrupt");
    std::fs::create_dir(&bad).unwrap();
    std::fs::write(bad.join("garbage.png"), b"\x89PNG\r\n\x1a\nnot really").unwrap();
    expect_failure(
        &["--images", bad.to_str().unwrap()],
        2,
        &["garbage.png", "usable"],
    );
}

#[test]
fn corrupt_and_truncated_images_are_skipped_and_counted_or_fatal_under_strict() {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("imgs");
    std::fs::create_dir_all(images.join("sub")).unwrap();
    write_png(&images.join("a.png"), 64, 48);
    write_png(&images.join("sub/b.png"), 48, 64);
    let good = std::fs::read(images.join("a.png")).unwrap();
    std::fs::write(images.join("sub/truncated.png"), &good[..good.len() / 2]).unwrap();
    std::fs::write(images.join("zz.jpg"), b"JFIF? no").unwrap();

    expect_failure(
        &["--images", images.to_str().unwrap(), "--strict"],
        2,
        &["truncated.png"],
    );

    let out = dir.path().join("o.npy");
    let o = simplecell(&[
        "extract",
        "--images",
        images.to_str().unwrap(),
        "--count",
        "500",
        "--out",
        out.to_str().unwrap(),
    ]);
    let msg = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{msg}");
    assert!(msg.contains("warning") && msg.contains("truncated.png") && msg.contains("zz.jpg"));
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("o.json")).unwrap()).unwrap();
    assert_eq!(meta["inputs"].as_array().unwrap().len(), 2);
    assert_eq!(meta["skipped"].as_array().unwrap().len(), 2);
    assert_eq!(npy::read(&out).unwrap().shape, vec![500, 144]);
}

#[test]
fn existing_or_unwritable_output_is_refused_before_work() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.npy");
    let args = [
        "extract",
        "--count",
        "100",
        "--builtin-images",
        "1",
        "--builtin-size",
        "64",
        "--out",
        out.to_str().unwrap(),
    ];
    assert_eq!(simplecell(&args).status.code(), Some(0));
    let before = std::fs::read(&out).unwrap();
    let o = simplecell(&args);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--force") && stderr(&o).contains("x.npy"));
    assert_eq!(std::fs::read(&out).unwrap(), before);
    // The sidecar alone existing is also refused.
    std::fs::remove_file(&out).unwrap();
    let o = simplecell(&args);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("x.json"));
    assert!(!out.exists());
    let mut forced = args.to_vec();
    forced.push("--force");
    assert_eq!(simplecell(&forced).status.code(), Some(0));

    // A folder that cannot be created (its parent is a file): a write failure, exit 1.
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"x").unwrap();
    let bad_out = blocker.join("sub/y.npy");
    let o = simplecell(&[
        "extract",
        "--count",
        "10",
        "--out",
        bad_out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("cannot write") && stderr(&o).contains("file/sub"));
    assert_eq!(files_in(dir.path()), vec!["file", "x.json", "x.npy"]);
}
