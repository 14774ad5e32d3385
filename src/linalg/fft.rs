//! The 2-D FFT on a row-major grid of complex values: a row pass, then a column pass, each a
//! 1-D `rustfft` transform per line. Whitening runs the passes in parallel on whole images;
//! the spectra and the phase-randomised surrogates run them on one small plane at a time.
//!
//! The column pass hands each column to the caller's closure as a contiguous buffer
//! ([`Fft2d::for_each_column`]), so a caller can transform it, filter it and transform it
//! back in one visit, or read its amplitudes and never form the whole 2-D spectrum. Every
//! line is transformed by the same plan whatever thread runs it, so the results do not
//! depend on the thread count. Transforms are unnormalised, as `rustfft`'s are.

use rayon::prelude::*;
use rustfft::num_complex::Complex;
use rustfft::num_traits::Zero;
use rustfft::{Fft, FftDirection, FftNum, FftPlanner};
use std::ops::Range;
use std::sync::Arc;

/// The plans of both axes of a `width x height` grid, in both directions.
pub struct Fft2d<T: FftNum> {
    width: usize,
    height: usize,
    /// Forward and inverse along a row (length `width`).
    row: [Arc<dyn Fft<T>>; 2],
    /// Forward and inverse along a column (length `height`).
    column: [Arc<dyn Fft<T>>; 2],
    scratch_len: usize,
}

fn index(direction: FftDirection) -> usize {
    match direction {
        FftDirection::Forward => 0,
        FftDirection::Inverse => 1,
    }
}

impl<T: FftNum> Fft2d<T> {
    /// Plans for a grid `width` values wide and `height` rows high.
    pub fn new(width: usize, height: usize) -> Self {
        let mut planner = FftPlanner::<T>::new();
        let row = [
            planner.plan_fft_forward(width),
            planner.plan_fft_inverse(width),
        ];
        let column = [
            planner.plan_fft_forward(height),
            planner.plan_fft_inverse(height),
        ];
        let scratch_len = row
            .iter()
            .chain(&column)
            .map(|p| p.get_inplace_scratch_len())
            .max()
            .unwrap_or(0);
        Self {
            width,
            height,
            row,
            column,
            scratch_len,
        }
    }

    pub fn width(&self) -> usize {
        self.width
    }

    pub fn height(&self) -> usize {
        self.height
    }

    /// A scratch buffer large enough for any of the plans.
    pub fn scratch(&self) -> Vec<Complex<T>> {
        vec![Complex::zero(); self.scratch_len]
    }

    /// Transforms one row (`width` values) in place.
    pub fn transform_row(
        &self,
        row: &mut [Complex<T>],
        direction: FftDirection,
        scratch: &mut [Complex<T>],
    ) {
        self.row[index(direction)].process_with_scratch(row, scratch);
    }

    /// Transforms one column (`height` values, contiguous) in place.
    pub fn transform_column(
        &self,
        column: &mut [Complex<T>],
        direction: FftDirection,
        scratch: &mut [Complex<T>],
    ) {
        self.column[index(direction)].process_with_scratch(column, scratch);
    }

    /// Transforms rows `rows` of `grid` in place, one after another.
    pub fn transform_rows(
        &self,
        grid: &mut [Complex<T>],
        rows: Range<usize>,
        direction: FftDirection,
    ) {
        let mut scratch = self.scratch();
        let w = self.width;
        for row in grid[rows.start * w..rows.end * w].chunks_exact_mut(w) {
            self.transform_row(row, direction, &mut scratch);
        }
    }

    /// [`Self::transform_rows`] with the rows spread over rayon's pool.
    pub fn par_transform_rows(
        &self,
        grid: &mut [Complex<T>],
        rows: Range<usize>,
        direction: FftDirection,
    ) {
        let w = self.width;
        grid[rows.start * w..rows.end * w]
            .par_chunks_exact_mut(w)
            .for_each_init(
                || self.scratch(),
                |scratch, row| self.transform_row(row, direction, scratch),
            );
    }

    /// Calls `visit(u, column, scratch)` for each column `u` of `grid`, copied into a
    /// contiguous buffer and written back afterwards, one after another.
    pub fn for_each_column(
        &self,
        grid: &mut [Complex<T>],
        mut visit: impl FnMut(usize, &mut [Complex<T>], &mut [Complex<T>]),
    ) {
        let (w, h) = (self.width, self.height);
        let mut column = vec![Complex::zero(); h];
        let mut scratch = self.scratch();
        for u in 0..w {
            for (r, c) in column.iter_mut().enumerate() {
                *c = grid[r * w + u];
            }
            visit(u, &mut column, &mut scratch);
            for (r, c) in column.iter().enumerate() {
                grid[r * w + u] = *c;
            }
        }
    }

    /// [`Self::for_each_column`] with the columns spread over rayon's pool: the grid is
    /// transposed into a buffer of contiguous columns, visited in parallel, and transposed
    /// back.
    pub fn par_for_each_column(
        &self,
        grid: &mut [Complex<T>],
        visit: impl Fn(usize, &mut [Complex<T>], &mut [Complex<T>]) + Sync,
    ) {
        let (w, h) = (self.width, self.height);
        let mut columns = vec![Complex::zero(); w * h];
        transpose(&grid[..w * h], &mut columns, h, w);
        columns.par_chunks_exact_mut(h).enumerate().for_each_init(
            || self.scratch(),
            |scratch, (u, column)| visit(u, column, scratch),
        );
        transpose(&columns, &mut grid[..w * h], w, h);
    }

    /// The whole 2-D transform of `grid` in place: every row, then every column.
    pub fn transform(&self, grid: &mut [Complex<T>], direction: FftDirection) {
        self.transform_rows(grid, 0..self.height, direction);
        self.for_each_column(grid, |_, column, scratch| {
            self.transform_column(column, direction, scratch)
        });
    }
}

/// Transposes `src` (rows x cols, row-major) into `dst` (cols x rows), in cache-sized tiles.
fn transpose<T: Copy>(src: &[T], dst: &mut [T], rows: usize, cols: usize) {
    const TILE: usize = 32;
    for r0 in (0..rows).step_by(TILE) {
        for c0 in (0..cols).step_by(TILE) {
            for r in r0..(r0 + TILE).min(rows) {
                for c in c0..(c0 + TILE).min(cols) {
                    dst[c * rows + r] = src[r * cols + c];
                }
            }
        }
    }
}

/// Signed frequency in cycles/sample of bin `k` of a length-`n` transform: bins above n/2
/// stand for negative frequencies.
pub fn bin_frequency(k: usize, n: usize) -> f64 {
    let k = if k <= n / 2 {
        k as f64
    } else {
        k as f64 - n as f64
    };
    k / n as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 2-D DFT by its definition, in float64.
    fn naive_dft(grid: &[Complex<f64>], w: usize, h: usize, sign: f64) -> Vec<Complex<f64>> {
        let mut out = vec![Complex::zero(); w * h];
        for v in 0..h {
            for u in 0..w {
                let mut z = Complex::new(0.0, 0.0);
                for y in 0..h {
                    for x in 0..w {
                        let angle = sign
                            * std::f64::consts::TAU
                            * ((u * x) as f64 / w as f64 + (v * y) as f64 / h as f64);
                        z += grid[y * w + x] * Complex::from_polar(1.0, angle);
                    }
                }
                out[v * w + u] = z;
            }
        }
        out
    }

    fn test_grid(w: usize, h: usize) -> Vec<Complex<f64>> {
        (0..w * h)
            .map(|i| Complex::new(((i * 37 % 23) as f64 - 11.0) / 7.0, (i % 5) as f64 * 0.1))
            .collect()
    }

    #[test]
    fn matches_the_definition_on_a_non_square_grid_both_ways() {
        let (w, h) = (12, 5);
        let grid = test_grid(w, h);
        let fft = Fft2d::<f64>::new(w, h);
        let mut forward = grid.clone();
        fft.transform(&mut forward, FftDirection::Forward);
        let mut inverse = grid.clone();
        fft.transform(&mut inverse, FftDirection::Inverse);
        let (want_f, want_i) = (naive_dft(&grid, w, h, -1.0), naive_dft(&grid, w, h, 1.0));
        // Values of order 1 summed over 60 terms: float64 rounding stays far below 1e-10.
        for i in 0..w * h {
            assert!((forward[i] - want_f[i]).norm() < 1e-10, "forward {i}");
            assert!((inverse[i] - want_i[i]).norm() < 1e-10, "inverse {i}");
        }
    }

    #[test]
    fn parallel_passes_give_the_serial_bits() {
        let (w, h) = (30, 18);
        let grid = test_grid(w, h);
        let fft = Fft2d::<f64>::new(w, h);
        let mut serial = grid.clone();
        fft.transform_rows(&mut serial, 2..15, FftDirection::Forward);
        fft.for_each_column(&mut serial, |_, c, s| {
            fft.transform_column(c, FftDirection::Inverse, s)
        });
        let mut parallel = grid;
        fft.par_transform_rows(&mut parallel, 2..15, FftDirection::Forward);
        fft.par_for_each_column(&mut parallel, |_, c, s| {
            fft.transform_column(c, FftDirection::Inverse, s)
        });
        assert_eq!(serial, parallel);
    }

    #[test]
    fn bins_above_half_are_negative_frequencies() {
        assert_eq!(bin_frequency(0, 8), 0.0);
        assert_eq!(bin_frequency(4, 8), 0.5);
        assert_eq!(bin_frequency(5, 8), -0.375);
        assert_eq!(bin_frequency(2, 5), 0.4);
        assert_eq!(bin_frequency(3, 5), -0.4);
    }
}
