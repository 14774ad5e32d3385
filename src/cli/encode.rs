//! `simplecell encode`: arguments -> checked [`EncodeParams`] -> [`encode_file`] -> a
//! summary. Ctrl-C stops between batches, removes the partial output and exits 130.

use super::flags::WithFlags;
use super::progress::Reporter;
use crate::coding::stream::{EncodeParams, encode_file};
use crate::coding::{Coder, CodingParams};
use crate::error::Result;
use crate::params::Valid;
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct EncodeArgs {
    /// Patches, (patches, pixels) float32 .npy (as `extract` writes).
    #[arg(long, value_name = "P.npy")]
    pub patches: PathBuf,
    /// Dictionary, (atoms, pixels) .npy; atoms should have unit L2 norm.
    #[arg(long, value_name = "D.npy")]
    pub dictionary: PathBuf,
    /// The l1 weight of `0.5 ||x - D a||^2 + lambda ||a||_1` (scikit-learn's alpha,
    /// SPAMS's lambda1) [required; range > 0].
    #[arg(long)]
    pub lambda: f32,
    /// Coder: cd (exact: lasso homotopy, then coordinate descent), fista (with adaptive restart) or
    /// ista [default: cd].
    #[arg(hide_default_value = true, long, default_value = "cd")]
    pub coder: String,
    /// Stop each patch when its relative duality gap is below this [default: 1e-4;
    /// range (0, 1)].
    #[arg(hide_default_value = true, long, default_value_t = 1e-4)]
    pub tol: f64,
    /// Iteration cap per patch; reaching it is reported, not an error [default: 1000;
    /// range >= 1].
    #[arg(hide_default_value = true, long, default_value_t = 1000)]
    pub max_iter: usize,
    /// Constrain codes to be non-negative [default: off].
    #[arg(long)]
    pub positive: bool,
    /// Refuse a dictionary whose atoms are not unit norm instead of normalising it with a
    /// warning [default: off].
    #[arg(long)]
    pub strict: bool,
    /// Patches read and coded per batch; bounds memory [default: 16384; range 1..=10000000].
    #[arg(hide_default_value = true, long, default_value_t = 16384)]
    pub batch: usize,
    /// Output codes, (patches, atoms) float32 .npy; the sidecar goes beside it as .json.
    #[arg(long, value_name = "CODES.npy")]
    pub out: PathBuf,
    /// Overwrite existing outputs [default: off].
    #[arg(long)]
    pub force: bool,
}

impl EncodeArgs {
    /// The checked parameters.
    pub fn params(&self) -> Result<Valid<EncodeParams>> {
        EncodeParams {
            coding: CodingParams {
                lambda: self.lambda,
                tol: self.tol,
                max_iter: self.max_iter,
                positive: self.positive,
            },
            coder: Coder::from_name(&self.coder).flags(&[])?,
            batch: self.batch,
            strict: self.strict,
        }
        .check()
        .flags(&[])
    }
}

pub fn run(args: EncodeArgs, reporter: &Reporter) -> Result<()> {
    let params = args.params()?;
    // Installed before the temporary output exists, so a Ctrl-C that finds the temporary
    // file always finds the handler too.
    crate::interrupt::install();
    let s = encode_file(
        &params,
        &args.patches,
        &args.dictionary,
        &args.out,
        args.force,
        reporter,
    )
    .flags(&[])?;
    let r = &s.report;
    let status = if r.converged {
        "all patches converged".to_string()
    } else {
        format!(
            "{:.2}% of patches reached the tolerance; raise --max-iter for the rest",
            100.0 * r.converged_fraction
        )
    };
    reporter.info(&format!(
        "encode: {} patches x {} atoms, coder {}, lambda {}, tol {:e}\n  \
         objective (mean) {:.6}   max relative gap {:.2e}   {status}\n  \
         nonzero codes {:.2}%   max iterations {}   coding {:.2} s, total {:.2} s\n  \
         wrote {} and {}",
        s.patches,
        s.atoms,
        r.coder,
        params.coding.lambda,
        params.coding.tol,
        r.objective,
        r.max_relative_gap,
        100.0 * r.nonzero_fraction,
        r.iterations,
        r.seconds,
        s.seconds,
        s.output.display(),
        s.sidecar.display()
    ));
    Ok(())
}
