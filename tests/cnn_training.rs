//! End-to-end behaviour of `simplecell cnn`: learning a small separable problem, the
//! first-layer options (--freeze-conv1, --conv1-init), determinism and resume, Ctrl-C and
//! resume, clear errors for corrupt data, and a short real run on the shared CIFAR-10 files.

mod common;

use common::csv_column;
use common::labelled::two_bars_folder;
use common::{shared_data, simplecell, stderr};

fn train(args: &[&str]) -> std::process::Output {
    let mut all = vec!["--quiet", "--threads", "2", "cnn", "train"];
    all.extend_from_slice(args);
    simplecell(&all)
}

#[test]
fn learns_a_separable_problem_and_the_first_layer_options_hold() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("bars");
    two_bars_folder(&data, 40);
    let spec = format!("folder:{}", data.display());
    let run = tmp.path().join("run");
    let common = [
        "--data",
        &spec,
        "--batch-size",
        "16",
        "--conv1-filters",
        "8",
        "--conv2-filters",
        "8",
        "--lr",
        "0.05",
        "--seed",
        "1",
    ];
    let mut args = common.to_vec();
    args.extend(["--out", run.to_str().unwrap(), "--epochs", "6"]);
    let out = train(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let metrics = run.join("metrics.csv");
    let loss = csv_column(&metrics, "train_loss");
    let test_acc = csv_column(&metrics, "test_accuracy");
    // Bars are linearly separable by orientation: 6 epochs of 80 images must reach at least
    // 95% on the 80 held-out images (1-2 mistakes allowed for an unlucky position).
    assert!(
        *test_acc.last().unwrap() >= 0.95,
        "test accuracy {test_acc:?}"
    );
    assert!(
        loss[loss.len() - 1] < 0.5 * loss[1],
        "train loss must fall: {loss:?}"
    );
    for e in 0..=6 {
        for ext in ["npy", "json", "png"] {
            assert!(
                run.join(format!("conv1_epoch_{e:03}.{ext}")).exists(),
                "epoch {e} {ext}"
            );
        }
    }
    let bank = simplecell::io::npy::read(&run.join("conv1_epoch_006.npy")).unwrap();
    assert_eq!(bank.shape, vec![8, 1, 5, 5]);

    // A refused rerun writes nothing and names the file.
    let again = train(&args);
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).contains("--force"), "{}", stderr(&again));

    // Same seed and threads -> same bytes; one thread too (the chunking is thread-free).
    let run2 = tmp.path().join("run2");
    let mut args2 = common.to_vec();
    args2.extend(["--out", run2.to_str().unwrap(), "--epochs", "2"]);
    let mut one = vec!["--quiet", "--threads", "1", "cnn", "train"];
    one.extend_from_slice(&args2);
    assert!(simplecell(&one).status.success());
    for e in 0..=2 {
        let name = format!("conv1_epoch_{e:03}.npy");
        assert_eq!(
            std::fs::read(run.join(&name)).unwrap(),
            std::fs::read(run2.join(&name)).unwrap(),
            "{name}"
        );
    }

    // Resume: train 2 more epochs from run2's checkpoint -> the same bytes as 4 straight.
    let mut resume = common.to_vec();
    resume.extend(["--out", run2.to_str().unwrap(), "--epochs", "4", "--resume"]);
    let out = train(&resume);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(run.join("conv1_epoch_004.npy")).unwrap(),
        std::fs::read(run2.join("conv1_epoch_004.npy")).unwrap()
    );

    // A resume with another setting is refused, naming the setting and both values, and
    // leaves the run as it was.
    let before = std::fs::read(run2.join("checkpoint.bin")).unwrap();
    let mut other = resume.clone();
    let lr = other.iter().position(|a| *a == "--lr").unwrap();
    other[lr + 1] = "0.02";
    let epochs = other.iter().position(|a| *a == "4").unwrap();
    other[epochs] = "5";
    let out = train(&other);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("--lr was 0.05 and is now 0.02"),
        "names the setting and both values: {err}"
    );
    assert_eq!(std::fs::read(run2.join("checkpoint.bin")).unwrap(), before);
    assert!(!run2.join("conv1_epoch_005.npy").exists());

    // --freeze-conv1: the first layer's bytes never change.
    let frozen = tmp.path().join("frozen");
    let mut a = common.to_vec();
    a.extend([
        "--out",
        frozen.to_str().unwrap(),
        "--epochs",
        "2",
        "--freeze-conv1",
    ]);
    assert!(train(&a).status.success());
    let first = std::fs::read(frozen.join("conv1_epoch_000.npy")).unwrap();
    assert_eq!(
        first,
        std::fs::read(frozen.join("conv1_epoch_002.npy")).unwrap()
    );
    let acc = csv_column(&frozen.join("metrics.csv"), "train_loss");
    assert!(acc[2] < acc[1], "the other layers still train: {acc:?}");

    // --conv1-init: a (filters, channels, k, k) bank of the kernel's size loads exactly,
    // and its filter count sets conv1's.
    let bank_path = tmp.path().join("bank.npy");
    let values: Vec<f32> = (0..6 * 25)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) / 77.0)
        .collect();
    simplecell::io::npy::write(&bank_path, &[6, 1, 5, 5], &values, false).unwrap();
    let init = tmp.path().join("init");
    let a = [
        "--data",
        &spec,
        "--epochs",
        "0",
        "--out",
        init.to_str().unwrap(),
        "--conv1-init",
        bank_path.to_str().unwrap(),
    ];
    let out = train(&a);
    assert!(out.status.success(), "{}", stderr(&out));
    let loaded = simplecell::io::npy::read(&init.join("conv1_epoch_000.npy")).unwrap();
    assert_eq!(loaded.shape, vec![6, 1, 5, 5]);
    assert_eq!(loaded.data, values);
    // A dictionary (atoms, 8*8) is resized to the 5x5 kernel.
    let dict = tmp.path().join("dict.npy");
    simplecell::io::npy::write(&dict, &[3, 64], &vec![0.125; 3 * 64], false).unwrap();
    let init2 = tmp.path().join("init2");
    let out = train(&[
        "--data",
        &spec,
        "--epochs",
        "0",
        "--out",
        init2.to_str().unwrap(),
        "--conv1-init",
        dict.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let loaded = simplecell::io::npy::read(&init2.join("conv1_epoch_000.npy")).unwrap();
    assert_eq!(loaded.shape, vec![3, 1, 5, 5]);
    // Unit-norm atoms stay unit-norm (0.125 * 8 = 1); 1e-5 allows float32 rounding.
    let norm: f32 = loaded.data[..25].iter().map(|v| v * v).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-5, "{norm}");

    // Evaluation and visualisation of the trained run.
    let eval = simplecell(&["cnn", "eval", "--run", run.to_str().unwrap()]);
    assert!(eval.status.success(), "{}", stderr(&eval));
    let text = String::from_utf8_lossy(&eval.stdout);
    let acc: f64 = text
        .split("accuracy ")
        .nth(1)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        (acc - test_acc.last().unwrap()).abs() < 1e-12,
        "eval agrees with the log: {text}"
    );
    let png = tmp.path().join("conv2.png");
    let vis = simplecell(&[
        "--quiet",
        "cnn",
        "visualize",
        "--run",
        run.to_str().unwrap(),
        "--layer",
        "conv2",
        "--out",
        png.to_str().unwrap(),
        "--steps",
        "30",
    ]);
    assert!(vis.status.success(), "{}", stderr(&vis));
    assert!(image::open(&png).is_ok());
}

#[test]
fn sigint_exits_130_keeps_the_last_epoch_and_resumes_bit_identically() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("bars");
    two_bars_folder(&data, 40);
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
        "--lr",
        "0.05",
        "--seed",
        "4",
    ];
    // Far more epochs than the run gets to: it is interrupted once epoch 2 is logged.
    let run = tmp.path().join("interrupted");
    let mut args = vec!["--quiet", "--threads", "2", "cnn", "train"];
    args.extend_from_slice(&common);
    args.extend(["--out", run.to_str().unwrap(), "--epochs", "500"]);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_simplecell"))
        .args(&args)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while !run.join("conv1_epoch_002.npy").exists() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it was interrupted"
        );
        assert!(
            started.elapsed().as_secs() < 120,
            "no epoch 2 after 2 minutes"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let kill = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let output = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{err}");
    assert!(err.contains("--resume"), "names the resume option: {err}");
    let (ck, _) = simplecell::cnn::checkpoint::Checkpoint::read(&run).unwrap();
    let done = ck.epochs_done;
    assert!((2..500).contains(&done), "checkpoint after epoch {done}");
    // Nothing of the interrupted epoch was logged.
    assert!(
        !run.join(format!("conv1_epoch_{:03}.npy", done + 1))
            .exists()
    );

    // Resume to two epochs past the checkpoint (redoing the interrupted one); the schedule
    // is constant, so --epochs changes nothing else. Compare with a straight run.
    let target = (done + 2).to_string();
    let mut resume = common.to_vec();
    resume.extend([
        "--out",
        run.to_str().unwrap(),
        "--epochs",
        &target,
        "--resume",
    ]);
    let out = train(&resume);
    assert!(out.status.success(), "{}", stderr(&out));
    let straight = tmp.path().join("straight");
    let mut full = common.to_vec();
    full.extend(["--out", straight.to_str().unwrap(), "--epochs", &target]);
    let out = train(&full);
    assert!(out.status.success(), "{}", stderr(&out));
    let last = format!("conv1_epoch_{:03}.npy", done + 2);
    assert_eq!(
        std::fs::read(run.join(&last)).unwrap(),
        std::fs::read(straight.join(&last)).unwrap(),
        "{last}"
    );
}

#[test]
fn corrupt_or_truncated_data_files_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let cifar = tmp.path().join("cifar");
    std::fs::create_dir_all(&cifar).unwrap();
    std::fs::write(cifar.join("data_batch_1.bin"), vec![1u8; 3073 * 2 + 100]).unwrap();
    let out_dir = tmp.path().join("out");
    let spec = format!("cifar10:{}", cifar.display());
    let out = train(&[
        "--data",
        &spec,
        "--out",
        out_dir.to_str().unwrap(),
        "--epochs",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let msg = stderr(&out);
    assert!(
        msg.contains("data_batch_1.bin") && msg.contains("whole number"),
        "{msg}"
    );
    assert!(!out_dir.join("metrics.csv").exists(), "nothing written");

    let mnist = tmp.path().join("mnist");
    std::fs::create_dir_all(&mnist).unwrap();
    // A gzip stream cut short.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(
        &mut gz,
        &[0, 0, 8, 3, 0, 0, 0, 10, 0, 0, 0, 28, 0, 0, 0, 28],
    )
    .unwrap();
    std::io::Write::write_all(&mut gz, &vec![7u8; 10 * 784]).unwrap();
    let bytes = gz.finish().unwrap();
    std::fs::write(
        mnist.join("t10k-images-idx3-ubyte.gz"),
        &bytes[..bytes.len() / 2],
    )
    .unwrap();
    std::fs::write(
        mnist.join("t10k-labels-idx1-ubyte"),
        [0u8, 0, 8, 1, 0, 0, 0, 10, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    )
    .unwrap();
    let spec = format!("mnist:{}", mnist.display());
    let out = train(&[
        "--data",
        &spec,
        "--out",
        out_dir.to_str().unwrap(),
        "--epochs",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let msg = stderr(&out);
    assert!(msg.contains("t10k-images-idx3-ubyte.gz"), "{msg}");

    let bad = train(&[
        "--data",
        "nonsense:/tmp",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("--data"));
    let bad = train(&[
        "--data",
        &spec,
        "--out",
        out_dir.to_str().unwrap(),
        "--conv1-kernel",
        "6",
    ]);
    assert!(stderr(&bad).contains("--conv1-kernel"));
}

#[test]
fn mnist_reader_reads_the_shared_test_set() {
    let Some(dir) = shared_data("mnist") else {
        return;
    };
    let images = simplecell::io::idx::read_pair(
        &dir.join("t10k-images-idx3-ubyte.gz"),
        &dir.join("t10k-labels-idx1-ubyte.gz"),
    )
    .unwrap();
    assert_eq!(
        (images.len(), images.height, images.width, images.channels),
        (10000, 28, 28, 1)
    );
    // Every digit occurs; MNIST's test set has 892 to 1135 of each.
    for c in 0..10u16 {
        let n = images.labels.iter().filter(|&&l| l == c).count();
        assert!((800..1200).contains(&n), "class {c}: {n}");
    }
}
