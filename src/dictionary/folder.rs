//! A learning run kept in a folder, the way `simplecell learn` runs it: `dictionary.npy`,
//! its sidecar `dictionary.json`, `dictionary.png` (montage ordered by usage),
//! `history.csv` and `checkpoint.bin`. [`FolderRun::start`] checks every output before any
//! work; [`FolderRun::resume`] continues from the checkpoint; [`FolderRun::run`] drives the
//! learner with hooks that checkpoint, refresh the montage and write the results.
//!
//! Under MPI ([`crate::distributed`]) only rank 0 touches the folder; every rank first
//! checks that it reads the same patch file as rank 0.

use super::checkpoint;
use super::learner::Learner;
use super::params::{LearnParams, StopRule};
use super::run::{RunEnd, RunHooks, RunIntervals};
use crate::error::{Error, Result};
use crate::io::sidecar::{self, InputFile, Provenance};
use crate::io::{atomic, npy, table};
use crate::observer::Progress;
use crate::params::Valid;
use crate::patches::PatchSource;
use crate::viz::montage::{self, Bank, MontageOptions};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The files a run writes into its folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunFolder {
    pub dir: PathBuf,
}

impl RunFolder {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }
    pub fn dictionary(&self) -> PathBuf {
        self.dir.join("dictionary.npy")
    }
    pub fn sidecar(&self) -> PathBuf {
        sidecar::path_for(&self.dictionary())
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
    /// Every output, for the existence check before a fresh run.
    pub fn outputs(&self) -> [PathBuf; 5] {
        [
            self.dictionary(),
            self.sidecar(),
            self.png(),
            self.history(),
            self.checkpoint(),
        ]
    }
    /// Fails if any output exists, unless `force`.
    pub fn check_outputs(&self, force: bool) -> Result<()> {
        self.outputs()
            .iter()
            .try_for_each(|path| atomic::check_output(path, force))
    }
}

/// A learner with its folder and the patch file it reads.
pub struct FolderRun {
    pub learner: Learner,
    pub folder: RunFolder,
    pub patches: InputFile,
    /// True when the run continues from a checkpoint.
    pub resumed: bool,
}

impl FolderRun {
    /// A fresh run of `params` on the patch file `patches` ((patches, pixels) float32
    /// `.npy`, memory-mapped), writing into `folder`. Existing outputs are refused unless
    /// `force`, before the patches are read.
    pub fn start(
        params: &Valid<LearnParams>,
        patches: &Path,
        folder: RunFolder,
        force: bool,
    ) -> Result<Self> {
        let outputs = folder.outputs();
        let mut files = vec![("patches", patches)];
        files.extend(outputs.iter().map(|p| ("out", p.as_path())));
        atomic::check_distinct(&files)?;
        let root = crate::distributed::is_root();
        if root {
            folder.check_outputs(force)?;
        }
        let source = PatchSource::open(patches)?;
        check_shape(&source, patches)?;
        crate::distributed::check_same_file(crate::distributed::world(), "patch", patches)?;
        // Checked against the data before hashing a large file.
        params.resolve(source.len())?;
        source.check_values(patches)?;
        let patches = InputFile::hash(patches)?;
        let learner = Learner::new(params, source)?;
        // Only now that everything is checked: create the folder, and under `force` remove
        // the files an earlier run wrote there, so an interrupted new run never sits beside
        // an older dictionary. Rank 0 alone owns the folder under MPI.
        if root {
            let dirs = atomic::create_dirs(&folder.dir)?;
            if force {
                atomic::remove_outputs(&folder.outputs())?;
            }
            dirs.keep();
        }
        Ok(Self {
            learner,
            folder,
            patches,
            resumed: false,
        })
    }

    /// Continues the run saved in `folder`, reading `patches` (default: the file the run
    /// was started on, which must still have the same SHA-256), optionally with a new
    /// stop rule.
    pub fn resume(
        folder: RunFolder,
        patches: Option<&Path>,
        stop: Option<StopRule>,
    ) -> Result<Self> {
        let saved = checkpoint::read(&folder.checkpoint())?;
        let path = patches
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(&saved.meta.patches_path));
        let source = PatchSource::open(&path).map_err(|e| match e {
            Error::Read { .. } if patches.is_none() && path.is_relative() => Error::bad_input(
                folder.checkpoint(),
                "patches_path",
                &saved.meta.patches_path,
                format!(
                    "the run's patch file is not found from the current folder ({e}); \
                     run from the folder the run was started in, or pass --patches PATH"
                ),
            ),
            other => other,
        })?;
        check_shape(&source, &path)?;
        source.check_values(&path)?;
        crate::distributed::check_same_file(crate::distributed::world(), "patch", &path)?;
        let input = InputFile::hash(&path)?;
        if input.sha256 != saved.meta.patches_sha256 {
            return Err(Error::bad_input(
                &path,
                "sha256",
                &input.sha256,
                format!(
                    "the run was started on a different file (sha256 {})",
                    saved.meta.patches_sha256
                ),
            ));
        }
        let mut learner = saved.restore(source)?;
        if let Some(stop) = stop {
            learner.set_stop(stop)?;
        }
        Ok(Self {
            learner,
            folder,
            patches: input,
            resumed: true,
        })
    }

    /// Runs to the stop rule (or an interrupt, after which the checkpoint is on disk).
    /// Under MPI, ranks other than 0 run without hooks: they write nothing.
    pub fn run(&mut self, every: RunIntervals, progress: &dyn Progress) -> Result<RunEnd> {
        if !crate::distributed::is_root() {
            return self
                .learner
                .run_with(&mut super::run::NoHooks, every, progress);
        }
        let mut hooks = FolderHooks {
            folder: &self.folder,
            patches: &self.patches,
            resumed: self.resumed,
        };
        self.learner.run_with(&mut hooks, every, progress)
    }
}

/// A patch file the learner can use: at least two patches (one to train on, one held out)
/// of a square number of pixels (atoms are drawn and analysed as square images). Checked
/// before any work, so a wrong file fails before anything is written.
fn check_shape(source: &PatchSource, path: &Path) -> Result<()> {
    let (n, pixels) = (source.len(), source.pixels());
    if n < 2 {
        return Err(Error::bad_input(
            path,
            "shape",
            format!("({n}, {pixels})"),
            "a patch file needs at least 2 patches (one to train on, one held out)",
        ));
    }
    let side = (pixels as f64).sqrt().round() as usize;
    if side * side != pixels {
        return Err(Error::bad_input(
            path,
            "shape",
            format!("({n}, {pixels})"),
            format!(
                "{pixels} pixels per patch is not a square number; learn needs square \
                 patches (side x side pixels, as extract writes)"
            ),
        ));
    }
    Ok(())
}

/// What the folder's outputs need besides the learner.
struct FolderHooks<'a> {
    folder: &'a RunFolder,
    patches: &'a InputFile,
    resumed: bool,
}

impl RunHooks for FolderHooks<'_> {
    fn checkpoint(&mut self, learner: &Learner) -> Result<()> {
        checkpoint::save(learner, &self.folder.checkpoint(), self.patches)?;
        write_history(learner, &self.folder.history())
    }

    fn montage(&mut self, learner: &Learner) -> Result<()> {
        write_montage(learner, &self.folder.png())
    }

    fn finish(&mut self, learner: &Learner) -> Result<()> {
        let d = learner.unit_dictionary();
        // Bounded inputs keep the arithmetic finite; a non-finite dictionary is never
        // written whatever went wrong.
        npy::ensure_finite(
            &self.folder.dictionary(),
            d.as_slice(),
            d.nrows(),
            ("atom", "pixel"),
            "the learned dictionary is not finite; it was not written",
        )?;
        npy::write(
            &self.folder.dictionary(),
            &[d.ncols(), d.nrows()],
            d.as_slice(),
            true,
        )?;
        Provenance::new("learn", record(learner, self.patches, self.resumed))
            .write(&self.folder.sidecar(), true)?;
        write_montage(learner, &self.folder.png())?;
        write_history(learner, &self.folder.history())
    }
}

/// `history.csv`: one row per history row of the learner.
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

/// `dictionary.png`: the unit-norm atoms, most used first.
fn write_montage(learner: &Learner, path: &Path) -> Result<()> {
    let d = learner.unit_dictionary();
    let usage = learner.usage();
    let mut order: Vec<usize> = (0..usage.len()).collect();
    order.sort_by(|&a, &b| usage[b].cmp(&usage[a]).then(a.cmp(&b)));
    let bank = Bank::from_shape(d.as_slice(), &[d.ncols(), d.nrows()], path)?;
    let img = montage::render(
        &bank,
        &MontageOptions {
            order: Some(order),
            ..Default::default()
        },
    );
    montage::write_png(&img, path, true)
}

/// The sidecar `dictionary.json`.
#[derive(Serialize)]
struct LearnRecord<'a> {
    inputs: LearnInputs<'a>,
    parameters: &'a LearnParams,
    seed: u64,
    threads: usize,
    timings: LearnTimings,
    #[serde(rename = "final")]
    end: FinalState,
    update_rule_state: serde_json::Value,
    resumed: bool,
}

#[derive(Serialize)]
struct LearnInputs<'a> {
    patches: PatchesInput<'a>,
}

#[derive(Serialize)]
struct PatchesInput<'a> {
    #[serde(flatten)]
    file: &'a InputFile,
    shape: [usize; 2],
}

#[derive(Serialize)]
struct LearnTimings {
    learning_seconds: f64,
    coding_seconds: f64,
    update_seconds: f64,
    validation_seconds: f64,
}

#[derive(Serialize)]
struct FinalState {
    steps: u64,
    patches_seen: u64,
    train_objective: Option<f64>,
    validation_objective: Option<f64>,
    nonzero_fraction: Option<f64>,
    atoms_reseeded_total: u64,
    atom_usage_heldout: Vec<usize>,
}

fn record<'a>(learner: &'a Learner, patches: &'a InputFile, resumed: bool) -> LearnRecord<'a> {
    let t = &learner.state().tally;
    let last = learner.history().last();
    LearnRecord {
        inputs: LearnInputs {
            patches: PatchesInput {
                file: patches,
                shape: [learner.source().len(), learner.source().pixels()],
            },
        },
        parameters: learner.config(),
        seed: learner.config().seed,
        threads: rayon::current_num_threads(),
        timings: LearnTimings {
            learning_seconds: t.seconds,
            coding_seconds: t.coding_seconds,
            update_seconds: t.update_seconds,
            validation_seconds: t.validation_seconds,
        },
        end: FinalState {
            steps: learner.step_count(),
            patches_seen: learner.patches_seen(),
            train_objective: last.map(|r| r.train_objective),
            validation_objective: last.and_then(|r| r.validation_objective),
            nonzero_fraction: last.map(|r| r.nonzero_fraction),
            atoms_reseeded_total: t.reseeded_total,
            atom_usage_heldout: learner.usage(),
        },
        update_rule_state: learner.rule().summary(),
        resumed,
    }
}
