//! The matrix product of the linear layers, and of the convolutions where the implicit-GEMM
//! kernels of [`super::direct`] do not apply (CPUs without AVX-512, the input gradient of a
//! strided convolution): single-precision GEMM on `matrixmultiply` with explicit strides, so
//! transposed operands cost no copy. Chosen by measurement over the `gemm` crate and
//! nalgebra's products (see the README's performance section); it runs single-threaded here
//! because the engine parallelises over batch chunks. The product itself is the crate's
//! shared one in [`crate::linalg`]; this module keeps the engine's names for it.

pub use crate::linalg::{View, gemm};
