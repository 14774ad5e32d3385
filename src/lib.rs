//! simplecell: a sparse coding and dictionary learning workbench.
//!
//! It extracts whitened patches from natural images, learns Olshausen-Field dictionaries
//! with ISTA/FISTA and a dictionary-update loop, trains a small CNN whose first-layer
//! filters are logged, and measures how sparse, localized and alike the two filter sets are.
//!
//! # The matrix convention
//!
//! In memory, every matrix is a column-major `nalgebra::DMatrix<f32>`:
//!
//! | object        | shape in memory      | shape on disk (`.npy`, row-major) |
//! |---------------|----------------------|-----------------------------------|
//! | patch set X   | pixels x patches     | (patches, pixels)                 |
//! | dictionary D  | pixels x atoms       | (atoms, pixels)                   |
//! | codes A       | atoms x patches      | (patches, atoms)                  |
//!
//! The bytes are the same in both views, so loading a file costs no transpose, and a NumPy
//! user gets scikit-learn's `components_` layout from `np.load`. CNN filter banks are
//! (filters, channels, k, k) on disk, PyTorch's layout.
//!
//! The sparse coding objective, per patch, is `0.5 * ||x - D a||^2 + lambda * ||a||_1` with
//! unit-norm atoms; scikit-learn's `alpha` and SPAMS's `lambda1` (mode 2) are this lambda.
//!
//! The library never prints: long work reports through [`observer::Progress`].
//!
//! # Where to start
//!
//! Every job is one call taking checked parameters: build the params type from `Default`,
//! [`Params::check`] it, and pass the [`Valid`] result (see [`params`]). Errors name the
//! field and value ([`Error::Param`]), or the file.
//!
//! | job | parameters | call |
//! |---|---|---|
//! | images -> patch file | [`patches::ExtractParams`] | [`patches::extract`] |
//! | patches -> dictionary in a folder | [`dictionary::LearnParams`] | [`dictionary::FolderRun`] (`start` or `resume`, then `run`) |
//! | patches in memory -> dictionary | [`dictionary::LearnParams`] | [`dictionary::Learner`] (`new`, then `run` or `run_with` hooks) |
//! | patch file -> codes file | [`coding::stream::EncodeParams`] | [`coding::stream::encode_file`] |
//! | matrices -> codes | [`coding::CodingParams`] | [`coding::Coder`]`::build().encode` |
//! | bank -> report folder | [`analysis::jobs::AnalyzeParams`] | [`analysis::jobs::analyze_filters`], [`analysis::jobs::analyze_codes`] |
//! | two banks -> comparison | [`analysis::jobs::CompareParams`] | [`analysis::jobs::compare_banks`] |
//! | analytic Gabor bank | [`analysis::gabor_bank::GaborBankParams`] | [`analysis::gabor_bank::gabor_bank`], [`analysis::gabor_bank::write_gabor_bank`] |
//! | bank -> PNG | [`viz::montage::MontageOptions`] | [`viz::montage::montage_file`] |
//! | the README's demo | [`demo::DemoParams`] | [`demo::demo`] |
//!
//! `examples/pipeline.rs` chains extract, learn and analyze in about 30 lines. Filter banks
//! are [`Bank`]; outputs carry a typed provenance sidecar ([`io::sidecar::Provenance`]);
//! long runs save [`io::checkpoint`] containers.
//!
//! # Stability
//!
//! The jobs above, their parameter and result types, [`Bank`], [`io`], [`observer`] and
//! [`error`] are the API. The kernels and workspaces (`linalg`, `coding::batch`,
//! `cnn::engine`, `cnn::direct`, `cnn::kernels`) are public
//! for the benchmarks and may change without notice; [`cli`] is the binary's and not an API.

pub mod analysis;
pub mod bank;
pub mod cli;
pub mod cnn;
pub mod coding;
pub mod demo;
pub mod dictionary;
pub mod distributed;
pub mod error;
pub mod features;
pub mod interrupt;
pub mod io;
pub mod linalg;
pub mod observer;
pub mod params;
pub mod patches;
pub mod study;
pub mod viz;

pub use bank::Bank;
pub use error::{Error, Result};
pub use params::{Params, Valid};
