//! The input images of an extraction: listing and validating a folder (each file decoded
//! once, in parallel, and hashed; unusable files skipped or fatal under `strict`), or
//! describing the built-in dead-leaves images; and loading one image preprocessed (luminance,
//! optional log, OF whitening) when its patches are drawn.

use super::{ExtractParams, ImageSource, Whitening, dead_leaves, sample, whiten};
use crate::error::{Error, Result};
use crate::io::images::{self, GrayImage};
use crate::io::sidecar;
use crate::observer::Progress;
use rayon::prelude::*;
use std::path::PathBuf;

/// A relative 1/256 of full scale keeps ln() finite on black pixels and about matches the
/// quantisation step of 8-bit images.
pub(super) const LOG_OFFSET: f32 = 1.0 / 256.0;

/// An input file left out, with the reason.
pub(super) type Skipped = (PathBuf, String);

/// One usable input image.
pub(super) struct Source {
    pub label: String,
    pub path: Option<PathBuf>,
    pub width: usize,
    pub height: usize,
    pub bytes: u64,
    pub sha256: Option<String>,
    pub seed: Option<u64>,
}

/// Lists and validates the images (or describes the generated ones).
pub(super) fn gather_sources(
    config: &ExtractParams,
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
            "images",
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
            "images",
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
pub(super) fn load_preprocessed(config: &ExtractParams, source: &Source) -> Result<GrayImage> {
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
