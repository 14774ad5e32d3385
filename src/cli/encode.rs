//! `simplecell encode`: patches + dictionary -> sparse codes and diagnostics.

use super::progress::Reporter;
use crate::error::{Error, Result};
use clap::Args;

#[derive(Debug, Args)]
pub struct EncodeArgs {}

pub fn run(_args: EncodeArgs, _reporter: &Reporter) -> Result<()> {
    Err(Error::failed("encode", "not built yet"))
}
