//! `simplecell analyze` and `simplecell compare`: arguments -> checked [`AnalyzeParams`] or
//! [`CompareParams`] -> one call of [`crate::analysis::jobs`] -> a summary line.

use super::flags::{FlagNames, WithFlags};
use super::progress::Reporter;
use crate::analysis::gabor::FitOptions;
use crate::analysis::jobs::{
    AnalyzeParams, CompareParams, analyze_codes, analyze_filters, compare_banks,
};
use crate::error::{Error, Result};
use clap::Args;
use std::path::PathBuf;

/// Fields whose flag is not their name.
const FLAGS: FlagNames = &[
    ("random_starts", "--gabor-random-starts"),
    ("max_iterations", "--gabor-max-iterations"),
];

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Filter bank: (atoms, size*size) or (filters, channels, k, k). One of --filters or
    /// --codes is required.
    #[arg(
        long,
        value_name = "F.npy",
        conflicts_with = "codes",
        required_unless_present = "codes"
    )]
    pub filters: Option<PathBuf>,
    /// Code or activation matrix (samples, units), e.g. the codes `encode` writes.
    #[arg(long, value_name = "A.npy")]
    pub codes: Option<PathBuf>,
    /// Output folder (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Analyse each channel of a colour bank separately instead of its luminance
    /// (BT.601 weights 0.299, 0.587, 0.114; other channel counts use the mean) [default: off].
    #[arg(long)]
    pub per_channel: bool,
    /// Seed for the Gabor fits' random starts [default: 0; any u64].
    #[arg(hide_default_value = true, long, default_value_t = 0)]
    pub seed: u64,
    /// Random starts per Gabor fit beyond the three deterministic ones [default: 2; range
    /// 0..=64].
    #[arg(hide_default_value = true, long, default_value_t = 2)]
    pub gabor_random_starts: usize,
    /// Levenberg-Marquardt iterations per start [default: 100; range 1..=10000].
    #[arg(hide_default_value = true, long, default_value_t = 100)]
    pub gabor_max_iterations: usize,
    /// Gabor fits with R^2 below this are left out of the plots [default: 0.5; range 0..=1].
    #[arg(hide_default_value = true, long, default_value_t = 0.5)]
    pub min_r2: f64,
    /// Overwrite existing outputs.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// First filter bank (rows of pairs.csv and matrix.csv).
    #[arg(long, value_name = "A.npy")]
    pub a: PathBuf,
    /// Second filter bank (columns of matrix.csv); the null baseline phase-randomises it.
    #[arg(long, value_name = "B.npy")]
    pub b: PathBuf,
    /// Output folder (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Largest shift per axis in pixels [default: a quarter of the common filter size;
    /// range 0..=size-1].
    #[arg(long)]
    pub max_shift: Option<usize>,
    /// Phase-randomised surrogate banks for the null baseline [default: 10; range 2..=1000].
    #[arg(hide_default_value = true, long, default_value_t = 10)]
    pub null_draws: usize,
    /// Seed of the surrogates and the Gabor fits [default: 0; any u64].
    #[arg(hide_default_value = true, long, default_value_t = 0)]
    pub seed: u64,
    /// Gabor fits with R^2 below this are left out of the parameter tests [default: 0.5;
    /// range 0..=1].
    #[arg(hide_default_value = true, long, default_value_t = 0.5)]
    pub min_r2: f64,
    /// Overwrite existing outputs.
    #[arg(long)]
    pub force: bool,
}

pub fn run_analyze(args: AnalyzeArgs, reporter: &Reporter) -> Result<()> {
    let params = AnalyzeParams {
        per_channel: args.per_channel,
        seed: args.seed,
        fit: FitOptions {
            random_starts: args.gabor_random_starts,
            max_iterations: args.gabor_max_iterations,
        },
        min_r2: args.min_r2,
    }
    .check()
    .flags(FLAGS)?;
    match (&args.filters, &args.codes) {
        (Some(f), None) => {
            let r = analyze_filters(&params, f, &args.out, args.force, reporter).flags(FLAGS)?;
            reporter.info(&format!(
                "analysed {} planes in {:.2} s; wrote {}",
                r.planes,
                r.seconds,
                args.out.display()
            ));
        }
        (None, Some(c)) => {
            let r = analyze_codes(c, &args.out, args.force, reporter).flags(FLAGS)?;
            reporter.info(&format!(
                "analysed codes of {} samples x {} units; wrote {}",
                r.samples,
                r.units,
                args.out.display()
            ));
        }
        _ => {
            return Err(Error::usage(
                "--filters/--codes",
                "both or neither",
                "give exactly one of --filters or --codes",
            ));
        }
    }
    Ok(())
}

pub fn run_compare(args: CompareArgs, reporter: &Reporter) -> Result<()> {
    let params = CompareParams {
        max_shift: args.max_shift,
        null_draws: args.null_draws,
        seed: args.seed,
        min_r2: args.min_r2,
    }
    .check()
    .flags(FLAGS)?;
    let c =
        compare_banks(&params, &args.a, &args.b, &args.out, args.force, reporter).flags(FLAGS)?;
    let (null_mean, null_sd, z) = c.null();
    reporter.info(&format!(
        "matched {} pairs: mean similarity {:.3} (null {:.3} +- {:.3}, z = {:.1}); wrote {}",
        c.pairs.len(),
        c.matched_mean(),
        null_mean,
        null_sd,
        z,
        args.out.display()
    ));
    Ok(())
}
