//! `simplecell extract`: arguments -> checked [`ExtractParams`] -> [`patches::extract`]:
//! images (or the built-in dead-leaves generator) -> patch dataset `patches/NAME.npy` +
//! `NAME.json` (+ an optional per-image CSV).

use super::flags::{FlagNames, WithFlags};
use super::progress::Reporter;
use crate::error::{Error, Result};
use crate::params::Valid;
use crate::patches::{self, DEFAULT_ZCA_EPSILON, ExtractParams, ImageSource, Whitening};
use clap::{Args, ValueEnum};
use std::path::PathBuf;

/// Fields of [`ExtractParams`] whose flag is not their name.
const FLAGS: FlagNames = &[
    ("whitening.f0", "--f0"),
    ("whitening.epsilon", "--zca-epsilon"),
    ("source.images", "--builtin-images"),
    ("source.size", "--builtin-size"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WhitenArg {
    /// Olshausen-Field filter f exp(-(f/f0)^4) on whole images, then unit variance.
    Of,
    /// ZCA on patches, eps = --zca-epsilon x mean eigenvalue.
    Zca,
    /// No whitening.
    None,
}

#[derive(Debug, Args)]
pub struct ExtractArgs {
    /// Folder of images, searched recursively (PNG, JPEG, TIFF, PGM/PPM; 8 or 16 bit; colour
    /// becomes linear luminance) [default: none = the built-in dead-leaves generator].
    #[arg(long, value_name = "DIR")]
    pub images: Option<PathBuf>,
    /// Output file [default: patches/NAME.npy]; the sidecar is the same path with .json.
    #[arg(long, value_name = "PATH.npy", conflicts_with = "name")]
    pub out: Option<PathBuf>,
    /// Dataset name for the default output patches/NAME.npy [default: the image folder's
    /// name, or dead_leaves].
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Side of the square patches in pixels [range 2..=64].
    #[arg(long, default_value_t = 12, value_name = "N")]
    pub patch_size: usize,
    /// Number of patches [range 1..=1000000000].
    #[arg(long, default_value_t = 100_000, value_name = "N")]
    pub count: usize,
    /// Seed of every random choice (built-in images, positions) [range 0..=2^64-1].
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Whitening.
    #[arg(long, value_enum, default_value_t = WhitenArg::Of)]
    pub whiten: WhitenArg,
    /// Roll-off frequency of the OF filter in cycles/pixel [range 0.01..=0.5; 0.5 is Nyquist].
    #[arg(long, default_value_t = 0.4, value_name = "F")]
    pub f0: f64,
    /// ZCA epsilon as a fraction of the mean covariance eigenvalue [range (0, 10]].
    #[arg(long, default_value_t = DEFAULT_ZCA_EPSILON, value_name = "E")]
    pub zca_epsilon: f64,
    /// Use log luminance ln(L + 1/256) instead of linear luminance [default: off].
    #[arg(long)]
    pub log: bool,
    /// Keep each patch's mean (DC removal is on by default).
    #[arg(long)]
    pub no_dc_removal: bool,
    /// Pixels kept clear of every image border, so whitening's edge effects stay out of the
    /// patches [range 0..=4096].
    #[arg(long, default_value_t = 8, value_name = "PX")]
    pub margin: usize,
    /// Reject near-flat patches whose standard deviation is below this, in the units of the
    /// preprocessed image (unit variance after OF whitening; luminance 0..1 otherwise)
    /// (0 keeps all) [range >= 0].
    #[arg(long, default_value_t = 0.0, value_name = "S")]
    pub min_std: f32,
    /// Number of built-in dead-leaves images when --images is not given [range 1..=10000].
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub builtin_images: usize,
    /// Side of each built-in image in pixels [range 16..=4096].
    #[arg(long, default_value_t = 512, value_name = "PX")]
    pub builtin_size: usize,
    /// Also write a per-image CSV table (source, size, sha256, patches, rejected draws)
    /// [default: none].
    #[arg(long, value_name = "PATH.csv")]
    pub csv: Option<PathBuf>,
    /// Overwrite existing outputs.
    #[arg(long)]
    pub force: bool,
    /// Fail on a corrupt, truncated or too-small image instead of skipping it with a warning.
    #[arg(long)]
    pub strict: bool,
}

impl ExtractArgs {
    /// The checked parameters and the output path.
    pub fn params(&self) -> Result<(Valid<ExtractParams>, PathBuf)> {
        let whitening = match self.whiten {
            WhitenArg::Of => Whitening::Of { f0: self.f0 },
            WhitenArg::Zca => Whitening::Zca {
                epsilon: self.zca_epsilon,
            },
            WhitenArg::None => Whitening::None,
        };
        let source = match &self.images {
            Some(dir) => ImageSource::Folder(dir.clone()),
            None => ImageSource::BuiltIn {
                images: self.builtin_images,
                size: self.builtin_size,
            },
        };
        let params = ExtractParams {
            source,
            patch_size: self.patch_size,
            count: self.count,
            seed: self.seed,
            whitening,
            log: self.log,
            dc_removal: !self.no_dc_removal,
            margin: self.margin,
            min_std: self.min_std,
            strict: self.strict,
            csv: self.csv.clone(),
        }
        .check()
        .flags(FLAGS)?;
        let out = match (&self.out, &self.name) {
            (Some(out), _) => out.clone(),
            (None, Some(name)) => {
                if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
                    return Err(Error::usage(
                        "--name",
                        name,
                        "must be a plain file name (no folders, not starting with '.')",
                    ));
                }
                PathBuf::from("patches").join(format!("{name}.npy"))
            }
            (None, None) => {
                let name = self
                    .images
                    .as_ref()
                    .and_then(|d| d.file_name())
                    .map(|n| n.to_string_lossy().into_owned())
                    .filter(|n| !n.is_empty() && !n.starts_with('.'))
                    .unwrap_or_else(|| {
                        if self.images.is_some() {
                            "images".into()
                        } else {
                            "dead_leaves".into()
                        }
                    });
                PathBuf::from("patches").join(format!("{name}.npy"))
            }
        };
        Ok((params, out))
    }
}

pub fn run(args: ExtractArgs, reporter: &Reporter) -> Result<()> {
    let (params, out) = args.params()?;
    let summary = patches::extract(&params, &out, args.force, reporter).flags(FLAGS)?;
    reporter.info(&format!(
        "wrote {} ({} x {}) and {}{}; {} images used, {} skipped, {} draws rejected; \
         values mean {:.3} std {:.3} excess kurtosis {:.2}; {:.1} s",
        summary.output.display(),
        summary.shape[0],
        summary.shape[1],
        summary.sidecar.display(),
        summary
            .csv
            .as_ref()
            .map(|c| format!(" and {}", c.display()))
            .unwrap_or_default(),
        summary.images_used,
        summary.images_skipped,
        summary.rejected,
        summary.mean,
        summary.std,
        summary.excess_kurtosis,
        summary.seconds
    ));
    Ok(())
}
