//! End-to-end tests of `simplecell encode`: outputs and sidecar on good input, bit-identical
//! codes for 1 and 2 threads, clear exit-2 errors (with nothing written) on bad input, and
//! Ctrl-C stopping a run with exit 130 and no output.

mod common;

use common::{simplecell, stderr};
use simplecell::io::npy;
use std::path::Path;

/// A 16-pixel problem: a random unit-norm dictionary of 24 atoms and 300 patches.
fn write_inputs(dir: &Path, atom_scale: f32) {
    let mut state = 12345u64;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 33) as f32 / (1u64 << 31) as f32) - 0.5
    };
    let mut d: Vec<f32> = (0..24 * 16).map(|_| next()).collect();
    for atom in d.chunks_mut(16) {
        let norm = atom.iter().map(|v| v * v).sum::<f32>().sqrt();
        atom.iter_mut().for_each(|v| *v *= atom_scale / norm);
    }
    let x: Vec<f32> = (0..300 * 16).map(|_| next() * 3.0).collect();
    npy::write(&dir.join("d.npy"), &[24, 16], &d, true).unwrap();
    npy::write(&dir.join("x.npy"), &[300, 16], &x, true).unwrap();
}

fn encode_args<'a>(dir: &'a str, out: &'a str, extra: &[&'a str]) -> Vec<String> {
    let mut v: Vec<String> = [
        "encode",
        "--patches",
        &format!("{dir}/x.npy"),
        "--dictionary",
        &format!("{dir}/d.npy"),
        "--lambda",
        "0.2",
        "--out",
        out,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

#[test]
fn writes_codes_and_sidecar_identically_for_one_and_two_threads() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap();
    write_inputs(tmp.path(), 1.0);
    let mut outputs = Vec::new();
    for threads in ["1", "2"] {
        let out = format!("{dir}/codes{threads}.npy");
        let mut args = vec!["--threads".to_string(), threads.to_string()];
        // A batch of 200 splits the file into two batches, exercising the streaming path.
        args.extend(encode_args(
            dir,
            &out,
            &["--coder", "fista", "--batch", "200"],
        ));
        let o = simplecell(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        let codes = npy::read(Path::new(&out)).unwrap();
        assert_eq!(codes.shape, vec![300, 24]);
        let meta: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(format!("{dir}/codes{threads}.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(meta["parameters"]["coder"], "fista");
        assert!(meta["diagnostics"]["converged_fraction"].as_f64().unwrap() > 0.99);
        assert_eq!(
            meta["inputs"]["patches"]["sha256"].as_str().unwrap().len(),
            64
        );
        outputs.push(std::fs::read(&out).unwrap());
    }
    assert_eq!(
        outputs[0], outputs[1],
        "codes differ between 1 and 2 threads"
    );
}

#[test]
fn refuses_existing_output_without_force() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap();
    write_inputs(tmp.path(), 1.0);
    let out = format!("{dir}/codes.npy");
    std::fs::write(&out, b"keep me").unwrap();
    let o = simplecell(&encode_args(dir, &out, &[]));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&out).unwrap(), b"keep me");
}

#[test]
fn non_unit_atoms_are_normalised_with_a_warning_or_refused_under_strict() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap();
    write_inputs(tmp.path(), 2.0);
    let out = format!("{dir}/codes.npy");
    let o = simplecell(&encode_args(dir, &out, &[]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("normalised"), "{}", stderr(&o));
    let strict_out = format!("{dir}/strict.npy");
    let o = simplecell(&encode_args(dir, &strict_out, &["--strict"]));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("atom 0"), "{}", stderr(&o));
    assert!(!Path::new(&strict_out).exists());
}

#[test]
fn bad_inputs_are_clear_errors_and_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap();
    write_inputs(tmp.path(), 1.0);
    let out = format!("{dir}/codes.npy");
    // lambda <= 0
    let mut args = encode_args(dir, &out, &[]);
    let at = args.iter().position(|a| a == "0.2").unwrap();
    args[at] = "0".into();
    let o = simplecell(&args);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--lambda"), "{}", stderr(&o));
    // unknown coder
    let o = simplecell(&encode_args(dir, &out, &["--coder", "magic"]));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--coder"), "{}", stderr(&o));
    // dimension mismatch: 20-pixel patches against 16-pixel atoms
    npy::write(&tmp.path().join("x.npy"), &[10, 20], &vec![0.5; 200], true).unwrap();
    let o = simplecell(&encode_args(dir, &out, &[]));
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("x.npy") && stderr(&o).contains("shape"),
        "{}",
        stderr(&o)
    );
    // NaN in the patches
    let mut x = vec![0.5f32; 10 * 16];
    x[37] = f32::NAN;
    npy::write(&tmp.path().join("x.npy"), &[10, 16], &x, true).unwrap();
    let o = simplecell(&encode_args(dir, &out, &[]));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("patch 2 pixel 5"), "{}", stderr(&o));
    // Inf in the dictionary
    write_inputs(tmp.path(), 1.0);
    let mut d = npy::read(&tmp.path().join("d.npy")).unwrap();
    d.data[3] = f32::INFINITY;
    npy::write(&tmp.path().join("d.npy"), &[24, 16], &d.data, true).unwrap();
    let o = simplecell(&encode_args(dir, &out, &[]));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("d.npy"), "{}", stderr(&o));
    assert!(!Path::new(&out).exists());
    assert!(!Path::new(&format!("{dir}/codes.json")).exists());
}

#[test]
fn sigint_stops_between_batches_exits_130_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap();
    write_inputs(tmp.path(), 1.0);
    // ISTA to a gap below float32's reach with one patch per batch: thousands of
    // iterations per batch and 300 batches, far longer than the signal takes to arrive.
    let out = format!("{dir}/codes.npy");
    let args = encode_args(
        dir,
        &out,
        &[
            "--coder",
            "ista",
            "--tol",
            "1e-12",
            "--max-iter",
            "200000",
            "--batch",
            "1",
        ],
    );
    let mut child = common::spawn(&args);
    // The temporary output appears after the handler is installed (see encode.rs).
    let started = std::time::Instant::now();
    let has_temp = || {
        std::fs::read_dir(tmp.path())
            .unwrap()
            .any(|e| e.unwrap().file_name().to_string_lossy().contains(".tmp-"))
    };
    while !has_temp() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "encode ended before it could be interrupted"
        );
        assert!(started.elapsed().as_secs() < 60, "no temporary output");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let output = common::interrupt(child);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted"), "{err}");
    let left = common::files_in(tmp.path());
    assert_eq!(left, ["d.npy", "x.npy"], "left behind: {left:?}");
}
