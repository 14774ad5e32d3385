//! The study's outputs: CSV tables, PNG figures and `report.md`.
//!
//! Tables are written first; the report then reads them back and copies the selected rows'
//! cells verbatim under a "Source:" line naming the CSV, so every number in the report is a
//! number in a CSV, and `study.json` records the command that made them all. Figures are
//! drawn from the same records. [`tables`] declares the CSVs, [`figures`] draws the PNGs and
//! [`markdown`] writes the report's text; this module holds the records they share.

pub mod criteria;
mod figures;
mod markdown;
mod questions;
mod tables;

use super::ValidStudyParams;
use super::codes::CodeSparsity;
use super::front_ends::FrontEndRecord;
use super::layout;
use super::measure::{BankMeasures, EpochExtra};
use super::plan::Run;
use super::run::Invocation;
use crate::analysis::measures::FilterMeasures;
use crate::cnn::log::EpochMetrics;
use crate::error::Result;
use crate::io::atomic;
use std::path::Path;

/// One trained run with its logged metrics and the measures of every epoch's first layer.
pub struct RunRecord {
    pub run: Run,
    pub metrics: Vec<EpochMetrics>,
    /// Against the input dictionary; index = epoch (0 is the initial network).
    pub banks: Vec<BankMeasures>,
    /// The other numbers of each epoch (Kodak dictionary, spectra, zeros).
    pub extra: Vec<EpochExtra>,
    /// The loss stopped being finite; the run holds the epochs before that.
    pub diverged: bool,
}

impl RunRecord {
    fn last(&self) -> (&EpochMetrics, &BankMeasures) {
        (
            self.metrics.last().expect("a run logs epoch 0"),
            self.banks.last().expect("a run logs epoch 0"),
        )
    }
}

/// The second layer's preferred inputs and their measures.
pub struct Conv2Record {
    pub run: String,
    pub responses: Vec<f32>,
    pub measures: Vec<FilterMeasures>,
}

/// Grating tuning of one layer of one network.
pub struct TuningRecord {
    pub run: String,
    /// "trained" or "initial" (the epoch-0 network, rebuilt).
    pub network: &'static str,
    pub layer: &'static str,
    pub units: Vec<crate::study::tuning::UnitTuning>,
}

/// The top dataset patches of one layer of one network, with each unit's coherence.
pub struct TopPatchRecord {
    pub run: String,
    /// "trained" or "initial" (the epoch-0 network, rebuilt).
    pub network: &'static str,
    pub layer: &'static str,
    pub patches: crate::cnn::top_patches::TopPatches,
    /// Per unit: the mean pairwise correlation of its patches
    /// ([`crate::cnn::top_patches::TopPatches::coherence`]).
    pub coherence: Vec<f64>,
    /// The same for patches at random places (the layout's null, from the study's seed).
    pub random_coherence: Vec<f64>,
}

/// CNN variants whose end-to-end accuracy `front_ends.csv` lists for scale: the plain
/// network and the ones whose first layer is a fixed bank the pipeline also tries.
const END_TO_END: [&str; 4] = ["plain", "gabor-fixed", "dictionary-fixed", "random-fixed"];

/// The rows of `front_ends.csv` and its figure: every first layer through the feature
/// pipeline, then (for scale, once any front end ran) each finished CNN of [`END_TO_END`]
/// as trained with labels, its pipeline-only numbers NaN.
fn front_end_rows(r: &StudyResults) -> Vec<FrontEndRecord> {
    let mut rows = r.front_ends.clone();
    if rows.is_empty() {
        return rows;
    }
    let finished = |rec: &&RunRecord| {
        END_TO_END.contains(&rec.run.variant.name)
            && !rec.diverged
            && rec.last().0.epoch == r.config.epochs
    };
    rows.extend(r.runs.iter().filter(finished).map(|rec| FrontEndRecord {
        bank: format!("cnn end to end ({})", rec.run.variant.name),
        source: format!("{}/{} (trained with labels)", layout::RUNS, rec.run.name()),
        seed: Some(rec.run.seed),
        space: "-".into(),
        atoms: r.config.filters,
        features: 0,
        lambda: f64::NAN,
        train_accuracy: rec.last().0.train_accuracy,
        validation_accuracy: f64::NAN,
        test_accuracy: rec.last().0.test_accuracy,
        seconds: f64::NAN,
    }));
    rows
}

/// Everything the report shows.
pub struct StudyResults {
    pub config: ValidStudyParams,
    /// Every invocation that worked on the study, first to last, as recorded in the
    /// sidecar.
    pub invocations: Vec<Invocation>,
    pub runs: Vec<RunRecord>,
    /// (bank name, measures against the dictionary): dictionary, gabor, random.
    pub references: Vec<(&'static str, BankMeasures)>,
    pub codes: CodeSparsity,
    /// None while the plain run has not been trained.
    pub conv2: Option<Conv2Record>,
    /// The same for the plain run's network as initialised (the null).
    pub conv2_initial: Option<Conv2Record>,
    /// Grating tuning of conv1 and conv2 of every finished plain run, trained and initial.
    pub tuning: Vec<TuningRecord>,
    /// Top-9 dataset patches of conv1 and conv2 of every finished plain run, trained and
    /// initial.
    pub top9: Vec<TopPatchRecord>,
    /// Every first layer through the feature pipeline (empty until a plain run finished).
    pub front_ends: Vec<FrontEndRecord>,
    /// The loss comparison ([`crate::study::losses`]).
    pub losses: crate::study::losses::LossesOutcome,
    /// The dropout-as-ridge stage ([`crate::study::dropout_ridge`]).
    pub dropout_ridge: crate::study::dropout_ridge::DropoutRidgeOutcome,
}

/// The per-measure summary of the second layer (no `layout` name: only the report reads it).
const CONV2_SUMMARY: &str = "conv2_summary.csv";

/// The study's CSV file names, for output checks and tests.
pub fn table_names() -> [&'static str; 17] {
    tables::TABLES.map(|(name, _)| name)
}

/// The study's figure file names.
pub fn figure_names() -> [&'static str; 12] {
    [
        layout::DIFFERENCE_PNG,
        layout::GABOR_SHARE_PNG,
        layout::ENERGY_PNG,
        layout::ZEROS_PNG,
        layout::SPARSITY_PNG,
        layout::FILTER_SPARSITY_PNG,
        layout::NXNY_PNG,
        layout::R2_PNG,
        layout::ORIENTATION_PNG,
        layout::FREQUENCY_PNG,
        layout::ACCURACY_PNG,
        layout::FRONT_ENDS_PNG,
    ]
}

/// Writes every table, figure and `report.md` into `out`.
pub fn write_all(out: &Path, r: &StudyResults) -> Result<()> {
    for (name, table) in tables::TABLES {
        table(r).write(&out.join(name), true)?;
    }
    figures::write_figures(out, r)?;
    let mut text = questions::opening(out, r)?;
    text += &markdown::report_text(out, r)?;
    atomic::write_bytes(&out.join(layout::REPORT), text.as_bytes(), true)
}
