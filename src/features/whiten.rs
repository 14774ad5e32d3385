//! Windows of colour images and their preprocessing, as in Coates, Lee and Ng (AISTATS
//! 2011): each window is read in (channel, row, column) order in 8-bit grey levels (the
//! layout of a PyTorch (filters, channels, k, k) bank, so a CNN's first layer reads the same
//! way), normalised for brightness and contrast (its mean removed, then divided by
//! `sqrt(variance + offset)`), and ZCA-whitened with a matrix estimated once from random
//! training windows.
//!
//! The offset keeps a nearly flat window from being blown up into noise; the paper's code
//! uses 10 (grey levels squared), against a typical window variance in the hundreds.

use crate::error::{Error, Result};
use crate::io::labelled::LabelledImages;
use crate::linalg::{Backend, View, ViewMut, gemm};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::Serialize;

/// Copies the `size` x `size` window whose top-left corner is (`y0`, `x0`) from an NHWC
/// image of width `width` and `channels` channels into `dst`, channel-major.
pub fn read_window(
    image: &[u8],
    width: usize,
    channels: usize,
    size: usize,
    (y0, x0): (usize, usize),
    dst: &mut [f32],
) {
    let plane = size * size;
    for y in 0..size {
        let row = &image[((y0 + y) * width + x0) * channels..][..size * channels];
        for x in 0..size {
            for c in 0..channels {
                dst[c * plane + y * size + x] = row[x * channels + c] as f32;
            }
        }
    }
}

/// Brightness and contrast normalisation in place: `(x - mean(x)) / sqrt(var(x) + offset)`,
/// with the variance over all values of the window with n - 1 in the denominator (Matlab's
/// `var`, which the paper's code uses). Sums in float64: the values are grey levels up to 255
/// and a float32 sum of squares would lose the variance of a faint window.
pub fn normalize_window(x: &mut [f32], offset: f32) {
    let n = x.len();
    let mean = x.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
    let ss: f64 = x.iter().map(|&v| (v as f64 - mean).powi(2)).sum();
    let var = if n > 1 { ss / (n - 1) as f64 } else { 0.0 };
    let denom = (var + offset as f64).sqrt();
    // A flat window with offset 0 has nothing to normalise: leave it at zero, not NaN.
    let scale = if denom > 0.0 { 1.0 / denom } else { 0.0 };
    for v in x.iter_mut() {
        *v = ((*v as f64 - mean) * scale) as f32;
    }
}

/// `count` windows of `size` x `size` drawn uniformly (a uniform image, then a uniform
/// position in it), as rows of a (count, channels * size * size) row-major matrix of raw
/// grey levels. The positions come from `rng` in order, so the same seed gives the same
/// windows whatever the thread count.
pub fn sample_windows(
    images: &LabelledImages,
    count: usize,
    size: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<f32> {
    let (h, w, c) = (images.height, images.width, images.channels);
    let dim = c * size * size;
    let picks: Vec<(usize, usize, usize)> = (0..count)
        .map(|_| {
            (
                rng.random_range(0..images.len()),
                rng.random_range(0..=h - size),
                rng.random_range(0..=w - size),
            )
        })
        .collect();
    let mut rows = vec![0f32; count * dim];
    rows.par_chunks_mut(dim)
        .zip(picks.par_iter())
        .for_each(|(dst, &(i, y, x))| read_window(images.image(i), w, c, size, (y, x), dst));
    rows
}

/// Normalises every row of a row-major matrix with `dim` columns (see [`normalize_window`]).
pub fn normalize_rows(rows: &mut [f32], dim: usize, offset: f32) {
    rows.par_chunks_mut(dim)
        .for_each(|r| normalize_window(r, offset));
}

/// A ZCA whitening transform `x -> (x - mean) W` with `W = V (L + eps)^-1/2 V^T` from the
/// eigendecomposition `V L V^T` of the windows' covariance.
#[derive(Debug, Clone, Serialize)]
pub struct Whitening {
    /// Window length (channels x size x size).
    pub dim: usize,
    /// Mean window, `dim` values.
    pub mean: Vec<f32>,
    /// `W`, `dim` x `dim`, symmetric (row-major and column-major are the same bytes).
    pub matrix: Vec<f32>,
    /// Eigenvalues of the covariance, largest first.
    pub eigenvalues: Vec<f64>,
    pub epsilon: f64,
}

/// Rows per block of the covariance sum: each block is one float32 GEMM whose result is
/// added in float64, so rounding grows with the block, not with the number of windows.
const COVARIANCE_BLOCK: usize = 4096;

impl Whitening {
    /// Estimates the transform from the rows of `rows` (row-major, `dim` columns), with
    /// the covariance's denominator n - 1 as in the paper's code (Matlab's `cov`).
    pub fn estimate(rows: &[f32], dim: usize, epsilon: f64) -> Result<Self> {
        let n = rows.len() / dim;
        if n < 2 {
            return Err(Error::param(
                "patches",
                n,
                "whitening needs at least 2 windows",
            ));
        }
        let mut mean64 = vec![0f64; dim];
        for r in rows.chunks_exact(dim) {
            for (m, &v) in mean64.iter_mut().zip(r) {
                *m += v as f64;
            }
        }
        mean64.iter_mut().for_each(|m| *m /= n as f64);
        let mean: Vec<f32> = mean64.iter().map(|&m| m as f32).collect();
        // Blocks run in parallel; their sums are added in block order, so the bits do not
        // depend on the thread count.
        let partials: Vec<Vec<f64>> = rows
            .par_chunks(COVARIANCE_BLOCK * dim)
            .map(|block| {
                let b = block.len() / dim;
                let mut centered = block.to_vec();
                for r in centered.chunks_exact_mut(dim) {
                    for (v, &m) in r.iter_mut().zip(&mean) {
                        *v -= m;
                    }
                }
                let mut cov = vec![0f32; dim * dim];
                gemm(
                    Backend::MatrixMultiply,
                    (dim, b, dim),
                    1.0,
                    View::transposed(&centered, dim),
                    View::rows(&centered, dim),
                    0.0,
                    ViewMut::rows(&mut cov, dim),
                );
                cov.iter().map(|&v| v as f64).collect()
            })
            .collect();
        let mut cov = vec![0f64; dim * dim];
        for p in &partials {
            for (c, v) in cov.iter_mut().zip(p) {
                *c += v;
            }
        }
        let cov = nalgebra::DMatrix::from_fn(dim, dim, |i, j| {
            // Symmetrise: the float32 blocks are symmetric up to rounding.
            0.5 * (cov[i * dim + j] + cov[j * dim + i]) / (n - 1) as f64
        });
        let eig = nalgebra::SymmetricEigen::new(cov);
        let mut order: Vec<usize> = (0..dim).collect();
        order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
        let eigenvalues: Vec<f64> = order.iter().map(|&i| eig.eigenvalues[i].max(0.0)).collect();
        if !eigenvalues.iter().all(|v| v.is_finite()) {
            return Err(Error::failed(
                "estimating the ZCA whitening",
                "the covariance of the windows is not finite",
            ));
        }
        let mut matrix = vec![0f32; dim * dim];
        for i in 0..dim {
            for j in 0..dim {
                let mut s = 0f64;
                for (&e, &l) in order.iter().zip(&eigenvalues) {
                    s += eig.eigenvectors[(i, e)] * eig.eigenvectors[(j, e)] / (l + epsilon).sqrt();
                }
                matrix[i * dim + j] = s as f32;
            }
        }
        Ok(Self {
            dim,
            mean,
            matrix,
            eigenvalues,
            epsilon,
        })
    }

    /// The identity transform (no whitening, no centring): for banks that apply to
    /// normalised windows directly.
    pub fn identity(dim: usize) -> Self {
        let mut matrix = vec![0f32; dim * dim];
        for i in 0..dim {
            matrix[i * dim + i] = 1.0;
        }
        Self {
            dim,
            mean: vec![0.0; dim],
            matrix,
            eigenvalues: Vec::new(),
            epsilon: 0.0,
        }
    }

    /// Whitens the rows of a row-major matrix (`dim` columns) into a new matrix.
    pub fn apply(&self, rows: &[f32]) -> Vec<f32> {
        let dim = self.dim;
        let mut out = vec![0f32; rows.len()];
        out.par_chunks_mut(COVARIANCE_BLOCK * dim)
            .zip(rows.par_chunks(COVARIANCE_BLOCK * dim))
            .for_each(|(dst, src)| {
                let b = src.len() / dim;
                let mut centered = src.to_vec();
                for r in centered.chunks_exact_mut(dim) {
                    for (v, &m) in r.iter_mut().zip(&self.mean) {
                        *v -= m;
                    }
                }
                gemm(
                    Backend::MatrixMultiply,
                    (b, dim, dim),
                    1.0,
                    View::rows(&centered, dim),
                    View::rows(&self.matrix, dim),
                    0.0,
                    ViewMut::rows(dst, dim),
                );
            });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_distr::StandardNormal;

    #[test]
    fn normalised_window_has_zero_mean_and_the_offset_variance() {
        let mut x: Vec<f32> = (0..108).map(|i| (i * 37 % 251) as f32).collect();
        let raw = x.clone();
        normalize_window(&mut x, 10.0);
        let mean: f64 = x.iter().map(|&v| v as f64).sum::<f64>() / 108.0;
        assert!(mean.abs() < 1e-6, "{mean}");
        let m0 = raw.iter().map(|&v| v as f64).sum::<f64>() / 108.0;
        let var0 = raw.iter().map(|&v| (v as f64 - m0).powi(2)).sum::<f64>() / 107.0;
        let var = x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / 107.0;
        // var(x / s) = var0 / (var0 + 10), computed in float64, stored in float32.
        assert!((var - var0 / (var0 + 10.0)).abs() < 1e-6, "{var}");
        let mut flat = vec![7.0f32; 12];
        normalize_window(&mut flat, 0.0);
        assert!(flat.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn whitened_windows_have_near_identity_covariance() {
        // Correlated Gaussian data: x = z A with a fixed mixing matrix.
        let (n, dim) = (20000, 6);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let a: Vec<f32> = (0..dim * dim)
            .map(|i| if i % 7 == 0 { 2.0 } else { 0.3 })
            .collect();
        let mut rows = vec![0f32; n * dim];
        for r in rows.chunks_exact_mut(dim) {
            let z: Vec<f32> = (0..dim).map(|_| rng.sample(StandardNormal)).collect();
            for j in 0..dim {
                r[j] = 5.0 + (0..dim).map(|i| z[i] * a[i * dim + j]).sum::<f32>();
            }
        }
        let w = Whitening::estimate(&rows, dim, 1e-9).unwrap();
        let white = w.apply(&rows);
        for i in 0..dim {
            for j in 0..dim {
                let c: f64 = white
                    .chunks_exact(dim)
                    .map(|r| r[i] as f64 * r[j] as f64)
                    .sum::<f64>()
                    / (n - 1) as f64;
                let want = if i == j { 1.0 } else { 0.0 };
                // Exact up to float32 rounding of the data and the transform (about 1e-5).
                assert!((c - want).abs() < 1e-3, "({i},{j}) = {c}");
            }
        }
    }
}
