//! `simplecell montage`: any filter bank (.npy, (atoms, pixels) or (filters, channels, k, k))
//! -> one PNG grid, each filter scaled symmetrically about zero.

use super::progress::Reporter;
use crate::error::{Error, Result};
use crate::io::{atomic, npy};
use crate::viz::montage::{Bank, MontageOptions, render, write_png};
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
    if args.columns > 4096 {
        return Err(Error::usage(
            "--columns",
            args.columns,
            "must be in 0..=4096",
        ));
    }
    if args.zoom > 64 {
        return Err(Error::usage("--zoom", args.zoom, "must be in 0..=64"));
    }
    if args.border > 32 {
        return Err(Error::usage("--border", args.border, "must be in 0..=32"));
    }
    atomic::check_output(&args.out, args.force)?;
    let array = npy::read(&args.filters)?;
    let bank = Bank::from_shape(&array.data, &array.shape, &args.filters)?;
    if bank.count == 0 {
        return Err(Error::bad_input(
            &args.filters,
            "shape",
            format!("{:?}", array.shape),
            "the bank has no filters",
        ));
    }
    let options = MontageOptions {
        columns: args.columns,
        zoom: args.zoom,
        border: args.border,
        order: None,
    };
    let img = render(&bank, &options);
    write_png(&img, &args.out, args.force)?;
    reporter.info(&format!(
        "wrote {} ({} filters, {}x{} pixels)",
        args.out.display(),
        bank.count,
        img.width(),
        img.height()
    ));
    Ok(())
}
