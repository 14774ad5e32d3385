//! The training loop: checked settings and a run folder in, and in the folder every epoch's
//! logged first layer and metrics row ([`super::log`]) and a checkpoint from which a resumed
//! run continues to the same bytes. Epoch 0 is the initial network, logged (and
//! checkpointed) before any training. An interrupt ([`crate::interrupt`]) is honoured
//! between batches with [`Error::Interrupted`], leaving the last completed epoch's checkpoint
//! in place.
//!
//! [`train_run`] is the whole job in one call (folder checks, data, training); [`train`]
//! trains on data already loaded, for callers that run several networks on the same images.

use super::checkpoint::{self, Checkpoint};
use super::data::{self, DataSource, Datasets, NetworkInputs, Standardiser};
use super::engine::{Mode, Workspace, mix_seed};
use super::init::{adapt_bank, initialise, read_bank};
use super::input_whitening::{self, WhiteningTransform};
use super::log::{EpochMetrics, RunLog, check_outputs};
use super::measure::{EpochTraining, epoch_metrics};
use super::net::{NetSpec, Network, ParamKind, Shape};
use super::optim::{Optimizer, l2_penalty, learning_rate};
use super::params::{TrainRecord, ValidTrainParams};
use crate::error::{Error, Result};
use crate::io::atomic;
use crate::observer::Progress;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use std::path::Path;
use std::time::Instant;

/// How a run folder is entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// A new run; `overwrite` replaces an earlier run's files instead of refusing.
    Fresh { overwrite: bool },
    /// Continue from the folder's checkpoint, with the same settings (the epoch count may
    /// change).
    Resume,
}

/// What a finished run reports.
#[derive(Debug, Clone)]
pub struct TrainSummary {
    /// Every epoch's row, from epoch 0.
    pub metrics: Vec<EpochMetrics>,
    pub parameters: usize,
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

/// Builds and initialises the network for `params` on images of `input` shape.
pub fn build_network(params: &ValidTrainParams, input: Shape, classes: usize) -> Result<Network> {
    let mut arch = params.arch();
    let bank = match &params.conv1_init {
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
            arch.conv1_filters = bank.count;
            Some(bank)
        }
        None => None,
    };
    let spec = NetSpec::reference(input, classes, &arch);
    let mut net =
        Network::new(spec).map_err(|e| Error::param("conv1_kernel", arch.conv1_kernel, &e))?;
    initialise(&mut net, params.init, mix_seed(params.seed, 0xC0, 0));
    if let Some(bank) = bank {
        let l = net.spec.first_conv().expect("reference net has a conv");
        let values = adapt_bank(&bank, input.channels, arch.conv1_kernel);
        net.set_conv_bank(l, &values);
    }
    if params.conv1_init_scale != 1.0 {
        let l = net.spec.first_conv().expect("reference net has a conv");
        let (_, mut bank) = net.conv_bank(l);
        bank.iter_mut().for_each(|v| *v *= params.conv1_init_scale);
        net.set_conv_bank(l, &bank);
    }
    if params.zero_init_head {
        let head = net.spec.layers.len() - 1;
        if let Some(first) = net.first_param[head] {
            // The head is a linear layer: its weight tensor, then its bias.
            for tensor in &mut net.params[first..first + 2] {
                tensor.fill(0.0);
            }
        }
    }
    Ok(net)
}

/// `labels` permuted by a generator seeded from `seed`: the random-labels control keeps
/// each class's count but breaks every link between an image and its label.
pub fn shuffled_labels(labels: &[u16], seed: u64) -> Vec<u16> {
    let mut out = labels.to_vec();
    out.shuffle(&mut ChaCha8Rng::seed_from_u64(mix_seed(seed, 0x1AB, 0)));
    out
}

/// Trains per `params` on the images of `source` into the folder `run`: refuses to
/// overwrite (unless told to) or to resume without a checkpoint before reading any data,
/// then loads the data, reports what it loaded through `progress`, and trains.
pub fn train_run(
    source: &DataSource,
    params: &ValidTrainParams,
    run: &Path,
    start: Start,
    progress: &dyn Progress,
) -> Result<TrainSummary> {
    match start {
        Start::Resume if !checkpoint::exists(run) => {
            return Err(Error::param(
                "resume",
                run.display(),
                format!("the folder has no {}", checkpoint::FILE),
            ));
        }
        Start::Resume => {}
        Start::Fresh { overwrite } => check_outputs(run, params.epochs, overwrite)?,
    }
    let data = data::load(source, &params.data_options())?;
    progress.note(&format!(
        "{}: {} training and {} {} images of {}x{}x{}, {} classes{}",
        source,
        data.train.len(),
        data.test.len(),
        if data.validation {
            "validation"
        } else {
            "test"
        },
        data.train.height,
        data.train.width,
        data.train.channels,
        data.train.class_names.len(),
        if data.held_out {
            " (test held out from the training files)"
        } else {
            ""
        }
    ));
    train(source, params, &data, run, start == Start::Resume, progress)
}

/// The network, optimiser, standardisation and metrics a run continues from, and its
/// first epoch to train (1 for a fresh run, whose epoch 0 is still to be logged).
struct RunState {
    net: Network,
    opt: Optimizer,
    stdz: Standardiser,
    /// The stored input whitening of a resumed run (a fresh one fits its own).
    whitening: Option<WhiteningTransform>,
    rows: Vec<EpochMetrics>,
    start_epoch: usize,
}

fn fresh_state(params: &ValidTrainParams, data: &Datasets, input: Shape) -> Result<RunState> {
    let net = build_network(params, input, data.train.class_names.len())?;
    let opt = Optimizer::new(
        params.optimizer_config(),
        &net.params.iter().map(Vec::len).collect::<Vec<_>>(),
    );
    Ok(RunState {
        net,
        opt,
        stdz: Standardiser::fit(&data.train),
        whitening: None,
        rows: Vec::new(),
        start_epoch: 0,
    })
}

fn resumed_state(record: &TrainRecord, run: &Path) -> Result<RunState> {
    let (ck, net) = Checkpoint::read(run)?;
    let saved = TrainRecord {
        epochs: record.epochs,
        ..ck.config.clone()
    };
    if saved != *record {
        // Name the first setting that differs, with both values, so the user can fix the
        // command rather than diff two JSON files.
        let then = serde_json::to_value(&saved).unwrap_or_default();
        let now = serde_json::to_value(record).unwrap_or_default();
        let which = crate::io::sidecar::first_difference(&then, &now)
            .map(|(field, was, is)| format!("`{field}` was {was} and is now {is}"))
            .unwrap_or_else(|| "its saved settings differ".into());
        return Err(Error::param(
            "resume",
            run.display(),
            format!(
                "the run was started with other settings: {which} (only `epochs` may change); \
                 see its run.json"
            ),
        ));
    }
    let opt = ck.optimizer(&net);
    Ok(RunState {
        net,
        opt,
        stdz: ck.standardiser,
        whitening: ck.input_whitening,
        rows: ck.metrics,
        start_epoch: ck.epochs_done + 1,
    })
}

/// Trains per `params` on `data` (loaded from `source`), writing into `run` (which the
/// caller has checked, or is resuming from).
pub fn train(
    source: &DataSource,
    params: &ValidTrainParams,
    data: &Datasets,
    run: &Path,
    resume: bool,
    progress: &dyn Progress,
) -> Result<TrainSummary> {
    atomic::ensure_dir(run)?;
    let record = TrainRecord::new(source, params);
    let input = Shape {
        height: data.train.height,
        width: data.train.width,
        channels: data.train.channels,
    };
    let classes = data.train.class_names.len();
    let RunState {
        mut net,
        mut opt,
        stdz,
        whitening: stored_whitening,
        mut rows,
        start_epoch,
    } = if resume {
        resumed_state(&record, run)?
    } else {
        fresh_state(params, data, input)?
    };
    // A fresh run fits the whitening on its training images; a resumed one reuses the
    // stored transform, so its inputs are the same bits as before the interruption.
    let (whitening, train_inputs) = match stored_whitening {
        Some(t) if t.kind() == params.input_whitening => {
            let inputs = NetworkInputs::new(&data.train, &stdz, Some(&t));
            (Some(t), inputs)
        }
        _ => match input_whitening::fit(
            params.input_whitening,
            &data.train,
            &stdz,
            params.conv1_kernel,
        ) {
            Some((t, values)) => (
                Some(t),
                NetworkInputs::prewhitened(&data.train, &stdz, values),
            ),
            None => (None, NetworkInputs::new(&data.train, &stdz, None)),
        },
    };
    let test_inputs = NetworkInputs::new(&data.test, &stdz, whitening.as_ref());
    let train_labels = if params.random_labels {
        shuffled_labels(&data.train.labels, params.seed)
    } else {
        data.train.labels.clone()
    };
    if net.shapes[0] != input || net.spec.outputs() != classes {
        return Err(Error::param(
            "data",
            source,
            "the images or classes differ from the network's",
        ));
    }
    let (train_mask, decay_mask) = masks(&net, params.freeze_conv1);
    let log = RunLog::new(run, &record, data)?;
    let mut ws = Workspace::new();
    let measure = |net: &Network, ws: &mut Workspace, training: EpochTraining| {
        let sample = params.activation_sample;
        epoch_metrics(net, ws, &test_inputs, params.loss, sample, training)
    };
    if start_epoch == 0 {
        let m = measure(&net, &mut ws, EpochTraining::initial());
        log.write_epoch(&net, &m)?;
        rows.push(m);
        log.write_metrics(&rows)?;
        // Written before training so that an interrupt in the first epoch can resume too.
        Checkpoint::capture(&record, &net, &opt, &stdz, whitening.as_ref(), &rows, 0).write(run)?;
    }
    let layers = net.spec.layers.len();
    let n_train = data.train.len();
    let batches = n_train.div_ceil(params.batch_size);
    let mut grads: Vec<Vec<f32>> = net.params.iter().map(|p| vec![0.0; p.len()]).collect();
    let mut labels = Vec::with_capacity(params.batch_size);
    let mut total_seconds = 0.0;
    for epoch in start_epoch.max(1)..=params.epochs {
        let started = Instant::now();
        let lr = learning_rate(
            params.lr,
            params.schedule,
            epoch - 1,
            params.epochs,
            params.lr_step,
            params.lr_gamma,
        );
        let mut order: Vec<usize> = (0..n_train).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(mix_seed(
            params.seed,
            0x5A,
            epoch as u64,
        )));
        progress.start(
            &format!("epoch {epoch}/{}", params.epochs),
            Some(batches as u64),
        );
        let (mut loss_sum, mut correct) = (0.0, 0usize);
        let augment = (params.crop_pad > 0 || params.flip).then_some(params.augment());
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
            let idx = &order[b * params.batch_size..((b + 1) * params.batch_size).min(n_train)];
            ws.prepare(&net, idx.len());
            labels.clear();
            labels.extend(idx.iter().map(|&i| train_labels[i]));
            let base = (b * params.batch_size) as u64;
            ws.fill_inputs(&net, |i, dst| {
                let aug = augment.map(|a| (a, params.seed, epoch as u64, base + i as u64));
                train_inputs.write(idx[i], aug, dst)
            });
            ws.forward(
                &net,
                Mode::Train,
                mix_seed(params.seed, epoch as u64, b as u64),
                layers,
            );
            let sums = ws.loss(&net, params.loss, &labels, true);
            if !sums.loss.is_finite() {
                return Err(Error::failed(
                    "training",
                    format!(
                        "the loss became {} at epoch {epoch}, batch {b}; lower the learning rate",
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
                    loss_sum / ((b + 1) * params.batch_size).min(n_train) as f64
                ),
            );
        }
        let seconds = started.elapsed().as_secs_f64();
        total_seconds += seconds;
        let m = measure(
            &net,
            &mut ws,
            EpochTraining {
                epoch,
                seconds,
                lr,
                loss: loss_sum / n_train as f64,
                accuracy: correct as f64 / n_train as f64,
            },
        );
        progress.finish(&format!(
            "epoch {epoch}: {seconds:.1} s, train loss {:.4} acc {:.4}, {} loss {:.4} acc {:.4}, L2 penalty {:.4}",
            m.train_loss,
            m.train_accuracy,
            if data.validation { "validation" } else { "test" },
            m.test_loss,
            m.test_accuracy,
            l2_penalty(&net.params, &decay_mask, params.weight_decay)
        ));
        log.write_epoch(&net, &m)?;
        rows.push(m);
        log.write_metrics(&rows)?;
        Checkpoint::capture(&record, &net, &opt, &stdz, whitening.as_ref(), &rows, epoch)
            .write(run)?;
    }
    log.write_run_sidecar(&net, &stdz, whitening.as_ref(), data, total_seconds, &rows)?;
    Ok(TrainSummary {
        metrics: rows,
        parameters: net.parameter_count(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffled_labels_permute_keep_counts_and_follow_the_seed() {
        let labels: Vec<u16> = (0..1000).map(|i| (i % 10) as u16).collect();
        let a = shuffled_labels(&labels, 1);
        let mut counts = [0usize; 10];
        a.iter().for_each(|&l| counts[l as usize] += 1);
        assert_eq!(counts, [100; 10], "a permutation keeps every class's count");
        // A random permutation keeps about 1 label in 10 in place (expected 100, sd ~9.5);
        // 150 is 5 sd above that, while an unshuffled copy would keep all 1000.
        let same = a.iter().zip(&labels).filter(|(x, y)| x == y).count();
        assert!(same < 150, "{same} labels unchanged");
        assert_eq!(
            a,
            shuffled_labels(&labels, 1),
            "same seed, same permutation"
        );
        assert_ne!(
            a,
            shuffled_labels(&labels, 2),
            "another seed, another permutation"
        );
    }

    #[test]
    fn a_zero_head_starts_at_zero_and_leaves_the_layers_below_as_initialised() {
        let input = Shape {
            height: 16,
            width: 16,
            channels: 1,
        };
        let build = |zero_init_head| {
            let params = crate::cnn::params::TrainParams {
                zero_init_head,
                ..crate::cnn::params::TrainParams::default()
            };
            build_network(&crate::params::Params::check(&params).unwrap(), input, 10).unwrap()
        };
        let (plain, zeroed) = (build(false), build(true));
        let head = plain.spec.layers.len() - 1;
        assert!(matches!(
            plain.spec.layers[head],
            crate::cnn::net::LayerSpec::Linear { outputs: 10 }
        ));
        let first = zeroed.first_param[head].unwrap();
        for (i, (a, b)) in plain.params.iter().zip(&zeroed.params).enumerate() {
            if i >= first {
                assert!(b.iter().all(|&v| v == 0.0), "head tensor {i} not zero");
                if plain.info[i].kind == crate::cnn::net::ParamKind::Weight {
                    assert!(a.iter().any(|&v| v != 0.0), "the default head is not zero");
                }
            } else {
                assert_eq!(a, b, "tensor {i} below the head changed");
            }
        }
    }
}
