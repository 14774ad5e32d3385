//! The largest eigenvalue of a symmetric positive semi-definite matrix by power iteration:
//! the coders' step size is 1 / L with L the largest eigenvalue of the Gram matrix D^T D.

use nalgebra::{DMatrix, DVector};

/// Iterates `v <- G v / ||G v||` from the given `v` until the estimate ||G v|| / ||v||
/// changes by at most `tolerance` times itself, or for `max_iterations` steps, and returns
/// the last estimate. `v` is left at the last iterate (unit norm), so a caller whose matrix
/// changes little between calls can start the next call from it. The estimate approaches
/// the eigenvalue from below: callers add a margin. A matrix that maps `v` to zero gives 0.
pub fn largest_eigenvalue(
    gram: &DMatrix<f32>,
    v: &mut DVector<f32>,
    max_iterations: usize,
    tolerance: f32,
) -> f32 {
    let mut lambda = 0.0f32;
    for _ in 0..max_iterations {
        let w = gram * &*v;
        let norm = w.norm();
        if norm == 0.0 {
            return 0.0;
        }
        let next = norm / v.norm();
        *v = w / norm;
        if (next - lambda).abs() <= tolerance * next {
            return next;
        }
        lambda = next;
    }
    lambda
}

/// A deterministic start vector with no zero entry and no symmetry (the fractional parts of
/// multiples of the golden ratio), so it is never orthogonal to the top eigenvector of a
/// matrix built from data.
pub fn start_vector(n: usize) -> DVector<f32> {
    DVector::from_fn(n, |i, _| 1.0 + (i as f32 * 0.618).fract())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_top_eigenvalue_of_a_known_matrix() {
        // Q diag(5, 2, 0.5) Q^T with Q a rotation: eigenvalue 5.
        let (c, s) = (0.6f32, 0.8f32);
        let q = DMatrix::from_row_slice(3, 3, &[c, -s, 0.0, s, c, 0.0, 0.0, 0.0, 1.0]);
        let g =
            &q * DMatrix::from_diagonal(&DVector::from_vec(vec![5.0, 2.0, 0.5])) * q.transpose();
        let mut v = start_vector(3);
        let lambda = largest_eigenvalue(&g, &mut v, 200, 1e-6);
        // The ratio 2/5 shrinks the error fast; float32 leaves a few ulps of 5.
        assert!((lambda - 5.0).abs() < 1e-4, "{lambda}");
        let top = DVector::from_vec(vec![c, s, 0.0]);
        assert!(v.dot(&top).abs() > 0.9999);
    }

    #[test]
    fn a_zero_matrix_and_an_empty_one_give_zero() {
        let mut v = start_vector(3);
        assert_eq!(
            largest_eigenvalue(&DMatrix::zeros(3, 3), &mut v, 10, 1e-6),
            0.0
        );
        let mut v = start_vector(0);
        assert_eq!(
            largest_eigenvalue(&DMatrix::zeros(0, 0), &mut v, 10, 1e-6),
            0.0
        );
    }
}
