//! End-to-end behaviour of `simplecell study` on tiny generated data: every documented file
//! is written with its documented header and values in range, fixed first layers keep their
//! bytes, the report's numbers are the CSVs' numbers, a finished study resumes to the same
//! tables, and bad options fail before any work.

mod common;

use common::csv_column;
use common::labelled::three_bars_folder;
use common::{simplecell, stderr};
use std::collections::HashMap;
use std::path::Path;

fn study(data: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let data = format!("folder:{}", data.display());
    let out = out.to_str().unwrap();
    let mut args = vec![
        "--quiet",
        "--threads",
        "2",
        "study",
        "--quick",
        "--data",
        &data,
        "--out",
        out,
        "--seeds",
        "2",
        "--epochs",
        "2",
        "--patches",
        "5000",
        "--learn-epochs",
        "1",
        "--lambda",
        "1",
        "--kernel",
        "5",
        "--filters",
        "8",
        "--train-limit",
        "0",
        "--test-limit",
        "0",
        "--null-draws",
        "4",
        "--ascent-steps",
        "20",
        "--activation-sample",
        "24",
    ];
    args.extend_from_slice(extra);
    simplecell(&args)
}

/// Copies the folder `from` with everything under it to `to`.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// (header, rows) of a CSV file.
fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let header = r.headers().unwrap().iter().map(String::from).collect();
    let rows = r
        .records()
        .map(|rec| rec.unwrap().iter().map(String::from).collect())
        .collect();
    (header, rows)
}

/// The loss comparison: four validation runs per loss; the chosen rate is the best
/// finished one; the final runs use it with both seeds, on the test set; the summary's mean
/// is the mean of those runs; the sweep's runs say in their metrics that they validate.
fn check_losses(out: &Path) {
    let (h, rows) = read_csv(&out.join("losses.csv"));
    let col = |name: &str| h.iter().position(|c| c == name).unwrap();
    let (loss, lr, phase, status, acc) = (
        col("loss"),
        col("lr"),
        col("phase"),
        col("status"),
        col("accuracy"),
    );
    let (sh, summary) = read_csv(&out.join("losses_summary.csv"));
    let scol = |name: &str| sh.iter().position(|c| c == name).unwrap();
    assert_eq!(summary.len(), 3);
    for name in [
        "softmax-cross-entropy",
        "sigmoid-cross-entropy",
        "squared-error",
    ] {
        let sweep: Vec<&Vec<String>> = rows
            .iter()
            .filter(|r| r[loss] == name && r[phase] == "validation")
            .collect();
        assert_eq!(sweep.len(), 4, "{name}");
        let finished: Vec<&&Vec<String>> =
            sweep.iter().filter(|r| r[status] == "finished").collect();
        let row = summary.iter().find(|r| r[scol("loss")] == name).unwrap();
        let finals: Vec<&Vec<String>> = rows
            .iter()
            .filter(|r| r[loss] == name && r[phase] == "test")
            .collect();
        if finished.is_empty() {
            assert_eq!(row[scol("chosen_lr")], "none");
            assert!(finals.is_empty());
            continue;
        }
        let best = finished
            .iter()
            .map(|r| r[acc].parse::<f64>().unwrap())
            .fold(f64::NEG_INFINITY, f64::max);
        let chosen = &row[scol("chosen_lr")];
        let at_chosen = sweep.iter().find(|r| &r[lr] == chosen).unwrap();
        assert_eq!(at_chosen[acc].parse::<f64>().unwrap(), best, "{name}");
        assert_eq!(finals.len(), 2, "{name}: one final run per seed");
        assert!(finals.iter().all(|r| &r[lr] == chosen));
        let good: Vec<f64> = finals
            .iter()
            .filter(|r| r[status] == "finished")
            .map(|r| r[acc].parse().unwrap())
            .collect();
        if !good.is_empty() {
            let mean = good.iter().sum::<f64>() / good.len() as f64;
            let reported: f64 = row[scol("test_accuracy_mean")].parse().unwrap();
            // Each accuracy cell has four decimals, so the mean of the cells is within
            // 1e-4 of the mean of the unrounded values.
            assert!(
                (mean - reported).abs() <= 1e-4,
                "{name}: {mean} vs {reported}"
            );
        }
        let dir = out.join("losses").join(&sweep[0][col("run")][7..]);
        let metrics = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
        assert!(metrics.contains("validation_accuracy"), "{}", dir.display());
    }
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("## 8. The losses, each at its own learning rate"));
}

fn assert_in_unit_interval(path: &Path, name: &str) {
    let v = csv_column(path, name);
    assert!(!v.is_empty(), "{name} in {} is empty", path.display());
    for x in v {
        assert!(
            x.is_finite() && (0.0..=1.0).contains(&x),
            "{name} = {x} in {}",
            path.display()
        );
    }
}

/// Data bytes of a float32 .npy file (after its header).
fn npy_data(path: &Path) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap();
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    bytes[10 + header_len..].to_vec()
}

/// Every Markdown table in `report` that follows a "Source: `X.csv`" line, as
/// (csv name, column names, rows of cells).
fn report_tables(report: &str) -> Vec<(String, Vec<String>, Vec<Vec<String>>)> {
    let lines: Vec<&str> = report.lines().collect();
    let split = |l: &str| -> Vec<String> {
        l.trim()
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().to_string())
            .collect()
    };
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let Some(name) = l
            .strip_prefix("Source: `")
            .and_then(|r| r.strip_suffix('`'))
        else {
            continue;
        };
        let mut j = i + 1;
        while lines[j].trim().is_empty() {
            j += 1;
        }
        let columns = split(lines[j]);
        let rows = lines[j + 2..]
            .iter()
            .take_while(|l| l.starts_with('|'))
            .map(|l| split(l))
            .collect();
        out.push((name.to_string(), columns, rows));
    }
    out
}

#[test]
fn a_tiny_study_writes_every_file_and_its_report_matches_its_tables() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("bars");
    three_bars_folder(&data, 100, 20);
    let out = tmp.path().join("study");
    let run = study(&data, &out, &[]);
    assert!(run.status.success(), "study failed: {}", stderr(&run));

    let tables = [
        "reference_banks.csv",
        "similarity.csv",
        "sparsity.csv",
        "dictionary_codes.csv",
        "accuracy.csv",
        "accuracy_summary.csv",
        "gabor_parameters.csv",
        "conv2_units.csv",
        "conv2_summary.csv",
        "seed_summary.csv",
        "criteria.csv",
        "zero_split.csv",
        "top9.csv",
        "top9_summary.csv",
        "front_ends.csv",
        "dropout_ridge.csv",
        "dropout_logistic.csv",
        "losses.csv",
        "losses_summary.csv",
    ];
    let figures = [
        "matched_minus_null.png",
        "gabor_share.png",
        "energy_profile.png",
        "zero_split.png",
        "sparsity_curve.png",
        "filter_sparsity_curve.png",
        "nx_ny.png",
        "gabor_r2_hist.png",
        "orientation_hist.png",
        "frequency_hist.png",
        "accuracy.png",
        "front_ends.png",
        "conv2_preferred.png",
        "conv1_top9.png",
        "conv2_top9.png",
        "conv1_top9_epoch0.png",
        "conv2_top9_epoch0.png",
        "dropout_ridge.png",
        "losses.png",
        "reference/dictionary.png",
        "reference/input/dictionary.png",
        "reference/gabor.png",
        "reference/random.png",
    ];
    for f in tables
        .iter()
        .chain(&figures)
        .chain(&["report.md", "study.json"])
    {
        assert!(out.join(f).is_file(), "{f} is missing");
    }
    // Dropout as ridge: SGD within 2% of the weighted ridge at every rate (the library
    // test's tolerance, same problem size), and the logistic part ran on the plain run.
    let (h, rows) = read_csv(&out.join("dropout_ridge.csv"));
    let dw = h.iter().position(|c| c == "distance_to_weighted").unwrap();
    assert_eq!(rows.len(), 5);
    for r in &rows {
        assert!(r[dw].parse::<f64>().unwrap() < 0.02, "{r:?}");
    }
    assert_eq!(read_csv(&out.join("dropout_logistic.csv")).1.len(), 2);
    check_losses(&out);
    for f in figures {
        let img = image::open(out.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert!(img.width() > 8 && img.height() > 8, "{f} is empty");
    }

    // The documented headers (README, "study").
    let header = |f: &str| read_csv(&out.join(f)).0.join(",");
    assert_eq!(
        header("accuracy.csv"),
        "run,variant,first_layer,seed,epochs,train_accuracy,test_accuracy,test_loss"
    );
    assert_eq!(
        header("accuracy_summary.csv"),
        "variant,first_layer,runs,mean_test_accuracy,sd,min,max"
    );
    assert_eq!(
        header("similarity.csv"),
        "run,variant,seed,input,epoch,matched_similarity,null_mean,null_sd,z,gabor_r2_median,\
         gabor_r2_ge_0.7,energy80_area_median,orientation_kuiper_p,frequency_ks_p,nx_ks_p,ny_ks_p,\
         matched_minus_null,kodak_matched,kodak_null,energy_vs_whitening_r,energy_vs_input_r,\
         selectivity_whitened,selectivity_raw,diverged"
    );
    assert_eq!(
        header("top9.csv"),
        "run,layer,network,unit,rank,image,y,x,input_y0,input_x0,activation"
    );
    assert_eq!(
        header("top9_summary.csv"),
        "run,layer,network,images,receptive_field,units,mean_coherence,median_coherence,\
         random_mean_coherence,units_firing_on_all"
    );
    // One row per unit and rank, nine distinct images per unit: 8 conv1 units with the
    // 5x5 kernel, conv2's units; the test set has 3 x 20 images, more than nine.
    let (top_header, top_rows) = read_csv(&out.join("top9.csv"));
    let col = |name: &str| top_header.iter().position(|h| h == name).unwrap();
    let (run, layer, network, unit, image) = (
        col("run"),
        col("layer"),
        col("network"),
        col("unit"),
        col("image"),
    );
    let mut lists: HashMap<(String, String, String, String), Vec<String>> = HashMap::new();
    for row in &top_rows {
        let key = (
            row[run].clone(),
            row[layer].clone(),
            row[network].clone(),
            row[unit].clone(),
        );
        lists.entry(key).or_default().push(row[image].clone());
    }
    assert!(lists.keys().any(|k| k.1 == "conv1" && k.2 == "initial"));
    for (key, images) in &lists {
        let mut distinct = images.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!((images.len(), distinct.len()), (9, 9), "{key:?}");
    }
    assert_eq!(
        lists.keys().filter(|k| k.1 == "conv1").count() % 8,
        0,
        "conv1 has 8 units per network"
    );
    assert_eq!(
        header("criteria.csv"),
        "criterion,variant,measure,value,threshold,result"
    );
    assert_eq!(
        header("zero_split.csv"),
        "run,variant,seed,epoch,bias_mean,zero_fraction,zero_fraction_zero_bias,\
         zero_fraction_phase_randomised"
    );
    assert_eq!(
        header("sparsity.csv"),
        "run,variant,seed,epoch,test_accuracy,activation_zero_fraction,activation_hoyer,\
         preactivation_kurtosis,filter_hoyer,filter_kurtosis"
    );

    assert_eq!(
        header("front_ends.csv"),
        "bank,seed,space,atoms,features,lambda,train_accuracy,validation_accuracy,\
         test_accuracy,seconds,source"
    );
    // Every first layer through the feature pipeline: the trained conv1 of both plain
    // seeds, 8 atoms -> 4 quadrants x 2 signs x 8 = 64 features; then the CNNs end to end.
    let (fh, front) = read_csv(&out.join("front_ends.csv"));
    let col = |n: &str| fh.iter().position(|h| h == n).unwrap();
    let rows_of = |bank: &str| -> Vec<&Vec<String>> {
        front.iter().filter(|r| r[col("bank")] == bank).collect()
    };
    let conv1 = rows_of("cnn conv1 (trained)");
    let seeds: Vec<(&str, &str)> = conv1
        .iter()
        .map(|r| (r[col("seed")].as_str(), r[col("space")].as_str()))
        .collect();
    assert_eq!(
        seeds,
        [("1", "normalised"), ("2", "normalised"), ("1", "whitened")]
    );
    for bank in [
        "gabor",
        "random",
        "kodak dictionary",
        "k-means",
        "sparse coding",
    ] {
        let rows = rows_of(bank);
        assert!(!rows.is_empty(), "no front end {bank}");
        assert!(rows.iter().all(|r| r[col("features")] == "64"), "{bank}");
    }
    assert_eq!(rows_of("input dictionary")[0][col("atoms")], "64");
    assert_eq!(rows_of("cnn end to end (plain)").len(), 2);
    assert_in_unit_interval(&out.join("front_ends.csv"), "test_accuracy");

    // 14 variants x 2 seeds, each with epochs 0..=2.
    let (_, accuracy_rows) = read_csv(&out.join("accuracy.csv"));
    assert_eq!(accuracy_rows.len(), 28);
    let (_, similarity_rows) = read_csv(&out.join("similarity.csv"));
    assert_eq!(similarity_rows.len(), 28 * 3);
    // Every criterion has a verdict; on bars, numbers not goals, so only their form.
    let (_, criteria) = read_csv(&out.join("criteria.csv"));
    assert_eq!(criteria.len(), 10, "5 rows for plain, 5 for random labels");
    for row in &criteria {
        assert!(
            row[5] == "PASS" || row[5] == "FAIL",
            "criterion {} has no verdict: {row:?}",
            row[0]
        );
    }
    // The zero split of an unnormalised run is measured; batch norm's is not.
    let (zh, zeros) = read_csv(&out.join("zero_split.csv"));
    let col = |n: &str| zh.iter().position(|h| h == n).unwrap();
    for row in &zeros {
        let measured = row[col("zero_fraction_zero_bias")] != "nan";
        assert_eq!(measured, row[col("variant")] != "batch-norm", "{row:?}");
    }
    for (f, c) in [
        ("accuracy.csv", "train_accuracy"),
        ("accuracy.csv", "test_accuracy"),
        ("accuracy_summary.csv", "mean_test_accuracy"),
        ("similarity.csv", "matched_similarity"),
        ("similarity.csv", "null_mean"),
        ("sparsity.csv", "activation_zero_fraction"),
        ("sparsity.csv", "filter_hoyer"),
        (
            "reference_banks.csv",
            "matched_similarity_to_input_dictionary",
        ),
        ("dictionary_codes.csv", "code_zero_fraction"),
    ] {
        assert_in_unit_interval(&out.join(f), c);
    }
    // The bars are easy: the plain CNN beats chance (1/3) after two epochs.
    let acc = csv_column(&out.join("accuracy.csv"), "test_accuracy");
    assert!(acc[0] > 0.5, "plain-s1 test accuracy {}", acc[0]);
    // The input dictionary matches itself exactly; the random bank is far from it.
    let refs = csv_column(
        &out.join("reference_banks.csv"),
        "matched_similarity_to_input_dictionary",
    );
    assert!(
        (refs[0] - 1.0).abs() < 1e-3,
        "dictionary vs itself {}",
        refs[0]
    );
    assert!(
        refs[3] < refs[0] - 0.2,
        "random bank {} vs dictionary",
        refs[3]
    );

    // Fixed first layers keep their bytes; the fixed dictionary is the dictionary.
    for variant in ["gabor-fixed", "dictionary-fixed", "random-fixed"] {
        for seed in [1, 2] {
            let dir = out.join("runs").join(format!("{variant}-s{seed}"));
            let first = npy_data(&dir.join("conv1_epoch_000.npy"));
            let last = npy_data(&dir.join("conv1_epoch_002.npy"));
            assert!(first == last, "{variant}-s{seed} changed its first layer");
        }
    }
    assert_eq!(
        npy_data(&out.join("runs/dictionary-fixed-s1/conv1_epoch_000.npy")),
        npy_data(&out.join("reference/dictionary.npy"))
    );
    let learned = out.join("runs/plain-s1");
    assert!(
        npy_data(&learned.join("conv1_epoch_000.npy"))
            != npy_data(&learned.join("conv1_epoch_002.npy")),
        "the learned first layer trains"
    );

    // Every table of the report is rows of the CSV it names, cell for cell.
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    let questions = [
        "### Why OF-like?",
        "### Implicit sparsity?",
        "### Gabors instead?",
        "### Learned without labels?",
        "### Deeper layers?",
        "## Criteria",
    ];
    let at: Vec<usize> = questions
        .iter()
        .map(|q| report.find(q).unwrap_or_else(|| panic!("{q} missing")))
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "questions out of order");
    let parsed = report_tables(&report);
    assert!(
        parsed.len() >= 6,
        "only {} tables in the report",
        parsed.len()
    );
    for (name, columns, rows) in &parsed {
        assert!(!rows.is_empty(), "table from {name} is empty");
        let (header, csv_rows) = read_csv(&out.join(name));
        let index: Vec<usize> = columns
            .iter()
            .map(|c| {
                header
                    .iter()
                    .position(|h| h == c)
                    .unwrap_or_else(|| panic!("{name}: {c}"))
            })
            .collect();
        let csv_keys: HashMap<Vec<&str>, ()> = csv_rows
            .iter()
            .map(|r| (index.iter().map(|&i| r[i].as_str()).collect(), ()))
            .collect();
        for row in rows {
            let key: Vec<&str> = row.iter().map(String::as_str).collect();
            assert!(
                csv_keys.contains_key(&key),
                "report row {key:?} is not in {name}"
            );
        }
    }

    // Resuming a finished study redoes only the measurements, to the same tables, also
    // in a copy of the folder elsewhere (the fixed banks' runs are not trained again: their
    // checkpoints stay untouched); so does a report-only invocation, which leaves
    // study.json to the invocation that trains.
    let before = std::fs::read(out.join("similarity.csv")).unwrap();
    let front_before = std::fs::read(out.join("front_ends.csv")).unwrap();
    let moved = tmp.path().join("moved");
    copy_tree(&out, &moved);
    let checkpoint = moved.join("runs/gabor-fixed-s1/checkpoint.bin");
    let stamp = std::fs::metadata(&checkpoint).unwrap().modified().unwrap();
    let again = study(&data, &moved, &["--resume"]);
    assert!(again.status.success(), "resume failed: {}", stderr(&again));
    assert_eq!(
        stamp,
        std::fs::metadata(&checkpoint).unwrap().modified().unwrap(),
        "the copied study trained gabor-fixed-s1 again"
    );
    assert_eq!(before, std::fs::read(moved.join("similarity.csv")).unwrap());
    assert_eq!(
        front_before,
        std::fs::read(moved.join("front_ends.csv")).unwrap()
    );
    let side = std::fs::read(out.join("study.json")).unwrap();
    let report_only = study(&data, &out, &["--report-only"]);
    assert!(report_only.status.success(), "{}", stderr(&report_only));
    assert_eq!(before, std::fs::read(out.join("similarity.csv")).unwrap());
    assert_eq!(side, std::fs::read(out.join("study.json")).unwrap());

    // A second fresh study refuses to overwrite; a changed option cannot resume.
    let refused = study(&data, &out, &[]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(stderr(&refused).contains("--out"), "{}", stderr(&refused));
    let changed = study(&data, &out, &["--resume", "--lr", "0.02"]);
    assert_eq!(changed.status.code(), Some(2));
    assert!(
        stderr(&changed).contains("--resume"),
        "{}",
        stderr(&changed)
    );
}

#[test]
fn bad_study_options_fail_before_any_work() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("bars");
    three_bars_folder(&data, 3, 1);
    let spec = format!("folder:{}", data.display());
    for (flag, value) in [("--kernel", "6"), ("--seeds", "0"), ("--lambda", "-1")] {
        let out = tmp.path().join(format!("out{flag}"));
        let run = simplecell(&[
            "study",
            "--data",
            &spec,
            "--out",
            out.to_str().unwrap(),
            &format!("{flag}={value}"),
        ]);
        assert_eq!(run.status.code(), Some(2), "{flag} {value}");
        let err = stderr(&run);
        assert!(err.contains(flag) && err.contains(value), "{flag}: {err}");
        assert!(!out.exists(), "{flag} {value} wrote {}", out.display());
    }
    let missing = simplecell(&[
        "study",
        "--data",
        "cifar10:/nonexistent/folder",
        "--out",
        tmp.path().join("x").to_str().unwrap(),
    ]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("/nonexistent/folder"));
}

#[test]
fn the_library_refuses_to_resume_what_was_never_started() {
    use simplecell::cnn::Start;
    use simplecell::cnn::data::DataSource;
    use simplecell::params::Params;
    use simplecell::study::{self, StudyInputs, StudyParams};
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("bars");
    three_bars_folder(&data, 3, 1);
    let inputs = StudyInputs::new(None, DataSource::Folder(data)).unwrap();
    let params = StudyParams::quick().check().unwrap();
    let out = tmp.path().join("never");
    let silent = simplecell::observer::Silent;
    let err = study::run(
        &inputs,
        &params,
        &out,
        Start::Resume,
        false,
        "test",
        &silent,
    )
    .unwrap_err();
    assert!(err.to_string().contains("study.json"), "{err}");
    assert!(!out.exists(), "a refused resume wrote {}", out.display());
    // Inputs are checked when they are made: a missing image folder is named.
    let missing = tmp.path().join("no-images");
    let err = StudyInputs::new(Some(missing), inputs.data.clone()).unwrap_err();
    assert!(err.to_string().contains("no-images"), "{err}");
}
