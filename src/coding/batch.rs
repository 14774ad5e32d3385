//! The blocked driver every coder runs on: the patches are cut into fixed blocks of
//! [`BLOCK`] columns, each block gets `C = D^T X` (one f32 GEMM, for the solvers that read it) and `||x||^2` (in f64), and a
//! block solver turns them into codes. Blocks run in parallel on rayon's pool, but a
//! block's size and arithmetic never depend on the thread count, so results are
//! bit-identical for any number of threads.

use super::{CodingParams, CodingReport, PreparedDictionary};
use crate::error::{Error, Result};
use crate::linalg::{Backend, View, ViewMut, gemm};
use nalgebra::DMatrix;
use rayon::prelude::*;

/// Patches per block: small enough that a block's working set (a few atoms x BLOCK
/// buffers) stays in the L2 cache, large enough for efficient GEMM.
pub const BLOCK: usize = 128;

/// What one block's solve returns; the driver merges these in block order.
#[derive(Debug, Default, Clone)]
pub struct BlockOutcome {
    pub iterations: usize,
    pub objective_sum: f64,
    pub max_relative_gap: f64,
    pub converged: usize,
    /// Sum over the block's patches of the objective at each gap check (when recorded).
    pub history: Vec<f64>,
    /// Flops spent in Gram-matrix products.
    pub gemm_flops: f64,
}

/// One block's inputs, all column-major with `atoms` rows (or one entry per patch).
pub struct BlockInput<'a> {
    /// The block's patches (pixels x n).
    pub x: &'a [f32],
    /// `D^T x` for each patch (atoms x n); empty unless the solver
    /// [`wants_f32_correlations`](BlockSolver::wants_f32_correlations).
    pub c: &'a [f32],
    /// `||x||^2` for each patch.
    pub xx: &'a [f64],
}

/// Solves one block of patches; `codes` (atoms x n) holds the warm start on entry.
pub trait BlockSolver: Sync {
    /// Whether the solver reads [`BlockInput::c`]; the active-set coder forms its own
    /// `D^T x` in f64, so the driver skips the f32 product (about 3% of its time) for it.
    fn wants_f32_correlations(&self) -> bool {
        true
    }
    fn solve_block(
        &self,
        dict: &PreparedDictionary,
        input: &BlockInput,
        codes: &mut [f32],
        params: &CodingParams,
    ) -> BlockOutcome;
}

/// Implements [`BlockSolver`] for `$solver` by calling `$solve(&self, dict, input, codes,
/// params)` through [`widest_simd!`](crate::linalg::dispatch::widest_simd): the hot loops are
/// plain Rust that the compiler vectorises only when it may assume the wider instruction
/// sets.
macro_rules! impl_block_solver_with_cpu_dispatch {
    ($solver:ty, $solve:path $(, f32_correlations = $wants:expr)?) => {
        impl $crate::coding::batch::BlockSolver for $solver {
            $(
                fn wants_f32_correlations(&self) -> bool {
                    $wants
                }
            )?
            fn solve_block(
                &self,
                dict: &$crate::coding::PreparedDictionary,
                input: &$crate::coding::batch::BlockInput,
                codes: &mut [f32],
                params: &$crate::coding::CodingParams,
            ) -> $crate::coding::batch::BlockOutcome {
                let solver = self;
                $crate::linalg::dispatch::widest_simd!(
                    unsafe fn portable(
                        solver: &$solver,
                        dict: &$crate::coding::PreparedDictionary,
                        input: &$crate::coding::batch::BlockInput,
                        codes: &mut [f32],
                        params: &$crate::coding::CodingParams,
                    ) -> $crate::coding::batch::BlockOutcome {
                        $solve(solver, dict, input, codes, params)
                    }
                )
            }
        }
    };
}
pub(crate) use impl_block_solver_with_cpu_dispatch;

/// `D^T x` in float64 for the `n` patches of a block (atoms x n, column-major): the
/// certificates and the Newton right-hand side need the digits a float32 product rounds
/// away.
#[inline(always)]
pub fn correlations_f64(dict: &PreparedDictionary, x: &[f32], n: usize) -> Vec<f64> {
    let (k, p) = (dict.atoms(), dict.pixels());
    let x64: Vec<f64> = x[..p * n].iter().map(|&v| v as f64).collect();
    let mut c64 = vec![0f64; k * n];
    gemm(
        Backend::Faer,
        (k, p, n),
        1.0,
        View::columns(&dict.d64, p).t(),
        View::columns(&x64, p),
        0.0,
        ViewMut::columns(&mut c64, k),
    );
    c64
}

/// Runs `solver` over all blocks of `x` and merges the diagnostics into a report.
pub fn run_blocks(
    name: &str,
    solver: &impl BlockSolver,
    dict: &PreparedDictionary,
    x: &DMatrix<f32>,
    codes: &mut DMatrix<f32>,
    params: &crate::params::Valid<CodingParams>,
) -> Result<CodingReport> {
    let start = std::time::Instant::now();
    let outcomes = solve_blocks(solver, dict, x, codes, params)?;
    Ok(merge_outcomes(name, &outcomes, codes, start))
}

/// Runs `solver` over all blocks of `x` (cut from its first column) and returns each
/// block's outcome, in block order. A block's codes depend only on its own patches, so the
/// columns of any whole blocks of a larger batch, coded here, get the same bits as in that
/// batch: this is what lets MPI ranks share a batch ([`super::shared`]).
pub fn solve_blocks(
    solver: &impl BlockSolver,
    dict: &PreparedDictionary,
    x: &DMatrix<f32>,
    codes: &mut DMatrix<f32>,
    params: &crate::params::Valid<CodingParams>,
) -> Result<Vec<BlockOutcome>> {
    let (p, k, n) = (dict.pixels(), dict.atoms(), x.ncols());
    if x.nrows() != p {
        return Err(Error::failed(
            "sparse coding",
            format!(
                "patches have {} pixels but the dictionary's atoms have {p}",
                x.nrows()
            ),
        ));
    }
    if codes.nrows() != k || codes.ncols() != n {
        return Err(Error::failed(
            "sparse coding",
            format!(
                "codes are {}x{} but must be atoms x patches = {k}x{n}",
                codes.nrows(),
                codes.ncols()
            ),
        ));
    }
    Ok(if k == 0 || n == 0 {
        Vec::new()
    } else {
        codes
            .as_mut_slice()
            .par_chunks_mut(k * BLOCK)
            .zip(x.as_slice().par_chunks(p * BLOCK))
            .map(|(codes_block, x_block)| {
                let nb = x_block.len() / p.max(1);
                let mut c = Vec::new();
                if solver.wants_f32_correlations() {
                    c.resize(k * nb, 0f32);
                    // C = D^T X (atoms x nb), column-major like everything here.
                    gemm(
                        Backend::Faer,
                        (k, p, nb),
                        1.0,
                        View::columns(dict.d.as_slice(), p).t(),
                        View::columns(x_block, p),
                        0.0,
                        ViewMut::columns(&mut c, k),
                    );
                }
                let xx: Vec<f64> = x_block
                    .chunks_exact(p.max(1))
                    .map(|col| col.iter().map(|&v| v as f64 * v as f64).sum())
                    .collect();
                solver.solve_block(
                    dict,
                    &BlockInput {
                        x: x_block,
                        c: &c,
                        xx: &xx,
                    },
                    codes_block,
                    params,
                )
            })
            .collect()
    })
}

/// Merges block outcomes, in block order, into the report of coding `codes` (atoms x
/// patches; the patches of all the blocks) since `start`. The sums run in block order, so
/// the report's bits do not depend on who solved which block.
pub fn merge_outcomes(
    name: &str,
    outcomes: &[BlockOutcome],
    codes: &DMatrix<f32>,
    start: std::time::Instant,
) -> CodingReport {
    let (k, n) = (codes.nrows(), codes.ncols());
    let mut report = CodingReport {
        coder: name.to_string(),
        ..Default::default()
    };
    let mut converged = 0usize;
    let mut history: Vec<f64> = Vec::new();
    for o in outcomes {
        report.iterations = report.iterations.max(o.iterations);
        report.objective += o.objective_sum;
        report.max_relative_gap = report.max_relative_gap.max(o.max_relative_gap);
        converged += o.converged;
        report.gemm_flops += o.gemm_flops;
        if history.len() < o.history.len() {
            // A block that stopped early keeps its last objective for later checks.
            let last = history.last().copied();
            history.resize(o.history.len(), last.unwrap_or(0.0));
        }
    }
    if !history.is_empty() {
        history.fill(0.0);
        for o in outcomes {
            let last = o.history.last().copied().unwrap_or(o.objective_sum);
            for (i, h) in history.iter_mut().enumerate() {
                *h += o.history.get(i).copied().unwrap_or(last);
            }
        }
    }
    let denom = n.max(1) as f64;
    report.objective /= denom;
    report.history = history.into_iter().map(|h| h / denom).collect();
    report.converged_fraction = if n == 0 {
        1.0
    } else {
        converged as f64 / denom
    };
    report.converged = converged == n;
    let nnz = codes.as_slice().iter().filter(|&&v| v != 0.0).count();
    report.nonzero_fraction = nnz as f64 / (k * n).max(1) as f64;
    report.seconds = start.elapsed().as_secs_f64();
    report
}

/// Swaps columns `i` and `j` (each `rows` long) of a column-major buffer.
pub fn swap_columns<T>(buf: &mut [T], rows: usize, i: usize, j: usize) {
    if i == j {
        return;
    }
    let (lo, hi) = (i.min(j), i.max(j));
    let (head, tail) = buf.split_at_mut(hi * rows);
    head[lo * rows..(lo + 1) * rows].swap_with_slice(&mut tail[..rows]);
}
