//! Whitening: flattening the 1/f amplitude spectrum of natural images so that sparse coding
//! is not dominated by the low frequencies.
//!
//! - [`of_filter`]: Olshausen and Field's filter R(f) = f exp(-(f/f0)^4) applied to a whole
//!   image in the frequency domain. The ramp `f` undoes the 1/f fall-off of natural images;
//!   the quartic exponential rolls off before the Nyquist frequency, where pixel noise and
//!   aliasing live. f is the radial frequency in cycles/pixel, so the default f0 = 0.4 is 0.8
//!   of Nyquist (200 cycles/picture on a 512-pixel image, as in the original sparsenet code).
//!   The image is extended by mirror reflection before the FFT so that the transform's
//!   periodic wrap-around does not create false edges at the borders. Rows and columns are
//!   transformed in parallel; each row's transform is the same computation whatever thread
//!   runs it, so the result does not depend on the thread count.
//! - [`Zca`]: ZCA ("Mahalanobis") whitening of patches, W = U (L + eps)^-1/2 U^T from the
//!   patch covariance U L U^T, with eps a fraction of the mean eigenvalue so that directions
//!   of near-zero variance (such as the removed DC component) are not blown up.

use crate::io::images::GrayImage;
use crate::linalg::fft::{Fft2d, bin_frequency};
use crate::linalg::{Backend, View, ViewMut, gemm};
use nalgebra::DMatrix;
use rayon::prelude::*;
use rustfft::FftDirection;
use rustfft::num_complex::Complex32;

/// Mirror padding on each side before the FFT. The filter's kernel falls off as 1/r^3, so
/// at 32 pixels its weight is ~1e-5 of the centre: the wrap-around seam is invisible.
pub const PAD: usize = 32;

/// The smallest length >= n whose only prime factors are 2, 3 and 5 (fast FFT sizes).
pub fn fft_len(n: usize) -> usize {
    let mut m = n.max(1);
    loop {
        let mut r = m;
        for p in [2, 3, 5] {
            while r.is_multiple_of(p) {
                r /= p;
            }
        }
        if r == 1 {
            return m;
        }
        m += 1;
    }
}

/// Index `i` (possibly outside 0..n) reflected symmetrically into 0..n, edge pixel repeated
/// (NumPy's `np.pad(mode="symmetric")`).
fn mirror(i: isize, n: usize) -> usize {
    let n = n as isize;
    let period = 2 * n;
    let m = i.rem_euclid(period);
    (if m < n { m } else { period - 1 - m }) as usize
}

/// The Olshausen-Field whitening filter's gain at radial frequency `f` (cycles/pixel).
pub fn of_gain(f: f32, f0: f32) -> f32 {
    f * (-(f / f0).powi(4)).exp()
}

/// Applies R(f) = f exp(-(f/f0)^4) to `img` (mirror-padded by [`PAD`]) and returns the
/// filtered image, same size, zero mean (R(0) = 0), not yet rescaled.
pub fn of_filter(img: &GrayImage, f0: f32) -> GrayImage {
    let (w, h) = (img.width, img.height);
    let (pw, ph) = (fft_len(w + 2 * PAD), fft_len(h + 2 * PAD));
    let fft = Fft2d::<f32>::new(pw, ph);
    let mut grid = vec![Complex32::new(0.0, 0.0); ph * pw];
    grid.par_chunks_mut(pw).enumerate().for_each(|(y, row)| {
        let src = &img.data[mirror(y as isize - PAD as isize, h) * w..][..w];
        for (x, v) in row.iter_mut().enumerate() {
            *v = Complex32::new(src[mirror(x as isize - PAD as isize, w)], 0.0);
        }
    });
    fft.par_transform_rows(&mut grid, 0..ph, FftDirection::Forward);
    // Each column is transformed, filtered and transformed back in one visit.
    fft.par_for_each_column(&mut grid, |kx, column, scratch| {
        fft.transform_column(column, FftDirection::Forward, scratch);
        // The bin frequencies in float32, as k / n is rounded once either way.
        let fx = bin_frequency(kx, pw) as f32;
        for (ky, v) in column.iter_mut().enumerate() {
            let fy = bin_frequency(ky, ph) as f32;
            *v *= of_gain((fx * fx + fy * fy).sqrt(), f0);
        }
        fft.transform_column(column, FftDirection::Inverse, scratch);
    });
    // Only the rows of the original image need the inverse row transform.
    fft.par_transform_rows(&mut grid, PAD..PAD + h, FftDirection::Inverse);
    let scale = 1.0 / (pw * ph) as f32;
    let mut out = vec![0.0f32; w * h];
    out.par_chunks_mut(w)
        .zip(grid[PAD * pw..(PAD + h) * pw].par_chunks(pw))
        .for_each(|(dst, row)| {
            for (d, v) in dst.iter_mut().zip(&row[PAD..PAD + w]) {
                *d = v.re * scale;
            }
        });
    GrayImage {
        width: w,
        height: h,
        data: out,
    }
}

/// Scales `img` to unit variance measured inside `margin` (where patches come from), and
/// returns the standard deviation it divided by. A flat image (std below 1e-12) is left as is.
pub fn scale_to_unit_variance(img: &mut GrayImage, margin: usize) -> f64 {
    let (w, h) = (img.width, img.height);
    let (x0, x1) = (margin.min(w), w.saturating_sub(margin).max(margin.min(w)));
    let (y0, y1) = (margin.min(h), h.saturating_sub(margin).max(margin.min(h)));
    let (mut n, mut sum, mut sum2) = (0usize, 0.0f64, 0.0f64);
    for y in y0..y1 {
        for &v in &img.data[y * w + x0..y * w + x1] {
            let v = v as f64;
            n += 1;
            sum += v;
            sum2 += v * v;
        }
    }
    if n == 0 {
        return 1.0;
    }
    let mean = sum / n as f64;
    let std = (sum2 / n as f64 - mean * mean).max(0.0).sqrt();
    if std < 1e-12 {
        return std;
    }
    let inv = (1.0 / std) as f32;
    img.data.iter_mut().for_each(|v| *v *= inv);
    std
}

/// Accumulates the mean and covariance of patch vectors in blocks (one matrix product per
/// block instead of one outer product per patch).
pub struct CovarianceAccumulator {
    dim: usize,
    count: usize,
    sum: Vec<f64>,
    block: Vec<f64>,
    block_rows: usize,
    gram: DMatrix<f64>,
}

const COV_BLOCK: usize = 1024;

impl CovarianceAccumulator {
    pub fn new(dim: usize) -> Self {
        Self {
            dim,
            count: 0,
            sum: vec![0.0; dim],
            block: Vec::with_capacity(COV_BLOCK * dim),
            block_rows: 0,
            gram: DMatrix::zeros(dim, dim),
        }
    }

    pub fn count(&self) -> usize {
        self.count
    }

    pub fn add(&mut self, patch: &[f32]) {
        debug_assert_eq!(patch.len(), self.dim);
        for (s, &v) in self.sum.iter_mut().zip(patch) {
            *s += v as f64;
        }
        self.block.extend(patch.iter().map(|&v| v as f64));
        self.block_rows += 1;
        self.count += 1;
        if self.block_rows == COV_BLOCK {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.block_rows == 0 {
            return;
        }
        let b = DMatrix::from_row_slice(self.block_rows, self.dim, &self.block);
        self.gram.gemm_tr(1.0, &b, &b, 1.0);
        self.block.clear();
        self.block_rows = 0;
    }

    /// (mean, covariance with the n-1 denominator).
    pub fn finish(mut self) -> (Vec<f64>, DMatrix<f64>) {
        self.flush();
        let n = self.count.max(1) as f64;
        let mean: Vec<f64> = self.sum.iter().map(|s| s / n).collect();
        let denom = (self.count.max(2) - 1) as f64;
        let mut cov = self.gram;
        for j in 0..self.dim {
            for i in 0..self.dim {
                cov[(i, j)] = (cov[(i, j)] - n * mean[i] * mean[j]) / denom;
            }
        }
        (mean, cov)
    }
}

/// A fitted ZCA transform: y = W (x - mean), W symmetric.
#[derive(Debug, Clone)]
pub struct Zca {
    pub dim: usize,
    pub mean: Vec<f32>,
    /// W, dim x dim, row-major (= column-major: it is symmetric).
    pub matrix: Vec<f32>,
    /// Eigenvalues of the patch covariance, descending.
    pub eigenvalues: Vec<f64>,
    /// The absolute epsilon added to every eigenvalue.
    pub epsilon: f64,
}

impl Zca {
    /// Fits W = U (L + eps)^-1/2 U^T with eps = `relative_epsilon` x the mean eigenvalue.
    pub fn fit(mean: &[f64], cov: DMatrix<f64>, relative_epsilon: f64) -> Self {
        let dim = mean.len();
        let eig = nalgebra::SymmetricEigen::new(cov);
        let clamped: Vec<f64> = eig.eigenvalues.iter().map(|&l| l.max(0.0)).collect();
        let mean_eig = clamped.iter().sum::<f64>() / dim.max(1) as f64;
        // A zero-variance input (all patches equal) still gets a finite transform.
        let epsilon = (relative_epsilon * mean_eig).max(1e-12);
        let u = &eig.eigenvectors;
        let mut w = vec![0.0f32; dim * dim];
        for i in 0..dim {
            for j in 0..dim {
                let s: f64 = (0..dim)
                    .map(|k| u[(i, k)] * u[(j, k)] / (clamped[k] + epsilon).sqrt())
                    .sum();
                w[i * dim + j] = s as f32;
            }
        }
        let mut eigenvalues = clamped;
        eigenvalues.sort_by(|a, b| b.total_cmp(a));
        Self {
            dim,
            mean: mean.iter().map(|&m| m as f32).collect(),
            matrix: w,
            eigenvalues,
            epsilon,
        }
    }

    /// Transforms `rows` patches held row-major in `block` in place; `tmp` is reused scratch.
    pub fn apply(&self, block: &mut [f32], rows: usize, tmp: &mut Vec<f32>) {
        let d = self.dim;
        debug_assert_eq!(block.len(), rows * d);
        for patch in block.chunks_exact_mut(d) {
            for (v, m) in patch.iter_mut().zip(&self.mean) {
                *v -= m;
            }
        }
        tmp.clear();
        tmp.resize(rows * d, 0.0);
        let (a, w) = (View::rows(block, d), View::rows(&self.matrix, d));
        let out = ViewMut::rows(tmp, d);
        gemm(Backend::MatrixMultiply, (rows, d, d), 1.0, a, w, 0.0, out);
        block.copy_from_slice(tmp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fft_lengths_and_mirror() {
        assert_eq!(fft_len(577), 600);
        assert_eq!(fft_len(64), 64);
        assert_eq!(
            (-3..6).map(|i| mirror(i, 3)).collect::<Vec<_>>(),
            vec![2, 1, 0, 0, 1, 2, 2, 1, 0]
        );
    }

    #[test]
    fn of_filter_removes_dc_and_passes_a_mid_frequency_sinusoid() {
        // A cosine at f = 0.125 cycles/pixel along x, period 8, on a 64x64 image: the mirror
        // extension continues it seamlessly, so the output is the input times R(0.125).
        let f = 0.125f32;
        let data = (0..64 * 64)
            .map(|i| 3.0 + (2.0 * std::f32::consts::PI * f * ((i % 64) as f32 + 0.5)).cos())
            .collect();
        let img = GrayImage {
            width: 64,
            height: 64,
            data,
        };
        let out = of_filter(&img, 0.4);
        let gain = of_gain(f, 0.4);
        let mut worst = 0.0f32;
        for (o, i) in out.data.iter().zip(&img.data) {
            worst = worst.max((o - gain * (i - 3.0)).abs());
        }
        // Exact up to f32 FFT rounding and the small leakage from the padded size not being
        // a multiple of the period: 2% of the amplitude.
        assert!(worst < 0.02 * gain, "worst {worst}, gain {gain}");
    }

    #[test]
    fn zca_whitens_correlated_data() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let mut acc = CovarianceAccumulator::new(3);
        let mut rows = Vec::new();
        for _ in 0..5000 {
            let a: f32 = rng.random::<f32>() - 0.5;
            let b: f32 = rng.random::<f32>() - 0.5;
            let p = [a, a + 0.1 * b, 2.0 * b];
            acc.add(&p);
            rows.extend_from_slice(&p);
        }
        let (mean, cov) = acc.finish();
        let zca = Zca::fit(&mean, cov, 1e-6);
        let mut tmp = Vec::new();
        zca.apply(&mut rows, 5000, &mut tmp);
        let mut check = CovarianceAccumulator::new(3);
        rows.chunks_exact(3).for_each(|p| check.add(p));
        let (_, c) = check.finish();
        // Rank-2 data: two unit eigenvalues; identity on the data's plane, so the trace
        // is 2 within sampling and f32 error.
        assert!((c.trace() - 2.0).abs() < 1e-2, "{c}");
    }
}
