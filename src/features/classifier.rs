//! The linear classifier on pooled features: weights W (features x classes) and biases b,
//! minimising
//!
//! ```text
//! J(W, b) = lambda/2 ||W||_F^2 + (1/n) sum_i loss(x_i W + b, y_i)
//! ```
//!
//! with the one-vs-all squared hinge of an L2-SVM, `sum_c max(0, 1 - t_ic s_ic)^2` with
//! `t_ic = +1` for the true class and -1 otherwise (the paper's classifier; its C is
//! `1 / lambda` up to that mean), or the multinomial logistic loss `log sum_c exp(s_ic) -
//! s_iy`. The bias is not penalised. L-BFGS (the `argmin` crate, More-Thuente line search,
//! 10 corrections) runs until `||grad J|| <= tol * lambda ||W||`, or `max_iter` iterations
//! (reported, not an error). At the optimum the loss gradient and the penalty gradient
//! `lambda W` cancel, so this asks them to cancel to a relative `tol`: a criterion that
//! tightens by itself as lambda falls. (LIBLINEAR's `tol ||grad J(0)||` does not: a fit
//! warm-started from a neighbouring lambda's weights passes it at once, far from its own
//! optimum.)
//!
//! The features are float32 and stay so: each evaluation is one pass over fixed blocks of
//! rows, each block two GEMMs (`S = X_b W` and `G += X_b^T R_b`) while the block is in
//! cache; blocks run in parallel, their sums are added in block order in float64, so the
//! result does not depend on the thread count.

use super::params::ClassifierKind;
use crate::error::{Error, Result};
use crate::linalg::{View, gemm};
use argmin::core::{CostFunction, Executor, Gradient, State, TerminationReason};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;
use rayon::prelude::*;
use serde::Serialize;
use std::sync::Mutex;

/// Rows per block of one evaluation (both GEMMs run on a block while it is in cache).
const BLOCK_ROWS: usize = 256;
/// Blocks whose gradients accumulate in one float32 buffer before the float64 sum.
const BLOCKS_PER_GROUP: usize = 16;
/// L-BFGS memory (corrections kept).
const LBFGS_MEMORY: usize = 10;
/// L-BFGS iterations between two checks of the stopping rule (whose reference moves with
/// the weights); each round restarts the curvature memory from the point reached.
const ROUND_ITERATIONS: u64 = 200;

/// A trained linear classifier.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearModel {
    pub features: usize,
    pub classes: usize,
    /// W, features x classes, row-major.
    pub weights: Vec<f32>,
    pub bias: Vec<f32>,
}

impl LinearModel {
    pub fn zeros(features: usize, classes: usize) -> Self {
        Self {
            features,
            classes,
            weights: vec![0.0; features * classes],
            bias: vec![0.0; classes],
        }
    }

    fn to_params(&self) -> Vec<f64> {
        self.weights
            .iter()
            .chain(&self.bias)
            .map(|&v| v as f64)
            .collect()
    }

    fn from_params(features: usize, classes: usize, p: &[f64]) -> Self {
        let split = features * classes;
        Self {
            features,
            classes,
            weights: p[..split].iter().map(|&v| v as f32).collect(),
            bias: p[split..].iter().map(|&v| v as f32).collect(),
        }
    }

    /// Scores (rows x classes, row-major) of the rows of `x` (features columns).
    pub fn scores(&self, x: &[f32]) -> Vec<f32> {
        let n = x.len() / self.features;
        let mut s = vec![0f32; n * self.classes];
        for r in s.chunks_exact_mut(self.classes) {
            r.copy_from_slice(&self.bias);
        }
        gemm(
            n,
            self.features,
            self.classes,
            View::rows(x, self.features),
            View::rows(&self.weights, self.classes),
            1.0,
            &mut s,
        );
        s
    }

    /// The predicted class of every row of `x` (ties go to the lowest class).
    pub fn predict(&self, x: &[f32]) -> Vec<u16> {
        argmax_rows(&self.scores(x), self.classes)
    }
}

/// The index of the largest value of each row (ties to the lowest index).
pub fn argmax_rows(scores: &[f32], classes: usize) -> Vec<u16> {
    scores
        .chunks_exact(classes)
        .map(|r| {
            let mut best = 0;
            for c in 1..classes {
                if r[c] > r[best] {
                    best = c;
                }
            }
            best as u16
        })
        .collect()
}

/// What a fit did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FitReport {
    pub classifier: ClassifierKind,
    pub lambda: f64,
    pub rows: usize,
    pub iterations: u64,
    pub evaluations: usize,
    pub objective: f64,
    /// Gradient norm at the end, at zero weights, and of the penalty term `lambda ||W||`
    /// at the end (the tolerance's reference).
    pub gradient_norm: f64,
    pub gradient_norm_at_zero: f64,
    pub weight_penalty_gradient_norm: f64,
    pub tol: f64,
    /// True when the gradient reached the tolerance.
    pub converged: bool,
    /// argmin's reason for stopping.
    pub termination: String,
    pub seconds: f64,
}

/// A point, the objective there and its gradient.
type Evaluated = (Vec<f64>, f64, Vec<f64>);

/// The objective on a data set: rows of `x` (row-major, `features` columns) with labels.
pub struct Objective<'a> {
    x: &'a [f32],
    labels: &'a [u16],
    features: usize,
    classes: usize,
    lambda: f64,
    kind: ClassifierKind,
    /// The last point evaluated and its value: L-BFGS and its line search ask for the cost
    /// and then the gradient at the same point, and one pass gives both.
    cache: Mutex<Option<Evaluated>>,
    evaluations: Mutex<usize>,
}

impl<'a> Objective<'a> {
    pub fn new(
        x: &'a [f32],
        labels: &'a [u16],
        features: usize,
        classes: usize,
        lambda: f64,
        kind: ClassifierKind,
    ) -> Self {
        assert_eq!(
            x.len(),
            labels.len() * features,
            "x holds rows x features values"
        );
        Self {
            x,
            labels,
            features,
            classes,
            lambda,
            kind,
            cache: Mutex::new(None),
            evaluations: Mutex::new(0),
        }
    }

    /// Number of parameters: features x classes weights, then classes biases.
    pub fn len(&self) -> usize {
        (self.features + 1) * self.classes
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The objective and its gradient at `params` (weights row-major, then biases).
    pub fn evaluate(&self, params: &[f64]) -> (f64, Vec<f64>) {
        if let Some((p, v, g)) = self.cache.lock().unwrap().as_ref()
            && p.as_slice() == params
        {
            return (*v, g.clone());
        }
        *self.evaluations.lock().unwrap() += 1;
        let kind = self.kind;
        let (d, c) = (self.features, self.classes);
        let model = LinearModel::from_params(d, c, params);
        let n = self.labels.len();
        let group_rows = BLOCK_ROWS * BLOCKS_PER_GROUP;
        let partials: Vec<(f64, Vec<f32>, Vec<f64>)> = self
            .x
            .par_chunks(group_rows * d)
            .zip(self.labels.par_chunks(group_rows))
            .map(|(xg, yg)| {
                let mut grad = vec![0f32; d * c];
                let mut bias_grad = vec![0f64; c];
                let mut loss = 0f64;
                let mut residual = vec![0f32; BLOCK_ROWS * c];
                for (xb, yb) in xg.chunks(BLOCK_ROWS * d).zip(yg.chunks(BLOCK_ROWS)) {
                    let rows = yb.len();
                    let scores = model.scores(xb);
                    let r = &mut residual[..rows * c];
                    for ((s, rr), &y) in scores.chunks_exact(c).zip(r.chunks_exact_mut(c)).zip(yb) {
                        loss += loss_and_residual(kind, s, y as usize, rr);
                        for (bg, &v) in bias_grad.iter_mut().zip(rr.iter()) {
                            *bg += v as f64;
                        }
                    }
                    gemm(
                        d,
                        rows,
                        c,
                        View::transposed(xb, d),
                        View::rows(r, c),
                        1.0,
                        &mut grad,
                    );
                }
                (loss, grad, bias_grad)
            })
            .collect();
        let inv_n = 1.0 / n.max(1) as f64;
        let mut grad = vec![0f64; self.len()];
        let mut loss = 0f64;
        for (l, g, bg) in &partials {
            loss += l;
            for (a, &v) in grad[..d * c].iter_mut().zip(g) {
                *a += v as f64;
            }
            for (a, &v) in grad[d * c..].iter_mut().zip(bg) {
                *a += v;
            }
        }
        let mut penalty = 0f64;
        for (i, a) in grad.iter_mut().enumerate() {
            *a *= inv_n;
            if i < d * c {
                *a += self.lambda * params[i];
                penalty += params[i] * params[i];
            }
        }
        let value = loss * inv_n + 0.5 * self.lambda * penalty;
        *self.cache.lock().unwrap() = Some((params.to_vec(), value, grad.clone()));
        (value, grad)
    }
}

/// The loss of one row's `scores` with true class `y`, writing d loss / d score into
/// `residual`. Computed in float64 from the float32 scores.
pub fn loss_and_residual(
    kind: ClassifierKind,
    scores: &[f32],
    y: usize,
    residual: &mut [f32],
) -> f64 {
    match kind {
        ClassifierKind::Svm => {
            let mut loss = 0f64;
            for (c, (&s, r)) in scores.iter().zip(residual.iter_mut()).enumerate() {
                let t = if c == y { 1.0 } else { -1.0 };
                let margin = (1.0 - t * s as f64).max(0.0);
                loss += margin * margin;
                *r = (-2.0 * t * margin) as f32;
            }
            loss
        }
        ClassifierKind::Logistic => {
            let top = scores.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v)) as f64;
            let sum: f64 = scores.iter().map(|&s| (s as f64 - top).exp()).sum();
            let log_z = top + sum.ln();
            for (c, (&s, r)) in scores.iter().zip(residual.iter_mut()).enumerate() {
                let p = (s as f64 - log_z).exp();
                *r = (p - if c == y { 1.0 } else { 0.0 }) as f32;
            }
            log_z - scores[y] as f64
        }
    }
}

/// The objective as argmin sees it: a borrow, because argmin drops the problem it owns when
/// a line search fails, and the caller still needs it then.
struct Borrowed<'o, 'a>(&'o Objective<'a>);

impl CostFunction for Borrowed<'_, '_> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, p: &Vec<f64>) -> std::result::Result<f64, argmin::core::Error> {
        Ok(self.0.evaluate(p).0)
    }
}

impl Gradient for Borrowed<'_, '_> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;
    fn gradient(&self, p: &Vec<f64>) -> std::result::Result<Vec<f64>, argmin::core::Error> {
        Ok(self.0.evaluate(p).1)
    }
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|a| a * a).sum::<f64>().sqrt()
}

/// Settings of one fit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FitSettings {
    pub kind: ClassifierKind,
    pub lambda: f64,
    pub tol: f64,
    pub max_iter: usize,
}

/// Fits a classifier to the rows of `x` (row-major, `features` columns) with `labels` in
/// 0..`classes`, starting from `warm` (or zero weights).
pub fn fit(
    x: &[f32],
    labels: &[u16],
    features: usize,
    classes: usize,
    settings: FitSettings,
    warm: Option<&LinearModel>,
) -> Result<(LinearModel, FitReport)> {
    let started = std::time::Instant::now();
    if labels.is_empty() {
        return Err(Error::usage(
            "rows",
            0,
            "a classifier needs at least one example",
        ));
    }
    if let Some(&bad) = labels.iter().find(|&&y| y as usize >= classes) {
        return Err(Error::usage(
            "labels",
            bad,
            format!("must be below {classes}"),
        ));
    }
    let objective = Objective::new(x, labels, features, classes, settings.lambda, settings.kind);
    let zero = vec![0f64; objective.len()];
    let (_, g0) = objective.evaluate(&zero);
    let g0_norm = norm(&g0);
    let weights = features * classes;
    let mut params = warm.map(|m| m.to_params()).unwrap_or(zero);
    let failed = |e: argmin::core::Error| Error::failed("training the classifier", e.to_string());
    let mut iterations = 0u64;
    let mut converged = false;
    let termination;
    loop {
        let (_, grad) = objective.evaluate(&params);
        let reference = settings.lambda * norm(&params[..weights]);
        if norm(&grad) <= settings.tol * reference {
            converged = true;
            termination = "gradient below tol x lambda ||W||".to_string();
            break;
        }
        if iterations >= settings.max_iter as u64 {
            termination = "iteration cap reached".to_string();
            break;
        }
        // A round of L-BFGS stops at the current reference; from zero weights (reference
        // 0) at LIBLINEAR's criterion, tol x the gradient norm at zero.
        let threshold = settings.tol * if reference > 0.0 { reference } else { g0_norm };
        let round = (settings.max_iter as u64 - iterations).min(ROUND_ITERATIONS);
        let solver = LBFGS::new(MoreThuenteLineSearch::new(), LBFGS_MEMORY)
            .with_tolerance_grad(threshold)
            .map_err(failed)?
            // Stop on the gradient only: with float32 scores the objective stalls at
            // rounding level, which a cost criterion would mistake for convergence.
            .with_tolerance_cost(0.0)
            .map_err(failed)?;
        let result = Executor::new(Borrowed(&objective), solver)
            .configure(|state| state.param(params.clone()).max_iters(round))
            .timer(false)
            .run()
            .map_err(failed)?;
        let mut state = result.state;
        let done = state.get_iter();
        iterations += done;
        let reason = state.get_termination_reason().cloned();
        if let Some(p) = state.take_best_param().or_else(|| state.take_param()) {
            params = p;
        }
        match reason {
            Some(TerminationReason::SolverConverged) | Some(TerminationReason::MaxItersReached)
                if done > 0 => {}
            other => {
                // A failed line search (float32 rounding floor) or no progress: stop here and
                // report whether the last point meets the tolerance.
                termination = other
                    .map(|r| r.text().to_string())
                    .unwrap_or_else(|| "no progress".into());
                let (_, grad) = objective.evaluate(&params);
                converged =
                    norm(&grad) <= settings.tol * settings.lambda * norm(&params[..weights]);
                break;
            }
        }
    }
    let (value, grad) = objective.evaluate(&params);
    let gradient_norm = norm(&grad);
    let report = FitReport {
        classifier: settings.kind,
        lambda: settings.lambda,
        rows: labels.len(),
        iterations,
        evaluations: *objective.evaluations.lock().unwrap(),
        objective: value,
        gradient_norm,
        gradient_norm_at_zero: g0_norm,
        weight_penalty_gradient_norm: settings.lambda * norm(&params[..weights]),
        tol: settings.tol,
        converged,
        termination,
        seconds: started.elapsed().as_secs_f64(),
    };
    if !value.is_finite() {
        return Err(Error::failed(
            "training the classifier",
            "the objective is not finite (features out of range?)",
        ));
    }
    Ok((LinearModel::from_params(features, classes, &params), report))
}

/// Accuracy overall and per class of `predicted` against `labels`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Accuracy {
    pub correct: usize,
    pub count: usize,
    pub per_class_correct: Vec<usize>,
    pub per_class_count: Vec<usize>,
}

impl Accuracy {
    pub fn new(classes: usize) -> Self {
        Self {
            correct: 0,
            count: 0,
            per_class_correct: vec![0; classes],
            per_class_count: vec![0; classes],
        }
    }

    pub fn add(&mut self, predicted: &[u16], labels: &[u16]) {
        for (&p, &y) in predicted.iter().zip(labels) {
            let y = y as usize;
            self.count += 1;
            self.per_class_count[y] += 1;
            if p as usize == y {
                self.correct += 1;
                self.per_class_correct[y] += 1;
            }
        }
    }

    pub fn of(predicted: &[u16], labels: &[u16], classes: usize) -> Self {
        let mut a = Self::new(classes);
        a.add(predicted, labels);
        a
    }

    pub fn value(&self) -> f64 {
        self.correct as f64 / self.count.max(1) as f64
    }

    pub fn class_value(&self, c: usize) -> f64 {
        self.per_class_correct[c] as f64 / self.per_class_count[c].max(1) as f64
    }
}
