//! `simplecell gabor`: arguments -> checked [`GaborBankParams`] -> [`write_gabor_bank`]:
//! an analytic Gabor bank as `.npy` (filters, 1, k, k) with its sidecar, for `cnn train
//! --conv1-init` and as a reference bank for `compare`.

use super::flags::{FlagNames, WithFlags};
use super::progress::Reporter;
use crate::analysis::gabor_bank::{GaborBankParams, write_gabor_bank};
use crate::error::Result;
use clap::Args;
use std::path::PathBuf;

/// Fields of [`GaborBankParams`] whose flag is not their name.
const FLAGS: FlagNames = &[("frequencies/phases", "--frequencies/--phases")];

#[derive(Debug, Args)]
pub struct GaborArgs {
    /// Filter side length in pixels [default: 16; range 3..=128].
    #[arg(hide_default_value = true, long, default_value_t = 16)]
    pub size: usize,
    /// Number of orientations, evenly spaced over 0..180 degrees (wave-vector direction,
    /// counterclockwise from +x) [default: 8; range 1..=180].
    #[arg(hide_default_value = true, long, default_value_t = 8)]
    pub orientations: usize,
    /// Carrier frequencies in cycles/pixel, comma-separated [default: 0.1,0.2; each in
    /// (0, 0.5]].
    #[arg(
        hide_default_value = true,
        long,
        value_delimiter = ',',
        default_value = "0.1,0.2"
    )]
    pub frequencies: Vec<f64>,
    /// Carrier phases in degrees, comma-separated [default: 0,90; each in [0, 360)].
    #[arg(
        hide_default_value = true,
        long,
        value_delimiter = ',',
        default_value = "0,90"
    )]
    pub phases: Vec<f64>,
    /// Envelope sigma across the stripes in pixels: one value for all frequencies or one per
    /// frequency [default: 0.5/f, at most size/4 so the envelope fits the patch; each in
    /// (0, 4*size]].
    #[arg(long, value_delimiter = ',')]
    pub sigma: Option<Vec<f64>>,
    /// Envelope aspect ratio sigma_along_stripes / sigma_across [default: 1; range
    /// 0.1..=10].
    #[arg(hide_default_value = true, long, default_value_t = 1.0)]
    pub aspect: f64,
    /// Output bank (.npy); a JSON sidecar with the same stem is written beside it.
    #[arg(long, value_name = "BANK.npy")]
    pub out: PathBuf,
    /// Overwrite existing outputs.
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: GaborArgs, reporter: &Reporter) -> Result<()> {
    let params = GaborBankParams {
        size: args.size,
        orientations: args.orientations,
        frequencies: args.frequencies.clone(),
        phases: args.phases.clone(),
        sigma: args.sigma.clone(),
        aspect: args.aspect,
        count: None,
    }
    .check()
    .flags(FLAGS)?;
    let bank = write_gabor_bank(&params, &args.out, args.force).flags(FLAGS)?;
    reporter.info(&format!(
        "wrote {} ({} Gabor filters of {}x{})",
        args.out.display(),
        bank.count,
        bank.size,
        bank.size
    ));
    Ok(())
}
