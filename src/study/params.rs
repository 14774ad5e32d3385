//! The settings of a study: [`StudyInputs`] (the images it reads), [`StudyParams`] (every
//! knob, defaults for the full study, [`StudyParams::quick`] for the short one) checked into
//! [`ValidStudyParams`], and [`StudyRecord`], both as `study.json` records them; a resumed
//! study must have the same record.

use crate::cnn::data::DataSource;
use crate::error::{Error, Result};
use crate::params::{Params, Valid};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The images a study reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudyInputs {
    /// Natural images for the reference dictionary (searched recursively); None uses the
    /// built-in dead-leaves images.
    pub images: Option<PathBuf>,
    /// Labelled images for the CNN.
    pub data: DataSource,
}

impl StudyInputs {
    /// Refuses an `images` path that is not a folder.
    pub fn new(images: Option<PathBuf>, data: DataSource) -> Result<Self> {
        if let Some(dir) = &images
            && !dir.is_dir()
        {
            return Err(Error::param("images", dir.display(), "is not a folder"));
        }
        Ok(Self { images, data })
    }
}

/// Every knob of a study. The defaults are the full study of the README; the CNN settings
/// not listed here are `cnn::TrainParams`'s defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudyParams {
    /// Whether these are the short study's settings (recorded, not acted on).
    pub quick: bool,
    /// Seed of the first replicate; replicate r uses seed + r [default: 1].
    pub seed: u64,
    /// Replicates (seeds) of every variant [default: 3, quick 2; 1..=20].
    pub seeds: usize,
    /// First-layer kernel size of the CNN and patch size of the dictionary [default: 7;
    /// one of 5, 7, 9, 11].
    pub kernel: usize,
    /// First-layer filters, dictionary atoms and Gabor filters [default: 32; 4..=256].
    pub filters: usize,
    /// Patches each reference dictionary learns from (whitened Kodak patches; patches of
    /// the CNN's own standardised training images) [default: 200,000, quick 50,000;
    /// 1000..=10,000,000].
    pub patches: usize,
    /// Atoms of the dictionary learned from the CNN's own input, the similarity reference
    /// [default: 64; 4..=1024].
    pub input_atoms: usize,
    /// Factor on conv1's He initialisation in every run: 0.01 lets conv1 converge within a
    /// few epochs (results/conv1-regime/) [default: 0.01; range (0, 1000]].
    pub conv1_init_scale: f32,
    /// Sparse coding lambda of the dictionary and of the codes measured on the CNN's images
    /// (about 8% nonzero codes on whitened 7x7 Kodak patches) [default: 1.5; > 0].
    pub lambda: f32,
    /// Passes of the online dictionary rule over the patches [default: 2; range (0, 100]].
    pub learn_epochs: f64,
    /// CNN epochs per run, on a cosine schedule [default: 5, quick 2; 1..=1000].
    pub epochs: usize,
    /// Training images used [default: 20,000, quick 5,000; None: all; >= 1].
    pub train_limit: Option<usize>,
    /// Test images used [default: None, all 10,000; >= 1].
    pub test_limit: Option<usize>,
    /// Minibatch size of the CNN [default: 64; 1..=4096].
    pub batch_size: usize,
    /// SGD learning rate [default: 0.01; range (0, 10]].
    pub lr: f32,
    /// SGD momentum [default: 0.9; range [0, 1)].
    pub momentum: f32,
    /// L2 penalty (wd/2)||W||^2 of the baseline; the no-weight-decay variant drops it
    /// [default: 5e-4; range (0, 1]].
    pub weight_decay: f32,
    /// Drop probability of the dropout variant [default: 0.5; range (0, 1)].
    pub dropout: f32,
    /// Test images for activation and code sparsity [default: 256; 1..=10000].
    pub activation_sample: usize,
    /// Phase-randomised surrogates per similarity null baseline [default: 20, quick 10;
    /// 2..=1000].
    pub null_draws: usize,
    /// Gradient-ascent steps for the second layer's preferred inputs [default: 200;
    /// 1..=100000].
    pub ascent_steps: usize,
}

impl Default for StudyParams {
    fn default() -> Self {
        Self {
            quick: false,
            seed: 1,
            seeds: 3,
            kernel: 7,
            filters: 32,
            patches: 200_000,
            input_atoms: 64,
            conv1_init_scale: 0.01,
            lambda: 1.5,
            learn_epochs: 2.0,
            epochs: 5,
            train_limit: Some(20_000),
            test_limit: None,
            batch_size: 64,
            lr: 0.01,
            momentum: 0.9,
            weight_decay: 5e-4,
            dropout: 0.5,
            activation_sample: 256,
            null_draws: 20,
            ascent_steps: 200,
        }
    }
}

impl StudyParams {
    /// The short study (under 10 minutes on a quiet 2-core machine): 2 seeds, 2 epochs,
    /// 5,000 training images (all test images), 50,000 patches, 10 null draws.
    pub fn quick() -> Self {
        Self {
            quick: true,
            seeds: 2,
            patches: 50_000,
            epochs: 2,
            train_limit: Some(5_000),
            null_draws: 10,
            ..Self::default()
        }
    }
}

impl Params for StudyParams {
    fn validate(&mut self) -> Result<()> {
        let c = &*self;
        let bad = |field: &str, v: String, why: &str| Err(Error::param(field, v, why));
        if !(1..=20).contains(&c.seeds) {
            return bad("seeds", c.seeds.to_string(), "must be in 1..=20");
        }
        if ![5, 7, 9, 11].contains(&c.kernel) {
            return bad("kernel", c.kernel.to_string(), "must be 5, 7, 9 or 11");
        }
        if !(4..=256).contains(&c.filters) {
            return bad("filters", c.filters.to_string(), "must be in 4..=256");
        }
        if !(1000..=10_000_000).contains(&c.patches) {
            return bad(
                "patches",
                c.patches.to_string(),
                "must be in 1000..=10000000",
            );
        }
        if !(4..=1024).contains(&c.input_atoms) {
            return bad(
                "input_atoms",
                c.input_atoms.to_string(),
                "must be in 4..=1024",
            );
        }
        let scale = c.conv1_init_scale;
        if !(scale > 0.0 && scale <= 1000.0) {
            return bad(
                "conv1_init_scale",
                scale.to_string(),
                "must be in (0, 1000]",
            );
        }
        if !(c.lambda > 0.0 && c.lambda.is_finite()) {
            return bad(
                "lambda",
                c.lambda.to_string(),
                "must be a finite number > 0",
            );
        }
        if !(c.learn_epochs > 0.0 && c.learn_epochs <= 100.0) {
            return bad(
                "learn_epochs",
                c.learn_epochs.to_string(),
                "must be in (0, 100]",
            );
        }
        if !(1..=1000).contains(&c.epochs) {
            return bad("epochs", c.epochs.to_string(), "must be in 1..=1000");
        }
        for (field, limit) in [("train_limit", c.train_limit), ("test_limit", c.test_limit)] {
            if limit == Some(0) {
                return bad(field, "0".into(), "must be at least 1 (or none, for all)");
            }
        }
        if !(1..=4096).contains(&c.batch_size) {
            return bad(
                "batch_size",
                c.batch_size.to_string(),
                "must be in 1..=4096",
            );
        }
        if !(c.lr > 0.0 && c.lr <= 10.0) {
            return bad("lr", c.lr.to_string(), "must be in (0, 10]");
        }
        if !(0.0..1.0).contains(&c.momentum) {
            return bad("momentum", c.momentum.to_string(), "must be in [0, 1)");
        }
        if !(c.weight_decay > 0.0 && c.weight_decay <= 1.0) {
            return bad(
                "weight_decay",
                c.weight_decay.to_string(),
                "must be in (0, 1]",
            );
        }
        if !(c.dropout > 0.0 && c.dropout < 1.0) {
            return bad("dropout", c.dropout.to_string(), "must be in (0, 1)");
        }
        if !(1..=10_000).contains(&c.activation_sample) {
            return bad(
                "activation_sample",
                c.activation_sample.to_string(),
                "must be in 1..=10000",
            );
        }
        if !(2..=1000).contains(&c.null_draws) {
            return bad(
                "null_draws",
                c.null_draws.to_string(),
                "must be in 2..=1000",
            );
        }
        if !(1..=100_000).contains(&c.ascent_steps) {
            return bad(
                "ascent_steps",
                c.ascent_steps.to_string(),
                "must be in 1..=100000",
            );
        }
        Ok(())
    }
}

/// Study params that passed [`Params::check`].
pub type ValidStudyParams = Valid<StudyParams>;

impl StudyParams {
    /// The seeds of the replicated runs.
    pub fn replicate_seeds(&self) -> Vec<u64> {
        (0..self.seeds as u64).map(|r| self.seed + r).collect()
    }
}

/// A study's inputs and params as `study.json` records them (one flat object).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudyRecord {
    #[serde(flatten)]
    pub inputs: StudyInputs,
    #[serde(flatten)]
    pub params: StudyParams,
}

impl StudyRecord {
    pub fn new(inputs: &StudyInputs, params: &ValidStudyParams) -> Self {
        Self {
            inputs: inputs.clone(),
            params: (**params).clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_presets_pass_and_bad_values_name_their_field() {
        assert!(StudyParams::default().check().is_ok());
        let quick = StudyParams::quick().check().unwrap();
        assert_eq!((quick.seeds, quick.epochs, quick.quick), (2, 2, true));
        let d = StudyParams::default();
        for (field, p) in [
            (
                "kernel",
                StudyParams {
                    kernel: 6,
                    ..d.clone()
                },
            ),
            (
                "seeds",
                StudyParams {
                    seeds: 0,
                    ..d.clone()
                },
            ),
            (
                "lambda",
                StudyParams {
                    lambda: -1.0,
                    ..d.clone()
                },
            ),
            (
                "train_limit",
                StudyParams {
                    train_limit: Some(0),
                    ..d.clone()
                },
            ),
            (
                "ascent_steps",
                StudyParams {
                    ascent_steps: 0,
                    ..d.clone()
                },
            ),
        ] {
            match p.check() {
                Err(Error::Param { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
    }

    #[test]
    fn the_record_is_one_flat_object_that_reads_back_equal() {
        let inputs = StudyInputs {
            images: None,
            data: DataSource::Cifar10(PathBuf::from("c")),
        };
        let record = StudyRecord::new(&inputs, &StudyParams::quick().check().unwrap());
        let value = serde_json::to_value(&record).unwrap();
        assert_eq!(value["data"]["format"], "cifar10");
        assert_eq!(value["train_limit"], 5000);
        assert_eq!(value.as_object().unwrap().len(), 23);
        let back: StudyRecord = serde_json::from_value(value).unwrap();
        assert_eq!(back, record);
    }
}
