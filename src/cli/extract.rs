//! `simplecell extract`: images (or the built-in generator) -> patch dataset.

use super::progress::Reporter;
use crate::error::{Error, Result};
use clap::Args;

#[derive(Debug, Args)]
pub struct ExtractArgs {}

pub fn run(_args: ExtractArgs, _reporter: &Reporter) -> Result<()> {
    Err(Error::failed("extract", "not built yet"))
}
