//! What is measured on a network between epochs, in evaluation mode: loss and accuracy on
//! a labelled set, and the first layer's activity (sparsity of its ReLU output, kurtosis of
//! its input) and filter shape. Together they make one [`EpochMetrics`] row.

use super::data::NetworkInputs;
use super::engine::{Mode, Workspace};
use super::filters;
use super::log::EpochMetrics;
use super::loss::{Loss, LossSums};
use super::net::{LayerSpec, Network};
use crate::analysis::sparsity::{excess_kurtosis, hoyer};

/// Images per evaluation batch: large enough to keep both cores busy, small enough that
/// the workspace stays a few megabytes.
pub const EVAL_BATCH: usize = 256;

/// Loss and accuracy of `net` on `images` in evaluation mode, batch by batch.
pub fn evaluate(
    net: &Network,
    ws: &mut Workspace,
    images: &NetworkInputs,
    loss: Loss,
    batch: usize,
) -> (f64, f64) {
    let mut sums = LossSums::default();
    let layers = net.spec.layers.len();
    for start in (0..images.len()).step_by(batch) {
        let n = batch.min(images.len() - start);
        ws.prepare(net, n);
        ws.fill_inputs(net, |i, dst| images.write(start + i, None, dst));
        ws.forward(net, Mode::Eval, 0, layers);
        sums.add(ws.loss(net, loss, &images.images.labels[start..start + n], false));
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
    images: &NetworkInputs,
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
    ws.fill_inputs(net, |i, dst| images.write(i, None, dst));
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

/// The fraction of conv1's pre-activations (after batch norm, if any) that the ReLU sets to
/// zero, on the first `count` of `images`; NaN for a network without a ReLU.
pub fn conv1_zero_fraction(
    net: &Network,
    ws: &mut Workspace,
    images: &NetworkInputs,
    count: usize,
) -> f64 {
    conv1_activity(net, ws, images, count).0
}

/// How one epoch went in training, for its metrics row.
pub struct EpochTraining {
    pub epoch: usize,
    pub seconds: f64,
    pub lr: f32,
    /// Mean data loss and accuracy over the epoch's batches, in training mode.
    pub loss: f64,
    pub accuracy: f64,
}

impl EpochTraining {
    /// Epoch 0: the initial network, before any training.
    pub fn initial() -> Self {
        Self {
            epoch: 0,
            seconds: 0.0,
            lr: f32::NAN,
            loss: f64::NAN,
            accuracy: f64::NAN,
        }
    }
}

/// The metrics row of `net` after `training`: test loss and accuracy, first-layer activity
/// on the first `activation_sample` test images, and the first layer's filter shape.
pub fn epoch_metrics(
    net: &Network,
    ws: &mut Workspace,
    test: &NetworkInputs,
    loss: Loss,
    activation_sample: usize,
    training: EpochTraining,
) -> EpochMetrics {
    let (test_loss, test_accuracy) = evaluate(net, ws, test, loss, EVAL_BATCH);
    let (zeros, hoyer, kurtosis) = conv1_activity(net, ws, test, activation_sample);
    let conv1 = net.spec.first_conv().expect("a conv layer");
    let (shape, bank) = net.conv_bank(conv1);
    let (channels, k) = (shape[1], shape[3]);
    EpochMetrics {
        epoch: training.epoch,
        seconds: training.seconds,
        lr: training.lr,
        train_loss: training.loss,
        train_accuracy: training.accuracy,
        test_loss,
        test_accuracy,
        conv1_zero_fraction: zeros,
        conv1_hoyer: hoyer,
        conv1_kurtosis: kurtosis,
        conv1_orientedness: filters::bank_mean(&bank, channels, k, filters::orientedness),
        conv1_spread: filters::bank_mean(&bank, channels, k, filters::spread),
    }
}
