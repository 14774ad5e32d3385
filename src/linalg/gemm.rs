//! The crate's one matrix product: `C <- alpha * A * B + beta * C` on strided operand views
//! (a transposed or column-major operand costs no copy), run by one of two kernel libraries.
//!
//! - [`Backend::MatrixMultiply`]: `matrixmultiply`, for the CNN's linear layers and fallback
//!   convolutions, the dictionary updates, the whitening transform and the similarity table.
//! - [`Backend::Faer`]: the `gemm` crate (faer's kernels, with an AVX-512 path), which
//!   measured faster than `matrixmultiply` and far faster than nalgebra's products for the
//!   coders' (atoms x atoms)(atoms x block) shapes, in float32 and float64.
//!
//! The two libraries block and fuse differently, so the same product can differ in the last
//! bits between them: each caller names the backend its results were made with. Both run
//! single-threaded here, because every caller parallelises over blocks of its own, so a
//! block's arithmetic never depends on the thread count.
//!
//! [`gemm_nn`] and [`gemm_nt`] are the same product on nalgebra's column-major matrices, for
//! the dictionary updates.

use nalgebra::DMatrix;

/// The element types products run in: float32 for the hot loops, float64 where a
/// certificate needs the digits (the active-set coder's `D^T x` and Gram matrix).
pub trait Element: Copy + PartialEq + std::ops::MulAssign + 'static {
    const ZERO: Self;
    const ONE: Self;

    /// `matrixmultiply`'s product for this type (its `sgemm` or `dgemm`).
    ///
    /// # Safety
    /// Every index the strides form for the given shape must lie inside the buffers.
    #[allow(clippy::too_many_arguments)]
    unsafe fn matrixmultiply(
        shape: (usize, usize, usize),
        alpha: Self,
        a: (*const Self, isize, isize),
        b: (*const Self, isize, isize),
        beta: Self,
        c: (*mut Self, isize, isize),
    );
}

impl Element for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;

    unsafe fn matrixmultiply(
        (m, k, n): (usize, usize, usize),
        alpha: f32,
        a: (*const f32, isize, isize),
        b: (*const f32, isize, isize),
        beta: f32,
        c: (*mut f32, isize, isize),
    ) {
        // SAFETY: forwarded from the caller.
        unsafe {
            matrixmultiply::sgemm(
                m, k, n, alpha, a.0, a.1, a.2, b.0, b.1, b.2, beta, c.0, c.1, c.2,
            )
        }
    }
}

impl Element for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;

    unsafe fn matrixmultiply(
        (m, k, n): (usize, usize, usize),
        alpha: f64,
        a: (*const f64, isize, isize),
        b: (*const f64, isize, isize),
        beta: f64,
        c: (*mut f64, isize, isize),
    ) {
        // SAFETY: forwarded from the caller.
        unsafe {
            matrixmultiply::dgemm(
                m, k, n, alpha, a.0, a.1, a.2, b.0, b.1, b.2, beta, c.0, c.1, c.2,
            )
        }
    }
}

/// Which kernel library runs a product (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `matrixmultiply`.
    MatrixMultiply,
    /// The `gemm` crate (faer's kernels).
    Faer,
}

/// A matrix operand over a slice: `data[i * row_stride + j * col_stride]` is (i, j).
/// A transposed view just swaps the strides.
#[derive(Clone, Copy)]
pub struct View<'a, T = f32> {
    pub data: &'a [T],
    pub row_stride: usize,
    pub col_stride: usize,
}

impl<'a, T> View<'a, T> {
    /// A row-major matrix with `cols` columns.
    pub fn rows(data: &'a [T], cols: usize) -> Self {
        Self {
            data,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// A column-major matrix with `rows` rows.
    pub fn columns(data: &'a [T], rows: usize) -> Self {
        Self {
            data,
            row_stride: 1,
            col_stride: rows,
        }
    }

    /// The transpose of a row-major matrix with `cols` columns.
    pub fn transposed(data: &'a [T], cols: usize) -> Self {
        Self::rows(data, cols).t()
    }

    /// The transpose of this operand.
    pub fn t(self) -> Self {
        Self {
            data: self.data,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
        }
    }
}

/// The output of [`gemm`]: `data[i * row_stride + j * col_stride]` is (i, j).
pub struct ViewMut<'a, T = f32> {
    pub data: &'a mut [T],
    pub row_stride: usize,
    pub col_stride: usize,
}

impl<'a, T> ViewMut<'a, T> {
    /// A row-major matrix with `cols` columns.
    pub fn rows(data: &'a mut [T], cols: usize) -> Self {
        Self {
            data,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// A column-major matrix with `rows` rows.
    pub fn columns(data: &'a mut [T], rows: usize) -> Self {
        Self {
            data,
            row_stride: 1,
            col_stride: rows,
        }
    }
}

/// Whether a `rows x cols` matrix with these strides lies inside `len` elements.
fn fits(len: usize, row_stride: usize, col_stride: usize, rows: usize, cols: usize) -> bool {
    rows == 0 || cols == 0 || (rows - 1) * row_stride + (cols - 1) * col_stride < len
}

/// C (m x n) <- alpha * A (m x k) * B (k x n) + beta * C for `shape` = (m, k, n), BLAS's
/// convention: with beta = 0, C is written without being read. With k = 0 the product is
/// empty and C becomes beta * C (zeros when beta is 0), whichever the backend.
///
/// Panics if an operand is too small for its shape, whatever the shape's sizes.
pub fn gemm<T: Element>(
    backend: Backend,
    shape: (usize, usize, usize),
    alpha: T,
    a: View<T>,
    b: View<T>,
    beta: T,
    c: ViewMut<T>,
) {
    let (m, k, n) = shape;
    assert!(
        fits(a.data.len(), a.row_stride, a.col_stride, m, k),
        "gemm: A is too small for {m}x{k}"
    );
    assert!(
        fits(b.data.len(), b.row_stride, b.col_stride, k, n),
        "gemm: B is too small for {k}x{n}"
    );
    assert!(
        fits(c.data.len(), c.row_stride, c.col_stride, m, n),
        "gemm: C is too small for {m}x{n}"
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        for i in 0..m {
            for j in 0..n {
                let v = &mut c.data[i * c.row_stride + j * c.col_stride];
                if beta == T::ZERO {
                    *v = T::ZERO;
                } else {
                    *v *= beta;
                }
            }
        }
        return;
    }
    let (ars, acs) = (a.row_stride as isize, a.col_stride as isize);
    let (brs, bcs) = (b.row_stride as isize, b.col_stride as isize);
    let (crs, ccs) = (c.row_stride as isize, c.col_stride as isize);
    match backend {
        // SAFETY: the asserts above bound every index the kernel forms inside each slice.
        Backend::MatrixMultiply => unsafe {
            T::matrixmultiply(
                shape,
                alpha,
                (a.data.as_ptr(), ars, acs),
                (b.data.as_ptr(), brs, bcs),
                beta,
                (c.data.as_mut_ptr(), crs, ccs),
            )
        },
        // SAFETY: as above. The `gemm` crate computes dst <- alpha' * dst + beta' * lhs * rhs
        // and reads dst only when asked, so our (alpha, beta) are its (beta, alpha).
        Backend::Faer => unsafe {
            let read_dst = beta != T::ZERO;
            gemm::gemm(
                m,
                n,
                k,
                c.data.as_mut_ptr(),
                ccs,
                crs,
                read_dst,
                a.data.as_ptr(),
                acs,
                ars,
                b.data.as_ptr(),
                bcs,
                brs,
                if read_dst { beta } else { T::ZERO },
                alpha,
                false,
                false,
                false,
                gemm::Parallelism::None,
            )
        },
    }
}

/// `op(x)` of a column-major nalgebra matrix as a view, with its (rows, cols).
fn matrix_view(x: &DMatrix<f32>, transpose: bool) -> (usize, usize, View<'_>) {
    let (r, c) = x.shape();
    let v = View::columns(x.as_slice(), r);
    if transpose { (c, r, v.t()) } else { (r, c, v) }
}

/// `c <- alpha * op(a) * op(b) + beta * c` on column-major matrices, on `matrixmultiply`
/// (nalgebra's own transposed products are several times slower at the dictionary shapes).
fn matrix_gemm(
    alpha: f32,
    (a, ta): (&DMatrix<f32>, bool),
    (b, tb): (&DMatrix<f32>, bool),
    beta: f32,
    c: &mut DMatrix<f32>,
) {
    let (m, k, av) = matrix_view(a, ta);
    let (kb, n, bv) = matrix_view(b, tb);
    assert_eq!(k, kb, "inner dimensions differ");
    assert_eq!((c.nrows(), c.ncols()), (m, n), "output shape");
    let cv = ViewMut::columns(c.as_mut_slice(), m);
    gemm(Backend::MatrixMultiply, (m, k, n), alpha, av, bv, beta, cv);
}

/// `c <- alpha * a * b + beta * c` on nalgebra matrices.
pub fn gemm_nn(alpha: f32, a: &DMatrix<f32>, b: &DMatrix<f32>, beta: f32, c: &mut DMatrix<f32>) {
    matrix_gemm(alpha, (a, false), (b, false), beta, c);
}

/// `c <- alpha * a * b^T + beta * c` on nalgebra matrices.
pub fn gemm_nt(alpha: f32, a: &DMatrix<f32>, b: &DMatrix<f32>, beta: f32, c: &mut DMatrix<f32>) {
    matrix_gemm(alpha, (a, false), (b, true), beta, c);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Small integers: every product and partial sum is exact in float32, so any backend and
    /// any summation order must give the naive sum bit for bit.
    fn integers(len: usize, modulus: usize, offset: f32) -> Vec<f32> {
        (0..len)
            .map(|i| (i * 7 % modulus) as f32 - offset)
            .collect()
    }

    #[test]
    fn both_backends_match_the_naive_product_with_transposes_and_beta() {
        let (m, k, n) = (5, 7, 3);
        let a = integers(m * k, 11, 5.0); // row-major m x k
        let bt = integers(n * k, 7, 3.0); // row-major n x k, used transposed
        let c0 = integers(m * n, 5, 2.0);
        for backend in [Backend::MatrixMultiply, Backend::Faer] {
            for (alpha, beta) in [(1.0, 0.0), (2.0, 1.0), (-1.0, 3.0)] {
                let mut c = c0.clone();
                gemm(
                    backend,
                    (m, k, n),
                    alpha,
                    View::rows(&a, k),
                    View::transposed(&bt, k),
                    beta,
                    ViewMut::rows(&mut c, n),
                );
                for i in 0..m {
                    for j in 0..n {
                        let dot: f32 = (0..k).map(|p| a[i * k + p] * bt[j * k + p]).sum();
                        let want = alpha * dot + beta * c0[i * n + j];
                        assert_eq!(c[i * n + j], want, "{backend:?} ({i}, {j})");
                    }
                }
            }
        }
    }

    #[test]
    fn float64_column_major_products_match_the_naive_product() {
        let (m, k, n) = (4, 6, 5);
        let a: Vec<f64> = (0..m * k).map(|i| (i % 9) as f64 - 4.0).collect();
        let b: Vec<f64> = (0..k * n).map(|i| (i % 5) as f64 - 2.0).collect();
        for backend in [Backend::MatrixMultiply, Backend::Faer] {
            let mut c = vec![f64::NAN; m * n];
            gemm(
                backend,
                (m, k, n),
                1.0,
                View::columns(&a, m),
                View::columns(&b, k),
                0.0,
                ViewMut::columns(&mut c, m),
            );
            for i in 0..m {
                for j in 0..n {
                    let want: f64 = (0..k).map(|p| a[p * m + i] * b[j * k + p]).sum();
                    // Integers: exact, and beta = 0 must not read the NaN already in C.
                    assert_eq!(c[j * m + i], want, "{backend:?} ({i}, {j})");
                }
            }
        }
    }

    #[test]
    fn an_empty_inner_dimension_scales_c_by_beta() {
        for backend in [Backend::MatrixMultiply, Backend::Faer] {
            let mut c = vec![f32::NAN, 2.0, -3.0, 4.0];
            let empty: [f32; 0] = [];
            let (a, b) = (View::rows(&empty, 0), View::rows(&empty, 2));
            gemm(backend, (2, 0, 2), 1.0, a, b, 0.0, ViewMut::rows(&mut c, 2));
            assert_eq!(c, [0.0; 4]);
            let mut c = vec![1.0f32, 2.0, -3.0, 4.0];
            gemm(backend, (2, 0, 2), 1.0, a, b, 2.0, ViewMut::rows(&mut c, 2));
            assert_eq!(c, [2.0, 4.0, -6.0, 8.0]);
        }
    }

    #[test]
    #[should_panic(expected = "too small")]
    fn rejects_an_operand_shorter_than_its_shape() {
        let a = [0.0f32; 5];
        let mut c = [0.0f32; 4];
        gemm(
            Backend::MatrixMultiply,
            (2, 3, 2),
            1.0,
            View::rows(&a, 3),
            View::rows(&a, 2),
            0.0,
            ViewMut::rows(&mut c, 2),
        );
    }

    #[test]
    fn nalgebra_conveniences_match_nalgebra_products() {
        let a = DMatrix::from_fn(5, 3, |i, j| (i * 3 + j) as f32 * 0.25 - 1.0);
        let b = DMatrix::from_fn(3, 4, |i, j| (i + 2 * j) as f32 * 0.5 - 0.75);
        let mut c = DMatrix::from_element(5, 4, 1.0f32);
        gemm_nn(2.0, &a, &b, 0.5, &mut c);
        // Quarters and halves times small integers: exact in float32.
        assert_eq!(c, &a * &b * 2.0 + DMatrix::from_element(5, 4, 0.5));
        let mut c = DMatrix::zeros(5, 4);
        gemm_nt(1.0, &a, &b.transpose(), 0.0, &mut c);
        assert_eq!(c, &a * &b);
    }
}
