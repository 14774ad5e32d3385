//! Which CNN runs a study makes and how each is configured.
//!
//! Every variant changes one thing against the `plain` recipe (grayscale input, SGD with
//! momentum, softmax cross-entropy, no weight decay, no dropout, no batch norm, He
//! initialisation), so a difference between two rows has one cause. The first-layer
//! replacement variants (and `plain`, which is the "learned" condition) are replicated over
//! the study's seeds, because their accuracies are compared with each other; the other
//! variants run once, with the first seed, and are compared along their training curves.

use super::layout;
use super::params::ValidStudyParams;
use crate::cnn::TrainParams;
use crate::cnn::loss::Loss;
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
    pub weight_decay: bool,
    pub dropout: bool,
    pub batch_norm: bool,
    /// Run with every seed of the study, not only the first.
    pub replicated: bool,
    /// Multiplies the study's learning rate. 1 except for squared error, whose gradient
    /// grows with the raw outputs: at lr 0.01 its first epoch diverged (loss 763 on CIFAR)
    /// and the net settled on a constant prediction, so it runs at a tenth of the rate.
    pub lr_scale: f32,
}

const PLAIN: Variant = Variant {
    name: "plain",
    question: "baseline (learned first layer)",
    first_layer: FirstLayer::Learned,
    colour: false,
    loss: Loss::SoftmaxCrossEntropy,
    weight_decay: false,
    dropout: false,
    batch_norm: false,
    replicated: true,
    lr_scale: 1.0,
};

/// Every variant, in report order.
pub fn variants() -> Vec<Variant> {
    let sparsity = "implicit sparsity";
    let replace = "first-layer replacement";
    vec![
        PLAIN,
        Variant {
            name: "weight-decay",
            question: sparsity,
            weight_decay: true,
            replicated: false,
            ..PLAIN
        },
        Variant {
            name: "dropout",
            question: sparsity,
            dropout: true,
            replicated: false,
            ..PLAIN
        },
        Variant {
            name: "batch-norm",
            question: sparsity,
            batch_norm: true,
            replicated: false,
            ..PLAIN
        },
        Variant {
            name: "squared-error",
            question: sparsity,
            loss: Loss::SquaredError,
            lr_scale: 0.1,
            replicated: false,
            ..PLAIN
        },
        Variant {
            name: "sigmoid-ce",
            question: sparsity,
            loss: Loss::SigmoidCrossEntropy,
            replicated: false,
            ..PLAIN
        },
        Variant {
            name: "colour",
            question: "similarity with colour input",
            colour: true,
            replicated: false,
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
        .flat_map(|variant| {
            let own: Vec<u64> = if variant.replicated {
                seeds.clone()
            } else {
                vec![config.seed]
            };
            own.into_iter().map(move |seed| Run { variant, seed })
        })
        .collect()
}

/// The training params of `run` inside the study folder `study`: the study's settings and
/// the variant's one change, everything else at `TrainParams`'s defaults (SGD, constant
/// rate, He initialisation, no augmentation).
pub fn train_params(config: &ValidStudyParams, run: &Run, study: &Path) -> TrainParams {
    let v = run.variant;
    TrainParams {
        grayscale: !v.colour,
        train_limit: config.train_limit,
        test_limit: config.test_limit,
        conv1_filters: Some(config.filters),
        conv1_kernel: config.kernel,
        batch_norm: v.batch_norm,
        dropout: if v.dropout { config.dropout } else { 0.0 },
        conv1_init: v.first_layer.bank().map(|b| study.join(b)),
        freeze_conv1: v.first_layer.frozen(),
        loss: v.loss,
        momentum: config.momentum,
        weight_decay: if v.weight_decay {
            config.weight_decay
        } else {
            0.0
        },
        lr: config.lr * v.lr_scale,
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
                v.weight_decay,
                v.dropout,
                v.batch_norm,
            ]
            .iter()
            .filter(|&&c| c)
            .count();
            assert_eq!(changes, 1, "{} changes {changes} things", v.name);
        }
        let names: std::collections::HashSet<_> = variants().iter().map(|v| v.name).collect();
        assert_eq!(names.len(), variants().len(), "names are unique");
    }
}
