//! The training loop: a checked [`TrainConfig`] -> a run folder with, every epoch,
//! `conv1_epoch_NNN.npy` (filters, channels, k, k) + JSON sidecar + montage PNG, a row of
//! `metrics.csv`, and `checkpoint.json` from which `--resume` continues to the same bytes.
//! Epoch 0 is the initial network, logged (and checkpointed) before any training. Ctrl-C
//! ([`crate::interrupt`]) stops between batches with [`Error::Interrupted`], leaving the last
//! completed epoch's checkpoint in place.

use super::data::{Augment, DataOptions, DataSource, Datasets, Standardiser, write_sample};
use super::engine::{Mode, Workspace, mix_seed};
use super::filters;
use super::init::{Init, adapt_bank, initialise, read_bank};
use super::loss::Loss;
use super::net::{LayerSpec, NetSpec, Network, ParamKind, ReferenceOptions, Shape};
use super::optim::{Optimizer, OptimizerConfig, Schedule, l2_penalty, learning_rate};
use crate::analysis::sparsity::{excess_kurtosis, hoyer};
use crate::error::{Error, Result};
use crate::io::{atomic, npy, sidecar, table};
use crate::observer::Progress;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Every knob of a training run, as recorded in the run sidecar and the checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub data: DataSource,
    pub data_options: DataOptions,
    pub arch: ReferenceOptions,
    pub init: Init,
    pub conv1_init: Option<PathBuf>,
    pub freeze_conv1: bool,
    pub loss: Loss,
    pub optimizer: OptimizerConfig,
    pub lr: f32,
    pub schedule: Schedule,
    pub lr_step: usize,
    pub lr_gamma: f32,
    pub epochs: usize,
    pub batch_size: usize,
    pub seed: u64,
    pub augment: Augment,
    /// Test images on which first-layer activation sparsity is measured.
    pub activation_sample: usize,
}

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

/// Everything needed to continue a run, or to evaluate and visualise its network.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Checkpoint {
    pub config: TrainConfig,
    pub epochs_done: usize,
    #[serde(with = "hex_floats")]
    pub params: Vec<Vec<f32>>,
    #[serde(with = "hex_floats")]
    pub running: Vec<Vec<f32>>,
    pub spec: NetSpec,
    pub optimizer_steps: u64,
    #[serde(with = "hex_floats")]
    pub optimizer_first: Vec<Vec<f32>>,
    #[serde(with = "hex_floats")]
    pub optimizer_second: Vec<Vec<f32>>,
    pub standardiser: Standardiser,
    pub metrics: Vec<EpochMetrics>,
}

/// Float arrays as hex of their little-endian bytes, so a checkpoint restores exact bits.
mod hex_floats {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[Vec<f32>], s: S) -> Result<S::Ok, S::Error> {
        let strings: Vec<String> = v
            .iter()
            .map(|a| {
                a.iter()
                    .flat_map(|x| x.to_le_bytes())
                    .map(|b| format!("{b:02x}"))
                    .collect()
            })
            .collect();
        s.collect_seq(strings)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<f32>>, D::Error> {
        let strings = Vec::<String>::deserialize(d)?;
        strings
            .iter()
            .map(|s| {
                if s.len() % 8 != 0 {
                    return Err(serde::de::Error::custom(
                        "float hex length is not a multiple of 8",
                    ));
                }
                let bytes: Result<Vec<u8>, _> = (0..s.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(s.get(i..i + 2).unwrap_or("zz"), 16))
                    .collect();
                let bytes = bytes.map_err(serde::de::Error::custom)?;
                Ok(bytes
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect())
            })
            .collect()
    }
}

impl Checkpoint {
    /// Reads `DIR/checkpoint.json` and rebuilds the network.
    pub fn read(run: &Path) -> Result<(Self, Network)> {
        let path = run.join("checkpoint.json");
        let value = sidecar::read(&path)?;
        let ck: Checkpoint = serde_json::from_value(value)
            .map_err(|e| Error::bad_input(&path, "checkpoint", "unreadable", e.to_string()))?;
        let mut net = Network::new(ck.spec.clone())
            .map_err(|e| Error::bad_input(&path, "spec", "invalid", e))?;
        let sizes_ok = net.params.len() == ck.params.len()
            && net
                .params
                .iter()
                .zip(&ck.params)
                .all(|(a, b)| a.len() == b.len())
            && net
                .running
                .iter()
                .zip(&ck.running)
                .all(|(a, b)| a.len() == b.len());
        if !sizes_ok {
            return Err(Error::bad_input(
                &path,
                "params",
                "sizes",
                "do not match the network spec",
            ));
        }
        net.params = ck.params.clone();
        net.running = ck.running.clone();
        Ok((ck, net))
    }
}

/// Masks of which parameter tensors train and which are weight-decayed.
pub fn masks(net: &Network, freeze_conv1: bool) -> (Vec<bool>, Vec<bool>) {
    let conv1 = net.spec.first_conv();
    let train = net
        .info
        .iter()
        .map(|i| !(freeze_conv1 && Some(i.layer) == conv1))
        .collect();
    let decay = net
        .info
        .iter()
        .map(|i| i.kind == ParamKind::Weight)
        .collect();
    (train, decay)
}

/// Builds and initialises the network for `config` on images of `input` shape.
pub fn build_network(config: &TrainConfig, input: Shape, classes: usize) -> Result<Network> {
    let mut arch = config.arch.clone();
    let bank = match &config.conv1_init {
        Some(path) => {
            let bank = read_bank(path)?;
            if bank.channels != 1 && bank.channels != input.channels && input.channels != 1 {
                return Err(Error::bad_input(
                    path,
                    "channels",
                    bank.channels,
                    format!("the input has {} channels", input.channels),
                ));
            }
            arch.conv1_filters = bank.filters;
            Some(bank)
        }
        None => None,
    };
    let spec = NetSpec::reference(input, classes, &arch);
    let mut net =
        Network::new(spec).map_err(|e| Error::usage("--conv1-kernel", arch.conv1_kernel, e))?;
    initialise(&mut net, config.init, mix_seed(config.seed, 0xC0, 0));
    if let Some(bank) = bank {
        let l = net.spec.first_conv().expect("reference net has a conv");
        let values = adapt_bank(&bank, input.channels, arch.conv1_kernel);
        net.set_conv_bank(l, &values);
    }
    Ok(net)
}

/// Loss and accuracy of `net` on `images` in evaluation mode, batch by batch.
pub fn evaluate(
    net: &Network,
    ws: &mut Workspace,
    images: &crate::io::labelled::LabelledImages,
    stdz: &Standardiser,
    loss: Loss,
    batch: usize,
) -> (f64, f64) {
    let mut sums = super::loss::LossSums::default();
    let layers = net.spec.layers.len();
    for start in (0..images.len()).step_by(batch) {
        let n = batch.min(images.len() - start);
        ws.prepare(net, n);
        ws.fill_inputs(net, |i, dst| {
            write_sample(images, start + i, stdz, None, dst)
        });
        ws.forward(net, Mode::Eval, 0, layers);
        sums.add(ws.loss(net, loss, &images.labels[start..start + n], false));
    }
    let n = images.len().max(1) as f64;
    (sums.loss / n, sums.correct as f64 / n)
}

/// First-layer activation statistics on the first `count` test images: fraction of zeros
/// after the ReLU, mean per-image Hoyer sparsity of the ReLU output, excess kurtosis of all
/// pre-activations (the ReLU's input: conv1's output, after batch norm if present).
fn conv1_activity(
    net: &Network,
    ws: &mut Workspace,
    images: &crate::io::labelled::LabelledImages,
    stdz: &Standardiser,
    count: usize,
) -> (f64, f64, f64) {
    let relu = match net
        .spec
        .layers
        .iter()
        .position(|l| matches!(l, LayerSpec::Relu))
    {
        Some(r) => r,
        None => return (f64::NAN, f64::NAN, f64::NAN),
    };
    let n = count.min(images.len());
    ws.prepare(net, n);
    ws.fill_inputs(net, |i, dst| write_sample(images, i, stdz, None, dst));
    ws.forward(net, Mode::Eval, 0, relu + 1);
    let mut pre = Vec::new();
    ws.read(net, relu, |_, v| pre.extend_from_slice(v));
    let zeros = pre.iter().filter(|&&v| v <= 0.0).count() as f64 / pre.len().max(1) as f64;
    let mut hoyers = Vec::new();
    ws.read(net, relu + 1, |_, v| {
        let h = hoyer(v);
        if h.is_finite() {
            hoyers.push(h);
        }
    });
    let mean_hoyer = if hoyers.is_empty() {
        f64::NAN
    } else {
        hoyers.iter().sum::<f64>() / hoyers.len() as f64
    };
    (zeros, mean_hoyer, excess_kurtosis(&pre))
}

fn epoch_stem(run: &Path, epoch: usize) -> PathBuf {
    run.join(format!("conv1_epoch_{epoch:03}"))
}

/// Outputs a fresh run would write, checked before any work.
pub fn check_outputs(run: &Path, epochs: usize, force: bool) -> Result<()> {
    for name in ["metrics.csv", "checkpoint.json", "run.json"] {
        atomic::check_output(&run.join(name), force)?;
    }
    for e in 0..=epochs {
        atomic::check_output(&epoch_stem(run, e).with_extension("npy"), force)?;
    }
    Ok(())
}

struct Logger<'a> {
    run: &'a Path,
    config: &'a TrainConfig,
    inputs: serde_json::Value,
}

impl Logger<'_> {
    fn write_epoch(&self, net: &Network, metrics: &EpochMetrics) -> Result<()> {
        let l = net.spec.first_conv().expect("a conv layer");
        let (shape, bank) = net.conv_bank(l);
        let stem = epoch_stem(self.run, metrics.epoch);
        let npy_path = stem.with_extension("npy");
        npy::write(&npy_path, &shape, &bank, true)?;
        let mut side = sidecar::base("cnn train");
        side.insert(
            "array".into(),
            json!({"shape": shape, "layout": "(filters, channels, k, k)", "layer": "conv1"}),
        );
        side.insert("epoch".into(), json!(metrics.epoch));
        side.insert("inputs".into(), self.inputs.clone());
        side.insert("config".into(), json!(self.config));
        side.insert("metrics".into(), json!(metrics));
        side.insert("sha256".into(), json!(sidecar::sha256_file(&npy_path)?));
        sidecar::write(
            &sidecar::path_for(&npy_path),
            &serde_json::Value::Object(side),
            true,
        )?;
        let view = crate::viz::montage::Bank::from_shape(&bank, &shape, &npy_path)?;
        let img =
            crate::viz::montage::render(&view, &crate::viz::montage::MontageOptions::default());
        crate::viz::montage::write_png(&img, &stem.with_extension("png"), true)
    }

    fn write_metrics(&self, rows: &[EpochMetrics]) -> Result<()> {
        let mut t = table::Table::new(&METRICS_HEADER);
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
        t.write(&self.run.join("metrics.csv"), true)
    }
}

/// Writes `checkpoint.json` for the state after `epochs_done` epochs.
fn save_checkpoint(
    run: &Path,
    config: &TrainConfig,
    net: &Network,
    opt: &Optimizer,
    stdz: &Standardiser,
    rows: &[EpochMetrics],
    epochs_done: usize,
) -> Result<()> {
    let ck = Checkpoint {
        config: config.clone(),
        epochs_done,
        params: net.params.clone(),
        running: net.running.clone(),
        spec: net.spec.clone(),
        optimizer_steps: opt.steps,
        optimizer_first: opt.first.clone(),
        optimizer_second: opt.second.clone(),
        standardiser: stdz.clone(),
        metrics: rows.to_vec(),
    };
    sidecar::write(&run.join("checkpoint.json"), &json!(ck), true)
}

/// What a finished run reports.
#[derive(Debug, Clone)]
pub struct TrainSummary {
    pub metrics: Vec<EpochMetrics>,
    pub parameters: usize,
}

/// Trains per `config`, writing into `run` (which the caller has checked or is resuming).
pub fn train(
    config: &TrainConfig,
    data: &Datasets,
    run: &Path,
    resume: bool,
    progress: &dyn Progress,
) -> Result<TrainSummary> {
    atomic::ensure_dir(run)?;
    let input = Shape {
        height: data.train.height,
        width: data.train.width,
        channels: data.train.channels,
    };
    let classes = data.train.class_names.len();
    let (mut net, mut opt, stdz, mut rows, start_epoch) = if resume {
        let (ck, net) = Checkpoint::read(run)?;
        let mut saved = ck.config.clone();
        saved.epochs = config.epochs;
        if &saved != config {
            return Err(Error::usage(
                "--resume",
                run.display(),
                "the run was started with different settings (only --epochs may change); see its run.json",
            ));
        }
        let mut opt = Optimizer::new(
            config.optimizer,
            &net.params.iter().map(Vec::len).collect::<Vec<_>>(),
        );
        opt.first = ck.optimizer_first;
        opt.second = ck.optimizer_second;
        opt.steps = ck.optimizer_steps;
        (net, opt, ck.standardiser, ck.metrics, ck.epochs_done + 1)
    } else {
        let net = build_network(config, input, classes)?;
        let opt = Optimizer::new(
            config.optimizer,
            &net.params.iter().map(Vec::len).collect::<Vec<_>>(),
        );
        (net, opt, Standardiser::fit(&data.train), Vec::new(), 0)
    };
    if net.shapes[0] != input || net.spec.outputs() != classes {
        return Err(Error::usage(
            "--data",
            &config.data,
            "the images or classes differ from the network's",
        ));
    }
    let (train_mask, decay_mask) = masks(&net, config.freeze_conv1);
    let mut inputs = Vec::new();
    for f in &data.files {
        if f.is_file() {
            inputs.push(json!({"path": f, "sha256": sidecar::sha256_file(f)?}));
        } else {
            inputs.push(json!({"path": f}));
        }
    }
    if let Some(p) = &config.conv1_init {
        inputs.push(json!({"path": p, "sha256": sidecar::sha256_file(p)?, "role": "conv1-init"}));
    }
    let logger = Logger {
        run,
        config,
        inputs: json!(inputs),
    };
    let mut run_side = sidecar::base("cnn train");
    run_side.insert("inputs".into(), logger.inputs.clone());
    run_side.insert("config".into(), json!(config));
    run_side.insert("network".into(), json!(net.spec));
    run_side.insert("parameters".into(), json!(net.parameter_count()));
    run_side.insert("standardisation".into(), json!(stdz));
    run_side.insert("train_images".into(), json!(data.train.len()));
    run_side.insert("test_images".into(), json!(data.test.len()));
    run_side.insert(
        "test_held_out_from_training_files".into(),
        json!(data.held_out),
    );
    run_side.insert("threads".into(), json!(rayon::current_num_threads()));
    run_side.insert(
        "notes".into(),
        json!("train_loss is the mean data loss over the epoch's batches in training mode (without the L2 penalty, reported separately); weight_decay is an explicit L2 penalty (wd/2)||W||^2 on conv and linear weights"),
    );
    let mut ws = Workspace::new();
    let conv1 = net.spec.first_conv().expect("a conv layer");
    let k = config.arch.conv1_kernel;
    let measure = |net: &Network,
                   ws: &mut Workspace,
                   epoch: usize,
                   seconds: f64,
                   lr: f32,
                   train: (f64, f64)| {
        let (test_loss, test_acc) = evaluate(net, ws, &data.test, &stdz, config.loss, 256);
        let (zeros, hoy, kurt) =
            conv1_activity(net, ws, &data.test, &stdz, config.activation_sample);
        let (_, bank) = net.conv_bank(conv1);
        EpochMetrics {
            epoch,
            seconds,
            lr,
            train_loss: train.0,
            train_accuracy: train.1,
            test_loss,
            test_accuracy: test_acc,
            conv1_zero_fraction: zeros,
            conv1_hoyer: hoy,
            conv1_kurtosis: kurt,
            conv1_orientedness: filters::bank_mean(&bank, input.channels, k, filters::orientedness),
            conv1_spread: filters::bank_mean(&bank, input.channels, k, filters::spread),
        }
    };
    if start_epoch == 0 {
        let m = measure(&net, &mut ws, 0, 0.0, f32::NAN, (f64::NAN, f64::NAN));
        logger.write_epoch(&net, &m)?;
        rows.push(m);
        logger.write_metrics(&rows)?;
        // Written before training so that an interrupt in the first epoch can resume too.
        save_checkpoint(run, config, &net, &opt, &stdz, &rows, 0)?;
    }
    let layers = net.spec.layers.len();
    let n_train = data.train.len();
    let batches = n_train.div_ceil(config.batch_size);
    let mut grads: Vec<Vec<f32>> = net.params.iter().map(|p| vec![0.0; p.len()]).collect();
    let mut labels = Vec::with_capacity(config.batch_size);
    let mut total_seconds = 0.0;
    for epoch in start_epoch.max(1)..=config.epochs {
        let started = Instant::now();
        let lr = learning_rate(
            config.lr,
            config.schedule,
            epoch - 1,
            config.epochs,
            config.lr_step,
            config.lr_gamma,
        );
        let mut order: Vec<usize> = (0..n_train).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(mix_seed(
            config.seed,
            0x5A,
            epoch as u64,
        )));
        progress.start(
            &format!("epoch {epoch}/{}", config.epochs),
            Some(batches as u64),
        );
        let (mut loss_sum, mut correct) = (0.0, 0usize);
        let augment =
            (config.augment.crop_pad > 0 || config.augment.flip).then_some(config.augment);
        for b in 0..batches {
            if crate::interrupt::requested() {
                // The checkpoint on disk is the last completed epoch's; resuming redoes
                // this epoch from it and reaches the same bytes as an uninterrupted run.
                progress.finish(&format!("interrupted in epoch {epoch}"));
                return Err(Error::Interrupted {
                    resume: format!(
                        "the same options plus --resume (continues {} from epoch {})",
                        run.display(),
                        epoch - 1
                    ),
                });
            }
            let idx = &order[b * config.batch_size..((b + 1) * config.batch_size).min(n_train)];
            ws.prepare(&net, idx.len());
            labels.clear();
            labels.extend(idx.iter().map(|&i| data.train.labels[i]));
            let base = (b * config.batch_size) as u64;
            ws.fill_inputs(&net, |i, dst| {
                let aug = augment.map(|a| (a, config.seed, epoch as u64, base + i as u64));
                write_sample(&data.train, idx[i], &stdz, aug, dst)
            });
            ws.forward(
                &net,
                Mode::Train,
                mix_seed(config.seed, epoch as u64, b as u64),
                layers,
            );
            let sums = ws.loss(&net, config.loss, &labels, true);
            if !sums.loss.is_finite() {
                return Err(Error::failed(
                    "training",
                    format!(
                        "the loss became {} at epoch {epoch}, batch {b}; lower --lr",
                        sums.loss
                    ),
                ));
            }
            ws.backward(&net, layers, &train_mask, false);
            ws.reduce_grads(&train_mask, &mut grads);
            ws.update_running_stats(&mut net);
            opt.step(&mut net.params, &mut grads, &train_mask, &decay_mask, lr);
            loss_sum += sums.loss;
            correct += sums.correct;
            progress.advance(
                (b + 1) as u64,
                &format!(
                    "loss {:.4}",
                    loss_sum / ((b + 1) * config.batch_size).min(n_train) as f64
                ),
            );
        }
        let seconds = started.elapsed().as_secs_f64();
        total_seconds += seconds;
        let train = (loss_sum / n_train as f64, correct as f64 / n_train as f64);
        let m = measure(&net, &mut ws, epoch, seconds, lr, train);
        progress.finish(&format!(
            "epoch {epoch}: {seconds:.1} s, train loss {:.4} acc {:.4}, test loss {:.4} acc {:.4}, L2 penalty {:.4}",
            m.train_loss,
            m.train_accuracy,
            m.test_loss,
            m.test_accuracy,
            l2_penalty(&net.params, &decay_mask, config.optimizer.weight_decay)
        ));
        logger.write_epoch(&net, &m)?;
        rows.push(m);
        logger.write_metrics(&rows)?;
        save_checkpoint(run, config, &net, &opt, &stdz, &rows, epoch)?;
    }
    run_side.insert(
        "training_seconds_this_invocation".into(),
        json!(total_seconds),
    );
    run_side.insert("metrics".into(), json!(rows));
    sidecar::write(
        &run.join("run.json"),
        &serde_json::Value::Object(run_side),
        true,
    )?;
    Ok(TrainSummary {
        metrics: rows,
        parameters: net.parameter_count(),
    })
}
