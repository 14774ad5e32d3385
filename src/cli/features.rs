//! `simplecell features`: labelled images -> unsupervised single-layer features and a linear
//! classifier (Coates, Lee and Ng, AISTATS 2011). Arguments become a checked
//! [`FeaturesParams`], the data and any bank file are read and checked, and one library call
//! ([`crate::features::run`]) does the work; nothing is written until it has finished.
//! Library errors name parameter fields; `FLAGS` maps the ones not spelled as their flag.

use super::flags::{FlagNames, WithFlags};
use super::progress::Reporter;
use crate::cnn::data::{DataOptions, DataSource, load};
use crate::error::{Error, Result};
use crate::features::bank::load_bank;
use crate::features::output::{FeaturesInputs, check_outputs, write};
use crate::features::{
    BankSpace, ClassifierKind, DictionaryKind, EncoderKind, FeaturesParams, Solver, run,
};
use crate::io::sidecar::InputFile;
use clap::{Args, ValueEnum};
use std::path::PathBuf;

/// The command line's names for the library's choices: clap stays out of the library.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EncoderArg {
    SoftThreshold,
    Triangle,
    Lasso,
}

impl From<EncoderArg> for EncoderKind {
    fn from(a: EncoderArg) -> Self {
        match a {
            EncoderArg::SoftThreshold => Self::SoftThreshold,
            EncoderArg::Triangle => Self::Triangle,
            EncoderArg::Lasso => Self::Lasso,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BankSpaceArg {
    Whitened,
    Normalized,
}

impl From<BankSpaceArg> for BankSpace {
    fn from(a: BankSpaceArg) -> Self {
        match a {
            BankSpaceArg::Whitened => Self::Whitened,
            BankSpaceArg::Normalized => Self::Normalized,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClassifierArg {
    Svm,
    Logistic,
}

impl From<ClassifierArg> for ClassifierKind {
    fn from(a: ClassifierArg) -> Self {
        match a {
            ClassifierArg::Svm => Self::Svm,
            ClassifierArg::Logistic => Self::Logistic,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SolverArg {
    NewtonCg,
    Lbfgs,
}

impl From<SolverArg> for Solver {
    fn from(a: SolverArg) -> Self {
        match a {
            SolverArg::NewtonCg => Self::NewtonCg,
            SolverArg::Lbfgs => Self::Lbfgs,
        }
    }
}

/// Fields of [`FeaturesParams`] (and the pipeline's inputs) whose flag is not their name.
const FLAGS: FlagNames = &[
    ("sparse_coding_lambda", "--sc-lambda"),
    ("sparse_coding_epochs", "--sc-epochs"),
    ("bank", "--dictionary"),
];

#[derive(Debug, Args)]
#[command(
    after_help = "Defaults follow Coates, Lee and Ng (AISTATS 2011) and Coates and Ng \
(ICML 2011): 6x6 windows at stride 1, windows normalised (mean removed, divided by \
sqrt(variance + 10)) then ZCA-whitened (epsilon 0.1), soft threshold alpha = 0.25, \
4-quadrant sum pooling, an L2-SVM on features standardised with sqrt(variance + 0.01)."
)]
pub struct FeaturesArgs {
    /// Labelled images: cifar10:DIR (data_batch_*.bin, test_batch.bin), mnist:DIR or
    /// folder:DIR. Images must be square.
    #[arg(long, value_name = "FORMAT:DIR")]
    pub data: String,
    /// The bank: sparse-coding (online dictionary learning, `learn`'s rule), kmeans
    /// (spherical: unit-norm centroids), kmeans-euclidean (the AISTATS paper's Lloyd
    /// k-means), random-patches (whitened training windows), or a FILE.npy of shape
    /// (atoms, channels*size*size) or (atoms, channels, size, size) [default: kmeans].
    #[arg(
        hide_default_value = true,
        long,
        default_value = "kmeans",
        value_name = "KIND|FILE.npy"
    )]
    pub dictionary: String,
    /// Atoms to learn (ignored for a FILE.npy bank) [default: 1600; range 1..=16384].
    #[arg(hide_default_value = true, long, default_value_t = 1600)]
    pub atoms: usize,
    /// Window side in pixels [default: 6; range 1..=the image side].
    #[arg(hide_default_value = true, long, default_value_t = 6)]
    pub patch_size: usize,
    /// Step between windows in pixels [default: 1; range 1..=--patch-size].
    #[arg(hide_default_value = true, long, default_value_t = 1)]
    pub stride: usize,
    /// Encoder: soft-threshold (max(0, d.x - alpha) and max(0, -d.x - alpha), 2K features
    /// per window), triangle (max(0, mean_j ||x - c_j|| - ||x - c_k||), K features), lasso
    /// (exact lasso codes split by sign, 2K features; by far the slowest)
    /// [default: soft-threshold].
    #[arg(hide_default_value = true, long, value_enum, default_value_t = EncoderArg::SoftThreshold)]
    pub encoder: EncoderArg,
    /// Soft-threshold alpha in whitened units, for unit-norm atoms [default: 0.25, as in
    /// Coates and Ng, ICML 2011; range >= 0].
    #[arg(hide_default_value = true, long, default_value_t = 0.25)]
    pub alpha: f32,
    /// Lasso encoder's l1 weight lambda of 0.5||x - D a||^2 + lambda ||a||_1 [default: 1.0;
    /// range > 0].
    #[arg(hide_default_value = true, long, default_value_t = 1.0)]
    pub lasso_lambda: f32,
    /// Lasso encoder's relative duality gap per window [default: 1e-3; range (0, 1)].
    #[arg(hide_default_value = true, long, default_value_t = 1e-3)]
    pub lasso_tol: f64,
    /// Random training windows for the whitening and the dictionary [default: 400000;
    /// range 1..=100000000, at least --atoms].
    #[arg(hide_default_value = true, long, default_value_t = 400_000)]
    pub patches: usize,
    /// Added to each window's variance (8-bit grey levels squared) before contrast
    /// normalisation [default: 10; range >= 0].
    #[arg(hide_default_value = true, long, default_value_t = 10.0)]
    pub normalization_offset: f32,
    /// Added to the covariance eigenvalues before the ZCA inverse square root
    /// [default: 0.1; range > 0].
    #[arg(hide_default_value = true, long, default_value_t = 0.1)]
    pub zca_epsilon: f32,
    /// k-means iterations [default: 10; range 1..=10000].
    #[arg(hide_default_value = true, long, default_value_t = 10)]
    pub kmeans_iterations: usize,
    /// Sparse-coding dictionary learning's lambda [default: 1.0; range > 0].
    #[arg(hide_default_value = true, long, default_value_t = 1.0)]
    pub sc_lambda: f32,
    /// Sparse-coding dictionary learning's passes over the windows [default: 1;
    /// range (0, 1000]].
    #[arg(hide_default_value = true, long, default_value_t = 1.0)]
    pub sc_epochs: f64,
    /// Space a FILE.npy bank's atoms live in: whitened (as the learned dictionaries) or
    /// normalized (pixel-space filters: a CNN's conv1, a Gabor bank) [default: whitened].
    #[arg(hide_default_value = true, long, value_enum, default_value_t = BankSpaceArg::Whitened)]
    pub bank_space: BankSpaceArg,
    /// Classifier: svm (one-vs-all L2-SVM, squared hinge, as in the paper) or logistic
    /// (multinomial) [default: svm].
    #[arg(hide_default_value = true, long, value_enum, default_value_t = ClassifierArg::Svm)]
    pub classifier: ClassifierArg,
    /// Solver of the classifier: newton-cg (conjugate gradients on the generalised Hessian,
    /// then a backtracking line search) or lbfgs (argmin's L-BFGS) [default: lbfgs].
    #[arg(hide_default_value = true, long, value_enum, default_value_t = SolverArg::Lbfgs)]
    pub solver: SolverArg,
    /// Candidate L2 weights lambda of lambda/2 ||W||^2 + mean loss, chosen on held-out
    /// training images; the paper's C = 100 is 1e-2 [default: 1e-3,3e-3,1e-2,3e-2,1e-1;
    /// each > 0].
    #[arg(
        hide_default_value = true,
        long,
        value_delimiter = ',',
        default_value = "1e-3,3e-3,1e-2,3e-2,1e-1"
    )]
    pub lambdas: Vec<f64>,
    /// Training images held out to choose lambda (a fifth of the training set if that is
    /// smaller than 5x this) [default: 10000; range >= 1].
    #[arg(hide_default_value = true, long, default_value_t = 10_000)]
    pub validation: usize,
    /// The solver stops when ||grad|| <= tol x lambda ||W|| [default: 1e-2; range (0, 1)].
    #[arg(hide_default_value = true, long, default_value_t = 1e-2)]
    pub tol: f64,
    /// Cap on L-BFGS iterations or Newton steps (reaching it is reported) [default: 1000; range 1..=100000].
    #[arg(hide_default_value = true, long, default_value_t = 1000)]
    pub max_iter: usize,
    /// Labelled training-set sizes of the learning curve, capped at the training set;
    /// "none" for no curve [default: 1000,5000,10000,50000].
    #[arg(
        hide_default_value = true,
        long,
        default_value = "1000,5000,10000,50000"
    )]
    pub learning_curve: String,
    /// Use only this many training images (a fixed, seed-independent subset).
    #[arg(long, value_name = "N")]
    pub train_limit: Option<usize>,
    /// Use only this many test images (a fixed subset).
    #[arg(long, value_name = "N")]
    pub test_limit: Option<usize>,
    /// Convert colour images to one grey channel first [default: off].
    #[arg(long)]
    pub grayscale: bool,
    /// Images per encoder GEMM; bounds scratch memory [default: 8; range 1..=1024].
    #[arg(hide_default_value = true, long, default_value_t = 8)]
    pub encode_batch: usize,
    /// Seed of windows, dictionary, splits [default: 0].
    #[arg(hide_default_value = true, long, default_value_t = 0)]
    pub seed: u64,
    /// Output folder.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Overwrite existing outputs [default: off].
    #[arg(long)]
    pub force: bool,
}

/// The checked parameters and the bank file, if any.
fn params_from(args: &FeaturesArgs) -> Result<(FeaturesParams, Option<PathBuf>)> {
    let named = [
        ("sparse-coding", DictionaryKind::SparseCoding),
        ("kmeans", DictionaryKind::Kmeans),
        ("kmeans-euclidean", DictionaryKind::KmeansEuclidean),
        ("random-patches", DictionaryKind::RandomPatches),
    ];
    let (dictionary, bank_file) = match named.iter().find(|n| n.0 == args.dictionary) {
        Some(&(_, kind)) => (kind, None),
        None if args.dictionary.ends_with(".npy") => {
            (DictionaryKind::Given, Some(PathBuf::from(&args.dictionary)))
        }
        None => {
            return Err(Error::usage(
                "--dictionary",
                &args.dictionary,
                "must be sparse-coding, kmeans, kmeans-euclidean, random-patches or a FILE.npy",
            ));
        }
    };
    let learning_curve = if args.learning_curve == "none" || args.learning_curve.is_empty() {
        Vec::new()
    } else {
        args.learning_curve
            .split(',')
            .map(|s| {
                s.trim().parse::<usize>().map_err(|_| {
                    Error::usage(
                        "--learning-curve",
                        s,
                        "expected comma-separated image counts",
                    )
                })
            })
            .collect::<Result<_>>()?
    };
    let params = FeaturesParams {
        dictionary,
        atoms: args.atoms,
        patch_size: args.patch_size,
        stride: args.stride,
        encoder: args.encoder.into(),
        alpha: args.alpha,
        lasso_lambda: args.lasso_lambda,
        lasso_tol: args.lasso_tol,
        patches: args.patches,
        normalization_offset: args.normalization_offset,
        zca_epsilon: args.zca_epsilon,
        kmeans_iterations: args.kmeans_iterations,
        sparse_coding_lambda: args.sc_lambda,
        sparse_coding_epochs: args.sc_epochs,
        bank_space: args.bank_space.into(),
        classifier: args.classifier.into(),
        solver: args.solver.into(),
        lambdas: args.lambdas.clone(),
        validation: args.validation,
        tol: args.tol,
        max_iter: args.max_iter,
        learning_curve,
        encode_batch: args.encode_batch,
        seed: args.seed,
    };
    Ok((params, bank_file))
}

pub fn run_features(args: FeaturesArgs, reporter: &Reporter) -> Result<()> {
    let (params, bank_file) = params_from(&args)?;
    let params = params.check().flags(FLAGS)?;
    for (flag, limit) in [
        ("--train-limit", args.train_limit),
        ("--test-limit", args.test_limit),
    ] {
        if limit == Some(0) {
            return Err(Error::usage(flag, 0, "must be at least 1"));
        }
    }
    check_outputs(&args.out, args.force)?;
    let source: DataSource = args.data.parse()?;
    let data = load(
        &source,
        &DataOptions {
            grayscale: args.grayscale,
            test_fraction: 0.2,
            train_limit: args.train_limit,
            test_limit: args.test_limit,
            validation: None,
        },
    )?;
    params
        .check_images(data.train.height, data.train.width)
        .flags(FLAGS)?;
    let given = match &bank_file {
        Some(path) => Some(load_bank(path, data.train.channels, params.patch_size)?),
        None => None,
    };
    reporter.info(&format!(
        "features: {} training and {} test images, {} {} atoms, {} encoder",
        data.train.len(),
        data.test.len(),
        given.as_ref().map_or(params.atoms, |g| g.bank.ncols()),
        params.dictionary.name(),
        params.encoder.name()
    ));
    let result = run(&params, &data.train, &data.test, given.as_ref(), reporter).flags(FLAGS)?;
    let inputs = FeaturesInputs {
        data: source.to_string(),
        files: data
            .files
            .iter()
            .map(|f| InputFile::hash(f))
            .collect::<Result<_>>()?,
        train_limit: args.train_limit,
        test_limit: args.test_limit,
        grayscale: args.grayscale,
        test_held_out_of_training_files: data.held_out,
        bank_file: bank_file.as_deref().map(InputFile::hash).transpose()?,
    };
    write(&result, &args.out, args.force, &inputs)?;
    let stages: Vec<String> = result
        .timings
        .iter()
        .map(|(k, v)| format!("{k} {v:.1} s"))
        .collect();
    reporter.info(&format!(
        "features: test accuracy {:.4} (train {:.4}, held-out {:.4}; lambda {:e})\n  {}\n  wrote {}",
        result.test.value(),
        result.train.value(),
        result.validation.value(),
        result.chosen_lambda,
        stages.join(", "),
        args.out.display()
    ));
    Ok(())
}
