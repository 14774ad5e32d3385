//! The study: the lecture's questions answered by one reproducible set of runs.
//!
//! A study learns two unsupervised references (a sparse-coding dictionary of the CNN's own
//! standardised input patches, the similarity reference, and one of whitened natural
//! patches at the CNN's first-layer kernel size, which with an analytic Gabor bank and a
//! random bank of the CNN's filter count also serves as a fixed first layer), trains the
//! reference CNN under the training variants the questions name, and measures every logged
//! first layer against both dictionaries. It then passes every first layer through one
//! unsupervised feature pipeline, so each gets a test accuracy beside the CNN's own, and
//! shows dropout acting as a feature-weighted ridge, and compares the three losses each at
//! its own best learning rate.
//! [`params`] holds the settings; [`plan`] says which runs exist and how each is configured;
//! [`run()`] takes a folder through the stages ([`reference`], [`codes`], [`training`],
//! [`measure`], [`front_ends`], [`dropout_ridge`], [`losses`]) and makes them resumable; [`report`]
//! writes the CSV tables, figures and `report.md`.

pub mod codes;
pub mod dropout_ridge;
pub mod front_ends;
pub mod input_reference;
pub mod losses;
pub mod measure;
pub mod params;
pub mod plan;
pub mod reference;
pub mod report;
pub mod run;
pub mod training;
pub mod tuning;
pub mod zeros;

pub use params::{StudyInputs, StudyParams, StudyRecord, ValidStudyParams};
pub use run::{StudySummary, run};

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
    /// The reference learned from the CNN's own input (standardised training images).
    pub const INPUT_REFERENCE: &str = "reference/input";
    pub const INPUT_PATCHES: &str = "reference/input/patches.npy";
    pub const INPUT_DICTIONARY: &str = "reference/input/dictionary.npy";
    pub const SEED_SUMMARY: &str = "seed_summary.csv";
    pub const CRITERIA: &str = "criteria.csv";
    pub const ENERGY: &str = "energy_profile.csv";
    pub const ZEROS: &str = "zero_split.csv";
    pub const DIFFERENCE_PNG: &str = "matched_minus_null.png";
    pub const GABOR_SHARE_PNG: &str = "gabor_share.png";
    pub const ENERGY_PNG: &str = "energy_profile.png";
    pub const ZEROS_PNG: &str = "zero_split.png";
    pub const CONV2_INITIAL_PNG: &str = "conv2_preferred_epoch0.png";
    pub const TUNING: &str = "tuning.csv";
    pub const TOP9: &str = "top9.csv";
    pub const TOP9_SUMMARY: &str = "top9_summary.csv";
    /// Each first layer's saved result through the feature pipeline.
    pub const FRONT_ENDS: &str = "front_ends";
    pub const FRONT_ENDS_CSV: &str = "front_ends.csv";
    pub const FRONT_ENDS_PNG: &str = "front_ends.png";
    pub const CONV1_TOP9_PNG: &str = "conv1_top9.png";
    pub const CONV2_TOP9_PNG: &str = "conv2_top9.png";
    pub const CONV1_TOP9_INITIAL_PNG: &str = "conv1_top9_epoch0.png";
    pub const CONV2_TOP9_INITIAL_PNG: &str = "conv2_top9_epoch0.png";
    pub const TUNING_SUMMARY: &str = "tuning_summary.csv";
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
    pub const DROPOUT_RIDGE: &str = "dropout_ridge.csv";
    pub const DROPOUT_LOGISTIC: &str = "dropout_logistic.csv";
    pub const DROPOUT_RIDGE_PNG: &str = "dropout_ridge.png";
    /// The loss comparison's runs, one `cnn train` folder each.
    pub const LOSSES: &str = "losses";
    pub const LOSSES_CSV: &str = "losses.csv";
    pub const LOSSES_SUMMARY: &str = "losses_summary.csv";
    pub const LOSSES_PNG: &str = "losses.png";
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
