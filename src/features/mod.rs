//! Unsupervised single-layer features on labelled images, after Coates, Lee and Ng
//! ("An analysis of single-layer networks in unsupervised feature learning", AISTATS 2011)
//! and Coates and Ng ("The importance of encoding versus training with sparse coding and
//! vector quantization", ICML 2011): a dictionary learned without labels from whitened
//! windows, an encoder applied to every window of an image, four-quadrant sum pooling, and
//! a linear classifier on the standardised pooled features.
//!
//! The pieces: [`params`] (the checked settings), [`whiten`] (windows, brightness and
//! contrast normalisation, ZCA), [`encode`] (the encoders as one GEMM per image batch),
//! [`pool`] (quadrant pooling), [`classifier`] (L2-SVM and logistic regression by L-BFGS),
//! [`bank`] (a bank read from a file), [`pipeline`] (the job, [`pipeline::run`]) and
//! [`output`] (its files). Spherical k-means lives with the other dictionary learners in
//! [`crate::dictionary::kmeans`].

pub mod bank;
pub mod classifier;
pub mod encode;
pub mod output;
pub mod params;
pub mod pipeline;
pub mod pool;
pub mod whiten;

pub use params::{
    BankSpace, ClassifierKind, DictionaryKind, EncoderKind, FeaturesParams, Solver,
    ValidFeaturesParams,
};
pub use pipeline::{FeaturesRun, GivenBank, run};
