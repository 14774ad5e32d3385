//! `simplecell study`: the whole comparison in one resumable command.
//!
//! Stages, each skipped on `--resume` when its outputs are complete: (1) the reference
//! (whitened patches at the CNN's kernel size, a dictionary learned from them, a Gabor bank
//! and a random bank of the same size and count); (2) the dictionary's codes on the CNN's
//! test images; (3) every CNN run of the plan (each resumes from its own checkpoint);
//! (4) measurements of every logged first layer against the dictionary, the second layer's
//! preferred inputs, and the report. Ctrl-C stops between stages or epochs with exit 130;
//! rerunning the same command with `--resume` continues, so does a run killed with SIGKILL
//! (every file is written atomically).

use super::learn::{LearnArgs, run as learn};
use super::progress::Reporter;
use crate::analysis::gabor::GaborParams;
use crate::analysis::measures::{MeasureOptions, measure_bank};
use crate::analysis::planes::{ColourMode, planes};
use crate::cnn::data::{DataOptions, DataSource, Datasets, load};
use crate::cnn::net::LayerSpec;
use crate::cnn::train::{Checkpoint, check_outputs, train};
use crate::cnn::visualize::{AscentOptions, preferred_inputs};
use crate::error::{Error, Result};
use crate::io::{atomic, npy, sidecar};
use crate::observer::Silent;
use crate::study::measure::{Reference, against_dictionary};
use crate::study::plan::{self, Run};
use crate::study::report::{Conv2Record, RunRecord, StudyResults, write_all};
use crate::study::{StudyConfig, codes, layout};
use crate::viz::montage::{self, Bank, MontageOptions};
use clap::Args;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Instant;

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

    /// A short study (under 10 minutes on 2 cores): 1 seed, 3 epochs, 3,000 training and
    /// 1,000 test images, 50,000 patches, 10 null draws. Explicit options still win.
    #[arg(long)]
    pub quick: bool,

    /// Replicates of the first-layer replacement runs [default: 3; --quick: 1].
    #[arg(long, value_name = "N")]
    pub seeds: Option<usize>,

    /// Seed of the first replicate; replicate r uses SEED + r.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// First-layer kernel size of the CNN and patch size of the dictionary (5, 7, 9 or 11).
    #[arg(long, default_value_t = 7)]
    pub kernel: usize,

    /// First-layer filters, dictionary atoms and Gabor filters.
    #[arg(long, default_value_t = 32)]
    pub filters: usize,

    /// Whitened patches for the dictionary [default: 200,000; --quick: 50,000].
    #[arg(long, value_name = "N")]
    pub patches: Option<usize>,

    /// Sparse coding lambda (about 8% nonzero codes on whitened 7x7 Kodak patches).
    #[arg(long, default_value_t = 1.5)]
    pub lambda: f32,

    /// Passes of the online dictionary rule over the patches.
    #[arg(long, default_value_t = 2.0)]
    pub learn_epochs: f64,

    /// CNN epochs per run [default: 10; --quick: 3].
    #[arg(long, value_name = "E")]
    pub epochs: Option<usize>,

    /// Training images used [default: 10,000; --quick: 3,000; 0 = all].
    #[arg(long, value_name = "N")]
    pub train_limit: Option<usize>,

    /// Test images used [default: 4,000; --quick: 1,000; 0 = all].
    #[arg(long, value_name = "N")]
    pub test_limit: Option<usize>,

    /// Minibatch size of the CNN.
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,

    /// SGD learning rate.
    #[arg(long, default_value_t = 0.01)]
    pub lr: f32,

    /// SGD momentum.
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f32,

    /// L2 penalty (wd/2)||W||^2 of the weight-decay variant.
    #[arg(long, default_value_t = 5e-3)]
    pub weight_decay: f32,

    /// Drop probability of the dropout variant.
    #[arg(long, default_value_t = 0.5)]
    pub dropout: f32,

    /// Test images for activation and code sparsity.
    #[arg(long, default_value_t = 256)]
    pub activation_sample: usize,

    /// Phase-randomised surrogates per similarity null baseline [default: 20; --quick: 10].
    #[arg(long, value_name = "N")]
    pub null_draws: Option<usize>,

    /// Gradient-ascent steps for the second layer's preferred inputs.
    #[arg(long, default_value_t = 200)]
    pub ascent_steps: usize,

    /// Continue the study in --out (same options) from where it stopped.
    #[arg(long, conflicts_with = "force")]
    pub resume: bool,

    /// Start over, overwriting an earlier study in --out.
    #[arg(long)]
    pub force: bool,
}

fn check(a: &StudyArgs) -> Result<StudyConfig> {
    let q = a.quick;
    let pick =
        |v: Option<usize>, full: usize, quick: usize| v.unwrap_or(if q { quick } else { full });
    let limit = |v: usize| (v > 0).then_some(v);
    let data: DataSource = a.data.parse()?;
    if let Some(dir) = &a.images
        && !dir.is_dir()
    {
        return Err(Error::usage("--images", dir.display(), "is not a folder"));
    }
    let config = StudyConfig {
        images: a.images.clone(),
        data,
        quick: q,
        seed: a.seed,
        seeds: pick(a.seeds, 3, 1),
        kernel: a.kernel,
        filters: a.filters,
        patches: pick(a.patches, 200_000, 50_000),
        lambda: a.lambda,
        learn_epochs: a.learn_epochs,
        epochs: pick(a.epochs, 10, 3),
        train_limit: limit(pick(a.train_limit, 10_000, 3_000)),
        test_limit: limit(pick(a.test_limit, 4_000, 1_000)),
        batch_size: a.batch_size,
        lr: a.lr,
        momentum: a.momentum,
        weight_decay: a.weight_decay,
        dropout: a.dropout,
        activation_sample: a.activation_sample,
        null_draws: pick(a.null_draws, 20, 10),
        ascent_steps: a.ascent_steps,
    };
    let c = &config;
    let bad = |flag: &str, v: String, why: &str| Err(Error::usage(flag, v, why));
    if !(1..=20).contains(&c.seeds) {
        return bad("--seeds", c.seeds.to_string(), "must be in 1..=20");
    }
    if ![5, 7, 9, 11].contains(&c.kernel) {
        return bad("--kernel", c.kernel.to_string(), "must be 5, 7, 9 or 11");
    }
    if !(4..=256).contains(&c.filters) {
        return bad("--filters", c.filters.to_string(), "must be in 4..=256");
    }
    if !(1000..=10_000_000).contains(&c.patches) {
        return bad(
            "--patches",
            c.patches.to_string(),
            "must be in 1000..=10000000",
        );
    }
    if !(c.lambda > 0.0 && c.lambda.is_finite()) {
        return bad(
            "--lambda",
            c.lambda.to_string(),
            "must be a finite number > 0",
        );
    }
    if !(c.learn_epochs > 0.0 && c.learn_epochs <= 100.0) {
        return bad(
            "--learn-epochs",
            c.learn_epochs.to_string(),
            "must be in (0, 100]",
        );
    }
    if !(1..=1000).contains(&c.epochs) {
        return bad("--epochs", c.epochs.to_string(), "must be in 1..=1000");
    }
    if !(1..=4096).contains(&c.batch_size) {
        return bad(
            "--batch-size",
            c.batch_size.to_string(),
            "must be in 1..=4096",
        );
    }
    if !(c.lr > 0.0 && c.lr <= 10.0) {
        return bad("--lr", c.lr.to_string(), "must be in (0, 10]");
    }
    if !(0.0..1.0).contains(&c.momentum) {
        return bad("--momentum", c.momentum.to_string(), "must be in [0, 1)");
    }
    if !(c.weight_decay > 0.0 && c.weight_decay <= 1.0) {
        return bad(
            "--weight-decay",
            c.weight_decay.to_string(),
            "must be in (0, 1]",
        );
    }
    if !(c.dropout > 0.0 && c.dropout < 1.0) {
        return bad("--dropout", c.dropout.to_string(), "must be in (0, 1)");
    }
    if !(1..=10_000).contains(&c.activation_sample) {
        return bad(
            "--activation-sample",
            c.activation_sample.to_string(),
            "must be in 1..=10000",
        );
    }
    if !(2..=1000).contains(&c.null_draws) {
        return bad(
            "--null-draws",
            c.null_draws.to_string(),
            "must be in 2..=1000",
        );
    }
    if !(1..=100_000).contains(&a.ascent_steps) {
        return bad(
            "--ascent-steps",
            a.ascent_steps.to_string(),
            "must be in 1..=100000",
        );
    }
    Ok(config)
}

/// Refuses to mix studies: a fresh study needs an empty place (or --force); a resumed one
/// must have been started with the same options.
fn check_folder(out: &Path, config: &StudyConfig, a: &StudyArgs) -> Result<()> {
    let side = out.join(layout::SIDECAR);
    if a.resume {
        let saved = sidecar::read(&side)?;
        let same = saved
            .get("config")
            .and_then(|c| serde_json::from_value::<StudyConfig>(c.clone()).ok())
            .is_some_and(|c| &c == config);
        if !same {
            return Err(Error::usage(
                "--resume",
                out.display(),
                format!(
                    "the study there was started with other options; see {}",
                    side.display()
                ),
            ));
        }
        return Ok(());
    }
    if side.exists() && !a.force {
        return Err(Error::usage(
            "--out",
            out.display(),
            "holds a study already: add --resume to continue it or --force to start over",
        ));
    }
    Ok(())
}

fn interrupted(out: &Path) -> Error {
    Error::Interrupted {
        resume: format!(
            "the same command with --resume (study in {})",
            out.display()
        ),
    }
}

/// Stops between stages when the user pressed Ctrl-C.
fn stop_if_asked(out: &Path) -> Result<()> {
    if crate::interrupt::requested() {
        Err(interrupted(out))
    } else {
        Ok(())
    }
}

/// A Gabor bank of `count` unit-norm filters: orientations x 2 frequencies x 2 phases
/// (cosine and sine), orientations = count / 4 rounded up, truncated to `count`.
/// Frequencies 0.15 and 0.25 cycles/pixel bracket the dictionary's typical peak (0.22 on
/// whitened 7x7 Kodak patches); envelopes as `simplecell gabor`'s default.
fn gabor_bank(count: usize, size: usize) -> Result<Vec<f32>> {
    let orientations = count.div_ceil(4);
    let mut filters = Vec::new();
    for f in [0.15f64, 0.25] {
        let sigma = (0.5 / f).min(size as f64 / 4.0);
        for o in 0..orientations {
            for phase in [0.0f64, 90.0] {
                filters.push(GaborParams {
                    x0: 0.0,
                    y0: 0.0,
                    theta: (o as f64 * 180.0 / orientations as f64).to_radians(),
                    frequency: f,
                    phase: phase.to_radians(),
                    sigma_x: sigma,
                    sigma_y: sigma,
                    amplitude: 1.0,
                });
            }
        }
    }
    filters.truncate(count);
    super::gabor::render_bank(&super::gabor::GaborBankConfig { size, filters })
}

/// `count` filters of i.i.d. Gaussian values, mean removed, unit norm (the scale of the
/// other fixed banks), from the study's seed.
fn random_bank(count: usize, size: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5EED_BA4C);
    let normal = Normal::new(0.0f64, 1.0).expect("valid normal");
    let n = size * size;
    let mut out = Vec::with_capacity(count * n);
    for _ in 0..count {
        let mut v: Vec<f64> = (0..n).map(|_| normal.sample(&mut rng)).collect();
        crate::linalg::normalise::zero_mean_unit_norm(&mut v);
        out.extend(v.iter().map(|&x| x as f32));
    }
    out
}

fn write_bank(out: &Path, rel: &str, data: &[f32], count: usize, size: usize) -> Result<()> {
    let path = out.join(rel);
    let shape = [count, size * size];
    npy::write(&path, &shape, data, true)?;
    let bank = Bank::from_shape(data, &shape, &path)?;
    montage::write_png(
        &montage::render(&bank, &MontageOptions::default()),
        &path.with_extension("png"),
        true,
    )
}

/// Stage 1: patches, dictionary, Gabor and random banks.
fn reference(out: &Path, c: &StudyConfig, reporter: &Reporter) -> Result<()> {
    let dir = out.join(layout::REFERENCE);
    atomic::ensure_dir(&dir)?;
    let patches = out.join(layout::PATCHES);
    if !(patches.exists() && sidecar::path_for(&patches).exists()) {
        reporter.info(&format!(
            "study: extracting {} whitened {k}x{k} patches",
            c.patches,
            k = c.kernel
        ));
        let extract = crate::patches::ExtractConfig {
            source: match &c.images {
                Some(d) => crate::patches::ImageSource::Folder(d.clone()),
                None => crate::patches::ExtractConfig::default().source,
            },
            patch_size: c.kernel,
            count: c.patches,
            seed: c.seed,
            ..Default::default()
        };
        crate::patches::extract(&extract, &patches, true, reporter)?;
    }
    stop_if_asked(out)?;
    if !sidecar::path_for(&out.join(layout::DICTIONARY)).exists() {
        reporter.info(&format!(
            "study: learning {} atoms (lambda {})",
            c.filters, c.lambda
        ));
        let args = if dir.join("checkpoint.bin").exists() {
            LearnArgs {
                resume: Some(dir.clone()),
                patches: None,
                atoms: None,
                lambda: None,
                out: None,
                ..LearnArgs::new(patches, c.filters, c.lambda, dir.clone())
            }
        } else {
            LearnArgs {
                epochs: Some(c.learn_epochs),
                seed: Some(c.seed),
                force: true,
                ..LearnArgs::new(patches, c.filters, c.lambda, dir.clone())
            }
        };
        learn(args, reporter).map_err(|e| match e {
            Error::Interrupted { .. } => interrupted(out),
            e => e,
        })?;
    }
    write_bank(
        out,
        layout::GABOR,
        &gabor_bank(c.filters, c.kernel)?,
        c.filters,
        c.kernel,
    )?;
    write_bank(
        out,
        layout::RANDOM,
        &random_bank(c.filters, c.kernel, c.seed),
        c.filters,
        c.kernel,
    )
}

fn read_bank(path: &Path) -> Result<(Vec<usize>, Vec<f32>)> {
    let a = npy::read(path)?;
    Ok((a.shape, a.data))
}

/// Stage 3: one CNN run, fresh, resumed, or skipped when finished.
fn cnn_run(
    out: &Path,
    c: &StudyConfig,
    run: &Run,
    data: &Datasets,
    reporter: &Reporter,
) -> Result<()> {
    let dir = run.dir(out);
    let config = plan::train_config(c, run, out);
    let done = match Checkpoint::read(&dir) {
        Ok((ck, _)) if ck.config == config => Some(ck.epochs_done),
        _ => None,
    };
    if done == Some(c.epochs) {
        return Ok(());
    }
    reporter.info(&format!("study: training {}", run.name()));
    let resume = done.is_some();
    if !resume {
        check_outputs(&dir, c.epochs, true)?;
    }
    train(&config, data, &dir, resume, reporter)
        .map(|_| ())
        .map_err(|e| match e {
            Error::Interrupted { .. } => interrupted(out),
            e => e,
        })
}

/// Stage 4a: every epoch's first layer of `run` against the dictionary.
fn measure_run(
    out: &Path,
    c: &StudyConfig,
    run: &Run,
    dictionary: &Reference,
) -> Result<RunRecord> {
    let dir = run.dir(out);
    let (ck, _) = Checkpoint::read(&dir)?;
    let mut banks = Vec::with_capacity(c.epochs + 1);
    for epoch in 0..=c.epochs {
        let path = dir.join(format!("conv1_epoch_{epoch:03}.npy"));
        let (shape, data) = read_bank(&path)?;
        let bank = Bank::from_shape(&data, &shape, &path)?;
        banks.push(against_dictionary(&bank, dictionary));
    }
    Ok(RunRecord {
        run: run.clone(),
        metrics: ck.metrics,
        banks,
    })
}

/// Stage 4b: preferred inputs of the second convolution's units in `run`.
fn conv2(out: &Path, c: &StudyConfig, run: &Run) -> Result<Conv2Record> {
    let (_, net) = Checkpoint::read(&run.dir(out))?;
    let convs = net.spec.conv_layers();
    let mut layer = *convs
        .get(1)
        .ok_or_else(|| Error::failed("visualising conv2", "the network has one convolution"))?;
    if matches!(net.spec.layers.get(layer + 1), Some(LayerSpec::BatchNorm)) {
        layer += 1;
    }
    let p = preferred_inputs(
        &net,
        layer,
        &AscentOptions {
            steps: c.ascent_steps,
            step_size: 0.05,
            l2: 0.01,
            blur: 1.0,
            seed: c.seed,
        },
    );
    let shape = [p.units, p.channels, p.side, p.side];
    let png = out.join(layout::CONV2_PNG);
    let bank = Bank::from_shape(&p.data, &shape, &png)?;
    montage::write_png(
        &montage::render(&bank, &MontageOptions::default()),
        &png,
        true,
    )?;
    let measures = measure_bank(
        &planes(&bank, ColourMode::Luminance),
        &MeasureOptions {
            seed: c.seed,
            ..Default::default()
        },
        &Silent,
    );
    Ok(Conv2Record {
        run: run.name(),
        responses: p.responses,
        measures,
    })
}

fn load_data(c: &StudyConfig, grayscale: bool) -> Result<Datasets> {
    load(
        &c.data,
        &DataOptions {
            grayscale,
            test_fraction: 0.2,
            train_limit: c.train_limit,
            test_limit: c.test_limit,
        },
    )
}

/// Earlier invocations of the study in `out` (command line and wall seconds each), from its
/// sidecar, so a resumed study still reports how it was started and what it cost in all.
fn earlier_invocations(out: &Path) -> Vec<Value> {
    sidecar::read(&out.join(layout::SIDECAR))
        .ok()
        .and_then(|v| v.get("invocations").and_then(Value::as_array).cloned())
        .unwrap_or_default()
}

fn write_sidecar(out: &Path, c: &StudyConfig, invocations: &[Value], extra: Value) -> Result<()> {
    let mut side = sidecar::base("study");
    side.insert("invocations".into(), json!(invocations));
    side.insert("config".into(), json!(c));
    side.insert("threads".into(), json!(rayon::current_num_threads()));
    side.insert(
        "runs".into(),
        json!(plan::runs(c).iter().map(Run::name).collect::<Vec<_>>()),
    );
    if let Value::Object(m) = extra {
        side.extend(m);
    }
    sidecar::write(&out.join(layout::SIDECAR), &Value::Object(side), true)
}

pub fn run(a: StudyArgs, reporter: &Reporter) -> Result<()> {
    let config = check(&a)?;
    let out = a.out.clone();
    check_folder(&out, &config, &a)?;
    crate::interrupt::install();
    atomic::ensure_dir(&out)?;
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let started = Instant::now();
    // The sidecar is rewritten after every CNN run, so a killed invocation keeps its entry
    // with the time up to its last finished run.
    let mut invocations = if a.resume {
        earlier_invocations(&out)
    } else {
        Vec::new()
    };
    invocations.push(json!({"command_line": command, "seconds": 0.0, "finished": false}));
    let invocation = |seconds: f64, finished: bool| json!({"command_line": command, "seconds": seconds, "finished": finished});
    write_sidecar(&out, &config, &invocations, json!({"status": "running"}))?;
    let mut timings = serde_json::Map::new();
    let mut lap = |name: &str, t: &mut Instant| {
        timings.insert(name.into(), json!(t.elapsed().as_secs_f64()));
        *t = Instant::now();
    };
    let mut t = Instant::now();
    reference(&out, &config, reporter)?;
    lap("reference", &mut t);
    let (dict_shape, dict_data) = read_bank(&out.join(layout::DICTIONARY))?;
    let dict_path = out.join(layout::DICTIONARY);
    let dictionary = Bank::from_shape(&dict_data, &dict_shape, &dict_path)?;
    let gray = load_data(&config, true)?;
    reporter.info("study: coding the test images with the dictionary");
    let code_sparsity = codes::code_sparsity(
        &gray.test,
        config.activation_sample,
        &dict_data,
        dictionary.count,
        config.kernel,
        config.lambda,
    )?;
    lap("dictionary_codes", &mut t);
    let runs = plan::runs(&config);
    let mut colour: Option<Datasets> = None;
    for run in &runs {
        stop_if_asked(&out)?;
        let data = if run.variant.colour {
            if colour.is_none() {
                colour = Some(load_data(&config, false)?);
            }
            colour.as_ref().expect("just loaded")
        } else {
            &gray
        };
        cnn_run(&out, &config, run, data, reporter)?;
        let last = invocations.len() - 1;
        invocations[last] = invocation(started.elapsed().as_secs_f64(), false);
        write_sidecar(&out, &config, &invocations, json!({"status": "running"}))?;
    }
    lap("cnn_runs", &mut t);
    reporter.info("study: measuring every logged first layer");
    let reference = Reference::new(dictionary, config.null_draws, config.seed);
    let mut records = Vec::with_capacity(runs.len());
    for run in &runs {
        stop_if_asked(&out)?;
        records.push(measure_run(&out, &config, run, &reference)?);
    }
    let mut references = Vec::new();
    for (name, rel) in [
        ("dictionary", layout::DICTIONARY),
        ("gabor", layout::GABOR),
        ("random", layout::RANDOM),
    ] {
        let path = out.join(rel);
        let (shape, data) = read_bank(&path)?;
        let bank = Bank::from_shape(&data, &shape, &path)?;
        references.push((name, against_dictionary(&bank, &reference)));
    }
    lap("measurements", &mut t);
    let plain = runs
        .first()
        .expect("the plan starts with the plain run")
        .clone();
    let conv2 = conv2(&out, &config, &plain)?;
    lap("conv2", &mut t);
    let last = invocations.len() - 1;
    invocations[last] = invocation(started.elapsed().as_secs_f64(), true);
    let results = StudyResults {
        config: config.clone(),
        invocations: invocations.clone(),
        runs: records,
        references,
        codes: code_sparsity.clone(),
        conv2,
    };
    write_all(&out, &results)?;
    lap("report", &mut t);
    invocations[last] = invocation(started.elapsed().as_secs_f64(), true);
    write_sidecar(
        &out,
        &config,
        &invocations,
        json!({
            "status": "finished",
            "stage_seconds_last_invocation": timings,
            "dictionary_codes": code_sparsity,
            "inputs": {
                "dictionary_sha256": sidecar::sha256_file(&dict_path)?,
                "patches_sidecar": out.join(layout::PATCHES).with_extension("json"),
            },
        }),
    )?;
    reporter.info(&format!(
        "study: wrote {} in {:.0} s",
        out.join(layout::REPORT).display(),
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}
