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
//! s_iy`. The bias is not penalised. Two solvers stop at the same rule, `||grad J|| <= tol *
//! lambda ||W||` or `max_iter` steps (reported, not an error): truncated Newton
//! ([`Solver::NewtonCg`], conjugate gradients on the generalised Hessian, whose product with
//! a vector costs what a gradient costs) and L-BFGS ([`Solver::Lbfgs`], the `argmin` crate,
//! More-Thuente line search, 10 corrections). At the optimum the loss gradient and the
//! penalty gradient `lambda W` cancel, so the rule asks them to cancel to a relative `tol`:
//! a criterion that tightens by itself as lambda falls. (LIBLINEAR's `tol ||grad J(0)||`
//! does not: a fit warm-started from a neighbouring lambda's weights passes it at once, far
//! from its own optimum.)
//!
//! The features are float32 and stay so: each evaluation is one pass over fixed blocks of
//! rows, each block two GEMMs (`S = X_b W` and `G += X_b^T R_b`) while the block is in
//! cache; blocks run in parallel, their sums are added in block order in float64, so the
//! result does not depend on the thread count.

use super::params::{ClassifierKind, Solver};
use crate::error::{Error, Result};
use crate::linalg::{Backend, View, ViewMut, gemm};
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
            Backend::MatrixMultiply,
            (n, self.features, self.classes),
            1.0,
            View::rows(x, self.features),
            View::rows(&self.weights, self.classes),
            1.0,
            ViewMut::rows(&mut s, self.classes),
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
    pub solver: Solver,
    pub lambda: f64,
    pub rows: usize,
    /// L-BFGS iterations, or Newton steps.
    pub iterations: u64,
    /// Conjugate-gradient steps (Newton-CG), each one Hessian-vector product.
    pub cg_iterations: u64,
    /// Passes over the data for values and gradients (and, for Newton-CG, the curvature).
    pub evaluations: usize,
    /// Passes for Hessian-vector products (Newton-CG); each costs what a gradient costs.
    pub hessian_products: usize,
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

/// What a pass does with one row: (row index, scores, residual out) -> value.
type RowFn<'f> = dyn Fn(usize, &[f32], &mut [f32]) -> f64 + Sync + 'f;

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
    hessian_products: Mutex<usize>,
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
            hessian_products: Mutex::new(0),
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
        let model = LinearModel::from_params(self.features, self.classes, params);
        let labels = self.labels;
        let (loss, mut grad) = self.pass(&model, &|row, s, r| {
            loss_and_residual(kind, s, labels[row] as usize, r)
        });
        let n = self.labels.len();
        let d = self.features;
        let c = self.classes;
        let inv_n = 1.0 / n.max(1) as f64;
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

impl Objective<'_> {
    /// One pass over the rows in fixed blocks: for each row, `per_row(row, scores,
    /// residual)` returns a value and fills the residual (d value / d score); the pass returns
    /// the values' sum and `X^T R` then the residuals' column sums (the bias part), both
    /// unnormalised. Block sums are added in block order in float64, so the result does not
    /// depend on the thread count.
    fn pass(&self, model: &LinearModel, per_row: &RowFn) -> (f64, Vec<f64>) {
        let (d, c) = (self.features, self.classes);
        let group_rows = BLOCK_ROWS * BLOCKS_PER_GROUP;
        let partials: Vec<(f64, Vec<f32>, Vec<f64>)> = self
            .x
            .par_chunks(group_rows * d)
            .enumerate()
            .map(|(g, xg)| {
                let mut grad = vec![0f32; d * c];
                let mut bias_grad = vec![0f64; c];
                let mut total = 0f64;
                let mut residual = vec![0f32; BLOCK_ROWS * c];
                for (b, xb) in xg.chunks(BLOCK_ROWS * d).enumerate() {
                    let rows = xb.len() / d;
                    let first = g * group_rows + b * BLOCK_ROWS;
                    let scores = model.scores(xb);
                    let r = &mut residual[..rows * c];
                    for (i, (s, rr)) in scores
                        .chunks_exact(c)
                        .zip(r.chunks_exact_mut(c))
                        .enumerate()
                    {
                        total += per_row(first + i, s, rr);
                        for (bg, &v) in bias_grad.iter_mut().zip(rr.iter()) {
                            *bg += v as f64;
                        }
                    }
                    gemm(
                        Backend::MatrixMultiply,
                        (d, rows, c),
                        1.0,
                        View::transposed(xb, d),
                        View::rows(r, c),
                        1.0,
                        ViewMut::rows(&mut grad, c),
                    );
                }
                (total, grad, bias_grad)
            })
            .collect();
        let mut out = vec![0f64; self.len()];
        let mut total = 0f64;
        for (t, g, bg) in &partials {
            total += t;
            for (a, &v) in out[..d * c].iter_mut().zip(g) {
                *a += v as f64;
            }
            for (a, &v) in out[d * c..].iter_mut().zip(bg) {
                *a += v;
            }
        }
        (total, out)
    }

    /// What the (generalised) Hessian at `params` needs of each row, rows x classes: for the
    /// squared hinge 2 where the margin is violated and 0 elsewhere (the hinge's second
    /// derivative, defined everywhere but on the kink), for the logistic loss the
    /// probabilities.
    fn curvature(&self, params: &[f64]) -> Vec<f32> {
        *self.evaluations.lock().unwrap() += 1;
        let (d, c) = (self.features, self.classes);
        let model = LinearModel::from_params(d, c, params);
        let mut out = vec![0f32; self.labels.len() * c];
        let rows = BLOCK_ROWS * BLOCKS_PER_GROUP;
        out.par_chunks_mut(rows * c)
            .zip(self.x.par_chunks(rows * d))
            .zip(self.labels.par_chunks(rows))
            .for_each(|((o, xg), yg)| {
                let scores = model.scores(xg);
                for ((s, oo), &y) in scores.chunks_exact(c).zip(o.chunks_exact_mut(c)).zip(yg) {
                    match self.kind {
                        ClassifierKind::Svm => {
                            for (k, (&v, w)) in s.iter().zip(oo.iter_mut()).enumerate() {
                                let t = if k == y as usize { 1.0 } else { -1.0 };
                                *w = if 1.0 - t * v > 0.0 { 2.0 } else { 0.0 };
                            }
                        }
                        ClassifierKind::Logistic => {
                            let top = s.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v)) as f64;
                            let z: f64 = s.iter().map(|&v| (v as f64 - top).exp()).sum();
                            for (&v, w) in s.iter().zip(oo.iter_mut()) {
                                *w = ((v as f64 - top).exp() / z) as f32;
                            }
                        }
                    }
                }
            });
        out
    }

    /// The (generalised) Hessian at the point `curvature` was taken, times `v` (weights
    /// row-major, then biases): `lambda v_W + (1/n) X~^T D X~ v` with `X~` the rows with a
    /// 1 appended for the bias. Two GEMMs per block, the cost of one gradient.
    fn hessian_product(&self, curvature: &[f32], v: &[f64]) -> Vec<f64> {
        *self.hessian_products.lock().unwrap() += 1;
        let (d, c) = (self.features, self.classes);
        let direction = LinearModel::from_params(d, c, v);
        let kind = self.kind;
        let (_, mut hv) = self.pass(&direction, &|row, u, r| {
            let h = &curvature[row * c..(row + 1) * c];
            match kind {
                ClassifierKind::Svm => {
                    for ((rr, &uu), &hh) in r.iter_mut().zip(u).zip(h) {
                        *rr = hh * uu;
                    }
                }
                ClassifierKind::Logistic => {
                    // The softmax Hessian diag(p) - p p^T applied to u.
                    let pu: f32 = h.iter().zip(u).map(|(p, uu)| p * uu).sum();
                    for ((rr, &uu), &p) in r.iter_mut().zip(u).zip(h) {
                        *rr = p * (uu - pu);
                    }
                }
            }
            0.0
        });
        let inv_n = 1.0 / self.labels.len().max(1) as f64;
        for (i, a) in hv.iter_mut().enumerate() {
            *a *= inv_n;
            if i < d * c {
                *a += self.lambda * v[i];
            }
        }
        hv
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
    pub solver: Solver,
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
        return Err(Error::param(
            "rows",
            0,
            "a classifier needs at least one example",
        ));
    }
    if let Some(&bad) = labels.iter().find(|&&y| y as usize >= classes) {
        return Err(Error::param(
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
    let (iterations, cg_iterations, converged, termination) = match settings.solver {
        Solver::NewtonCg => newton_cg(&objective, &mut params, settings, weights),
        Solver::Lbfgs => lbfgs(&objective, &mut params, settings, weights, g0_norm)?,
    };
    let (value, grad) = objective.evaluate(&params);
    let gradient_norm = norm(&grad);
    let report = FitReport {
        classifier: settings.kind,
        lambda: settings.lambda,
        rows: labels.len(),
        solver: settings.solver,
        iterations,
        cg_iterations,
        evaluations: *objective.evaluations.lock().unwrap(),
        hessian_products: *objective.hessian_products.lock().unwrap(),
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

/// L-BFGS (argmin, More-Thuente line search) in rounds of [`ROUND_ITERATIONS`], each stopping
/// at the current reference `tol x lambda ||W||`. Returns (iterations, 0, converged, why).
fn lbfgs(
    objective: &Objective,
    params: &mut Vec<f64>,
    settings: FitSettings,
    weights: usize,
    g0_norm: f64,
) -> Result<(u64, u64, bool, String)> {
    let failed = |e: argmin::core::Error| Error::failed("training the classifier", e.to_string());
    let mut iterations = 0u64;
    let mut converged = false;
    let termination: String;
    loop {
        let (_, grad) = objective.evaluate(params);
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
        let result = Executor::new(Borrowed(objective), solver)
            .configure(|state| state.param(params.clone()).max_iters(round))
            .timer(false)
            .run()
            .map_err(failed)?;
        let mut state = result.state;
        let done = state.get_iter();
        iterations += done;
        let reason = state.get_termination_reason().cloned();
        if let Some(p) = state.take_best_param().or_else(|| state.take_param()) {
            *params = p;
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
                let (_, grad) = objective.evaluate(params);
                converged =
                    norm(&grad) <= settings.tol * settings.lambda * norm(&params[..weights]);
                break;
            }
        }
    }
    Ok((iterations, 0, converged, termination))
}

/// Largest number of conjugate-gradient steps per Newton step.
const CG_MAX: u64 = 250;
/// A Newton step's CG stops when its residual is below this fraction of the gradient norm
/// (TRON's choice in LIBLINEAR: 0.1).
const CG_RELATIVE: f64 = 0.1;

/// Truncated Newton: at each step, solve `H p = -g` by conjugate gradients on the
/// (generalised) Hessian to a relative residual of [`CG_RELATIVE`], then backtrack from the
/// full step until the objective falls by the Armijo fraction. The squared hinge is
/// piecewise quadratic, so its generalised Hessian (Mangasarian 2002; Keerthi and DeCoste
/// 2005) is exact between kinks and full steps are the rule; a step is accepted on the
/// objective, never on the model. Returns (Newton steps, CG steps, converged, why).
fn newton_cg(
    objective: &Objective,
    params: &mut Vec<f64>,
    settings: FitSettings,
    weights: usize,
) -> (u64, u64, bool, String) {
    let (mut steps, mut cg_steps) = (0u64, 0u64);
    loop {
        let (value, grad) = objective.evaluate(params);
        let g_norm = norm(&grad);
        let reference = settings.lambda * norm(&params[..weights]);
        if reference > 0.0 && g_norm <= settings.tol * reference {
            return (
                steps,
                cg_steps,
                true,
                "gradient below tol x lambda ||W||".into(),
            );
        }
        if g_norm == 0.0 {
            // Zero weights with a zero gradient: the optimum is W = 0 (labels carry nothing).
            return (steps, cg_steps, true, "gradient is zero".into());
        }
        if steps >= settings.max_iter as u64 {
            return (steps, cg_steps, false, "iteration cap reached".into());
        }
        let curvature = objective.curvature(params);
        // CG on H p = -g from p = 0.
        let mut p = vec![0f64; grad.len()];
        let mut r: Vec<f64> = grad.iter().map(|g| -g).collect();
        let mut dir = r.clone();
        let mut rr: f64 = r.iter().map(|v| v * v).sum();
        let target = CG_RELATIVE * g_norm;
        for _ in 0..CG_MAX {
            if rr.sqrt() <= target {
                break;
            }
            let hd = objective.hessian_product(&curvature, &dir);
            cg_steps += 1;
            let dhd: f64 = dir.iter().zip(&hd).map(|(a, b)| a * b).sum();
            if dhd <= 0.0 {
                // Only rounding can make lambda I + X^T D X look non-positive; keep what we have.
                break;
            }
            let alpha = rr / dhd;
            for ((pi, ri), (di, hi)) in p.iter_mut().zip(r.iter_mut()).zip(dir.iter().zip(&hd)) {
                *pi += alpha * di;
                *ri -= alpha * hi;
            }
            let rr_new: f64 = r.iter().map(|v| v * v).sum();
            let beta = rr_new / rr;
            rr = rr_new;
            for (di, ri) in dir.iter_mut().zip(&r) {
                *di = ri + beta * *di;
            }
        }
        if p.iter().all(|v| *v == 0.0) {
            // The first CG step was refused: fall back to steepest descent.
            p = grad.iter().map(|g| -g).collect();
        }
        let slope: f64 = p.iter().zip(&grad).map(|(a, b)| a * b).sum();
        let mut t = 1.0;
        let mut accepted = false;
        for _ in 0..30 {
            let trial: Vec<f64> = params.iter().zip(&p).map(|(w, d)| w + t * d).collect();
            let (v, _) = objective.evaluate(&trial);
            if v <= value + 1e-4 * t * slope {
                *params = trial;
                accepted = true;
                break;
            }
            t *= 0.5;
        }
        steps += 1;
        if !accepted {
            // No decrease along a descent direction: the float32 scores' rounding floor.
            let (_, grad) = objective.evaluate(params);
            let converged =
                norm(&grad) <= settings.tol * settings.lambda * norm(&params[..weights]);
            return (
                steps,
                cg_steps,
                converged,
                "line search found no decrease".into(),
            );
        }
    }
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
