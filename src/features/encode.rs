//! The single-layer encoder: every `size` x `size` window of an image (stride `stride`) is
//! normalised, whitened and compared with every atom, an encoder turns the responses into
//! features, and the features are sum-pooled over four quadrants ([`super::pool`]).
//!
//! The work is one GEMM per batch of images. The windows of the batch, normalised, are the
//! rows of `X` (windows x dim); the whitening `x -> (x - m) W` is folded into the bank, so
//! the responses to all atoms are `X (W D) - m W D`: one product with the (dim x K) operand
//! `W D`, its rows started from the bias `-m W D` (GEMM with beta = 1). The triangle encoder
//! also needs each whitened window's norm, so its operand carries `W` as `dim` extra
//! columns (`[W D | W]`, 7% more work at K = 1600); the lasso encoder's operand is `W` alone
//! (the coder then works on the whitened windows). Batches run in parallel, each GEMM on
//! one thread, so the features do not depend on the thread count.

use super::params::{EncoderKind, ValidFeaturesParams};
use super::pool::pool_positions;
use super::whiten::{Whitening, normalize_window, read_window};
use crate::coding::{CodingParams, CodingReport, PreparedDictionary, SparseCoder, active_set};
use crate::error::Result;
use crate::io::labelled::LabelledImages;
use crate::params::Valid;
use nalgebra::DMatrix;
use rayon::prelude::*;
use std::sync::Mutex;

/// The lasso encoder's coder and its settings.
struct LassoPart {
    dict: PreparedDictionary,
    params: Valid<CodingParams>,
}

/// A bank prepared for encoding images of one window size.
pub struct Encoder {
    kind: EncoderKind,
    alpha: f32,
    size: usize,
    channels: usize,
    dim: usize,
    stride: usize,
    atoms: usize,
    normalization_offset: f32,
    /// The GEMM's right operand, dim x `cols`, row-major.
    operand: Vec<f32>,
    cols: usize,
    /// The value each response row starts from (the centring folded in), `cols` values.
    bias: Vec<f32>,
    /// `||d_k||^2` of every atom (triangle).
    atom_sq_norms: Vec<f32>,
    lasso: Option<LassoPart>,
}

/// What an encoding pass did, summed over its batches.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct EncodeStats {
    pub images: usize,
    pub windows: usize,
    /// Floating-point operations of the encoder GEMMs (2 m k n each).
    pub gemm_flops: f64,
    /// Seconds inside the GEMMs, summed over threads.
    pub gemm_thread_seconds: f64,
    /// Seconds of the whole pass (wall clock).
    pub seconds: f64,
    /// Lasso only: the coder's diagnostics, worst case over batches.
    pub lasso_max_relative_gap: f64,
    pub lasso_converged_fraction: f64,
    pub lasso_nonzero_fraction: f64,
}

/// Per-thread scratch space: windows, responses and (lasso) codes of one batch.
#[derive(Default)]
struct Scratch {
    windows: Vec<f32>,
    responses: Vec<f32>,
    distances: Vec<f32>,
}

impl Encoder {
    /// Prepares `bank` (dim x K, column-major: atom k is column k, in (channel, row,
    /// column) order) for windows of the params' size on images with `channels` channels.
    /// `space` maps a normalised window into the bank's space: the ZCA transform for
    /// learned banks, [`Whitening::identity`] for pixel-space banks.
    pub fn new(
        bank: &DMatrix<f32>,
        space: &Whitening,
        channels: usize,
        params: &ValidFeaturesParams,
    ) -> Self {
        let dim = bank.nrows();
        let atoms = bank.ncols();
        assert_eq!(dim, space.dim, "bank and whitening differ in window length");
        assert_eq!(dim, channels * params.patch_size * params.patch_size);
        let w = &space.matrix; // dim x dim, symmetric
        // (W D) row-major: entry (i, k) = sum_j W[i][j] D[j][k]; D column-major is
        // K x dim row-major, so this is W (dim x dim) times D^T-view.
        let mut wd = vec![0f32; dim * atoms];
        crate::linalg::gemm(
            crate::linalg::Backend::MatrixMultiply,
            (dim, dim, atoms),
            1.0,
            crate::linalg::View::rows(w, dim),
            crate::linalg::View::transposed(bank.as_slice(), dim),
            0.0,
            crate::linalg::ViewMut::rows(&mut wd, atoms),
        );
        let kind = params.encoder;
        let (operand, cols) = match kind {
            EncoderKind::SoftThreshold => (wd, atoms),
            EncoderKind::Triangle => {
                let cols = atoms + dim;
                let mut op = vec![0f32; dim * cols];
                for i in 0..dim {
                    op[i * cols..i * cols + atoms].copy_from_slice(&wd[i * atoms..(i + 1) * atoms]);
                    op[i * cols + atoms..(i + 1) * cols]
                        .copy_from_slice(&w[i * dim..(i + 1) * dim]);
                }
                (op, cols)
            }
            EncoderKind::Lasso => (w.clone(), dim),
        };
        // bias = -m * operand, in float64 so the centring costs no digits.
        let bias: Vec<f32> = (0..cols)
            .map(|c| {
                -(0..dim)
                    .map(|i| space.mean[i] as f64 * operand[i * cols + c] as f64)
                    .sum::<f64>() as f32
            })
            .collect();
        let atom_sq_norms = bank
            .column_iter()
            .map(|c| c.iter().map(|&v| v * v).sum())
            .collect();
        let lasso = (kind == EncoderKind::Lasso).then(|| LassoPart {
            dict: PreparedDictionary::new(bank.clone()),
            params: CodingParams {
                tol: params.lasso_tol,
                max_iter: 1000,
                ..CodingParams::new(params.lasso_lambda)
            }
            .check()
            // lasso_lambda > 0 and lasso_tol in (0, 1) were checked with the run's params.
            .expect("the lasso settings were checked by FeaturesParams::check"),
        });
        Self {
            kind,
            alpha: params.alpha,
            size: params.patch_size,
            channels,
            dim,
            stride: params.stride,
            atoms,
            normalization_offset: params.normalization_offset,
            operand,
            cols,
            bias,
            atom_sq_norms,
            lasso,
        }
    }

    /// Pooled features per image: 4 quadrants x (K or 2K).
    pub fn feature_len(&self) -> usize {
        4 * self.per_quadrant()
    }

    fn per_quadrant(&self) -> usize {
        self.kind.features_per_atom() * self.atoms
    }

    pub fn atoms(&self) -> usize {
        self.atoms
    }

    /// Window positions per side of an image side `side`.
    pub fn positions(&self, side: usize) -> usize {
        (side - self.size) / self.stride + 1
    }

    /// GEMM floating-point operations to encode one `side` x `side` image.
    pub fn gemm_flops_per_image(&self, side: usize) -> f64 {
        let n = self.positions(side);
        2.0 * (n * n) as f64 * self.dim as f64 * self.cols as f64
    }

    /// Encodes `images[indices[i]]` into row i of `out` (indices.len() x feature_len,
    /// row-major), `batch` images per GEMM, batches in parallel. `progress` is called with
    /// the number of images finished so far (from any thread).
    pub fn encode_into(
        &self,
        images: &LabelledImages,
        indices: &[usize],
        batch: usize,
        out: &mut [f32],
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<EncodeStats> {
        assert_eq!(images.height, images.width, "square images");
        assert_eq!(images.channels, self.channels);
        let f = self.feature_len();
        assert_eq!(out.len(), indices.len() * f);
        let started = std::time::Instant::now();
        let done = std::sync::atomic::AtomicUsize::new(0);
        let totals = Mutex::new(EncodeStats::default());
        let failures = Mutex::new(None);
        out.par_chunks_mut(batch * f)
            .zip(indices.par_chunks(batch))
            .for_each_init(Scratch::default, |scratch, (dst, idx)| {
                match self.encode_batch(images, idx, dst, scratch) {
                    Ok(stats) => {
                        let mut t = totals.lock().unwrap();
                        t.gemm_flops += stats.gemm_flops;
                        t.gemm_thread_seconds += stats.gemm_thread_seconds;
                        t.windows += stats.windows;
                        t.lasso_max_relative_gap =
                            t.lasso_max_relative_gap.max(stats.lasso_max_relative_gap);
                        t.lasso_converged_fraction +=
                            stats.lasso_converged_fraction * stats.windows as f64;
                        t.lasso_nonzero_fraction +=
                            stats.lasso_nonzero_fraction * stats.windows as f64;
                    }
                    Err(e) => {
                        failures.lock().unwrap().get_or_insert(e);
                    }
                }
                let now = done.fetch_add(idx.len(), std::sync::atomic::Ordering::Relaxed);
                progress(now + idx.len());
            });
        if let Some(e) = failures.into_inner().unwrap() {
            return Err(e);
        }
        let mut stats = totals.into_inner().unwrap();
        stats.images = indices.len();
        if stats.windows > 0 {
            stats.lasso_converged_fraction /= stats.windows as f64;
            stats.lasso_nonzero_fraction /= stats.windows as f64;
        }
        stats.seconds = started.elapsed().as_secs_f64();
        Ok(stats)
    }

    /// One batch: windows, one GEMM, encoder and pooling per image.
    fn encode_batch(
        &self,
        images: &LabelledImages,
        indices: &[usize],
        out: &mut [f32],
        scratch: &mut Scratch,
    ) -> Result<EncodeStats> {
        let side = images.width;
        let n = self.positions(side);
        let per_image = n * n;
        let rows = per_image * indices.len();
        let (dim, cols) = (self.dim, self.cols);
        scratch.windows.resize(rows * dim, 0.0);
        for (b, &i) in indices.iter().enumerate() {
            let image = images.image(i);
            for py in 0..n {
                for px in 0..n {
                    let r = b * per_image + py * n + px;
                    let dst = &mut scratch.windows[r * dim..(r + 1) * dim];
                    let corner = (py * self.stride, px * self.stride);
                    read_window(image, side, self.channels, self.size, corner, dst);
                    normalize_window(dst, self.normalization_offset);
                }
            }
        }
        scratch.responses.resize(rows * cols, 0.0);
        for r in scratch.responses.chunks_exact_mut(cols) {
            r.copy_from_slice(&self.bias);
        }
        let gemm_started = std::time::Instant::now();
        crate::linalg::gemm(
            crate::linalg::Backend::MatrixMultiply,
            (rows, dim, cols),
            1.0,
            crate::linalg::View::rows(&scratch.windows, dim),
            crate::linalg::View::rows(&self.operand, cols),
            1.0,
            crate::linalg::ViewMut::rows(&mut scratch.responses, cols),
        );
        let mut stats = EncodeStats {
            windows: rows,
            gemm_flops: 2.0 * rows as f64 * dim as f64 * cols as f64,
            gemm_thread_seconds: gemm_started.elapsed().as_secs_f64(),
            ..Default::default()
        };
        let f = self.feature_len();
        if let Some(lasso) = &self.lasso {
            // The responses are the whitened windows: dim x rows column-major.
            let x = DMatrix::from_column_slice(dim, rows, &scratch.responses);
            let mut codes = DMatrix::<f32>::zeros(self.atoms, rows);
            let coder = active_set::ActiveSetCd::default();
            let report: CodingReport = coder.encode(&lasso.dict, &x, &mut codes, &lasso.params)?;
            stats.lasso_max_relative_gap = report.max_relative_gap;
            stats.lasso_converged_fraction = report.converged_fraction;
            stats.lasso_nonzero_fraction = report.nonzero_fraction;
            let k = self.atoms;
            for (b, dst) in out.chunks_exact_mut(f).enumerate() {
                let block = &codes.as_slice()[b * per_image * k..(b + 1) * per_image * k];
                dst.fill(0.0);
                pool_positions(n, 2 * k, dst, |p, acc| {
                    split_signs(&block[p * k..(p + 1) * k], 0.0, acc)
                });
            }
            return Ok(stats);
        }
        for (b, dst) in out.chunks_exact_mut(f).enumerate() {
            let block = &scratch.responses[b * per_image * cols..(b + 1) * per_image * cols];
            self.pool_image(block, n, dst, &mut scratch.distances);
        }
        Ok(stats)
    }

    /// The encoder and the pooling for one image's responses (positions x cols).
    fn pool_image(&self, responses: &[f32], n: usize, out: &mut [f32], distances: &mut Vec<f32>) {
        let (k, cols) = (self.atoms, self.cols);
        out.fill(0.0);
        match self.kind {
            EncoderKind::SoftThreshold => {
                pool_positions(n, 2 * k, out, |p, acc| {
                    split_signs(&responses[p * cols..p * cols + k], self.alpha, acc)
                });
            }
            EncoderKind::Triangle => {
                distances.resize(k, 0.0);
                pool_positions(n, k, out, |p, acc| {
                    let row = &responses[p * cols..(p + 1) * cols];
                    let (dots, white) = row.split_at(k);
                    let xx: f32 = white.iter().map(|v| v * v).sum();
                    let mut total = 0f32;
                    for ((d, &dot), &cc) in distances.iter_mut().zip(dots).zip(&self.atom_sq_norms)
                    {
                        *d = (xx + cc - 2.0 * dot).max(0.0).sqrt();
                        total += *d;
                    }
                    let mean = total / k as f32;
                    for (a, &d) in acc.iter_mut().zip(distances.iter()) {
                        *a += (mean - d).max(0.0);
                    }
                });
            }
            EncoderKind::Lasso => unreachable!("the lasso encoder pools its codes"),
        }
    }
}

/// Adds `max(0, z - alpha)` to the first half of `acc` and `max(0, -z - alpha)` to the
/// second, for every response z.
#[inline]
fn split_signs(z: &[f32], alpha: f32, acc: &mut [f32]) {
    let (pos, neg) = acc.split_at_mut(z.len());
    for ((p, q), &v) in pos.iter_mut().zip(neg.iter_mut()).zip(z) {
        *p += (v - alpha).max(0.0);
        *q += (-v - alpha).max(0.0);
    }
}
