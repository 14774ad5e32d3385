//! A trained run's loss and accuracy on a labelled split, in one call: the network and the
//! input standardisation come from the run's checkpoint, the images from the run's dataset
//! or another one of the same image size, and the result can be kept as a one-row CSV.

use super::checkpoint::Checkpoint;
use super::data::{self, DataSource};
use super::engine::Workspace;
use super::measure::{EVAL_BATCH, evaluate};
use crate::error::{Error, Result};
use crate::io::{atomic, table};
use std::path::Path;

/// Which part of a dataset is evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Split {
    #[default]
    Test,
    Train,
    /// The images a run trained with `validation` held out and evaluated on.
    Validation,
}

impl Split {
    pub fn name(self) -> &'static str {
        match self {
            Split::Test => "test",
            Split::Train => "train",
            Split::Validation => "validation",
        }
    }
}

/// What to evaluate a run on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EvalParams {
    /// The images [default: the run's own dataset].
    pub data: Option<DataSource>,
    /// [default: the test split]
    pub split: Split,
}

/// The result of [`evaluate_run`].
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub data: DataSource,
    pub split: Split,
    pub images: usize,
    /// Mean loss per image (the run's loss, without weight decay).
    pub loss: f64,
    pub accuracy: f64,
}

/// Evaluates the network saved in `run` in evaluation mode. With `csv`, also writes the
/// result as a one-row table there (checked before any work; replaced only if `overwrite`).
pub fn evaluate_run(
    run: &Path,
    params: &EvalParams,
    csv: Option<&Path>,
    overwrite: bool,
) -> Result<Evaluation> {
    if let Some(out) = csv {
        atomic::check_output(out, overwrite)?;
    }
    let (ck, net) = Checkpoint::read(run)?;
    let source = params.data.clone().unwrap_or(ck.config.data.clone());
    // The run's own split, except that a run which evaluated on a validation split is
    // still tested on the test set.
    let mut options = ck.config.data_options.clone();
    match params.split {
        Split::Test => options.validation = None,
        Split::Validation if options.validation.is_none() => {
            return Err(Error::param(
                "split",
                "validation",
                format!(
                    "the run in {} held out no validation images (it was trained without `validation`)",
                    run.display()
                ),
            ));
        }
        Split::Validation | Split::Train => {}
    }
    let data = data::load(&source, &options)?;
    let images = match params.split {
        Split::Train => &data.train,
        Split::Test | Split::Validation => &data.test,
    };
    let input = net.shapes[0];
    if (input.height, input.width, input.channels) != (images.height, images.width, images.channels)
    {
        return Err(Error::param(
            "data",
            source,
            "its images differ in size or channels from the run's",
        ));
    }
    let mut ws = Workspace::new();
    // The run's stored whitening, not one refitted on these images.
    let inputs = data::NetworkInputs::new(images, &ck.standardiser, ck.input_whitening.as_ref());
    let (loss, accuracy) = evaluate(&net, &mut ws, &inputs, ck.config.loss, EVAL_BATCH);
    let evaluation = Evaluation {
        data: source,
        split: params.split,
        images: images.len(),
        loss,
        accuracy,
    };
    if let Some(out) = csv {
        let mut t = table::Table::new(&["run", "data", "split", "images", "loss", "accuracy"]);
        t.push(vec![
            run.display().to_string(),
            evaluation.data.to_string(),
            evaluation.split.name().into(),
            evaluation.images.to_string(),
            table::cell(loss),
            table::cell(accuracy),
        ]);
        t.write(out, overwrite)?;
    }
    Ok(evaluation)
}
