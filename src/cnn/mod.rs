//! The companion CNN: layers, losses, optimisers, the training loop, and first-layer filter
//! logging.
//!
//! Hand-written layers on NHWC tensors whose heavy passes are implicit GEMMs ([`direct`],
//! with [`crate::linalg::gemm`] for linear layers and as the fallback), run over fixed batch
//! chunks in parallel ([`engine`]); [`net`] describes the network, [`init`] and [`optim`]
//! initialise and train it, [`data`] feeds it ([`input_whitening`] optionally whitens its
//! images). A run is [`params`] checked, then [`train`]
//! (the loop), which logs every epoch ([`log`], with the numbers of [`measure`] and
//! [`filters`]) and keeps a [`checkpoint`]; [`eval`] and [`visualize`] read a finished run
//! back, and [`top_patches`] finds the dataset patches that most excite each unit. Each job is one call: [`train_run`], [`evaluate_run`], [`visualize_run`],
//! [`top_patches_run`].

pub mod checkpoint;
pub mod data;
pub mod direct;
pub mod engine;
pub mod eval;
pub mod filters;
pub mod init;
pub mod input_whitening;
pub mod kernels;
pub mod log;
pub mod loss;
pub mod measure;
pub mod net;
pub mod optim;
pub mod params;
pub mod penultimate;
pub mod top_patches;
pub mod train;
pub mod visualize;

pub use eval::{EvalParams, Evaluation, Split, evaluate_run};
pub use params::{Choice, TrainParams, ValidTrainParams};
pub use top_patches::{TopPatchParams, ValidTopPatchParams, top_patches_run};
pub use train::{Start, TrainSummary, train_run};
pub use visualize::{AscentParams, ConvLayer, ValidAscentParams, Visualization, visualize_run};
