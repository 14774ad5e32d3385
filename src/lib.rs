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

pub mod analysis;
pub mod cli;
pub mod cnn;
pub mod coding;
pub mod dictionary;
pub mod error;
pub mod features;
pub mod interrupt;
pub mod io;
pub mod linalg;
pub mod observer;
pub mod patches;
pub mod study;
pub mod viz;

pub use error::{Error, Result};
