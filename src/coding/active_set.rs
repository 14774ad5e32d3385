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

use super::batch::{BlockInput, BlockOutcome, BlockSolver, run_blocks};
use super::{
    CodingParams, CodingReport, PreparedDictionary, SparseCoder, objective_and_gap_with,
    relative_gap,
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

impl BlockSolver for ActiveSetCd {
    fn solve_block(
        &self,
        dict: &PreparedDictionary,
        input: &BlockInput,
        codes: &mut [f32],
        params: &CodingParams,
    ) -> BlockOutcome {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU has the features the function is compiled for.
                return unsafe { solve_avx512(self, dict, input, codes, params) };
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                // SAFETY: as above.
                return unsafe { solve_avx2(self, dict, input, codes, params) };
            }
        }
        solve_block(self, dict, input, codes, params)
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
fn solve_avx512(
    cd: &ActiveSetCd,
    dict: &PreparedDictionary,
    input: &BlockInput,
    codes: &mut [f32],
    params: &CodingParams,
) -> BlockOutcome {
    solve_block(cd, dict, input, codes, params)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn solve_avx2(
    cd: &ActiveSetCd,
    dict: &PreparedDictionary,
    input: &BlockInput,
    codes: &mut [f32],
    params: &CodingParams,
) -> BlockOutcome {
    solve_block(cd, dict, input, codes, params)
}

/// Per-block scratch space, reused across the block's patches so the per-patch loops
/// allocate nothing once the buffers have grown to the largest support seen.
struct Scratch {
    r: Vec<f32>,
    ga: Vec<f64>,
    support: Vec<usize>,
    chol: Vec<f64>,
    z: Vec<f64>,
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
    };
    let mut out = BlockOutcome::default();
    for (j, a) in codes.chunks_exact_mut(k).enumerate() {
        let c = &input.c[j * k..(j + 1) * k];
        let (iters, objective, rel) =
            solve_patch(cd, dict, c, input.xx[j], a, &mut scratch, params);
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
fn newton_on_signs(
    gram: &[f32],
    k: usize,
    c: &[f32],
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
    for (q, &jq) in s.support.iter().enumerate() {
        for (p, &jp) in s.support.iter().enumerate().skip(q) {
            s.chol[q * m + p] = gram[jq * k + jp] as f64;
        }
        s.z[q] = c[jq] as f64 - lambda as f64 * (a[jq] as f64).signum();
    }
    // Cholesky, lower triangle stored column-major: L[p, q] at q * m + p.
    for q in 0..m {
        let mut d = s.chol[q * m + q];
        for l in 0..q {
            d -= s.chol[l * m + q] * s.chol[l * m + q];
        }
        if d <= 1e-10 * gram[s.support[q] * k + s.support[q]] as f64 {
            return false;
        }
        let d = d.sqrt();
        s.chol[q * m + q] = d;
        for p in q + 1..m {
            let mut v = s.chol[q * m + p];
            for l in 0..q {
                v -= s.chol[l * m + p] * s.chol[l * m + q];
            }
            s.chol[q * m + p] = v / d;
        }
    }
    // Forward then backward substitution: L L^T z = rhs.
    for p in 0..m {
        let mut v = s.z[p];
        for l in 0..p {
            v -= s.chol[l * m + p] * s.z[l];
        }
        s.z[p] = v / s.chol[p * m + p];
    }
    for p in (0..m).rev() {
        let mut v = s.z[p];
        for l in p + 1..m {
            v -= s.chol[p * m + l] * s.z[l];
        }
        s.z[p] = v / s.chol[p * m + p];
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

/// Solves one patch; returns (outer iterations, objective, relative gap).
#[inline(always)]
fn solve_patch(
    cd: &ActiveSetCd,
    dict: &PreparedDictionary,
    c: &[f32],
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
    let certificate = |a: &[f32], s: &Scratch| {
        let (p, gap) = objective_and_gap_with(xx, c, a, |i| s.ga[i], lambda, positive);
        (p, relative_gap(p, gap))
    };
    let (mut objective, mut rel) = certificate(a, s);
    if rel <= params.tol {
        return (0, objective, rel);
    }
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
        let saved_ok = newton_on_signs(gram, k, c, a, s, lambda);
        refresh(gram, k, c, a, s);
        (objective, rel) = certificate(a, s);
        if rel <= params.tol || (!saved_ok && outer == params.max_iter) {
            return (outer, objective, rel);
        }
    }
    (params.max_iter, objective, rel)
}
