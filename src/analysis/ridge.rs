//! Dropout as ridge regression, shown numerically.
//!
//! For linear regression with inputs dropped at rate p and the survivors scaled by
//! 1/(1 - p) ("inverted" dropout, so E[x~] = x), the expected squared error is
//!
//! ```text
//! E ||y - X~ b||^2 = ||y - X b||^2 + p/(1-p) sum_j b_j^2 ||x_j||^2
//! ```
//!
//! because each dropped-and-rescaled input has variance `x_ij^2 p/(1-p)` and the inputs
//! are masked independently. Its minimiser is a ridge whose penalty is weighted by each
//! feature's energy, `(X^T X + p/(1-p) diag(X^T X))^-1 X^T y`, not the plain ridge
//! `(X^T X + lambda I)^-1 X^T y`: the two agree only when every column has the same norm
//! (standardised features), with `lambda = p/(1-p) ||x_j||^2`.
//!
//! [`dropout_sgd`] minimises the dropout objective directly, by SGD with a fresh mask per
//! example and step, a decaying step and the average of the iterates over the run's second
//! half; [`compare`] puts it beside both closed forms and reports the two distances.

use crate::error::{Error, Result};
use nalgebra::{DMatrix, DVector};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::Serialize;

/// `(X^T X + p/(1-p) diag(X^T X))^-1 X^T y`: the minimiser of the expected dropout loss.
pub fn weighted_ridge(x: &DMatrix<f64>, y: &DVector<f64>, rate: f64) -> Result<DVector<f64>> {
    let mut gram = x.transpose() * x;
    let w = rate / (1.0 - rate);
    for j in 0..gram.nrows() {
        gram[(j, j)] *= 1.0 + w;
    }
    solve_spd(gram, x.transpose() * y)
}

/// `(X^T X + lambda I)^-1 X^T y`.
pub fn plain_ridge(x: &DMatrix<f64>, y: &DVector<f64>, lambda: f64) -> Result<DVector<f64>> {
    let mut gram = x.transpose() * x;
    for j in 0..gram.nrows() {
        gram[(j, j)] += lambda;
    }
    solve_spd(gram, x.transpose() * y)
}

/// The plain ridge weight with the same total penalty on equal coefficients as the dropout
/// penalty: `p/(1-p)` times the mean column energy `||x_j||^2`.
pub fn matched_plain_lambda(x: &DMatrix<f64>, rate: f64) -> f64 {
    let mean_energy =
        x.column_iter().map(|c| c.norm_squared()).sum::<f64>() / x.ncols().max(1) as f64;
    rate / (1.0 - rate) * mean_energy
}

fn solve_spd(a: DMatrix<f64>, b: DVector<f64>) -> Result<DVector<f64>> {
    a.cholesky().map(|c| c.solve(&b)).ok_or_else(|| {
        Error::failed(
            "ridge solve",
            "the regularised Gram matrix is not positive definite",
        )
    })
}

/// Settings of [`dropout_sgd`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DropoutSgdParams {
    /// Dropout rate p. Range [0, 1).
    pub rate: f64,
    /// SGD steps, one example each. Default 400,000; range >= 2.
    pub steps: usize,
    /// Step t uses `step0 / (1 + t / decay)^0.75`, with `step0 = scale / L` and L the mean
    /// curvature of one example's loss, `2 E||x~||^2`. Default scale 0.5; range (0, 2).
    pub step_scale: f64,
    /// Steps over which the step halves roughly. Default 1,000; range >= 1.
    pub decay: f64,
    pub seed: u64,
}

impl DropoutSgdParams {
    pub fn new(rate: f64) -> Self {
        Self {
            rate,
            steps: 400_000,
            step_scale: 0.5,
            decay: 1000.0,
            seed: 0,
        }
    }
}

/// SGD on `(y_i - x~_i b)^2` with a fresh inverted-dropout mask per step, from b = 0;
/// returns the average of the iterates over the second half of the run (Polyak-Ruppert
/// averaging, which removes most of the mask and sampling noise a single iterate keeps).
pub fn dropout_sgd(
    x: &DMatrix<f64>,
    y: &DVector<f64>,
    params: &DropoutSgdParams,
) -> Result<DVector<f64>> {
    let (n, d) = x.shape();
    let p = params.rate;
    if !(0.0..1.0).contains(&p) {
        return Err(Error::param("rate", p, "must be in [0, 1)"));
    }
    if params.steps < 2 || n == 0 || y.len() != n {
        return Err(Error::param(
            "steps",
            params.steps,
            "need >= 2 steps and one y per row",
        ));
    }
    if !(params.step_scale > 0.0 && params.step_scale < 2.0) || params.decay < 1.0 {
        return Err(Error::param(
            "step_scale",
            params.step_scale,
            "must be in (0, 2), decay >= 1",
        ));
    }
    let keep = 1.0 - p;
    let mean_sq = x.iter().map(|v| v * v).sum::<f64>() / n as f64;
    let step0 = params.step_scale / (2.0 * mean_sq / keep);
    let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
    let mut b = DVector::<f64>::zeros(d);
    let mut average = DVector::<f64>::zeros(d);
    let mut averaged = 0usize;
    let mut xt = vec![0f64; d];
    let half = params.steps / 2;
    for t in 0..params.steps {
        let i = rng.random_range(0..n);
        for (j, v) in xt.iter_mut().enumerate() {
            *v = if rng.random::<f64>() < keep {
                x[(i, j)] / keep
            } else {
                0.0
            };
        }
        let pred: f64 = xt.iter().zip(b.iter()).map(|(a, c)| a * c).sum();
        let step = step0 / (1.0 + t as f64 / params.decay).powf(0.75);
        let g = 2.0 * (pred - y[i]);
        for (bj, &xj) in b.iter_mut().zip(&xt) {
            *bj -= step * g * xj;
        }
        if t >= half {
            averaged += 1;
            // Running mean, so the average never holds a large sum.
            let w = 1.0 / averaged as f64;
            for (a, &bj) in average.iter_mut().zip(b.iter()) {
                *a += w * (bj - *a);
            }
        }
    }
    if !average.iter().all(|v| v.is_finite()) {
        return Err(Error::failed("dropout SGD", "diverged; lower step_scale"));
    }
    Ok(average)
}

/// SGD beside the two closed forms.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DropoutRidgeComparison {
    pub rate: f64,
    pub sgd: Vec<f64>,
    pub weighted_ridge: Vec<f64>,
    pub plain_ridge: Vec<f64>,
    pub plain_lambda: f64,
    /// `||b_sgd - b_weighted|| / ||b_weighted||`.
    pub distance_to_weighted: f64,
    /// `||b_sgd - b_plain|| / ||b_plain||`.
    pub distance_to_plain: f64,
}

/// Runs [`dropout_sgd`] and reports its relative distances to the weighted ridge (the
/// prediction) and to the plain ridge with the matched weight.
pub fn compare(
    x: &DMatrix<f64>,
    y: &DVector<f64>,
    params: &DropoutSgdParams,
) -> Result<DropoutRidgeComparison> {
    let sgd = dropout_sgd(x, y, params)?;
    let weighted = weighted_ridge(x, y, params.rate)?;
    let plain_lambda = matched_plain_lambda(x, params.rate);
    let plain = plain_ridge(x, y, plain_lambda)?;
    let rel = |a: &DVector<f64>, b: &DVector<f64>| (a - b).norm() / b.norm().max(f64::MIN_POSITIVE);
    Ok(DropoutRidgeComparison {
        rate: params.rate,
        distance_to_weighted: rel(&sgd, &weighted),
        distance_to_plain: rel(&sgd, &plain),
        sgd: sgd.iter().copied().collect(),
        weighted_ridge: weighted.iter().copied().collect(),
        plain_ridge: plain.iter().copied().collect(),
        plain_lambda,
    })
}

/// A seeded regression problem whose columns have the given scales: `x_ij = scale_j z_ij`
/// with z standard normal, `y = X b_true + noise`, `b_true_j = 1 / scale_j` (so every
/// feature contributes alike to y). Returns (X, y, b_true).
pub fn scaled_problem(
    rows: usize,
    scales: &[f64],
    noise: f64,
    seed: u64,
) -> (DMatrix<f64>, DVector<f64>, DVector<f64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let d = scales.len();
    let x = DMatrix::<f64>::from_fn(rows, d, |_, j| {
        scales[j] * rng.sample::<f64, _>(StandardNormal)
    });
    let b_true = DVector::<f64>::from_fn(d, |j, _| 1.0 / scales[j]);
    let y = &x * &b_true
        + DVector::<f64>::from_fn(rows, |_, _| noise * rng.sample::<f64, _>(StandardNormal));
    (x, y, b_true)
}

/// The columns of `x` scaled to unit root-mean-square (the standardisation under which
/// dropout becomes plain ridge; the problems here have zero-mean columns).
pub fn standardised(x: &DMatrix<f64>) -> DMatrix<f64> {
    let n = x.nrows() as f64;
    let mut out = x.clone();
    for mut c in out.column_iter_mut() {
        let rms = (c.norm_squared() / n).sqrt();
        if rms > 0.0 {
            c /= rms;
        }
    }
    out
}
