//! Where patches come from: how many from each image, and at which positions.
//!
//! Each image gets a share of the requested count proportional to its number of valid patch
//! positions (largest-remainder rounding, ties to the earlier image), so a folder of mixed
//! sizes is sampled evenly per pixel. Within an image, top-left corners are drawn uniformly,
//! with replacement, from the positions at least `margin` pixels from every border, using
//! the image's own random stream; the draws therefore depend only on the seed and the
//! image's index, never on the thread count.

use crate::error::{Error, Result};
use crate::io::images::GrayImage;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Number of valid top-left corners (x, y) of a `patch` x `patch` window kept `margin`
/// pixels inside a `width` x `height` image; (0, 0) if it does not fit.
pub fn valid_positions(width: usize, height: usize, patch: usize, margin: usize) -> (usize, usize) {
    let span = patch + 2 * margin;
    if width < span || height < span {
        (0, 0)
    } else {
        (width - span + 1, height - span + 1)
    }
}

/// Splits `total` into parts proportional to `weights` (largest remainder; ties go to the
/// earlier index). Every weight must be positive.
pub fn quotas(weights: &[u64], total: usize) -> Vec<usize> {
    let sum: u128 = weights.iter().map(|&w| w as u128).sum();
    if sum == 0 {
        return vec![0; weights.len()];
    }
    let mut parts: Vec<usize> = Vec::with_capacity(weights.len());
    let mut remainders: Vec<(u128, usize)> = Vec::with_capacity(weights.len());
    for (i, &w) in weights.iter().enumerate() {
        let exact = total as u128 * w as u128;
        parts.push((exact / sum) as usize);
        remainders.push((exact % sum, i));
    }
    let short = total - parts.iter().sum::<usize>();
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for &(_, i) in remainders.iter().take(short) {
        parts[i] += 1;
    }
    parts
}

/// The random stream for image `index` under `seed`.
pub fn image_rng(seed: u64, index: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index as u64);
    rng
}

/// A seed for per-image generation (the dead-leaves images) derived from the run's seed.
pub fn image_seed(seed: u64, index: usize) -> u64 {
    // SplitMix64 finaliser: nearby (seed, index) pairs give unrelated seeds.
    let mut z = seed.wrapping_add((index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// What to sample from one image.
pub struct SampleSpec {
    pub patch: usize,
    pub margin: usize,
    pub quota: usize,
    /// Reject patches whose standard deviation is below this (0 = keep all).
    pub min_std: f32,
}

/// Draws `spec.quota` patches from `img` with `rng`, handing each (row-major, patch x patch)
/// to `emit`. Returns the number of rejected draws. Fails if rejection keeps almost every
/// draw from being accepted (more than 100 rejections per requested patch, at least 10,000).
pub fn sample_image(
    img: &GrayImage,
    spec: &SampleSpec,
    rng: &mut ChaCha8Rng,
    label: &str,
    buf: &mut Vec<f32>,
    mut emit: impl FnMut(&[f32]) -> Result<()>,
) -> Result<usize> {
    let p = spec.patch;
    let (nx, ny) = valid_positions(img.width, img.height, p, spec.margin);
    if spec.quota == 0 {
        return Ok(0);
    }
    if nx == 0 {
        return Err(Error::failed(
            label,
            "image too small for the patch and margin",
        ));
    }
    let max_rejections = spec.quota.saturating_mul(100).max(10_000);
    let mut rejected = 0usize;
    let mut accepted = 0usize;
    buf.clear();
    buf.resize(p * p, 0.0);
    while accepted < spec.quota {
        let x = spec.margin + rng.random_range(0..nx);
        let y = spec.margin + rng.random_range(0..ny);
        for (r, dst) in buf.chunks_exact_mut(p).enumerate() {
            let start = (y + r) * img.width + x;
            dst.copy_from_slice(&img.data[start..start + p]);
        }
        if spec.min_std > 0.0 && patch_std(buf) < spec.min_std as f64 {
            rejected += 1;
            if rejected > max_rejections {
                return Err(Error::usage(
                    "--min-std",
                    spec.min_std,
                    format!(
                        "{label}: {rejected} patches rejected for {accepted} accepted; the \
                         threshold is above almost every patch's standard deviation"
                    ),
                ));
            }
            continue;
        }
        emit(buf)?;
        accepted += 1;
    }
    Ok(rejected)
}

/// Standard deviation of a patch about its own mean.
pub fn patch_std(patch: &[f32]) -> f64 {
    let n = patch.len() as f64;
    let mean = patch.iter().map(|&v| v as f64).sum::<f64>() / n;
    (patch
        .iter()
        .map(|&v| (v as f64 - mean).powi(2))
        .sum::<f64>()
        / n)
        .sqrt()
}

/// Subtracts each patch's mean (the DC component) in place.
pub fn remove_dc(block: &mut [f32], dim: usize) {
    for patch in block.chunks_exact_mut(dim) {
        let mean = (patch.iter().map(|&v| v as f64).sum::<f64>() / dim as f64) as f32;
        patch.iter_mut().for_each(|v| *v -= mean);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_sum_and_proportion() {
        assert_eq!(quotas(&[1, 1, 1], 10), vec![4, 3, 3]);
        assert_eq!(quotas(&[3, 1], 8), vec![6, 2]);
        assert_eq!(quotas(&[5], 7), vec![7]);
        assert_eq!(quotas(&[2, 2, 2, 2], 0), vec![0, 0, 0, 0]);
    }

    #[test]
    fn positions_respect_margin() {
        assert_eq!(valid_positions(20, 30, 12, 4), (1, 11));
        assert_eq!(valid_positions(19, 30, 12, 4), (0, 0));
    }
}
