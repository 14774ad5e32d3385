//! Dropout as ridge for multinomial logistic regression: dropout-trained weights beside the
//! L2-trained weights of the same norm.
//!
//! For a linear model, inverted dropout on the inputs at rate p adds to the expected loss,
//! to second order, `1/2 p/(1-p) sum_i sum_j x_ij^2 w_j^T H_i w_j` (Wager, Wang and Liang
//! 2013), with `w_j` the j-th row of W (one weight per class) and `H_i` the softmax
//! curvature of example i: a penalty weighted by each feature's energy, as in linear
//! regression ([`super::ridge`]), up to the curvature. Its analogue of the weighted ridge
//! is the *weighted L2* `lambda/2 sum_j E[x_j^2] ||w_j||^2`, an ordinary L2 fit on features
//! scaled to unit root-mean-square with the weights mapped back; the plain L2 `lambda/2
//! ||W||^2` is the other prediction. Neither has a closed form here, so [`compare`]
//! trains the dropout model ([`dropout_logistic`]: minibatch SGD, a fresh mask per example
//! and step, a decaying step and iterate averaging), then for each prediction the L2 fit
//! (`features::classifier`, L-BFGS) whose weight norm matches the dropout weights' norm
//! ([`norm_matched`], bisection on log lambda with warm starts), and reports the cosine of
//! each to the dropout weights and the three test accuracies.

use crate::error::{Error, Result};
use crate::features::classifier::{self, Accuracy, FitSettings, LinearModel};
use crate::features::params::{ClassifierKind, Solver};
use crate::linalg::{Backend, View, ViewMut, gemm};
use crate::params::{Params, Valid, ensure};
use rand::seq::SliceRandom;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

/// Settings of [`dropout_logistic`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DropoutLogisticParams {
    /// Dropout rate p on the inputs (the bias is never dropped). Default 0.5; range [0, 1).
    pub rate: f64,
    /// Passes over the training rows (each in a fresh seeded order). Default 20; >= 2.
    pub epochs: usize,
    /// Rows per SGD step. Default 100; >= 1.
    pub batch: usize,
    /// Step t is `step_scale / L / (1 + t / (decay_epochs * steps per epoch))^0.75`, with
    /// `L = (top + 1) / 2` the bound on the mean softmax curvature: `top` is the largest
    /// eigenvalue of the second moment of the centred, scaled, dropped-out inputs the SGD
    /// works on (see `Coordinates`), the 1 is the bias. Default 1; range (0, 4].
    pub step_scale: f64,
    /// Epochs over which the step falls to about 0.6 of its start. Default 1; > 0.
    pub decay_epochs: f64,
    /// Seeds the row orders and the masks. Default 0.
    pub seed: u64,
}

impl Default for DropoutLogisticParams {
    fn default() -> Self {
        Self {
            rate: 0.5,
            epochs: 20,
            batch: 100,
            step_scale: 1.0,
            decay_epochs: 1.0,
            seed: 0,
        }
    }
}

impl Params for DropoutLogisticParams {
    fn validate(&mut self) -> Result<()> {
        ensure(
            (0.0..1.0).contains(&self.rate),
            "rate",
            self.rate,
            "must be in [0, 1)",
        )?;
        ensure(self.epochs >= 2, "epochs", self.epochs, "must be >= 2")?;
        ensure(self.batch >= 1, "batch", self.batch, "must be >= 1")?;
        ensure(
            self.step_scale > 0.0 && self.step_scale <= 4.0,
            "step_scale",
            self.step_scale,
            "must be in (0, 4]",
        )?;
        ensure(
            self.decay_epochs > 0.0 && self.decay_epochs.is_finite(),
            "decay_epochs",
            self.decay_epochs,
            "must be a finite number > 0",
        )
    }
}

/// Rows of float32 features with their labels.
#[derive(Debug, Clone, Copy)]
pub struct Labelled<'a> {
    /// rows x features, row-major.
    pub x: &'a [f32],
    pub labels: &'a [u16],
    pub features: usize,
    pub classes: usize,
}

impl Labelled<'_> {
    fn check(&self, name: &str) -> Result<()> {
        ensure(
            self.features >= 1 && self.classes >= 2,
            name,
            format!("{} features, {} classes", self.features, self.classes),
            "needs >= 1 feature and >= 2 classes",
        )?;
        ensure(
            !self.labels.is_empty() && self.x.len() == self.labels.len() * self.features,
            name,
            format!("{} values, {} labels", self.x.len(), self.labels.len()),
            format!(
                "needs at least one row and {} values per label",
                self.features
            ),
        )?;
        if let Some(&y) = self.labels.iter().find(|&&y| y as usize >= self.classes) {
            return Err(Error::param(
                name,
                format!("label {y}"),
                format!("labels must be below {}", self.classes),
            ));
        }
        ensure(
            self.x.iter().all(|v| v.is_finite()),
            name,
            "a non-finite value",
            "features must be finite",
        )
    }

    fn rows(&self) -> usize {
        self.labels.len()
    }
}

/// Mask draws are 16-bit: a value is kept when its draw is below this threshold, so the
/// keep probability is exactly `threshold / 65536` and the survivors are scaled by its
/// inverse (the mask is then unbiased exactly, not to 2^-16).
fn keep_threshold(rate: f64) -> u32 {
    (((1.0 - rate) * 65536.0).round() as u32).clamp(1, 65536)
}

/// The affine coordinates the SGD runs in: `u_j = (x~_j - mu_j) / sigma_j`, with `mu_j` the
/// feature's mean and `sigma_j^2` the variance of its dropped-out value over rows and
/// masks, `E[x_j^2] / keep - mu_j^2`. The model `x~ W + b = u V + c` with `V_j = sigma_j W_j`
/// and `c = b + mu W` is the same model, so the minimiser of the expected dropout loss is
/// the same point; only the conditioning changes. Non-negative features with a large
/// common mean (a CNN's pooled ReLU outputs) make the raw problem so ill-conditioned that
/// plain SGD stops early along the small directions, and early stopping is itself a plain
/// L2 penalty: it would confound the very comparison made here.
struct Coordinates {
    mu: Vec<f32>,
    inv_sigma: Vec<f32>,
    /// The largest eigenvalue of `E[u u^T]` (masks included), by power iteration.
    top: f64,
}

impl Coordinates {
    fn new(data: Labelled, keep: f64) -> Self {
        let (n, d) = (data.rows(), data.features);
        let mut sum = vec![0f64; d];
        let mut sq = vec![0f64; d];
        for row in data.x.chunks_exact(d) {
            for ((s, q), &v) in sum.iter_mut().zip(sq.iter_mut()).zip(row) {
                *s += v as f64;
                *q += v as f64 * v as f64;
            }
        }
        let mu: Vec<f64> = sum.iter().map(|s| s / n as f64).collect();
        let var: Vec<f64> = sq
            .iter()
            .zip(&mu)
            .map(|(q, m)| q / n as f64 / keep - m * m)
            .collect();
        let inv_sigma: Vec<f64> = var
            .iter()
            .map(|&v| if v > 1e-30 { 1.0 / v.sqrt() } else { 1.0 })
            .collect();
        // E[u u^T] = S (Cov(x) + diag(E[x^2] (1/keep - 1))) S, S = diag(1/sigma): power
        // iteration from a fixed start, 30 steps (the step only needs the scale).
        let mut v = vec![1.0 / (d as f64).sqrt(); d];
        let mut top = 1.0;
        for _ in 0..30 {
            let sv: Vec<f64> = v.iter().zip(&inv_sigma).map(|(a, s)| a * s).collect();
            let mut out = vec![0f64; d];
            let mu_sv: f64 = mu.iter().zip(&sv).map(|(m, a)| m * a).sum();
            for row in data.x.chunks_exact(d) {
                let dot: f64 = row.iter().zip(&sv).map(|(&x, a)| x as f64 * a).sum();
                for (o, &x) in out.iter_mut().zip(row) {
                    *o += x as f64 * dot;
                }
            }
            for j in 0..d {
                let extra = sq[j] / n as f64 * (1.0 / keep - 1.0);
                out[j] = inv_sigma[j] * (out[j] / n as f64 - mu[j] * mu_sv + extra * sv[j]);
            }
            top = out.iter().map(|a| a * a).sum::<f64>().sqrt();
            if top == 0.0 {
                break;
            }
            v = out.iter().map(|a| a / top).collect();
        }
        Self {
            mu: mu.iter().map(|&m| m as f32).collect(),
            inv_sigma: inv_sigma.iter().map(|&s| s as f32).collect(),
            top: top.max(1e-12),
        }
    }
}

/// Multinomial logistic regression trained by minibatch SGD with inverted dropout on the
/// inputs: a fresh mask per example and step, the mean cross-entropy over the batch, a
/// decaying step, no penalty; returns the average of the iterates over the second half of
/// the steps (which removes most of the mask and sampling noise of a single iterate). From
/// zero weights, in the centred and scaled coordinates of [`Coordinates`] (the same model
/// and the same minimiser, better conditioned), mapped back to the raw features at the end.
/// Single-threaded mask draws and fixed-order sums, so the result depends on the seed only.
pub fn dropout_logistic(
    data: Labelled,
    params: &Valid<DropoutLogisticParams>,
) -> Result<LinearModel> {
    data.check("train")?;
    let (n, d, k) = (data.rows(), data.features, data.classes);
    let threshold = keep_threshold(params.rate);
    let keep = threshold as f64 / 65536.0;
    let inv_keep = (1.0 / keep) as f32;
    let coords = Coordinates::new(data, keep);
    // The softmax curvature is at most 1/2 per unit of input energy along any direction;
    // the input's largest direction has `top` (+1 for the bias).
    let step0 = params.step_scale / ((coords.top + 1.0) / 2.0);
    let batch = params.batch.min(n);
    let per_epoch = n.div_ceil(batch);
    let steps = params.epochs * per_epoch;
    let decay = params.decay_epochs * per_epoch as f64;
    let half = steps / 2;
    let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
    let mut w = vec![0f32; d * k];
    let mut b = vec![0f32; k];
    let mut avg_w = vec![0f64; d * k];
    let mut avg_b = vec![0f64; k];
    let mut averaged = 0usize;
    let mut xb = vec![0f32; batch * d];
    let mut s = vec![0f32; batch * k];
    let mut gw = vec![0f32; d * k];
    let mut order: Vec<usize> = (0..n).collect();
    let mut t = 0usize;
    for _ in 0..params.epochs {
        order.shuffle(&mut rng);
        for rows in order.chunks(batch) {
            let m = rows.len();
            // The masked batch in the SGD's coordinates: four 16-bit draws per u64.
            for (dst, &i) in xb.chunks_exact_mut(d).zip(rows) {
                let src = &data.x[i * d..(i + 1) * d];
                let mut bits = 0u64;
                for (j, (o, &v)) in dst.iter_mut().zip(src).enumerate() {
                    if j % 4 == 0 {
                        bits = rng.next_u64();
                    }
                    let draw = (bits & 0xffff) as u32;
                    bits >>= 16;
                    let dropped = if draw < threshold { v * inv_keep } else { 0.0 };
                    *o = (dropped - coords.mu[j]) * coords.inv_sigma[j];
                }
            }
            let (xm, sm) = (&xb[..m * d], &mut s[..m * k]);
            for r in sm.chunks_exact_mut(k) {
                r.copy_from_slice(&b);
            }
            gemm(
                Backend::MatrixMultiply,
                (m, d, k),
                1.0,
                View::rows(xm, d),
                View::rows(&w, k),
                1.0,
                ViewMut::rows(sm, k),
            );
            // Residual softmax - one-hot, over the batch mean.
            let mut gb = vec![0f32; k];
            for (r, &i) in sm.chunks_exact_mut(k).zip(rows) {
                let top = r.iter().fold(f32::NEG_INFINITY, |a, &v| a.max(v));
                let mut z = 0f32;
                for v in r.iter_mut() {
                    *v = (*v - top).exp();
                    z += *v;
                }
                for v in r.iter_mut() {
                    *v /= z * m as f32;
                }
                r[data.labels[i] as usize] -= 1.0 / m as f32;
                for (g, &v) in gb.iter_mut().zip(r.iter()) {
                    *g += v;
                }
            }
            gemm(
                Backend::MatrixMultiply,
                (d, m, k),
                1.0,
                View::transposed(xm, d),
                View::rows(sm, k),
                0.0,
                ViewMut::rows(&mut gw, k),
            );
            let step = (step0 / (1.0 + t as f64 / decay).powf(0.75)) as f32;
            for (wv, &g) in w.iter_mut().zip(&gw) {
                *wv -= step * g;
            }
            for (bv, &g) in b.iter_mut().zip(&gb) {
                *bv -= step * g;
            }
            if t >= half {
                averaged += 1;
                // A running mean, so the average never holds a large sum.
                let a = 1.0 / averaged as f64;
                for (m, &v) in avg_w.iter_mut().zip(&w) {
                    *m += a * (v as f64 - *m);
                }
                for (m, &v) in avg_b.iter_mut().zip(&b) {
                    *m += a * (v as f64 - *m);
                }
            }
            t += 1;
        }
    }
    if !avg_w.iter().chain(&avg_b).all(|v| v.is_finite()) {
        return Err(Error::failed(
            "dropout logistic SGD",
            "diverged; lower step_scale",
        ));
    }
    // Back to the raw features: W_j = V_j / sigma_j, b = c - mu W.
    let mut weights = vec![0f32; d * k];
    let mut bias = avg_b.clone();
    for j in 0..d {
        for c in 0..k {
            let wv = avg_w[j * k + c] * coords.inv_sigma[j] as f64;
            weights[j * k + c] = wv as f32;
            bias[c] -= coords.mu[j] as f64 * wv;
        }
    }
    Ok(LinearModel {
        features: d,
        classes: k,
        weights,
        bias: bias.iter().map(|&v| v as f32).collect(),
    })
}

/// The Frobenius norm of a model's weights (biases excluded).
pub fn weight_norm(m: &LinearModel) -> f64 {
    m.weights
        .iter()
        .map(|&v| v as f64 * v as f64)
        .sum::<f64>()
        .sqrt()
}

/// The cosine of two models' flattened weight matrices (biases excluded); 0 when either is
/// zero.
pub fn weight_cosine(a: &LinearModel, b: &LinearModel) -> f64 {
    let dot: f64 = a
        .weights
        .iter()
        .zip(&b.weights)
        .map(|(&u, &v)| u as f64 * v as f64)
        .sum();
    let nn = weight_norm(a) * weight_norm(b);
    if nn > 0.0 { dot / nn } else { 0.0 }
}

/// Which L2 penalty a norm-matched fit uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Penalty {
    /// `lambda/2 ||W||^2`.
    Plain,
    /// `lambda/2 sum_j E[x_j^2] ||w_j||^2`: a plain fit on features scaled to unit
    /// root-mean-square, its weights mapped back.
    Weighted,
}

/// Settings of [`norm_matched`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct NormMatch {
    /// Stop when the fit's weight norm is within this fraction of the target. Default 0.01.
    pub ratio_tol: f64,
    /// At most this many fits. Default 30.
    pub max_fits: usize,
    /// Each fit's stopping rule (`features::classifier`'s `tol` and `max_iter`).
    pub fit_tol: f64,
    pub max_iter: usize,
}

impl Default for NormMatch {
    fn default() -> Self {
        Self {
            ratio_tol: 0.01,
            max_fits: 30,
            fit_tol: 1e-3,
            max_iter: 500,
        }
    }
}

/// An L2-trained model whose weight norm matches a target.
#[derive(Debug, Clone, PartialEq)]
pub struct Matched {
    pub model: LinearModel,
    pub lambda: f64,
    /// The model's weight norm over the target.
    pub norm_ratio: f64,
    pub fits: usize,
    /// Whether every fit reached its tolerance.
    pub converged: bool,
}

/// Each feature's root-mean-square over the rows (1 for a feature that is always 0, so
/// the scaling leaves it alone: its weight stays 0 under any L2 penalty).
pub fn feature_rms(data: Labelled) -> Vec<f64> {
    let d = data.features;
    let mut sq = vec![0f64; d];
    for row in data.x.chunks_exact(d) {
        for (s, &v) in sq.iter_mut().zip(row) {
            *s += v as f64 * v as f64;
        }
    }
    let n = data.rows() as f64;
    sq.iter()
        .map(|&s| {
            let r = (s / n).sqrt();
            if r > 0.0 { r } else { 1.0 }
        })
        .collect()
}

/// The L2-trained logistic model (with `penalty`) whose weight norm is within
/// `settings.ratio_tol` of `target`: from `lambda0`, secant steps on log norm against log
/// lambda, kept inside the bracket of lambdas on either side of the target once there is
/// one (bisection on log lambda when a step leaves it), each fit warm-started from the
/// last one. The norm falls as lambda grows, so the bracket always holds the match.
pub fn norm_matched(
    data: Labelled,
    penalty: Penalty,
    target: f64,
    lambda0: f64,
    settings: &NormMatch,
) -> Result<Matched> {
    data.check("train")?;
    ensure(
        target > 0.0 && target.is_finite(),
        "target_norm",
        target,
        "must be a finite number > 0",
    )?;
    ensure(
        lambda0 > 0.0 && lambda0.is_finite(),
        "lambda0",
        lambda0,
        "must be a finite number > 0",
    )?;
    let d = data.features;
    let rms = feature_rms(data);
    let scaled: Vec<f32>;
    let x = match penalty {
        Penalty::Plain => data.x,
        Penalty::Weighted => {
            scaled = data
                .x
                .chunks_exact(d)
                .flat_map(|row| row.iter().zip(&rms).map(|(&v, &r)| (v as f64 / r) as f32))
                .collect();
            &scaled
        }
    };
    let back = |mut m: LinearModel| {
        if penalty == Penalty::Weighted {
            for (row, &r) in m.weights.chunks_exact_mut(data.classes).zip(&rms) {
                for v in row {
                    *v = (*v as f64 / r) as f32;
                }
            }
        }
        m
    };
    let mut warm: Option<LinearModel> = None;
    let mut fits = 1;
    let mut converged = true;
    let fit = |lambda: f64,
               warm: &mut Option<LinearModel>,
               converged: &mut bool|
     -> Result<(LinearModel, f64)> {
        let settings = FitSettings {
            kind: ClassifierKind::Logistic,
            solver: Solver::Lbfgs,
            lambda,
            tol: settings.fit_tol,
            max_iter: settings.max_iter,
        };
        let (m, report) =
            classifier::fit(x, data.labels, d, data.classes, settings, warm.as_ref())?;
        *converged &= report.converged;
        *warm = Some(m.clone());
        let mapped = back(m);
        let ratio = weight_norm(&mapped) / target;
        Ok((mapped, ratio))
    };
    // (lambda, ratio) on each side of the target: lo has ratio > 1 (too little penalty).
    let mut lambda = lambda0;
    let (mut model, mut ratio) = fit(lambda, &mut warm, &mut converged)?;
    let mut lo: Option<f64> = None;
    let mut hi: Option<f64> = None;
    let mut last: Option<(f64, f64)> = None;
    while (ratio - 1.0).abs() > settings.ratio_tol {
        if fits >= settings.max_fits {
            return Err(Error::failed(
                "matching the weight norm",
                format!(
                    "{} fits left the norm ratio at {ratio:.4} (lambda {lambda:.3e}); \
                     raise max_fits or ratio_tol",
                    settings.max_fits
                ),
            ));
        }
        if ratio > 1.0 {
            lo = Some(lambda);
        } else {
            hi = Some(lambda);
        }
        // A secant step on log norm against log lambda (slope -1, the strong-penalty
        // regime's W ~ gradient / lambda, until two fits give a slope), at most a factor
        // 100, and inside the bracket once there is one (else its log midpoint).
        let slope = last
            .filter(|&(l, _)| (lambda.ln() - l).abs() > 1e-9)
            .map_or(-1.0, |(l, r): (f64, f64)| {
                ((ratio.ln() - r) / (lambda.ln() - l)).min(-0.05)
            });
        last = Some((lambda.ln(), ratio.ln()));
        let step = (-ratio.ln() / slope).clamp(-100f64.ln(), 100f64.ln());
        let mut next = (lambda.ln() + step).exp();
        if let (Some(a), Some(b)) = (lo, hi)
            && !(next > a.min(b) && next < a.max(b))
        {
            next = (a * b).sqrt();
        }
        lambda = next;
        (model, ratio) = fit(lambda, &mut warm, &mut converged)?;
        fits += 1;
    }
    Ok(Matched {
        model,
        lambda,
        norm_ratio: ratio,
        fits,
        converged,
    })
}

/// The dropout model beside its two norm-matched L2 predictions, for one rate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogisticComparison {
    pub rate: f64,
    pub dropout_norm: f64,
    pub plain_lambda: f64,
    pub plain_norm_ratio: f64,
    pub weighted_lambda: f64,
    pub weighted_norm_ratio: f64,
    /// Cosines of the flattened weight matrices with the dropout weights.
    pub cosine_plain: f64,
    pub cosine_weighted: f64,
    pub accuracy_dropout: f64,
    pub accuracy_plain: f64,
    pub accuracy_weighted: f64,
    /// L2 fits made by the two searches, and whether each reached its tolerance.
    pub fits: usize,
    pub fits_converged: bool,
    pub seconds: f64,
}

/// Trains the dropout model on `train`, then the plain and the weighted L2 models of the
/// same weight norm, and compares them (cosines of the weights, accuracies on `test`).
pub fn compare(
    train: Labelled,
    test: Labelled,
    params: &Valid<DropoutLogisticParams>,
    matching: &NormMatch,
) -> Result<LogisticComparison> {
    let started = std::time::Instant::now();
    let dropout = dropout_logistic(train, params)?;
    let mut r = compare_model(train, test, &dropout, params.rate, matching)?;
    r.seconds = started.elapsed().as_secs_f64();
    Ok(r)
}

/// [`compare`] for a dropout model already trained at `rate` on `train`.
pub fn compare_model(
    train: Labelled,
    test: Labelled,
    dropout: &LinearModel,
    rate: f64,
    matching: &NormMatch,
) -> Result<LogisticComparison> {
    let started = std::time::Instant::now();
    train.check("train")?;
    test.check("test")?;
    if (test.features, test.classes) != (train.features, train.classes) {
        return Err(Error::param(
            "test",
            format!("{} features, {} classes", test.features, test.classes),
            format!(
                "must match the training set's {} features and {} classes",
                train.features, train.classes
            ),
        ));
    }
    let target = weight_norm(dropout);
    if target == 0.0 {
        return Err(Error::failed(
            "dropout logistic SGD",
            "the dropout weights are all zero; nothing to match",
        ));
    }
    // Starting lambdas from the second-order penalty, `p/(1-p) h E[x_j^2]` with a typical
    // softmax curvature h ~ 0.1 (the search moves from there in factors of 4).
    let odds = (rate / (1.0 - rate)).max(1e-3);
    let rms = feature_rms(train);
    let mean_sq = rms.iter().map(|r| r * r).sum::<f64>() / rms.len() as f64;
    let plain = norm_matched(
        train,
        Penalty::Plain,
        target,
        0.1 * odds * mean_sq,
        matching,
    )?;
    let weighted = norm_matched(train, Penalty::Weighted, target, 0.1 * odds, matching)?;
    let accuracy =
        |m: &LinearModel| Accuracy::of(&m.predict(test.x), test.labels, test.classes).value();
    Ok(LogisticComparison {
        rate,
        dropout_norm: target,
        plain_lambda: plain.lambda,
        plain_norm_ratio: plain.norm_ratio,
        weighted_lambda: weighted.lambda,
        weighted_norm_ratio: weighted.norm_ratio,
        cosine_plain: weight_cosine(dropout, &plain.model),
        cosine_weighted: weight_cosine(dropout, &weighted.model),
        accuracy_dropout: accuracy(dropout),
        accuracy_plain: accuracy(&plain.model),
        accuracy_weighted: accuracy(&weighted.model),
        fits: plain.fits + weighted.fits,
        fits_converged: plain.converged && weighted.converged,
        seconds: started.elapsed().as_secs_f64(),
    })
}
