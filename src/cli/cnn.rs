//! `simplecell cnn ...` and `simplecell gabor`: the companion CNN and analytic Gabor banks.

use super::progress::Reporter;
use crate::error::{Error, Result};
use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum CnnCommand {
    /// Train a CNN and log its first-layer filters every epoch.
    Train(TrainArgs),
}

#[derive(Debug, Args)]
pub struct TrainArgs {}

#[derive(Debug, Args)]
pub struct GaborArgs {}

pub fn run(_command: CnnCommand, _reporter: &Reporter) -> Result<()> {
    Err(Error::failed("cnn", "not built yet"))
}

pub fn run_gabor(_args: GaborArgs, _reporter: &Reporter) -> Result<()> {
    Err(Error::failed("gabor", "not built yet"))
}
