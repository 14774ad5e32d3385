//! Filter and code analysis: sparsity, localization, spectra, Gabor fits, bank similarity
//! and the CSV reports built from them.
//!
//! The pieces, bottom up: [`planes`] turns a bank into square grey planes; [`sparsity`],
//! [`spatial`], [`spectrum`] and [`gabor`] measure one plane; [`measures`] runs them over a
//! bank in parallel; [`codes`] measures code and activation matrices; [`similarity`],
//! [`matching`] and [`stats`] serve [`compare`], which compares two banks; [`report`] turns
//! all of it into CSV tables, and [`jobs`] runs `analyze` and `compare` from files to a
//! report folder. [`gabor_bank`] builds analytic reference banks.

pub mod codes;
pub mod compare;
pub mod dropout_logistic;
pub mod gabor;
pub mod gabor_bank;
pub mod jobs;
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
