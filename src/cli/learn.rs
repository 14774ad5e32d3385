//! `simplecell learn` and `simplecell demo`: dictionary learning runs.

use super::progress::Reporter;
use crate::error::{Error, Result};
use clap::Args;

#[derive(Debug, Args)]
pub struct LearnArgs {}

#[derive(Debug, Args)]
pub struct DemoArgs {}

pub fn run(_args: LearnArgs, _reporter: &Reporter) -> Result<()> {
    Err(Error::failed("learn", "not built yet"))
}

pub fn run_demo(_args: DemoArgs, _reporter: &Reporter) -> Result<()> {
    Err(Error::failed("demo", "not built yet"))
}
