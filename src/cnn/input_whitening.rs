//! Whitening of the CNN's input images (`cnn train --input-whitening none|zca|of`), a regime
//! control for the first layer: gradient descent moves a first-layer filter fastest along
//! the high-variance directions of its input patches, so flattening the input spectrum
//! changes which filters the first layer converges to.
//!
//! - [`WhiteningTransform::Zca`]: ZCA whitening W = U (L + eps)^-1/2 U^T estimated on k x k
//!   patches of the standardised training images (k = conv1's kernel), applied to whole
//!   images as a k x k convolution whose kernel is W's centre row: the output pixel at p is
//!   exactly what W gives the centre of the patch around p. With C channels the patch is
//!   k x k x C, and the centre rows of the C centre pixels give a C -> C kernel, so colour is
//!   whitened jointly (the decorrelation of R, G and B is part of W) rather than per channel.
//! - [`WhiteningTransform::Of`]: the Olshausen-Field filter R(f) = f exp(-(f/f0)^4) that
//!   `extract` uses ([`crate::patches::whiten::of_filter`]), applied to each image and channel.
//!
//! Both are fitted on the training images only and then rescaled so that every channel of
//! the whitened training set has unit variance, like the standardised input they replace
//! (the learning rate keeps its meaning). The fitted transform is plain data (serde): a run
//! stores it in its checkpoint and `run.json`, and evaluation and `--resume` apply the stored
//! transform instead of refitting it. Every image is transformed on its own, so the result
//! does not depend on the thread count.

use super::data::Standardiser;
use crate::io::images::GrayImage;
use crate::io::labelled::LabelledImages;
use crate::patches::whiten::{CovarianceAccumulator, Zca, of_filter};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Which whitening `cnn train` applies to its input images.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InputWhitening {
    /// Standardised images as they are.
    #[default]
    None,
    /// ZCA on conv1-sized patches, applied as a convolution.
    Zca,
    /// The Olshausen-Field filter f exp(-(f/f0)^4) on each whole image.
    Of,
}

impl super::params::Choice for InputWhitening {
    const ALL: &'static [Self] = &[Self::None, Self::Zca, Self::Of];
    fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Zca => "zca",
            Self::Of => "of",
        }
    }
}

/// ZCA's epsilon as a fraction of the mean patch eigenvalue. Standardised CIFAR-10 patches
/// have a mean eigenvalue of about 1 and their smallest eigenvalues (the highest spatial
/// frequencies) are a few thousandths of it, comparable to 8-bit quantisation noise; 1e-2
/// whitens every direction above that floor and stops the noise below it from being
/// amplified by up to 30x.
pub const ZCA_RELATIVE_EPSILON: f64 = 1e-2;

/// Patches drawn to estimate the ZCA covariance: 50,000 patches of at most 11 x 11 x 3 = 363
/// dimensions give every covariance entry a relative sampling error of about
/// sqrt(2 / 50,000) = 0.6%.
pub const ZCA_PATCHES: usize = 50_000;

/// The OF filter's roll-off frequency in cycles/pixel, `extract`'s default (0.8 of Nyquist).
pub const OF_F0: f32 = 0.4;

/// Seed of the patch sample: fixed, so that runs differing only in `--seed` share one
/// transform.
const PATCH_SEED: u64 = 0x2CA_5EED;

/// A fitted input whitening, as stored with a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum WhiteningTransform {
    Zca(ZcaConvolution),
    Of(OfWhitening),
}

/// ZCA as a convolution with mirror-extended borders.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZcaConvolution {
    pub kernel_size: usize,
    pub channels: usize,
    /// (output channel, input channel, ky, kx): output c's kernel is W's row for channel c
    /// of the patch's centre pixel.
    pub weights: Vec<f32>,
    /// Per output channel, -(W's centre row) . (mean patch): the mean removal folded in.
    pub bias: Vec<f32>,
    /// Per output channel, the factor that gives the whitened training set unit variance.
    pub output_scale: Vec<f32>,
    // The diagnostics below are f32 like the weights: serde_json writes a float's shortest
    // form, which reads back to the same f32 but not always to the same f64, and the stored
    // transform must compare equal to the fitted one.
    pub relative_epsilon: f32,
    /// The absolute epsilon added to every eigenvalue.
    pub epsilon: f32,
    /// Patch covariance eigenvalues, descending: the spectrum that was flattened.
    pub eigenvalues: Vec<f32>,
    pub patches: usize,
}

/// The OF filter on whole images.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfWhitening {
    pub f0: f32,
    pub channels: usize,
    /// Per channel, the factor that gives the whitened training set unit variance.
    pub output_scale: Vec<f32>,
}

/// Standardised image `i` of `images` as floats (NHWC, one image).
fn standardised(images: &LabelledImages, i: usize, stdz: &Standardiser) -> Vec<f32> {
    let c = images.channels;
    images
        .image(i)
        .iter()
        .enumerate()
        .map(|(j, &b)| (b as f32 / 255.0 - stdz.mean[j % c]) / stdz.std[j % c])
        .collect()
}

/// Index `i` (possibly outside 0..n) reflected into 0..n with the edge pixel repeated, the
/// extension `of_filter` uses: a whitening kernel then sees no false edge at the border.
fn mirror(i: isize, n: usize) -> usize {
    let n = n as isize;
    let m = i.rem_euclid(2 * n);
    (if m < n { m } else { 2 * n - 1 - m }) as usize
}

impl ZcaConvolution {
    /// Estimates ZCA on [`ZCA_PATCHES`] k x k patches at seeded random positions of the
    /// standardised `images` (output scale 1 until [`fit`] sets it).
    pub fn estimate(images: &LabelledImages, stdz: &Standardiser, k: usize) -> Self {
        let (h, w, c) = (images.height, images.width, images.channels);
        assert!(
            k <= h && k <= w && !images.is_empty(),
            "images smaller than the kernel"
        );
        let dim = k * k * c;
        let mut acc = CovarianceAccumulator::new(dim);
        let mut rng = ChaCha8Rng::seed_from_u64(PATCH_SEED);
        let mut patch = vec![0f32; dim];
        // Patches are drawn image by image in order, so each image is standardised once.
        let mut draws: Vec<(usize, usize, usize)> = (0..ZCA_PATCHES)
            .map(|_| {
                (
                    rng.random_range(0..images.len()),
                    rng.random_range(0..=h - k),
                    rng.random_range(0..=w - k),
                )
            })
            .collect();
        draws.sort_unstable();
        let mut current = (usize::MAX, Vec::new());
        for (i, y0, x0) in draws {
            if current.0 != i {
                current = (i, standardised(images, i, stdz));
            }
            for dy in 0..k {
                let row = &current.1[((y0 + dy) * w + x0) * c..][..k * c];
                patch[dy * k * c..(dy + 1) * k * c].copy_from_slice(row);
            }
            acc.add(&patch);
        }
        let (mean, cov) = acc.finish();
        let zca = Zca::fit(&mean, cov, ZCA_RELATIVE_EPSILON);
        Self::from_matrix(&zca, k, c)
    }

    /// The convolution equivalent of `zca` (fitted on k x k x c patches in (ky, kx, channel)
    /// order) at the patch centre.
    pub fn from_matrix(zca: &Zca, k: usize, c: usize) -> Self {
        let dim = k * k * c;
        assert_eq!(zca.dim, dim, "ZCA dimension is not k*k*c");
        let centre = (k / 2) * k + k / 2;
        let mut weights = vec![0f32; c * c * k * k];
        let mut bias = vec![0f32; c];
        for out in 0..c {
            let row = &zca.matrix[(centre * c + out) * dim..][..dim];
            for (j, &wj) in row.iter().enumerate() {
                let (pixel, inp) = (j / c, j % c);
                weights[(out * c + inp) * k * k + pixel] = wj;
            }
            bias[out] = -row
                .iter()
                .zip(&zca.mean)
                .map(|(&wj, &m)| wj as f64 * m as f64)
                .sum::<f64>() as f32;
        }
        Self {
            kernel_size: k,
            channels: c,
            weights,
            bias,
            output_scale: vec![1.0; c],
            relative_epsilon: (zca.epsilon / (zca.eigenvalues.iter().sum::<f64>() / dim as f64))
                as f32,
            epsilon: zca.epsilon as f32,
            eigenvalues: zca.eigenvalues.iter().map(|&l| l as f32).collect(),
            patches: ZCA_PATCHES,
        }
    }

    /// Whitens one standardised image (NHWC, `h` x `w` x channels).
    pub fn apply(&self, image: &[f32], h: usize, w: usize) -> Vec<f32> {
        let (k, c) = (self.kernel_size, self.channels);
        let r = (k / 2) as isize;
        let mut out = vec![0f32; h * w * c];
        for y in 0..h {
            for x in 0..w {
                for o in 0..c {
                    let mut s = self.bias[o] as f64;
                    for dy in 0..k {
                        let sy = mirror(y as isize + dy as isize - r, h);
                        for dx in 0..k {
                            let sx = mirror(x as isize + dx as isize - r, w);
                            let src = &image[(sy * w + sx) * c..][..c];
                            for (i, &v) in src.iter().enumerate() {
                                s += self.weights[(o * c + i) * k * k + dy * k + dx] as f64
                                    * v as f64;
                            }
                        }
                    }
                    out[(y * w + x) * c + o] = s as f32 * self.output_scale[o];
                }
            }
        }
        out
    }
}

impl OfWhitening {
    /// Whitens one standardised image (NHWC), each channel on its own.
    pub fn apply(&self, image: &[f32], h: usize, w: usize) -> Vec<f32> {
        let c = self.channels;
        let mut out = vec![0f32; h * w * c];
        for ch in 0..c {
            let plane = GrayImage {
                width: w,
                height: h,
                data: image.iter().skip(ch).step_by(c).copied().collect(),
            };
            let filtered = of_filter(&plane, self.f0);
            for (j, v) in filtered.data.iter().enumerate() {
                out[j * c + ch] = v * self.output_scale[ch];
            }
        }
        out
    }
}

impl WhiteningTransform {
    pub fn kind(&self) -> InputWhitening {
        match self {
            Self::Zca(_) => InputWhitening::Zca,
            Self::Of(_) => InputWhitening::Of,
        }
    }

    fn output_scale_mut(&mut self) -> &mut Vec<f32> {
        match self {
            Self::Zca(z) => &mut z.output_scale,
            Self::Of(o) => &mut o.output_scale,
        }
    }

    /// Whitens one standardised image (NHWC, `h` x `w` x channels).
    pub fn apply(&self, image: &[f32], h: usize, w: usize) -> Vec<f32> {
        match self {
            Self::Zca(z) => z.apply(image, h, w),
            Self::Of(o) => o.apply(image, h, w),
        }
    }

    /// Every image of `images`, standardised with `stdz` and whitened, concatenated NHWC.
    pub fn apply_all(&self, images: &LabelledImages, stdz: &Standardiser) -> Vec<f32> {
        let (h, w) = (images.height, images.width);
        let per: Vec<Vec<f32>> = (0..images.len())
            .into_par_iter()
            .map(|i| self.apply(&standardised(images, i, stdz), h, w))
            .collect();
        per.concat()
    }
}

/// Fits `kind` on the training `images` (standardised with `stdz`; ZCA on `k` x `k`
/// patches) and returns the transform with the whitened training images, or `None` for
/// [`InputWhitening::None`].
pub fn fit(
    kind: InputWhitening,
    images: &LabelledImages,
    stdz: &Standardiser,
    k: usize,
) -> Option<(WhiteningTransform, Vec<f32>)> {
    let c = images.channels;
    let mut transform = match kind {
        InputWhitening::None => return None,
        InputWhitening::Zca => WhiteningTransform::Zca(ZcaConvolution::estimate(images, stdz, k)),
        InputWhitening::Of => WhiteningTransform::Of(OfWhitening {
            f0: OF_F0,
            channels: c,
            output_scale: vec![1.0; c],
        }),
    };
    let mut values = transform.apply_all(images, stdz);
    // Unit variance per channel over every whitened training pixel.
    let (mut sum, mut sq) = (vec![0f64; c], vec![0f64; c]);
    for px in values.chunks_exact(c) {
        for (ch, &v) in px.iter().enumerate() {
            sum[ch] += v as f64;
            sq[ch] += v as f64 * v as f64;
        }
    }
    let n = (values.len() / c).max(1) as f64;
    let scale: Vec<f32> = (0..c)
        .map(|ch| {
            let var = (sq[ch] / n - (sum[ch] / n).powi(2)).max(0.0);
            // A flat training set (variance 0) is left unscaled rather than divided by 0.
            if var > 1e-12 {
                (1.0 / var.sqrt()) as f32
            } else {
                1.0
            }
        })
        .collect();
    for px in values.chunks_exact_mut(c) {
        for (v, s) in px.iter_mut().zip(&scale) {
            *v *= s;
        }
    }
    *transform.output_scale_mut() = scale;
    Some((transform, values))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::patches::spectrum::{log_log_slope, radial_amplitude};
    use rand_distr::{Distribution, StandardNormal};

    /// `n` images of `side` x `side` with `c` channels whose pixels are correlated: white
    /// Gaussian noise smoothed by a separable first-order recursion x[i] = a x[i-1] + e[i]
    /// (run over a 16-pixel lead-in so the border is stationary too), quantised to bytes
    /// around 128. With colour, channel 1 and 2 add a fraction of channel 0, so the channels
    /// are correlated as well.
    fn correlated_images(n: usize, side: usize, c: usize, a: f64, seed: u64) -> LabelledImages {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let lead = 16;
        let big = side + lead;
        let mut pixels = Vec::with_capacity(n * side * side * c);
        for _ in 0..n {
            let mut planes = Vec::new();
            for _ in 0..c {
                let mut f: Vec<f64> = (0..big * big)
                    .map(|_| StandardNormal.sample(&mut rng))
                    .collect();
                for y in 0..big {
                    for x in 1..big {
                        f[y * big + x] += a * f[y * big + x - 1];
                    }
                }
                for y in 1..big {
                    for x in 0..big {
                        f[y * big + x] += a * f[(y - 1) * big + x];
                    }
                }
                planes.push(f);
            }
            for y in lead..big {
                for x in lead..big {
                    let base = planes[0][y * big + x];
                    for (ch, plane) in planes.iter().enumerate() {
                        let v = if ch == 0 {
                            base
                        } else {
                            0.6 * base + plane[y * big + x]
                        };
                        pixels.push((128.0 + 8.0 * v).round().clamp(0.0, 255.0) as u8);
                    }
                }
            }
        }
        LabelledImages {
            height: side,
            width: side,
            channels: c,
            pixels,
            labels: vec![0; n],
            class_names: vec!["all".into()],
        }
    }

    /// Covariance of every k x k x c patch (all positions) of NHWC images `values`.
    fn patch_covariance(values: &[f32], n: usize, side: usize, c: usize, k: usize) -> Vec<f64> {
        let dim = k * k * c;
        let mut acc = CovarianceAccumulator::new(dim);
        let mut patch = vec![0f32; dim];
        for img in values.chunks_exact(side * side * c).take(n) {
            for y0 in 0..=side - k {
                for x0 in 0..=side - k {
                    for dy in 0..k {
                        patch[dy * k * c..(dy + 1) * k * c]
                            .copy_from_slice(&img[((y0 + dy) * side + x0) * c..][..k * c]);
                    }
                    acc.add(&patch);
                }
            }
        }
        let (_, cov) = acc.finish();
        cov.as_slice().to_vec()
    }

    fn worst_off_identity(cov: &[f64], dim: usize) -> (f64, f64) {
        let (mut diag, mut off) = (0f64, 0f64);
        for i in 0..dim {
            for j in 0..dim {
                let v = cov[i * dim + j];
                if i == j {
                    diag = diag.max((v - 1.0).abs());
                } else {
                    off = off.max(v.abs());
                }
            }
        }
        (diag, off)
    }

    #[test]
    fn zca_convolution_equals_the_matrix_at_the_patch_centre() {
        // The kernel is W's centre row, so at every interior pixel the convolution must give
        // exactly what W gives the patch around it; f32 sums of 75 terms of size ~10 agree
        // to 1e-4.
        let images = correlated_images(300, 12, 3, 0.7, 1);
        let stdz = Standardiser::fit(&images);
        let k = 5;
        let mut acc = CovarianceAccumulator::new(k * k * 3);
        let img = standardised(&images, 0, &stdz);
        let mut patch = vec![0f32; k * k * 3];
        for i in 0..images.len() {
            let im = standardised(&images, i, &stdz);
            for y0 in 0..=12 - k {
                for x0 in 0..=12 - k {
                    for dy in 0..k {
                        patch[dy * k * 3..(dy + 1) * k * 3]
                            .copy_from_slice(&im[((y0 + dy) * 12 + x0) * 3..][..k * 3]);
                    }
                    acc.add(&patch);
                }
            }
        }
        let (mean, cov) = acc.finish();
        let zca = Zca::fit(&mean, cov, ZCA_RELATIVE_EPSILON);
        let conv = ZcaConvolution::from_matrix(&zca, k, 3);
        let out = conv.apply(&img, 12, 12);
        let mut tmp = Vec::new();
        for (y0, x0) in [(0, 0), (3, 7), (7, 7)] {
            for dy in 0..k {
                patch[dy * k * 3..(dy + 1) * k * 3]
                    .copy_from_slice(&img[((y0 + dy) * 12 + x0) * 3..][..k * 3]);
            }
            let mut white = patch.clone();
            zca.apply(&mut white, 1, &mut tmp);
            let centre = ((k / 2) * k + k / 2) * 3;
            for ch in 0..3 {
                let got = out[((y0 + k / 2) * 12 + x0 + k / 2) * 3 + ch];
                let want = white[centre + ch];
                assert!(
                    (got - want).abs() < 1e-4,
                    "({y0},{x0}) ch {ch}: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn zca_whitened_images_have_near_identity_patch_covariance() {
        // Strongly correlated grayscale images (neighbour correlation about 0.8): their 7x7
        // patches have off-diagonal covariances up to 0.8 and eigenvalues spread over two
        // orders of magnitude. After the fitted convolution, the patches of the whitened
        // images (all positions of 400 fresh images, not those fitted on) must be white
        // within 0.15 per entry (measured: 0.05 on the diagonal, 0.08 off it). That tolerance covers what is not exact: the centre-row
        // kernel truncates the ideal whitening filter to 7x7 (the recursion's inverse has
        // a small tail beyond it), eps shrinks the weakest direction's variance to
        // L / (L + eps), and 400 x 676 correlated patches leave ~1% sampling error.
        let k = 7;
        let train = correlated_images(600, 32, 1, 0.8, 2);
        let test = correlated_images(400, 32, 1, 0.8, 3);
        let stdz = Standardiser::fit(&train);
        let raw: Vec<f32> = (0..test.len())
            .flat_map(|i| standardised(&test, i, &stdz))
            .collect();
        let before = patch_covariance(&raw, 400, 32, 1, k);
        let (_, off_before) = worst_off_identity(&before, k * k);
        assert!(
            off_before > 0.6,
            "the test data is not correlated: {off_before}"
        );
        let (transform, _) = fit(InputWhitening::Zca, &train, &stdz, k).unwrap();
        let white = transform.apply_all(&test, &stdz);
        let after = patch_covariance(&white, 400, 32, 1, k);
        let (diag, off) = worst_off_identity(&after, k * k);
        eprintln!("grayscale ZCA: before off {off_before:.3}; after diag {diag:.4} off {off:.4}");
        assert!(diag < 0.15 && off < 0.15, "diag {diag}, off-diagonal {off}");
    }

    #[test]
    fn zca_whitens_colour_jointly() {
        // Channels 1 and 2 share 0.6 of channel 0's signal: per-channel whitening would keep
        // that cross-channel covariance, the 3-channel kernel removes it. Same tolerance and
        // reasons as the grayscale test, with 5x5x3 patches (measured: 0.10 on the diagonal,
        // where eps shrinks the weakest colour-opponent directions most, 0.04 off it).
        let k = 5;
        let train = correlated_images(400, 16, 3, 0.6, 4);
        let test = correlated_images(300, 16, 3, 0.6, 5);
        let stdz = Standardiser::fit(&train);
        let (transform, _) = fit(InputWhitening::Zca, &train, &stdz, k).unwrap();
        let white = transform.apply_all(&test, &stdz);
        let after = patch_covariance(&white, 300, 16, 3, k);
        let (diag, off) = worst_off_identity(&after, k * k * 3);
        eprintln!("colour ZCA: diag {diag:.4} off {off:.4}");
        assert!(diag < 0.15 && off < 0.15, "diag {diag}, off-diagonal {off}");
    }

    #[test]
    fn fitted_training_set_has_unit_variance_per_channel() {
        let train = correlated_images(200, 16, 3, 0.6, 6);
        let stdz = Standardiser::fit(&train);
        for kind in [InputWhitening::Zca, InputWhitening::Of] {
            let (_, values) = fit(kind, &train, &stdz, 5).unwrap();
            for ch in 0..3 {
                let v: Vec<f64> = values
                    .iter()
                    .skip(ch)
                    .step_by(3)
                    .map(|&x| x as f64)
                    .collect();
                let m = v.iter().sum::<f64>() / v.len() as f64;
                let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64;
                // Set from these very values: only f32 rounding separates them from 1.
                assert!((var - 1.0).abs() < 1e-3, "{kind:?} channel {ch}: {var}");
            }
        }
        assert!(fit(InputWhitening::None, &train, &stdz, 5).is_none());
    }

    /// 64x64 grayscale images with a 1/f amplitude spectrum: random phases, amplitude 1/f,
    /// inverse FFT, scaled to bytes.
    fn one_over_f_images(n: usize, seed: u64) -> LabelledImages {
        use rustfft::FftPlanner;
        use rustfft::num_complex::Complex64;
        let side = 64;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut planner = FftPlanner::<f64>::new();
        let fft = planner.plan_fft_inverse(side);
        let mut pixels = Vec::new();
        let freq = |k: usize| {
            (if k <= side / 2 {
                k as f64
            } else {
                k as f64 - side as f64
            }) / side as f64
        };
        for _ in 0..n {
            let mut buf: Vec<Complex64> = (0..side * side)
                .map(|i| {
                    let f = (freq(i % side).powi(2) + freq(i / side).powi(2)).sqrt();
                    let re: f64 = StandardNormal.sample(&mut rng);
                    let im: f64 = StandardNormal.sample(&mut rng);
                    if f == 0.0 {
                        Complex64::new(0.0, 0.0)
                    } else {
                        Complex64::new(re, im) / f
                    }
                })
                .collect();
            for row in buf.chunks_exact_mut(side) {
                fft.process(row);
            }
            let mut col = vec![Complex64::new(0.0, 0.0); side];
            for x in 0..side {
                for y in 0..side {
                    col[y] = buf[y * side + x];
                }
                fft.process(&mut col);
                for y in 0..side {
                    buf[y * side + x] = col[y];
                }
            }
            let re: Vec<f64> = buf.iter().map(|v| v.re).collect();
            let sd = (re.iter().map(|v| v * v).sum::<f64>() / re.len() as f64).sqrt();
            pixels.extend(
                re.iter()
                    .map(|v| (128.0 + 30.0 * v / sd).round().clamp(0.0, 255.0) as u8),
            );
        }
        LabelledImages {
            height: side,
            width: side,
            channels: 1,
            pixels,
            labels: vec![0; n],
            class_names: vec!["all".into()],
        }
    }

    fn mean_slope(values: &[f32], n: usize, side: usize) -> f64 {
        // Over 0.05-0.25 cycles/pixel: above the few lowest bins, below the OF roll-off
        // (R's exponential factor is still 0.86 at 0.25 with f0 = 0.4).
        let slopes: Vec<f64> = values
            .chunks_exact(side * side)
            .take(n)
            .map(|d| {
                let img = GrayImage {
                    width: side,
                    height: side,
                    data: d.to_vec(),
                };
                log_log_slope(&radial_amplitude(&img), 0.05, 0.25)
            })
            .collect();
        slopes.iter().sum::<f64>() / slopes.len() as f64
    }

    #[test]
    fn of_whitening_flattens_the_amplitude_spectrum() {
        // 1/f images have a log-log amplitude slope of -1; the OF ramp multiplies by f, so
        // after it the slope is 0 up to the roll-off, which costs about -0.1 over this band.
        // Bounds: before in [-1.2, -0.8] (byte quantisation and clamping leave the slope
        // within 0.2 of -1), after within 0.25 of 0 (the roll-off plus the same 0.1-0.2
        // estimation noise of a 20-image mean), far from the -1 it started at.
        let images = one_over_f_images(20, 7);
        let stdz = Standardiser::fit(&images);
        let raw: Vec<f32> = (0..images.len())
            .flat_map(|i| standardised(&images, i, &stdz))
            .collect();
        let before = mean_slope(&raw, 20, 64);
        assert!((-1.2..-0.8).contains(&before), "slope before {before}");
        let (_, white) = fit(InputWhitening::Of, &images, &stdz, 7).unwrap();
        let after = mean_slope(&white, 20, 64);
        eprintln!("OF: slope {before:.3} -> {after:.3}");
        assert!(after.abs() < 0.25, "slope after {after}");
    }

    #[test]
    fn zca_flattens_the_amplitude_spectrum_too() {
        // ZCA on 9x9 patches is a local whitening filter, but over 0.05-0.25 cycles/pixel
        // (wavelengths of 4-20 pixels, most of them within or near the kernel) it flattens
        // the 1/f slope as well as OF does (measured +0.06). Same bound as OF's: a 9x9
        // kernel that failed to undo the ramp below 0.1 cycles/pixel would leave about -0.5.
        let images = one_over_f_images(20, 8);
        let stdz = Standardiser::fit(&images);
        let (_, white) = fit(InputWhitening::Zca, &images, &stdz, 9).unwrap();
        let after = mean_slope(&white, 20, 64);
        eprintln!("ZCA 9x9: slope after {after:.3}");
        assert!(after.abs() < 0.25, "slope after {after}");
    }

    #[test]
    fn transforms_round_trip_through_their_stored_form() {
        // A run stores its transform as JSON (checkpoint, run.json); evaluation and resume
        // rebuild it from there and must whiten to the same bits.
        let images = correlated_images(50, 16, 3, 0.6, 9);
        let stdz = Standardiser::fit(&images);
        for kind in [InputWhitening::Zca, InputWhitening::Of] {
            let (transform, values) = fit(kind, &images, &stdz, 5).unwrap();
            let text = serde_json::to_string(&transform).unwrap();
            let back: WhiteningTransform = serde_json::from_str(&text).unwrap();
            assert_eq!(back, transform);
            assert_eq!(back.kind(), kind);
            let again = back.apply_all(&images, &stdz);
            assert!(
                again
                    .iter()
                    .zip(&values)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "{kind:?}: re-applied transform differs"
            );
        }
    }

    #[test]
    fn mirror_repeats_the_edge() {
        let got: Vec<usize> = (-3..6).map(|i| mirror(i, 3)).collect();
        assert_eq!(got, vec![2, 1, 0, 0, 1, 2, 2, 1, 0]);
    }
}
