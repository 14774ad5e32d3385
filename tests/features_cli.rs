//! `simplecell features` end to end: a tiny run on synthetic CIFAR-format files (a few
//! hundred images, seconds), one on a small subset of the shared CIFAR-10 files, and the
//! bad inputs, each of which must exit 2 with a message naming the option or file and the
//! value, and write nothing.

mod common;

use common::{shared_data, simplecell, stderr};
use std::path::Path;

/// Writes `count` 32x32 colour images in CIFAR-10's binary format: class c is a grating
/// of orientation c * 18 degrees with random phase, contrast and colour balance, plus
/// noise, so oriented features separate the classes and a linear classifier can learn them.
fn write_cifar(path: &Path, count: usize, seed: u64) {
    let mut state = seed.wrapping_mul(0x9E3779B97F4A7C15) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut bytes = Vec::with_capacity(count * 3073);
    for i in 0..count {
        let label = (i % 10) as u8;
        bytes.push(label);
        let angle = label as f64 * std::f64::consts::PI / 10.0;
        let (phase, contrast) = (next() * std::f64::consts::TAU, 40.0 + 60.0 * next());
        let tint = [0.8 + 0.4 * next(), 0.8 + 0.4 * next(), 0.8 + 0.4 * next()];
        for t in tint {
            for y in 0..32 {
                for x in 0..32 {
                    let u = x as f64 * angle.cos() + y as f64 * angle.sin();
                    let v = 128.0 + t * contrast * (0.9 * u + phase).sin() + 20.0 * (next() - 0.5);
                    bytes.push(v.clamp(0.0, 255.0) as u8);
                }
            }
        }
    }
    std::fs::write(path, bytes).unwrap();
}

fn synthetic_dir(dir: &Path) -> String {
    write_cifar(&dir.join("data_batch_1.bin"), 400, 1);
    write_cifar(&dir.join("test_batch.bin"), 200, 2);
    format!("cifar10:{}", dir.display())
}

fn csv_value(path: &Path, split: &str, class: &str) -> f64 {
    let mut r = csv::Reader::from_path(path).unwrap();
    for rec in r.records() {
        let rec = rec.unwrap();
        if &rec[0] == split && &rec[1] == class {
            return rec[2].parse().unwrap();
        }
    }
    panic!("no {split}/{class} row in {}", path.display());
}

#[test]
fn a_tiny_run_writes_every_output_and_learns_the_classes() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_dir(tmp.path());
    let out = tmp.path().join("run");
    let started = std::time::Instant::now();
    let result = simplecell(&[
        "--quiet",
        "features",
        "--data",
        &data,
        "--dictionary",
        "kmeans",
        "--atoms",
        "32",
        "--patches",
        "5000",
        "--encoder",
        "triangle",
        "--validation",
        "80",
        "--learning-curve",
        "100,400",
        "--lambdas",
        "1e-3,1e-2",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(result.status.success(), "{}", stderr(&result));
    let seconds = started.elapsed().as_secs_f64();
    for name in simplecell::features::output::OUTPUT_FILES {
        assert!(out.join(name).is_file(), "{name} is missing");
    }
    // Ten orientations 18 degrees apart are easy for oriented features: this run scores
    // 0.9+ on the test images (seed 0). Chance is 0.1; 0.6 leaves room for another CPU's
    // summation order while any broken stage (shuffled labels, wrong pooling, a dead
    // encoder) falls to chance.
    let test = csv_value(&out.join("accuracy.csv"), "test", "all");
    assert!(test > 0.6, "test accuracy {test}");
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("features.json")).unwrap()).unwrap();
    assert_eq!(meta["parameters"]["atoms"], 32);
    assert!(
        meta["timings_seconds"]["stages"]["encode_train"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    assert_eq!(meta["inputs"]["files"].as_array().unwrap().len(), 2);
    assert!(meta["inputs"]["files"][0]["sha256"].as_str().unwrap().len() == 64);
    let curve = std::fs::read_to_string(out.join("learning_curve.csv")).unwrap();
    assert_eq!(curve.lines().count(), 3, "{curve}");
    let bank = simplecell::io::npy::read(&out.join("dictionary.npy")).unwrap();
    assert_eq!(bank.shape, vec![32, 108]);
    let w = simplecell::io::npy::read(&out.join("classifier_weights.npy")).unwrap();
    assert_eq!(w.shape, vec![10, 4 * 32]);
    // A second run refuses to overwrite.
    let again = simplecell(&[
        "--quiet",
        "features",
        "--data",
        &data,
        "--atoms",
        "32",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).contains("--force"), "{}", stderr(&again));
    assert!(seconds < 60.0, "took {seconds} s");
}

#[test]
fn a_small_subset_of_cifar10_beats_chance() {
    let Some(dir) = shared_data("cifar10") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let data = format!("cifar10:{}", dir.display());
    let result = simplecell(&[
        "--quiet",
        "features",
        "--data",
        &data,
        "--atoms",
        "64",
        "--patches",
        "20000",
        "--train-limit",
        "1000",
        "--test-limit",
        "500",
        "--learning-curve",
        "none",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(result.status.success(), "{}", stderr(&result));
    // 64 k-means atoms with the soft threshold on 1,000 images reach about 0.35 (seed 0);
    // chance is 0.10, and 0.25 is far above anything a broken pipeline scores.
    let test = csv_value(&out.join("accuracy.csv"), "test", "all");
    assert!(test > 0.25, "test accuracy {test}");
}

/// Runs `features` with `extra` arguments on the synthetic data and checks exit code 2,
/// that stderr names each of `needles`, and that the output folder was never created.
fn refuses(extra: &[&str], needles: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_dir(tmp.path());
    let out = tmp.path().join("run");
    let mut args = vec![
        "--quiet",
        "features",
        "--data",
        &data,
        "--patches",
        "2000",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let result = simplecell(&args);
    let err = stderr(&result);
    assert_eq!(result.status.code(), Some(2), "{err}");
    for needle in needles {
        assert!(err.contains(needle), "stderr lacks {needle:?}: {err}");
    }
    assert!(!out.exists(), "nothing may be written: {err}");
}

#[test]
fn zero_atoms_is_refused() {
    refuses(&["--atoms", "0"], &["--atoms", "0", "1..=16384"]);
}

#[test]
fn a_patch_larger_than_the_image_is_refused() {
    refuses(
        &["--patch-size", "40"],
        &["--patch-size", "40", "larger than the images"],
    );
}

#[test]
fn a_bank_of_the_wrong_shape_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let bank = tmp.path().join("bank.npy");
    simplecell::io::npy::write(&bank, &[10, 50], &vec![0.5f32; 500], false).unwrap();
    refuses(
        &["--dictionary", bank.to_str().unwrap()],
        &["bank.npy", "[10, 50]", "108"],
    );
}

#[test]
fn a_bank_with_nan_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let bank = tmp.path().join("nan_bank.npy");
    let mut values = vec![0.5f32; 10 * 108];
    values[3 * 108 + 7] = f32::NAN;
    simplecell::io::npy::write(&bank, &[10, 3, 6, 6], &values, false).unwrap();
    refuses(
        &["--dictionary", bank.to_str().unwrap()],
        &["nan_bank.npy", "atom 3 value 7", "NaN", "finite"],
    );
}
