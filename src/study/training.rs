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
use crate::error::Result;
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

/// Trains `run` into its folder under `out`: fresh, resumed, or not at all when its
/// checkpoint already holds every epoch with the same settings.
pub fn cnn_run(
    out: &Path,
    c: &ValidStudyParams,
    run: &Run,
    images: &mut Images,
    progress: &dyn Progress,
) -> Result<()> {
    let dir = run.dir(out);
    let params = plan::train_params(c, run, out).check()?;
    let source = &images.inputs.data;
    let record = TrainRecord::new(source, &params);
    let done = match Checkpoint::read(&dir) {
        Ok((ck, _)) if ck.config == record => Some(ck.epochs_done),
        _ => None,
    };
    if done == Some(c.epochs) {
        return Ok(());
    }
    progress.note(&format!("study: training {}", run.name()));
    let resume = done.is_some();
    if !resume {
        check_outputs(&dir, c.epochs, true)?;
    }
    let source = source.clone();
    let data = images.for_run(c, run)?;
    train(&source, &params, data, &dir, resume, progress).map(|_| ())
}
