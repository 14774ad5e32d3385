//! An exact active-set coder: coordinate descent on the Gram matrix, finished by a Newton
//! step on the current sign pattern (the feature-sign idea of Lee et al. 2007).
//!
//! Per patch it keeps the correlation of the residual with every atom, `r = c - G a`, so a
//! coordinate update costs O(1) when the coordinate stays at zero and one axpy with a Gram
//! column when it moves. An outer iteration is one sweep over every atom (which admits new
//! atoms), sweeps over the nonzero atoms until the support settles, then the exact
//! minimiser of the objective with that support and those signs, `G_SS z = c_S - lambda
//! sign(a_S)` (f64 Cholesky). If a sign would flip, the step stops at the first zero
//! crossing, which still lowers the objective. At high sparsity the support is small, so
//! the whole solve costs a few Gram-column axpys per atom in it; the certificate is the
//! same relative duality gap as every coder's.

use super::batch::{BlockInput, BlockOutcome, impl_block_solver_with_cpu_dispatch, run_blocks};
use super::{
    CodingParams, CodingReport, PreparedDictionary, SparseCoder, objective_and_gap_exact,
    objective_and_gap_with, relative_gap,
};
use crate::error::Result;
use nalgebra::DMatrix;

/// The active-set coordinate-descent coder (`--coder cd`).
#[derive(Debug, Clone, Copy)]
pub struct ActiveSetCd {
    /// Cap on sweeps over the nonzero atoms between two full sweeps. Default 50.
    pub max_inner_sweeps: usize,
}

impl Default for ActiveSetCd {
    fn default() -> Self {
        Self {
            max_inner_sweeps: 50,
        }
    }
}

impl SparseCoder for ActiveSetCd {
    fn name(&self) -> &'static str {
        "cd"
    }

    fn encode(
        &self,
        dict: &PreparedDictionary,
        x: &DMatrix<f32>,
        codes: &mut DMatrix<f32>,
        params: &CodingParams,
    ) -> Result<CodingReport> {
        run_blocks(self.name(), self, dict, x, codes, params)
    }
}

impl_block_solver_with_cpu_dispatch!(ActiveSetCd, solve_block);

/// Per-block scratch space, reused across the block's patches so the per-patch loops
/// allocate nothing once the buffers have grown to the largest support seen.
struct Scratch {
    r: Vec<f32>,
    ga: Vec<f64>,
    support: Vec<usize>,
    chol: Vec<f64>,
    z: Vec<f64>,
    r64: Vec<f64>,
    c64: Vec<f64>,
}

#[inline(always)]
fn solve_block(
    cd: &ActiveSetCd,
    dict: &PreparedDictionary,
    input: &BlockInput,
    codes: &mut [f32],
    params: &CodingParams,
) -> BlockOutcome {
    let k = dict.atoms();
    let mut scratch = Scratch {
        r: vec![0.0; k],
        ga: vec![0.0; k],
        support: Vec::with_capacity(k),
        chol: Vec::new(),
        z: Vec::new(),
        r64: vec![0.0; dict.pixels()],
        c64: vec![0.0; k],
    };
    let mut out = BlockOutcome::default();
    for (j, a) in codes.chunks_exact_mut(k).enumerate() {
        let c = &input.c[j * k..(j + 1) * k];
        let p = dict.pixels();
        let x = &input.x[j * p..(j + 1) * p];
        let (iters, objective, rel) =
            solve_patch(cd, dict, c, x, input.xx[j], a, &mut scratch, params);
        out.iterations = out.iterations.max(iters);
        out.objective_sum += objective;
        out.max_relative_gap = out.max_relative_gap.max(rel);
        if rel <= params.tol {
            out.converged += 1;
        }
    }
    out
}

/// One coordinate-descent pass over `coords`; returns the largest change and largest
/// magnitude it saw.
#[inline(always)]
fn sweep(
    gram: &[f32],
    k: usize,
    coords: impl Iterator<Item = usize>,
    a: &mut [f32],
    r: &mut [f32],
    lambda: f32,
    positive: bool,
) -> (f32, f32) {
    let (mut max_delta, mut max_abs) = (0f32, 0f32);
    let r = &mut r[..k];
    for i in coords {
        let gii = gram[i * k + i];
        if gii <= 0.0 {
            continue;
        }
        let old = a[i];
        let v = old + r[i] / gii;
        let t = lambda / gii;
        let new = if positive {
            (v - t).max(0.0)
        } else {
            v - v.clamp(-t, t)
        };
        if new != old {
            let delta = new - old;
            for (ri, gi) in r.iter_mut().zip(&gram[i * k..(i + 1) * k]) {
                *ri -= delta * gi;
            }
            a[i] = new;
            max_delta = max_delta.max(delta.abs());
        }
        max_abs = max_abs.max(new.abs());
    }
    (max_delta, max_abs)
}

#[inline(always)]
fn collect_support(a: &[f32], support: &mut Vec<usize>) {
    support.clear();
    support.extend(
        a.iter()
            .enumerate()
            .filter(|(_, v)| **v != 0.0)
            .map(|(i, _)| i),
    );
}

/// Recomputes `G a` in f64 over the support, and `r = c - G a` from it (removing the drift
/// of the incremental f32 updates).
#[inline(always)]
fn refresh(gram: &[f32], k: usize, c: &[f32], a: &[f32], s: &mut Scratch) {
    collect_support(a, &mut s.support);
    s.ga.fill(0.0);
    for &i in &s.support {
        let ai = a[i] as f64;
        for (g, &gi) in s.ga.iter_mut().zip(&gram[i * k..(i + 1) * k]) {
            *g += ai * gi as f64;
        }
    }
    for ((r, &ci), &g) in s.r.iter_mut().zip(c).zip(&s.ga) {
        *r = (ci as f64 - g) as f32;
    }
}

/// The Newton step on the current support and signs, stopped at the first sign change.
/// Returns false when `G_SS` is numerically singular (duplicate atoms), leaving `a` as it was.
#[inline(always)]
fn newton_on_signs(
    gram: &[f32],
    k: usize,
    c: &[f64],
    a: &mut [f32],
    s: &mut Scratch,
    lambda: f32,
) -> bool {
    collect_support(a, &mut s.support);
    let m = s.support.len();
    if m == 0 {
        return true;
    }
    s.chol.clear();
    s.chol.resize(m * m, 0.0);
    s.z.clear();
    s.z.resize(m, 0.0);
    // Lower triangle, row-major: L[p][q] at p * m + q, so every inner loop is a
    // contiguous dot product or axpy.
    for (p, &jp) in s.support.iter().enumerate() {
        for (q, &jq) in s.support.iter().enumerate().take(p + 1) {
            s.chol[p * m + q] = gram[jp * k + jq] as f64;
        }
        s.z[p] = c[jp] - lambda as f64 * (a[jp] as f64).signum();
    }
    let chol = &mut s.chol[..m * m];
    for q in 0..m {
        let (upper, below) = chol.split_at_mut((q + 1) * m);
        let row_q = &mut upper[q * m..(q + 1) * m];
        let d = row_q[q] - dot(&row_q[..q], &row_q[..q]);
        if d <= 1e-10 * gram[s.support[q] * k + s.support[q]] as f64 {
            return false;
        }
        let d = d.sqrt();
        row_q[q] = d;
        let lq: &[f64] = &row_q[..q];
        for row_p in below.chunks_exact_mut(m) {
            row_p[q] = (row_p[q] - dot(&row_p[..q], lq)) / d;
        }
    }
    // Forward then backward substitution: L L^T z = rhs.
    for p in 0..m {
        let row = &chol[p * m..p * m + p + 1];
        s.z[p] = (s.z[p] - dot(&row[..p], &s.z[..p])) / row[p];
    }
    for p in (0..m).rev() {
        let row = &chol[p * m..p * m + p + 1];
        let zp = s.z[p] / row[p];
        s.z[p] = zp;
        for (zl, &lpl) in s.z[..p].iter_mut().zip(&row[..p]) {
            *zl -= lpl * zp;
        }
    }
    // Along a -> z the objective equals the sign-model quadratic until a sign changes, and
    // that quadratic decreases all the way to z; so stop at the first crossing.
    let mut theta = 1f64;
    for (q, &j) in s.support.iter().enumerate() {
        let (aj, zj) = (a[j] as f64, s.z[q]);
        if aj * zj <= 0.0 {
            theta = theta.min(aj / (aj - zj));
        }
    }
    for (q, &j) in s.support.iter().enumerate() {
        let (aj, zj) = (a[j] as f64, s.z[q]);
        let crossing = aj * zj <= 0.0 && aj / (aj - zj) <= theta;
        a[j] = if crossing {
            0.0
        } else if theta == 1.0 {
            zj as f32
        } else {
            (aj + theta * (zj - aj)) as f32
        };
    }
    true
}

/// A dot product with four independent partial sums, so it vectorises; the order is fixed.
#[inline(always)]
fn dot(x: &[f64], y: &[f64]) -> f64 {
    let mut acc = [0f64; 4];
    let n = x.len().min(y.len());
    let (xc, yc) = (x[..n].chunks_exact(4), y[..n].chunks_exact(4));
    let tail: f64 = xc
        .remainder()
        .iter()
        .zip(yc.remainder())
        .map(|(a, b)| a * b)
        .sum();
    for (a, b) in xc.zip(yc) {
        for l in 0..4 {
            acc[l] += a[l] * b[l];
        }
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// Solves one patch; returns (outer iterations, objective, relative gap).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn solve_patch(
    cd: &ActiveSetCd,
    dict: &PreparedDictionary,
    c: &[f32],
    x: &[f32],
    xx: f64,
    a: &mut [f32],
    s: &mut Scratch,
    params: &CodingParams,
) -> (usize, f64, f64) {
    let k = dict.atoms();
    let gram = dict.gram.as_slice();
    let (lambda, positive) = (params.lambda, params.positive);
    if positive {
        a.iter_mut().for_each(|v| *v = v.max(0.0));
    }
    refresh(gram, k, c, a, s);
    let certificate = |a: &[f32], s: &mut Scratch| {
        let (p, gap) = objective_and_gap_with(xx, c, a, |i| s.ga[i], lambda, positive);
        let rel = relative_gap(p, gap);
        let gram_primal = p;
        if rel <= 1e3 * params.tol {
            // Confirm with the explicit f64 residual (see objective_and_gap_exact).
            let (p, gap) = objective_and_gap_exact(
                dict.d.as_slice(),
                dict.pixels(),
                x,
                a,
                lambda,
                positive,
                &mut s.r64,
            );
            return (p, relative_gap(p, gap), gram_primal);
        }
        (p, rel, gram_primal)
    };
    let (mut objective, mut rel, mut gram_primal) = certificate(a, &mut *s);
    if rel <= params.tol {
        return (0, objective, rel);
    }
    let mut c64 = std::mem::take(&mut s.c64);
    let mut have_c64 = false;
    let result = (|| {
        for outer in 1..=params.max_iter {
            sweep(gram, k, 0..k, a, &mut s.r, lambda, positive);
            let mut previous_support = usize::MAX;
            for _ in 0..cd.max_inner_sweeps {
                collect_support(a, &mut s.support);
                let size = s.support.len();
                let support = std::mem::take(&mut s.support);
                let (max_delta, max_abs) = sweep(
                    gram,
                    k,
                    support.iter().copied(),
                    a,
                    &mut s.r,
                    lambda,
                    positive,
                );
                s.support = support;
                let settled =
                    a.iter().filter(|v| **v != 0.0).count() == size && size == previous_support;
                previous_support = size;
                if max_delta <= 1e-3 * max_abs || settled {
                    break;
                }
            }
            if !have_c64 {
                // D^T x in f64 for the Newton right-hand side: the f32 GEMM's rounding of c
                // would otherwise put the exact solve's answer above a 1e-6 certificate.
                let (d, p) = (dict.d.as_slice(), dict.pixels());
                for (i, ci) in c64.iter_mut().enumerate() {
                    *ci = d[i * p..(i + 1) * p]
                        .iter()
                        .zip(x)
                        .map(|(&di, &xi)| di as f64 * xi as f64)
                        .sum();
                }
                have_c64 = true;
            }
            let saved_ok = newton_on_signs(gram, k, &c64, a, s, lambda);
            refresh(gram, k, c, a, s);
            let previous_primal = gram_primal;
            (objective, rel, gram_primal) = certificate(a, &mut *s);
            // A step that no longer lowers the objective means float32 has hit its floor;
            // stop and report the gap reached rather than spin to the cap.
            // (Compared in the Gram form, so both sides carry the same rounding.)
            let stalled = gram_primal >= previous_primal * (1.0 - 1e-12);
            if rel <= params.tol || stalled || (!saved_ok && outer == params.max_iter) {
                return (outer, objective, rel);
            }
        }
        (params.max_iter, objective, rel)
    })();
    s.c64 = c64;
    result
}
