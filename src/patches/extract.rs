//! The extraction pipeline, in its order:
//!
//! 1. [`prepare_outputs`]: every output is checked and its temporary file created before any
//!    work, so a refusal or an unwritable folder costs nothing and leaves nothing behind.
//! 2. [`super::inputs`]: every input image is decoded once to validate it and hashed; only
//!    then are the per-image quotas fixed (in proportion to each image's valid positions).
//! 3. Under ZCA, [`fit_zca`]: a first pass draws the same patches the writing pass will and
//!    estimates their covariance.
//! 4. [`super::writer`]: images are processed one at a time and their patches streamed into
//!    the `.npy`, so memory holds one image and a few blocks of patches.
//! 5. The optional per-image CSV table and the sidecar ([`ExtractRecord`]).
//!
//! Patches are grouped by image in the file (images in path order); learners should draw
//! random minibatches rather than read the file in order.

use super::inputs::{self, LOG_OFFSET, Source};
use super::sample::{self, SampleSpec};
use super::whiten::{self, CovarianceAccumulator, Zca};
use super::writer::{self, FinalStats};
use super::{ExtractParams, ImageSource, Whitening, ZCA_FIT_PATCHES, dead_leaves};
use crate::error::{Error, Result};
use crate::io::atomic::{self, AtomicFile};
use crate::io::sidecar::{self, Provenance};
use crate::io::{npy, table};
use crate::observer::Progress;
use crate::params::Valid;
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What an extraction produced.
#[derive(Debug, Clone)]
pub struct ExtractSummary {
    pub output: PathBuf,
    pub sidecar: PathBuf,
    pub csv: Option<PathBuf>,
    /// (count, patch_size^2), the `.npy` shape.
    pub shape: [usize; 2],
    pub images_used: usize,
    pub images_skipped: usize,
    /// Draws rejected by `min_std`.
    pub rejected: usize,
    /// Mean, standard deviation and excess kurtosis of all written values.
    pub mean: f64,
    pub std: f64,
    pub excess_kurtosis: f64,
    pub seconds: f64,
}

/// The temporary files of every output, opened before any work.
struct Outputs {
    npy: AtomicFile,
    sidecar_path: PathBuf,
    /// Held only to prove the folder is writable; the table is written at the end.
    sidecar_probe: AtomicFile,
    csv_probe: Option<AtomicFile>,
}

/// Runs `params`, writing `out` (the `.npy`), its sidecar and, if asked, the CSV table.
/// Existing outputs are refused unless `force`. Progress goes to `progress`.
pub fn extract(
    params: &Valid<ExtractParams>,
    out: &Path,
    force: bool,
    progress: &dyn Progress,
) -> Result<ExtractSummary> {
    let started = Instant::now();
    let config: &ExtractParams = params;
    let mut outputs = prepare_outputs(config, out, force)?;

    let t_check = Instant::now();
    let (sources, skipped) = inputs::gather_sources(config, progress)?;
    let check_seconds = t_check.elapsed().as_secs_f64();
    let quotas = quotas(config, &sources);
    let zca = match config.whitening {
        Whitening::Zca { epsilon } => Some(fit_zca(config, &sources, &quotas, epsilon, progress)?),
        _ => None,
    };

    let shape = [config.count, config.patch_size * config.patch_size];
    let header = npy::header_bytes(&shape);
    outputs
        .npy
        .writer()
        .write_all(&header)
        .map_err(|e| outputs.npy.write_error(e))?;
    let written = writer::write_patches(
        config,
        &sources,
        &quotas,
        zca.as_ref(),
        &mut outputs.npy,
        progress,
    )?;
    let t_commit = Instant::now();
    outputs.npy.commit()?;
    let commit_seconds = t_commit.elapsed().as_secs_f64();
    let p = config.patch_size;
    progress.finish(&format!("{} patches of {p}x{p}", config.count));

    if let Some(path) = &config.csv {
        drop(outputs.csv_probe);
        write_table(path, &sources, &quotas, &written.rejected, force)?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let total_rejected: usize = written.rejected.iter().sum();
    let record = ExtractRecord {
        output: OutputRecord {
            path: out.display().to_string(),
            shape,
            dtype: "<f4",
            layout: "row-major (patches, pixels); each row is one patch, row-major",
        },
        parameters: ParametersRecord::new(config),
        seed: config.seed,
        inputs: sources
            .iter()
            .enumerate()
            .map(|(k, s)| InputRecord {
                source: &s.label,
                path: s.path.as_ref().map(|p| p.display().to_string()),
                width: s.width,
                height: s.height,
                bytes: s.bytes,
                sha256: s.sha256.as_deref(),
                generator_seed: s.seed,
                patches: quotas[k],
                rejected: written.rejected[k],
            })
            .collect(),
        skipped: skipped
            .iter()
            .map(|(p, why)| SkippedRecord {
                path: p.display().to_string(),
                reason: why,
            })
            .collect(),
        zca: zca.as_ref().map(|z| ZcaRecord {
            epsilon_absolute: z.epsilon,
            eigenvalue_max: z.eigenvalues.first().copied(),
            eigenvalue_min: z.eigenvalues.last().copied(),
            fit_patches: zca_stride(config.count).1,
        }),
        timings_seconds: Timings {
            check_inputs: check_seconds,
            load_and_whiten: written.preprocess_seconds,
            sample_and_write: written.sample_seconds,
            commit: commit_seconds,
            total: seconds,
        },
        statistics: Statistics::new(&written.stats, total_rejected),
    };
    drop(outputs.sidecar_probe);
    Provenance::new("extract", record).write(&outputs.sidecar_path, force)?;

    Ok(ExtractSummary {
        output: out.to_path_buf(),
        sidecar: outputs.sidecar_path,
        csv: config.csv.clone(),
        shape,
        images_used: sources.len(),
        images_skipped: skipped.len(),
        rejected: total_rejected,
        mean: written.stats.mean,
        std: written.stats.std,
        excess_kurtosis: written.stats.excess_kurtosis,
        seconds,
    })
}

/// Checks every output and opens its temporary file, which proves the folders writable.
fn prepare_outputs(config: &ExtractParams, out: &Path, force: bool) -> Result<Outputs> {
    let sidecar_path = sidecar::path_for(out);
    if sidecar_path == out {
        return Err(Error::param(
            "out",
            out.display(),
            "must not end in .json (the sidecar takes that name)",
        ));
    }
    for path in std::iter::once(out)
        .chain(std::iter::once(sidecar_path.as_path()))
        .chain(config.csv.as_deref())
    {
        atomic::check_output(path, force)?;
    }
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        atomic::ensure_dir(dir)?;
    }
    Ok(Outputs {
        npy: AtomicFile::create(out, force)?,
        sidecar_probe: AtomicFile::create(&sidecar_path, force)?,
        sidecar_path,
        csv_probe: match &config.csv {
            Some(p) => Some(AtomicFile::create(p, force)?),
            None => None,
        },
    })
}

/// Patches per image, in proportion to its number of valid positions.
fn quotas(config: &ExtractParams, sources: &[Source]) -> Vec<usize> {
    let p = config.patch_size;
    let weights: Vec<u64> = sources
        .iter()
        .map(|s| {
            let (nx, ny) = sample::valid_positions(s.width, s.height, p, config.margin);
            (nx * ny) as u64
        })
        .collect();
    sample::quotas(&weights, config.count)
}

/// The per-image CSV table.
fn write_table(
    path: &Path,
    sources: &[Source],
    quotas: &[usize],
    rejected: &[usize],
    force: bool,
) -> Result<()> {
    let mut t = table::Table::new(&[
        "index", "source", "width", "height", "sha256", "patches", "rejected",
    ]);
    for (k, s) in sources.iter().enumerate() {
        t.push(vec![
            k.to_string(),
            s.label.clone(),
            s.width.to_string(),
            s.height.to_string(),
            s.sha256.clone().unwrap_or_default(),
            quotas[k].to_string(),
            rejected[k].to_string(),
        ]);
    }
    t.write(path, force)
}

/// (stride, number of patches) used to fit the ZCA covariance: every stride-th patch.
fn zca_stride(count: usize) -> (usize, usize) {
    let stride = count.div_ceil(ZCA_FIT_PATCHES).max(1);
    (stride, count.div_ceil(stride))
}

/// First ZCA pass: draw the same patches the writing pass will draw, and accumulate the
/// covariance of every stride-th one.
fn fit_zca(
    config: &ExtractParams,
    sources: &[Source],
    quotas: &[usize],
    epsilon: f64,
    progress: &dyn Progress,
) -> Result<Zca> {
    let dim = config.patch_size * config.patch_size;
    let (stride, _) = zca_stride(config.count);
    let mut acc = CovarianceAccumulator::new(dim);
    let mut index = 0usize;
    let mut buf = Vec::with_capacity(dim);
    let mut centred = vec![0.0f32; dim];
    progress.start("ZCA covariance", Some(config.count as u64));
    for (k, source) in sources.iter().enumerate() {
        let img = inputs::load_preprocessed(config, source)?;
        let spec = SampleSpec {
            patch: config.patch_size,
            margin: config.margin,
            quota: quotas[k],
            min_std: config.min_std,
        };
        let mut rng = sample::image_rng(config.seed, k);
        sample::sample_image(&img, &spec, &mut rng, &source.label, &mut buf, |patch| {
            if index.is_multiple_of(stride) {
                centred.copy_from_slice(patch);
                if config.dc_removal {
                    sample::remove_dc(&mut centred, dim);
                }
                acc.add(&centred);
            }
            index += 1;
            Ok(())
        })?;
        progress.advance(index as u64, &source.label);
    }
    progress.finish(&format!("{} patches", acc.count()));
    let (mean, cov) = acc.finish();
    Ok(Zca::fit(&mean, cov, epsilon))
}

/// The sidecar of a patch file.
#[derive(Serialize)]
struct ExtractRecord<'a> {
    output: OutputRecord,
    parameters: ParametersRecord,
    seed: u64,
    inputs: Vec<InputRecord<'a>>,
    skipped: Vec<SkippedRecord<'a>>,
    /// Present under ZCA whitening only.
    #[serde(skip_serializing_if = "Option::is_none")]
    zca: Option<ZcaRecord>,
    timings_seconds: Timings,
    statistics: Statistics,
}

#[derive(Serialize)]
struct OutputRecord {
    path: String,
    shape: [usize; 2],
    dtype: &'static str,
    layout: &'static str,
}

/// Every parameter, with the constants of the method.
#[derive(Serialize)]
struct ParametersRecord {
    source: SourceRecord,
    patch_size: usize,
    count: usize,
    seed: u64,
    whiten: &'static str,
    f0_cycles_per_pixel: Option<f64>,
    zca_epsilon_relative: Option<f64>,
    log: bool,
    log_offset: f32,
    dc_removal: bool,
    margin: usize,
    min_std: f32,
    strict: bool,
    luminance: &'static str,
    of_padding: usize,
    of_image_variance: Option<f64>,
}

#[derive(Serialize)]
#[serde(tag = "kind")]
enum SourceRecord {
    #[serde(rename = "dead_leaves")]
    DeadLeaves {
        images: usize,
        size: usize,
        radius_density: &'static str,
        radius_min: f64,
        radius_max: f64,
    },
    #[serde(rename = "folder")]
    Folder { images: String },
}

impl ParametersRecord {
    fn new(config: &ExtractParams) -> Self {
        let (f0, eps) = match config.whitening {
            Whitening::Of { f0 } => (Some(f0), None),
            Whitening::Zca { epsilon } => (None, Some(epsilon)),
            Whitening::None => (None, None),
        };
        Self {
            source: match &config.source {
                ImageSource::BuiltIn { images, size } => SourceRecord::DeadLeaves {
                    images: *images,
                    size: *size,
                    radius_density: "r^-3",
                    radius_min: dead_leaves::R_MIN,
                    radius_max: *size as f64 / 2.0,
                },
                ImageSource::Folder(dir) => SourceRecord::Folder {
                    images: dir.display().to_string(),
                },
            },
            patch_size: config.patch_size,
            count: config.count,
            seed: config.seed,
            whiten: config.whitening.name(),
            f0_cycles_per_pixel: f0,
            zca_epsilon_relative: eps,
            log: config.log,
            log_offset: LOG_OFFSET,
            dc_removal: config.dc_removal,
            margin: config.margin,
            min_std: config.min_std,
            strict: config.strict,
            luminance: "linear (sRGB decoded), Rec. 709 weights",
            of_padding: whiten::PAD,
            of_image_variance: f0.map(|_| 1.0),
        }
    }
}

#[derive(Serialize)]
struct InputRecord<'a> {
    source: &'a str,
    path: Option<String>,
    width: usize,
    height: usize,
    bytes: u64,
    sha256: Option<&'a str>,
    generator_seed: Option<u64>,
    patches: usize,
    rejected: usize,
}

#[derive(Serialize)]
struct SkippedRecord<'a> {
    path: String,
    reason: &'a str,
}

#[derive(Serialize)]
struct ZcaRecord {
    epsilon_absolute: f64,
    eigenvalue_max: Option<f64>,
    eigenvalue_min: Option<f64>,
    fit_patches: usize,
}

#[derive(Serialize)]
struct Timings {
    check_inputs: f64,
    load_and_whiten: f64,
    sample_and_write: f64,
    commit: f64,
    total: f64,
}

#[derive(Serialize)]
struct Statistics {
    mean: f64,
    std: f64,
    min: f64,
    max: f64,
    excess_kurtosis: f64,
    max_abs_patch_mean: f64,
    rejected_draws: usize,
}

impl Statistics {
    fn new(s: &FinalStats, rejected_draws: usize) -> Self {
        Self {
            mean: s.mean,
            std: s.std,
            min: s.min,
            max: s.max,
            excess_kurtosis: s.excess_kurtosis,
            max_abs_patch_mean: s.max_abs_patch_mean,
            rejected_draws,
        }
    }
}
