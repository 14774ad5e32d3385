//! `simplecell cnn ...`: train, evaluate and visualise the companion CNN. Each subcommand
//! turns its flags into the library's params (defaults from `TrainParams::default()` and
//! `AscentParams::default()`), checks them, makes one library call and prints the result.

use super::flags::{FlagNames, WithFlags};
use super::progress::Reporter;
use crate::cnn::data::DataSource;
use crate::cnn::init::Init;
use crate::cnn::input_whitening::InputWhitening;
use crate::cnn::loss::Loss;
use crate::cnn::optim::{OptimizerKind, Schedule};
use crate::cnn::{
    AscentParams, Choice, ConvLayer, EvalParams, Split, Start, TopPatchParams, TrainParams,
    evaluate_run, top_patches_run, train_run, visualize_run,
};
use crate::error::{Error, Result};
use crate::params::Params;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum CnnCommand {
    /// Train a CNN and log its first-layer filters every epoch.
    Train(Box<TrainArgs>),
    /// Loss and accuracy of a trained run on a dataset's test (or training) split.
    Eval(EvalArgs),
    /// Each unit's preferred input (activation maximisation), or with --top-patches the
    /// test-image patches that most excite it, as a PNG montage.
    Visualize(VisualizeArgs),
}

/// A clap parser for a library choice, listing its names in the help.
fn choice<T: Choice + Send + Sync>() -> impl TypedValueParser<Value = T> {
    PossibleValuesParser::new(T::ALL.iter().map(|c| c.name()))
        .map(|name| T::from_name(&name).expect("clap accepted only listed names"))
}

/// The library's defaults, which the flags' defaults are.
fn train_default() -> TrainParams {
    TrainParams::default()
}

fn ascent_default() -> AscentParams {
    AscentParams::default()
}

/// Every field of the CNN's params is named like its flag (`batch_size`, `--batch-size`),
/// as are `data`, `resume` and `layer`.
pub(super) const FLAGS: FlagNames = &[];

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Dataset: cifar10:DIR (data_batch_*.bin, test_batch.bin), mnist:DIR (IDX, gzipped or
    /// not) or folder:DIR (one subfolder per class; DIR/train and DIR/test if split).
    #[arg(long, value_name = "FORMAT:DIR")]
    pub data: String,
    /// Run folder for filters, metrics, checkpoint and sidecar.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Overwrite an existing run's files.
    #[arg(long)]
    pub force: bool,
    /// Continue the run in --out from its checkpoint (same settings; --epochs may grow).
    #[arg(long)]
    pub resume: bool,
    /// Epochs [range 0..=100000].
    #[arg(long, default_value_t = train_default().epochs)]
    pub epochs: usize,
    /// Batch size [range 1..=65536].
    #[arg(long, default_value_t = train_default().batch_size)]
    pub batch_size: usize,
    /// Learning rate [range (0, 10]].
    #[arg(long, default_value_t = train_default().lr)]
    pub lr: f32,
    /// Optimiser (sgd uses --momentum, adam --betas).
    #[arg(long, value_parser = choice::<OptimizerKind>(), default_value = train_default().optimizer.name())]
    pub optimizer: OptimizerKind,
    /// SGD momentum [range [0, 1)].
    #[arg(long, default_value_t = train_default().momentum)]
    pub momentum: f32,
    /// Adam's beta1 and beta2 [each in [0, 1)].
    #[arg(long, num_args = 2, default_values_t = train_default().betas, value_names = ["B1", "B2"])]
    pub betas: Vec<f32>,
    /// Weight decay as an explicit L2 penalty (wd/2)||W||^2 on conv and linear weights
    /// [range [0, 1]].
    #[arg(long, default_value_t = train_default().weight_decay)]
    pub weight_decay: f32,
    /// Learning-rate schedule.
    #[arg(long, value_parser = choice::<Schedule>(), default_value = train_default().schedule.name())]
    pub schedule: Schedule,
    /// Step schedule: epochs between decays [range 1..].
    #[arg(long, default_value_t = train_default().lr_step)]
    pub lr_step: usize,
    /// Step schedule: decay factor [range (0, 1]].
    #[arg(long, default_value_t = train_default().lr_gamma)]
    pub lr_gamma: f32,
    /// Loss.
    #[arg(long, value_parser = choice::<Loss>(), default_value = train_default().loss.name())]
    pub loss: Loss,
    /// Weight initialisation.
    #[arg(long, value_parser = choice::<Init>(), default_value = train_default().init.name())]
    pub init: Init,
    /// Load the first layer from a bank (filters, channels, k, k) or (atoms, k*k) .npy,
    /// resized to --conv1-kernel; its filter count sets conv1's [default: none].
    #[arg(long, value_name = "F.npy")]
    pub conv1_init: Option<PathBuf>,
    /// Keep the first layer fixed (train everything else).
    #[arg(long)]
    pub freeze_conv1: bool,
    /// First-layer kernel size [one of 3, 5, 7, 9, 11].
    #[arg(long, default_value_t = train_default().conv1_kernel)]
    pub conv1_kernel: usize,
    /// First-layer stride [range 1..=4].
    #[arg(long, default_value_t = train_default().conv1_stride)]
    pub conv1_stride: usize,
    /// First-layer filters [default: 32, or the --conv1-init bank's count; range 1..=1024].
    #[arg(long)]
    pub conv1_filters: Option<usize>,
    /// Second-layer filters [range 1..=1024].
    #[arg(long, default_value_t = train_default().conv2_filters)]
    pub conv2_filters: usize,
    /// Batch normalisation after each convolution.
    #[arg(long)]
    pub batch_norm: bool,
    /// Dropout probability before the classifier [range [0, 1)].
    #[arg(long, default_value_t = train_default().dropout)]
    pub dropout: f32,
    /// Width of a hidden linear layer (with ReLU) before the classifier [default: none;
    /// range 1..=65536].
    #[arg(long)]
    pub hidden: Option<usize>,
    /// Convert colour images to grayscale.
    #[arg(long)]
    pub grayscale: bool,
    /// Random-crop padding in pixels, 0 = no crops [range 0..=16].
    #[arg(long, default_value_t = train_default().crop_pad)]
    pub crop_pad: usize,
    /// Random horizontal flips.
    #[arg(long)]
    pub flip: bool,
    /// Use only this many training images (a fixed random subset) [default: all].
    #[arg(long)]
    pub train_limit: Option<usize>,
    /// Use only this many test images (a fixed random subset) [default: all].
    #[arg(long)]
    pub test_limit: Option<usize>,
    /// Fraction of training images held out as the test set when the data has no test
    /// files [range (0, 1)].
    #[arg(long, default_value_t = train_default().test_fraction)]
    pub test_fraction: f32,
    /// Hold N training images out (a fixed random subset, taken before --train-limit) and
    /// evaluate on them instead of the test set, to choose settings without the test set;
    /// metrics.csv then says validation_loss and validation_accuracy [default: none].
    #[arg(long, value_name = "N")]
    pub validation: Option<usize>,
    /// Test images used for the first-layer activation statistics [range 1..].
    #[arg(long, default_value_t = train_default().activation_sample)]
    pub activation_sample: usize,
    /// Seed for initialisation, shuffling, dropout and augmentation.
    #[arg(long, default_value_t = train_default().seed)]
    pub seed: u64,
    /// Multiply conv1's initial weights by this factor [range (0, 1000]].
    #[arg(long, default_value_t = train_default().conv1_init_scale, value_name = "S")]
    pub conv1_init_scale: f32,
    /// Whiten the input images: zca (on conv1-sized training patches, applied as a
    /// convolution) or of (the Olshausen-Field filter), fitted on the training set and
    /// stored with the run.
    #[arg(long, value_parser = choice::<InputWhitening>(), default_value = train_default().input_whitening.name())]
    pub input_whitening: InputWhitening,
    /// Train on a seeded permutation of the training labels (a control; test labels kept).
    #[arg(long)]
    pub random_labels: bool,
    /// Start the classifier layer at zero (uniform first predictions for every loss).
    #[arg(long)]
    pub zero_init_head: bool,
}

impl TrainArgs {
    fn params(&self) -> TrainParams {
        TrainParams {
            grayscale: self.grayscale,
            test_fraction: self.test_fraction,
            train_limit: self.train_limit,
            test_limit: self.test_limit,
            conv1_filters: self.conv1_filters,
            conv1_kernel: self.conv1_kernel,
            conv1_stride: self.conv1_stride,
            conv2_filters: self.conv2_filters,
            batch_norm: self.batch_norm,
            dropout: self.dropout,
            hidden: self.hidden,
            init: self.init,
            conv1_init: self.conv1_init.clone(),
            freeze_conv1: self.freeze_conv1,
            loss: self.loss,
            optimizer: self.optimizer,
            momentum: self.momentum,
            betas: [self.betas[0], self.betas[1]],
            weight_decay: self.weight_decay,
            lr: self.lr,
            schedule: self.schedule,
            lr_step: self.lr_step,
            lr_gamma: self.lr_gamma,
            epochs: self.epochs,
            batch_size: self.batch_size,
            seed: self.seed,
            crop_pad: self.crop_pad,
            flip: self.flip,
            activation_sample: self.activation_sample,
            conv1_init_scale: self.conv1_init_scale,
            input_whitening: self.input_whitening,
            random_labels: self.random_labels,
            zero_init_head: self.zero_init_head,
            validation: self.validation,
        }
    }
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Run folder written by `cnn train`.
    #[arg(long, value_name = "DIR")]
    pub run: PathBuf,
    /// Dataset as for `cnn train` [default: the run's].
    #[arg(long, value_name = "FORMAT:DIR")]
    pub data: Option<String>,
    /// Evaluate on the training split instead of the test split.
    #[arg(long)]
    pub train_split: bool,
    /// Evaluate on the validation images the run held out (`cnn train --validation`)
    /// instead of the test split.
    #[arg(long, conflicts_with = "train_split")]
    pub validation_split: bool,
    /// Also write the result as a one-row CSV.
    #[arg(long, value_name = "OUT.csv")]
    pub out: Option<PathBuf>,
    /// Overwrite --out.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct VisualizeArgs {
    /// Run folder written by `cnn train`.
    #[arg(long, value_name = "DIR")]
    pub run: PathBuf,
    /// Convolution to visualise: conv1, conv2, ...
    #[arg(long, default_value = "conv2", value_parser = parse_layer)]
    pub layer: ConvLayer,
    /// Output PNG (a JSON sidecar is written beside it).
    #[arg(long, value_name = "OUT.png")]
    pub out: PathBuf,
    /// Gradient-ascent steps [range 1..=100000].
    #[arg(long, default_value_t = ascent_default().steps)]
    pub steps: usize,
    /// Step size in input units per RMS-normalised gradient [range (0, 10]].
    #[arg(long, default_value_t = ascent_default().step_size)]
    pub step_size: f32,
    /// L2 penalty on the input [range [0, 10]].
    #[arg(long, default_value_t = ascent_default().l2)]
    pub l2: f32,
    /// Gaussian blur of the input every 4 steps, standard deviation in pixels; 0 turns it
    /// off [range [0, 4]].
    #[arg(long, default_value_t = ascent_default().blur)]
    pub blur: f32,
    /// Seed of the starting noise.
    #[arg(long, default_value_t = ascent_default().seed)]
    pub seed: u64,
    /// Instead of the ascent: the N test-image patches that most excite each unit (Zeiler &
    /// Fergus), one per image, cropped to the receptive field, one row per unit
    /// [range 1..=64].
    #[arg(long, value_name = "N")]
    pub top_patches: Option<usize>,
    /// With --top-patches: test images searched, the first ones of the run's test split
    /// [range 1..=1000000].
    #[arg(long, default_value_t = TopPatchParams::default().images, requires = "top_patches")]
    pub images: usize,
    /// Overwrite an existing output.
    #[arg(long)]
    pub force: bool,
}

fn parse_layer(s: &str) -> std::result::Result<ConvLayer, String> {
    s.parse()
        .map_err(|_| "expected conv1, conv2, ... (convN with N >= 1)".to_string())
}

pub fn run(command: CnnCommand, reporter: &Reporter) -> Result<()> {
    match command {
        CnnCommand::Train(a) => run_train(&a, reporter),
        CnnCommand::Eval(a) => run_eval(&a, reporter),
        CnnCommand::Visualize(a) => run_visualize(&a, reporter),
    }
    .flags(FLAGS)
}

fn run_train(a: &TrainArgs, reporter: &Reporter) -> Result<()> {
    let data: DataSource = a.data.parse()?;
    let params = a.params().check()?;
    let start = match (a.resume, a.force) {
        (true, true) => {
            return Err(Error::usage(
                "--resume",
                "with --force",
                "choose one: continue the run, or overwrite it",
            ));
        }
        (true, false) => Start::Resume,
        (false, overwrite) => Start::Fresh { overwrite },
    };
    crate::interrupt::install();
    let summary = train_run(&data, &params, &a.out, start, reporter)?;
    if let Some(last) = summary.metrics.last() {
        reporter.info(&format!(
            "wrote {} ({} parameters): epoch {} {} accuracy {:.4}",
            a.out.display(),
            summary.parameters,
            last.epoch,
            if params.validation.is_some() {
                "validation"
            } else {
                "test"
            },
            last.test_accuracy
        ));
    }
    Ok(())
}

fn run_eval(a: &EvalArgs, reporter: &Reporter) -> Result<()> {
    let params = EvalParams {
        data: a.data.as_deref().map(str::parse).transpose()?,
        split: if a.train_split {
            Split::Train
        } else if a.validation_split {
            Split::Validation
        } else {
            Split::Test
        },
    };
    let e = evaluate_run(&a.run, &params, a.out.as_deref(), a.force)?;
    println!(
        "{} images {}  loss {:.6}  accuracy {:.6}",
        e.split.name(),
        e.images,
        e.loss,
        e.accuracy
    );
    if let Some(out) = &a.out {
        reporter.info(&format!("wrote {}", out.display()));
    }
    Ok(())
}

fn run_visualize(a: &VisualizeArgs, reporter: &Reporter) -> Result<()> {
    if let Some(top_patches) = a.top_patches {
        let params = TopPatchParams {
            top_patches,
            images: a.images,
        }
        .check()?;
        let t = top_patches_run(&a.run, a.layer, &params, &a.out, a.force)?;
        reporter.info(&format!(
            "wrote {} ({} units x {} patches from {} test images, receptive field {}x{})",
            a.out.display(),
            t.units,
            t.top,
            t.images,
            t.field.size,
            t.field.size
        ));
        return Ok(());
    }
    let params = AscentParams {
        steps: a.steps,
        step_size: a.step_size,
        l2: a.l2,
        blur: a.blur,
        seed: a.seed,
    }
    .check()?;
    let v = visualize_run(&a.run, a.layer, &params, &a.out, a.force)?;
    reporter.info(&format!(
        "wrote {} ({} units, receptive field {}x{})",
        a.out.display(),
        v.units,
        v.side,
        v.side
    ));
    Ok(())
}
