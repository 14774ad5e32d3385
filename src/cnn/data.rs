//! Datasets for the CNN: where they come from (`cifar10:DIR`, `mnist:DIR`, `folder:DIR`),
//! the train/test split, per-channel standardisation computed on the training set, and the
//! optional augmentation (random crops from a zero-padded image and horizontal flips).
//!
//! When a source has no test files, a fixed fraction of the training images is held out,
//! chosen by a permutation from a constant seed, so the split never changes with the
//! training seed. Subsets (`train_limit`, `test_limit`) are taken from a fixed permutation
//! too, so a subset is class-balanced on average even when the files are sorted by class.
//! A validation split (`validation`) is held out of the training images the same way,
//! before `train_limit` picks from the rest, and then stands in for the test set: the
//! settings chosen on it never see a test image.

use super::engine::mix_seed;
use crate::error::{Error, Result};
use crate::io::labelled::LabelledImages;
use crate::io::{cifar, idx, image_folder};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The seed of every data split and subset, independent of the training seed.
const SPLIT_SEED: u64 = 0x005E_ED0F_DA7A;

/// Where the images come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "format", content = "dir", rename_all = "snake_case")]
pub enum DataSource {
    Cifar10(PathBuf),
    Mnist(PathBuf),
    Folder(PathBuf),
}

impl std::str::FromStr for DataSource {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let (kind, dir) = s.split_once(':').ok_or_else(|| {
            Error::param(
                "data",
                s,
                "expected FORMAT:DIR with FORMAT one of cifar10, mnist, folder",
            )
        })?;
        let dir = PathBuf::from(dir);
        if !dir.is_dir() {
            return Err(Error::param(
                "data",
                s,
                format!("{} is not a folder", dir.display()),
            ));
        }
        match kind {
            "cifar10" => Ok(Self::Cifar10(dir)),
            "mnist" => Ok(Self::Mnist(dir)),
            "folder" => Ok(Self::Folder(dir)),
            _ => Err(Error::param(
                "data",
                s,
                "FORMAT must be cifar10, mnist or folder",
            )),
        }
    }
}

impl std::fmt::Display for DataSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Cifar10(d) => write!(f, "cifar10:{}", d.display()),
            Self::Mnist(d) => write!(f, "mnist:{}", d.display()),
            Self::Folder(d) => write!(f, "folder:{}", d.display()),
        }
    }
}

/// How to turn a source into train and test sets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataOptions {
    pub grayscale: bool,
    /// Fraction of the training images held out as the test set when the source has none.
    pub test_fraction: f32,
    pub train_limit: Option<usize>,
    pub test_limit: Option<usize>,
    /// Hold this many training images out as the evaluation set, in place of the test set
    /// (absent from older records, which had no validation split).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation: Option<usize>,
}

/// Train and test images plus what was read.
#[derive(Debug, Clone)]
pub struct Datasets {
    pub train: LabelledImages,
    pub test: LabelledImages,
    /// Whether the test set was carved out of the training files.
    pub held_out: bool,
    /// Whether `test` is a validation split of the training images (the real test set is
    /// then not used).
    pub validation: bool,
    pub files: Vec<PathBuf>,
}

/// Splits `train` into (the rest, `n` held-out images), by a fixed permutation.
fn hold_out(train: LabelledImages, n: usize) -> Result<(LabelledImages, LabelledImages)> {
    let total = train.len();
    if n == 0 || n >= total {
        return Err(Error::param(
            "validation",
            n,
            format!(
                "holding it out of {total} training images leaves no training or no validation images"
            ),
        ));
    }
    let perm = permutation(total, 4);
    let mut held: Vec<usize> = perm[..n].to_vec();
    let mut rest: Vec<usize> = perm[n..].to_vec();
    held.sort_unstable();
    rest.sort_unstable();
    Ok((train.select(&rest), train.select(&held)))
}

fn permutation(n: usize, salt: u64) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut ChaCha8Rng::seed_from_u64(SPLIT_SEED ^ salt));
    idx
}

fn limit(images: LabelledImages, limit: Option<usize>, salt: u64) -> LabelledImages {
    match limit {
        Some(n) if n < images.len() => {
            let mut idx = permutation(images.len(), salt);
            idx.truncate(n);
            idx.sort_unstable();
            images.select(&idx)
        }
        _ => images,
    }
}

/// Loads a source into train and test sets.
pub fn load(source: &DataSource, options: &DataOptions) -> Result<Datasets> {
    let (train, test, files) = match source {
        DataSource::Cifar10(dir) => {
            let (train_files, test_file) = cifar::files(dir)?;
            let (train, test) = cifar::read_dir(dir)?;
            let mut files = train_files;
            files.extend(test_file);
            (train, test, files)
        }
        DataSource::Mnist(dir) => {
            let train_pair = idx::find_pair(dir, "train");
            let test_pair = idx::find_pair(dir, "t10k");
            let mut files = Vec::new();
            let mut read = |pair: &(PathBuf, PathBuf)| {
                files.extend([pair.0.clone(), pair.1.clone()]);
                idx::read_pair(&pair.0, &pair.1)
            };
            match (&train_pair, &test_pair) {
                (Some(tr), Some(te)) => (read(tr)?, Some(read(te)?), files),
                (Some(only), None) | (None, Some(only)) => (read(only)?, None, files),
                (None, None) => {
                    return Err(Error::bad_input(
                        dir,
                        "files",
                        "none",
                        "an MNIST folder needs train-images-idx3-ubyte[.gz] and train-labels-idx1-ubyte[.gz], or the t10k-* pair",
                    ));
                }
            }
        }
        DataSource::Folder(dir) => {
            let (train, test) = image_folder::read_dir(dir)?;
            (train, test, vec![dir.clone()])
        }
    };
    let (mut train, mut test, held_out) = match test {
        Some(test) => (train, test, false),
        None => {
            let n = train.len();
            let n_test = ((n as f64) * options.test_fraction as f64).round() as usize;
            if n_test == 0 || n_test >= n {
                return Err(Error::param(
                    "test_fraction",
                    options.test_fraction,
                    format!("holding it out of {n} images leaves no training or no test images"),
                ));
            }
            let perm = permutation(n, 1);
            let mut te: Vec<usize> = perm[..n_test].to_vec();
            let mut tr: Vec<usize> = perm[n_test..].to_vec();
            te.sort_unstable();
            tr.sort_unstable();
            (train.select(&tr), train.select(&te), true)
        }
    };
    if options.grayscale {
        train = train.to_grayscale();
        test = test.to_grayscale();
    }
    let (train, test) = match options.validation {
        // The validation images stand in for the test set, whole: `test_limit` is about
        // the test set, and the split's size is already the user's choice.
        Some(n) => {
            let (rest, validation) = hold_out(train, n)?;
            (limit(rest, options.train_limit, 2), validation)
        }
        None => (
            limit(train, options.train_limit, 2),
            limit(test, options.test_limit, 3),
        ),
    };
    if train.is_empty() || test.is_empty() {
        return Err(Error::param(
            "data",
            source,
            "no training or no test images",
        ));
    }
    Ok(Datasets {
        train,
        test,
        held_out,
        validation: options.validation.is_some(),
        files,
    })
}

/// Per-channel mean and standard deviation of pixel values scaled to [0, 1].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Standardiser {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

impl Standardiser {
    /// Statistics over every pixel of every training image.
    pub fn fit(images: &LabelledImages) -> Self {
        let c = images.channels;
        let mut sum = vec![0f64; c];
        let mut sq = vec![0f64; c];
        for px in images.pixels.chunks_exact(c) {
            for k in 0..c {
                let v = px[k] as f64 / 255.0;
                sum[k] += v;
                sq[k] += v * v;
            }
        }
        let n = (images.pixels.len() / c).max(1) as f64;
        let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
        let std = (0..c)
            .map(|k| ((sq[k] / n - mean[k] * mean[k]).max(0.0).sqrt().max(1e-3)) as f32)
            .collect();
        Self {
            mean: mean.iter().map(|&m| m as f32).collect(),
            std,
        }
    }
}

/// Training-time augmentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Augment {
    /// Pad the image by this many zero (mean-valued after standardisation) pixels and crop
    /// back to its size at a random offset; 0 disables cropping.
    pub crop_pad: usize,
    /// Mirror left-right with probability 1/2.
    pub flip: bool,
}

/// Writes image `i` of `images`, standardised, into `dst` (NHWC); with `augment`, shifted
/// and flipped by amounts drawn from `(seed, epoch, position)`.
pub fn write_sample(
    images: &LabelledImages,
    i: usize,
    stdz: &Standardiser,
    augment: Option<(Augment, u64, u64, u64)>,
    dst: &mut [f32],
) {
    let c = images.channels;
    let src = images.image(i);
    write_augmented(images.height, images.width, c, augment, dst, |at, k| {
        (src[at + k] as f32 / 255.0 - stdz.mean[k]) / stdz.std[k]
    });
}

/// Writes one `h` x `w` x `c` image into `dst`, reading the value at (pixel offset,
/// channel) through `value`, after the shift and flip `augment` draws; shifted-in pixels are
/// 0 (the mean after standardisation or whitening).
fn write_augmented(
    h: usize,
    w: usize,
    c: usize,
    augment: Option<(Augment, u64, u64, u64)>,
    dst: &mut [f32],
    value: impl Fn(usize, usize) -> f32,
) {
    let (mut dy, mut dx, mut flip) = (0isize, 0isize, false);
    if let Some((aug, seed, epoch, position)) = augment {
        let mut rng = ChaCha8Rng::seed_from_u64(mix_seed(seed, epoch, position));
        if aug.crop_pad > 0 {
            let p = aug.crop_pad as i64;
            dy = rng.random_range(-p..=p) as isize;
            dx = rng.random_range(-p..=p) as isize;
        }
        flip = aug.flip && rng.random::<bool>();
    }
    for y in 0..h {
        for x in 0..w {
            let out = &mut dst[(y * w + x) * c..(y * w + x + 1) * c];
            let sx = if flip { w - 1 - x } else { x } as isize + dx;
            let sy = y as isize + dy;
            if sy < 0 || sy >= h as isize || sx < 0 || sx >= w as isize {
                out.fill(0.0);
                continue;
            }
            let at = (sy as usize * w + sx as usize) * c;
            for (k, o) in out.iter_mut().enumerate() {
                *o = value(at, k);
            }
        }
    }
}

/// The network's input images: the labelled bytes, standardised as each batch is assembled,
/// or, with an input whitening, standardised and whitened once up front (whitening a whole
/// image costs far more than standardising it; augmentation then shifts and flips the
/// whitened images).
pub struct NetworkInputs<'a> {
    pub images: &'a LabelledImages,
    stdz: &'a Standardiser,
    whitened: Option<Vec<f32>>,
}

impl<'a> NetworkInputs<'a> {
    /// Inputs from `images` with `stdz`, whitened by `whitening` if given.
    pub fn new(
        images: &'a LabelledImages,
        stdz: &'a Standardiser,
        whitening: Option<&super::input_whitening::WhiteningTransform>,
    ) -> Self {
        let whitened = whitening.map(|t| t.apply_all(images, stdz));
        Self {
            images,
            stdz,
            whitened,
        }
    }

    /// Inputs whose whitened values were already computed (by fitting the transform).
    pub fn prewhitened(
        images: &'a LabelledImages,
        stdz: &'a Standardiser,
        whitened: Vec<f32>,
    ) -> Self {
        assert_eq!(whitened.len(), images.pixels.len(), "one value per pixel");
        Self {
            images,
            stdz,
            whitened: Some(whitened),
        }
    }

    pub fn len(&self) -> usize {
        self.images.len()
    }

    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }

    /// Refuses images whose size or channel count is not the network's input `shape`.
    pub fn check_shape(&self, shape: super::net::Shape) -> Result<()> {
        let raw = self.images;
        if (raw.height, raw.width, raw.channels) == (shape.height, shape.width, shape.channels) {
            return Ok(());
        }
        Err(Error::param(
            "images",
            format!("{}x{}x{}", raw.height, raw.width, raw.channels),
            format!(
                "the network takes {}x{}x{} images",
                shape.height, shape.width, shape.channels
            ),
        ))
    }

    /// Writes input `i` into `dst` (NHWC), augmented as [`write_sample`] does.
    pub fn write(&self, i: usize, augment: Option<(Augment, u64, u64, u64)>, dst: &mut [f32]) {
        match &self.whitened {
            None => write_sample(self.images, i, self.stdz, augment, dst),
            Some(values) => {
                let im = self.images;
                let image = &values[i * im.image_len()..(i + 1) * im.image_len()];
                write_augmented(im.height, im.width, im.channels, augment, dst, |at, k| {
                    image[at + k]
                });
            }
        }
    }
}
