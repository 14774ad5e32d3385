//! The whole pipeline through the library, no command line: whitened patches from the
//! built-in dead-leaves images, a dictionary learned from them, and its per-filter report.
//! `cargo run --release --example pipeline`; tests/example_pipeline.rs runs it too.

use simplecell::analysis::jobs::{AnalyzeParams, analyze_filters};
use simplecell::dictionary::{FolderRun, LearnParams, RunFolder, RunIntervals, StopRule};
use simplecell::observer::Silent;
use simplecell::patches::{ExtractParams, ImageSource, extract};

pub fn main() -> simplecell::Result<()> {
    let dir = std::env::temp_dir().join(format!("simplecell-pipeline-{}", std::process::id()));
    let patches = dir.join("patches.npy");
    let source = ImageSource::BuiltIn {
        images: 4,
        size: 128,
    };
    let extraction = ExtractParams {
        source,
        patch_size: 8,
        count: 6000,
        ..Default::default()
    };
    extract(&extraction.check()?, &patches, true, &Silent)?;

    let learning = LearnParams {
        atoms: 32,
        lambda: 0.5,
        stop: StopRule::Epochs(2.0),
        ..Default::default()
    };
    let mut run = FolderRun::start(
        &learning.check()?,
        &patches,
        RunFolder::new(dir.join("run")),
        true,
    )?;
    run.run(RunIntervals::default(), &Silent)?;

    let analysis = AnalyzeParams::default().check()?;
    let report = analyze_filters(
        &analysis,
        &run.folder.dictionary(),
        &dir.join("report"),
        true,
        &Silent,
    )?;
    let fitted = report
        .measures
        .iter()
        .filter(|m| m.gabor.is_some_and(|g| g.r2 >= 0.5))
        .count();
    let last = run
        .learner
        .history()
        .last()
        .expect("a finished run has a history row");
    println!(
        "{} atoms, held-out objective {:.4}, {:.1}% nonzero codes; {fitted} fit a Gabor with R^2 >= 0.5",
        report.planes,
        last.validation_objective.unwrap_or(f64::NAN),
        100.0 * last.nonzero_fraction
    );
    std::fs::remove_dir_all(&dir).map_err(|source| simplecell::Error::Write { path: dir, source })
}
