//! The study: the lecture's questions answered by one reproducible set of runs.
//!
//! A study learns an unsupervised reference (a sparse-coding dictionary of whitened natural
//! patches at the CNN's first-layer kernel size, plus an analytic Gabor bank and a random
//! bank of the same size and count), trains the reference CNN under the training variants
//! the questions name, and measures every logged first layer against the dictionary.
//! [`plan`] says which runs exist and how each is configured; [`measure`] turns run folders
//! into table rows; [`report`] writes the CSV tables, figures and `report.md`.
//! `simplecell study` (in `cli::study`) drives the stages and makes them resumable.

pub mod codes;
pub mod measure;
pub mod plan;
pub mod report;

use crate::cnn::data::DataSource;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Every parameter of a study, as recorded in `study.json`; a resumed study must match it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudyConfig {
    /// Natural images for the reference dictionary; None uses the built-in dead leaves.
    pub images: Option<PathBuf>,
    /// Labelled images for the CNN.
    pub data: DataSource,
    pub quick: bool,
    /// Seed of the first replicate; replicate r uses seed + r.
    pub seed: u64,
    /// Replicates of the first-layer replacement runs.
    pub seeds: usize,
    /// First-layer kernel size of the CNN, and patch size of the dictionary.
    pub kernel: usize,
    /// First-layer filter count, and atom count of the dictionary and the Gabor bank.
    pub filters: usize,
    /// Whitened patches the dictionary learns from.
    pub patches: usize,
    /// Sparse coding lambda of the dictionary and of the codes measured on the CNN's images.
    pub lambda: f32,
    /// Passes of the online dictionary rule over the patches.
    pub learn_epochs: f64,
    /// CNN epochs per run.
    pub epochs: usize,
    pub train_limit: Option<usize>,
    pub test_limit: Option<usize>,
    pub batch_size: usize,
    pub lr: f32,
    pub momentum: f32,
    /// L2 penalty of the weight-decay variant.
    pub weight_decay: f32,
    /// Drop probability of the dropout variant.
    pub dropout: f32,
    /// Test images on which activation and code sparsity are measured.
    pub activation_sample: usize,
    /// Phase-randomised surrogates for each similarity's null baseline.
    pub null_draws: usize,
    /// Gradient-ascent steps for the second layer's preferred inputs.
    pub ascent_steps: usize,
}

impl StudyConfig {
    /// The seeds of the replicated runs.
    pub fn replicate_seeds(&self) -> Vec<u64> {
        (0..self.seeds as u64).map(|r| self.seed + r).collect()
    }
}

/// Fixed names of everything a study writes under its output folder.
pub mod layout {
    pub const SIDECAR: &str = "study.json";
    pub const REPORT: &str = "report.md";
    pub const REFERENCE: &str = "reference";
    pub const RUNS: &str = "runs";
    pub const PATCHES: &str = "reference/patches.npy";
    pub const DICTIONARY: &str = "reference/dictionary.npy";
    pub const GABOR: &str = "reference/gabor.npy";
    pub const RANDOM: &str = "reference/random.npy";
    pub const ACCURACY: &str = "accuracy.csv";
    pub const ACCURACY_SUMMARY: &str = "accuracy_summary.csv";
    pub const SIMILARITY: &str = "similarity.csv";
    pub const SPARSITY: &str = "sparsity.csv";
    pub const REFERENCE_BANKS: &str = "reference_banks.csv";
    pub const CODES: &str = "dictionary_codes.csv";
    pub const GABOR_PARAMETERS: &str = "gabor_parameters.csv";
    pub const CONV2_UNITS: &str = "conv2_units.csv";
    pub const CONV2_PNG: &str = "conv2_preferred.png";
    pub const SIMILARITY_PNG: &str = "similarity_curve.png";
    pub const SPARSITY_PNG: &str = "sparsity_curve.png";
    pub const FILTER_SPARSITY_PNG: &str = "filter_sparsity_curve.png";
    pub const NXNY_PNG: &str = "nx_ny.png";
    pub const R2_PNG: &str = "gabor_r2_hist.png";
    pub const ORIENTATION_PNG: &str = "orientation_hist.png";
    pub const FREQUENCY_PNG: &str = "frequency_hist.png";
    pub const ACCURACY_PNG: &str = "accuracy.png";
}

/// A number as a study CSV cell: four decimals (the report copies the cells verbatim, so
/// a reader sees the same digits in both), `nan` for an undefined value.
pub fn cell(v: f64) -> String {
    if v.is_nan() {
        "nan".into()
    } else {
        format!("{v:.4}")
    }
}
