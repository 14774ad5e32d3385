//! The parameters of a patch extraction: where the images come from, how they are
//! whitened, and how patches are drawn.

use super::sample;
use crate::error::Result;
use crate::params::{Params, Valid, ensure};
use std::path::PathBuf;

/// Where the images come from.
#[derive(Debug, Clone, PartialEq)]
pub enum ImageSource {
    /// The dead-leaves generator: `images` square images of `size` pixels, each seeded from
    /// the run's seed and its index.
    BuiltIn { images: usize, size: usize },
    /// Every PNG/JPEG/TIFF/PGM file under this folder, recursively, in path order.
    Folder(PathBuf),
}

/// How images or patches are whitened.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Whitening {
    /// Olshausen-Field R(f) = f exp(-(f/f0)^4) on whole images, f0 in cycles/pixel; each
    /// whitened image is then scaled to unit variance.
    Of { f0: f64 },
    /// ZCA on patches: W = U (L + eps)^-1/2 U^T, eps = `epsilon` x the mean eigenvalue of
    /// the patch covariance (estimated from up to [`ZCA_FIT_PATCHES`] patches).
    Zca { epsilon: f64 },
    /// Linear (or log) luminance as is.
    None,
}

impl Whitening {
    /// The name used on the command line and in sidecars.
    pub fn name(&self) -> &'static str {
        match self {
            Whitening::Of { .. } => "of",
            Whitening::Zca { .. } => "zca",
            Whitening::None => "none",
        }
    }
}

/// The ZCA covariance is estimated from at most this many patches, spread evenly over the
/// output: 50,000 samples of a 144-dimensional covariance give eigenvalues to about 1%.
pub const ZCA_FIT_PATCHES: usize = 50_000;

/// Default relative ZCA epsilon: 1% of the mean eigenvalue, which keeps the removed DC
/// direction and the highest, noisiest frequencies from being amplified more than 10x.
pub const DEFAULT_ZCA_EPSILON: f64 = 0.01;

/// Every parameter of a patch extraction. `Default` is the built-in dead-leaves images with
/// OF whitening, 12x12 patches, 100,000 of them, seed 0.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtractParams {
    pub source: ImageSource,
    /// Side of the square patches, 2..=64 (default 12).
    pub patch_size: usize,
    /// Number of patches, 1..=1,000,000,000 (default 100,000).
    pub count: usize,
    /// Seed of every random choice (default 0).
    pub seed: u64,
    /// Whitening (default OF with f0 = 0.4 cycles/pixel).
    pub whitening: Whitening,
    /// Take ln(luminance + 1/256) before whitening (default off).
    pub log: bool,
    /// Subtract each patch's mean (default on).
    pub dc_removal: bool,
    /// Pixels kept clear of each image border, 0..=4096 (default 8).
    pub margin: usize,
    /// Reject patches whose standard deviation (before DC removal and ZCA, in the units of
    /// the preprocessed image) is below this; 0 keeps all (default 0).
    pub min_std: f32,
    /// Fail on a corrupt, truncated or too-small image instead of skipping it (default off).
    pub strict: bool,
    /// Also write a per-image CSV table here (default none).
    pub csv: Option<PathBuf>,
}

impl Default for ExtractParams {
    fn default() -> Self {
        Self {
            source: ImageSource::BuiltIn {
                images: 16,
                size: 512,
            },
            patch_size: 12,
            count: 100_000,
            seed: 0,
            whitening: Whitening::Of { f0: 0.4 },
            log: false,
            dc_removal: true,
            margin: 8,
            min_std: 0.0,
            strict: false,
            csv: None,
        }
    }
}

impl ExtractParams {
    /// The checked parameters (see [`crate::params`]).
    pub fn check(&self) -> Result<Valid<Self>> {
        Params::check(self)
    }
}

impl Params for ExtractParams {
    /// Field names in errors: `source.images` and `source.size` for the built-in images,
    /// `whitening.f0` and `whitening.epsilon` for the filters.
    fn validate(&mut self) -> Result<()> {
        ensure(
            (2..=64).contains(&self.patch_size),
            "patch_size",
            self.patch_size,
            "must be in 2..=64",
        )?;
        ensure(
            (1..=1_000_000_000).contains(&self.count),
            "count",
            self.count,
            "must be in 1..=1000000000",
        )?;
        ensure(
            self.margin <= 4096,
            "margin",
            self.margin,
            "must be in 0..=4096",
        )?;
        ensure(
            self.min_std.is_finite() && self.min_std >= 0.0,
            "min_std",
            self.min_std,
            "must be a finite number >= 0",
        )?;
        match self.whitening {
            Whitening::Of { f0 } => ensure(
                (0.01..=0.5).contains(&f0),
                "whitening.f0",
                f0,
                "must be in 0.01..=0.5 cycles/pixel (0.5 is the Nyquist frequency)",
            )?,
            Whitening::Zca { epsilon } => ensure(
                epsilon > 0.0 && epsilon <= 10.0,
                "whitening.epsilon",
                epsilon,
                "must be in (0, 10] (a fraction of the mean eigenvalue)",
            )?,
            Whitening::None => {}
        }
        if let ImageSource::BuiltIn { images, size } = self.source {
            ensure(
                (1..=10_000).contains(&images),
                "source.images",
                images,
                "must be in 1..=10000",
            )?;
            ensure(
                (16..=4096).contains(&size),
                "source.size",
                size,
                "must be in 16..=4096",
            )?;
            ensure(
                sample::valid_positions(size, size, self.patch_size, self.margin).0 > 0,
                "source.size",
                size,
                format!(
                    "built-in images of {size} pixels are smaller than the patch size {} plus twice the margin {}",
                    self.patch_size, self.margin
                ),
            )?;
        }
        Ok(())
    }
}
