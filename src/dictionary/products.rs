//! The dense products of the dictionary updates (residuals, sufficient statistics, MOD's
//! normal equations) on nalgebra's column-major matrices, routed through `matrixmultiply`
//! with strides so a transposed operand costs no copy (nalgebra's own transposed products are
//! several times slower at these shapes).

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
    // (rows, cols, row stride, column stride) of op(x) over x's column-major storage.
    let view = |x: &DMatrix<f32>, t: bool| {
        let (r, k, ld) = (x.nrows(), x.ncols(), x.nrows() as isize);
        if t { (k, r, ld, 1) } else { (r, k, 1, ld) }
    };
    let (m, k, ars, acs) = view(a, ta);
    let (kb, n, brs, bcs) = view(b, tb);
    assert_eq!(k, kb, "inner dimensions differ");
    assert_eq!((c.nrows(), c.ncols()), (m, n), "output shape");
    // SAFETY: the shapes are asserted above and the strides describe each operand's
    // column-major storage, so every index the kernel forms is inside its matrix.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            alpha,
            a.as_ptr(),
            ars,
            acs,
            b.as_ptr(),
            brs,
            bcs,
            beta,
            c.as_mut_ptr(),
            1,
            m as isize,
        );
    }
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
