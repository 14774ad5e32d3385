//! End-to-end checks of the command line's shared behaviour: help, usage errors, exit codes,
//! and the montage command on good and bad `.npy` input.

mod common;
use common::{simplecell, stderr};

#[test]
fn help_lists_every_subcommand_and_exits_zero() {
    let out = simplecell(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    for cmd in [
        "extract", "montage", "encode", "learn", "demo", "analyze", "compare", "gabor", "cnn",
    ] {
        assert!(text.contains(cmd), "--help does not mention {cmd}:\n{text}");
    }
}

#[test]
fn unknown_option_is_a_usage_error() {
    let out = simplecell(&["montage", "--no-such-option"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn montage_writes_png_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let bank = dir.path().join("bank.npy");
    let data: Vec<f32> = (0..16 * 64)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0)
        .collect();
    simplecell::io::npy::write(&bank, &[16, 64], &data, false).unwrap();
    let png = dir.path().join("bank.png");
    let args = [
        "montage",
        "--filters",
        bank.to_str().unwrap(),
        "--out",
        png.to_str().unwrap(),
    ];
    let out = simplecell(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let img = image::open(&png).unwrap();
    // 4x4 grid of 8x8 filters at zoom 6 with 1-pixel borders.
    assert_eq!(img.width(), 4 * (48 + 1) + 1);
    let before = std::fs::read(&png).unwrap();
    let again = simplecell(&args);
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).contains("--force"), "{}", stderr(&again));
    assert_eq!(std::fs::read(&png).unwrap(), before);
}

#[test]
fn montage_of_truncated_or_lying_npy_fails_cleanly_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.npy");
    simplecell::io::npy::write(&good, &[4, 16], &[0.5; 64], false).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let truncated = dir.path().join("truncated.npy");
    std::fs::write(&truncated, &bytes[..bytes.len() - 7]).unwrap();
    let mut lying = simplecell::io::npy::header_bytes(&[4_000_000_000_000, 16]);
    lying.extend_from_slice(&bytes[128..]);
    let liar = dir.path().join("lying.npy");
    std::fs::write(&liar, &lying).unwrap();
    for input in [&truncated, &liar] {
        let png = dir.path().join("out.png");
        let out = simplecell(&[
            "montage",
            "--filters",
            input.to_str().unwrap(),
            "--out",
            png.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        let msg = stderr(&out);
        assert!(
            msg.contains(input.file_name().unwrap().to_str().unwrap()) && msg.contains("shape"),
            "{msg}"
        );
        assert!(!png.exists());
        assert!(!msg.contains("panicked"));
    }
}
