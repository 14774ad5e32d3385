//! The files a `features` run writes into its folder, each atomically:
//!
//! | file | contents |
//! |---|---|
//! | `features.json` | every setting, the inputs with their SHA-256, timings per stage, encoder GEMM throughput, the lambda search, accuracies, peak memory |
//! | `accuracy.csv` | `split,class,accuracy,correct,count`: train, validation and test, overall (`class` = `all`) and per class |
//! | `learning_curve.csv` | test accuracy against the number of labelled training images |
//! | `regularisation.csv` | every candidate lambda: held-out and training accuracy, L-BFGS iterations |
//! | `dictionary.npy`, `dictionary.png` | the bank (atoms, channels * size * size) as the encoder used it, and its montage |
//! | `zca.npy`, `zca_mean.npy` | the whitening `x -> (x - mean) W` of normalised windows |
//! | `classifier_weights.npy`, `classifier_bias.npy` | (classes, features) and (classes,) |
//! | `feature_standardisation.npy` | (2, features): the mean and the standard deviation applied to pooled features |

use super::classifier::FitReport;
use super::encode::EncodeStats;
use super::params::ValidFeaturesParams;
use super::pipeline::{CurvePoint, FeaturesRun, SelectionRow};
use crate::error::Result;
use crate::io::sidecar::{InputFile, Provenance};
use crate::io::table::{Table, cell};
use crate::io::{atomic, npy};
use crate::viz::montage::{Bank, MontageOptions, render, write_png};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Every file [`write`] creates, so a caller can refuse to overwrite before any work.
pub const OUTPUT_FILES: &[&str] = &[
    "features.json",
    "accuracy.csv",
    "learning_curve.csv",
    "regularisation.csv",
    "dictionary.npy",
    "dictionary.png",
    "zca.npy",
    "zca_mean.npy",
    "classifier_weights.npy",
    "classifier_bias.npy",
    "feature_standardisation.npy",
];

/// Fails if any output exists in `dir` and `force` is off.
pub fn check_outputs(dir: &Path, force: bool) -> Result<()> {
    for name in OUTPUT_FILES {
        atomic::check_output(&dir.join(name), force)?;
    }
    Ok(())
}

/// Writes every output of `run` into `dir` (created if needed). `inputs` is recorded in
/// `features.json` (data source, files and hashes, the bank file).
pub fn write(run: &FeaturesRun, dir: &Path, force: bool, inputs: &FeaturesInputs) -> Result<()> {
    atomic::ensure_dir(dir)?;
    let p = &run.params;
    let (dim, k) = (run.bank.nrows(), run.bank.ncols());
    npy::write(
        &dir.join("dictionary.npy"),
        &[k, dim],
        run.bank.as_slice(),
        force,
    )?;
    let montage = Bank::new(run.bank.as_slice(), k, run.channels, p.patch_size);
    let img = render(&montage, &MontageOptions::default());
    write_png(&img, &dir.join("dictionary.png"), force)?;
    let w = &run.whitening;
    npy::write(&dir.join("zca.npy"), &[w.dim, w.dim], &w.matrix, force)?;
    npy::write(&dir.join("zca_mean.npy"), &[w.dim], &w.mean, force)?;
    let m = &run.model;
    let mut transposed = vec![0f32; m.weights.len()];
    for j in 0..m.features {
        for c in 0..m.classes {
            transposed[c * m.features + j] = m.weights[j * m.classes + c];
        }
    }
    npy::write(
        &dir.join("classifier_weights.npy"),
        &[m.classes, m.features],
        &transposed,
        force,
    )?;
    npy::write(
        &dir.join("classifier_bias.npy"),
        &[m.classes],
        &m.bias,
        force,
    )?;
    let stats: Vec<f32> = run
        .feature_mean
        .iter()
        .chain(&run.feature_std)
        .copied()
        .collect();
    npy::write(
        &dir.join("feature_standardisation.npy"),
        &[2, run.feature_len],
        &stats,
        force,
    )?;

    let mut acc = Table::new(&["split", "class", "accuracy", "correct", "count"]);
    for (split, a) in [
        ("train", &run.train),
        ("validation", &run.validation),
        ("test", &run.test),
    ] {
        acc.push(vec![
            split.into(),
            "all".into(),
            cell(a.value()),
            a.correct.to_string(),
            a.count.to_string(),
        ]);
        for (c, name) in run.class_names.iter().enumerate() {
            acc.push(vec![
                split.into(),
                name.clone(),
                cell(a.class_value(c)),
                a.per_class_correct[c].to_string(),
                a.per_class_count[c].to_string(),
            ]);
        }
    }
    acc.write(&dir.join("accuracy.csv"), force)?;

    let mut curve = Table::new(&[
        "train_size",
        "lambda",
        "validation_accuracy",
        "train_accuracy",
        "test_accuracy",
        "iterations",
        "converged",
    ]);
    for c in &run.learning_curve {
        curve.push(vec![
            c.size.to_string(),
            cell(c.lambda),
            cell(c.validation_accuracy),
            cell(c.train_accuracy),
            cell(c.test.value()),
            c.fit.iterations.to_string(),
            c.fit.converged.to_string(),
        ]);
    }
    curve.write(&dir.join("learning_curve.csv"), force)?;

    let mut reg = Table::new(&[
        "lambda",
        "train_accuracy",
        "validation_accuracy",
        "iterations",
        "converged",
        "objective",
        "chosen",
    ]);
    for r in &run.selection {
        reg.push(vec![
            cell(r.lambda),
            cell(r.train_accuracy),
            cell(r.validation_accuracy),
            r.fit.iterations.to_string(),
            r.fit.converged.to_string(),
            cell(r.fit.objective),
            (r.lambda == run.chosen_lambda).to_string(),
        ]);
    }
    reg.write(&dir.join("regularisation.csv"), force)?;

    let e = &run.encode_train;
    let record = FeaturesRecord {
        inputs,
        parameters: &run.params,
        threads: rayon::current_num_threads(),
        timings_seconds: Timings {
            stages: run.timings.iter().cloned().collect(),
            total: run.timings.iter().map(|t| t.1).sum(),
        },
        encoder: EncoderRecord {
            feature_len: run.feature_len,
            windows_per_image: e.windows / e.images.max(1),
            train: e,
            test: &run.encode_test,
            gemm_gflops_per_thread_train: e.gemm_flops / e.gemm_thread_seconds.max(1e-12) * 1e-9,
            gemm_share_of_train_encoding: e.gemm_thread_seconds
                / (e.seconds * rayon::current_num_threads() as f64).max(1e-12),
        },
        whitening: WhiteningRecord {
            epsilon: w.epsilon,
            eigenvalues: &w.eigenvalues,
        },
        dictionary: DictionaryRecord {
            name: &run.bank_name,
            atoms: k,
            values_per_atom: dim,
            report: &run.dictionary_report,
        },
        classifier: ClassifierRecord {
            validation_images: run.validation_images,
            selection: &run.selection,
            chosen_lambda: run.chosen_lambda,
            final_fit: &run.final_fit,
        },
        accuracy: AccuracyRecord {
            train: run.train.value(),
            validation: run.validation.value(),
            test: run.test.value(),
        },
        learning_curve: &run.learning_curve,
        data: DataRecord {
            train_images: run.train_images,
            test_images: run.test_images,
            image_side: run.image_side,
            channels: run.channels,
            classes: &run.class_names,
        },
        peak_resident_bytes: super::pipeline::peak_resident_bytes().or(run.peak_resident_bytes),
    };
    Provenance::new("features", record).write(&dir.join("features.json"), force)
}

/// What a run read, as `features.json` records it.
#[derive(Debug, Clone, Serialize)]
pub struct FeaturesInputs {
    /// The data source as given (`cifar10:DIR`).
    pub data: String,
    /// Every data file read, with its SHA-256.
    pub files: Vec<InputFile>,
    pub train_limit: Option<usize>,
    pub test_limit: Option<usize>,
    pub grayscale: bool,
    /// True when the source had no test split and one was held out of the training files.
    pub test_held_out_of_training_files: bool,
    /// The bank file of a given dictionary.
    pub bank_file: Option<InputFile>,
}

/// `features.json` after the shared provenance header.
#[derive(Serialize)]
struct FeaturesRecord<'a> {
    inputs: &'a FeaturesInputs,
    parameters: &'a ValidFeaturesParams,
    threads: usize,
    timings_seconds: Timings,
    encoder: EncoderRecord<'a>,
    whitening: WhiteningRecord<'a>,
    dictionary: DictionaryRecord<'a>,
    classifier: ClassifierRecord<'a>,
    accuracy: AccuracyRecord,
    learning_curve: &'a [CurvePoint],
    data: DataRecord<'a>,
    peak_resident_bytes: Option<u64>,
}

#[derive(Serialize)]
struct Timings {
    /// Wall-clock seconds per stage (a map: the JSON keys are sorted).
    stages: BTreeMap<String, f64>,
    total: f64,
}

#[derive(Serialize)]
struct EncoderRecord<'a> {
    feature_len: usize,
    windows_per_image: usize,
    train: &'a EncodeStats,
    test: &'a EncodeStats,
    /// GEMM flops over the seconds threads spent inside the GEMM: the per-thread rate.
    gemm_gflops_per_thread_train: f64,
    /// The share of the threads' encoding time spent in the GEMM.
    gemm_share_of_train_encoding: f64,
}

#[derive(Serialize)]
struct WhiteningRecord<'a> {
    epsilon: f64,
    eigenvalues: &'a [f64],
}

#[derive(Serialize)]
struct DictionaryRecord<'a> {
    name: &'a str,
    atoms: usize,
    values_per_atom: usize,
    report: &'a serde_json::Value,
}

#[derive(Serialize)]
struct ClassifierRecord<'a> {
    validation_images: usize,
    selection: &'a [SelectionRow],
    chosen_lambda: f64,
    final_fit: &'a FitReport,
}

#[derive(Serialize)]
struct AccuracyRecord {
    train: f64,
    validation: f64,
    test: f64,
}

#[derive(Serialize)]
struct DataRecord<'a> {
    train_images: usize,
    test_images: usize,
    image_side: usize,
    channels: usize,
    classes: &'a [String],
}
