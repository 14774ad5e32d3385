//! `learn` and `encode` as MPI jobs (issue 18; README, "MPI"), through `mpirun` and the
//! binary built with `--features mpi`. Compiled only with that feature.
//!
//! The reference for every byte comparison is the one-process code path: the library run
//! in this test process, where the world is always a single rank (nothing here installs an
//! MPI world), which is the code the binary without the feature runs. On a small seeded set
//! with a batch that is not a multiple of the coder's 128-patch block (520 patches: 5
//! blocks, which neither 2 nor 3 ranks divide evenly), the dictionary written by 1, 2 and 3
//! ranks, over shared memory and over TCP, and after a SIGTERM at 2 ranks resumed at 3
//! ranks, must have the same SHA-256; `encode` at 2 ranks must write the same codes file.
//! The update's statistics pass, split among the ranks or not, gives those bytes too.
//! Faults: ranks that see different patch files fail at start naming the rank and the
//! file, and a rank that cannot read its file ends the whole job with an error, not a hang.
#![cfg(feature = "mpi")]

mod common;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use sha2::{Digest, Sha256};
use simplecell::dictionary::{FolderRun, LearnParams, RunFolder, RunIntervals, StopRule};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Environment for running OpenMPI as root on one machine, traffic on the loopback only.
const MPI_ENV: [(&str, &str); 5] = [
    ("OMPI_ALLOW_RUN_AS_ROOT", "1"),
    ("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1"),
    ("OMPI_MCA_rmaps_base_oversubscribe", "1"),
    ("OMPI_MCA_btl_tcp_if_include", "lo"),
    ("OMPI_MCA_oob_tcp_if_include", "lo"),
];

/// A job that has not ended after this long is taken to hang.
const HANG: Duration = Duration::from_secs(60);

const BIN: &str = env!("CARGO_BIN_EXE_simplecell");

/// `mpirun` with the test environment, `--bind-to none` and `launcher` options, then
/// `app` (the program and its arguments, or several `:`-separated app contexts).
fn mpirun_command(launcher: &[&str], app: &[String]) -> Command {
    let mut cmd = Command::new("mpirun");
    cmd.envs(MPI_ENV)
        .arg("--bind-to")
        .arg("none")
        .args(launcher)
        .args(app)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Waits for `child`, failing the test if it runs longer than [`HANG`].
fn wait(mut child: Child, what: &str) -> Output {
    let started = Instant::now();
    while child.try_wait().expect("waiting for mpirun").is_none() {
        if started.elapsed() > HANG {
            let _ = child.kill();
            panic!("{what}: still running after {HANG:?} (a hang)");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("mpirun's output")
}

fn mpirun(np: usize, launcher: &[&str], args: &[String]) -> Output {
    let mut app = vec!["-np".to_string(), np.to_string(), BIN.to_string()];
    app.extend_from_slice(args);
    let child = mpirun_command(launcher, &app)
        .spawn()
        .expect("mpirun starts (is OpenMPI installed?)");
    wait(child, &format!("mpirun -np {np}"))
}

/// The `step` column of a history.csv that may not exist yet.
fn last_steps(history: &Path) -> Vec<f64> {
    if history.exists() {
        common::csv_column(history, "step")
    } else {
        Vec::new()
    }
}

fn sha256(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}",
        out.status,
        common::stderr(out)
    );
}

/// 4,000 seeded patches of 64 correlated pixels.
fn patch_file(dir: &Path, name: &str, seed: u64) -> PathBuf {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = 4000;
    let mut data = Vec::with_capacity(n * 64);
    for _ in 0..n {
        let mut prev = 0f32;
        for _ in 0..64 {
            let e: f32 = StandardNormal.sample(&mut rng);
            prev = 0.6 * prev + e;
            data.push(prev);
        }
    }
    common::write_npy(dir, name, &[n, 64], &data)
}

/// The run every learning test makes: 32 atoms, batch 520 (5 blocks of 128 and 8), 400
/// held-out patches (4 blocks, also shared), a history row and a replica check every 5 steps.
fn params(steps: u64) -> LearnParams {
    LearnParams {
        atoms: 32,
        lambda: 0.3,
        batch: 520,
        stop: StopRule::Steps(steps),
        seed: 11,
        validation: Some(400),
        validate_every: 5,
        ..LearnParams::default()
    }
}

fn learn_args(patches: &Path, out: &Path, steps: u64) -> Vec<String> {
    let p = params(steps);
    [
        "--threads",
        "1",
        "--quiet",
        "learn",
        "--patches",
        patches.to_str().unwrap(),
        "--atoms",
        &p.atoms.to_string(),
        "--lambda",
        &p.lambda.to_string(),
        "--batch",
        &p.batch.to_string(),
        "--steps",
        &steps.to_string(),
        "--seed",
        &p.seed.to_string(),
        "--validation",
        "400",
        "--validate-every",
        &p.validate_every.to_string(),
        "--checkpoint-every",
        "50ms",
        "--out",
        out.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// The one-process dictionary's SHA-256 (library, single-rank world).
fn reference(patches: &Path, dir: &Path, steps: u64) -> String {
    let folder = RunFolder::new(dir.join(format!("reference{steps}")));
    let params = params(steps).check().unwrap();
    let mut run = FolderRun::start(&params, patches, folder.clone(), false).unwrap();
    run.run(RunIntervals::default(), &simplecell::observer::Silent)
        .unwrap();
    sha256(&folder.dictionary())
}

#[test]
fn one_two_and_three_ranks_learn_the_one_process_bytes_over_shared_memory_and_tcp() {
    let dir = tempfile::tempdir().unwrap();
    let patches = patch_file(dir.path(), "patches.npy", 5);
    let want = reference(&patches, dir.path(), 30);
    for (np, launcher) in [
        (1, &[][..]),
        (2, &[][..]),
        (3, &[][..]),
        (2, &["--mca", "btl", "self,tcp"][..]),
    ] {
        let out_dir = dir.path().join(format!("np{np}{}", launcher.len()));
        let out = mpirun(np, launcher, &learn_args(&patches, &out_dir, 30));
        ok(&out, &format!("learn at np={np} {launcher:?}"));
        let got = sha256(&RunFolder::new(&out_dir).dictionary());
        println!("np={np} {launcher:?}: dictionary sha256 {got} (one process: {want})");
        assert_eq!(got, want, "np={np} {launcher:?}");
        // Rank 0 alone wrote the folder, and nothing was left half-written.
        assert_eq!(
            common::files_in(&out_dir),
            [
                "checkpoint.bin",
                "dictionary.json",
                "dictionary.npy",
                "dictionary.png",
                "history.csv"
            ]
        );
    }
}

/// The online update's statistics pass split among the ranks (each runs a band of rows of
/// B and columns of A, then they exchange bands), forced on or off: 64 pixels are 4
/// vectors of 16 rows and there are 32 atoms, so 3 ranks own uneven bands (1, 1 and 2
/// vectors; 10, 11 and 11 columns) and at 5 ranks one rank owns columns of A but no rows.
/// The bytes are the one-process bytes either way; an unknown setting is refused.
#[test]
fn split_statistics_passes_keep_the_bytes_with_uneven_and_empty_bands() {
    let dir = tempfile::tempdir().unwrap();
    let patches = patch_file(dir.path(), "patches.npy", 10);
    let want = reference(&patches, dir.path(), 30);
    for (np, split, split_updates) in [(3, "on", 30), (5, "on", 30), (2, "off", 0)] {
        let out_dir = dir.path().join(format!("np{np}{split}"));
        let mut app = vec!["-np".to_string(), np.to_string(), BIN.to_string()];
        app.extend(learn_args(&patches, &out_dir, 30));
        let mut cmd = mpirun_command(&["-x", "SIMPLECELL_SPLIT_UPDATE"], &app);
        let out = wait(
            cmd.env("SIMPLECELL_SPLIT_UPDATE", split).spawn().unwrap(),
            &format!("np={np} split {split}"),
        );
        ok(&out, &format!("learn at np={np}, split {split}"));
        let got = sha256(&RunFolder::new(&out_dir).dictionary());
        println!("np={np} split {split}: dictionary sha256 {got} (one process: {want})");
        assert_eq!(got, want, "np={np} split {split}");
        let sidecar: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out_dir.join("dictionary.json")).unwrap())
                .unwrap();
        let pass = &sidecar["update_rule_state"]["statistics_pass"];
        assert_eq!(pass["ranks"], np, "{pass}");
        assert_eq!(pass["split_updates"], split_updates, "{pass}");
    }
    let out_dir = dir.path().join("bad");
    let mut app = vec!["-np".to_string(), "2".to_string(), BIN.to_string()];
    app.extend(learn_args(&patches, &out_dir, 30));
    let mut cmd = mpirun_command(&["-x", "SIMPLECELL_SPLIT_UPDATE"], &app);
    let out = wait(
        cmd.env("SIMPLECELL_SPLIT_UPDATE", "sometimes")
            .spawn()
            .unwrap(),
        "bad split setting",
    );
    let err = common::stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("SIMPLECELL_SPLIT_UPDATE=\"sometimes\": expected auto, on or off"),
        "{err}"
    );
    assert!(!out_dir.join("dictionary.npy").exists(), "nothing written");
}

#[test]
fn sigterm_at_two_ranks_checkpoints_and_three_ranks_resume_to_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let patches = patch_file(dir.path(), "patches.npy", 6);
    let steps = 300;
    let want = reference(&patches, dir.path(), steps);
    let out_dir = dir.path().join("run");
    // Far more steps than the reference, so the run is still going when the signal lands.
    let mut app = vec!["-np".to_string(), "2".to_string(), BIN.to_string()];
    app.extend(learn_args(&patches, &out_dir, 1_000_000));
    let child = mpirun_command(&[], &app).spawn().expect("mpirun starts");
    let history = RunFolder::new(&out_dir).history();
    let started = Instant::now();
    // Wait for a checkpoint past step 10 (history.csv is written with every checkpoint).
    while last_steps(&history).last().is_none_or(|&s| s < 10.0) {
        assert!(started.elapsed() < HANG, "no checkpoint past step 10");
        std::thread::sleep(Duration::from_millis(10));
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = wait(child, "mpirun after SIGTERM");
    let err = common::stderr(&out);
    // The ranks exit 130 as one process does; OpenMPI's mpirun, itself signalled, reports
    // its own non-zero status (1).
    assert!(!out.status.success(), "exit status; stderr:\n{err}");
    assert!(err.contains("simplecell learn --resume"), "{err}");
    let stopped_at = *common::csv_column(&history, "step").last().unwrap();
    assert!(
        stopped_at < steps as f64,
        "the run passed step {steps} before the signal"
    );
    // Resume the same checkpoint at 3 ranks, and (a copy) as one process.
    let copy = dir.path().join("copy");
    std::fs::create_dir(&copy).unwrap();
    std::fs::copy(
        RunFolder::new(&out_dir).checkpoint(),
        RunFolder::new(&copy).checkpoint(),
    )
    .unwrap();
    let resume = |d: &Path| -> Vec<String> {
        [
            "--threads",
            "1",
            "--quiet",
            "learn",
            "--resume",
            d.to_str().unwrap(),
            "--steps",
            &steps.to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let out = mpirun(3, &[], &resume(&out_dir));
    ok(&out, "resume at np=3");
    let got = sha256(&RunFolder::new(&out_dir).dictionary());
    println!("SIGTERM at step {stopped_at}, resumed at np=3: {got} (one process: {want})");
    assert_eq!(got, want, "resumed at np=3");
    let out = common::simplecell(&resume(&copy));
    ok(&out, "resume without mpirun");
    assert_eq!(sha256(&RunFolder::new(&copy).dictionary()), want);
}

#[test]
fn ranks_that_see_different_patch_files_fail_at_start_naming_rank_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let a = patch_file(dir.path(), "a.npy", 7);
    let b = patch_file(dir.path(), "b.npy", 8);
    let out_dir = dir.path().join("out");
    // Two app contexts: rank 0 reads a.npy, rank 1 reads b.npy.
    let mut app = vec!["-np".to_string(), "1".to_string(), BIN.to_string()];
    app.extend(learn_args(&a, &out_dir, 30));
    app.extend([":", "-np", "1", BIN].map(String::from));
    app.extend(learn_args(&b, &out_dir, 30));
    let out = wait(mpirun_command(&[], &app).spawn().unwrap(), "mismatch");
    let err = common::stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("rank 1 of 2 sees a different patch file")
            && err.contains(b.to_str().unwrap()),
        "{err}"
    );
    assert!(
        !RunFolder::new(&out_dir).dictionary().exists(),
        "nothing written"
    );

    // Rank 1 cannot read its file: its error names the file, and the whole job ends.
    let missing = dir.path().join("missing.npy");
    let mut app = vec!["-np".to_string(), "1".to_string(), BIN.to_string()];
    app.extend(learn_args(&a, &out_dir, 30));
    app.extend([":", "-np", "1", BIN].map(String::from));
    app.extend(learn_args(&missing, &out_dir, 30));
    let out = wait(mpirun_command(&[], &app).spawn().unwrap(), "unreadable");
    let err = common::stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("rank 1 of 2") && err.contains(missing.to_str().unwrap()),
        "{err}"
    );
}

#[test]
fn encode_at_two_ranks_writes_the_one_process_codes_file() {
    use simplecell::coding::stream::{EncodeParams, encode_file};
    let dir = tempfile::tempdir().unwrap();
    let patches = patch_file(dir.path(), "patches.npy", 9);
    // A dictionary: the first 32 patches, normalised.
    let data = simplecell::io::npy::read(&patches).unwrap().data;
    let mut d: Vec<f32> = data[..32 * 64].to_vec();
    for atom in d.chunks_mut(64) {
        let norm = atom.iter().map(|v| v * v).sum::<f32>().sqrt();
        atom.iter_mut().for_each(|v| *v /= norm);
    }
    let dict = common::write_npy(dir.path(), "dict.npy", &[32, 64], &d);
    let mut params = EncodeParams::new(0.3);
    params.batch = 1000; // 4 batches of 8 blocks (7 of 128 and one of 104)
    let want = dir.path().join("want.npy");
    encode_file(
        &params.check().unwrap(),
        &patches,
        &dict,
        &want,
        false,
        &simplecell::observer::Silent,
    )
    .unwrap();
    let got = dir.path().join("got.npy");
    let args: Vec<String> = [
        "--quiet",
        "encode",
        "--patches",
        patches.to_str().unwrap(),
        "--dictionary",
        dict.to_str().unwrap(),
        "--lambda",
        "0.3",
        "--batch",
        "1000",
        "--out",
        got.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let out = mpirun(2, &[], &args);
    ok(&out, "encode at np=2");
    println!(
        "encode np=2: {} (one process: {})",
        sha256(&got),
        sha256(&want)
    );
    assert_eq!(sha256(&got), sha256(&want));
    assert_eq!(common::files_in(dir.path()).len(), 6, "codes and sidecars");
}

/// The README's MPI example, command for command, in a scratch folder with the binary on
/// the PATH (the lines between the `mpi-example` markers of README.md).
#[test]
fn the_readme_mpi_example_runs_as_written() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let block = readme
        .split("<!-- mpi-example -->")
        .nth(1)
        .expect("README.md has an mpi-example block");
    let commands: Vec<&str> = block
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with("```"))
        .collect();
    assert!(
        commands.iter().any(|c| c.starts_with("mpirun")),
        "{commands:?}"
    );
    let dir = tempfile::tempdir().unwrap();
    let bin_dir = Path::new(BIN).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for command in &commands {
        let child = Command::new("sh")
            .arg("-c")
            .arg(command)
            .current_dir(dir.path())
            .env("PATH", &path)
            .envs(MPI_ENV)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = wait(child, command);
        ok(&out, command);
    }
    assert!(dir.path().join("results/mpi/dictionary.npy").exists());
}
