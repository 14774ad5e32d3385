//! The bad-input and fault corpus (issue 16): every case a campaign found silently wrong or
//! leaving leftovers, kept so it stays fixed. Each case runs the binary (or the library,
//! for readers the command line reaches only through long jobs) on a small input made here
//! and checks the three promises: a non-zero exit with a message naming the file, field or
//! option and the value; nothing partial left in the output folder; no panic.
//! The case names carry the defect numbers.

mod common;

use common::{files_in, simplecell, stderr, write_npy};
use std::path::{Path, PathBuf};
use std::process::Output;

/// Asserts a refused run: exit `code`, every `needle` in stderr, no panic report.
fn refused(o: &Output, code: i32, needles: &[&str]) {
    let msg = stderr(o);
    assert_eq!(o.status.code(), Some(code), "{msg}");
    assert!(
        !msg.contains("panicked") && !msg.contains("internal error"),
        "{msg}"
    );
    for n in needles {
        assert!(msg.contains(n), "stderr lacks {n:?}:\n{msg}");
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `n` patches of `pixels` values, a smooth deterministic pattern of unit scale.
fn patches(n: usize, pixels: usize) -> Vec<f32> {
    (0..n * pixels)
        .map(|i| ((i * 7919 % 1009) as f32 / 504.5 - 1.0) * ((i % 13) as f32 - 6.0) / 6.0)
        .collect()
}

fn learn(patches: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "--quiet",
        "--threads",
        "1",
        "learn",
        "--patches",
        s(patches),
        "--atoms",
        "8",
        "--lambda",
        "0.5",
        "--batch",
        "16",
        "--steps",
        "5",
        "--out",
        s(out),
    ];
    args.extend_from_slice(extra);
    simplecell(&args)
}

#[test]
fn d01_learn_refuses_nan_rows_and_huge_values_before_any_output() {
    let dir = tempfile::tempdir().unwrap();
    let mut data = patches(400, 16);
    for row in (0..400).step_by(10).skip(1) {
        data[row * 16 + 5] = f32::NAN; // one NaN in 10% of the rows, first in row 10
    }
    let nan = write_npy(dir.path(), "nan.npy", &[400, 16], &data);
    let out = dir.path().join("run");
    refused(
        &learn(&nan, &out, &[]),
        2,
        &["nan.npy", "patch 10 pixel 5", "NaN"],
    );
    assert!(!out.exists(), "a refused learn leaves no folder");

    let mut data = patches(400, 16);
    data[37 * 16 + 2] = 3e38;
    let huge = write_npy(dir.path(), "huge.npy", &[400, 16], &data);
    refused(
        &learn(&huge, &out, &[]),
        2,
        &["huge.npy", "patch 37 pixel 2", "rescale"],
    );
    assert!(!out.exists());
}

#[test]
fn d09_encode_refuses_values_near_the_float32_maximum() {
    let dir = tempfile::tempdir().unwrap();
    let dict: Vec<f32> = (0..4 * 16)
        .map(|i| if i % 16 == i / 16 * 4 { 1.0 } else { 0.0 })
        .collect();
    let d = write_npy(dir.path(), "d.npy", &[4, 16], &dict);
    let mut data = patches(50, 16);
    data[3 * 16] = 1e30;
    let p = write_npy(dir.path(), "p.npy", &[50, 16], &data);
    let out = dir.path().join("codes.npy");
    let o = simplecell(&[
        "encode",
        "--patches",
        s(&p),
        "--dictionary",
        s(&d),
        "--lambda",
        "0.1",
        "--out",
        s(&out),
    ]);
    refused(&o, 2, &["p.npy", "patch 3 pixel 0", "rescale"]);
    assert_eq!(files_in(dir.path()), ["d.npy", "p.npy"]);
}

#[test]
fn d03_learn_force_removes_the_older_run_before_starting() {
    use simplecell::dictionary::{FolderRun, LearnParams, RunFolder, StopRule};
    let dir = tempfile::tempdir().unwrap();
    let p = write_npy(dir.path(), "p.npy", &[400, 16], &patches(400, 16));
    let out = dir.path().join("run");
    std::fs::create_dir(&out).unwrap();
    for old in [
        "dictionary.npy",
        "dictionary.json",
        "dictionary.png",
        "history.csv",
    ] {
        std::fs::write(out.join(old), b"from an older run").unwrap();
    }
    std::fs::write(out.join("notes.txt"), b"the user's").unwrap();
    let params = LearnParams {
        atoms: 8,
        batch: 16,
        stop: StopRule::Steps(5),
        ..LearnParams::default()
    }
    .check()
    .unwrap();
    // Without force: refused, nothing touched.
    assert!(FolderRun::start(&params, &p, RunFolder::new(&out), false).is_err());
    assert_eq!(files_in(&out).len(), 5);
    // With force, the older outputs are gone as soon as the new run starts, so an
    // interruption cannot leave them beside the new checkpoint; other files stay.
    let _run = FolderRun::start(&params, &p, RunFolder::new(&out), true).unwrap();
    assert_eq!(files_in(&out), ["notes.txt"]);
}

#[test]
fn d06_temporary_files_never_outlive_a_failed_or_interrupted_write() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // An output path naming a folder: refused before work (no temp file, exit 1).
    let slash = format!("{}/x.npy/", s(d));
    refused(
        &simplecell(&["extract", "--count", "10", "--out", &slash]),
        1,
        &["x.npy", "folder"],
    );
    std::fs::create_dir(d.join("taken.npy")).unwrap();
    let taken = d.join("taken.npy");
    let o = simplecell(&["extract", "--count", "10", "--force", "--out", s(&taken)]);
    refused(&o, 1, &["taken.npy", "folder"]);
    assert_eq!(files_in(d), ["taken.npy"]);

    // Stale temporary files of a process that is gone are removed by the next run; those of a
    // live process (this test) and of other names are not.
    let out = d.join("ok.npy");
    let stale = d.join(".ok.npy.tmp-4000000");
    let live = d.join(format!(".ok.npy.tmp-{}", std::process::id()));
    let other = d.join(".unrelated.npy.tmp-4000000");
    for f in [&stale, &live, &other] {
        std::fs::write(f, b"partial").unwrap();
    }
    let o = simplecell(&["--quiet", "extract", "--count", "50", "--out", s(&out)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!stale.exists() && live.exists() && other.exists());

    // Ctrl-C during a long extraction: exit 130, no temporary file left.
    let sub = d.join("int");
    std::fs::create_dir(&sub).unwrap();
    let big = sub.join("big.npy");
    // The signal goes as soon as the temporary file exists, so the write is under way
    // whatever the machine's speed (a fixed sleep raced a fast CI machine that finished
    // 2,000,000 patches in 1.8 s); the extraction itself takes seconds.
    let child = common::spawn(&["extract", "--count", "2000000", "--out", s(&big)]);
    let temp = sub.join(format!(".big.npy.tmp-{}", child.id()));
    let started = std::time::Instant::now();
    while !temp.exists() {
        assert!(
            started.elapsed().as_secs() < 60,
            "no temporary file {} within 60 s",
            temp.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let o = common::interrupt(child);
    refused(&o, 130, &["interrupted"]);
    assert_eq!(files_in(&sub), Vec::<String>::new());
}

#[test]
fn d07_outputs_must_differ_from_each_other_and_from_the_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let x = d.join("x.npy");
    let o = simplecell(&[
        "extract",
        "--count",
        "10",
        "--out",
        s(&x),
        "--csv",
        s(&d.join("x.json")),
    ]);
    refused(&o, 2, &["--csv", "x.json", "sidecar"]);
    assert_eq!(files_in(d), Vec::<String>::new());

    let p = write_npy(d, "P.npy", &[20, 16], &patches(20, 16));
    let dict: Vec<f32> = (0..4 * 16)
        .map(|i| if i % 17 == 0 { 1.0 } else { 0.0 })
        .collect();
    let dn = write_npy(d, "D.npy", &[4, 16], &dict);
    let before = std::fs::read(&p).unwrap();
    let o = simplecell(&[
        "encode",
        "--patches",
        s(&p),
        "--dictionary",
        s(&dn),
        "--lambda",
        "0.1",
        "--out",
        s(&p),
        "--force",
    ]);
    refused(&o, 2, &["--out", "P.npy", "--patches"]);
    assert_eq!(std::fs::read(&p).unwrap(), before);
    assert_eq!(files_in(d), ["D.npy", "P.npy"]);
}

#[test]
fn d13_validation_errors_create_no_folder() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let missing = d.join("no-such-images");
    let out = d.join("new/sub/x.npy");
    let o = simplecell(&["extract", "--images", s(&missing), "--out", s(&out)]);
    refused(&o, 2, &["no-such-images"]);
    let empty_images = d.join("empty");
    std::fs::create_dir(&empty_images).unwrap();
    let o = simplecell(&["extract", "--images", s(&empty_images), "--out", s(&out)]);
    refused(&o, 2, &["empty", "no image files"]);
    assert_eq!(files_in(d), ["empty"]);

    let p = write_npy(d, "p.npy", &[100, 16], &patches(100, 16));
    let deep = d.join("run/deep");
    let o = simplecell(&[
        "learn",
        "--patches",
        s(&p),
        "--lambda",
        "0.5",
        "--atoms",
        "0",
        "--out",
        s(&deep),
    ]);
    refused(&o, 2, &["--atoms", "0"]);
    assert_eq!(files_in(d), ["empty", "p.npy"]);
}

#[test]
fn d05_montage_canvas_is_sized_by_the_filters_and_capped() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let bank = write_npy(d, "b.npy", &[64, 144], &patches(64, 144));
    let png = d.join("m.png");
    let o = simplecell(&[
        "montage",
        "--filters",
        s(&bank),
        "--out",
        s(&png),
        "--columns",
        "4096",
        "--zoom",
        "64",
    ]);
    refused(&o, 2, &["--zoom", "64", "49217x770 pixels"]);
    assert!(!png.exists());
    // Many columns with a modest zoom: one row of the 64 filters actually drawn.
    let o = simplecell(&[
        "montage",
        "--filters",
        s(&bank),
        "--out",
        s(&png),
        "--columns",
        "4096",
        "--zoom",
        "2",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let img = image::open(&png).unwrap();
    assert_eq!((img.width(), img.height()), (64 * 25 + 1, 26));
}

#[test]
fn d10_d12_learn_names_the_real_problem() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = d.join("run");
    // Non-square patches fail before anything is written.
    let p = write_npy(d, "rect.npy", &[200, 10], &patches(200, 10));
    refused(&learn(&p, &out, &[]), 2, &["rect.npy", "shape", "square"]);
    // A 0-row file is about the file, not about --validation.
    let p = write_npy(d, "empty.npy", &[0, 16], &[]);
    refused(
        &learn(&p, &out, &[]),
        2,
        &["empty.npy", "at least 2 patches"],
    );
    // A hold-out leaving fewer patches than one batch blames --validation.
    let p = write_npy(d, "p.npy", &[2000, 16], &patches(2000, 16));
    refused(
        &learn(&p, &out, &["--validation", "1999"]),
        2,
        &["--validation", "1999"],
    );
    // Float64 Fortran-order data is read into memory; the message for an unmappable
    // dtype never shows Rust debug text.
    assert!(!out.exists());
    assert_eq!(files_in(d), ["empty.npy", "p.npy", "rect.npy"]);
}

#[test]
fn d12_resume_from_another_folder_says_patches_can_be_given() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_npy(d, "p.npy", &[400, 16], &patches(400, 16));
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_simplecell"))
        .current_dir(d)
        .args([
            "--quiet",
            "learn",
            "--patches",
            "p.npy",
            "--lambda",
            "0.5",
            "--batch",
            "16",
        ])
        .args(["--atoms", "8"])
        .args(["--steps", "5", "--out", "run"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let run = d.join("run");
    let o = simplecell(&["learn", "--resume", s(&run), "--steps", "10"]);
    refused(&o, 2, &["patches_path", "p.npy", "--patches"]);
}

#[test]
fn d04_d12_mnist_and_image_folder_inputs_are_checked() {
    use simplecell::io::{idx, image_folder};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let idx_file = |name: &str, dims: &[u32], data: &[u8]| -> PathBuf {
        let mut v = vec![0, 0, 8, dims.len() as u8];
        for n in dims {
            v.extend_from_slice(&n.to_be_bytes());
        }
        v.extend_from_slice(data);
        let p = d.join(name);
        std::fs::write(&p, v).unwrap();
        p
    };
    let images = idx_file("img", &[3, 2, 2], &[0; 12]);
    let labels = idx_file("lab", &[3], &[1, 200, 3]);
    let e = idx::read_pair(&images, &labels).unwrap_err().to_string();
    assert!(
        e.contains("lab") && e.contains("label 1") && e.contains("200"),
        "{e}"
    );
    // Magic 2052 (4 dimensions) given as the images.
    let four = idx_file("four", &[3, 1, 2, 2], &[0; 12]);
    let labels = idx_file("lab2", &[3], &[1, 2, 3]);
    let e = idx::read_pair(&four, &labels).unwrap_err().to_string();
    assert!(e.contains("2052") && e.contains("2051"), "{e}");

    let png = |p: &Path| {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        image::GrayImage::from_pixel(4, 4, image::Luma([9]))
            .save(p)
            .unwrap();
    };
    let one = d.join("one");
    png(&one.join("cat/a.png"));
    let e = image_folder::read_dir(&one).unwrap_err().to_string();
    assert!(e.contains("one") && e.contains("at least 2 classes"), "{e}");
    let empty = d.join("emptyclass");
    png(&empty.join("cat/a.png"));
    png(&empty.join("dog/a.png"));
    std::fs::create_dir_all(empty.join("eel")).unwrap();
    let e = image_folder::read_dir(&empty).unwrap_err().to_string();
    assert!(e.contains("eel") && e.contains("no image files"), "{e}");
    let split = d.join("split");
    for f in [
        "train/cat/a.png",
        "train/dog/a.png",
        "test/cat/a.png",
        "test/cow/a.png",
    ] {
        png(&split.join(f));
    }
    let e = image_folder::read_dir(&split).unwrap_err().to_string();
    assert!(
        e.contains("cow") && e.contains("not a class of the training folder"),
        "{e}"
    );
}

#[test]
fn d11_conv1_init_banks_obey_the_filter_limit() {
    use simplecell::cnn::TrainParams;
    use simplecell::params::Params;
    let dir = tempfile::tempdir().unwrap();
    let bank = write_npy(dir.path(), "big.npy", &[1025, 9], &patches(1025, 9));
    let e = TrainParams {
        conv1_init: Some(bank),
        ..TrainParams::default()
    }
    .check()
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("conv1_init") && e.contains("1025") && e.contains("1..=1024"),
        "{e}"
    );
}

#[test]
fn d12_npy_dtype_errors_show_the_numpy_descr_not_rust_debug_text() {
    let dir = tempfile::tempdir().unwrap();
    // A float64 patch file cannot be memory-mapped; the message names its descr.
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    let mut header = "{'descr': '<f8', 'fortran_order': False, 'shape': (4, 4), }".to_string();
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(&[0u8; 4 * 4 * 8]);
    let p = dir.path().join("f64.npy");
    std::fs::write(&p, bytes).unwrap();
    let e = simplecell::io::npy::MappedNpy::open(&p)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("'<f8'") && !e.contains("F64 {"), "{e}");
}
