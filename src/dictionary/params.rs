//! The parameters of a learning run ([`LearnParams`]) and when it stops ([`StopRule`]).
//!
//! [`LearnParams::check`] validates every range that does not depend on the data;
//! `Valid<LearnParams>::resolve` then fits the checked parameters to a patch set (the automatic
//! held-out size, the batch against the training patches). Checkpoints and the output
//! sidecar record the resolved parameters.

use super::UpdateKind;
use super::init::Init;
use super::olshausen::OfParams;
use crate::coding::{Coder, CodingParams};
use crate::error::Result;
use crate::params::{self, Params, Valid, ensure};
use serde::{Deserialize, Serialize};

/// When a run stops.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StopRule {
    /// Passes over the training patches (fractions allowed; > 0).
    Epochs(f64),
    /// Dictionary updates (>= 1).
    Steps(u64),
    /// Wall-clock seconds of learning, summed over resumed sessions (> 0).
    Seconds(f64),
}

/// Everything that defines a run. Build it from `Default`, then [`LearnParams::check`] it.
/// Field names are what errors name (`stop.epochs` for the epoch count of the stop rule).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LearnParams {
    /// Number of atoms K. Default 144; range 1..=65536.
    pub atoms: usize,
    /// The l1 weight lambda of `0.5 ||x - D a||^2 + lambda ||a||_1`. Default 1.0; > 0.
    pub lambda: f32,
    /// Dictionary update rule. Default online.
    pub update: UpdateKind,
    /// Coder of the training batches. Default cd.
    pub coder: Coder,
    /// Patches per minibatch. Default 256; range 1..=training patches.
    pub batch: usize,
    /// When to stop. Default one epoch.
    pub stop: StopRule,
    /// Seed of every random choice (split, order, initial atoms). Default 0.
    pub seed: u64,
    /// A new order of the training patches every epoch (true), or file order (false).
    /// Default true; checkpoints from before the option read as true.
    #[serde(default = "shuffle_by_default")]
    pub shuffle: bool,
    /// The initial dictionary. Default random training patches.
    pub init: Init,
    /// Held-out patches for the validation objective; 0 disables it. Default None:
    /// min(1000, patches / 10). Range 0..patches.
    pub validation: Option<usize>,
    /// Steps between history rows (each row codes the held-out set exactly). Default 50;
    /// at least 1.
    pub validate_every: u64,
    /// An atom unused for this many consecutive training patches is re-seeded. Default 0:
    /// automatic, max(20 x atoms, 10 x batch); otherwise at least `batch`.
    pub dead_after: u64,
    /// Relative duality gap at which the training coder stops. Default 1e-3; range (0, 1).
    pub train_tol: f64,
    /// Iteration cap of the training coder. Default 300; at least 1.
    pub train_max_iter: usize,
    /// Relative duality gap of the exact (held-out) coder. Default 1e-5; range (0, 1).
    pub exact_tol: f64,
    /// Iteration cap of the exact coder. Default 5000; at least 1.
    pub exact_max_iter: usize,
    /// The Olshausen-Field rule's step size and gain settings (used with `update` of).
    pub of: OfParams,
}

fn shuffle_by_default() -> bool {
    true
}

impl Default for LearnParams {
    fn default() -> Self {
        Self {
            atoms: 144,
            lambda: 1.0,
            update: UpdateKind::Online,
            coder: Coder::Cd,
            batch: 256,
            stop: StopRule::Epochs(1.0),
            seed: 0,
            shuffle: true,
            init: Init::Data,
            validation: None,
            validate_every: 50,
            dead_after: 0,
            train_tol: 1e-3,
            train_max_iter: 300,
            exact_tol: 1e-5,
            exact_max_iter: 5000,
            of: OfParams::default(),
        }
    }
}

impl Params for LearnParams {
    fn validate(&mut self) -> Result<()> {
        ensure(
            (1..=65536).contains(&self.atoms),
            "atoms",
            self.atoms,
            "must be in 1..=65536",
        )?;
        CodingParams::new(self.lambda).check()?;
        match self.stop {
            StopRule::Epochs(e) => params::ensure_positive("stop.epochs", e)?,
            StopRule::Steps(s) => ensure(s >= 1, "stop.steps", s, "must be at least 1")?,
            StopRule::Seconds(s) => ensure(
                s > 0.0 && s.is_finite(),
                "stop.seconds",
                s,
                "must be a positive duration",
            )?,
        }
        ensure(
            self.validate_every >= 1,
            "validate_every",
            self.validate_every,
            "must be at least 1",
        )?;
        for (name, tol) in [("train_tol", self.train_tol), ("exact_tol", self.exact_tol)] {
            ensure(tol > 0.0 && tol < 1.0, name, tol, "must be in (0, 1)")?;
        }
        for (name, it) in [
            ("train_max_iter", self.train_max_iter),
            ("exact_max_iter", self.exact_max_iter),
        ] {
            ensure(it >= 1, name, it, "must be at least 1")?;
        }
        params::ensure_positive("of.eta", self.of.eta as f64)?;
        ensure(
            self.of.eta_halflife >= 1.0 && self.of.eta_halflife.is_finite(),
            "of.eta_halflife",
            self.of.eta_halflife,
            "must be >= 1",
        )?;
        ensure(
            self.dead_after == 0 || self.dead_after >= self.batch as u64,
            "dead_after",
            self.dead_after,
            format!("must be 0 (automatic) or at least `batch` ({})", self.batch),
        )?;
        if self.dead_after == 0 {
            self.dead_after = (20 * self.atoms as u64).max(10 * self.batch as u64);
        }
        Ok(())
    }
}

impl LearnParams {
    /// The checked parameters (see [`crate::params`]).
    pub fn check(&self) -> Result<Valid<Self>> {
        Params::check(self)
    }
}

impl Valid<LearnParams> {
    /// The parameters fitted to a set of `patches` patches: the automatic held-out size
    /// filled in, and the held-out size and the batch checked against the data.
    pub fn resolve(&self, patches: usize) -> Result<LearnParams> {
        let mut p = (**self).clone();
        let validation = p.validation.unwrap_or_else(|| (patches / 10).min(1000));
        ensure(
            validation < patches,
            "validation",
            validation,
            format!("must be less than the number of patches ({patches})"),
        )?;
        let train = patches - validation;
        ensure(
            p.batch >= 1 && p.batch <= train,
            "batch",
            p.batch,
            format!("must be in 1..={train} (the training patches)"),
        )?;
        p.validation = Some(validation);
        Ok(p)
    }
}

impl LearnParams {
    /// Held-out patches of resolved parameters.
    pub fn validation_len(&self) -> usize {
        self.validation
            .expect("the learner holds resolved parameters")
    }

    /// Steps to run, if the stop rule fixes them.
    pub fn total_steps(&self, train_patches: usize) -> Option<u64> {
        match self.stop {
            StopRule::Epochs(e) => Some(
                ((e * train_patches as f64) / self.batch as f64)
                    .ceil()
                    .max(1.0) as u64,
            ),
            StopRule::Steps(s) => Some(s),
            StopRule::Seconds(_) => None,
        }
    }

    /// The training coder's parameters.
    pub(crate) fn train_coding(&self) -> Result<Valid<CodingParams>> {
        CodingParams {
            tol: self.train_tol,
            max_iter: self.train_max_iter,
            ..CodingParams::new(self.lambda)
        }
        .check()
    }

    /// The exact (held-out) coder's parameters.
    pub(crate) fn exact_coding(&self) -> Result<Valid<CodingParams>> {
        CodingParams {
            tol: self.exact_tol,
            max_iter: self.exact_max_iter,
            ..CodingParams::new(self.lambda)
        }
        .check()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_fields_and_automatic_values_are_filled() {
        let field = |p: LearnParams| {
            p.check()
                .unwrap_err()
                .param_field()
                .unwrap_or("(not a parameter error)")
                .to_string()
        };
        let base = LearnParams::default();
        assert_eq!(
            field(LearnParams {
                atoms: 0,
                ..base.clone()
            }),
            "atoms"
        );
        assert_eq!(
            field(LearnParams {
                lambda: 0.0,
                ..base.clone()
            }),
            "lambda"
        );
        let stop = StopRule::Epochs(f64::NAN);
        assert_eq!(
            field(LearnParams {
                stop,
                ..base.clone()
            }),
            "stop.epochs"
        );
        assert_eq!(
            field(LearnParams {
                train_tol: 1.0,
                ..base.clone()
            }),
            "train_tol"
        );
        assert_eq!(
            field(LearnParams {
                dead_after: 3,
                ..base.clone()
            }),
            "dead_after"
        );

        let valid = base.check().unwrap();
        assert_eq!(valid.dead_after, 20 * 144);
        let resolved = valid.resolve(5000).unwrap();
        assert_eq!(resolved.validation, Some(500));
        assert_eq!(valid.resolve(50_000).unwrap().validation, Some(1000));
        // 300 patches: 30 held out leave 270 training patches, too few for a batch of 256+.
        let big = LearnParams {
            batch: 280,
            ..LearnParams::default()
        }
        .check()
        .unwrap();
        assert_eq!(big.resolve(300).unwrap_err().param_field(), Some("batch"));
    }
}
