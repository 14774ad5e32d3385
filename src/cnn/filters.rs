//! Simple shape measures of a first-layer bank (filters, channels, k, k), logged every
//! epoch so a run shows its filters leaving the noise they start from. (The analysis module
//! fits Gabors; these are cheap, fit-free proxies.)
//!
//! - Orientedness: coherence of the structure tensor summed over the filter,
//!   `sqrt((Jxx - Jyy)^2 + 4 Jxy^2) / (Jxx + Jyy)` from finite-difference gradients of each
//!   channel; 1 for a perfect straight edge or grating, about 0.2 for white noise of size 5.
//! - Spread: the energy-weighted RMS distance of the filter's pixels from its energy centroid,
//!   divided by the same for a uniform filter; about 1 for noise, small for a localized blob.

/// Structure-tensor coherence of one filter (`channels` planes of k x k), NaN if flat.
pub fn orientedness(filter: &[f32], channels: usize, k: usize) -> f64 {
    let (mut jxx, mut jyy, mut jxy) = (0f64, 0f64, 0f64);
    for plane in filter.chunks_exact(k * k).take(channels) {
        let at = |y: usize, x: usize| plane[y * k + x] as f64;
        for y in 0..k - 1 {
            for x in 0..k - 1 {
                let gx = 0.5 * (at(y, x + 1) - at(y, x) + at(y + 1, x + 1) - at(y + 1, x));
                let gy = 0.5 * (at(y + 1, x) - at(y, x) + at(y + 1, x + 1) - at(y, x + 1));
                jxx += gx * gx;
                jyy += gy * gy;
                jxy += gx * gy;
            }
        }
    }
    let trace = jxx + jyy;
    if trace <= 0.0 {
        return f64::NAN;
    }
    ((jxx - jyy).powi(2) + 4.0 * jxy * jxy).sqrt() / trace
}

/// Energy spread of one filter relative to a uniform one, NaN if all zero.
pub fn spread(filter: &[f32], channels: usize, k: usize) -> f64 {
    let mut energy = vec![0f64; k * k];
    for plane in filter.chunks_exact(k * k).take(channels) {
        for (e, v) in energy.iter_mut().zip(plane) {
            *e += (*v as f64).powi(2);
        }
    }
    let total: f64 = energy.iter().sum();
    if total <= 0.0 {
        return f64::NAN;
    }
    let rms = |weights: &[f64], total: f64| {
        let (mut cy, mut cx) = (0.0, 0.0);
        for (i, w) in weights.iter().enumerate() {
            cy += w * (i / k) as f64;
            cx += w * (i % k) as f64;
        }
        let (cy, cx) = (cy / total, cx / total);
        let var: f64 = weights
            .iter()
            .enumerate()
            .map(|(i, w)| w * (((i / k) as f64 - cy).powi(2) + ((i % k) as f64 - cx).powi(2)))
            .sum();
        (var / total).sqrt()
    };
    let uniform = vec![1.0; k * k];
    rms(&energy, total) / rms(&uniform, (k * k) as f64)
}

/// Mean of a measure over a bank's filters, skipping NaN.
pub fn bank_mean(
    bank: &[f32],
    channels: usize,
    k: usize,
    measure: fn(&[f32], usize, usize) -> f64,
) -> f64 {
    let per = channels * k * k;
    let values: Vec<f64> = bank
        .chunks_exact(per)
        .map(|f| measure(f, channels, k))
        .filter(|v| v.is_finite())
        .collect();
    if values.is_empty() {
        f64::NAN
    } else {
        values.iter().sum::<f64>() / values.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edge_is_oriented_and_a_dot_is_localized() {
        let k = 7;
        let edge: Vec<f32> = (0..k * k)
            .map(|i| if i % k < 3 { -1.0 } else { 1.0 })
            .collect();
        assert!(orientedness(&edge, 1, k) > 0.99);
        let mut dot = vec![0f32; k * k];
        dot[3 * k + 3] = 1.0;
        assert!(spread(&dot, 1, k) < 1e-9);
        let flat = vec![1f32; k * k];
        assert!((spread(&flat, 1, k) - 1.0).abs() < 1e-12);
    }
}
