//! The study's stage runner: [`run`] takes the checked settings and an output folder through
//! its stages ((1) [`super::reference`], (2) [`super::codes`], (3) [`super::training`],
//! (4) [`super::measure`], (5) [`super::front_ends`], (6) [`super::dropout_ridge`],
//! (7) [`super::losses`], then [`super::report`]), skipping what an earlier invocation
//! finished. An interrupt is honoured between stages and runs (and inside each CNN run,
//! between batches) with [`Error::Interrupted`]; every file is written atomically, so the
//! same call with [`Start::Resume`] continues after an interrupt or a SIGKILL.
//!
//! `study.json` records the settings, the runs, and every invocation that worked on the
//! folder; it is rewritten after every CNN run, so a killed invocation keeps its entry.

use super::codes::{self, CodeSparsity};
use super::dropout_ridge;
use super::front_ends;
use super::input_reference::{self, InputStatistics};
use super::layout;
use super::losses;
use super::measure::{self, Measuring, Reference};
use super::params::{StudyInputs, StudyRecord, ValidStudyParams};
use super::plan::{self, Run};
use super::reference;
use super::report::{StudyResults, write_all};
use super::training::{self, Images, cnn_run};
use crate::cnn::Start;
use crate::error::{Error, Result};
use crate::io::sidecar::{self, Provenance};
use crate::io::{atomic, npy};
use crate::observer::Progress;
use crate::viz::montage::Bank;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What a finished study reports.
#[derive(Debug, Clone, PartialEq)]
pub struct StudySummary {
    pub report: PathBuf,
    /// Wall time of this invocation.
    pub seconds: f64,
}

/// The error every interrupted stage returns, naming the study to resume.
pub(super) fn interrupted(out: &Path) -> Error {
    Error::Interrupted {
        resume: format!(
            "the same command with --resume (study in {})",
            out.display()
        ),
    }
}

/// Stops between stages when the user asked the process to stop.
pub(super) fn stop_if_asked(out: &Path) -> Result<()> {
    if crate::interrupt::requested() {
        Err(interrupted(out))
    } else {
        Ok(())
    }
}

/// An interrupt inside a stage (the dictionary run, a CNN run) resumes through the study.
fn as_study_interrupt(out: &Path) -> impl Fn(Error) -> Error + '_ {
    move |e| match e {
        Error::Interrupted { .. } => interrupted(out),
        e => e,
    }
}

/// Refuses to mix studies: a fresh study needs an empty place (or `overwrite`); a resumed
/// one must have been started with the same record.
fn check_folder(out: &Path, record: &StudyRecord, start: Start) -> Result<()> {
    let side = out.join(layout::SIDECAR);
    match start {
        Start::Resume => {
            let saved = sidecar::read(&side)?;
            let same = saved
                .get("config")
                .and_then(|c| serde_json::from_value::<StudyRecord>(c.clone()).ok())
                .is_some_and(|c| &c == record);
            if !same {
                // Name the first option that differs, with both values.
                let now = serde_json::to_value(record).unwrap_or_default();
                let then = saved.get("config").cloned().unwrap_or_default();
                let which = sidecar::first_difference(&then, &now)
                    .map(|(field, was, is)| format!("`{field}` was {was} and is now {is}"))
                    .unwrap_or_else(|| "its saved options are unreadable".into());
                return Err(Error::param(
                    "resume",
                    out.display(),
                    format!(
                        "the study there was started with other options: {which}; see {}",
                        side.display()
                    ),
                ));
            }
        }
        Start::Fresh { overwrite } if side.exists() && !overwrite => {
            return Err(Error::param(
                "out",
                out.display(),
                "holds a study already: add `resume` to continue it or `force` to start over",
            ));
        }
        Start::Fresh { overwrite: true } if side.exists() => start_over(out)?,
        Start::Fresh { .. } => {}
    }
    Ok(())
}

/// `force` over a folder that holds a study: removes what the study wrote (its `reference/`
/// and `runs/` folders and its top-level tables, plots, report and sidecar), so no finished
/// run of the older study is reused or left beside the new one. Other files stay.
fn start_over(out: &Path) -> Result<()> {
    use layout::*;
    for dir in [REFERENCE, RUNS, FRONT_ENDS, LOSSES] {
        let dir = out.join(dir);
        if dir.is_dir() {
            std::fs::remove_dir_all(&dir).map_err(|source| Error::Write { path: dir, source })?;
        }
    }
    let files = [
        SIDECAR,
        REPORT,
        ACCURACY,
        ACCURACY_SUMMARY,
        SIMILARITY,
        SPARSITY,
        REFERENCE_BANKS,
        CODES,
        GABOR_PARAMETERS,
        CONV2_UNITS,
        CONV2_PNG,
        CONV2_INITIAL_PNG,
        TOP9,
        TOP9_SUMMARY,
        FRONT_ENDS_CSV,
        FRONT_ENDS_PNG,
        CONV1_TOP9_PNG,
        CONV2_TOP9_PNG,
        CONV1_TOP9_INITIAL_PNG,
        CONV2_TOP9_INITIAL_PNG,
        SIMILARITY_PNG,
        SPARSITY_PNG,
        FILTER_SPARSITY_PNG,
        NXNY_PNG,
        R2_PNG,
        ORIENTATION_PNG,
        FREQUENCY_PNG,
        ACCURACY_PNG,
        DROPOUT_RIDGE,
        DROPOUT_LOGISTIC,
        DROPOUT_RIDGE_PNG,
        LOSSES_CSV,
        LOSSES_SUMMARY,
        LOSSES_PNG,
    ];
    atomic::remove_outputs(&files.iter().map(|f| out.join(f)).collect::<Vec<_>>())
}

/// One invocation that worked on a study folder, as `study.json` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Invocation {
    pub command_line: String,
    /// Wall time up to its last finished CNN run, or to its end.
    pub seconds: f64,
    /// Whether it reached the end of the study.
    pub finished: bool,
}

/// What `study.json` records besides the shared provenance fields.
#[derive(Serialize)]
struct Sidecar<'a> {
    invocations: &'a [Invocation],
    config: &'a StudyRecord,
    threads: usize,
    runs: &'a [String],
    status: &'static str,
    #[serde(flatten)]
    finished: Option<&'a Finished>,
}

/// What a finished study adds to `study.json`.
#[derive(Serialize)]
struct Finished {
    stage_seconds_last_invocation: serde_json::Map<String, Value>,
    dictionary_codes: CodeSparsity,
    inputs: FinishedInputs,
}

#[derive(Serialize)]
struct FinishedInputs {
    dictionary_sha256: String,
    patches_sidecar: PathBuf,
}

/// `study.json`, rewritten as the study goes.
struct StudySidecar<'a> {
    out: &'a Path,
    record: &'a StudyRecord,
    runs: Vec<String>,
    /// Earlier invocations, then this one.
    invocations: Vec<Invocation>,
    started: Instant,
}

impl<'a> StudySidecar<'a> {
    fn new(
        out: &'a Path,
        record: &'a StudyRecord,
        runs: &[Run],
        start: Start,
        command_line: &str,
    ) -> Self {
        let mut invocations = if start == Start::Resume {
            // A resumed study still reports how it was started and what it cost in all.
            sidecar::read(&out.join(layout::SIDECAR))
                .ok()
                .and_then(|v| v.get("invocations").cloned())
                .and_then(|v| serde_json::from_value(v).ok())
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        invocations.push(Invocation {
            command_line: command_line.to_string(),
            seconds: 0.0,
            finished: false,
        });
        Self {
            out,
            record,
            runs: runs.iter().map(Run::name).collect(),
            invocations,
            started: Instant::now(),
        }
    }

    /// Brings this invocation's entry up to date.
    fn stamp(&mut self, finished: bool) {
        let this = self.invocations.last_mut().expect("this invocation");
        this.seconds = self.started.elapsed().as_secs_f64();
        this.finished = finished;
    }

    fn write(&self, finished: Option<&Finished>) -> Result<()> {
        let record = Sidecar {
            invocations: &self.invocations,
            config: self.record,
            threads: rayon::current_num_threads(),
            runs: &self.runs,
            status: if finished.is_some() {
                "finished"
            } else {
                "running"
            },
            finished,
        };
        Provenance::new("study", record).write(&self.out.join(layout::SIDECAR), true)
    }

    fn running(&mut self) -> Result<()> {
        self.stamp(false);
        self.write(None)
    }
}

/// Runs (or resumes) the study of `inputs` with `params` in the folder `out`.
/// `command_line` is recorded in `study.json` as how this invocation was made. With
/// `report_only`, no CNN is trained: the report covers the runs that have logged at least
/// one epoch (a study still training elsewhere, or one stopped early).
pub fn run(
    inputs: &StudyInputs,
    params: &ValidStudyParams,
    out: &Path,
    start: Start,
    report_only: bool,
    command_line: &str,
    progress: &dyn Progress,
) -> Result<StudySummary> {
    let c = params;
    let record = StudyRecord::new(inputs, params);
    check_folder(out, &record, start)?;
    atomic::ensure_dir(out)?;
    let runs = plan::runs(c);
    let mut side = StudySidecar::new(out, &record, &runs, start, command_line);
    // A report-only invocation leaves study.json to the invocation that trains (which may
    // be running); its report still lists every invocation, itself last.
    if !report_only {
        side.write(None)?;
    }
    let mut timings = serde_json::Map::new();
    let mut lap = |name: &str, t: &mut Instant| {
        timings.insert(name.into(), json!(t.elapsed().as_secs_f64()));
        *t = Instant::now();
    };
    let mut t = Instant::now();
    reference::build(out, inputs, c, progress).map_err(as_study_interrupt(out))?;
    let mut images = Images::new(inputs);
    // The CNN's own grayscale input: the first run is the grayscale baseline.
    input_reference::build(out, images.for_run(c, &runs[0])?, c, progress)
        .map_err(as_study_interrupt(out))?;
    lap("reference", &mut t);
    let dict_path = out.join(layout::DICTIONARY);
    let dict = npy::read(&dict_path)?;
    let dictionary = Bank::from_shape(&dict.data, &dict.shape, &dict_path)?;
    let input_path = out.join(layout::INPUT_DICTIONARY);
    let input_dict = npy::read(&input_path)?;
    let input_bank = Bank::from_shape(&input_dict.data, &input_dict.shape, &input_path)?;
    progress.note("study: coding the test images with the dictionary");
    let code_sparsity = codes::code_sparsity(
        &images.for_run(c, &runs[0])?.test,
        c.activation_sample,
        &dict.data,
        dictionary.count,
        c.kernel,
        c.lambda,
    )?;
    lap("dictionary_codes", &mut t);
    if !report_only {
        for run in &runs {
            stop_if_asked(out)?;
            cnn_run(out, c, run, &mut images, progress).map_err(as_study_interrupt(out))?;
            side.running()?;
        }
    }
    lap("cnn_runs", &mut t);
    progress.note("study: measuring every logged first layer");
    let stats = InputStatistics::new(images.for_run(c, &runs[0])?, c.kernel, c.seed);
    let kodak = Reference::new(dictionary, c.null_draws, c.seed);
    let input = Reference::new(input_bank, c.null_draws, c.seed);
    let measuring = Measuring {
        input: &input,
        kodak: &kodak,
        stats: &stats,
    };
    let mut records = Vec::with_capacity(runs.len());
    for run in &runs {
        stop_if_asked(out)?;
        // A report of a study still training shows the runs that have logged an epoch.
        if report_only && !crate::cnn::checkpoint::exists(&run.dir(out)) {
            continue;
        }
        let mut record = measure::measure_run(out, c, run, &measuring, &mut images)?;
        record.diverged = training::diverged(out, run);
        records.push(record);
    }
    let mut references = Vec::new();
    for (name, rel) in [
        ("input dictionary", layout::INPUT_DICTIONARY),
        ("kodak dictionary", layout::DICTIONARY),
        ("gabor", layout::GABOR),
        ("random", layout::RANDOM),
    ] {
        references.push((name, measure::bank_file(&out.join(rel), &input)?));
    }
    lap("measurements", &mut t);
    // The deeper layers of the finished plain runs: conv2's preferred inputs (first seed)
    // and every seed's grating tuning and top-9 dataset patches (montages of the first
    // seed), each beside the network as initialised.
    let mut conv2 = None;
    let mut conv2_initial = None;
    let mut tuning = Vec::new();
    let mut top9 = Vec::new();
    for run in runs.iter().filter(|r| r.variant.name == "plain") {
        let finished = crate::cnn::checkpoint::Checkpoint::read(&run.dir(out))
            .is_ok_and(|(ck, _)| ck.epochs_done == c.epochs);
        if !finished {
            continue;
        }
        stop_if_asked(out)?;
        let (trained, initial) = measure::trained_and_initial(out, c, run)?;
        let first = conv2.is_none();
        let (c1, c2, c1i, c2i) = (
            out.join(layout::CONV1_TOP9_PNG),
            out.join(layout::CONV2_TOP9_PNG),
            out.join(layout::CONV1_TOP9_INITIAL_PNG),
            out.join(layout::CONV2_TOP9_INITIAL_PNG),
        );
        top9.extend(measure::top9(
            out,
            c,
            run,
            &mut images,
            &trained,
            "trained",
            first.then_some([c1.as_path(), c2.as_path()]),
        )?);
        top9.extend(measure::top9(
            out,
            c,
            run,
            &mut images,
            &initial,
            "initial",
            first.then_some([c1i.as_path(), c2i.as_path()]),
        )?);
        if first {
            conv2 = Some(measure::conv2(
                &trained,
                run.name(),
                c,
                &out.join(layout::CONV2_PNG),
            )?);
            conv2_initial = Some(measure::conv2(
                &initial,
                format!("{} (epoch 0)", run.name()),
                c,
                &out.join(layout::CONV2_INITIAL_PNG),
            )?);
        }
        tuning.extend(measure::tunings(&trained, &run.name(), "trained")?);
        tuning.extend(measure::tunings(&initial, &run.name(), "initial")?);
    }
    lap("conv2", &mut t);
    // Every first layer as an unsupervised front end, on the CNN's own (grayscale) images.
    let plain: Vec<&Run> = runs.iter().filter(|r| r.variant.name == "plain").collect();
    let data = images.for_run(c, &runs[0])?;
    let front_ends = front_ends::front_ends(out, c, &plain, &data.train, &data.test, progress)
        .map_err(as_study_interrupt(out))?;
    lap("front_ends", &mut t);
    // Dropout as ridge: the linear table always, the logistic comparison on the first
    // seed's plain run when it has finished.
    stop_if_asked(out)?;
    progress.note("study: dropout as ridge");
    let first_plain = runs.iter().find(|r| r.variant.name == "plain").filter(|r| {
        crate::cnn::checkpoint::Checkpoint::read(&r.dir(out))
            .is_ok_and(|(ck, _)| ck.epochs_done == c.epochs)
    });
    let dropout_ridge = dropout_ridge::run(out, c, first_plain, &mut images)?;
    lap("dropout_ridge", &mut t);
    // The losses, each at its own best learning rate.
    progress.note("study: the losses compared at their own learning rates");
    let losses = losses::run(out, c, &mut images, &measuring, report_only, progress)?;
    lap("losses", &mut t);
    side.stamp(true);
    let results = StudyResults {
        config: params.clone(),
        invocations: side.invocations.clone(),
        runs: records,
        references,
        codes: code_sparsity.clone(),
        conv2,
        conv2_initial,
        tuning,
        top9,
        front_ends,
        dropout_ridge,
        losses,
    };
    write_all(out, &results)?;
    lap("report", &mut t);
    side.stamp(true);
    if report_only {
        return Ok(StudySummary {
            report: out.join(layout::REPORT),
            seconds: side.started.elapsed().as_secs_f64(),
        });
    }
    side.write(Some(&Finished {
        stage_seconds_last_invocation: timings,
        dictionary_codes: code_sparsity,
        inputs: FinishedInputs {
            dictionary_sha256: sidecar::sha256_file(&dict_path)?,
            patches_sidecar: out.join(layout::PATCHES).with_extension("json"),
        },
    }))?;
    Ok(StudySummary {
        report: out.join(layout::REPORT),
        seconds: side.started.elapsed().as_secs_f64(),
    })
}
