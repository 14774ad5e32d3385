//! Online dictionary learning by block-coordinate descent on sufficient statistics (Mairal,
//! Bach, Ponce and Sapiro, ICML 2009 / JMLR 2010): the rule keeps `A = sum a a^T` (atoms x
//! atoms) and `B = sum x a^T` (pixels x atoms) over all patches seen, discounting old
//! minibatches, and after each batch sweeps once over the atoms, moving each to the minimiser
//! of the surrogate objective with the others fixed, then back to unit norm.
//!
//! Forgetting schedule (Mairal 2010, section 3.4, as scikit-learn's
//! `MiniBatchDictionaryLearning` applies it for a batch of `n` patches at update `t`, counted
//! from 0): `theta = (t + 1) n` while `t < n - 1`, else `theta = n^2 + t + 1 - n`; then
//! `A <- beta A + (1/n) sum a a^T` and `B <- beta B + (1/n) sum x a^T` with
//! `beta = (theta + 1 - n) / (theta + 1)`. Early batches are forgotten quickly (their codes
//! came from a poor dictionary); later ones are kept almost entirely.
//!
//! Codes are sparse (a few percent nonzero), so the statistics are accumulated from each
//! patch's nonzero entries only: `s^2 + pixels * s` operations per patch with `s` nonzeros,
//! instead of a dense product. All buffers are allocated once.

use super::DictionaryUpdate;
use crate::error::{Error, Result};
use nalgebra::DMatrix;

/// The online block-coordinate-descent rule.
#[derive(Debug, Clone)]
pub struct OnlineBcd {
    /// Sufficient statistic `sum a a^T`, atoms x atoms, column-major.
    a: DMatrix<f32>,
    /// Sufficient statistic `sum x a^T`, pixels x atoms.
    b: DMatrix<f32>,
    /// Updates done so far (the `t` of the forgetting schedule).
    updates: u64,
    nz_index: Vec<usize>,
    nz_value: Vec<f32>,
    column: Vec<f32>,
}

impl OnlineBcd {
    pub fn new(pixels: usize, atoms: usize) -> Self {
        Self {
            a: DMatrix::zeros(atoms, atoms),
            b: DMatrix::zeros(pixels, atoms),
            updates: 0,
            nz_index: Vec::with_capacity(atoms),
            nz_value: Vec::with_capacity(atoms),
            column: vec![0.0; pixels],
        }
    }

    /// The statistic `sum a a^T` (for tests and diagnostics).
    pub fn stat_a(&self) -> &DMatrix<f32> {
        &self.a
    }

    /// The statistic `sum x a^T`.
    pub fn stat_b(&self) -> &DMatrix<f32> {
        &self.b
    }

    /// The discount applied to the old statistics at update `t` with batches of `n`.
    pub fn forgetting_factor(t: u64, n: usize) -> f64 {
        let n = n as f64;
        let t = t as f64;
        let theta = if t < n - 1.0 {
            (t + 1.0) * n
        } else {
            n * n + t + 1.0 - n
        };
        (theta + 1.0 - n) / (theta + 1.0)
    }

    fn accumulate(&mut self, x: &DMatrix<f32>, codes: &DMatrix<f32>) {
        let n = x.ncols();
        let beta = Self::forgetting_factor(self.updates, n) as f32;
        self.a.iter_mut().for_each(|v| *v *= beta);
        self.b.iter_mut().for_each(|v| *v *= beta);
        let inv_n = 1.0 / n as f32;
        let k = self.a.nrows();
        let p = self.b.nrows();
        let a_stat = self.a.as_mut_slice();
        let b_stat = self.b.as_mut_slice();
        for i in 0..n {
            self.nz_index.clear();
            self.nz_value.clear();
            for (j, &v) in codes.column(i).iter().enumerate() {
                if v != 0.0 {
                    self.nz_index.push(j);
                    self.nz_value.push(v);
                }
            }
            let xi = x.column(i);
            let xi = xi.as_slice();
            for (&q, &vq) in self.nz_index.iter().zip(&self.nz_value) {
                let scaled = vq * inv_n;
                let a_col = &mut a_stat[q * k..(q + 1) * k];
                for (&r, &vr) in self.nz_index.iter().zip(&self.nz_value) {
                    a_col[r] += vr * scaled;
                }
                let b_col = &mut b_stat[q * p..(q + 1) * p];
                for (bv, &xv) in b_col.iter_mut().zip(xi) {
                    *bv += xv * scaled;
                }
            }
        }
    }

    /// One Gauss-Seidel sweep over the atoms: `d_j <- normalise(d_j + (b_j - D a_j) / A_jj)`.
    /// Atoms with (near) zero `A_jj` have had no usage since they were (re)born and are left
    /// alone; the dead-atom rule of the learning loop handles them.
    fn sweep(&mut self, d: &mut DMatrix<f32>) {
        let (p, k) = (d.nrows(), d.ncols());
        let a_stat = self.a.as_slice();
        let b_stat = self.b.as_slice();
        let dict = d.as_mut_slice();
        for j in 0..k {
            let a_col = &a_stat[j * k..(j + 1) * k];
            let ajj = a_col[j];
            if ajj <= 1e-10 {
                continue;
            }
            // column = D a_j, accumulated atom by atom so each pass is a contiguous axpy.
            self.column.iter_mut().for_each(|v| *v = 0.0);
            for (l, &alj) in a_col.iter().enumerate() {
                if alj != 0.0 {
                    let dl = &dict[l * p..(l + 1) * p];
                    for (c, &dv) in self.column.iter_mut().zip(dl) {
                        *c += dv * alj;
                    }
                }
            }
            let inv = 1.0 / ajj;
            let bj = &b_stat[j * p..(j + 1) * p];
            let dj = &mut dict[j * p..(j + 1) * p];
            let mut norm2 = 0.0f32;
            for ((dv, &bv), &cv) in dj.iter_mut().zip(bj).zip(&self.column) {
                *dv += (bv - cv) * inv;
                norm2 += *dv * *dv;
            }
            let norm = norm2.sqrt();
            if norm > 1e-12 {
                dj.iter_mut().for_each(|v| *v /= norm);
            }
        }
    }
}

impl DictionaryUpdate for OnlineBcd {
    fn name(&self) -> &'static str {
        "online"
    }

    fn update(&mut self, d: &mut DMatrix<f32>, x: &DMatrix<f32>, codes: &DMatrix<f32>) {
        self.accumulate(x, codes);
        self.updates += 1;
        self.sweep(d);
    }

    fn reset_atom(&mut self, _d: &mut DMatrix<f32>, j: usize) {
        self.a.row_mut(j).fill(0.0);
        self.a.column_mut(j).fill(0.0);
        self.b.column_mut(j).fill(0.0);
    }

    fn state(&self) -> Vec<f32> {
        let mut v = Vec::with_capacity(2 + self.a.len() + self.b.len());
        // The update count is stored as two exact 24-bit halves: f32 holds integers < 2^24.
        v.push((self.updates >> 24) as f32);
        v.push((self.updates & 0xFF_FFFF) as f32);
        v.extend_from_slice(self.a.as_slice());
        v.extend_from_slice(self.b.as_slice());
        v
    }

    fn restore(&mut self, state: &[f32]) -> Result<()> {
        let need = 2 + self.a.len() + self.b.len();
        if state.len() != need {
            return Err(Error::failed(
                "restoring the online rule",
                format!("state has {} values, expected {need}", state.len()),
            ));
        }
        self.updates = ((state[0] as u64) << 24) | state[1] as u64;
        let (a, b) = state[2..].split_at(self.a.len());
        self.a.as_mut_slice().copy_from_slice(a);
        self.b.as_mut_slice().copy_from_slice(b);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparse_statistics_equal_dense_products() {
        let x = DMatrix::from_fn(5, 4, |i, j| (i as f32 - 2.0) * 0.3 + j as f32 * 0.1);
        let codes = DMatrix::from_fn(3, 4, |i, j| {
            if (i + j) % 2 == 0 {
                1.0 + i as f32
            } else {
                0.0
            }
        });
        let mut rule = OnlineBcd::new(5, 3);
        rule.accumulate(&x, &codes);
        // The statistics start at zero, so after one update A = C C^T / n and B = X C^T / n.
        let dense_a = &codes * codes.transpose() / 4.0;
        let dense_b = &x * codes.transpose() / 4.0;
        assert!((rule.a.clone() - dense_a).abs().max() < 1e-6);
        assert!((rule.b.clone() - dense_b).abs().max() < 1e-6);
    }

    #[test]
    fn forgetting_factor_starts_small_and_tends_to_one() {
        // At t = 0, theta = n and beta = 1 / (n + 1): the first batch barely keeps the past.
        assert!((OnlineBcd::forgetting_factor(0, 256) - 1.0 / 257.0).abs() < 1e-12);
        let late = OnlineBcd::forgetting_factor(1_000_000, 256);
        assert!(late > 0.999 && late < 1.0, "{late}");
    }
}
