//! `simplecell cnn ...`: train, evaluate and visualise the companion CNN.

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

pub fn run(_command: CnnCommand, _reporter: &Reporter) -> Result<()> {
    Err(Error::failed("cnn", "not built yet"))
}
