//! Filter and code analysis: sparsity, localization, spectra, Gabor fits, bank similarity
//! and the CSV reports built from them.

pub mod sparsity;
