//! The README's first command as one call: 50,000 whitened 12x12 patches from the built-in
//! dead-leaves images (extraction defaults otherwise), then one epoch of the online rule with
//! 144 atoms and lambda 1.0 (about 5% nonzero codes), writing the run's outputs and the
//! patches into one folder.

use crate::dictionary::{FolderRun, LearnParams, RunEnd, RunFolder, RunIntervals, StopRule};
use crate::error::Result;
use crate::io::atomic;
use crate::observer::Progress;
use std::path::Path;

/// Runs the demo into `out` (refusing existing outputs unless `force`).
pub fn demo(out: &Path, force: bool, progress: &dyn Progress) -> Result<FolderRun> {
    let patches = out.join("patches.npy");
    let folder = RunFolder::new(out);
    atomic::check_output(&patches, force)?;
    folder.check_outputs(force)?;
    atomic::ensure_dir(out)?;
    let extract = crate::patches::ExtractParams {
        count: 50_000,
        ..Default::default()
    }
    .check()?;
    crate::patches::extract(&extract, &patches, force, progress)?;
    let params = LearnParams {
        atoms: 144,
        lambda: 1.0,
        stop: StopRule::Epochs(1.0),
        validate_every: 20,
        ..LearnParams::default()
    }
    .check()?;
    let mut run = FolderRun::start(&params, &patches, folder, force)?;
    let every = RunIntervals::default();
    if run.run(every, progress)? == RunEnd::Interrupted {
        return Err(crate::Error::Interrupted {
            resume: format!("simplecell learn --resume {}", out.display()),
        });
    }
    Ok(run)
}
