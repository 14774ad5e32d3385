//! `simplecell study`: the whole comparison in one resumable command. The flags become the
//! library's `StudyParams` (the full study's defaults, or `--quick`'s, with explicit flags
//! winning), checked, then one call to `study::run`, which prints its stages as notes.

use super::flags::{FlagNames, WithFlags};
use super::progress::Reporter;
use crate::cnn::Start;
use crate::error::Result;
use crate::params::Params;
use crate::study::{self, StudyInputs, StudyParams};
use clap::Args;
use std::path::PathBuf;

/// Every field of the study's params is named like its flag, as are `images`, `data`,
/// `out` and `resume`.
const FLAGS: FlagNames = &[];

/// The full study's settings, which the flags' defaults are.
fn full() -> StudyParams {
    StudyParams::default()
}

#[derive(Debug, Args)]
pub struct StudyArgs {
    /// Natural images for the reference dictionary (searched recursively) [default: the
    /// built-in dead-leaves images].
    #[arg(long, value_name = "DIR")]
    pub images: Option<PathBuf>,

    /// Labelled images for the CNN: cifar10:DIR, mnist:DIR or folder:DIR.
    #[arg(long, value_name = "FORMAT:DIR")]
    pub data: String,

    /// Output folder.
    #[arg(long, value_name = "DIR", default_value = "results/study")]
    pub out: PathBuf,

    /// A short study (under 10 minutes on a quiet 2-core machine): 2 seeds, 2 epochs, 5,000
    /// training images, 50,000 patches, 10 null draws. Explicit options still win.
    #[arg(long)]
    pub quick: bool,

    /// Seeds of every variant [default: 3; --quick: 2].
    #[arg(long, value_name = "N")]
    pub seeds: Option<usize>,

    /// Seed of the first replicate; replicate r uses SEED + r.
    #[arg(long, default_value_t = full().seed)]
    pub seed: u64,

    /// First-layer kernel size of the CNN and patch size of the dictionary (5, 7, 9 or 11).
    #[arg(long, default_value_t = full().kernel)]
    pub kernel: usize,

    /// First-layer filters, dictionary atoms and Gabor filters.
    #[arg(long, default_value_t = full().filters)]
    pub filters: usize,

    /// Patches for each reference dictionary [default: 200,000; --quick: 50,000].
    #[arg(long, value_name = "N")]
    pub patches: Option<usize>,

    /// Atoms of the dictionary learned from the CNN's own input (the similarity reference).
    #[arg(long, default_value_t = full().input_atoms)]
    pub input_atoms: usize,

    /// Factor on conv1's He initialisation in every run.
    #[arg(long, default_value_t = full().conv1_init_scale, value_name = "S")]
    pub conv1_init_scale: f32,

    /// Sparse coding lambda (about 8% nonzero codes on whitened 7x7 Kodak patches).
    #[arg(long, default_value_t = full().lambda)]
    pub lambda: f32,

    /// Passes of the online dictionary rule over the patches.
    #[arg(long, default_value_t = full().learn_epochs)]
    pub learn_epochs: f64,

    /// CNN epochs per run (cosine schedule) [default: 5; --quick: 2].
    #[arg(long, value_name = "E")]
    pub epochs: Option<usize>,

    /// Training images used [default: 20,000; --quick: 5,000; 0 = all].
    #[arg(long, value_name = "N")]
    pub train_limit: Option<usize>,

    /// Test images used [default: all].
    #[arg(long, value_name = "N")]
    pub test_limit: Option<usize>,

    /// Minibatch size of the CNN.
    #[arg(long, default_value_t = full().batch_size)]
    pub batch_size: usize,

    /// SGD learning rate.
    #[arg(long, default_value_t = full().lr)]
    pub lr: f32,

    /// SGD momentum.
    #[arg(long, default_value_t = full().momentum)]
    pub momentum: f32,

    /// L2 penalty (wd/2)||W||^2 of the baseline (the no-weight-decay variant drops it).
    #[arg(long, default_value_t = full().weight_decay)]
    pub weight_decay: f32,

    /// Drop probability of the dropout variant.
    #[arg(long, default_value_t = full().dropout)]
    pub dropout: f32,

    /// Test images for activation and code sparsity.
    #[arg(long, default_value_t = full().activation_sample)]
    pub activation_sample: usize,

    /// Phase-randomised surrogates per similarity null baseline [default: 20; --quick: 10].
    #[arg(long, value_name = "N")]
    pub null_draws: Option<usize>,

    /// Gradient-ascent steps for the second layer's preferred inputs.
    #[arg(long, default_value_t = full().ascent_steps)]
    pub ascent_steps: usize,

    /// Continue the study in --out (same options) from where it stopped.
    #[arg(long, conflicts_with = "force")]
    pub resume: bool,

    /// Start over, overwriting an earlier study in --out.
    #[arg(long)]
    pub force: bool,

    /// Train nothing: write the report of the runs in --out that have logged an epoch (a
    /// study still training, or stopped early). Same options as the study.
    #[arg(long, conflicts_with = "force")]
    pub report_only: bool,
}

impl StudyArgs {
    /// The preset `--quick` chooses, with every explicit flag applied over it.
    fn params(&self) -> StudyParams {
        let preset = if self.quick {
            StudyParams::quick()
        } else {
            StudyParams::default()
        };
        // 0 on the command line means every image.
        let limit = |flag: Option<usize>, preset: Option<usize>| match flag {
            Some(0) => None,
            Some(n) => Some(n),
            None => preset,
        };
        StudyParams {
            seed: self.seed,
            seeds: self.seeds.unwrap_or(preset.seeds),
            kernel: self.kernel,
            filters: self.filters,
            patches: self.patches.unwrap_or(preset.patches),
            input_atoms: self.input_atoms,
            conv1_init_scale: self.conv1_init_scale,
            lambda: self.lambda,
            learn_epochs: self.learn_epochs,
            epochs: self.epochs.unwrap_or(preset.epochs),
            train_limit: limit(self.train_limit, preset.train_limit),
            test_limit: limit(self.test_limit, preset.test_limit),
            batch_size: self.batch_size,
            lr: self.lr,
            momentum: self.momentum,
            weight_decay: self.weight_decay,
            dropout: self.dropout,
            activation_sample: self.activation_sample,
            null_draws: self.null_draws.unwrap_or(preset.null_draws),
            ascent_steps: self.ascent_steps,
            ..preset
        }
    }
}

/// Checks the flags and runs the study.
fn study(a: &StudyArgs, reporter: &Reporter) -> Result<study::StudySummary> {
    let inputs = StudyInputs::new(a.images.clone(), a.data.parse()?)?;
    let params = a.params().check()?;
    let start = if a.resume || a.report_only {
        Start::Resume
    } else {
        Start::Fresh { overwrite: a.force }
    };
    crate::interrupt::install();
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    study::run(
        &inputs,
        &params,
        &a.out,
        start,
        a.report_only,
        &command,
        reporter,
    )
}

pub fn run(a: StudyArgs, reporter: &Reporter) -> Result<()> {
    let summary = study(&a, reporter).flags(FLAGS)?;
    reporter.info(&format!(
        "study: wrote {} in {:.0} s",
        summary.report.display(),
        summary.seconds
    ));
    Ok(())
}
