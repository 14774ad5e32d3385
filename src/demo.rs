//! The README's first command as one call: whitened 12x12 patches from the built-in Kodak
//! photographs, a 144-atom dictionary learned with the online rule (lambda 1.0, about 5%
//! nonzero codes) for a few epochs, and the analysis of the atoms (Gabor fits, spectra),
//! all written into one folder. The summary is the headline of the project in numbers: the
//! fraction of atoms that fit a Gabor with R^2 >= 0.7 and their median peak frequency.

use crate::analysis::jobs::{AnalyzeParams, FILTER_OUTPUTS, analyze_filters};
use crate::dictionary::{FolderRun, LearnParams, RunEnd, RunFolder, RunIntervals, StopRule};
use crate::error::Result;
use crate::io::atomic;
use crate::observer::Progress;
use crate::params::{Params, Valid, ensure};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The Gabor-fit R^2 an atom needs to count as Gabor-like in the summary.
pub const GABOR_R2: f64 = 0.7;

/// The demo's sizes. `Default` is the README's run: 200,000 patches, 3 epochs, seed 0.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoParams {
    /// Patches extracted from the built-in photographs, 1,000..=10,000,000 (default 200,000).
    pub patches: usize,
    /// Passes over the patches, (0, 100] (default 3: the atoms' Gabor fraction stops
    /// rising after about 2 on the default size; see README).
    pub epochs: f64,
    /// Seed of the extraction and the learning (default 0).
    pub seed: u64,
}

impl Default for DemoParams {
    fn default() -> Self {
        Self {
            patches: 200_000,
            epochs: 3.0,
            seed: 0,
        }
    }
}

impl Params for DemoParams {
    fn validate(&mut self) -> Result<()> {
        ensure(
            (1_000..=10_000_000).contains(&self.patches),
            "patches",
            self.patches,
            "must be in 1000..=10000000",
        )?;
        ensure(
            self.epochs > 0.0 && self.epochs <= 100.0,
            "epochs",
            self.epochs,
            "must be in (0, 100]",
        )
    }
}

impl DemoParams {
    /// The checked parameters (see [`crate::params`]).
    pub fn check(&self) -> Result<Valid<Self>> {
        Params::check(self)
    }
}

/// What the demo wrote and measured.
pub struct DemoSummary {
    /// The learning run (its folder names the dictionary, montage and history).
    pub run: FolderRun,
    /// The analysis folder (filters.csv, summary.csv, plots).
    pub analysis: PathBuf,
    /// Atoms analysed.
    pub atoms: usize,
    /// Fraction of atoms whose Gabor fit has R^2 >= [`GABOR_R2`].
    pub gabor_fraction: f64,
    /// Median of the atoms' peak spatial frequencies, cycles/pixel.
    pub median_peak_frequency: f64,
    /// Seconds from start to the last file written.
    pub seconds: f64,
}

/// The outputs of the demo in `out`: the patches, the run folder's files and the analysis
/// folder's files.
fn outputs(out: &Path) -> Vec<PathBuf> {
    let mut all = vec![out.join("patches.npy"), out.join("patches.json")];
    all.extend(RunFolder::new(out).outputs());
    all.extend(FILTER_OUTPUTS.iter().map(|n| out.join("analysis").join(n)));
    all
}

/// Runs the demo into `out` (refusing existing outputs unless `force`).
pub fn demo(
    params: &Valid<DemoParams>,
    out: &Path,
    force: bool,
    progress: &dyn Progress,
) -> Result<DemoSummary> {
    let started = Instant::now();
    let patches = out.join("patches.npy");
    let folder = RunFolder::new(out);
    for path in outputs(out) {
        atomic::check_output(&path, force)?;
    }
    let extract = crate::patches::ExtractParams {
        source: crate::patches::ImageSource::Photos,
        count: params.patches,
        seed: params.seed,
        ..Default::default()
    }
    .check()?;
    let learn = LearnParams {
        atoms: 144,
        lambda: 1.0,
        stop: StopRule::Epochs(params.epochs),
        validate_every: 20,
        seed: params.seed,
        ..LearnParams::default()
    }
    .check()?;
    let analyze = AnalyzeParams::default().check()?;
    let dirs = atomic::create_dirs(out)?;
    if force {
        // Start over: no earlier demo's analysis may sit beside a new, interrupted run.
        atomic::remove_outputs(&outputs(out))?;
    }
    crate::patches::extract(&extract, &patches, force, progress)?;
    let mut run = FolderRun::start(&learn, &patches, folder, force)?;
    if run.run(RunIntervals::default(), progress)? == RunEnd::Interrupted {
        return Err(crate::Error::Interrupted {
            resume: format!("simplecell learn --resume {}", out.display()),
        });
    }
    let analysis = out.join("analysis");
    let report = analyze_filters(
        &analyze,
        &run.folder.dictionary(),
        &analysis,
        force,
        progress,
    )?;
    let r2: Vec<f64> = report
        .measures
        .iter()
        .map(|m| m.gabor.as_ref().map_or(0.0, |g| g.r2))
        .collect();
    dirs.keep();
    let mut freq: Vec<f64> = report.measures.iter().map(|m| m.peak_frequency).collect();
    freq.sort_by(f64::total_cmp);
    Ok(DemoSummary {
        run,
        analysis,
        atoms: r2.len(),
        gabor_fraction: r2.iter().filter(|&&r| r >= GABOR_R2).count() as f64 / r2.len() as f64,
        median_peak_frequency: median_sorted(&freq),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The median of sorted values (mean of the middle two for an even count).
fn median_sorted(v: &[f64]) -> f64 {
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => 0.5 * (v[n / 2 - 1] + v[n / 2]),
    }
}
