//! What a training run writes as it goes, besides its checkpoint: every epoch's first layer
//! as `conv1_epoch_NNN.npy` (filters, channels, k, k) with a JSON sidecar and a montage PNG,
//! its biases as `conv1_bias_epoch_NNN.npy` (filters,), `metrics.csv` with one [`EpochMetrics`] row per epoch, and at the end `run.json`.

use super::checkpoint;
use super::data::{Datasets, Standardiser};
use super::input_whitening::WhiteningTransform;
use super::net::{NetSpec, Network};
use super::params::TrainRecord;
use crate::error::Result;
use crate::io::sidecar::{self, Provenance};
use crate::io::{atomic, npy, table};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One row of `metrics.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    pub epoch: usize,
    #[serde(deserialize_with = "nan_if_null")]
    pub seconds: f64,
    #[serde(deserialize_with = "nan_if_null_f32")]
    pub lr: f32,
    #[serde(deserialize_with = "nan_if_null")]
    pub train_loss: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub train_accuracy: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub test_loss: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub test_accuracy: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub conv1_zero_fraction: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub conv1_hoyer: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub conv1_kurtosis: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub conv1_orientedness: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub conv1_spread: f64,
}

/// JSON has no NaN (serde_json writes null); read null back as NaN.
fn nan_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

fn nan_if_null_f32<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<f32, D::Error> {
    Ok(Option::<f32>::deserialize(d)?.unwrap_or(f32::NAN))
}

const METRICS_HEADER: [&str; 12] = [
    "epoch",
    "seconds",
    "lr",
    "train_loss",
    "train_accuracy",
    "test_loss",
    "test_accuracy",
    "conv1_zero_fraction",
    "conv1_hoyer",
    "conv1_kurtosis",
    "conv1_orientedness",
    "conv1_spread",
];

const METRICS: &str = "metrics.csv";
const RUN_SIDECAR: &str = "run.json";

/// `conv1_epoch_NNN` in `run`, without extension.
pub fn epoch_stem(run: &Path, epoch: usize) -> PathBuf {
    run.join(format!("conv1_epoch_{epoch:03}"))
}

/// The first layer's biases logged at `epoch` in `run` (filters,): with the bank they
/// decide how many of conv1's outputs the ReLU zeroes.
pub fn epoch_bias(run: &Path, epoch: usize) -> PathBuf {
    run.join(format!("conv1_bias_epoch_{epoch:03}.npy"))
}

/// The first-layer bank logged at `epoch` in `run`.
pub fn epoch_bank(run: &Path, epoch: usize) -> PathBuf {
    epoch_stem(run, epoch).with_extension("npy")
}

/// Refuses, unless `force`, to start a run where a run of `epochs` epochs would overwrite
/// something; checked before any work.
pub fn check_outputs(run: &Path, epochs: usize, force: bool) -> Result<()> {
    for path in [
        run.join(METRICS),
        checkpoint::path(run),
        run.join(RUN_SIDECAR),
    ] {
        atomic::check_output(&path, force)?;
    }
    for e in 0..=epochs {
        atomic::check_output(&epoch_bank(run, e), force)?;
        atomic::check_output(&epoch_bias(run, e), force)?;
    }
    if force {
        remove_previous(run)?;
    }
    Ok(())
}

/// `--force` starts over: removes what an earlier run wrote in `run` (metrics, checkpoints,
/// run sidecar, and every `conv1_epoch_NNN.npy/.json/.png`, whatever its epoch count was),
/// so a shorter new run never sits beside an older run's later epochs. Other files stay.
fn remove_previous(run: &Path) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(run) else {
        return Ok(()); // no folder yet: nothing to remove
    };
    let mut ours: Vec<PathBuf> = [METRICS, RUN_SIDECAR, "checkpoint.bin", "checkpoint.json"]
        .iter()
        .map(|n| run.join(n))
        .collect();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let epoch_file = name
            .strip_prefix("conv1_epoch_")
            .and_then(|rest| rest.split_once('.'))
            .is_some_and(|(digits, ext)| {
                digits.len() >= 3
                    && digits.bytes().all(|b| b.is_ascii_digit())
                    && ["npy", "json", "png"].contains(&ext)
            });
        if epoch_file {
            ours.push(entry.path());
        }
    }
    atomic::remove_outputs(&ours)
}

/// An input of a run as its sidecars list it: a data file or folder (folders are not
/// hashed), or the bank the first layer was loaded from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunInput {
    pub path: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'static str>,
}

/// What `conv1_epoch_NNN.json` records besides the shared provenance fields.
#[derive(Serialize)]
struct EpochSidecar<'a> {
    array: ArrayInfo,
    epoch: usize,
    inputs: &'a [RunInput],
    config: &'a TrainRecord,
    metrics: &'a EpochMetrics,
    sha256: String,
}

/// The logged array's shape and meaning.
#[derive(Serialize)]
struct ArrayInfo {
    shape: Vec<usize>,
    layout: &'static str,
    layer: &'static str,
}

/// What `run.json` records besides the shared provenance fields.
#[derive(Serialize)]
struct RunSidecar<'a> {
    inputs: &'a [RunInput],
    config: &'a TrainRecord,
    network: &'a NetSpec,
    parameters: usize,
    standardisation: &'a Standardiser,
    input_whitening: Option<&'a WhiteningTransform>,
    train_images: usize,
    test_images: usize,
    test_held_out_from_training_files: bool,
    /// Present (true) when the "test" columns are a validation split of the training images.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    test_is_validation_split: bool,
    threads: usize,
    notes: &'static str,
    training_seconds_this_invocation: f64,
    metrics: &'a [EpochMetrics],
}

/// Writes a run's per-epoch files and its sidecar.
pub struct RunLog<'a> {
    run: &'a Path,
    config: &'a TrainRecord,
    /// The data files (and the conv1-init bank), hashed once for every sidecar of the run.
    inputs: Vec<RunInput>,
}

impl<'a> RunLog<'a> {
    /// Hashes the inputs once, for every sidecar of the run.
    pub fn new(run: &'a Path, config: &'a TrainRecord, data: &Datasets) -> Result<Self> {
        let mut inputs = Vec::new();
        for f in &data.files {
            let sha256 = if f.is_file() {
                Some(sidecar::sha256_file(f)?)
            } else {
                None
            };
            inputs.push(RunInput {
                path: f.clone(),
                sha256,
                role: None,
            });
        }
        if let Some(p) = &config.conv1_init {
            inputs.push(RunInput {
                path: p.clone(),
                sha256: Some(sidecar::sha256_file(p)?),
                role: Some("conv1-init"),
            });
        }
        Ok(Self {
            run,
            config,
            inputs,
        })
    }

    /// The first layer's bank, its sidecar (settings and the epoch's metrics) and montage.
    pub fn write_epoch(&self, net: &Network, metrics: &EpochMetrics) -> Result<()> {
        let l = net.spec.first_conv().expect("a conv layer");
        let (shape, bank) = net.conv_bank(l);
        let stem = epoch_stem(self.run, metrics.epoch);
        let npy_path = stem.with_extension("npy");
        npy::write(&npy_path, &shape, &bank, true)?;
        let bias = net.conv_bias(l);
        npy::write(
            &epoch_bias(self.run, metrics.epoch),
            &[bias.len()],
            bias,
            true,
        )?;
        let record = EpochSidecar {
            array: ArrayInfo {
                shape: shape.clone(),
                layout: "(filters, channels, k, k)",
                layer: "conv1",
            },
            epoch: metrics.epoch,
            inputs: &self.inputs,
            config: self.config,
            metrics,
            sha256: sidecar::sha256_file(&npy_path)?,
        };
        Provenance::new("cnn train", record).write(&sidecar::path_for(&npy_path), true)?;
        let view = crate::viz::montage::Bank::from_shape(&bank, &shape, &npy_path)?;
        let img =
            crate::viz::montage::render(&view, &crate::viz::montage::MontageOptions::default());
        crate::viz::montage::write_png(&img, &stem.with_extension("png"), true)
    }

    /// Rewrites `metrics.csv` with every row so far.
    pub fn write_metrics(&self, rows: &[EpochMetrics]) -> Result<()> {
        // A validation run says so in its column names, so that no reader takes its numbers
        // for test accuracy.
        let mut header = METRICS_HEADER;
        if self.config.data_options.validation.is_some() {
            header[5] = "validation_loss";
            header[6] = "validation_accuracy";
        }
        let mut t = table::Table::new(&header);
        for m in rows {
            t.push(vec![
                m.epoch.to_string(),
                format!("{:.3}", m.seconds),
                table::cell(m.lr as f64),
                table::cell(m.train_loss),
                table::cell(m.train_accuracy),
                table::cell(m.test_loss),
                table::cell(m.test_accuracy),
                table::cell(m.conv1_zero_fraction),
                table::cell(m.conv1_hoyer),
                table::cell(m.conv1_kurtosis),
                table::cell(m.conv1_orientedness),
                table::cell(m.conv1_spread),
            ]);
        }
        t.write(&self.run.join(METRICS), true)
    }

    /// Writes `run.json`: the settings, network, inputs, standardisation, data sizes,
    /// threads, this invocation's training time and every epoch's metrics.
    pub fn write_run_sidecar(
        &self,
        net: &Network,
        standardiser: &Standardiser,
        input_whitening: Option<&WhiteningTransform>,
        data: &Datasets,
        training_seconds: f64,
        rows: &[EpochMetrics],
    ) -> Result<()> {
        let record = RunSidecar {
            inputs: &self.inputs,
            config: self.config,
            network: &net.spec,
            parameters: net.parameter_count(),
            standardisation: standardiser,
            input_whitening,
            train_images: data.train.len(),
            test_images: data.test.len(),
            test_held_out_from_training_files: data.held_out,
            test_is_validation_split: data.validation,
            threads: rayon::current_num_threads(),
            notes: "train_loss is the mean data loss over the epoch's batches in training mode (without the L2 penalty, reported separately); weight_decay is an explicit L2 penalty (wd/2)||W||^2 on conv and linear weights",
            training_seconds_this_invocation: training_seconds,
            metrics: rows,
        };
        Provenance::new("cnn train", record).write(&self.run.join(RUN_SIDECAR), true)
    }
}
