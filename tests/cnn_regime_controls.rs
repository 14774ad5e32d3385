//! End-to-end behaviour of the first-layer regime controls of `cnn train` (issue 14):
//! `--conv1-init-scale` scales exactly the initial conv1 and nothing else,
//! `--input-whitening` is stored with the run so that `--resume` continues to the same bytes
//! and `cnn eval` reproduces the logged test accuracy, and `--random-labels` removes what
//! the labels teach.

mod common;

use common::labelled::two_bars_folder_seeded;
use common::{simplecell, stderr};
use std::path::Path;

fn train(common: &[&str], extra: &[&str]) {
    let mut all = vec!["--quiet", "--threads", "2", "cnn", "train"];
    all.extend_from_slice(common);
    all.extend_from_slice(extra);
    let out = simplecell(&all);
    assert!(out.status.success(), "{extra:?}: {}", stderr(&out));
}

fn last_column(path: &Path, name: &str) -> f64 {
    let mut r = csv::Reader::from_path(path).unwrap();
    let idx = r.headers().unwrap().iter().position(|h| h == name).unwrap();
    let last = r.records().last().unwrap().unwrap();
    last[idx].parse().unwrap()
}

#[test]
fn regime_controls_scale_whiten_and_randomise_as_documented() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("bars");
    // Seed 5: the thresholds below were set on this draw of the bars.
    two_bars_folder_seeded(&data, 40, 5);
    let spec = format!("folder:{}", data.display());
    let common = [
        "--data",
        &spec,
        "--batch-size",
        "16",
        "--conv1-filters",
        "8",
        "--conv2-filters",
        "8",
        "--conv1-kernel",
        "5",
        "--lr",
        "0.05",
        "--seed",
        "1",
    ];
    let path = |run: &str| tmp.path().join(run);
    let out = |run: &str| path(run).to_str().unwrap().to_string();

    // --conv1-init-scale multiplies the initial conv1 and nothing else: the same seed at
    // scale 1 and 0.01 gives epoch-0 filters in the ratio 0.01, up to one f32 rounding.
    train(&common, &["--out", &out("s1"), "--epochs", "0"]);
    train(
        &common,
        &[
            "--out",
            &out("s001"),
            "--epochs",
            "0",
            "--conv1-init-scale",
            "0.01",
        ],
    );
    let read = |run: &str| {
        simplecell::io::npy::read(&path(run).join("conv1_epoch_000.npy"))
            .unwrap()
            .data
    };
    let (full, small) = (read("s1"), read("s001"));
    assert_eq!(full.len(), small.len());
    for (f, s) in full.iter().zip(&small) {
        assert!((s - 0.01 * f).abs() <= 1e-6 * f.abs(), "{s} vs 0.01 x {f}");
    }

    // --input-whitening zca: 2 epochs then --resume to 3 gives the bytes of 3 straight
    // epochs (the resumed run applies the stored transform), and `cnn eval` on the run
    // reproduces the logged test accuracy (it whitens the test images with that transform).
    let zca = ["--input-whitening", "zca", "--conv1-init-scale", "0.1"];
    train(
        &common,
        &[&["--out", &out("zca3"), "--epochs", "3"][..], &zca].concat(),
    );
    train(
        &common,
        &[&["--out", &out("zca2"), "--epochs", "2"][..], &zca].concat(),
    );
    train(
        &common,
        &[
            &["--out", &out("zca2"), "--epochs", "3", "--resume"][..],
            &zca,
        ]
        .concat(),
    );
    assert_eq!(
        std::fs::read(path("zca3").join("conv1_epoch_003.npy")).unwrap(),
        std::fs::read(path("zca2").join("conv1_epoch_003.npy")).unwrap(),
        "resume with whitening"
    );
    let run_json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path("zca3").join("run.json")).unwrap()).unwrap();
    assert_eq!(run_json["input_whitening"]["kind"], "zca");
    assert_eq!(run_json["config"]["input_whitening"], "zca");
    let eval = simplecell(&["--quiet", "cnn", "eval", "--run", &out("zca3")]);
    assert!(eval.status.success(), "{}", stderr(&eval));
    let printed = String::from_utf8_lossy(&eval.stdout).into_owned();
    let accuracy: f64 = printed
        .split_whitespace()
        .skip_while(|w| *w != "accuracy")
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let logged = last_column(&path("zca3").join("metrics.csv"), "test_accuracy");
    assert!((accuracy - logged).abs() < 1e-9, "{accuracy} vs {logged}");

    // --random-labels: training sees a permutation of the 80 labels, so it cannot fit them
    // the way it fits the real ones. (Test accuracy is no criterion on two separable
    // classes: the permuted labels keep a chance correlation with the bars, about +-0.056,
    // and the network maps it onto whole classes, so test accuracy lands anywhere from 0 to
    // 1.) The final epoch's training accuracy: >= 0.95 with the real labels (a separable
    // problem), while with permuted labels a network that does not memorise 80 noisy
    // images in 30 steps fits at most the majority agreement, 0.5 + 0.056 per sd; 0.85 is
    // over 5 sd above it.
    train(&common, &["--out", &out("real"), "--epochs", "6"]);
    train(
        &common,
        &["--out", &out("random"), "--epochs", "6", "--random-labels"],
    );
    let real = last_column(&path("real").join("metrics.csv"), "train_accuracy");
    let random = last_column(&path("random").join("metrics.csv"), "train_accuracy");
    eprintln!("final training accuracy: real labels {real}, permuted {random}");
    assert!(real >= 0.95, "real labels: {real}");
    assert!(random < 0.85, "random labels: {random}");
}
