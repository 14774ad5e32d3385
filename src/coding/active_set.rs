//! An exact active-set coder: from zero codes, the lasso homotopy (LARS with the lasso
//! modification, [`super::homotopy`]); from a warm start, and to finish whatever the
//! homotopy leaves above the tolerance, coordinate descent on the Gram matrix with a Newton
//! step on the current sign pattern (the feature-sign idea of Lee et al. 2007).
//!
//! The coordinate-descent part keeps, per patch, the correlation of the residual with every
//! atom, `r = c - G a`, so a coordinate update costs O(1) when the coordinate stays at zero
//! and one axpy with a Gram column when it moves. An outer iteration is one sweep over
//! every atom (which admits new atoms), sweeps over the nonzero atoms on their own small
//! dense Gram block `G_SS` until the support settles, then the exact minimiser of the
//! objective with that support and those signs, `G_SS z = c_S - lambda sign(a_S)` (f64
//! Cholesky). If a sign would flip, the step stops at the first zero crossing, which still
//! lowers the objective. From zero, though, a sweep admits about twice the solution's atoms
//! and the inner sweeps and Newton steps then work on that inflated support, which is why a
//! cold start runs the homotopy instead: it only ever holds the atoms on the solution path.
//!
//! The certificate is the same relative duality gap as every coder's, computed in the Gram
//! form from `D^T x` and `G` in f64 (one f64 GEMM per block and the prepared f64 Gram
//! matrix), which is as accurate as forming the residual and costs O(|S| atoms) per check.

use super::batch::{
    BlockInput, BlockOutcome, correlations_f64, impl_block_solver_with_cpu_dispatch, run_blocks,
    solve_blocks,
};
use super::homotopy::Homotopy;
use super::{
    CodingParams, CodingReport, PreparedDictionary, SparseCoder, objective_and_gap_f64,
    relative_gap,
};
use crate::error::Result;
use crate::linalg::cholesky::{self, Lanes};
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
        params: &crate::params::Valid<CodingParams>,
    ) -> Result<CodingReport> {
        run_blocks(self.name(), self, dict, x, codes, params)
    }

    fn encode_blocks(
        &self,
        dict: &PreparedDictionary,
        x: &DMatrix<f32>,
        codes: &mut DMatrix<f32>,
        params: &crate::params::Valid<CodingParams>,
    ) -> Result<Vec<BlockOutcome>> {
        solve_blocks(self, dict, x, codes, params)
    }
}

impl_block_solver_with_cpu_dispatch!(ActiveSetCd, solve_block, f32_correlations = false);

/// Cap on the homotopy's events per atom: a lasso path rarely has more events than atoms
/// (standard case: 17 for 256 atoms), so hitting this means cycling on ties, and coordinate
/// descent takes over from the point reached.
const HOMOTOPY_EVENTS_PER_ATOM: usize = 4;

/// Per-block scratch space, reused across the block's patches so the per-patch loops
/// allocate nothing once the buffers have grown to the largest support seen.
struct Scratch {
    /// `c - G a` in f32, what the sweeps update.
    r: Vec<f32>,
    /// `G a` in f64, fresh after every refresh.
    ga: Vec<f64>,
    support: Vec<usize>,
    chol: Vec<f64>,
    z: Vec<f64>,
    /// The support's Gram block (row-major), codes and correlations for the inner sweeps.
    g_ss: Vec<f32>,
    a_s: Vec<f32>,
    r_s: Vec<f32>,
    homotopy: Homotopy,
}

#[inline(always)]
fn solve_block(
    cd: &ActiveSetCd,
    dict: &PreparedDictionary,
    input: &BlockInput,
    codes: &mut [f32],
    params: &CodingParams,
) -> BlockOutcome {
    let (k, n) = (dict.atoms(), input.xx.len());
    let c64 = correlations_f64(dict, input.x, n);
    let mut scratch = Scratch {
        r: vec![0.0; k],
        ga: vec![0.0; k],
        support: Vec::with_capacity(k),
        chol: Vec::new(),
        z: Vec::new(),
        g_ss: Vec::new(),
        a_s: Vec::new(),
        r_s: Vec::new(),
        homotopy: Homotopy::new(k),
    };
    let mut out = BlockOutcome::default();
    for (j, a) in codes.chunks_exact_mut(k).enumerate() {
        let c = &c64[j * k..(j + 1) * k];
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
fn refresh(gram64: &[f64], k: usize, c: &[f64], a: &[f32], s: &mut Scratch) {
    collect_support(a, &mut s.support);
    s.ga.fill(0.0);
    for &i in &s.support {
        let ai = a[i] as f64;
        for (g, &gi) in s.ga.iter_mut().zip(&gram64[i * k..(i + 1) * k]) {
            *g += ai * gi;
        }
    }
    for ((r, &ci), &g) in s.r.iter_mut().zip(c).zip(&s.ga) {
        *r = (ci - g) as f32;
    }
}

/// Coordinate-descent sweeps restricted to the support on its own Gram block, until the
/// changes are small or the number of nonzeros stops moving. Atoms may leave the support
/// (their codes reach zero) but none enter; that is the full sweep's job.
#[inline(always)]
fn inner_sweeps(
    cd: &ActiveSetCd,
    gram: &[f32],
    k: usize,
    a: &mut [f32],
    s: &mut Scratch,
    lambda: f32,
    positive: bool,
) {
    collect_support(a, &mut s.support);
    let m = s.support.len();
    if m == 0 {
        return;
    }
    s.g_ss.clear();
    for &jp in &s.support {
        let col = &gram[jp * k..(jp + 1) * k];
        s.g_ss.extend(s.support.iter().map(|&jq| col[jq]));
    }
    s.a_s.clear();
    s.a_s.extend(s.support.iter().map(|&j| a[j]));
    s.r_s.clear();
    s.r_s.extend(s.support.iter().map(|&j| s.r[j]));
    let mut previous_nnz = usize::MAX;
    for _ in 0..cd.max_inner_sweeps {
        let (max_delta, max_abs) =
            sweep(&s.g_ss, m, 0..m, &mut s.a_s, &mut s.r_s, lambda, positive);
        let nnz = s.a_s.iter().filter(|v| **v != 0.0).count();
        let settled = nnz == previous_nnz;
        previous_nnz = nnz;
        if max_delta <= 1e-3 * max_abs || settled {
            break;
        }
    }
    for (&j, &v) in s.support.iter().zip(&s.a_s) {
        a[j] = v;
    }
}

/// The Newton step on the current support and signs, stopped at the first sign change.
/// Returns false when `G_SS` is numerically singular (duplicate atoms), leaving `a` as it was.
#[inline(always)]
fn newton_on_signs(
    gram: &[f64],
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
            s.chol[p * m + q] = gram[jp * k + jq];
        }
        s.z[p] = c[jp] - lambda as f64 * (a[jp] as f64).signum();
    }
    // The pivot test relative to the diagonal refuses a numerically singular G_SS.
    if !cholesky::factor::<Lanes>(&mut s.chol, m, 1e-10) {
        return false;
    }
    cholesky::solve::<Lanes>(&s.chol, m, &mut s.z);
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

/// Solves one patch from `c = D^T x` (f64); returns (outer iterations, objective, relative
/// gap).
#[inline(always)]
fn solve_patch(
    cd: &ActiveSetCd,
    dict: &PreparedDictionary,
    c: &[f64],
    xx: f64,
    a: &mut [f32],
    s: &mut Scratch,
    params: &CodingParams,
) -> (usize, f64, f64) {
    let k = dict.atoms();
    let (gram, gram64) = (dict.gram.as_slice(), dict.gram64.as_slice());
    let (lambda, positive) = (params.lambda, params.positive);
    if positive {
        a.iter_mut().for_each(|v| *v = v.max(0.0));
    }
    // From zero, the homotopy (one outer iteration); coordinate descent continues from its
    // end point only if that is not certified (or the event cap cut the path short).
    let mut done = 0;
    if a.iter().all(|&v| v == 0.0) {
        s.homotopy.solve(
            gram64,
            c,
            lambda as f64,
            positive,
            a,
            HOMOTOPY_EVENTS_PER_ATOM * k + 16,
        );
        s.homotopy.gram_times_codes(a, &mut s.ga);
        let (objective, gap) = objective_and_gap_f64(xx, c, a, &s.ga, lambda, positive);
        let rel = relative_gap(objective, gap);
        if rel <= params.tol || params.max_iter == 1 {
            return (1, objective, rel);
        }
        done = 1;
    }
    refresh(gram64, k, c, a, s);
    let (mut objective, gap) = objective_and_gap_f64(xx, c, a, &s.ga, lambda, positive);
    let mut rel = relative_gap(objective, gap);
    if rel <= params.tol {
        return (done, objective, rel);
    }
    // Plain loops, no closures: a closure would be compiled without the target features of
    // the CPU-dispatched block solver and lose its vector instructions.
    for outer in done + 1..=params.max_iter {
        sweep(gram, k, 0..k, a, &mut s.r, lambda, positive);
        inner_sweeps(cd, gram, k, a, s, lambda, positive);
        let saved_ok = newton_on_signs(gram64, k, c, a, s, lambda);
        refresh(gram64, k, c, a, s);
        let previous = objective;
        let gap;
        (objective, gap) = objective_and_gap_f64(xx, c, a, &s.ga, lambda, positive);
        rel = relative_gap(objective, gap);
        // A step that no longer lowers the objective means float32 codes have hit their
        // floor; stop and report the gap reached rather than spin to the cap.
        let stalled = objective >= previous * (1.0 - 1e-12);
        if rel <= params.tol || stalled || (!saved_ok && outer == params.max_iter) {
            return (outer, objective, rel);
        }
    }
    (params.max_iter, objective, rel)
}
