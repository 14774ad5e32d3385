//! Sparse coding: given a dictionary D (pixels x atoms, unit-norm atoms) and patches X
//! (pixels x patches), find codes A (atoms x patches) minimising, per patch,
//! `0.5 * ||x - D a||^2 + lambda * ||a||_1`.
//!
//! Every coder implements [`SparseCoder`], works from a [`PreparedDictionary`] (the Gram
//! matrix and step size are computed once per dictionary), starts from the codes it is given
//! (a warm start; pass zeros for a cold one), and returns a [`CodingReport`]. Stopping is on
//! the relative duality gap, so the reported accuracy is a certificate. [`stream`] codes a
//! whole patch file against a dictionary file, batch by batch.

pub mod active_set;
pub mod batch;
pub mod fista;
mod homotopy;
pub mod shared;
pub mod stream;

use crate::error::{Error, Result};
use crate::linalg::power;
use crate::params::{self, Params, Valid};
use nalgebra::DMatrix;

/// Parameters every coder honours. Check them once ([`CodingParams::check`]); coders take
/// only the checked form.
#[derive(Debug, Clone, PartialEq)]
pub struct CodingParams {
    /// The l1 weight; scikit-learn's `alpha`, SPAMS's `lambda1` in mode 2. Default 1.0;
    /// finite and > 0.
    pub lambda: f32,
    /// Stop when every patch's relative duality gap (gap / primal objective) is below this.
    /// Default 1e-4; range (0, 1).
    pub tol: f64,
    /// Iteration cap; hitting it is reported (`converged: false`), not an error. Default
    /// 1000; at least 1.
    pub max_iter: usize,
    /// Constrain codes to be non-negative. Default off.
    pub positive: bool,
}

impl Default for CodingParams {
    fn default() -> Self {
        Self {
            lambda: 1.0,
            tol: 1e-4,
            max_iter: 1000,
            positive: false,
        }
    }
}

impl CodingParams {
    /// Default parameters for a given lambda.
    pub fn new(lambda: f32) -> Self {
        Self {
            lambda,
            ..Self::default()
        }
    }

    /// The checked parameters (see [`crate::params`]).
    pub fn check(&self) -> Result<Valid<Self>> {
        Params::check(self)
    }
}

impl Params for CodingParams {
    fn validate(&mut self) -> Result<()> {
        params::ensure_positive("lambda", self.lambda as f64)
            .map_err(|_| Error::param("lambda", self.lambda, "must be a finite number > 0"))?;
        params::ensure(
            self.tol > 0.0 && self.tol < 1.0,
            "tol",
            self.tol,
            "must be in (0, 1)",
        )?;
        params::ensure(
            self.max_iter >= 1,
            "max_iter",
            self.max_iter,
            "must be at least 1",
        )
    }
}

/// What a coding call did. Objectives are means over patches.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct CodingReport {
    pub coder: String,
    /// Largest iteration count over patches (or blocks).
    pub iterations: usize,
    /// Mean over patches of `0.5 ||x - D a||^2 + lambda ||a||_1`.
    pub objective: f64,
    /// Largest relative duality gap over patches at return.
    pub max_relative_gap: f64,
    /// Fraction of patches whose relative gap reached `tol`.
    pub converged_fraction: f64,
    /// True when every patch converged.
    pub converged: bool,
    /// Fraction of nonzero code entries.
    pub nonzero_fraction: f64,
    pub seconds: f64,
    /// Mean objective over patches at each gap check, when the coder was asked to record it
    /// (a converged patch keeps its final objective); empty otherwise.
    pub history: Vec<f64>,
    /// Floating-point operations spent in Gram-matrix products (FISTA/ISTA), for
    /// throughput reports; 0 for coders that do not use them.
    pub gemm_flops: f64,
}

/// A dictionary with what every coder needs precomputed.
#[derive(Debug, Clone)]
pub struct PreparedDictionary {
    /// pixels x atoms.
    pub d: DMatrix<f32>,
    /// D^T D, atoms x atoms.
    pub gram: DMatrix<f32>,
    /// An upper bound on the largest eigenvalue of D^T D (power iteration plus a margin).
    pub lipschitz: f32,
    /// `d` in float64 (pixels x atoms, column-major).
    pub d64: Vec<f64>,
    /// D^T D in float64 (atoms x atoms, column-major). With it and `D^T x` in float64 the
    /// Gram form of the duality gap keeps the digits a 1e-6 certificate needs, so the
    /// active-set coder never forms the residual explicitly.
    pub gram64: Vec<f64>,
}

impl PreparedDictionary {
    pub fn new(d: DMatrix<f32>) -> Self {
        // The 1% margin covers the power iteration's underestimate.
        Self::with_lipschitz(d, |gram| {
            let mut v = power::start_vector(gram.nrows());
            power::largest_eigenvalue(gram, &mut v, 200, 1e-6) * 1.01 + 1e-6
        })
    }

    /// Prepares `d` with the Lipschitz bound that `lipschitz` computes from the float32 Gram
    /// matrix (the learner warm-starts its power iteration from the previous step's).
    ///
    /// The Gram matrix is formed once, in float64, and the float32 one is its rounding: one
    /// product instead of two, and the float32 copy is as accurate as float32 can be.
    pub fn with_lipschitz(d: DMatrix<f32>, lipschitz: impl FnOnce(&DMatrix<f32>) -> f32) -> Self {
        let (p, k) = (d.nrows(), d.ncols());
        let d64: Vec<f64> = d.as_slice().iter().map(|&v| v as f64).collect();
        let gram64 = gram_f64(&d64, p, k);
        let gram = DMatrix::from_iterator(k, k, gram64.iter().map(|&v| v as f32));
        let lipschitz = lipschitz(&gram);
        Self {
            d,
            gram,
            lipschitz,
            d64,
            gram64,
        }
    }

    pub fn atoms(&self) -> usize {
        self.d.ncols()
    }

    pub fn pixels(&self) -> usize {
        self.d.nrows()
    }
}

/// Columns per block of [`gram_f64`].
const GRAM_BLOCK: usize = 32;

/// `D^T D` in float64 for the column-major `d64` (pixels `p` x atoms `k`), exactly symmetric.
/// Each block of [`GRAM_BLOCK`] columns is one product with the columns up to the block's
/// end (the part on and above the diagonal, about half the full product's work); the lower
/// triangle is its mirror. The blocks run in parallel, but the cut does not depend on the
/// thread count, so neither do the bits.
fn gram_f64(d64: &[f64], p: usize, k: usize) -> Vec<f64> {
    use rayon::prelude::*;
    let mut gram = vec![0f64; k * k];
    let blocks: Vec<(usize, usize, Vec<f64>)> = (0..k.div_ceil(GRAM_BLOCK))
        .into_par_iter()
        .with_max_len(1)
        .map(|b| {
            let (j0, j1) = (b * GRAM_BLOCK, ((b + 1) * GRAM_BLOCK).min(k));
            let mut upper = vec![0f64; j1 * (j1 - j0)];
            use crate::linalg::{Backend, View, ViewMut, gemm};
            let (a, b) = (
                View::columns(d64, p).t(),
                View::columns(&d64[j0 * p..j1 * p], p),
            );
            let out = ViewMut::columns(&mut upper, j1);
            gemm(Backend::Faer, (j1, p, j1 - j0), 1.0, a, b, 0.0, out);
            (j0, j1, upper)
        })
        .collect();
    // Block b holds rows 0..j1 of columns j0..j1 (j1 rows per column): copy each column's
    // part on and above the diagonal, then mirror it tile by tile, so both the strided reads
    // and the contiguous writes stay within a few kilobytes (a plain transposed copy walked
    // the whole matrix with a 2 KB stride and cost as much as the product).
    for (j0, j1, upper) in blocks {
        for j in j0..j1 {
            gram[j * k..j * k + j + 1]
                .copy_from_slice(&upper[(j - j0) * j1..(j - j0) * j1 + j + 1]);
        }
    }
    const TILE: usize = 32;
    for i0 in (0..k).step_by(TILE) {
        for j0 in (i0..k).step_by(TILE) {
            for i in i0..(i0 + TILE).min(k) {
                for j in j0.max(i + 1)..(j0 + TILE).min(k) {
                    gram[i * k + j] = gram[j * k + i];
                }
            }
        }
    }
    gram
}

/// A sparse coder.
pub trait SparseCoder: Send + Sync {
    /// Short name used on the command line and in reports.
    fn name(&self) -> &'static str;

    /// Encodes the columns of `x` (pixels x patches). `codes` (atoms x patches) holds the
    /// warm start on entry and the result on return.
    fn encode(
        &self,
        dict: &PreparedDictionary,
        x: &DMatrix<f32>,
        codes: &mut DMatrix<f32>,
        params: &Valid<CodingParams>,
    ) -> Result<CodingReport>;

    /// [`encode`](Self::encode) without the merged report: each
    /// [`BLOCK`](batch::BLOCK)-column block's outcome, in block order, for callers that code
    /// a batch in parts and merge the outcomes themselves ([`shared`]).
    fn encode_blocks(
        &self,
        dict: &PreparedDictionary,
        x: &DMatrix<f32>,
        codes: &mut DMatrix<f32>,
        params: &Valid<CodingParams>,
    ) -> Result<Vec<batch::BlockOutcome>>;
}

/// Primal objective and duality gap of one patch, computed in f64 from the quantities a
/// Gram-based coder has: `xx = ||x||^2`, `c = D^T x`, `a`, and `ga = G a`.
/// Dual point theta = r / max(lambda, ||D^T r||_inf) with r = x - D a, D^T r = c - G a.
pub fn objective_and_gap(xx: f64, c: &[f32], a: &[f32], ga: &[f32], lambda: f32) -> (f64, f64) {
    objective_and_gap_with(xx, c, a, |i| ga[i] as f64, lambda, false)
}

/// [`objective_and_gap`] with `G a` given by a function (so it may be held in f64) and
/// the non-negative variant: with `positive`, the dual constraint is one-sided,
/// `d_i^T theta <= lambda`, so only positive correlations scale the dual point.
#[inline(always)]
pub fn objective_and_gap_with(
    xx: f64,
    c: &[f32],
    a: &[f32],
    ga: impl Fn(usize) -> f64,
    lambda: f32,
    positive: bool,
) -> (f64, f64) {
    objective_and_gap_core(xx, |i| c[i] as f64, a, ga, lambda, positive)
}

/// [`objective_and_gap_with`] with `D^T x` and `G a` both in f64: with an f64 Gram matrix
/// this is as accurate as forming the residual (see [`PreparedDictionary::gram64`]).
#[inline(always)]
pub fn objective_and_gap_f64(
    xx: f64,
    c: &[f64],
    a: &[f32],
    ga: &[f64],
    lambda: f32,
    positive: bool,
) -> (f64, f64) {
    let (c, ga) = (&c[..a.len()], &ga[..a.len()]);
    objective_and_gap_core(xx, |i| c[i], a, |i| ga[i], lambda, positive)
}

#[inline(always)]
fn objective_and_gap_core(
    xx: f64,
    c: impl Fn(usize) -> f64,
    a: &[f32],
    ga: impl Fn(usize) -> f64,
    lambda: f32,
    positive: bool,
) -> (f64, f64) {
    let lambda = lambda as f64;
    // Independent partial sums per lane, combined in a fixed order: this loop runs at every
    // gap check of every patch, and lane-wise it compiles to full-width vector code (a
    // single running sum, or `f64::max` with its NaN rule, would keep it scalar).
    const GAP_LANES: usize = 8;
    let (mut ac, mut aga, mut l1, mut dtr) = (
        [0f64; GAP_LANES],
        [0f64; GAP_LANES],
        [0f64; GAP_LANES],
        [0f64; GAP_LANES],
    );
    let full = a.len() / GAP_LANES * GAP_LANES;
    let mut accumulate = |i: usize, l: usize| {
        let (ai, ci, gai) = (a[i] as f64, c(i), ga(i));
        ac[l] += ai * ci;
        aga[l] += ai * gai;
        l1[l] += ai.abs();
        let corr = if positive { ci - gai } else { (ci - gai).abs() };
        if corr > dtr[l] {
            dtr[l] = corr;
        }
    };
    for base in (0..full).step_by(GAP_LANES) {
        for l in 0..GAP_LANES {
            accumulate(base + l, l);
        }
    }
    for i in full..a.len() {
        accumulate(i, i - full);
    }
    let sum =
        |v: [f64; GAP_LANES]| ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]));
    let (ac, aga, l1) = (sum(ac), sum(aga), sum(l1));
    let dtr_max = dtr.iter().fold(0f64, |m, &v| if v > m { v } else { m });
    let rr = (xx - 2.0 * ac + aga).max(0.0);
    let primal = 0.5 * rr + lambda * l1;
    let rx = xx - ac;
    let s = lambda / dtr_max.max(lambda);
    let dual = s * rx - 0.5 * s * s * rr;
    (primal, (primal - dual).max(0.0))
}

/// Relative duality gap: gap over primal objective (zero when both are zero).
pub fn relative_gap(primal: f64, gap: f64) -> f64 {
    if gap <= 0.0 {
        0.0
    } else {
        gap / primal.max(f64::MIN_POSITIVE)
    }
}

/// The sparse coders, by name on the command line and in sidecars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Coder {
    /// Exact active-set coder: the lasso homotopy (LARS-lasso) from zero codes, coordinate
    /// descent with a sign-pattern Newton step from a warm start (fastest at high sparsity).
    #[default]
    Cd,
    /// FISTA with adaptive restart, batched on the Gram matrix.
    Fista,
    /// ISTA (no momentum; the objective never increases).
    Ista,
}

impl Coder {
    /// Every coder, in the order help texts list them.
    pub const ALL: [Coder; 3] = [Coder::Cd, Coder::Fista, Coder::Ista];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Coder::Cd => "cd",
            Coder::Fista => "fista",
            Coder::Ista => "ista",
        }
    }

    /// The coder called `name`; an unknown name is an error on the field `coder`.
    pub fn from_name(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|c| c.name() == name)
            .ok_or_else(|| {
                Error::param(
                    "coder",
                    name,
                    format!("must be one of {}", Self::ALL.map(Coder::name).join(", ")),
                )
            })
    }

    /// A coder of this kind, ready to encode.
    pub fn build(self) -> Box<dyn SparseCoder> {
        match self {
            Coder::Cd => Box::new(active_set::ActiveSetCd::default()),
            Coder::Fista => Box::new(fista::ProximalGradient::fista()),
            Coder::Ista => Box::new(fista::ProximalGradient::ista()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gram_is_the_exact_symmetric_product_for_any_block_cut() {
        // Atom counts below, at and across multiples of the block, so partial blocks run.
        for (p, k) in [(7usize, 1usize), (9, 31), (16, 32), (20, 50), (144, 97)] {
            let d64: Vec<f64> = (0..p * k)
                .map(|i| ((i * 7919) % 101) as f64 / 101.0 - 0.5)
                .collect();
            let gram = gram_f64(&d64, p, k);
            for j in 0..k {
                for i in 0..k {
                    assert_eq!(gram[j * k + i].to_bits(), gram[i * k + j].to_bits());
                    let dot: f64 = (0..p).map(|r| d64[i * p + r] * d64[j * p + r]).sum();
                    // p terms of size <= 0.25, each product rounded once: 1e-13 is far above
                    // the rounding of any summation order and far below any wrong entry.
                    assert!((gram[j * k + i] - dot).abs() < 1e-13, "{p}x{k} ({i},{j})");
                }
            }
        }
    }
}
