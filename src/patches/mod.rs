//! Patch datasets from images: loading, luminance, whitening (Olshausen-Field 1/f filter or
//! ZCA), sampling with DC removal, and the built-in dead-leaves image generator.
//!
//! [`ExtractParams`] holds every parameter with its default; [`ExtractParams::check`]
//! validates it, and [`extract`] runs it, streaming patches into a `.npy` file.
//! [`PatchSource`] reads a patch file back for learning and coding.

pub mod dead_leaves;
mod extract;
mod inputs;
mod params;
pub mod sample;
mod source;
pub mod spectrum;
pub mod whiten;
mod writer;

pub use extract::{ExtractSummary, extract};
pub use params::{DEFAULT_ZCA_EPSILON, ExtractParams, ImageSource, Whitening, ZCA_FIT_PATCHES};
pub use source::PatchSource;
