//! Sparse coding: given a dictionary D (pixels x atoms, unit-norm atoms) and patches X
//! (pixels x patches), find codes A (atoms x patches) minimising, per patch,
//! `0.5 * ||x - D a||^2 + lambda * ||a||_1`.
//!
//! Every coder implements [`SparseCoder`], works from a [`PreparedDictionary`] (the Gram
//! matrix and step size are computed once per dictionary), starts from the codes it is given
//! (a warm start; pass zeros for a cold one), and returns a [`CodingReport`]. Stopping is on
//! the relative duality gap, so the reported accuracy is a certificate.

pub mod active_set;
pub mod batch;
pub mod fista;
pub mod gemm;
mod homotopy;

use crate::error::{Error, Result};
use nalgebra::DMatrix;

/// Parameters every coder honours.
#[derive(Debug, Clone, PartialEq)]
pub struct CodingParams {
    /// The l1 weight (> 0); scikit-learn's `alpha`, SPAMS's `lambda1` in mode 2.
    pub lambda: f32,
    /// Stop when every patch's relative duality gap (gap / primal objective) is below this.
    /// Default 1e-4; range (0, 1).
    pub tol: f64,
    /// Iteration cap; hitting it is reported (`converged: false`), not an error. Default 1000.
    pub max_iter: usize,
    /// Constrain codes to be non-negative.
    pub positive: bool,
}

impl CodingParams {
    /// Default parameters for a given lambda.
    pub fn new(lambda: f32) -> Self {
        Self {
            lambda,
            tol: 1e-4,
            max_iter: 1000,
            positive: false,
        }
    }

    /// Validates the ranges; only checked parameters should reach a coder.
    pub fn check(self) -> Result<Self> {
        if !(self.lambda > 0.0 && self.lambda.is_finite()) {
            return Err(Error::usage(
                "--lambda",
                self.lambda,
                "must be a finite number > 0",
            ));
        }
        if !(self.tol > 0.0 && self.tol < 1.0) {
            return Err(Error::usage("--tol", self.tol, "must be in (0, 1)"));
        }
        if self.max_iter == 0 {
            return Err(Error::usage(
                "--max-iter",
                self.max_iter,
                "must be at least 1",
            ));
        }
        Ok(self)
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
        let k = d.ncols();
        let mut gram = DMatrix::<f32>::zeros(k, k);
        gemm::matmul_tn(
            k,
            d.nrows(),
            k,
            d.as_slice(),
            d.as_slice(),
            gram.as_mut_slice(),
        );
        let lipschitz = largest_eigenvalue(&gram) * 1.01 + 1e-6;
        Self::from_parts(d, gram, lipschitz)
    }

    /// Completes a dictionary whose float32 Gram matrix and Lipschitz bound the caller has
    /// already computed (the learner warm-starts the power iteration) with the float64 parts.
    pub fn from_parts(d: DMatrix<f32>, gram: DMatrix<f32>, lipschitz: f32) -> Self {
        let (p, k) = (d.nrows(), d.ncols());
        let d64: Vec<f64> = d.iter().map(|&v| v as f64).collect();
        let mut gram64 = vec![0f64; k * k];
        gemm::matmul_tn(k, p, k, &d64, &d64, &mut gram64);
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

/// Power iteration for the largest eigenvalue of a symmetric positive semi-definite matrix.
/// The 1% margin the caller adds covers the iteration's underestimate.
pub fn largest_eigenvalue(gram: &DMatrix<f32>) -> f32 {
    let n = gram.nrows();
    if n == 0 {
        return 0.0;
    }
    // A deterministic, non-degenerate start vector.
    let mut v = nalgebra::DVector::from_fn(n, |i, _| 1.0 + (i as f32 * 0.618).fract());
    let mut lambda = 0.0f32;
    for _ in 0..200 {
        let w = gram * &v;
        let norm = w.norm();
        if norm == 0.0 {
            return 0.0;
        }
        let next = norm / v.norm();
        v = w / norm;
        if (next - lambda).abs() <= 1e-6 * next {
            return next;
        }
        lambda = next;
    }
    lambda
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
        params: &CodingParams,
    ) -> Result<CodingReport>;
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
    let (mut ac, mut aga, mut l1, mut dtr_max) = (0f64, 0f64, 0f64, 0f64);
    for (i, &ai) in a.iter().enumerate() {
        let (ai, ci, gai) = (ai as f64, c(i), ga(i));
        ac += ai * ci;
        aga += ai * gai;
        l1 += ai.abs();
        let corr = ci - gai;
        dtr_max = dtr_max.max(if positive { corr } else { corr.abs() });
    }
    let rr = (xx - 2.0 * ac + aga).max(0.0);
    let primal = 0.5 * rr + lambda * l1;
    let rx = xx - ac;
    let s = lambda / dtr_max.max(lambda);
    let dual = s * rx - 0.5 * s * s * rr;
    (primal, (primal - dual).max(0.0))
}

/// Primal objective and duality gap from the residual `r = x - D a` formed explicitly in
/// f64 (`r` is scratch of length pixels). Slower than the Gram form (pixels x atoms per
/// patch) but free of its cancellation: when the residual is small next to `x`,
/// `||x||^2 - 2 a'c + a'G a` with float32 `c` and `G` loses the digits a 1e-6 certificate
/// needs, so FISTA/ISTA confirm a near-converged patch with this before they stop. (The
/// active-set coder instead holds `c` and `G` in f64, see [`objective_and_gap_f64`].)
#[inline(always)]
pub fn objective_and_gap_exact(
    d: &[f32],
    pixels: usize,
    x: &[f32],
    a: &[f32],
    lambda: f32,
    positive: bool,
    r: &mut [f64],
) -> (f64, f64) {
    let lambda = lambda as f64;
    let r = &mut r[..pixels];
    for (ri, &xi) in r.iter_mut().zip(x) {
        *ri = xi as f64;
    }
    let mut l1 = 0f64;
    for (i, &ai) in a.iter().enumerate() {
        if ai != 0.0 {
            l1 += (ai as f64).abs();
            for (ri, &di) in r.iter_mut().zip(&d[i * pixels..(i + 1) * pixels]) {
                *ri -= ai as f64 * di as f64;
            }
        }
    }
    let rr = dot_f64(r, r);
    let mut rx = 0f64;
    for (ri, &xi) in r.iter().zip(x) {
        rx += ri * xi as f64;
    }
    let mut dtr_max = 0f64;
    for di in d.chunks_exact(pixels).take(a.len()) {
        let corr = dot_f32_f64(di, r);
        dtr_max = dtr_max.max(if positive { corr } else { corr.abs() });
    }
    let primal = 0.5 * rr + lambda * l1;
    let s = lambda / dtr_max.max(lambda);
    let dual = s * rx - 0.5 * s * s * rr;
    (primal, (primal - dual).max(0.0))
}

/// Independent partial sums in the f64 dot products below: enough for the compiler to
/// keep a full AVX-512 register of accumulators busy. The summation order is fixed in the
/// source, so the result does not depend on the CPU path or the thread count.
const DOT_LANES: usize = 8;

/// `sum_i x_i y_i` in f64 with [`DOT_LANES`] partial sums (vectorises, unlike `.sum()`).
#[inline(always)]
pub fn dot_f64(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len().min(y.len());
    let mut acc = [0f64; DOT_LANES];
    let (xc, yc) = (
        x[..n].chunks_exact(DOT_LANES),
        y[..n].chunks_exact(DOT_LANES),
    );
    let mut tail = 0f64;
    for (a, b) in xc.remainder().iter().zip(yc.remainder()) {
        tail += a * b;
    }
    for (a, b) in xc.zip(yc) {
        for l in 0..DOT_LANES {
            acc[l] += a[l] * b[l];
        }
    }
    lane_sum(&acc) + tail
}

/// `sum_i x_i y_i` with `x` in f32 widened to f64, [`DOT_LANES`] partial sums.
#[inline(always)]
pub fn dot_f32_f64(x: &[f32], y: &[f64]) -> f64 {
    let n = x.len().min(y.len());
    let mut acc = [0f64; DOT_LANES];
    let (xc, yc) = (
        x[..n].chunks_exact(DOT_LANES),
        y[..n].chunks_exact(DOT_LANES),
    );
    let mut tail = 0f64;
    for (a, b) in xc.remainder().iter().zip(yc.remainder()) {
        tail += *a as f64 * b;
    }
    for (a, b) in xc.zip(yc) {
        for l in 0..DOT_LANES {
            acc[l] += a[l] as f64 * b[l];
        }
    }
    lane_sum(&acc) + tail
}

#[inline(always)]
fn lane_sum(acc: &[f64; DOT_LANES]) -> f64 {
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]))
}

/// Relative duality gap: gap over primal objective (zero when both are zero).
pub fn relative_gap(primal: f64, gap: f64) -> f64 {
    if gap <= 0.0 {
        0.0
    } else {
        gap / primal.max(f64::MIN_POSITIVE)
    }
}

/// Names accepted by [`coder_by_name`] (and `--coder`), with a one-line description each.
pub const CODERS: &[(&str, &str)] = &[
    (
        "cd",
        "exact active-set coordinate descent on the Gram matrix with a sign-pattern Newton \
         step (fastest at high sparsity)",
    ),
    (
        "fista",
        "FISTA with adaptive restart, batched on the Gram matrix",
    ),
    ("ista", "ISTA (no momentum; the objective never increases)"),
];

/// The coder behind a `--coder` name.
pub fn coder_by_name(name: &str) -> Result<Box<dyn SparseCoder>> {
    match name {
        "cd" => Ok(Box::new(active_set::ActiveSetCd::default())),
        "fista" => Ok(Box::new(fista::ProximalGradient::fista())),
        "ista" => Ok(Box::new(fista::ProximalGradient::ista())),
        _ => Err(Error::usage(
            "--coder",
            name,
            format!(
                "must be one of {}",
                CODERS.iter().map(|c| c.0).collect::<Vec<_>>().join(", ")
            ),
        )),
    }
}
