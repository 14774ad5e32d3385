//! The extraction pipeline: check outputs and inputs, then stream patches into the `.npy`.
//!
//! 1. Every output is checked and its temporary file created before any work, so a refusal
//!    or an unwritable folder costs nothing and leaves nothing behind.
//! 2. Every input image is decoded once to validate it (in parallel, each discarded at once)
//!    and hashed; corrupt or too-small files are skipped with a warning (or fail under
//!    `strict`). Only then are the per-image quotas fixed.
//! 3. Images are processed one at a time: load, luminance, optional log, whitening, sampling.
//!    The header is written first (the count is known), then patches in blocks, so memory
//!    holds one image, its FFT buffers and one block of patches however large the output.
//!    ZCA needs the patch covariance first, so under ZCA the images are read twice and the
//!    same positions drawn both times.
//!
//! Patches are grouped by image in the file (images in path order); learners should draw
//! random minibatches rather than read the file in order.

use super::sample::{self, SampleSpec};
use super::whiten::{self, CovarianceAccumulator, Zca};
use super::{ExtractConfig, ImageSource, Whitening, ZCA_FIT_PATCHES, dead_leaves};
use crate::error::{Error, Result};
use crate::io::atomic::{self, AtomicFile};
use crate::io::images::{self, GrayImage};
use crate::io::{npy, sidecar, table};
use crate::observer::Progress;
use rayon::prelude::*;
use serde_json::json;
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

/// An input file left out, with the reason.
type Skipped = (PathBuf, String);

/// One usable input image.
struct Source {
    label: String,
    path: Option<PathBuf>,
    width: usize,
    height: usize,
    bytes: u64,
    sha256: Option<String>,
    seed: Option<u64>,
}

/// Patches per block handed to the writer: 4096 x 144 floats = 2.4 MB, big enough that the
/// per-block costs (ZCA product, write call) vanish, small enough to stay in cache-friendly
/// territory and bounded memory.
const BLOCK: usize = 4096;

/// A relative 1/256 of full scale keeps ln() finite on black pixels and about matches the
/// quantisation step of 8-bit images.
const LOG_OFFSET: f32 = 1.0 / 256.0;

/// Runs `config`, writing `out` (the `.npy`), its sidecar and, if asked, the CSV table.
/// Existing outputs are refused unless `force`. Progress goes to `progress`.
pub fn extract(
    config: &ExtractConfig,
    out: &Path,
    force: bool,
    progress: &dyn Progress,
) -> Result<ExtractSummary> {
    let started = Instant::now();
    config.check()?;
    let sidecar_path = sidecar::path_for(out);
    if sidecar_path == out {
        return Err(Error::usage(
            "--out",
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
    // Opening the temporary files now proves the folders are writable before any work.
    let mut npy_file = AtomicFile::create(out, force)?;
    let sidecar_file = AtomicFile::create(&sidecar_path, force)?;
    let csv_probe = match &config.csv {
        Some(p) => Some(AtomicFile::create(p, force)?),
        None => None,
    };

    let t_check = Instant::now();
    let (sources, skipped) = gather_sources(config, progress)?;
    let check_seconds = t_check.elapsed().as_secs_f64();

    let p = config.patch_size;
    let dim = p * p;
    let weights: Vec<u64> = sources
        .iter()
        .map(|s| {
            let (nx, ny) = sample::valid_positions(s.width, s.height, p, config.margin);
            (nx * ny) as u64
        })
        .collect();
    let quotas = sample::quotas(&weights, config.count);

    let zca = match config.whitening {
        Whitening::Zca { epsilon } => Some(fit_zca(config, &sources, &quotas, epsilon, progress)?),
        _ => None,
    };

    let shape = [config.count, dim];
    let header = npy::header_bytes(&shape);
    npy_file
        .writer()
        .write_all(&header)
        .map_err(|e| npy_file.write_error(e))?;
    let mut writer = BlockWriter::new(dim, config.dc_removal, zca.as_ref());
    let mut rejected = vec![0usize; sources.len()];
    let mut preprocess_seconds = 0.0;
    let t_sample = Instant::now();
    progress.start("extract", Some(config.count as u64));
    let mut patch_buf = Vec::with_capacity(dim);
    for (k, source) in sources.iter().enumerate() {
        let t = Instant::now();
        let img = load_preprocessed(config, source)?;
        preprocess_seconds += t.elapsed().as_secs_f64();
        let spec = SampleSpec {
            patch: p,
            margin: config.margin,
            quota: quotas[k],
            min_std: config.min_std,
        };
        let mut rng = sample::image_rng(config.seed, k);
        let file = &mut npy_file;
        rejected[k] = sample::sample_image(
            &img,
            &spec,
            &mut rng,
            &source.label,
            &mut patch_buf,
            |patch| {
                if writer.push(patch, file)? {
                    progress.advance(writer.written as u64, &source.label);
                }
                Ok(())
            },
        )?;
    }
    writer.flush(&mut npy_file)?;
    let sample_seconds = t_sample.elapsed().as_secs_f64() - preprocess_seconds;
    if writer.written != config.count {
        return Err(Error::failed(
            "extract",
            format!(
                "wrote {} patches, expected {}",
                writer.written, config.count
            ),
        ));
    }
    let t_commit = Instant::now();
    npy_file.commit()?;
    let commit_seconds = t_commit.elapsed().as_secs_f64();
    let stats = writer.stats.finish();
    progress.finish(&format!("{} patches of {p}x{p}", config.count));

    let csv_path = config.csv.clone();
    if let Some(path) = &csv_path {
        drop(csv_probe);
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
        t.write(path, force)?;
    }

    let seconds = started.elapsed().as_secs_f64();
    let total_rejected: usize = rejected.iter().sum();
    let mut meta = sidecar::base("extract");
    meta.insert(
        "output".into(),
        json!({"path": out.display().to_string(), "shape": shape, "dtype": "<f4",
               "layout": "row-major (patches, pixels); each row is one patch, row-major"}),
    );
    meta.insert("parameters".into(), parameters_json(config));
    meta.insert("seed".into(), json!(config.seed));
    meta.insert(
        "inputs".into(),
        json!(
            sources
                .iter()
                .enumerate()
                .map(|(k, s)| json!({
                    "source": s.label,
                    "path": s.path.as_ref().map(|p| p.display().to_string()),
                    "width": s.width, "height": s.height, "bytes": s.bytes,
                    "sha256": s.sha256, "generator_seed": s.seed,
                    "patches": quotas[k], "rejected": rejected[k],
                }))
                .collect::<Vec<_>>()
        ),
    );
    meta.insert(
        "skipped".into(),
        json!(
            skipped
                .iter()
                .map(|(p, why)| json!({"path": p.display().to_string(), "reason": why}))
                .collect::<Vec<_>>()
        ),
    );
    if let Some(z) = &zca {
        meta.insert(
            "zca".into(),
            json!({"epsilon_absolute": z.epsilon,
                   "eigenvalue_max": z.eigenvalues.first(),
                   "eigenvalue_min": z.eigenvalues.last(),
                   "fit_patches": zca_stride(config.count).1}),
        );
    }
    meta.insert(
        "timings_seconds".into(),
        json!({"check_inputs": check_seconds, "load_and_whiten": preprocess_seconds,
               "sample_and_write": sample_seconds, "commit": commit_seconds, "total": seconds}),
    );
    meta.insert(
        "statistics".into(),
        json!({"mean": stats.mean, "std": stats.std, "min": stats.min, "max": stats.max,
               "excess_kurtosis": stats.excess_kurtosis,
               "max_abs_patch_mean": stats.max_abs_patch_mean,
               "rejected_draws": total_rejected}),
    );
    drop(sidecar_file);
    sidecar::write(&sidecar_path, &serde_json::Value::Object(meta), force)?;

    Ok(ExtractSummary {
        output: out.to_path_buf(),
        sidecar: sidecar_path,
        csv: csv_path,
        shape,
        images_used: sources.len(),
        images_skipped: skipped.len(),
        rejected: total_rejected,
        mean: stats.mean,
        std: stats.std,
        excess_kurtosis: stats.excess_kurtosis,
        seconds,
    })
}

fn parameters_json(config: &ExtractConfig) -> serde_json::Value {
    let source = match &config.source {
        ImageSource::BuiltIn { images, size } => json!({"kind": "dead_leaves",
            "images": images, "size": size, "radius_density": "r^-3",
            "radius_min": dead_leaves::R_MIN, "radius_max": *size as f64 / 2.0}),
        ImageSource::Folder(dir) => json!({"kind": "folder", "images": dir.display().to_string()}),
    };
    let (f0, eps) = match config.whitening {
        Whitening::Of { f0 } => (Some(f0), None),
        Whitening::Zca { epsilon } => (None, Some(epsilon)),
        Whitening::None => (None, None),
    };
    json!({
        "source": source,
        "patch_size": config.patch_size,
        "count": config.count,
        "seed": config.seed,
        "whiten": config.whitening.name(),
        "f0_cycles_per_pixel": f0,
        "zca_epsilon_relative": eps,
        "log": config.log,
        "log_offset": LOG_OFFSET,
        "dc_removal": config.dc_removal,
        "margin": config.margin,
        "min_std": config.min_std,
        "strict": config.strict,
        "luminance": "linear (sRGB decoded), Rec. 709 weights",
        "of_padding": whiten::PAD,
        "of_image_variance": if f0.is_some() { json!(1.0) } else { json!(null) },
    })
}

/// Lists and validates the images (or describes the generated ones).
fn gather_sources(
    config: &ExtractConfig,
    progress: &dyn Progress,
) -> Result<(Vec<Source>, Vec<Skipped>)> {
    let dir = match &config.source {
        ImageSource::BuiltIn { images, size } => {
            let sources = (0..*images)
                .map(|k| Source {
                    label: format!("dead_leaves[{k}]"),
                    path: None,
                    width: *size,
                    height: *size,
                    bytes: 0,
                    sha256: None,
                    seed: Some(sample::image_seed(config.seed, k)),
                })
                .collect();
            return Ok((sources, Vec::new()));
        }
        ImageSource::Folder(dir) => dir,
    };
    let files = images::list_images(dir)?;
    if files.is_empty() {
        return Err(Error::bad_input(
            dir,
            "--images",
            dir.display(),
            format!(
                "no image files found (searched recursively for {})",
                images::EXTENSIONS.join(", ")
            ),
        ));
    }
    progress.start("checking images", Some(files.len() as u64));
    let (p, m) = (config.patch_size, config.margin);
    let checked: Vec<Result<Source>> = files
        .par_iter()
        .map(|path| {
            let bytes = std::fs::read(path).map_err(|source| Error::Read {
                path: path.clone(),
                source,
            })?;
            let img = images::decode_luminance(&bytes, path)?;
            if sample::valid_positions(img.width, img.height, p, m).0 == 0 {
                return Err(Error::bad_input(
                    path,
                    "size",
                    format!("{}x{}", img.width, img.height),
                    format!(
                        "smaller than the patch size {p} plus twice the margin {m} ({} pixels)",
                        p + 2 * m
                    ),
                ));
            }
            Ok(Source {
                label: path.strip_prefix(dir).unwrap_or(path).display().to_string(),
                path: Some(path.clone()),
                width: img.width,
                height: img.height,
                bytes: bytes.len() as u64,
                sha256: Some(sidecar::sha256_bytes(&bytes)),
                seed: None,
            })
        })
        .collect();
    let mut sources = Vec::new();
    let mut skipped = Vec::new();
    for (path, result) in files.iter().zip(checked) {
        match result {
            Ok(s) => sources.push(s),
            Err(e) if config.strict => return Err(e),
            Err(e) => {
                progress.warn(&format!("skipping {e}"));
                skipped.push((path.clone(), e.to_string()));
            }
        }
    }
    progress.finish(&format!(
        "{} usable, {} skipped",
        sources.len(),
        skipped.len()
    ));
    if sources.is_empty() {
        return Err(Error::bad_input(
            dir,
            "--images",
            dir.display(),
            format!(
                "none of the {} image files is usable (all skipped: corrupt or smaller than \
                 the patch plus margin); first: {}",
                files.len(),
                skipped.first().map(|s| s.1.as_str()).unwrap_or("")
            ),
        ));
    }
    Ok((sources, skipped))
}

/// Loads (or generates) one image and applies log and OF whitening as configured.
fn load_preprocessed(config: &ExtractConfig, source: &Source) -> Result<GrayImage> {
    let mut img = match (&source.path, source.seed) {
        (Some(path), _) => {
            let bytes = std::fs::read(path).map_err(|e| Error::Read {
                path: path.clone(),
                source: e,
            })?;
            if source.sha256.as_deref() != Some(sidecar::sha256_bytes(&bytes).as_str()) {
                return Err(Error::failed(
                    path.display().to_string(),
                    "the file changed while extract was running",
                ));
            }
            images::decode_luminance(&bytes, path)?
        }
        (None, Some(seed)) => GrayImage {
            width: source.width,
            height: source.height,
            data: dead_leaves::generate(source.width, seed),
        },
        (None, None) => unreachable!("a source is a file or a generated image"),
    };
    if config.log {
        img.data
            .iter_mut()
            .for_each(|v| *v = (*v + LOG_OFFSET).ln());
    }
    if let Whitening::Of { f0 } = config.whitening {
        img = whiten::of_filter(&img, f0 as f32);
        whiten::scale_to_unit_variance(&mut img, config.margin);
    }
    Ok(img)
}

/// (stride, number of patches) used to fit the ZCA covariance: every stride-th patch.
fn zca_stride(count: usize) -> (usize, usize) {
    let stride = count.div_ceil(ZCA_FIT_PATCHES).max(1);
    (stride, count.div_ceil(stride))
}

/// First ZCA pass: draw the same patches the writing pass will draw, and accumulate the
/// covariance of every stride-th one.
fn fit_zca(
    config: &ExtractConfig,
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
        let img = load_preprocessed(config, source)?;
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

/// Collects patches into blocks, transforms each block (DC removal, ZCA), accumulates
/// statistics, and writes it as little-endian float32.
struct BlockWriter<'a> {
    dim: usize,
    dc_removal: bool,
    zca: Option<&'a Zca>,
    block: Vec<f32>,
    scratch: Vec<f32>,
    bytes: Vec<u8>,
    written: usize,
    stats: Moments,
}

impl<'a> BlockWriter<'a> {
    fn new(dim: usize, dc_removal: bool, zca: Option<&'a Zca>) -> Self {
        Self {
            dim,
            dc_removal,
            zca,
            block: Vec::with_capacity(BLOCK * dim),
            scratch: Vec::new(),
            bytes: Vec::with_capacity(BLOCK * dim * 4),
            written: 0,
            stats: Moments::default(),
        }
    }

    /// Adds one patch; returns true when a block was written.
    fn push(&mut self, patch: &[f32], file: &mut AtomicFile) -> Result<bool> {
        self.block.extend_from_slice(patch);
        if self.block.len() == BLOCK * self.dim {
            self.flush(file)?;
            return Ok(true);
        }
        Ok(false)
    }

    fn flush(&mut self, file: &mut AtomicFile) -> Result<()> {
        if self.block.is_empty() {
            return Ok(());
        }
        let rows = self.block.len() / self.dim;
        if self.dc_removal {
            sample::remove_dc(&mut self.block, self.dim);
        }
        if let Some(z) = self.zca {
            z.apply(&mut self.block, rows, &mut self.scratch);
            if self.dc_removal {
                // ZCA maps zero-mean patches to nearly zero-mean ones; make it exact.
                sample::remove_dc(&mut self.block, self.dim);
            }
        }
        self.stats.add_block(&self.block, self.dim);
        self.bytes.clear();
        for v in &self.block {
            self.bytes.extend_from_slice(&v.to_le_bytes());
        }
        file.writer()
            .write_all(&self.bytes)
            .map_err(|e| file.write_error(e))?;
        self.written += rows;
        self.block.clear();
        Ok(())
    }
}

/// Running moments of every written value, in f64.
#[derive(Default)]
struct Moments {
    n: f64,
    s1: f64,
    s2: f64,
    s3: f64,
    s4: f64,
    min: f32,
    max: f32,
    max_abs_patch_mean: f64,
}

struct FinalStats {
    mean: f64,
    std: f64,
    min: f64,
    max: f64,
    excess_kurtosis: f64,
    max_abs_patch_mean: f64,
}

impl Moments {
    fn add_block(&mut self, block: &[f32], dim: usize) {
        if self.n == 0.0 {
            self.min = f32::INFINITY;
            self.max = f32::NEG_INFINITY;
        }
        for patch in block.chunks_exact(dim) {
            let mut p1 = 0.0f64;
            for &v in patch {
                let x = v as f64;
                let x2 = x * x;
                p1 += x;
                self.s2 += x2;
                self.s3 += x2 * x;
                self.s4 += x2 * x2;
                self.min = self.min.min(v);
                self.max = self.max.max(v);
            }
            self.s1 += p1;
            self.max_abs_patch_mean = self.max_abs_patch_mean.max((p1 / dim as f64).abs());
        }
        self.n += block.len() as f64;
    }

    fn finish(&self) -> FinalStats {
        let n = self.n.max(1.0);
        let m = self.s1 / n;
        let (e2, e3, e4) = (self.s2 / n, self.s3 / n, self.s4 / n);
        let var = (e2 - m * m).max(0.0);
        let c4 = e4 - 4.0 * m * e3 + 6.0 * m * m * e2 - 3.0 * m.powi(4);
        FinalStats {
            mean: m,
            std: var.sqrt(),
            min: self.min as f64,
            max: self.max as f64,
            excess_kurtosis: if var > 0.0 {
                c4 / (var * var) - 3.0
            } else {
                f64::NAN
            },
            max_abs_patch_mean: self.max_abs_patch_mean,
        }
    }
}
