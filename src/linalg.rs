//! The crate's one float32 GEMM on `matrixmultiply`: strided operand views, so a transposed
//! or column-major operand costs no copy, and the single unsafe call with its bounds checks.
//!
//! The CNN's linear layers and fallback convolutions, the dictionary updates (on nalgebra's
//! column-major storage), the whitening transform and the similarity table all go through
//! [`sgemm`]; each passes the same shapes, strides, alpha and beta it passed to
//! `matrixmultiply` before, so results are unchanged bit for bit. The coders' products stay
//! in `coding::gemm` on the `gemm` crate, a different kernel library chosen by measurement
//! for their shapes (and needed in float64); moving them here would change their bits.

/// A matrix operand over a slice: `data[i * row_stride + j * col_stride]` is (i, j).
/// A transposed view just swaps the strides.
#[derive(Clone, Copy)]
pub struct View<'a> {
    pub data: &'a [f32],
    pub row_stride: usize,
    pub col_stride: usize,
}

impl<'a> View<'a> {
    /// A row-major `rows x cols` matrix.
    pub fn rows(data: &'a [f32], cols: usize) -> Self {
        Self {
            data,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The transpose of a row-major matrix with `cols` columns.
    pub fn transposed(data: &'a [f32], cols: usize) -> Self {
        Self {
            data,
            row_stride: 1,
            col_stride: cols,
        }
    }

    /// The transpose of this operand.
    pub fn t(self) -> Self {
        Self {
            data: self.data,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
        }
    }

    fn fits(&self, rows: usize, cols: usize) -> bool {
        fits(
            self.data.len(),
            self.row_stride,
            self.col_stride,
            rows,
            cols,
        )
    }
}

/// Whether a `rows x cols` matrix with these strides lies inside `len` elements.
fn fits(len: usize, row_stride: usize, col_stride: usize, rows: usize, cols: usize) -> bool {
    rows == 0 || cols == 0 || (rows - 1) * row_stride + (cols - 1) * col_stride < len
}

/// The output of [`sgemm`]: `data[i * row_stride + j * col_stride]` is (i, j).
pub struct ViewMut<'a> {
    pub data: &'a mut [f32],
    pub row_stride: usize,
    pub col_stride: usize,
}

impl<'a> ViewMut<'a> {
    /// A row-major matrix with `cols` columns.
    pub fn rows(data: &'a mut [f32], cols: usize) -> Self {
        Self {
            data,
            row_stride: cols,
            col_stride: 1,
        }
    }
}

/// C (m x n) <- alpha * A (m x k) * B (k x n) + beta * C for `shape` = (m, k, n), as one
/// call to `matrixmultiply` (which handles k = 0 by scaling C by beta, writing zeros when
/// beta is 0).
pub fn sgemm(shape: (usize, usize, usize), alpha: f32, a: View, b: View, beta: f32, c: ViewMut) {
    let (m, k, n) = shape;
    assert!(a.fits(m, k), "sgemm: A is too small for {m}x{k}");
    assert!(b.fits(k, n), "sgemm: B is too small for {k}x{n}");
    assert!(
        fits(c.data.len(), c.row_stride, c.col_stride, m, n),
        "sgemm: C is too small for {m}x{n}"
    );
    // SAFETY: the asserts above bound every index the kernel forms inside each slice.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            alpha,
            a.data.as_ptr(),
            a.row_stride as isize,
            a.col_stride as isize,
            b.data.as_ptr(),
            b.row_stride as isize,
            b.col_stride as isize,
            beta,
            c.data.as_mut_ptr(),
            c.row_stride as isize,
            c.col_stride as isize,
        );
    }
}

/// C (m x n, row-major, contiguous) = A (m x k) * B (k x n) + beta * C, with k = 0 scaling
/// C by beta in place (so a NaN already in C stays NaN, unlike `matrixmultiply`'s zeroing).
pub fn gemm(m: usize, k: usize, n: usize, a: View, b: View, beta: f32, c: &mut [f32]) {
    // Checked before the early returns too, so a caller's wrong shape fails on every input.
    assert!(a.fits(m, k), "gemm: A is too small for {m}x{k}");
    assert!(b.fits(k, n), "gemm: B is too small for {k}x{n}");
    assert!(c.len() >= m * n, "gemm: C is too small for {m}x{n}");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        c[..m * n].iter_mut().for_each(|v| *v *= beta);
        return;
    }
    sgemm((m, k, n), 1.0, a, b, beta, ViewMut::rows(c, n));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_naive_product_with_transposes() {
        let (m, k, n) = (5, 7, 3);
        let a: Vec<f32> = (0..m * k).map(|i| (i % 11) as f32 - 5.0).collect();
        let bt: Vec<f32> = (0..n * k).map(|i| (i % 7) as f32 - 3.0).collect(); // n x k
        let mut c = vec![1.0f32; m * n];
        gemm(
            m,
            k,
            n,
            View::rows(&a, k),
            View::transposed(&bt, k),
            2.0,
            &mut c,
        );
        // Small integer inputs: every product and partial sum is exact in float32.
        for i in 0..m {
            for j in 0..n {
                let want: f32 = (0..k).map(|p| a[i * k + p] * bt[j * k + p]).sum::<f32>() + 2.0;
                assert_eq!(c[i * n + j], want);
            }
        }
    }

    #[test]
    #[should_panic(expected = "too small")]
    fn rejects_an_operand_shorter_than_its_shape() {
        let a = [0.0f32; 5];
        let mut c = [0.0f32; 4];
        gemm(2, 3, 2, View::rows(&a, 3), View::rows(&a, 2), 0.0, &mut c);
    }
}
