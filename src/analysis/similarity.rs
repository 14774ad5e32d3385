//! Similarity of two filter banks: normalised cross-correlation maximised over shifts within a
//! window and over sign, for every pair of filters, and phase-randomised surrogate banks for
//! the null baseline.
//!
//! Each filter is made zero-mean and unit-norm (over all its channels) once; the similarity of
//! a and b is then max over shifts s and signs of |sum_p a(p) b(p - s)|, with b zero outside
//! its patch, so a shift can only lose energy and the value stays in [0, 1]. For every shift
//! the whole (A x B) table is one GEMM (`matrixmultiply`), so the cost is
//! (2 w + 1)^2 * |A| * |B| * pixels multiply-adds at GEMM speed.
//!
//! Shift convention: `shift_x` (columns, rightwards) and `shift_y` (rows, downwards) is how far
//! b must move to line up with a; `sign` is -1 when b lines up with a sign-flipped.

use super::planes::{self, ColourMode};
use crate::linalg::fft::Fft2d;
use crate::linalg::normalise::remove_mean;
use crate::linalg::resample::resample_bilinear;
use crate::linalg::{Backend, View, ViewMut, gemm};
use crate::viz::montage::Bank;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use rustfft::FftDirection;
use rustfft::num_complex::Complex;

/// Filters ready for comparison: zero-mean, unit-norm, row-major (count, channels, k, k).
#[derive(Debug, Clone)]
pub struct Normalised {
    pub count: usize,
    pub channels: usize,
    pub size: usize,
    pub data: Vec<f32>,
}

impl Normalised {
    fn dim(&self) -> usize {
        self.channels * self.size * self.size
    }

    /// A view for montages.
    pub fn bank(&self) -> Bank<'_> {
        Bank::new(&self.data[..], self.count, self.channels, self.size)
    }

    /// Makes each filter of `data` (count x dim) zero-mean and unit-norm in place; an all-zero
    /// (or constant) filter stays all zero, and so matches nothing.
    fn from_raw(count: usize, channels: usize, size: usize, mut data: Vec<f64>) -> Self {
        let dim = channels * size * size;
        for f in data.chunks_mut(dim) {
            let norm = remove_mean(f);
            // A filter with (almost) no energy left is zeroed rather than blown up.
            let scale = if norm > 1e-12 { 1.0 / norm } else { 0.0 };
            f.iter_mut().for_each(|v| *v *= scale);
        }
        Self {
            count,
            channels,
            size,
            data: data.into_iter().map(|v| v as f32).collect(),
        }
    }
}

/// How two banks were brought to a common form, for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Common {
    pub size: usize,
    pub channels: usize,
    /// True when the channel counts differed and both were projected to luminance.
    pub luminance: bool,
}

/// Brings two banks to a common size (the larger; the smaller bank is resampled by
/// [`resample_bilinear`]) and a common channel count (kept when equal, otherwise
/// both are projected to luminance), then normalises every filter.
pub fn prepare_pair(a: &Bank, b: &Bank) -> (Normalised, Normalised, Common) {
    let size = a.size.max(b.size);
    let luminance = a.channels != b.channels;
    let channels = if luminance { 1 } else { a.channels };
    let convert = |bank: &Bank| {
        let mode = if luminance {
            ColourMode::Luminance
        } else {
            ColourMode::PerChannel
        };
        let mut data = Vec::with_capacity(bank.count * channels * size * size);
        for p in planes::planes(bank, mode) {
            data.extend(resample_bilinear(&p.values, bank.size, size));
        }
        Normalised::from_raw(bank.count, channels, size, data)
    };
    (
        convert(a),
        convert(b),
        Common {
            size,
            channels,
            luminance,
        },
    )
}

/// The full similarity table: for pair (i, j) at index i * |B| + j, the best |correlation|,
/// the shift that gave it and its sign.
#[derive(Debug, Clone, PartialEq)]
pub struct SimilarityMatrix {
    pub rows: usize,
    pub cols: usize,
    pub similarity: Vec<f32>,
    pub shift_x: Vec<i32>,
    pub shift_y: Vec<i32>,
    pub sign: Vec<i8>,
}

impl SimilarityMatrix {
    pub fn at(&self, i: usize, j: usize) -> f32 {
        self.similarity[i * self.cols + j]
    }
}

/// Shifts within +-`max_shift` ordered by distance from zero (then row, then column), so a
/// tie prefers the smallest move.
fn shift_order(max_shift: i32) -> Vec<(i32, i32)> {
    let mut shifts: Vec<(i32, i32)> = (-max_shift..=max_shift)
        .flat_map(|dy| (-max_shift..=max_shift).map(move |dx| (dx, dy)))
        .collect();
    shifts.sort_by_key(|&(dx, dy)| (dx * dx + dy * dy, dy, dx));
    shifts
}

/// Similarity of every filter of `a` with every filter of `b` (same size and channels),
/// over shifts within +-`max_shift` pixels on each axis and over sign.
pub fn similarity_matrix(a: &Normalised, b: &Normalised, max_shift: usize) -> SimilarityMatrix {
    assert_eq!(a.dim(), b.dim(), "banks must share size and channels");
    let (rows, cols, dim) = (a.count, b.count, a.dim());
    let shifts = shift_order(max_shift.min(a.size.saturating_sub(1)) as i32);
    let empty = || SimilarityMatrix {
        rows,
        cols,
        similarity: vec![0.0; rows * cols],
        shift_x: vec![0; rows * cols],
        shift_y: vec![0; rows * cols],
        sign: vec![1; rows * cols],
    };
    let merge = |mut best: SimilarityMatrix, other: SimilarityMatrix| {
        for k in 0..best.similarity.len() {
            // Strictly greater: on a tie the earlier (smaller) shift stays.
            if other.similarity[k] > best.similarity[k] {
                best.similarity[k] = other.similarity[k];
                best.shift_x[k] = other.shift_x[k];
                best.shift_y[k] = other.shift_y[k];
                best.sign[k] = other.sign[k];
            }
        }
        best
    };
    shifts
        .par_iter()
        .fold(
            || (empty(), vec![0f32; cols * dim], vec![0f32; rows * cols]),
            |(mut best, mut shifted, mut product), &(dx, dy)| {
                shift_bank(b, dx, dy, &mut shifted);
                // The whole table for this shift: A (rows x dim) times shifted B^T.
                gemm(
                    Backend::MatrixMultiply,
                    (rows, dim, cols),
                    1.0,
                    View::rows(&a.data, dim),
                    View::transposed(&shifted, dim),
                    0.0,
                    ViewMut::rows(&mut product, cols),
                );
                for (k, &v) in product.iter().enumerate() {
                    // Rounding can carry a perfect match a few ulps past 1.
                    let magnitude = v.abs().min(1.0);
                    if magnitude > best.similarity[k] {
                        best.similarity[k] = magnitude;
                        best.shift_x[k] = dx;
                        best.shift_y[k] = dy;
                        best.sign[k] = if v < 0.0 { -1 } else { 1 };
                    }
                }
                (best, shifted, product)
            },
        )
        .map(|(best, _, _)| best)
        .reduce(empty, merge)
}

/// Writes bank `b` moved by `dx` columns right and `dy` rows down, zero-filled, into `out`.
fn shift_bank(b: &Normalised, dx: i32, dy: i32, out: &mut [f32]) {
    let k = b.size as i32;
    out.fill(0.0);
    let plane = (k * k) as usize;
    for (src, dst) in b.data.chunks(plane).zip(out.chunks_mut(plane)) {
        for r in 0.max(dy)..k.min(k + dy) {
            let sr = r - dy;
            let (c0, c1) = (0.max(dx), k.min(k + dx));
            let d = (r * k) as usize;
            let s = (sr * k) as usize;
            dst[d + c0 as usize..d + c1 as usize]
                .copy_from_slice(&src[s + (c0 - dx) as usize..s + (c1 - dx) as usize]);
        }
    }
}

/// Filter `index` of `bank` moved by (`dx` columns right, `dy` rows down) and multiplied by
/// `sign`: how it lines up with its match, for pictures.
pub fn aligned(bank: &Normalised, index: usize, dx: i32, dy: i32, sign: i8) -> Vec<f32> {
    let dim = bank.dim();
    let one = Normalised {
        count: 1,
        channels: bank.channels,
        size: bank.size,
        data: bank.data[index * dim..(index + 1) * dim].to_vec(),
    };
    let mut out = vec![0f32; dim];
    shift_bank(&one, dx, dy, &mut out);
    out.iter_mut().for_each(|v| *v *= sign as f32);
    out
}

/// A surrogate of `bank` with each filter's amplitude spectrum (per channel) kept and its
/// phases replaced by those of the FFT of Gaussian white noise, one noise field per filter
/// shared by its channels. White noise's FFT has Hermitian-symmetric phases, so the surrogate
/// is real; the DC term keeps its phase. The result is normalised again (it is already
/// zero-mean up to rounding; the norm is kept by Parseval).
pub fn phase_randomised(bank: &Normalised, rng: &mut ChaCha8Rng) -> Normalised {
    let k = bank.size;
    let n = k * k;
    let fft = Fft2d::<f64>::new(k, k);
    let normal = rand_distr::StandardNormal;
    let mut noise = vec![Complex::default(); n];
    let mut plane = vec![Complex::default(); n];
    let mut out = Vec::with_capacity(bank.data.len());
    for f in bank.data.chunks(bank.dim()) {
        for z in noise.iter_mut() {
            *z = Complex::new(rng.sample::<f64, _>(normal), 0.0);
        }
        fft.transform(&mut noise, FftDirection::Forward);
        for ch in f.chunks(n) {
            for (p, &v) in plane.iter_mut().zip(ch) {
                *p = Complex::new(v as f64, 0.0);
            }
            fft.transform(&mut plane, FftDirection::Forward);
            for (idx, (p, z)) in plane.iter_mut().zip(&noise).enumerate() {
                let mag = z.norm();
                if idx > 0 && mag > 0.0 {
                    *p = Complex::new(p.norm(), 0.0) * (z / mag);
                }
            }
            fft.transform(&mut plane, FftDirection::Inverse);
            out.extend(plane.iter().map(|z| z.re / n as f64));
        }
    }
    Normalised::from_raw(bank.count, bank.channels, bank.size, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn shift_moves_right_and_down() {
        let bank = Normalised {
            count: 1,
            channels: 1,
            size: 3,
            data: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0],
        };
        let mut out = vec![0.0; 9];
        shift_bank(&bank, 1, 1, &mut out);
        assert_eq!(out, vec![0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 0.0, 4.0, 5.0]);
        shift_bank(&bank, -1, 0, &mut out);
        assert_eq!(out, vec![2.0, 3.0, 0.0, 5.0, 6.0, 0.0, 8.0, 9.0, 0.0]);
    }

    /// 2-D amplitude spectrum of a k x k plane by the direct DFT (independent of rustfft).
    fn dft_amplitude(v: &[f32], k: usize) -> Vec<f64> {
        let mut out = Vec::with_capacity(k * k);
        for fv in 0..k {
            for fu in 0..k {
                let mut z = Complex::new(0.0, 0.0);
                for r in 0..k {
                    for c in 0..k {
                        let angle = -std::f64::consts::TAU * ((fv * r + fu * c) as f64) / k as f64;
                        z += Complex::from_polar(v[r * k + c] as f64, angle);
                    }
                }
                out.push(z.norm());
            }
        }
        out
    }

    #[test]
    fn phase_randomisation_keeps_the_amplitude_spectrum() {
        let data: Vec<f64> = (0..2 * 64)
            .map(|i| ((i * 31 % 17) as f64 - 8.0) / 8.0)
            .collect();
        let bank = Normalised::from_raw(2, 1, 8, data);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let sur = phase_randomised(&bank, &mut rng);
        for i in 0..2 {
            let (a, b) = (
                &bank.data[i * 64..(i + 1) * 64],
                &sur.data[i * 64..(i + 1) * 64],
            );
            // Every frequency bin keeps its amplitude (float32 storage: 1e-5), while the
            // values themselves change.
            for (x, y) in dft_amplitude(a, 8).iter().zip(dft_amplitude(b, 8)) {
                assert!((x - y).abs() < 1e-5, "{x} vs {y}");
            }
            let moved: f32 = a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum();
            assert!(moved > 0.5, "{moved}");
        }
    }
}
