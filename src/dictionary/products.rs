//! The dense products of the dictionary updates (residuals, sufficient statistics, MOD's
//! normal equations) on nalgebra's column-major matrices, routed through `matrixmultiply`
//! with strides so a transposed operand costs no copy (nalgebra's own transposed products are
//! several times slower at these shapes). The product itself is the crate's shared one in
//! [`crate::linalg`].

use crate::linalg::{self, View, ViewMut};
use nalgebra::DMatrix;

/// `c <- alpha * op(a) * op(b) + beta * c`, where `op` transposes when the flag is set.
fn sgemm(
    alpha: f32,
    a: &DMatrix<f32>,
    ta: bool,
    b: &DMatrix<f32>,
    tb: bool,
    beta: f32,
    c: &mut DMatrix<f32>,
) {
    // op(x) as a strided view of x's column-major storage, with its (rows, cols).
    fn op(x: &DMatrix<f32>, t: bool) -> (usize, usize, View<'_>) {
        let (r, k) = x.shape();
        let v = View {
            data: x.as_slice(),
            row_stride: 1,
            col_stride: r,
        };
        if t { (k, r, v.t()) } else { (r, k, v) }
    }
    let (m, k, av) = op(a, ta);
    let (kb, n, bv) = op(b, tb);
    assert_eq!(k, kb, "inner dimensions differ");
    assert_eq!((c.nrows(), c.ncols()), (m, n), "output shape");
    let cv = ViewMut {
        data: c.as_mut_slice(),
        row_stride: 1,
        col_stride: m,
    };
    linalg::sgemm((m, k, n), alpha, av, bv, beta, cv);
}

/// `c <- alpha * a * b + beta * c`.
pub(crate) fn gemm_nn(
    alpha: f32,
    a: &DMatrix<f32>,
    b: &DMatrix<f32>,
    beta: f32,
    c: &mut DMatrix<f32>,
) {
    sgemm(alpha, a, false, b, false, beta, c);
}

/// `c <- alpha * a * b^T + beta * c`.
pub(crate) fn gemm_nt(
    alpha: f32,
    a: &DMatrix<f32>,
    b: &DMatrix<f32>,
    beta: f32,
    c: &mut DMatrix<f32>,
) {
    sgemm(alpha, a, false, b, true, beta, c);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn match_nalgebra_products() {
        let a = DMatrix::from_fn(5, 3, |i, j| (i * 3 + j) as f32 * 0.25 - 1.0);
        let b = DMatrix::from_fn(3, 4, |i, j| (i + 2 * j) as f32 * 0.5 - 0.7);
        let bt = b.transpose();
        let mut c = DMatrix::from_element(5, 4, 1.0f32);
        gemm_nn(2.0, &a, &b, 0.5, &mut c);
        // Small integers-and-quarters inputs: products are exact up to float32 rounding.
        assert!((c - (&a * &b * 2.0 + DMatrix::from_element(5, 4, 0.5))).amax() < 1e-5);
        let mut c = DMatrix::zeros(5, 4);
        gemm_nt(1.0, &a, &bt, 0.0, &mut c);
        assert!((c - &a * &b).amax() < 1e-5);
    }
}
