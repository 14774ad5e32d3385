//! `simplecell analyze` and `simplecell compare`: filter and code reports.

use super::progress::Reporter;
use crate::error::{Error, Result};
use clap::Args;

#[derive(Debug, Args)]
pub struct AnalyzeArgs {}

#[derive(Debug, Args)]
pub struct CompareArgs {}

pub fn run_analyze(_args: AnalyzeArgs, _reporter: &Reporter) -> Result<()> {
    Err(Error::failed("analyze", "not built yet"))
}

pub fn run_compare(_args: CompareArgs, _reporter: &Reporter) -> Result<()> {
    Err(Error::failed("compare", "not built yet"))
}
