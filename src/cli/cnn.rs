//! `simplecell cnn ...`: train, evaluate and visualise the companion CNN. Arguments are
//! validated into the library's checked configs before any data is read or output written.

use super::progress::Reporter;
use crate::cnn::data::{self, Augment, DataOptions, DataSource};
use crate::cnn::engine::Workspace;
use crate::cnn::init::Init;
use crate::cnn::loss::Loss;
use crate::cnn::net::{LayerSpec, ReferenceOptions};
use crate::cnn::optim::{OptimizerConfig, OptimizerKind, Schedule};
use crate::cnn::train::{self, Checkpoint, TrainConfig};
use crate::cnn::visualize::{AscentOptions, preferred_inputs};
use crate::error::{Error, Result};
use crate::io::{atomic, sidecar};
use clap::{Args, Subcommand};
use serde_json::json;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum CnnCommand {
    /// Train a CNN and log its first-layer filters every epoch.
    Train(Box<TrainArgs>),
    /// Loss and accuracy of a trained run on a dataset's test (or training) split.
    Eval(EvalArgs),
    /// Each unit's preferred input (activation maximisation) as a PNG montage.
    Visualize(VisualizeArgs),
}

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
    /// Epochs [default: 10; range 0..=100000].
    #[arg(hide_default_value = true, long, default_value_t = 10)]
    pub epochs: usize,
    /// Batch size [default: 64; range 1..=65536].
    #[arg(hide_default_value = true, long, default_value_t = 64)]
    pub batch_size: usize,
    /// Learning rate [default: 0.01; range (0, 10]].
    #[arg(hide_default_value = true, long, default_value_t = 0.01)]
    pub lr: f32,
    /// Optimiser [default: sgd (with --momentum)].
    #[arg(hide_default_value = true, long, value_enum, default_value_t = OptimizerKind::Sgd)]
    pub optimizer: OptimizerKind,
    /// SGD momentum [default: 0.9; range [0, 1)].
    #[arg(hide_default_value = true, long, default_value_t = 0.9)]
    pub momentum: f32,
    /// Adam's beta1 and beta2 [default: 0.9 0.999; each in [0, 1)].
    #[arg(hide_default_value = true, long, num_args = 2, default_values_t = [0.9, 0.999], value_names = ["B1", "B2"])]
    pub betas: Vec<f32>,
    /// Weight decay as an explicit L2 penalty (wd/2)||W||^2 on conv and linear weights
    /// [default: 5e-4; range [0, 1]].
    #[arg(hide_default_value = true, long, default_value_t = 5e-4)]
    pub weight_decay: f32,
    /// Learning-rate schedule [default: constant].
    #[arg(hide_default_value = true, long, value_enum, default_value_t = Schedule::Constant)]
    pub schedule: Schedule,
    /// Step schedule: epochs between decays [default: 10; range 1..].
    #[arg(hide_default_value = true, long, default_value_t = 10)]
    pub lr_step: usize,
    /// Step schedule: decay factor [default: 0.1; range (0, 1]].
    #[arg(hide_default_value = true, long, default_value_t = 0.1)]
    pub lr_gamma: f32,
    /// Loss [default: softmax-cross-entropy].
    #[arg(hide_default_value = true, long, value_enum, default_value_t = Loss::SoftmaxCrossEntropy)]
    pub loss: Loss,
    /// Weight initialisation [default: he].
    #[arg(hide_default_value = true, long, value_enum, default_value_t = Init::He)]
    pub init: Init,
    /// Load the first layer from a bank (filters, channels, k, k) or (atoms, k*k) .npy,
    /// resized to --conv1-kernel; its filter count sets conv1's [default: none].
    #[arg(long, value_name = "F.npy")]
    pub conv1_init: Option<PathBuf>,
    /// Keep the first layer fixed (train everything else).
    #[arg(long)]
    pub freeze_conv1: bool,
    /// First-layer kernel size [default: 5; one of 3, 5, 7, 9, 11].
    #[arg(hide_default_value = true, long, default_value_t = 5)]
    pub conv1_kernel: usize,
    /// First-layer stride [default: 1; range 1..=4].
    #[arg(hide_default_value = true, long, default_value_t = 1)]
    pub conv1_stride: usize,
    /// First-layer filters [default: 32, or the --conv1-init bank's count; range 1..=1024].
    #[arg(long)]
    pub conv1_filters: Option<usize>,
    /// Second-layer filters [default: 64; range 1..=1024].
    #[arg(hide_default_value = true, long, default_value_t = 64)]
    pub conv2_filters: usize,
    /// Batch normalisation after each convolution.
    #[arg(long)]
    pub batch_norm: bool,
    /// Dropout probability before the classifier [default: 0; range [0, 1)].
    #[arg(hide_default_value = true, long, default_value_t = 0.0)]
    pub dropout: f32,
    /// Width of a hidden linear layer (with ReLU) before the classifier [default: none;
    /// range 1..=65536].
    #[arg(long)]
    pub hidden: Option<usize>,
    /// Convert colour images to grayscale.
    #[arg(long)]
    pub grayscale: bool,
    /// Random-crop padding in pixels, 0 = no crops [default: 0; range 0..=16].
    #[arg(hide_default_value = true, long, default_value_t = 0)]
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
    /// files [default: 0.2; range (0, 1)].
    #[arg(hide_default_value = true, long, default_value_t = 0.2)]
    pub test_fraction: f32,
    /// Test images used for the first-layer activation statistics [default: 256; range 1..].
    #[arg(hide_default_value = true, long, default_value_t = 256)]
    pub activation_sample: usize,
    /// Seed for initialisation, shuffling, dropout and augmentation [default: 0].
    #[arg(hide_default_value = true, long, default_value_t = 0)]
    pub seed: u64,
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
    /// Convolution to visualise: conv1, conv2, ... [default: conv2].
    #[arg(hide_default_value = true, long, default_value = "conv2")]
    pub layer: String,
    /// Output PNG (a JSON sidecar is written beside it).
    #[arg(long, value_name = "OUT.png")]
    pub out: PathBuf,
    /// Gradient-ascent steps [default: 200; range 1..=100000].
    #[arg(hide_default_value = true, long, default_value_t = 200)]
    pub steps: usize,
    /// Step size in input units per RMS-normalised gradient [default: 0.05; range (0, 10]].
    #[arg(hide_default_value = true, long, default_value_t = 0.05)]
    pub step_size: f32,
    /// L2 penalty on the input [default: 0.01; range [0, 10]].
    #[arg(hide_default_value = true, long, default_value_t = 0.01)]
    pub l2: f32,
    /// Gaussian blur of the input every 4 steps, standard deviation in pixels; 0 turns it
    /// off [default: 1; range [0, 4]].
    #[arg(hide_default_value = true, long, default_value_t = 1.0)]
    pub blur: f32,
    /// Seed of the starting noise [default: 0].
    #[arg(hide_default_value = true, long, default_value_t = 0)]
    pub seed: u64,
    /// Overwrite an existing output.
    #[arg(long)]
    pub force: bool,
}

fn in_range(option: &str, v: f32, ok: bool, range: &str) -> Result<()> {
    if ok && v.is_finite() {
        Ok(())
    } else {
        Err(Error::usage(option, v, format!("must be in {range}")))
    }
}

/// Validates the arguments into a training config.
pub fn train_config(a: &TrainArgs) -> Result<TrainConfig> {
    let data: DataSource = a.data.parse()?;
    if a.epochs > 100_000 {
        return Err(Error::usage("--epochs", a.epochs, "must be in 0..=100000"));
    }
    if !(1..=65536).contains(&a.batch_size) {
        return Err(Error::usage(
            "--batch-size",
            a.batch_size,
            "must be in 1..=65536",
        ));
    }
    in_range("--lr", a.lr, a.lr > 0.0 && a.lr <= 10.0, "(0, 10]")?;
    in_range(
        "--momentum",
        a.momentum,
        (0.0..1.0).contains(&a.momentum),
        "[0, 1)",
    )?;
    for &b in &a.betas {
        in_range("--betas", b, (0.0..1.0).contains(&b), "[0, 1)")?;
    }
    in_range(
        "--weight-decay",
        a.weight_decay,
        (0.0..=1.0).contains(&a.weight_decay),
        "[0, 1]",
    )?;
    in_range(
        "--lr-gamma",
        a.lr_gamma,
        a.lr_gamma > 0.0 && a.lr_gamma <= 1.0,
        "(0, 1]",
    )?;
    in_range(
        "--dropout",
        a.dropout,
        (0.0..1.0).contains(&a.dropout),
        "[0, 1)",
    )?;
    in_range(
        "--test-fraction",
        a.test_fraction,
        a.test_fraction > 0.0 && a.test_fraction < 1.0,
        "(0, 1)",
    )?;
    if a.lr_step == 0 {
        return Err(Error::usage("--lr-step", 0, "must be at least 1"));
    }
    if ![3, 5, 7, 9, 11].contains(&a.conv1_kernel) {
        return Err(Error::usage(
            "--conv1-kernel",
            a.conv1_kernel,
            "must be one of 3, 5, 7, 9, 11",
        ));
    }
    if !(1..=4).contains(&a.conv1_stride) {
        return Err(Error::usage(
            "--conv1-stride",
            a.conv1_stride,
            "must be in 1..=4",
        ));
    }
    if let Some(f) = a.conv1_filters
        && !(1..=1024).contains(&f)
    {
        return Err(Error::usage("--conv1-filters", f, "must be in 1..=1024"));
    }
    if !(1..=1024).contains(&a.conv2_filters) {
        return Err(Error::usage(
            "--conv2-filters",
            a.conv2_filters,
            "must be in 1..=1024",
        ));
    }
    if let Some(h) = a.hidden
        && !(1..=65536).contains(&h)
    {
        return Err(Error::usage("--hidden", h, "must be in 1..=65536"));
    }
    if a.crop_pad > 16 {
        return Err(Error::usage("--crop-pad", a.crop_pad, "must be in 0..=16"));
    }
    if a.activation_sample == 0 {
        return Err(Error::usage("--activation-sample", 0, "must be at least 1"));
    }
    if matches!(a.train_limit, Some(0)) || matches!(a.test_limit, Some(0)) {
        return Err(Error::usage(
            "--train-limit/--test-limit",
            0,
            "must be at least 1",
        ));
    }
    let mut conv1_filters = a.conv1_filters.unwrap_or(32);
    if let Some(path) = &a.conv1_init {
        let bank = crate::cnn::init::read_bank(path)?;
        if let Some(f) = a.conv1_filters
            && f != bank.filters
        {
            return Err(Error::usage(
                "--conv1-filters",
                f,
                format!(
                    "{} holds {} filters; omit --conv1-filters or make them agree",
                    path.display(),
                    bank.filters
                ),
            ));
        }
        conv1_filters = bank.filters;
    }
    Ok(TrainConfig {
        data,
        data_options: DataOptions {
            grayscale: a.grayscale,
            test_fraction: a.test_fraction,
            train_limit: a.train_limit,
            test_limit: a.test_limit,
        },
        arch: ReferenceOptions {
            conv1_filters,
            conv1_kernel: a.conv1_kernel,
            conv1_stride: a.conv1_stride,
            conv2_filters: a.conv2_filters,
            batch_norm: a.batch_norm,
            dropout: a.dropout,
            hidden: a.hidden,
        },
        init: a.init,
        conv1_init: a.conv1_init.clone(),
        freeze_conv1: a.freeze_conv1,
        loss: a.loss,
        optimizer: OptimizerConfig {
            kind: a.optimizer,
            momentum: a.momentum,
            beta1: a.betas[0],
            beta2: a.betas[1],
            eps: 1e-8,
            weight_decay: a.weight_decay,
        },
        lr: a.lr,
        schedule: a.schedule,
        lr_step: a.lr_step,
        lr_gamma: a.lr_gamma,
        epochs: a.epochs,
        batch_size: a.batch_size,
        seed: a.seed,
        augment: Augment {
            crop_pad: a.crop_pad,
            flip: a.flip,
        },
        activation_sample: a.activation_sample,
    })
}

pub fn run(command: CnnCommand, reporter: &Reporter) -> Result<()> {
    match command {
        CnnCommand::Train(a) => run_train(&a, reporter),
        CnnCommand::Eval(a) => run_eval(&a, reporter),
        CnnCommand::Visualize(a) => run_visualize(&a, reporter),
    }
}

fn run_train(a: &TrainArgs, reporter: &Reporter) -> Result<()> {
    let config = train_config(a)?;
    if a.resume && a.force {
        return Err(Error::usage(
            "--resume",
            "with --force",
            "choose one: continue the run, or overwrite it",
        ));
    }
    if a.resume {
        let ck = a.out.join("checkpoint.json");
        if !ck.exists() {
            return Err(Error::usage(
                "--resume",
                a.out.display(),
                "the folder has no checkpoint.json",
            ));
        }
    } else {
        train::check_outputs(&a.out, config.epochs, a.force)?;
    }
    let data = data::load(&config.data, &config.data_options)?;
    reporter.info(&format!(
        "{}: {} training and {} test images of {}x{}x{}, {} classes{}",
        config.data,
        data.train.len(),
        data.test.len(),
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
    crate::interrupt::install();
    let summary = train::train(&config, &data, &a.out, a.resume, reporter)?;
    if let Some(last) = summary.metrics.last() {
        reporter.info(&format!(
            "wrote {} ({} parameters): epoch {} test accuracy {:.4}",
            a.out.display(),
            summary.parameters,
            last.epoch,
            last.test_accuracy
        ));
    }
    Ok(())
}

fn run_eval(a: &EvalArgs, reporter: &Reporter) -> Result<()> {
    if let Some(out) = &a.out {
        atomic::check_output(out, a.force)?;
    }
    let (ck, net) = Checkpoint::read(&a.run)?;
    let source = match &a.data {
        Some(s) => s.parse()?,
        None => ck.config.data.clone(),
    };
    let data = data::load(&source, &ck.config.data_options)?;
    let images = if a.train_split {
        &data.train
    } else {
        &data.test
    };
    if net.shapes[0].height != images.height
        || net.shapes[0].width != images.width
        || net.shapes[0].channels != images.channels
    {
        return Err(Error::usage(
            "--data",
            source,
            "its images differ in size or channels from the run's",
        ));
    }
    let mut ws = Workspace::new();
    let (loss, acc) = train::evaluate(&net, &mut ws, images, &ck.standardiser, ck.config.loss, 256);
    let split = if a.train_split { "train" } else { "test" };
    println!(
        "{split} images {}  loss {loss:.6}  accuracy {acc:.6}",
        images.len()
    );
    if let Some(out) = &a.out {
        let mut t =
            crate::io::table::Table::new(&["run", "data", "split", "images", "loss", "accuracy"]);
        t.push(vec![
            a.run.display().to_string(),
            source.to_string(),
            split.into(),
            images.len().to_string(),
            crate::io::table::cell(loss),
            crate::io::table::cell(acc),
        ]);
        t.write(out, a.force)?;
        reporter.info(&format!("wrote {}", out.display()));
    }
    Ok(())
}

fn run_visualize(a: &VisualizeArgs, reporter: &Reporter) -> Result<()> {
    if !(1..=100_000).contains(&a.steps) {
        return Err(Error::usage("--steps", a.steps, "must be in 1..=100000"));
    }
    in_range(
        "--step-size",
        a.step_size,
        a.step_size > 0.0 && a.step_size <= 10.0,
        "(0, 10]",
    )?;
    in_range("--l2", a.l2, (0.0..=10.0).contains(&a.l2), "[0, 10]")?;
    in_range("--blur", a.blur, (0.0..=4.0).contains(&a.blur), "[0, 4]")?;
    atomic::check_output(&a.out, a.force)?;
    let side_path = sidecar::path_for(&a.out);
    atomic::check_output(&side_path, a.force)?;
    let (_, net) = Checkpoint::read(&a.run)?;
    let convs = net.spec.conv_layers();
    let which = a
        .layer
        .strip_prefix("conv")
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|&n| n >= 1 && n <= convs.len())
        .ok_or_else(|| {
            Error::usage(
                "--layer",
                &a.layer,
                format!("the network has conv1..conv{}", convs.len()),
            )
        })?;
    let mut layer = convs[which - 1];
    // Visualise the unit after its batch norm, if any: that is what the ReLU sees.
    if matches!(net.spec.layers.get(layer + 1), Some(LayerSpec::BatchNorm)) {
        layer += 1;
    }
    let options = AscentOptions {
        steps: a.steps,
        step_size: a.step_size,
        l2: a.l2,
        blur: a.blur,
        seed: a.seed,
    };
    let p = preferred_inputs(&net, layer, &options);
    let shape = [p.units, p.channels, p.side, p.side];
    let bank = crate::viz::montage::Bank::from_shape(&p.data, &shape, &a.out)?;
    let img = crate::viz::montage::render(&bank, &crate::viz::montage::MontageOptions::default());
    crate::viz::montage::write_png(&img, &a.out, a.force)?;
    let mut side = sidecar::base("cnn visualize");
    side.insert("run".into(), json!(a.run));
    side.insert("layer".into(), json!(a.layer));
    side.insert("options".into(), json!(options));
    side.insert("preferred_input_shape".into(), json!(shape));
    side.insert("responses".into(), json!(p.responses));
    sidecar::write(&side_path, &serde_json::Value::Object(side), a.force)?;
    reporter.info(&format!(
        "wrote {} ({} units, receptive field {}x{})",
        a.out.display(),
        p.units,
        p.side,
        p.side
    ));
    Ok(())
}
