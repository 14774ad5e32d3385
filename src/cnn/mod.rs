//! The companion CNN: layers, losses, optimisers, the training loop, and first-layer filter
//! logging.
//!
//! Hand-written layers on NHWC tensors whose heavy passes are implicit GEMMs ([`direct`],
//! with [`crate::linalg::gemm`] for linear layers and as the fallback), run over
//! fixed batch chunks in parallel ([`engine`]); [`net`] describes the network, [`init`] and
//! [`optim`] initialise and train it, [`data`] feeds it, [`train`] runs and logs a whole run,
//! [`visualize`] finds each unit's preferred input by gradient ascent.

pub mod data;
pub mod direct;
pub mod engine;
pub mod filters;
pub mod init;
pub mod kernels;
pub mod loss;
pub mod net;
pub mod optim;
pub mod train;
pub mod visualize;
