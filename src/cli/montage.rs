//! `simplecell montage`: any filter bank (.npy, (atoms, pixels) or (filters, channels, k, k))
//! -> one PNG grid, each filter scaled symmetrically about zero: arguments -> checked
//! [`MontageOptions`] -> [`montage_file`].

use super::flags::WithFlags;
use super::progress::Reporter;
use crate::error::Result;
use crate::viz::montage::{MontageOptions, montage_file};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct MontageArgs {
    /// Filter bank: (atoms, size*size) or (filters, channels, k, k), float32 or float64.
    #[arg(long, value_name = "F.npy")]
    pub filters: PathBuf,
    /// Output PNG.
    #[arg(long, value_name = "OUT.png")]
    pub out: PathBuf,
    /// Filters per row [default: 0 = near-square grid; range 0..=4096].
    #[arg(hide_default_value = true, long, default_value_t = 0)]
    pub columns: usize,
    /// Screen pixels per filter pixel [default: 0 = tiles about 48 pixels wide; range 0..=64].
    #[arg(hide_default_value = true, long, default_value_t = 0)]
    pub zoom: usize,
    /// Border between tiles in pixels [default: 1; range 0..=32].
    #[arg(hide_default_value = true, long, default_value_t = 1)]
    pub border: usize,
    /// Overwrite an existing output.
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: MontageArgs, reporter: &Reporter) -> Result<()> {
    let options = MontageOptions {
        columns: args.columns,
        zoom: args.zoom,
        border: args.border,
        ..Default::default()
    }
    .check()
    .flags(&[])?;
    let (bank, (width, height)) =
        montage_file(&options, &args.filters, &args.out, args.force).flags(&[])?;
    reporter.info(&format!(
        "wrote {} ({} filters, {width}x{height} pixels)",
        args.out.display(),
        bank.count,
    ));
    Ok(())
}
