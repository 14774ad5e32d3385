//! The built-in natural-statistics image generator: the dead-leaves model of Lee, Mumford and
//! Huang (2001), "Occlusion models for natural images", IJCV 41.
//!
//! An image is a stack of opaque disks ("leaves") dropped at uniformly random places, each
//! with a uniformly random grey level in [0, 1] and a radius drawn from the scale-invariant
//! density p(r) ~ r^-3 between [`R_MIN`] and half the image size. Looking down on the stack,
//! each pixel shows the top-most disk covering it. Because the radii have no preferred scale,
//! the power spectrum falls as 1/f^2 (amplitude slope -1) between the two cut-offs, and
//! because the images are made of flat regions with sharp occluding edges, local filter
//! responses are heavy-tailed (mostly near zero, sometimes large), as in photographs.
//!
//! What it is not: it has no texture inside the leaves, no colour, no perspective or
//! depth-dependent size, no blur, noise or lighting gradients, and only round shapes, so
//! dictionaries learned from it show edges but none of the textures of real scenes.
//!
//! Rendering goes front to back: the first disk drawn is the top-most, and each later disk
//! only paints pixels not yet covered, so rendering stops as soon as the image is covered.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Smallest leaf radius in pixels: leaves much smaller than a pixel would only add noise.
pub const R_MIN: f64 = 1.0;

/// Generates one `size` x `size` dead-leaves image, row-major, grey levels in [0, 1],
/// deterministic from `seed`.
pub fn generate(size: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = size * size;
    // NaN marks "not covered yet"; grey levels are never NaN.
    let mut img = vec![f32::NAN; n];
    if size == 0 {
        return img;
    }
    let r_max = (size as f64 / 2.0).max(R_MIN * 2.0);
    let (a, b) = (R_MIN.powi(-2), r_max.powi(-2));
    let mut uncovered = n;
    // Full coverage needs about (area / mean disk area) * ln(area) disks; the cap is far
    // above that and only guards against pathological sizes.
    let max_disks = 64 * n + 1024;
    let mut disks = 0;
    while uncovered > 0 && disks < max_disks {
        disks += 1;
        // Inverse CDF of the density ~ r^-3 truncated to [R_MIN, r_max].
        let u: f64 = rng.random();
        let r = (a - u * (a - b)).powf(-0.5);
        // Centres may fall outside the image so that edges are statistically like the middle.
        let cx = rng.random::<f64>() * (size as f64 + 2.0 * r) - r;
        let cy = rng.random::<f64>() * (size as f64 + 2.0 * r) - r;
        let grey: f32 = rng.random();
        let y0 = ((cy - r).floor().max(0.0)) as usize;
        let y1 = ((cy + r).ceil().min(size as f64)) as usize;
        let r2 = r * r;
        for y in y0..y1 {
            let dy = y as f64 + 0.5 - cy;
            let half = r2 - dy * dy;
            if half < 0.0 {
                continue;
            }
            let half = half.sqrt();
            // Pixel centres x + 0.5 inside [cx - half, cx + half].
            let x0 = (cx - half - 0.5).ceil().max(0.0) as usize;
            let x1 = ((cx + half - 0.5).floor() + 1.0).clamp(0.0, size as f64) as usize;
            if x0 >= x1 {
                continue;
            }
            for v in &mut img[y * size + x0..y * size + x1] {
                if v.is_nan() {
                    *v = grey;
                    uncovered -= 1;
                }
            }
        }
    }
    if uncovered > 0 {
        let background: f32 = rng.random();
        for v in img.iter_mut().filter(|v| v.is_nan()) {
            *v = background;
        }
    }
    img
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covered_in_range_and_deterministic() {
        let a = generate(64, 7);
        assert!(a.iter().all(|v| (0.0..=1.0).contains(v)));
        assert_eq!(a, generate(64, 7));
        assert_ne!(a, generate(64, 8));
        // Occlusion makes flat regions: many neighbours are exactly equal.
        let equal = a.windows(2).filter(|w| w[0] == w[1]).count();
        assert!(equal > a.len() / 3, "{equal} of {}", a.len());
    }
}
