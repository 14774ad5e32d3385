//! Stage 1 of a study, the unsupervised reference: whitened patches at the CNN's kernel
//! size, a dictionary learned from them, and two banks of the same size and count, analytic
//! Gabors and random filters. Each piece is skipped when it is already complete, so a
//! resumed study redoes nothing; an interrupted dictionary continues from its checkpoint.

use super::layout;
use super::params::{StudyInputs, ValidStudyParams};
use crate::analysis::gabor::GaborParams;
use crate::error::Result;
use crate::io::{atomic, npy, sidecar};
use crate::observer::Progress;
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
        let extract = crate::patches::ExtractConfig {
            source: match &inputs.images {
                Some(d) => crate::patches::ImageSource::Folder(d.clone()),
                None => crate::patches::ExtractConfig::default().source,
            },
            patch_size: c.kernel,
            count: c.patches,
            seed: c.seed,
            ..Default::default()
        };
        crate::patches::extract(&extract, &patches, true, progress)?;
    }
    super::run::stop_if_asked(out)?;
    if !sidecar::path_for(&out.join(layout::DICTIONARY)).exists() {
        progress.note(&format!(
            "study: learning {} atoms (lambda {})",
            c.filters, c.lambda
        ));
        learn_dictionary(&patches, &dir, c, progress)?;
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
    patches: &Path,
    dir: &Path,
    c: &ValidStudyParams,
    progress: &dyn Progress,
) -> Result<()> {
    use crate::cli::learn::{LearnArgs, drive, prepare};
    let fresh = LearnArgs::new(
        patches.to_path_buf(),
        c.filters,
        c.lambda,
        dir.to_path_buf(),
    );
    let args = if dir.join("checkpoint.bin").exists() {
        LearnArgs {
            resume: Some(dir.to_path_buf()),
            patches: None,
            atoms: None,
            lambda: None,
            out: None,
            ..fresh
        }
    } else {
        LearnArgs {
            epochs: Some(c.learn_epochs),
            seed: Some(c.seed),
            force: true,
            ..fresh
        }
    };
    let mut run = prepare(&args)?;
    drive(&mut run, LEARN_SAVE_EVERY, LEARN_SAVE_EVERY, progress)
}

/// A Gabor bank of `count` unit-norm filters: orientations x 2 frequencies x 2 phases
/// (cosine and sine), orientations = count / 4 rounded up, truncated to `count`.
/// Frequencies 0.15 and 0.25 cycles/pixel bracket the dictionary's typical peak (0.22 on
/// whitened 7x7 Kodak patches); envelopes as `simplecell gabor`'s default.
fn gabor_bank(count: usize, size: usize) -> Result<Vec<f32>> {
    let orientations = count.div_ceil(4);
    let mut filters = Vec::new();
    for f in [0.15f64, 0.25] {
        let sigma = (0.5 / f).min(size as f64 / 4.0);
        for o in 0..orientations {
            for phase in [0.0f64, 90.0] {
                filters.push(GaborParams {
                    x0: 0.0,
                    y0: 0.0,
                    theta: (o as f64 * 180.0 / orientations as f64).to_radians(),
                    frequency: f,
                    phase: phase.to_radians(),
                    sigma_x: sigma,
                    sigma_y: sigma,
                    amplitude: 1.0,
                });
            }
        }
    }
    filters.truncate(count);
    use crate::cli::gabor::{GaborBankConfig, render_bank};
    render_bank(&GaborBankConfig { size, filters })
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
        let mean = v.iter().sum::<f64>() / n as f64;
        v.iter_mut().for_each(|x| *x -= mean);
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        out.extend(v.iter().map(|x| (x / norm) as f32));
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
