//! Single-threaded float32 matrix products for the coders, on column-major slices.
//!
//! The coders parallelise over blocks of patches, so every product here runs on one thread
//! and a block's arithmetic never depends on the thread count. The `gemm` crate (faer's
//! kernels, with its AVX-512 path) measured faster than `matrixmultiply` and far faster than
//! nalgebra's products for the (atoms x atoms)(atoms x block) shapes that dominate FISTA.

/// The element types the products run in: float32 for the coders' inner loops, float64
/// where a certificate needs the digits (the active-set coder's `D^T x` and Gram matrix).
pub trait Element: Copy + 'static {
    const ZERO: Self;
    const ONE: Self;
}
impl Element for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
}
impl Element for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
}

/// `out (m x n) = a (m x k) * b (k x n)`, all column-major with leading dimensions m, k, m.
pub fn matmul<T: Element>(m: usize, k: usize, n: usize, a: &[T], b: &[T], out: &mut [T]) {
    assert!(a.len() >= m * k && b.len() >= k * n && out.len() >= m * n);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        out[..m * n].fill(T::ZERO);
        return;
    }
    // SAFETY: the asserts above bound every index the strides reach.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            m as isize,
            1,
            false,
            a.as_ptr(),
            m as isize,
            1,
            b.as_ptr(),
            k as isize,
            1,
            T::ZERO,
            T::ONE,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// `out (m x n) = a^T b` where `a` is (k x m) and `b` is (k x n), column-major.
pub fn matmul_tn<T: Element>(m: usize, k: usize, n: usize, a: &[T], b: &[T], out: &mut [T]) {
    assert!(a.len() >= m * k && b.len() >= k * n && out.len() >= m * n);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        out[..m * n].fill(T::ZERO);
        return;
    }
    // SAFETY: as above; a^T has column stride 1 and row stride k.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            m as isize,
            1,
            false,
            a.as_ptr(),
            1,
            k as isize,
            b.as_ptr(),
            k as isize,
            1,
            T::ZERO,
            T::ONE,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}
