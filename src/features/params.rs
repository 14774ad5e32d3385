//! The settings of one `features` run, in the checked-parameters idiom ([`crate::params`]): [`FeaturesParams`] has a
//! `Default` holding the published settings of Coates, Lee and Ng (AISTATS 2011), every
//! field's doc gives its default and range, and [`FeaturesParams::check`] turns it into a
//! [`ValidFeaturesParams`], the only type the pipeline accepts. Errors name the field
//! (`atoms`, `patch_size`, ...); the command line maps fields to its flags.

use crate::error::{Error, Result};
use crate::params::{self, Params, Valid, ensure};
use serde::{Deserialize, Serialize};

/// Where the filter bank comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DictionaryKind {
    /// Online sparse coding (the `learn` job's online rule) on the whitened patches.
    SparseCoding,
    /// Spherical k-means (unit-norm centroids, Coates and Ng's gain-shape variant).
    Kmeans,
    /// Euclidean k-means (the AISTATS 2011 paper's variant: centroids are cluster means).
    KmeansEuclidean,
    /// Randomly chosen whitened patches, scaled to unit norm.
    RandomPatches,
    /// A bank given by the caller (a `.npy` file on the command line).
    Given,
}

impl DictionaryKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::SparseCoding => "sparse-coding",
            Self::Kmeans => "kmeans",
            Self::KmeansEuclidean => "kmeans-euclidean",
            Self::RandomPatches => "random-patches",
            Self::Given => "given",
        }
    }
}

/// How a window's responses to the atoms become features.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EncoderKind {
    /// `max(0, d.x - alpha)` and `max(0, -d.x - alpha)`: 2K features per window (Coates and
    /// Ng's "natural encoding", ICML 2011).
    SoftThreshold,
    /// `max(0, mean_j(z_j) - z_k)` with `z_k = ||x - c_k||`: K features per window (the
    /// k-means "triangle" encoding of AISTATS 2011).
    Triangle,
    /// Exact lasso codes `argmin 0.5||x - D a||^2 + lambda ||a||_1`, split into positive and
    /// negative parts: 2K features per window.
    Lasso,
}

impl EncoderKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::SoftThreshold => "soft-threshold",
            Self::Triangle => "triangle",
            Self::Lasso => "lasso",
        }
    }

    /// Features per atom per pooling region.
    pub fn features_per_atom(self) -> usize {
        match self {
            Self::Triangle => 1,
            Self::SoftThreshold | Self::Lasso => 2,
        }
    }
}

/// The linear classifier on the pooled, standardised features.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClassifierKind {
    /// One-vs-all L2-SVM (squared hinge), as in the paper.
    Svm,
    /// Multinomial logistic regression.
    Logistic,
}

impl ClassifierKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Svm => "svm",
            Self::Logistic => "logistic",
        }
    }
}

/// How the classifier's objective is minimised (both stop at the same tolerance).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Solver {
    /// Truncated Newton: conjugate gradients on the (generalised) Hessian, then a
    /// backtracking line search. Each CG step costs one pass over the features.
    NewtonCg,
    /// L-BFGS (the `argmin` crate, More-Thuente line search, 10 corrections).
    Lbfgs,
}

/// Which space a given bank's atoms live in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BankSpace {
    /// Atoms apply to normalised, ZCA-whitened windows (as the learned dictionaries do).
    Whitened,
    /// Atoms apply to normalised windows before whitening (pixel-space filters such as a
    /// CNN's conv1 or an analytic Gabor bank).
    Normalized,
}

/// Every setting of a run. `Default` is the paper's setting for the dictionary, the encoder
/// and the preprocessing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeaturesParams {
    /// Where the bank comes from. Default `Kmeans`.
    pub dictionary: DictionaryKind,
    /// Atoms K in the bank. Default 1600; range 1..=16384. Ignored for a given bank (its
    /// own count is used).
    pub atoms: usize,
    /// Side of the square windows in pixels. Default 6; range 1..=the image side.
    pub patch_size: usize,
    /// Step between windows in pixels. Default 1; range 1..=patch_size.
    pub stride: usize,
    /// The encoder. Default `SoftThreshold`.
    pub encoder: EncoderKind,
    /// Threshold of the soft-threshold encoder, in whitened units. Default 0.25 (Coates and
    /// Ng, ICML 2011); range >= 0.
    pub alpha: f32,
    /// l1 weight of the lasso encoder. Default 1.0; range > 0.
    pub lasso_lambda: f32,
    /// Relative duality gap at which each lasso code stops. Default 1e-3; range (0, 1).
    pub lasso_tol: f64,
    /// Random training patches for the whitening and the dictionary. Default 400,000;
    /// range 1..=100,000,000 (and at least `atoms`).
    pub patches: usize,
    /// Added to each window's variance before dividing by its square root (contrast
    /// normalisation), in squared 8-bit grey levels. Default 10 (the paper's code); range
    /// >= 0, and > 0 is wise (a flat window would otherwise divide by zero).
    pub normalization_offset: f32,
    /// Added to the eigenvalues of the normalised windows' covariance before the ZCA
    /// inverse square root. Default 0.1 (the paper's code); range > 0.
    pub zca_epsilon: f32,
    /// Iterations of k-means. Default 10 (spherical; Coates and Ng 2012 call "about 10"
    /// enough); range 1..=10,000.
    pub kmeans_iterations: usize,
    /// l1 weight of sparse-coding dictionary learning. Default 1.0; range > 0.
    pub sparse_coding_lambda: f32,
    /// Passes of online sparse coding over the patches. Default 1; range (0, 1000].
    pub sparse_coding_epochs: f64,
    /// Space of a given bank's atoms. Default `Whitened`.
    pub bank_space: BankSpace,
    /// The classifier. Default `Svm`.
    pub classifier: ClassifierKind,
    /// The classifier's solver. Default `Lbfgs`: on a 2,000-image CIFAR run (800 features)
    /// it needed 1,093 passes over the features for the lambda search and refit against
    /// Newton-CG's 1,525 (README, `simplecell features`).
    pub solver: Solver,
    /// Candidate L2 weights lambda of the classifier's objective `lambda/2 ||W||^2 + mean
    /// loss`; the one with the best held-out accuracy is refit on every training image.
    /// Default 1e-3, 3e-3, 1e-2, 3e-2, 1e-1 (the paper's code minimises
    /// `||W||^2 / 2 + C mean loss` with C = 100, which is lambda = 0.01 here); each > 0,
    /// 1..=32 values.
    pub lambdas: Vec<f64>,
    /// Training images held out to choose lambda. Default 10,000; range 1..training images
    /// (a run with fewer than 5x this many training images holds out a fifth).
    pub validation: usize,
    /// The solver stops when `||grad J|| <= tol * lambda ||W||` (loss and penalty gradients
    /// cancel to this relative precision). Default 1e-2; range (0, 1).
    pub tol: f64,
    /// Cap on L-BFGS iterations or Newton steps; reaching it is reported, not an error.
    /// Default 1000; range 1..=100,000.
    pub max_iter: usize,
    /// Labelled training-set sizes of the learning curve (each capped at the training set,
    /// duplicates dropped). Default 1000, 5000, 10000, 50000; each >= 10; may be empty.
    pub learning_curve: Vec<usize>,
    /// Images per encoder GEMM. Default 8; range 1..=1024. Bounds the encoder's scratch
    /// memory (images x windows x atoms floats per thread), not the result.
    pub encode_batch: usize,
    /// Seed of every random choice (patches, initial dictionaries, splits). Default 0.
    pub seed: u64,
}

impl Default for FeaturesParams {
    fn default() -> Self {
        Self {
            dictionary: DictionaryKind::Kmeans,
            atoms: 1600,
            patch_size: 6,
            stride: 1,
            encoder: EncoderKind::SoftThreshold,
            alpha: 0.25,
            lasso_lambda: 1.0,
            lasso_tol: 1e-3,
            patches: 400_000,
            normalization_offset: 10.0,
            zca_epsilon: 0.1,
            kmeans_iterations: 10,
            sparse_coding_lambda: 1.0,
            sparse_coding_epochs: 1.0,
            bank_space: BankSpace::Whitened,
            classifier: ClassifierKind::Svm,
            solver: Solver::Lbfgs,
            lambdas: vec![1e-3, 3e-3, 1e-2, 3e-2, 1e-1],
            validation: 10_000,
            tol: 1e-2,
            max_iter: 1000,
            learning_curve: vec![1000, 5000, 10_000, 50_000],
            encode_batch: 8,
            seed: 0,
        }
    }
}

/// Parameters that passed [`FeaturesParams::check`]; only these run.
pub type ValidFeaturesParams = Valid<FeaturesParams>;

impl Params for FeaturesParams {
    fn validate(&mut self) -> Result<()> {
        ensure(
            (1..=16384).contains(&self.atoms),
            "atoms",
            self.atoms,
            "must be in 1..=16384",
        )?;
        ensure(
            (1..=64).contains(&self.patch_size),
            "patch_size",
            self.patch_size,
            "must be in 1..=64 (and at most the image side)",
        )?;
        ensure(
            (1..=self.patch_size).contains(&self.stride),
            "stride",
            self.stride,
            format!("must be in 1..={} (`patch_size`)", self.patch_size),
        )?;
        ensure(
            self.alpha >= 0.0 && self.alpha.is_finite(),
            "alpha",
            self.alpha,
            "must be a finite number >= 0",
        )?;
        for (field, v) in [
            ("lasso_lambda", self.lasso_lambda),
            ("zca_epsilon", self.zca_epsilon),
            ("sparse_coding_lambda", self.sparse_coding_lambda),
        ] {
            params::ensure_positive(field, v as f64)?;
        }
        ensure(
            self.normalization_offset >= 0.0 && self.normalization_offset.is_finite(),
            "normalization_offset",
            self.normalization_offset,
            "must be a finite number >= 0",
        )?;
        for (field, v) in [("lasso_tol", self.lasso_tol), ("tol", self.tol)] {
            ensure(v > 0.0 && v < 1.0, field, v, "must be in (0, 1)")?;
        }
        ensure(
            (1..=100_000_000).contains(&self.patches),
            "patches",
            self.patches,
            "must be in 1..=100000000",
        )?;
        let learns = !matches!(self.dictionary, DictionaryKind::Given);
        ensure(
            !learns || self.patches >= self.atoms,
            "patches",
            self.patches,
            format!("must be at least `atoms` ({})", self.atoms),
        )?;
        ensure(
            (1..=10_000).contains(&self.kmeans_iterations),
            "kmeans_iterations",
            self.kmeans_iterations,
            "must be in 1..=10000",
        )?;
        ensure(
            self.sparse_coding_epochs > 0.0 && self.sparse_coding_epochs <= 1000.0,
            "sparse_coding_epochs",
            self.sparse_coding_epochs,
            "must be in (0, 1000]",
        )?;
        ensure(
            (1..=32).contains(&self.lambdas.len()),
            "lambdas",
            format!("{} values", self.lambdas.len()),
            "give 1..=32 values",
        )?;
        if let Some(bad) = self.lambdas.iter().find(|v| !(**v > 0.0 && v.is_finite())) {
            return Err(Error::param(
                "lambdas",
                bad,
                "each must be a finite number > 0",
            ));
        }
        ensure(
            self.validation >= 1,
            "validation",
            self.validation,
            "must be at least 1",
        )?;
        ensure(
            (1..=100_000).contains(&self.max_iter),
            "max_iter",
            self.max_iter,
            "must be in 1..=100000",
        )?;
        if let Some(bad) = self.learning_curve.iter().find(|&&n| n < 10) {
            return Err(Error::param(
                "learning_curve",
                bad,
                "each size must be at least 10 images",
            ));
        }
        ensure(
            (1..=1024).contains(&self.encode_batch),
            "encode_batch",
            self.encode_batch,
            "must be in 1..=1024",
        )
    }
}

impl FeaturesParams {
    /// Checks every range that does not depend on the data (see [`crate::params`]);
    /// [`Valid::check_images`] checks the window once the images are known.
    pub fn check(&self) -> Result<ValidFeaturesParams> {
        Params::check(self)
    }
}

impl Valid<FeaturesParams> {
    /// Checks the window against images of `height` x `width`.
    pub fn check_images(&self, height: usize, width: usize) -> Result<()> {
        let side = height.min(width);
        if self.patch_size > side {
            return Err(Error::param(
                "patch_size",
                self.patch_size,
                format!("is larger than the images ({height}x{width})"),
            ));
        }
        Ok(())
    }

    /// Windows per image side: `(side - patch) / stride + 1`.
    pub fn positions(&self, side: usize) -> usize {
        (side - self.patch_size) / self.stride + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_pass_and_each_bad_field_is_named() {
        FeaturesParams::default().check().unwrap();
        let cases: Vec<(&str, FeaturesParams)> = vec![
            (
                "atoms",
                FeaturesParams {
                    atoms: 0,
                    ..Default::default()
                },
            ),
            (
                "patch_size",
                FeaturesParams {
                    patch_size: 0,
                    ..Default::default()
                },
            ),
            (
                "stride",
                FeaturesParams {
                    stride: 7,
                    ..Default::default()
                },
            ),
            (
                "alpha",
                FeaturesParams {
                    alpha: f32::NAN,
                    ..Default::default()
                },
            ),
            (
                "lambdas",
                FeaturesParams {
                    lambdas: vec![1.0, -1.0],
                    ..Default::default()
                },
            ),
            (
                "patches",
                FeaturesParams {
                    patches: 100,
                    ..Default::default()
                },
            ),
        ];
        for (field, p) in cases {
            let err = p.check().unwrap_err();
            assert_eq!(err.param_field(), Some(field), "{err}");
        }
        let v = FeaturesParams::default().check().unwrap();
        assert!(v.check_images(32, 32).is_ok());
        assert_eq!(v.positions(32), 27);
        let big = FeaturesParams {
            patch_size: 33,
            ..Default::default()
        }
        .check()
        .unwrap();
        assert_eq!(
            big.check_images(32, 32).unwrap_err().param_field(),
            Some("patch_size")
        );
    }
}
