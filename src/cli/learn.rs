//! `simplecell learn` and `simplecell demo`: dictionary learning runs.
//!
//! `learn` validates its options into a [`LearnConfig`], checks every output before any work,
//! then drives the [`Learner`] step by step: a history row every `--validate-every` steps, a
//! fresh montage and history every `--montage-every`, an atomic checkpoint every
//! `--checkpoint-every`, and on Ctrl-C (or SIGTERM) a last checkpoint and exit code 130 with
//! the command that resumes the run.

use super::progress::Reporter;
use crate::dictionary::checkpoint;
use crate::dictionary::data::PatchSource;
use crate::dictionary::init::Init;
use crate::dictionary::olshausen::OfParams;
use crate::dictionary::{LearnConfig, Learner, StopRule, UpdateKind};
use crate::error::{Error, Result};
use crate::io::{atomic, npy, sidecar, table};
use crate::observer::Progress;
use crate::viz::montage;
use clap::Args;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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

/// The files a run writes into its folder.
pub struct Outputs {
    pub dir: PathBuf,
}

impl Outputs {
    pub fn dictionary(&self) -> PathBuf {
        self.dir.join("dictionary.npy")
    }
    pub fn png(&self) -> PathBuf {
        self.dir.join("dictionary.png")
    }
    pub fn history(&self) -> PathBuf {
        self.dir.join("history.csv")
    }
    pub fn checkpoint(&self) -> PathBuf {
        self.dir.join("checkpoint.bin")
    }
    fn all(&self) -> [PathBuf; 5] {
        [
            self.dictionary(),
            sidecar::path_for(&self.dictionary()),
            self.png(),
            self.history(),
            self.checkpoint(),
        ]
    }
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

/// A run ready to go: the learner and where its data and outputs are.
pub struct Run {
    pub learner: Learner,
    pub outputs: Outputs,
    pub patches_path: String,
    pub patches_sha256: String,
    pub resumed: bool,
}

fn build_config(a: &LearnArgs) -> Result<LearnConfig> {
    let atoms = a
        .atoms
        .ok_or_else(|| Error::usage("--atoms", "missing", "required unless --resume"))?;
    let lambda = a
        .lambda
        .ok_or_else(|| Error::usage("--lambda", "missing", "required unless --resume"))?;
    let mut c = LearnConfig::new(atoms, lambda);
    c.update = match a.update.as_deref().unwrap_or("online") {
        "online" => UpdateKind::Online,
        "of" => UpdateKind::Of,
        "mod" => UpdateKind::Mod,
        other => return Err(Error::usage("--update", other, "must be online, of or mod")),
    };
    if let Some(coder) = &a.coder {
        c.coder = coder.clone();
    }
    if let Some(b) = a.batch {
        c.batch = b;
    }
    if let Some(s) = a.seed {
        c.seed = s;
    }
    c.shuffle = !a.no_shuffle;
    c.init = match a.init.as_deref().unwrap_or("data") {
        "data" => Init::Data,
        "noise" => Init::Noise,
        path => Init::File(PathBuf::from(path)),
    };
    if let Some(v) = a.validate_every {
        c.validate_every = v;
    }
    if let Some(v) = a.dead_after {
        c.dead_after = v;
    }
    if let Some(v) = a.tol {
        c.train_tol = v;
    }
    if let Some(v) = a.max_iter {
        c.train_max_iter = v;
    }
    if let Some(v) = a.exact_tol {
        c.exact_tol = v;
    }
    c.of = OfParams {
        eta: a.of_eta.unwrap_or(OfParams::default().eta),
        eta_halflife: a.of_halflife.unwrap_or(OfParams::default().eta_halflife),
        ..OfParams::default()
    };
    Ok(c)
}

fn stop_rule(a: &LearnArgs) -> Result<Option<StopRule>> {
    Ok(if let Some(e) = a.epochs {
        Some(StopRule::Epochs(e))
    } else if let Some(s) = a.steps {
        Some(StopRule::Steps(s))
    } else if let Some(t) = &a.time {
        Some(StopRule::Seconds(
            parse_duration("--time", t)?.as_secs_f64(),
        ))
    } else {
        None
    })
}

/// Validates the arguments, checks the outputs and builds (or restores) the learner.
pub fn prepare(a: &LearnArgs) -> Result<Run> {
    let stop = stop_rule(a)?;
    if let Some(dir) = &a.resume {
        let outputs = Outputs { dir: dir.clone() };
        let (meta, values) = checkpoint::read(&outputs.checkpoint())?;
        let path = a
            .patches
            .clone()
            .unwrap_or_else(|| PathBuf::from(&meta.patches_path));
        let source = PatchSource::open(&path)?;
        let sha = sidecar::sha256_file(&path)?;
        if sha != meta.patches_sha256 {
            return Err(Error::bad_input(
                &path,
                "sha256",
                &sha,
                format!(
                    "the run was started on a different file (sha256 {})",
                    meta.patches_sha256
                ),
            ));
        }
        let mut learner = checkpoint::restore(&meta, &values, source)?;
        if let Some(stop) = stop {
            learner.set_stop(stop)?;
        }
        return Ok(Run {
            learner,
            outputs,
            patches_path: path.to_string_lossy().into_owned(),
            patches_sha256: sha,
            resumed: true,
        });
    }
    let mut config = build_config(a)?;
    if let Some(stop) = stop {
        config.stop = stop;
    }
    let patches = a
        .patches
        .clone()
        .ok_or_else(|| Error::usage("--patches", "missing", "required unless --resume"))?;
    let out = a
        .out
        .clone()
        .ok_or_else(|| Error::usage("--out", "missing", "required unless --resume"))?;
    let outputs = Outputs { dir: out };
    for path in outputs.all() {
        atomic::check_output(&path, a.force)?;
    }
    let source = PatchSource::open(&patches)?;
    config.validation = a
        .validation
        .unwrap_or_else(|| (source.len() / 10).min(1000));
    let config = config.check(source.len())?;
    let sha = sidecar::sha256_file(&patches)?;
    atomic::ensure_dir(&outputs.dir)?;
    let learner = Learner::new(config, source)?;
    Ok(Run {
        learner,
        outputs,
        patches_path: patches.to_string_lossy().into_owned(),
        patches_sha256: sha,
        resumed: false,
    })
}

fn write_history(learner: &Learner, path: &Path) -> Result<()> {
    let mut t = table::Table::new(&[
        "step",
        "seconds",
        "patches_seen",
        "train_objective",
        "validation_objective",
        "nonzero_fraction",
        "atoms_reseeded",
        "relative_dictionary_change",
    ]);
    for r in learner.history() {
        t.push(vec![
            r.step.to_string(),
            format!("{:.3}", r.seconds),
            r.patches_seen.to_string(),
            table::cell(r.train_objective),
            r.validation_objective.map(table::cell).unwrap_or_default(),
            table::cell(r.nonzero_fraction),
            r.atoms_reseeded.to_string(),
            table::cell(r.relative_dictionary_change),
        ]);
    }
    t.write(path, true)
}

fn write_montage(learner: &Learner, path: &Path) -> Result<()> {
    let d = learner.unit_dictionary();
    let usage = learner.usage();
    let mut order: Vec<usize> = (0..usage.len()).collect();
    order.sort_by(|&a, &b| usage[b].cmp(&usage[a]).then(a.cmp(&b)));
    let shape = [d.ncols(), d.nrows()];
    let bank = montage::Bank::from_shape(d.as_slice(), &shape, path)?;
    let img = montage::render(
        &bank,
        &montage::MontageOptions {
            order: Some(order),
            ..Default::default()
        },
    );
    montage::write_png(&img, path, true)
}

fn write_final(run: &Run) -> Result<()> {
    let learner = &run.learner;
    let d = learner.unit_dictionary();
    npy::write(
        &run.outputs.dictionary(),
        &[d.ncols(), d.nrows()],
        d.as_slice(),
        true,
    )?;
    let t = &learner.state().tally;
    let last = learner.history().last();
    let mut meta = sidecar::base("learn");
    meta.insert(
        "inputs".into(),
        json!({ "patches": { "path": run.patches_path, "sha256": run.patches_sha256,
                             "shape": [learner.source().len(), learner.source().pixels()] } }),
    );
    meta.insert(
        "parameters".into(),
        serde_json::to_value(learner.config()).unwrap_or_default(),
    );
    meta.insert("seed".into(), json!(learner.config().seed));
    meta.insert("threads".into(), json!(rayon::current_num_threads()));
    meta.insert(
        "timings".into(),
        json!({ "learning_seconds": t.seconds, "coding_seconds": t.coding_seconds,
                "update_seconds": t.update_seconds, "validation_seconds": t.validation_seconds }),
    );
    meta.insert(
        "final".into(),
        json!({ "steps": learner.step_count(), "patches_seen": learner.patches_seen(),
                "train_objective": last.map(|r| r.train_objective),
                "validation_objective": last.and_then(|r| r.validation_objective),
                "nonzero_fraction": last.map(|r| r.nonzero_fraction),
                "atoms_reseeded_total": t.reseeded_total,
                "atom_usage_heldout": learner.usage() }),
    );
    meta.insert("update_rule_state".into(), learner.rule().summary());
    meta.insert("resumed".into(), json!(run.resumed));
    sidecar::write(
        &sidecar::path_for(&run.outputs.dictionary()),
        &serde_json::Value::Object(meta),
        true,
    )?;
    write_montage(learner, &run.outputs.png())?;
    write_history(learner, &run.outputs.history())
}

fn save_checkpoint(run: &Run) -> Result<()> {
    checkpoint::save(
        &run.learner,
        &run.outputs.checkpoint(),
        &run.patches_path,
        &run.patches_sha256,
    )?;
    write_history(&run.learner, &run.outputs.history())
}

/// Drives a prepared run to its end, with checkpoints, montages and interrupt handling.
pub fn drive(
    run: &mut Run,
    checkpoint_every: Duration,
    montage_every: Duration,
    progress: &dyn Progress,
) -> Result<()> {
    crate::interrupt::install();
    let resume_hint = format!("simplecell learn --resume {}", run.outputs.dir.display());
    if run.learner.history().is_empty() {
        run.learner.record_row()?;
        save_checkpoint(run)?;
        write_montage(&run.learner, &run.outputs.png())?;
    }
    let mut last_checkpoint = Instant::now();
    let mut last_montage = Instant::now();
    let total = run.learner.total_steps();
    progress.start("learn", total);
    while !run.learner.finished() {
        if crate::interrupt::requested() {
            save_checkpoint(run)?;
            write_montage(&run.learner, &run.outputs.png())?;
            progress.finish("interrupted; checkpoint written");
            return Err(Error::Interrupted {
                resume: resume_hint,
            });
        }
        run.learner.step()?;
        if run.learner.row_due() {
            run.learner.record_row()?;
        }
        if last_checkpoint.elapsed() >= checkpoint_every {
            save_checkpoint(run)?;
            last_checkpoint = Instant::now();
        }
        if last_montage.elapsed() >= montage_every {
            write_montage(&run.learner, &run.outputs.png())?;
            last_montage = Instant::now();
        }
        progress.advance(run.learner.step_count(), &run.learner.status());
    }
    save_checkpoint(run)?;
    write_final(run)?;
    progress.finish(&run.learner.status());
    Ok(())
}

pub fn run(args: LearnArgs, reporter: &Reporter) -> Result<()> {
    let checkpoint_every = parse_duration("--checkpoint-every", &args.checkpoint_every)?;
    let montage_every = parse_duration("--montage-every", &args.montage_every)?;
    let mut prepared = prepare(&args)?;
    reporter.info(&format!(
        "learning {} atoms on {} training patches ({} held out) with the {} rule; output in {}",
        prepared.learner.config().atoms,
        prepared.learner.train_patches(),
        prepared.learner.config().validation,
        prepared.learner.config().update.name(),
        prepared.outputs.dir.display()
    ));
    drive(&mut prepared, checkpoint_every, montage_every, reporter)?;
    let last = prepared.learner.history().last().cloned();
    if let Some(r) = last {
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

/// The README's first command: 50,000 whitened 12x12 patches from the built-in dead-leaves
/// images (extraction defaults otherwise), then one epoch of the online rule with 144 atoms
/// and lambda 1.0 (about 5% nonzero codes), writing the usual run outputs plus the patches.
pub fn run_demo(args: DemoArgs, reporter: &Reporter) -> Result<()> {
    let started = Instant::now();
    let patches = args.out.join("patches.npy");
    let outputs = Outputs {
        dir: args.out.clone(),
    };
    atomic::check_output(&patches, args.force)?;
    for path in outputs.all() {
        atomic::check_output(&path, args.force)?;
    }
    atomic::ensure_dir(&args.out)?;
    let extract = crate::patches::ExtractConfig {
        count: 50_000,
        ..Default::default()
    };
    reporter.info(
        "demo: extracting 50,000 whitened 12x12 patches from the built-in dead-leaves images",
    );
    crate::patches::extract(&extract, &patches, args.force, reporter)?;
    let learn = LearnArgs {
        epochs: Some(1.0),
        validate_every: Some(20),
        montage_every: "2m".into(),
        force: args.force,
        ..LearnArgs::new(patches, 144, 1.0, args.out.clone())
    };
    run(learn, reporter)?;
    reporter.info(&format!(
        "demo: wrote {} (montage), {} and dictionary.npy/.json in {:.1} s",
        outputs.png().display(),
        outputs.history().display(),
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}
