//! `simplecell gabor`: writes an analytic Gabor filter bank as `.npy`, for `cnn train
//! --conv1-init` and as a reference bank for `compare`.

use super::progress::Reporter;
use crate::error::{Error, Result};
use clap::Args;

#[derive(Debug, Args)]
pub struct GaborArgs {}

pub fn run(_args: GaborArgs, _reporter: &Reporter) -> Result<()> {
    Err(Error::failed("gabor", "not built yet"))
}
