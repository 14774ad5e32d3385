//! `simplecell learn` and `simplecell demo`: arguments -> checked [`LearnParams`] -> one
//! [`FolderRun`] -> a summary line. On Ctrl-C (or SIGTERM) the run writes a last checkpoint
//! and the command exits 130 naming the command that resumes it.

use super::flags::{FlagNames, WithFlags};
use super::progress::Reporter;
use crate::coding::Coder;
use crate::dictionary::init::Init;
use crate::dictionary::olshausen::OfParams;
use crate::dictionary::{
    FolderRun, LearnParams, RunEnd, RunFolder, RunIntervals, StopRule, UpdateKind,
};
use crate::error::{Error, Result};
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

/// Fields of [`LearnParams`] whose flag is not their name.
pub const FLAGS: FlagNames = &[
    ("train_tol", "--tol"),
    ("train_max_iter", "--max-iter"),
    ("stop.epochs", "--epochs"),
    ("stop.steps", "--steps"),
    ("stop.seconds", "--time"),
    ("of.eta_halflife", "--of-halflife"),
];

#[derive(Debug, Args)]
pub struct LearnArgs {
    /// Patch file: float32 .npy of shape (patches, pixels), e.g. from `simplecell extract`.
    /// Memory-mapped, so it may be larger than RAM. Required unless --resume.
    #[arg(long, value_name = "P.npy")]
    pub patches: Option<PathBuf>,

    /// Number of atoms [required unless --resume; range 1..=65536].
    #[arg(long, value_name = "K")]
    pub atoms: Option<usize>,

    /// l1 weight lambda of 0.5||x - Da||^2 + lambda||a||_1 [required unless --resume; > 0]
    /// (scikit-learn's alpha, SPAMS's lambda1).
    #[arg(long, value_name = "L")]
    pub lambda: Option<f32>,

    /// Dictionary update rule: online (Mairal et al. block-coordinate descent), of
    /// (Olshausen-Field gradient + gain), mod (method of optimal directions) [default: online].
    #[arg(long, value_name = "RULE", value_parser = ["online", "of", "mod"])]
    pub update: Option<String>,

    /// Sparse coder for training batches: cd (exact: lasso homotopy, then coordinate descent), fista or
    /// ista [default: cd].
    #[arg(long, value_name = "NAME")]
    pub coder: Option<String>,

    /// Patches per minibatch [default: 256; range 1..=training patches].
    #[arg(long, value_name = "B")]
    pub batch: Option<usize>,

    /// Stop after this many passes over the training patches [default: 1; > 0, fractions ok].
    #[arg(long, value_name = "E", conflicts_with_all = ["steps", "time"])]
    pub epochs: Option<f64>,

    /// Stop after this many dictionary updates [>= 1].
    #[arg(long, value_name = "S", conflicts_with = "time")]
    pub steps: Option<u64>,

    /// Stop after this much learning time, e.g. 8h, 90m, 30s [> 0].
    #[arg(long, value_name = "DURATION")]
    pub time: Option<String>,

    /// Seed of every random choice (split, order, initial atoms) [default: 0].
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,

    /// Take the training patches in file order every epoch instead of a new seeded order
    /// (for a file that is already shuffled, like scikit-learn's shuffle=False).
    #[arg(long)]
    pub no_shuffle: bool,

    /// Initial dictionary: data (random training patches), noise, or a path to an
    /// (atoms, pixels) .npy [default: data].
    #[arg(long, value_name = "INIT")]
    pub init: Option<String>,

    /// Held-out patches for the validation objective [default: min(1000, patches/10); 0 = none].
    #[arg(long, value_name = "N")]
    pub validation: Option<usize>,

    /// Steps between history rows; each row codes the held-out set exactly [default: 50; >= 1].
    #[arg(long, value_name = "STEPS")]
    pub validate_every: Option<u64>,

    /// Re-seed an atom unused for this many training patches [default: 0 = automatic,
    /// max(20 x atoms, 10 x batch); otherwise >= batch].
    #[arg(long, value_name = "PATCHES")]
    pub dead_after: Option<u64>,

    /// Relative duality gap at which the training coder stops [default: 1e-3; range (0, 1)].
    #[arg(long, value_name = "TOL")]
    pub tol: Option<f64>,

    /// Iteration cap of the training coder [default: 300; >= 1].
    #[arg(long, value_name = "N")]
    pub max_iter: Option<usize>,

    /// Relative duality gap of the exact held-out coder [default: 1e-5; range (0, 1)].
    #[arg(long, value_name = "TOL")]
    pub exact_tol: Option<f64>,

    /// Olshausen-Field rule: initial step size, relative to each atom's Newton step
    /// [default: 0.1; > 0].
    #[arg(long, value_name = "ETA")]
    pub of_eta: Option<f32>,

    /// Olshausen-Field rule: updates after which the step size has halved [default: 1000; >= 1].
    #[arg(long, value_name = "STEPS")]
    pub of_halflife: Option<f32>,

    /// Write a checkpoint this often, e.g. 5m, 30s, 500ms [default: 5m].
    #[arg(
        hide_default_value = true,
        long,
        value_name = "DURATION",
        default_value = "5m"
    )]
    pub checkpoint_every: String,

    /// Write a fresh montage and history this often [default: 2m].
    #[arg(
        hide_default_value = true,
        long,
        value_name = "DURATION",
        default_value = "2m"
    )]
    pub montage_every: String,

    /// Continue the run saved in DIR (its checkpoint.bin); other options are taken from the
    /// checkpoint, except a new --epochs/--steps/--time.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["atoms", "lambda", "update", "coder", "batch", "seed", "no_shuffle", "init", "validation"])]
    pub resume: Option<PathBuf>,

    /// Overwrite existing outputs in --out.
    #[arg(long)]
    pub force: bool,

    /// Output folder: dictionary.npy/.json/.png, history.csv, checkpoint.bin.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Parses durations like `8h`, `90m`, `30s`, `500ms` or a bare number of seconds.
pub fn parse_duration(option: &str, text: &str) -> Result<Duration> {
    let t = text.trim();
    let (number, scale) = if let Some(n) = t.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = t.strip_suffix('h') {
        (n, 3600.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else {
        (t, 1.0)
    };
    let value: f64 = number.trim().parse().map_err(|_| {
        Error::usage(
            option,
            text,
            "expected a duration such as 8h, 90m, 30s or 500ms",
        )
    })?;
    if !(value >= 0.0 && value.is_finite() && value * scale < 1e9) {
        return Err(Error::usage(
            option,
            text,
            "must be a non-negative duration",
        ));
    }
    Ok(Duration::from_secs_f64(value * scale))
}

impl LearnArgs {
    /// Arguments of a fresh run with every optional setting at its default, for commands
    /// (demo, study) that learn a dictionary as one of their stages.
    pub fn new(patches: PathBuf, atoms: usize, lambda: f32, out: PathBuf) -> Self {
        Self {
            patches: Some(patches),
            atoms: Some(atoms),
            lambda: Some(lambda),
            update: None,
            coder: None,
            batch: None,
            epochs: None,
            steps: None,
            time: None,
            seed: None,
            no_shuffle: false,
            init: None,
            validation: None,
            validate_every: None,
            dead_after: None,
            tol: None,
            max_iter: None,
            exact_tol: None,
            of_eta: None,
            of_halflife: None,
            checkpoint_every: "5m".into(),
            montage_every: "5m".into(),
            resume: None,
            force: false,
            out: Some(out),
        }
    }
}

impl LearnArgs {
    /// The checked parameters of a fresh run.
    pub fn params(&self) -> Result<crate::params::Valid<LearnParams>> {
        let atoms = self
            .atoms
            .ok_or_else(|| Error::usage("--atoms", "missing", "required unless --resume"))?;
        let lambda = self
            .lambda
            .ok_or_else(|| Error::usage("--lambda", "missing", "required unless --resume"))?;
        let d = LearnParams::default();
        let params = LearnParams {
            atoms,
            lambda,
            update: match self.update.as_deref().unwrap_or("online") {
                "online" => UpdateKind::Online,
                "of" => UpdateKind::Of,
                "mod" => UpdateKind::Mod,
                other => return Err(Error::usage("--update", other, "must be online, of or mod")),
            },
            coder: match &self.coder {
                Some(name) => Coder::from_name(name).flags(FLAGS)?,
                None => d.coder,
            },
            batch: self.batch.unwrap_or(d.batch),
            stop: self.stop_rule()?.unwrap_or(d.stop),
            seed: self.seed.unwrap_or(d.seed),
            shuffle: !self.no_shuffle,
            init: match self.init.as_deref().unwrap_or("data") {
                "data" => Init::Data,
                "noise" => Init::Noise,
                path => Init::File(PathBuf::from(path)),
            },
            validation: self.validation,
            validate_every: self.validate_every.unwrap_or(d.validate_every),
            dead_after: self.dead_after.unwrap_or(d.dead_after),
            train_tol: self.tol.unwrap_or(d.train_tol),
            train_max_iter: self.max_iter.unwrap_or(d.train_max_iter),
            exact_tol: self.exact_tol.unwrap_or(d.exact_tol),
            exact_max_iter: d.exact_max_iter,
            of: OfParams {
                eta: self.of_eta.unwrap_or(d.of.eta),
                eta_halflife: self.of_halflife.unwrap_or(d.of.eta_halflife),
                ..d.of
            },
        };
        params.check().flags(FLAGS)
    }

    /// The stop rule the options set, if any.
    fn stop_rule(&self) -> Result<Option<StopRule>> {
        Ok(if let Some(e) = self.epochs {
            Some(StopRule::Epochs(e))
        } else if let Some(s) = self.steps {
            Some(StopRule::Steps(s))
        } else if let Some(t) = &self.time {
            Some(StopRule::Seconds(
                parse_duration("--time", t)?.as_secs_f64(),
            ))
        } else {
            None
        })
    }

    /// The checkpoint and montage intervals.
    fn intervals(&self) -> Result<RunIntervals> {
        Ok(RunIntervals {
            checkpoint_every: parse_duration("--checkpoint-every", &self.checkpoint_every)?,
            montage_every: parse_duration("--montage-every", &self.montage_every)?,
        })
    }

    /// The run these arguments describe: a fresh one, or the one in `--resume`.
    pub fn prepare(&self) -> Result<FolderRun> {
        if let Some(dir) = &self.resume {
            return FolderRun::resume(
                RunFolder::new(dir),
                self.patches.as_deref(),
                self.stop_rule()?,
            )
            .flags(FLAGS);
        }
        let params = self.params()?;
        let patches = self
            .patches
            .clone()
            .ok_or_else(|| Error::usage("--patches", "missing", "required unless --resume"))?;
        let out = self
            .out
            .clone()
            .ok_or_else(|| Error::usage("--out", "missing", "required unless --resume"))?;
        FolderRun::start(&params, &patches, RunFolder::new(out), self.force).flags(FLAGS)
    }
}

pub fn run(args: LearnArgs, reporter: &Reporter) -> Result<()> {
    let every = args.intervals()?;
    let mut prepared = args.prepare()?;
    let learner = &prepared.learner;
    reporter.info(&format!(
        "learning {} atoms on {} training patches ({} held out) with the {} rule; output in {}",
        learner.config().atoms,
        learner.train_patches(),
        learner.config().validation_len(),
        learner.config().update.name(),
        prepared.folder.dir.display()
    ));
    crate::interrupt::install();
    if prepared.run(every, reporter).flags(FLAGS)? == RunEnd::Interrupted {
        return Err(Error::Interrupted {
            resume: format!(
                "simplecell learn --resume {}",
                prepared.folder.dir.display()
            ),
        });
    }
    if let Some(r) = prepared.learner.history().last() {
        reporter.info(&format!(
            "done: {} steps, {} patches, train objective {:.5}, held-out objective {}, {:.1}% nonzero",
            r.step,
            r.patches_seen,
            r.train_objective,
            r.validation_objective.map(|v| format!("{v:.5}")).unwrap_or_else(|| "-".into()),
            100.0 * r.nonzero_fraction
        ));
    }
    Ok(())
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Output folder [default: results/demo].
    #[arg(
        hide_default_value = true,
        long,
        value_name = "DIR",
        default_value = "results/demo"
    )]
    pub out: PathBuf,

    /// Overwrite an earlier demo's outputs.
    #[arg(long)]
    pub force: bool,
}

/// `simplecell demo`: [`crate::demo::demo`] with its progress and a closing line.
pub fn run_demo(args: DemoArgs, reporter: &Reporter) -> Result<()> {
    let started = std::time::Instant::now();
    reporter.info(
        "demo: extracting 50,000 whitened 12x12 patches from the built-in dead-leaves images",
    );
    crate::interrupt::install();
    let run = crate::demo::demo(&args.out, args.force, reporter)?;
    reporter.info(&format!(
        "demo: wrote {} (montage), {} and dictionary.npy/.json in {:.1} s",
        run.folder.png().display(),
        run.folder.history().display(),
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}
