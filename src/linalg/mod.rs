//! The shared numeric kernels, each written once: the strided matrix product over its two
//! backends ([`gemm`]), the 2-D FFT ([`fft`]), power iteration ([`power`]), Cholesky
//! ([`cholesky`]), bilinear resampling ([`resample`]), normalisation ([`normalise`]) and the
//! CPU-feature dispatch the hand-vectorised kernels share ([`dispatch`]).
//!
//! Where two callers' arithmetic differs (summation order, precision, backend), the kernel
//! takes that difference as a parameter, so every caller keeps its results bit for bit.
//! These are internals: their signatures may change without notice.

pub mod cholesky;
pub mod dispatch;
pub mod fft;
pub mod gemm;
pub mod normalise;
pub mod power;
pub mod resample;

pub use gemm::{Backend, View, ViewMut, gemm, gemm_nn, gemm_nt};
