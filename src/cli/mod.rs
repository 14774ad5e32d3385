//! The command line: one binary, one subcommand per job. Each subcommand's file turns its
//! arguments into the job's checked parameters before any work starts, makes one library
//! call with a [`progress::Reporter`] for feedback, and prints a summary; [`flags`] renames
//! the library's field names to the flags in error messages.

pub mod analyze;
pub mod cnn;
pub mod demo;
pub mod encode;
pub mod extract;
pub mod features;
pub mod flags;
pub mod gabor;
pub mod learn;
pub mod montage;
pub mod progress;
pub mod study;

use crate::error::{Error, Result};
use clap::{Parser, Subcommand};

/// simplecell: sparse coding and dictionary learning on natural images, and the CNN filters
/// that look like them.
#[derive(Debug, Parser)]
#[command(name = "simplecell", version, about, long_about = None)]
pub struct Cli {
    /// Worker threads [default: all cores; range 1..=1024]. Results do not depend on it
    /// unless a command says so.
    #[arg(long, global = true, value_name = "N")]
    pub threads: Option<usize>,

    /// Print only errors and warnings (no progress bars or log lines).
    #[arg(long, short, global = true)]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process
pub enum Command {
    /// Images -> patch dataset (patches/NAME.npy + NAME.json).
    Extract(extract::ExtractArgs),
    /// Filter bank (.npy) -> PNG grid.
    Montage(montage::MontageArgs),
    /// Patches + dictionary -> sparse codes.
    Encode(encode::EncodeArgs),
    /// Patches -> learned dictionary, montage, history.
    Learn(learn::LearnArgs),
    /// The main job on the built-in photographs: extract, learn, analyze -> results/demo/.
    Demo(demo::DemoArgs),
    /// Filter bank or codes -> per-filter measures, summary CSV and plots.
    Analyze(analyze::AnalyzeArgs),
    /// Two filter banks -> matching, similarity and null baseline.
    Compare(analyze::CompareArgs),
    /// Write an analytic Gabor filter bank (.npy).
    Gabor(gabor::GaborArgs),
    /// Train, evaluate and visualise the companion CNN.
    #[command(subcommand)]
    Cnn(cnn::CnnCommand),
    /// Labelled images -> unsupervised single-layer features + linear classifier (Coates et al. 2011).
    Features(features::FeaturesArgs),
    /// The whole comparison: dictionary vs CNN first layers, sparsity, replacement, report.
    Study(study::StudyArgs),
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    if let Some(threads) = cli.threads {
        if !(1..=1024).contains(&threads) {
            return Err(Error::usage("--threads", threads, "must be in 1..=1024"));
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build_global()
            .map_err(|e| Error::failed("starting worker threads", e.to_string()))?;
    }
    // Under MPI rank 0 alone shows progress; only learn and encode share their work.
    let world = crate::distributed::world();
    if world.size() > 1 && !matches!(cli.command, Command::Learn(_) | Command::Encode(_)) {
        return Err(Error::usage(
            "mpirun -np",
            world.size(),
            "only `learn` and `encode` run as MPI jobs; run this command as one process",
        ));
    }
    let reporter = progress::Reporter::new(cli.quiet || world.rank() != 0);
    match cli.command {
        Command::Extract(a) => extract::run(a, &reporter),
        Command::Montage(a) => montage::run(a, &reporter),
        Command::Encode(a) => encode::run(a, &reporter),
        Command::Learn(a) => learn::run(a, &reporter),
        Command::Demo(a) => demo::run(a, &reporter),
        Command::Analyze(a) => analyze::run_analyze(a, &reporter),
        Command::Compare(a) => analyze::run_compare(a, &reporter),
        Command::Gabor(a) => gabor::run(a, &reporter),
        Command::Cnn(c) => cnn::run(c, &reporter),
        Command::Study(a) => study::run(a, &reporter),
        Command::Features(a) => features::run_features(a, &reporter),
    }
}
