//! Stage 1 of a study, the unsupervised reference: whitened patches at the CNN's kernel
//! size, a dictionary learned from them, and two banks of the same size and count, analytic
//! Gabors and random filters. Each piece is skipped when it is already complete, so a
//! resumed study redoes nothing; an interrupted dictionary continues from its checkpoint.

use super::layout;
use super::params::{StudyInputs, ValidStudyParams};
use crate::analysis::{self, gabor_bank::GaborBankParams};
use crate::dictionary::{FolderRun, LearnParams, RunEnd, RunFolder, RunIntervals, StopRule};
use crate::error::Result;
use crate::io::{atomic, npy, sidecar};
use crate::observer::Progress;
use crate::patches::{ExtractParams, ImageSource};
use crate::viz::montage::{self, Bank, MontageOptions};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use std::path::Path;
use std::time::Duration;

/// How often the dictionary run saves its checkpoint and montage.
const LEARN_SAVE_EVERY: Duration = Duration::from_secs(5 * 60);

/// Writes the reference into `out`'s `reference/` folder.
pub fn build(
    out: &Path,
    inputs: &StudyInputs,
    c: &ValidStudyParams,
    progress: &dyn Progress,
) -> Result<()> {
    let dir = out.join(layout::REFERENCE);
    atomic::ensure_dir(&dir)?;
    let patches = out.join(layout::PATCHES);
    if !(patches.exists() && sidecar::path_for(&patches).exists()) {
        progress.note(&format!(
            "study: extracting {} whitened {k}x{k} patches",
            c.patches,
            k = c.kernel
        ));
        let extract = ExtractParams {
            source: match &inputs.images {
                Some(d) => ImageSource::Folder(d.clone()),
                None => ExtractParams::default().source,
            },
            patch_size: c.kernel,
            count: c.patches,
            seed: c.seed,
            ..Default::default()
        }
        .check()?;
        crate::patches::extract(&extract, &patches, true, progress)?;
    }
    super::run::stop_if_asked(out)?;
    if !sidecar::path_for(&out.join(layout::DICTIONARY)).exists() {
        progress.note(&format!(
            "study: learning {} atoms (lambda {})",
            c.filters, c.lambda
        ));
        learn_dictionary(out, &patches, &dir, c, progress)?;
    }
    write_bank(
        out,
        layout::GABOR,
        &gabor_bank(c.filters, c.kernel)?,
        c.filters,
        c.kernel,
    )?;
    write_bank(
        out,
        layout::RANDOM,
        &random_bank(c.filters, c.kernel, c.seed),
        c.filters,
        c.kernel,
    )
}

/// Learns the dictionary into `dir` with the online rule at its defaults, or continues it
/// from the checkpoint an interrupted study left there.
fn learn_dictionary(
    out: &Path,
    patches: &Path,
    dir: &Path,
    c: &ValidStudyParams,
    progress: &dyn Progress,
) -> Result<()> {
    let folder = RunFolder::new(dir);
    let mut run = if folder.checkpoint().exists() {
        FolderRun::resume(folder, None, None)?
    } else {
        let params = LearnParams {
            atoms: c.filters,
            lambda: c.lambda,
            stop: StopRule::Epochs(c.learn_epochs),
            seed: c.seed,
            ..LearnParams::default()
        }
        .check()?;
        FolderRun::start(&params, patches, folder, true)?
    };
    let every = RunIntervals {
        checkpoint_every: LEARN_SAVE_EVERY,
        montage_every: LEARN_SAVE_EVERY,
    };
    match run.run(every, progress)? {
        RunEnd::Finished => Ok(()),
        RunEnd::Interrupted => Err(super::run::interrupted(out)),
    }
}

/// The analytic bank of `count` unit-norm Gabors: orientations x 2 frequencies x 2 phases
/// (cosine and sine), orientations = count / 4 rounded up, truncated to `count`.
/// Frequencies 0.15 and 0.25 cycles/pixel bracket the dictionary's typical peak (0.22 on
/// whitened 7x7 Kodak patches); envelopes as `simplecell gabor`'s default.
fn gabor_bank(count: usize, size: usize) -> Result<Vec<f32>> {
    let params = GaborBankParams {
        size,
        orientations: count.div_ceil(4),
        frequencies: vec![0.15, 0.25],
        phases: vec![0.0, 90.0],
        count: Some(count),
        ..Default::default()
    }
    .check()?;
    Ok(analysis::gabor_bank::gabor_bank(&params)?.data.into_owned())
}

/// `count` filters of i.i.d. Gaussian values, mean removed, unit norm (the scale of the
/// other fixed banks), from the study's seed.
fn random_bank(count: usize, size: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5EED_BA4C);
    let normal = Normal::new(0.0f64, 1.0).expect("valid normal");
    let n = size * size;
    let mut out = Vec::with_capacity(count * n);
    for _ in 0..count {
        let mut v: Vec<f64> = (0..n).map(|_| normal.sample(&mut rng)).collect();
        crate::linalg::normalise::zero_mean_unit_norm(&mut v);
        out.extend(v.iter().map(|&x| x as f32));
    }
    out
}

/// Writes a bank as (count, size*size) `.npy` with a montage PNG beside it.
fn write_bank(out: &Path, rel: &str, data: &[f32], count: usize, size: usize) -> Result<()> {
    let path = out.join(rel);
    let shape = [count, size * size];
    npy::write(&path, &shape, data, true)?;
    let bank = Bank::from_shape(data, &shape, &path)?;
    montage::write_png(
        &montage::render(&bank, &MontageOptions::default()),
        &path.with_extension("png"),
        true,
    )
}
