//! Filter and code analysis: sparsity, localization, spectra, Gabor fits, bank similarity
//! and the CSV reports built from them.
//!
//! The pieces, bottom up: [`planes`] turns a bank into square grey planes; [`sparsity`],
//! [`spatial`], [`spectrum`] and [`gabor`] measure one plane; [`measures`] runs them over a
//! bank in parallel; [`codes`] measures code and activation matrices; [`similarity`],
//! [`matching`] and [`stats`] compare two banks; [`report`] turns all of it into CSV tables.

pub mod codes;
pub mod gabor;
pub mod matching;
pub mod measures;
pub mod planes;
pub mod report;
pub mod ridge;
pub mod similarity;
pub mod sparsity;
pub mod spatial;
pub mod spectrum;
pub mod stats;
