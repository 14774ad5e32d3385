//! MOD, the method of optimal directions (Engan, Aase and Husoy, 1999): given the codes of the
//! current batch, the dictionary becomes the least-squares fit `D = X A^T (A A^T)^-1`, then
//! every atom is scaled back to unit norm. The rule has no memory: it sees one batch, so it is
//! meant for large batches (the whole data set in the classical batch form).
//!
//! A tiny ridge (`1e-6` times the mean diagonal of `A A^T`) keeps the system positive definite;
//! an atom no patch of the batch used keeps its old value instead of collapsing to zero.

use super::DictionaryUpdate;
use crate::error::{Error, Result};
use crate::linalg::cholesky::{self, InOrder};
use crate::linalg::gemm_nt;
use nalgebra::DMatrix;

/// The MOD rule, with its work buffers.
#[derive(Debug, Clone)]
pub struct Mod {
    gram: DMatrix<f32>,
    xa: DMatrix<f32>,
    rhs: DMatrix<f32>,
    /// The lower triangle of `A A^T`, row-major, factored in place.
    chol: Vec<f32>,
}

impl Mod {
    pub fn new(pixels: usize, atoms: usize) -> Self {
        Self {
            gram: DMatrix::zeros(atoms, atoms),
            xa: DMatrix::zeros(pixels, atoms),
            rhs: DMatrix::zeros(atoms, pixels),
            chol: vec![0.0; atoms * atoms],
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
        if k == 0 {
            return;
        }
        self.chol.resize(k * k, 0.0);
        for i in 0..k {
            for j in 0..=i {
                self.chol[i * k + j] = self.gram[(i, j)];
            }
        }
        if !cholesky::factor::<InOrder>(&mut self.chol, k, 0.0) {
            // Numerically singular despite the ridge: leave the dictionary as it is.
            return;
        }
        self.rhs.tr_copy_from(&self.xa);
        for column in self.rhs.as_mut_slice().chunks_exact_mut(k) {
            cholesky::solve::<InOrder>(&self.chol, k, column);
        }
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
    fn recovers_the_dictionary_that_made_noiseless_data() {
        let (p, k, n) = (6, 4, 40);
        let mut d0 = DMatrix::from_fn(p, k, |i, j| {
            ((i * 5 + j * 3) % 7) as f32 - 3.0 + 0.1 * j as f32
        });
        crate::dictionary::normalize_columns(&mut d0);
        let a = DMatrix::from_fn(k, n, |i, j| ((i * 11 + j * 7) % 13) as f32 / 6.0 - 1.0);
        let x = &d0 * &a;
        let mut d = DMatrix::from_element(p, k, 0.5f32);
        let mut rule = Mod::new(p, k);
        rule.update(&mut d, &x, &a);
        // X A^T (A A^T)^-1 = D0 up to the 1e-6 ridge and float32 solves: 1e-3 is far above
        // both and far below any wrong answer.
        assert!((&d - &d0).amax() < 1e-3, "{}", (&d - &d0).amax());
    }
}
