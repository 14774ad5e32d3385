//! Stage 3 of a study: the CNN runs of the plan, each in its own folder under `runs/`.
//! A finished run is skipped, an unfinished one resumes from its checkpoint. Images are
//! loaded once per distinct set of data options (grayscale and colour), when first needed.

use super::params::{StudyInputs, ValidStudyParams};
use super::plan::{self, Run};
use crate::cnn::checkpoint::Checkpoint;
use crate::cnn::data::{DataOptions, Datasets, load};
use crate::cnn::log::check_outputs;
use crate::cnn::params::TrainRecord;
use crate::cnn::train::train;
use crate::error::{Error, Result};
use crate::io::atomic;
use crate::observer::Progress;
use crate::params::Params;
use std::path::Path;

/// The CNN's images, loaded on demand and kept for the runs that share their options.
pub struct Images<'a> {
    inputs: &'a StudyInputs,
    loaded: Vec<(DataOptions, Datasets)>,
}

impl<'a> Images<'a> {
    pub fn new(inputs: &'a StudyInputs) -> Self {
        Self {
            inputs,
            loaded: Vec::new(),
        }
    }

    /// The images as `options` load them.
    pub fn get(&mut self, options: &DataOptions) -> Result<&Datasets> {
        let i = match self.loaded.iter().position(|(o, _)| o == options) {
            Some(i) => i,
            None => {
                let data = load(&self.inputs.data, options)?;
                self.loaded.push((options.clone(), data));
                self.loaded.len() - 1
            }
        };
        Ok(&self.loaded[i].1)
    }

    /// The images `run` trains on.
    pub fn for_run(&mut self, c: &ValidStudyParams, run: &Run) -> Result<&Datasets> {
        self.get(&plan::train_params(c, run, Path::new("")).data_options())
    }
}

/// The marker a run whose loss stopped being finite leaves in its folder: the run is
/// reported as diverged (with the epochs it completed), not retried.
pub const DIVERGED: &str = "diverged.txt";

/// Whether `run` diverged in an earlier invocation.
pub fn diverged(out: &Path, run: &Run) -> bool {
    diverged_in(&run.dir(out))
}

/// Whether the run in `dir` diverged in an earlier invocation.
pub fn diverged_in(dir: &Path) -> bool {
    dir.join(DIVERGED).exists()
}

/// Whether a checkpoint's settings are the run's. The first-layer bank is named by its
/// place inside the study (`reference/gabor.npy`, say), not by the whole path, so a study
/// folder that was moved or copied resumes its runs instead of training them again.
fn same_run(saved: &TrainRecord, now: &TrainRecord) -> bool {
    let inside_study = |r: &TrainRecord| {
        let mut r = r.clone();
        r.conv1_init = r.conv1_init.as_deref().map(|p| {
            let parts: Vec<_> = p.components().collect();
            parts[parts.len().saturating_sub(2)..].iter().collect()
        });
        r
    };
    inside_study(saved) == inside_study(now)
}

/// Trains `run` into its folder under `out` (see [`train_into`]).
pub fn cnn_run(
    out: &Path,
    c: &ValidStudyParams,
    run: &Run,
    images: &mut Images,
    progress: &dyn Progress,
) -> Result<()> {
    let params = plan::train_params(c, run, out);
    train_into(&run.dir(out), &run.name(), params, images, progress)
}

/// Trains `params` into `dir` (a run called `name` in messages): fresh, resumed, or not at
/// all when its checkpoint already holds every epoch with the same settings or the run
/// diverged. A run whose loss becomes non-finite is recorded as diverged and the study
/// goes on.
pub fn train_into(
    dir: &Path,
    name: &str,
    params: crate::cnn::TrainParams,
    images: &mut Images,
    progress: &dyn Progress,
) -> Result<()> {
    let params = params.check()?;
    let epochs = params.epochs;
    let source = &images.inputs.data;
    let record = TrainRecord::new(source, &params);
    let done = match Checkpoint::read(dir) {
        Ok((ck, _)) if same_run(&ck.config, &record) => Some(ck.epochs_done),
        _ => None,
    };
    if done == Some(epochs) || (done.is_some() && diverged_in(dir)) {
        return Ok(());
    }
    progress.note(&format!("study: training {name}"));
    let resume = done.is_some();
    if !resume {
        check_outputs(dir, epochs, true)?;
        // A marker from an earlier study in this folder does not apply to the new run.
        if dir.join(DIVERGED).exists() {
            std::fs::remove_file(dir.join(DIVERGED)).map_err(|source| Error::Write {
                path: dir.join(DIVERGED),
                source,
            })?;
        }
    }
    let source = source.clone();
    let data = images.get(&params.data_options())?;
    match train(&source, &params, data, dir, resume, progress) {
        Ok(_) => Ok(()),
        Err(Error::Failed { context, reason }) if context == "training" => {
            progress.note(&format!("study: {name} diverged: {reason}"));
            atomic::write_bytes(&dir.join(DIVERGED), reason.as_bytes(), true)
        }
        Err(e) => Err(e),
    }
}
