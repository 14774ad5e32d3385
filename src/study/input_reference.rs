//! The reference learned from the CNN's own input, and the input's second-order statistics.
//!
//! The first layer is compared with a dictionary learned from what the first layer itself
//! sees: k x k patches of the same (grayscale) training images, standardised with the same
//! per-channel mean and deviation as the network's input. Only two things differ from the
//! network's view, both needed by sparse coding: each patch has its mean removed (a DC atom
//! would otherwise take most of the energy), and all patches share one scale factor that
//! gives them unit variance per pixel (so the study's lambda means what it means for the
//! whitened Kodak patches).
//!
//! The same patches, with their means kept, give the input's patch covariance C: its power
//! spectrum is the spectrum a whitening filter must flatten (criterion 3, after Chowers and
//! Weiss), and C^(1/2) carries a first-layer filter w into whitened coordinates: w.x =
//! (C^(1/2) w).z for the whitened patch z = C^(-1/2) x, so C^(1/2) w is the filter a
//! dictionary of whitened patches would have to contain (criterion 4).

use super::layout;
use super::params::ValidStudyParams;
use crate::cnn::data::{Datasets, Standardiser};
use crate::dictionary::{FolderRun, LearnParams, RunEnd, RunFolder, RunIntervals, StopRule};
use crate::error::Result;
use crate::io::{atomic, npy};
use crate::observer::Progress;
use nalgebra::DMatrix;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::Path;
use std::time::Duration;

/// Patches sampled for the covariance and spectrum (enough for a 2% error per entry).
const STATISTICS_PATCHES: usize = 20_000;

/// `count` k x k patches of standardised grayscale training images (image and position
/// drawn from `seed`), row-major, means kept.
pub fn raw_patches(data: &Datasets, k: usize, count: usize, seed: u64) -> Vec<f32> {
    let train = &data.train;
    let stdz = Standardiser::fit(train);
    let (h, w, c) = (train.height, train.width, train.channels);
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x14E7_9A7C);
    let mut out = Vec::with_capacity(count * k * k);
    for _ in 0..count {
        let i = rng.random_range(0..train.len());
        let (y0, x0) = (rng.random_range(0..=h - k), rng.random_range(0..=w - k));
        let img = train.image(i);
        for y in y0..y0 + k {
            for x in x0..x0 + k {
                // Luminance of a colour source is the mean of its standardised channels; the
                // study's grayscale runs have one channel.
                let px = &img[(y * w + x) * c..][..c];
                let v: f32 = px
                    .iter()
                    .enumerate()
                    .map(|(ch, &b)| (b as f32 / 255.0 - stdz.mean[ch]) / stdz.std[ch])
                    .sum::<f32>()
                    / c as f32;
                out.push(v);
            }
        }
    }
    out
}

/// Removes each patch's mean and scales all patches by one factor to unit variance per
/// pixel; returns the factor.
fn dictionary_patches(patches: &mut [f32], dim: usize) -> f64 {
    for p in patches.chunks_exact_mut(dim) {
        let m = p.iter().sum::<f32>() / dim as f32;
        p.iter_mut().for_each(|v| *v -= m);
    }
    let var = patches.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / patches.len() as f64;
    let scale = 1.0 / var.sqrt().max(1e-12);
    patches.iter_mut().for_each(|v| *v *= scale as f32);
    scale
}

/// Writes the input patches and learns the input dictionary into `reference/input/`,
/// skipping what exists (an interrupted dictionary continues from its checkpoint).
pub fn build(
    out: &Path,
    data: &Datasets,
    c: &ValidStudyParams,
    progress: &dyn Progress,
) -> Result<()> {
    let dir = out.join(layout::INPUT_REFERENCE);
    atomic::ensure_dir(&dir)?;
    let patches = out.join(layout::INPUT_PATCHES);
    let k = c.kernel;
    if !patches.exists() {
        progress.note(&format!(
            "study: sampling {} {k}x{k} patches of the CNN's standardised training images",
            c.patches
        ));
        let mut values = raw_patches(data, k, c.patches, c.seed);
        dictionary_patches(&mut values, k * k);
        npy::write(&patches, &[c.patches, k * k], &values, true)?;
    }
    super::run::stop_if_asked(out)?;
    let folder = RunFolder::new(&dir);
    if folder.sidecar().exists() {
        return Ok(());
    }
    progress.note(&format!(
        "study: learning {} atoms from the CNN's input patches (lambda {})",
        c.input_atoms, c.lambda
    ));
    let mut run = if folder.checkpoint().exists() {
        FolderRun::resume(folder, None, None)?
    } else {
        let params = LearnParams {
            atoms: c.input_atoms,
            lambda: c.lambda,
            stop: StopRule::Epochs(c.learn_epochs),
            seed: c.seed,
            ..LearnParams::default()
        }
        .check()?;
        FolderRun::start(&params, &patches, folder, true)?
    };
    let every = RunIntervals {
        checkpoint_every: Duration::from_secs(300),
        montage_every: Duration::from_secs(300),
    };
    match run.run(every, progress)? {
        RunEnd::Finished => Ok(()),
        RunEnd::Interrupted => Err(super::run::interrupted(out)),
    }
}

/// The input's patch statistics: covariance square root and radial power spectrum.
pub struct InputStatistics {
    pub k: usize,
    /// C^(1/2), k*k x k*k.
    pub sqrt_cov: DMatrix<f64>,
    /// Distinct non-zero radial frequencies of the k x k DFT (cycles/pixel), ascending.
    pub radii: Vec<f64>,
    /// The patches' mean power at each radius.
    pub power: Vec<f64>,
}

impl InputStatistics {
    pub fn new(data: &Datasets, k: usize, seed: u64) -> Self {
        let patches = raw_patches(data, k, STATISTICS_PATCHES, seed ^ 0x57A7);
        let dim = k * k;
        let n = patches.len() / dim;
        let x = DMatrix::from_iterator(dim, n, patches.iter().map(|&v| v as f64));
        let mean = x.column_mean();
        let centred = &x - &mean * nalgebra::RowDVector::from_element(n, 1.0);
        let cov = &centred * centred.transpose() / n as f64;
        let eig = cov.symmetric_eigen();
        let root = eig.eigenvalues.map(|l| l.max(0.0).sqrt());
        let sqrt_cov =
            &eig.eigenvectors * DMatrix::from_diagonal(&root) * eig.eigenvectors.transpose();
        let radii = radii(k);
        let mut power = vec![0.0; radii.len()];
        for p in patches.chunks_exact(dim) {
            let row = radial_power(p, k, &radii);
            power.iter_mut().zip(&row).for_each(|(a, b)| *a += b);
        }
        power.iter_mut().for_each(|v| *v /= n as f64);
        Self {
            k,
            sqrt_cov,
            radii,
            power,
        }
    }

    /// The whitening spectrum, 1 / power: the gain (squared) that flattens the input.
    pub fn whitening(&self) -> Vec<f64> {
        self.power.iter().map(|p| 1.0 / p.max(1e-12)).collect()
    }

    /// `filter` (k*k, row-major) in whitened coordinates: C^(1/2) w.
    pub fn to_whitened(&self, filter: &[f32]) -> Vec<f32> {
        let w = nalgebra::DVector::from_iterator(filter.len(), filter.iter().map(|&v| v as f64));
        (&self.sqrt_cov * w).iter().map(|&v| v as f32).collect()
    }
}

/// The distinct radii sqrt(fx^2 + fy^2) > 0 of the k x k DFT's frequencies, in
/// cycles/pixel, with frequencies folded to [-1/2, 1/2].
pub fn radii(k: usize) -> Vec<f64> {
    let mut r: Vec<f64> = Vec::new();
    for u in 0..k {
        for v in 0..k {
            let q = radius(u, v, k);
            if q > 0.0 && !r.iter().any(|&x| (x - q).abs() < 1e-9) {
                r.push(q);
            }
        }
    }
    r.sort_by(f64::total_cmp);
    r
}

fn folded(u: usize, k: usize) -> f64 {
    let f = u as f64 / k as f64;
    if f > 0.5 { f - 1.0 } else { f }
}

fn radius(u: usize, v: usize, k: usize) -> f64 {
    folded(u, k).hypot(folded(v, k))
}

/// The 2-D DFT power |F(u, v)|^2 of a k x k plane, (v, u) row-major.
pub fn power_2d(plane: &[f32], k: usize) -> Vec<f64> {
    let tau = std::f64::consts::TAU;
    let mut out = vec![0.0; k * k];
    for v in 0..k {
        for u in 0..k {
            let (mut re, mut im) = (0.0, 0.0);
            for y in 0..k {
                for x in 0..k {
                    let a = -tau * (u * x + v * y) as f64 / k as f64;
                    let p = plane[y * k + x] as f64;
                    re += p * a.cos();
                    im += p * a.sin();
                }
            }
            out[v * k + u] = re * re + im * im;
        }
    }
    out
}

/// Mean power of `plane` at each of `radii` (a radial average).
pub fn radial_power(plane: &[f32], k: usize, radii: &[f64]) -> Vec<f64> {
    let p = power_2d(plane, k);
    let (mut sum, mut count) = (vec![0.0; radii.len()], vec![0usize; radii.len()]);
    for v in 0..k {
        for u in 0..k {
            let q = radius(u, v, k);
            if let Some(i) = radii.iter().position(|&x| (x - q).abs() < 1e-9) {
                sum[i] += p[v * k + u];
                count[i] += 1;
            }
        }
    }
    sum.iter()
        .zip(&count)
        .map(|(s, &n)| s / n.max(1) as f64)
        .collect()
}

/// Orientation selectivity of a k x k plane from its power spectrum (DC excluded): the
/// length of the power-weighted mean of exp(2i theta) over frequencies, 0 for a filter
/// with the same power at every orientation, 1 for a single orientation.
pub fn orientation_selectivity(plane: &[f32], k: usize) -> f64 {
    let p = power_2d(plane, k);
    let (mut c, mut s, mut total) = (0.0, 0.0, 0.0);
    for v in 0..k {
        for u in 0..k {
            let (fx, fy) = (folded(u, k), folded(v, k));
            if fx == 0.0 && fy == 0.0 {
                continue;
            }
            let theta = fy.atan2(fx);
            let w = p[v * k + u];
            c += w * (2.0 * theta).cos();
            s += w * (2.0 * theta).sin();
            total += w;
        }
    }
    if total <= 0.0 {
        f64::NAN
    } else {
        c.hypot(s) / total
    }
}

/// Pearson correlation of the logarithms of two positive series (NaN if either is flat).
pub fn log_correlation(a: &[f64], b: &[f64]) -> f64 {
    let la: Vec<f64> = a.iter().map(|v| v.max(1e-30).ln()).collect();
    let lb: Vec<f64> = b.iter().map(|v| v.max(1e-30).ln()).collect();
    let n = la.len().min(lb.len()) as f64;
    let (ma, mb) = (la.iter().sum::<f64>() / n, lb.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in la.iter().zip(&lb) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma).powi(2);
        sbb += (y - mb).powi(2);
    }
    if saa <= 0.0 || sbb <= 0.0 {
        f64::NAN
    } else {
        sab / (saa * sbb).sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A k x k cosine grating of `cycles` cycles across the patch at angle `theta`.
    fn grating(k: usize, cycles: f64, theta: f64) -> Vec<f32> {
        let f = cycles / k as f64;
        (0..k * k)
            .map(|i| {
                let (y, x) = ((i / k) as f64, (i % k) as f64);
                let t = x * theta.cos() + y * theta.sin();
                (std::f64::consts::TAU * f * t).cos() as f32
            })
            .collect()
    }

    #[test]
    fn a_grating_is_selective_and_noise_is_not() {
        // An axis-aligned grating on the DFT grid puts all its power at one orientation:
        // selectivity 1 up to rounding.
        let g = grating(7, 2.0, 0.0);
        assert!((orientation_selectivity(&g, 7) - 1.0).abs() < 1e-9);
        // A centred isotropic blob spreads its power over all orientations. Its DFT grid is
        // square, not round, so a little selectivity remains; 0.1 bounds it.
        let blob: Vec<f32> = (0..49)
            .map(|i| {
                let (y, x) = ((i / 7) as f32 - 3.0, (i % 7) as f32 - 3.0);
                (-(x * x + y * y) / 2.0).exp()
            })
            .collect();
        assert!(orientation_selectivity(&blob, 7) < 0.1);
    }

    #[test]
    fn radial_power_finds_a_gratings_frequency() {
        let k = 7;
        let r = radii(k);
        let p = radial_power(&grating(k, 2.0, 0.0), k, &r);
        let peak = r[p
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .unwrap()
            .0];
        assert!((peak - 2.0 / 7.0).abs() < 1e-9, "peak at {peak}");
    }

    #[test]
    fn log_correlation_of_a_power_law_and_its_inverse_is_minus_one() {
        let a: Vec<f64> = (1..8).map(|i| (i as f64).powf(-2.0)).collect();
        let b: Vec<f64> = a.iter().map(|v| 1.0 / v).collect();
        assert!((log_correlation(&a, &b) + 1.0).abs() < 1e-12);
        assert!((log_correlation(&a, &a) - 1.0).abs() < 1e-12);
    }
}
