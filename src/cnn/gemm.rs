//! The matrix product of the linear layers, and of the convolutions where the implicit-GEMM
//! kernels of [`super::direct`] do not apply (CPUs without AVX-512, the input gradient of a
//! strided convolution): single-precision GEMM on `matrixmultiply` with explicit strides, so
//! transposed operands cost no copy. Chosen by measurement over the `gemm` crate and
//! nalgebra's products (see the README's performance section); it runs single-threaded here
//! because the engine parallelises over batch chunks.

/// A row-major view of a matrix operand: `data[i * row_stride + j * col_stride]` is (i, j).
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

    fn fits(&self, rows: usize, cols: usize) -> bool {
        rows == 0
            || cols == 0
            || (rows - 1) * self.row_stride + (cols - 1) * self.col_stride < self.data.len()
    }
}

/// C (m x n, row-major, contiguous) = A (m x k) * B (k x n) + beta * C.
pub fn gemm(m: usize, k: usize, n: usize, a: View, b: View, beta: f32, c: &mut [f32]) {
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
    // SAFETY: the asserts above bound every index the kernel touches inside the slices.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.data.as_ptr(),
            a.row_stride as isize,
            a.col_stride as isize,
            b.data.as_ptr(),
            b.row_stride as isize,
            b.col_stride as isize,
            beta,
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
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
        for i in 0..m {
            for j in 0..n {
                let want: f32 = (0..k).map(|p| a[i * k + p] * bt[j * k + p]).sum::<f32>() + 2.0;
                assert_eq!(c[i * n + j], want);
            }
        }
    }
}
