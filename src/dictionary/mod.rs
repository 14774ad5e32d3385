//! Dictionary learning: the `DictionaryUpdate` rules (online block-coordinate descent, the
//! Olshausen-Field 1996 rule, MOD), the learner, the run that drives it, and its checkpoints.
//!
//! A learning run alternates two steps on minibatches of patches: sparse-code the batch with a
//! [`crate::coding::SparseCoder`], then let a [`DictionaryUpdate`] rule move the dictionary.
//! [`LearnParams`] says what to run; [`Learner`] owns everything a run needs, and every step
//! is a pure function of the state a [`checkpoint`] saves, so an interrupted run resumes
//! bit-identically. [`Learner::run_with`] drives it with hooks; [`folder::FolderRun`] is the
//! run `simplecell learn` makes, with its outputs in a folder.

pub mod checkpoint;
pub(crate) mod data;
pub mod folder;
pub mod init;
pub mod kmeans;
pub mod learner;
pub mod mod_rule;
pub mod olshausen;
pub mod online;
mod online_parts;
mod online_split;
pub mod params;
pub mod run;

use crate::error::Result;
use nalgebra::DMatrix;

pub use folder::{FolderRun, RunFolder};
pub use init::Init;
pub use learner::{HistoryRow, Learner};
pub use params::{LearnParams, StopRule};
pub use run::{NoHooks, RunEnd, RunHooks, RunIntervals};

/// One dictionary-update rule. `d` is pixels x atoms, `x` the batch (pixels x patches) and
/// `codes` its codes (atoms x patches) under the current `d`.
pub trait DictionaryUpdate: Send {
    /// Short name used on the command line and in reports.
    fn name(&self) -> &'static str;

    /// Moves `d` towards a better dictionary for this batch (and, for rules with memory, the
    /// batches before it). Rules that promise unit-norm atoms leave every column at norm 1.
    fn update(&mut self, d: &mut DMatrix<f32>, x: &DMatrix<f32>, codes: &DMatrix<f32>);

    /// Forgets everything the rule has accumulated about atom `j` (called when the atom is
    /// re-seeded). `d` already holds the new atom.
    fn reset_atom(&mut self, d: &mut DMatrix<f32>, j: usize);

    /// True when the rule keeps atoms at unit norm; false for rules with gains, whose output
    /// dictionary is normalised when it is written.
    fn keeps_unit_norm(&self) -> bool {
        true
    }

    /// The rule's memory as one flat array, for checkpoints.
    fn state(&self) -> Vec<f32>;

    /// Restores what [`DictionaryUpdate::state`] returned.
    fn restore(&mut self, state: &[f32]) -> Result<()>;

    /// Per-atom information worth recording in the output sidecar (e.g. gains).
    fn summary(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
}

/// The update rules the command line offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UpdateKind {
    /// Online block-coordinate descent on sufficient statistics (Mairal et al. 2010).
    Online,
    /// Olshausen and Field (1996): gradient step and gain adaptation.
    Of,
    /// Method of optimal directions (Engan et al. 1999).
    Mod,
}

impl UpdateKind {
    pub fn name(self) -> &'static str {
        match self {
            UpdateKind::Online => "online",
            UpdateKind::Of => "of",
            UpdateKind::Mod => "mod",
        }
    }
}

/// Scales every column of `d` to unit L2 norm. A column of norm zero is left at zero (the
/// dead-atom rule re-seeds it later).
pub fn normalize_columns(d: &mut DMatrix<f32>) {
    let rows = d.nrows().max(1);
    for col in d.as_mut_slice().chunks_exact_mut(rows) {
        crate::linalg::normalise::unit_norm(col);
    }
}

/// The largest deviation of a column norm from 1.
pub fn max_norm_deviation(d: &DMatrix<f32>) -> f32 {
    d.column_iter()
        .map(|c| (c.iter().map(|v| v * v).sum::<f32>().sqrt() - 1.0).abs())
        .fold(0.0, f32::max)
}
