//! The settings of a CNN training run: [`TrainParams`] is what a user fills in (every field
//! has a default, its doc gives the range), [`TrainParams::check`] validates it into a
//! [`ValidTrainParams`], and only that type can train. The valid form is what run sidecars
//! and checkpoints record, so a resumed run is compared with it field by field.
//!
//! Errors name the field (`lr`, `conv1_kernel`); the command line's flags are the same
//! names with dashes, and it rewrites the names before printing.

use super::data::{Augment, DataOptions, DataSource};
use super::init::{Init, read_bank};
use super::input_whitening::InputWhitening;
use super::loss::Loss;
use super::net::ReferenceOptions;
use super::optim::{OptimizerConfig, OptimizerKind, Schedule};
use crate::error::{Error, Result};
use crate::params::{Params, Valid, ensure};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// A closed set of named choices (an optimiser, a loss, ...): the names are the ones the
/// command line accepts and the sidecars record.
pub trait Choice: Copy + Sized + 'static {
    /// Every choice, in the order help texts list them.
    const ALL: &'static [Self];
    fn name(self) -> &'static str;
    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.name() == name)
    }
}

/// Refuses a non-finite value, or one for which `ok` is false, with the range in words.
pub(crate) fn in_range(field: &str, value: f32, ok: bool, range: &str) -> Result<()> {
    ensure(
        ok && value.is_finite(),
        field,
        value,
        format!("must be in {range}"),
    )
}

/// Every knob of a training run, each at the default of `simplecell cnn train`. The images
/// themselves are not a knob: they are the run's input, passed beside the params.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainParams {
    /// Convert colour images to grayscale [default: false].
    pub grayscale: bool,
    /// Fraction of the training images held out as the test set when the source has no
    /// test files [default: 0.2; range (0, 1)].
    pub test_fraction: f32,
    /// Use only this many training images, a fixed random subset [default: all; >= 1].
    pub train_limit: Option<usize>,
    /// Use only this many test images, a fixed random subset [default: all; >= 1].
    pub test_limit: Option<usize>,
    /// First-layer filters [default: 32, or the `conv1_init` bank's count; 1..=1024].
    /// Checking fills it in.
    pub conv1_filters: Option<usize>,
    /// First-layer kernel size [default: 5; one of 3, 5, 7, 9, 11].
    pub conv1_kernel: usize,
    /// First-layer stride [default: 1; 1..=4].
    pub conv1_stride: usize,
    /// Second-layer filters [default: 64; 1..=1024].
    pub conv2_filters: usize,
    /// Batch normalisation after each convolution [default: false].
    pub batch_norm: bool,
    /// Dropout probability before the classifier [default: 0; range [0, 1)].
    pub dropout: f32,
    /// Width of a hidden linear layer (with ReLU) before the classifier [default: none;
    /// 1..=65536].
    pub hidden: Option<usize>,
    /// Weight initialisation [default: he].
    pub init: Init,
    /// A bank (filters, channels, k, k) or dictionary (atoms, k*k) `.npy` loaded into the
    /// first layer, resized to `conv1_kernel` [default: none].
    pub conv1_init: Option<PathBuf>,
    /// Keep the first layer fixed and train everything else [default: false].
    pub freeze_conv1: bool,
    /// Loss [default: softmax-cross-entropy].
    pub loss: Loss,
    /// Optimiser [default: sgd].
    pub optimizer: OptimizerKind,
    /// SGD momentum [default: 0.9; range [0, 1)].
    pub momentum: f32,
    /// Adam's beta1 and beta2 [default: 0.9, 0.999; each in [0, 1)].
    pub betas: [f32; 2],
    /// Weight decay: an explicit L2 penalty (wd/2)||W||^2 on conv and linear weights
    /// [default: 5e-4; range [0, 1]].
    pub weight_decay: f32,
    /// Learning rate [default: 0.01; range (0, 10]].
    pub lr: f32,
    /// Learning-rate schedule [default: constant].
    pub schedule: Schedule,
    /// Step schedule: epochs between decays [default: 10; >= 1].
    pub lr_step: usize,
    /// Step schedule: decay factor [default: 0.1; range (0, 1]].
    pub lr_gamma: f32,
    /// Epochs [default: 10; 0..=100000; 0 logs the initial network only].
    pub epochs: usize,
    /// Images per minibatch [default: 64; 1..=65536].
    pub batch_size: usize,
    /// Seed of initialisation, shuffling, dropout and augmentation [default: 0].
    pub seed: u64,
    /// Random-crop padding in pixels, 0 = no crops [default: 0; 0..=16].
    pub crop_pad: usize,
    /// Random horizontal flips [default: false].
    pub flip: bool,
    /// Test images on which first-layer activation sparsity is measured [default: 256; >= 1].
    pub activation_sample: usize,
    /// Factor on conv1's initial weights, after `init` or `conv1_init` [default: 1; range
    /// (0, 1000]]. Small values let the data's structure show in conv1 instead of He's
    /// noise (results/conv1-regime/).
    pub conv1_init_scale: f32,
    /// Whitening of the input images, fitted on the training set and stored with the run
    /// [default: none].
    pub input_whitening: InputWhitening,
    /// Train on a seeded permutation of the training labels, a control (test labels kept)
    /// [default: false].
    pub random_labels: bool,
    /// Start the last (classifier) layer at zero weights and biases, so every loss starts
    /// from the same uniform prediction instead of He-scaled logits; the layers below get
    /// gradients from the first step on, once the head has moved [default: false].
    pub zero_init_head: bool,
    /// Hold this many training images out (a fixed random subset, before `train_limit`)
    /// and evaluate on them instead of the test set, for choosing settings without
    /// looking at the test set [default: none; >= 1, fewer than the training images].
    pub validation: Option<usize>,
}

impl Default for TrainParams {
    fn default() -> Self {
        Self {
            grayscale: false,
            test_fraction: 0.2,
            train_limit: None,
            test_limit: None,
            conv1_filters: None,
            conv1_kernel: 5,
            conv1_stride: 1,
            conv2_filters: 64,
            batch_norm: false,
            dropout: 0.0,
            hidden: None,
            init: Init::He,
            conv1_init: None,
            freeze_conv1: false,
            loss: Loss::SoftmaxCrossEntropy,
            optimizer: OptimizerKind::Sgd,
            momentum: 0.9,
            betas: [0.9, 0.999],
            weight_decay: 5e-4,
            lr: 0.01,
            schedule: Schedule::Constant,
            lr_step: 10,
            lr_gamma: 0.1,
            epochs: 10,
            batch_size: 64,
            seed: 0,
            crop_pad: 0,
            flip: false,
            activation_sample: 256,
            conv1_init_scale: 1.0,
            input_whitening: InputWhitening::None,
            random_labels: false,
            zero_init_head: false,
            validation: None,
        }
    }
}

/// Adam's epsilon: fixed, as in PyTorch's default.
const ADAM_EPS: f32 = 1e-8;

/// conv1's filter count when neither the params nor a bank set it.
const CONV1_FILTERS: usize = 32;

/// Filter counts a layer may have.
const FILTERS: std::ops::RangeInclusive<usize> = 1..=1024;

/// Training params that passed [`Params::check`].
pub type ValidTrainParams = Valid<TrainParams>;

impl Params for TrainParams {
    /// Checks every field, in the order the command line lists them, and fills in
    /// `conv1_filters` (reading the `conv1_init` bank to count its filters).
    fn validate(&mut self) -> Result<()> {
        if self.epochs > 100_000 {
            return Err(Error::param("epochs", self.epochs, "must be in 0..=100000"));
        }
        if !(1..=65536).contains(&self.batch_size) {
            return Err(Error::param(
                "batch_size",
                self.batch_size,
                "must be in 1..=65536",
            ));
        }
        in_range("lr", self.lr, self.lr > 0.0 && self.lr <= 10.0, "(0, 10]")?;
        let unit = |v: f32| (0.0..1.0).contains(&v);
        in_range("momentum", self.momentum, unit(self.momentum), "[0, 1)")?;
        for &b in &self.betas {
            in_range("betas", b, unit(b), "[0, 1)")?;
        }
        let wd = self.weight_decay;
        in_range("weight_decay", wd, (0.0..=1.0).contains(&wd), "[0, 1]")?;
        let gamma = self.lr_gamma;
        in_range("lr_gamma", gamma, gamma > 0.0 && gamma <= 1.0, "(0, 1]")?;
        in_range("dropout", self.dropout, unit(self.dropout), "[0, 1)")?;
        let s = self.conv1_init_scale;
        in_range("conv1_init_scale", s, s > 0.0 && s <= 1000.0, "(0, 1000]")?;
        let tf = self.test_fraction;
        in_range("test_fraction", tf, tf > 0.0 && tf < 1.0, "(0, 1)")?;
        if self.lr_step == 0 {
            return Err(Error::param("lr_step", 0, "must be at least 1"));
        }
        if ![3, 5, 7, 9, 11].contains(&self.conv1_kernel) {
            return Err(Error::param(
                "conv1_kernel",
                self.conv1_kernel,
                "must be one of 3, 5, 7, 9, 11",
            ));
        }
        if !(1..=4).contains(&self.conv1_stride) {
            return Err(Error::param(
                "conv1_stride",
                self.conv1_stride,
                "must be in 1..=4",
            ));
        }
        if let Some(f) = self.conv1_filters
            && !FILTERS.contains(&f)
        {
            return Err(Error::param("conv1_filters", f, "must be in 1..=1024"));
        }
        if !FILTERS.contains(&self.conv2_filters) {
            return Err(Error::param(
                "conv2_filters",
                self.conv2_filters,
                "must be in 1..=1024",
            ));
        }
        if let Some(h) = self.hidden
            && !(1..=65536).contains(&h)
        {
            return Err(Error::param("hidden", h, "must be in 1..=65536"));
        }
        if self.crop_pad > 16 {
            return Err(Error::param("crop_pad", self.crop_pad, "must be in 0..=16"));
        }
        if self.activation_sample == 0 {
            return Err(Error::param("activation_sample", 0, "must be at least 1"));
        }
        for (field, limit) in [
            ("train_limit", self.train_limit),
            ("test_limit", self.test_limit),
            ("validation", self.validation),
        ] {
            if limit == Some(0) {
                return Err(Error::param(field, 0, "must be at least 1"));
            }
        }
        self.conv1_filters = Some(self.conv1_filters_for_bank()?);
        Ok(())
    }
}

impl TrainParams {
    /// conv1's filter count: the `conv1_init` bank's, which an explicit `conv1_filters`
    /// must agree with, else the explicit count or 32.
    fn conv1_filters_for_bank(&self) -> Result<usize> {
        let Some(path) = &self.conv1_init else {
            return Ok(self.conv1_filters.unwrap_or(CONV1_FILTERS));
        };
        let bank = read_bank(path)?;
        match self.conv1_filters {
            Some(f) if f != bank.count => Err(Error::param(
                "conv1_filters",
                f,
                format!(
                    "{} holds {} filters; omit `conv1_filters` or make them agree",
                    path.display(),
                    bank.count
                ),
            )),
            // The bank's count obeys the same limit as an explicit `conv1_filters`.
            _ if !FILTERS.contains(&bank.count) => Err(Error::param(
                "conv1_init",
                path.display(),
                format!(
                    "holds {} filters; conv1 takes 1..=1024 (the `conv1_filters` limit)",
                    bank.count
                ),
            )),
            _ => Ok(bank.count),
        }
    }

    /// How the dataset is split, converted and subset.
    pub fn data_options(&self) -> DataOptions {
        DataOptions {
            grayscale: self.grayscale,
            test_fraction: self.test_fraction,
            train_limit: self.train_limit,
            test_limit: self.test_limit,
            validation: self.validation,
        }
    }

    /// The reference network's shape.
    pub fn arch(&self) -> ReferenceOptions {
        ReferenceOptions {
            conv1_filters: self.conv1_filters.unwrap_or(CONV1_FILTERS),
            conv1_kernel: self.conv1_kernel,
            conv1_stride: self.conv1_stride,
            conv2_filters: self.conv2_filters,
            batch_norm: self.batch_norm,
            dropout: self.dropout,
            hidden: self.hidden,
        }
    }

    pub fn optimizer_config(&self) -> OptimizerConfig {
        OptimizerConfig {
            kind: self.optimizer,
            momentum: self.momentum,
            beta1: self.betas[0],
            beta2: self.betas[1],
            eps: ADAM_EPS,
            weight_decay: self.weight_decay,
        }
    }

    pub fn augment(&self) -> Augment {
        Augment {
            crop_pad: self.crop_pad,
            flip: self.flip,
        }
    }
}

/// A run's settings as `run.json`, every epoch's sidecar and the checkpoint record them:
/// the dataset and the checked params, grouped as the parts of the library use them. A
/// resumed run must produce the same record (the epoch count aside).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainRecord {
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
    pub activation_sample: usize,
    /// The regime controls (issue 14); absent from older runs, which had their neutral
    /// values.
    #[serde(default = "unit_scale")]
    pub conv1_init_scale: f32,
    #[serde(default)]
    pub input_whitening: InputWhitening,
    #[serde(default)]
    pub random_labels: bool,
    /// Absent from older runs, which started the head from `init`.
    #[serde(default)]
    pub zero_init_head: bool,
}

fn unit_scale() -> f32 {
    1.0
}

impl TrainRecord {
    pub fn new(data: &DataSource, p: &ValidTrainParams) -> Self {
        Self {
            data: data.clone(),
            data_options: p.data_options(),
            arch: p.arch(),
            init: p.init,
            conv1_init: p.conv1_init.clone(),
            freeze_conv1: p.freeze_conv1,
            loss: p.loss,
            optimizer: p.optimizer_config(),
            lr: p.lr,
            schedule: p.schedule,
            lr_step: p.lr_step,
            lr_gamma: p.lr_gamma,
            epochs: p.epochs,
            batch_size: p.batch_size,
            seed: p.seed,
            augment: p.augment(),
            activation_sample: p.activation_sample,
            conv1_init_scale: p.conv1_init_scale,
            input_whitening: p.input_whitening,
            random_labels: p.random_labels,
            zero_init_head: p.zero_init_head,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_pass_and_keep_their_values() {
        let v = TrainParams::default().check().unwrap();
        let r = TrainRecord::new(&DataSource::Folder(PathBuf::from("d")), &v);
        assert_eq!(
            v.conv1_filters,
            Some(32),
            "checking fills the filter count in"
        );
        assert_eq!(r.arch, ReferenceOptions::default());
        assert_eq!((r.optimizer.beta1, r.optimizer.beta2), (0.9, 0.999));
        assert_eq!((r.lr_step, r.lr_gamma, r.epochs), (10, 0.1, 10));
        assert_eq!(r.data_options.test_fraction, 0.2);
    }

    #[test]
    fn choice_names_are_the_recorded_names() {
        fn names_match<T: Choice + Serialize>() {
            for &c in T::ALL {
                assert_eq!(serde_json::to_value(c).unwrap(), c.name());
                assert_eq!(T::from_name(c.name()).map(|t| t.name()), Some(c.name()));
            }
        }
        names_match::<Init>();
        names_match::<Loss>();
        names_match::<OptimizerKind>();
        names_match::<Schedule>();
        names_match::<InputWhitening>();
    }

    #[test]
    fn each_bad_value_is_refused_naming_its_field() {
        let d = TrainParams::default();
        let cases: Vec<(&str, TrainParams)> = vec![
            (
                "lr",
                TrainParams {
                    lr: 0.0,
                    ..d.clone()
                },
            ),
            (
                "lr",
                TrainParams {
                    lr: f32::NAN,
                    ..d.clone()
                },
            ),
            (
                "betas",
                TrainParams {
                    betas: [0.9, 1.0],
                    ..d.clone()
                },
            ),
            (
                "conv1_kernel",
                TrainParams {
                    conv1_kernel: 6,
                    ..d.clone()
                },
            ),
            (
                "lr_step",
                TrainParams {
                    lr_step: 0,
                    ..d.clone()
                },
            ),
            (
                "test_limit",
                TrainParams {
                    test_limit: Some(0),
                    ..d.clone()
                },
            ),
            (
                "batch_size",
                TrainParams {
                    batch_size: 0,
                    ..d.clone()
                },
            ),
            (
                "conv1_init_scale",
                TrainParams {
                    conv1_init_scale: 0.0,
                    ..d.clone()
                },
            ),
            (
                "crop_pad",
                TrainParams {
                    crop_pad: 17,
                    ..d.clone()
                },
            ),
        ];
        for (field, p) in cases {
            match p.check() {
                Err(Error::Param { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
    }
}
