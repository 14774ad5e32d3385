//! MOD, the method of optimal directions (Engan, Aase and Husoy, 1999): given the codes of the
//! current batch, the dictionary becomes the least-squares fit `D = X A^T (A A^T)^-1`, then
//! every atom is scaled back to unit norm. The rule has no memory: it sees one batch, so it is
//! meant for large batches (the whole data set in the classical batch form).
//!
//! A tiny ridge (`1e-6` times the mean diagonal of `A A^T`) keeps the system positive definite;
//! an atom no patch of the batch used keeps its old value instead of collapsing to zero.

use super::DictionaryUpdate;
use super::products::gemm_nt;
use crate::error::{Error, Result};
use nalgebra::DMatrix;

/// The MOD rule, with its work buffers.
#[derive(Debug, Clone)]
pub struct Mod {
    gram: DMatrix<f32>,
    xa: DMatrix<f32>,
    rhs: DMatrix<f32>,
}

impl Mod {
    pub fn new(pixels: usize, atoms: usize) -> Self {
        Self {
            gram: DMatrix::zeros(atoms, atoms),
            xa: DMatrix::zeros(pixels, atoms),
            rhs: DMatrix::zeros(atoms, pixels),
        }
    }
}

/// In-place Cholesky factorisation of a symmetric positive-definite matrix (lower triangle,
/// column-major). Returns false if a pivot is not positive.
fn cholesky_in_place(g: &mut DMatrix<f32>) -> bool {
    let k = g.nrows();
    let s = g.as_mut_slice();
    for j in 0..k {
        let mut pivot = s[j * k + j] as f64;
        for l in 0..j {
            let v = s[l * k + j] as f64;
            pivot -= v * v;
        }
        if pivot <= 0.0 {
            return false;
        }
        let pivot = pivot.sqrt();
        s[j * k + j] = pivot as f32;
        for i in j + 1..k {
            let mut v = s[j * k + i] as f64;
            for l in 0..j {
                v -= s[l * k + i] as f64 * s[l * k + j] as f64;
            }
            s[j * k + i] = (v / pivot) as f32;
        }
    }
    true
}

/// Solves `L L^T y = b` in place for each column of `rhs`, with `l` from [`cholesky_in_place`].
fn cholesky_solve(l: &DMatrix<f32>, rhs: &mut DMatrix<f32>) {
    let k = l.nrows();
    let ls = l.as_slice();
    for mut col in rhs.column_iter_mut() {
        let y = col.as_mut_slice();
        for i in 0..k {
            let mut v = y[i];
            for j in 0..i {
                v -= ls[j * k + i] * y[j];
            }
            y[i] = v / ls[i * k + i];
        }
        for i in (0..k).rev() {
            let mut v = y[i];
            for j in i + 1..k {
                v -= ls[i * k + j] * y[j];
            }
            y[i] = v / ls[i * k + i];
        }
    }
}

impl DictionaryUpdate for Mod {
    fn name(&self) -> &'static str {
        "mod"
    }

    fn update(&mut self, d: &mut DMatrix<f32>, x: &DMatrix<f32>, codes: &DMatrix<f32>) {
        let k = d.ncols();
        gemm_nt(1.0, codes, codes, 0.0, &mut self.gram);
        gemm_nt(1.0, x, codes, 0.0, &mut self.xa);
        let used: Vec<bool> = (0..k).map(|j| self.gram[(j, j)] > 0.0).collect();
        let mean_diag = (0..k).map(|j| self.gram[(j, j)]).sum::<f32>() / k.max(1) as f32;
        let ridge = 1e-6 * mean_diag.max(f32::MIN_POSITIVE) + 1e-12;
        for j in 0..k {
            self.gram[(j, j)] += ridge;
        }
        if !cholesky_in_place(&mut self.gram) {
            // Numerically singular despite the ridge: leave the dictionary as it is.
            return;
        }
        self.rhs.tr_copy_from(&self.xa);
        cholesky_solve(&self.gram, &mut self.rhs);
        for j in 0..k {
            if !used[j] {
                continue;
            }
            let norm = self.rhs.row(j).norm();
            if norm > 1e-12 {
                for r in 0..d.nrows() {
                    d[(r, j)] = self.rhs[(j, r)] / norm;
                }
            }
        }
    }

    fn reset_atom(&mut self, _d: &mut DMatrix<f32>, _j: usize) {}

    fn state(&self) -> Vec<f32> {
        Vec::new()
    }

    fn restore(&mut self, state: &[f32]) -> Result<()> {
        if !state.is_empty() {
            return Err(Error::failed("restoring MOD", "MOD keeps no state"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_solves_a_small_system() {
        let a = DMatrix::from_row_slice(3, 3, &[4.0, 1.0, 0.5, 1.0, 3.0, 0.2, 0.5, 0.2, 2.0]);
        let b = DMatrix::from_column_slice(3, 1, &[1.0, 2.0, 3.0]);
        let mut l = a.clone();
        assert!(cholesky_in_place(&mut l));
        let mut y = b.clone();
        cholesky_solve(&l, &mut y);
        // f32 arithmetic on a well-conditioned 3x3 system: residual below 1e-5.
        assert!((&a * &y - &b).abs().max() < 1e-5);
    }
}
