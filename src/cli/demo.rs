//! `simplecell demo`: [`crate::demo::demo`] on the built-in photographs, with progress bars
//! on a terminal and one closing line on stdout: the fraction of Gabor-like atoms, their
//! median peak frequency and the time taken.

use super::flags::{FlagNames, WithFlags};
use super::progress::Reporter;
use crate::demo::{DemoParams, GABOR_R2};
use crate::error::Result;
use clap::Args;
use std::path::PathBuf;

/// Fields of [`DemoParams`] whose flag is not their name.
const FLAGS: FlagNames = &[("patches", "--count")];

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Output folder [default: results/demo].
    #[arg(
        hide_default_value = true,
        long,
        value_name = "DIR",
        default_value = "results/demo"
    )]
    pub out: PathBuf,
    /// Patches extracted from the built-in photographs [range 1000..=10000000].
    #[arg(long, default_value_t = 200_000, value_name = "N")]
    pub count: usize,
    /// Passes of the learner over the patches [range (0, 100]].
    #[arg(long, default_value_t = 3.0, value_name = "E")]
    pub epochs: f64,
    /// Seed of the extraction and the learning [range 0..=2^64-1].
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Overwrite an earlier demo's outputs.
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: DemoArgs, reporter: &Reporter) -> Result<()> {
    let params = DemoParams {
        patches: args.count,
        epochs: args.epochs,
        seed: args.seed,
    }
    .check()
    .flags(FLAGS)?;
    crate::interrupt::install();
    let bars = Reporter::transient(reporter.is_quiet());
    let s = crate::demo::demo(&params, &args.out, args.force, &bars).flags(FLAGS)?;
    println!(
        "demo: {:.0}% of {} atoms fit a Gabor with R^2 >= {GABOR_R2}, median peak frequency \
         {:.3} cycles/pixel, {:.1} s; wrote {} and {}/",
        100.0 * s.gabor_fraction,
        s.atoms,
        s.median_peak_frequency,
        s.seconds,
        s.run.folder.png().display(),
        s.analysis.display()
    );
    Ok(())
}
