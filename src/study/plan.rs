//! Which CNN runs a study makes and how each is configured.
//!
//! Every variant changes one thing against the `plain` baseline, the regime in which conv1
//! converges (results/conv1-regime/): grayscale input, conv1 at He x the study's
//! `conv1_init_scale`, SGD with momentum on a cosine schedule, horizontal flips, softmax
//! cross-entropy, weight decay, no dropout, no batch norm, no input whitening, true labels.
//! So a difference between two rows has one cause. Every variant runs with every seed of
//! the study, so its numbers come with a seed-to-seed spread.

use super::layout;
use super::params::ValidStudyParams;
use crate::cnn::TrainParams;
use crate::cnn::input_whitening::InputWhitening;
use crate::cnn::loss::Loss;
use crate::cnn::optim::Schedule;
use std::path::{Path, PathBuf};

/// What the first layer is during training.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstLayer {
    /// Initialised randomly and trained (the ordinary CNN).
    Learned,
    /// Fixed to the analytic Gabor bank.
    GaborFixed,
    /// Fixed to the unsupervised dictionary.
    DictionaryFixed,
    /// Fixed to random unit-norm filters (the control for "any fixed bank").
    RandomFixed,
    /// Initialised from the dictionary, then trained.
    DictionaryInit,
}

impl FirstLayer {
    pub fn name(self) -> &'static str {
        match self {
            FirstLayer::Learned => "learned",
            FirstLayer::GaborFixed => "gabor (fixed)",
            FirstLayer::DictionaryFixed => "dictionary (fixed)",
            FirstLayer::RandomFixed => "random (fixed)",
            FirstLayer::DictionaryInit => "dictionary init, fine-tuned",
        }
    }

    pub fn frozen(self) -> bool {
        matches!(
            self,
            FirstLayer::GaborFixed | FirstLayer::DictionaryFixed | FirstLayer::RandomFixed
        )
    }

    /// The bank the first layer starts from, relative to the study folder.
    pub fn bank(self) -> Option<&'static str> {
        match self {
            FirstLayer::Learned => None,
            FirstLayer::GaborFixed => Some(layout::GABOR),
            FirstLayer::DictionaryFixed | FirstLayer::DictionaryInit => Some(layout::DICTIONARY),
            FirstLayer::RandomFixed => Some(layout::RANDOM),
        }
    }
}

/// One training recipe of the study.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Variant {
    /// Short name, used in run folder names and tables.
    pub name: &'static str,
    /// What question the variant serves, for the report.
    pub question: &'static str,
    pub first_layer: FirstLayer,
    pub colour: bool,
    pub loss: Loss,
    /// The baseline's weight decay (false: none).
    pub weight_decay: bool,
    pub dropout: bool,
    pub batch_norm: bool,
    /// ZCA-whitened input images (fitted on the training set).
    pub whitened_input: bool,
    /// Trained on a seeded permutation of the labels: what the images alone teach.
    pub random_labels: bool,
    /// Multiplies the study's learning rate: squared error runs at two rates, as a small
    /// learning-rate sweep (its gradient grows with the raw outputs, and a rate too high for
    /// it collapses the net to a constant prediction).
    pub lr_scale: f32,
}

const PLAIN: Variant = Variant {
    name: "plain",
    question: "baseline (learned first layer)",
    first_layer: FirstLayer::Learned,
    colour: false,
    loss: Loss::SoftmaxCrossEntropy,
    weight_decay: true,
    dropout: false,
    batch_norm: false,
    whitened_input: false,
    random_labels: false,
    lr_scale: 1.0,
};

/// Every variant, in report order (and training order: the controls the criteria need
/// first, so a study stopped early has them).
pub fn variants() -> Vec<Variant> {
    let sparsity = "implicit sparsity";
    let replace = "first-layer replacement";
    vec![
        PLAIN,
        Variant {
            name: "random-labels",
            question: "learned without labels",
            random_labels: true,
            ..PLAIN
        },
        Variant {
            name: "whitened-input",
            question: "why OF-like (input spectrum)",
            whitened_input: true,
            ..PLAIN
        },
        Variant {
            name: "no-weight-decay",
            question: sparsity,
            weight_decay: false,
            ..PLAIN
        },
        Variant {
            name: "dropout",
            question: sparsity,
            dropout: true,
            ..PLAIN
        },
        Variant {
            name: "batch-norm",
            question: sparsity,
            batch_norm: true,
            ..PLAIN
        },
        Variant {
            name: "squared-error",
            question: sparsity,
            loss: Loss::SquaredError,
            ..PLAIN
        },
        Variant {
            name: "squared-error-lr0.1x",
            question: sparsity,
            loss: Loss::SquaredError,
            lr_scale: 0.1,
            ..PLAIN
        },
        Variant {
            name: "sigmoid-ce",
            question: sparsity,
            loss: Loss::SigmoidCrossEntropy,
            ..PLAIN
        },
        Variant {
            name: "colour",
            question: "similarity with colour input",
            colour: true,
            ..PLAIN
        },
        Variant {
            name: "gabor-fixed",
            question: replace,
            first_layer: FirstLayer::GaborFixed,
            ..PLAIN
        },
        Variant {
            name: "dictionary-fixed",
            question: replace,
            first_layer: FirstLayer::DictionaryFixed,
            ..PLAIN
        },
        Variant {
            name: "random-fixed",
            question: replace,
            first_layer: FirstLayer::RandomFixed,
            ..PLAIN
        },
        Variant {
            name: "dictionary-init",
            question: replace,
            first_layer: FirstLayer::DictionaryInit,
            ..PLAIN
        },
    ]
}

/// One planned training run.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub variant: Variant,
    pub seed: u64,
}

impl Run {
    /// Folder name under `runs/`.
    pub fn name(&self) -> String {
        format!("{}-s{}", self.variant.name, self.seed)
    }

    pub fn dir(&self, study: &Path) -> PathBuf {
        study.join(layout::RUNS).join(self.name())
    }
}

/// Every run of a study, variants in report order, seeds ascending.
pub fn runs(config: &ValidStudyParams) -> Vec<Run> {
    let seeds = config.replicate_seeds();
    variants()
        .into_iter()
        .flat_map(|variant| seeds.iter().map(move |&seed| Run { variant, seed }))
        .collect()
}

/// The training params of `run` inside the study folder `study`: the study's regime and
/// the variant's one change, everything else at `TrainParams`'s defaults.
pub fn train_params(config: &ValidStudyParams, run: &Run, study: &Path) -> TrainParams {
    let v = run.variant;
    let bank = v.first_layer.bank();
    TrainParams {
        grayscale: !v.colour,
        train_limit: config.train_limit,
        test_limit: config.test_limit,
        conv1_filters: Some(config.filters),
        conv1_kernel: config.kernel,
        batch_norm: v.batch_norm,
        dropout: if v.dropout { config.dropout } else { 0.0 },
        conv1_init: bank.map(|b| study.join(b)),
        freeze_conv1: v.first_layer.frozen(),
        // The small initial scale is the regime of the learned first layer; a loaded bank
        // keeps its own (unit-norm) scale.
        conv1_init_scale: if bank.is_none() {
            config.conv1_init_scale
        } else {
            1.0
        },
        input_whitening: if v.whitened_input {
            InputWhitening::Zca
        } else {
            InputWhitening::None
        },
        random_labels: v.random_labels,
        loss: v.loss,
        momentum: config.momentum,
        weight_decay: if v.weight_decay {
            config.weight_decay
        } else {
            0.0
        },
        lr: config.lr * v.lr_scale,
        schedule: Schedule::Cosine,
        flip: true,
        epochs: config.epochs,
        batch_size: config.batch_size,
        seed: run.seed,
        activation_sample: config.activation_sample,
        ..TrainParams::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_variant_changes_one_thing_against_plain() {
        for v in variants().into_iter().skip(1) {
            let changes = [
                v.first_layer != PLAIN.first_layer,
                v.colour != PLAIN.colour,
                v.loss != PLAIN.loss,
                !v.weight_decay,
                v.dropout,
                v.batch_norm,
                v.whitened_input,
                v.random_labels,
            ]
            .iter()
            .filter(|&&c| c)
            .count();
            // (The squared-error sweep's second rate is part of that loss's change.)
            assert_eq!(changes, 1, "{} changes {changes} things", v.name);
        }
        let names: std::collections::HashSet<_> = variants().iter().map(|v| v.name).collect();
        assert_eq!(names.len(), variants().len(), "names are unique");
    }
}
