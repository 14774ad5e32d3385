//! The statistics that make whitened patches worth learning from: OF whitening flattens the
//! amplitude spectrum of real photographs (the Kodak set), and the built-in dead-leaves images
//! have the 1/f amplitude spectrum and heavy-tailed filter responses of natural images.

mod common;

use simplecell::analysis::sparsity::excess_kurtosis;
use simplecell::io::images::{GrayImage, load_luminance};
use simplecell::patches::dead_leaves;
use simplecell::patches::spectrum::{log_log_slope, radial_amplitude};
use simplecell::patches::whiten::{of_filter, scale_to_unit_variance};

/// Mean of the per-image spectra, each normalised to unit mean over `norm_band`, so every
/// image weighs the same whatever its contrast.
fn mean_spectrum(images: &[GrayImage], norm_band: (f64, f64)) -> Vec<(f64, f64)> {
    let mut acc: Vec<(f64, f64)> = Vec::new();
    for img in images {
        let s = radial_amplitude(img);
        let band: Vec<f64> = s
            .iter()
            .filter(|(f, _)| *f >= norm_band.0 && *f <= norm_band.1)
            .map(|p| p.1)
            .collect();
        let norm = band.iter().sum::<f64>() / band.len() as f64;
        if acc.is_empty() {
            acc = s.iter().map(|&(f, _)| (f, 0.0)).collect();
        }
        // Images of different shapes give bins at different frequencies; interpolate each
        // spectrum at the first image's bin frequencies (linear in f, bins are 1/512 apart).
        for (f, a) in acc.iter_mut() {
            let v = interpolate(&s, *f);
            *a += v / norm / images.len() as f64;
        }
    }
    acc
}

fn interpolate(s: &[(f64, f64)], f: f64) -> f64 {
    match s.iter().position(|p| p.0 >= f) {
        Some(0) => s[0].1,
        Some(i) => {
            let (f0, a0) = s[i - 1];
            let (f1, a1) = s[i];
            a0 + (a1 - a0) * (f - f0) / (f1 - f0)
        }
        None => s.last().map(|p| p.1).unwrap_or(0.0),
    }
}

fn band_mean(s: &[(f64, f64)], lo: f64, hi: f64) -> f64 {
    let v: Vec<f64> = s
        .iter()
        .filter(|p| p.0 >= lo && p.0 < hi)
        .map(|p| p.1)
        .collect();
    v.iter().sum::<f64>() / v.len() as f64
}

#[test]
fn of_whitening_flattens_the_kodak_spectrum_below_the_roll_off() {
    let Some(dir) = common::shared_data("kodak") else {
        return;
    };
    let files = simplecell::io::images::list_images(&dir).unwrap();
    assert_eq!(files.len(), 24, "the Kodak set has 24 photographs");
    let raw: Vec<GrayImage> = files.iter().map(|p| load_luminance(p).unwrap()).collect();
    let white: Vec<GrayImage> = raw
        .iter()
        .map(|img| {
            let mut w = of_filter(img, 0.4);
            scale_to_unit_variance(&mut w, 8);
            w
        })
        .collect();
    // The band below the roll-off: from 10 cycles/picture up to 0.25 cycles/pixel, where the
    // filter's exp(-(f/f0)^4) still passes 94% (0.5^4 = 1/16).
    let (lo, hi) = (0.02, 0.25);
    let before = mean_spectrum(&raw, (lo, hi));
    let after = mean_spectrum(&white, (lo, hi));
    let slope_before = log_log_slope(&before, lo, hi);
    let slope_after = log_log_slope(&after, lo, hi);
    eprintln!(
        "log-log slope over [{lo}, {hi}] cycles/pixel: raw {slope_before:.3}, whitened {slope_after:.3}"
    );
    // Photographs fall off as about 1/f (slope -1.1 measured on this set with NumPy).
    assert!(slope_before < -0.8, "raw slope {slope_before}");
    // Flat: a residual slope within +-0.25, i.e. less than a factor 10^0.25 = 1.8 drift over
    // the decade; the set's own mean slope is -1.1, so about -0.1 is expected.
    assert!(slope_after.abs() < 0.25, "whitened slope {slope_after}");
    // And no bin strays by more than a factor 1.6 from the band mean (bins average hundreds
    // of coefficients over 24 images, so the scatter is a few percent).
    let in_band: Vec<f64> = after
        .iter()
        .filter(|p| p.0 >= lo && p.0 <= hi)
        .map(|p| p.1)
        .collect();
    let (min, max) = in_band
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    eprintln!("whitened band: min {min:.3} max {max:.3} (unit mean)");
    assert!(min > 1.0 / 1.6 && max < 1.6, "min {min}, max {max}");
    // Above the roll-off (f0 = 0.4) the filter falls steeply: at 0.45..0.5 cycles/pixel
    // R is down to 0.2..0.08 of the ramp, so the amplitude must be well below the band's.
    let top = band_mean(&after, 0.45, 0.5);
    eprintln!("whitened amplitude at 0.45-0.5 cycles/pixel: {top:.3} of the band mean");
    assert!(top < 0.5, "above the roll-off: {top}");
}

#[test]
fn built_in_images_have_a_power_law_spectrum_and_heavy_tailed_responses() {
    let images: Vec<GrayImage> = (0..4)
        .map(|seed| GrayImage {
            width: 512,
            height: 512,
            data: dead_leaves::generate(512, seed),
        })
        .collect();
    // Between the smallest leaves (radius 1 pixel, f ~ 0.2) and the image size.
    let (lo, hi) = (0.01, 0.15);
    let s = mean_spectrum(&images, (lo, hi));
    let slope = log_log_slope(&s, lo, hi);
    eprintln!("dead-leaves amplitude slope over [{lo}, {hi}]: {slope:.3}");
    // Scale invariance predicts -1. Measured: -0.81 (steeper towards high frequencies,
    // shallower towards the largest leaves); the Kodak photographs range from -0.8 to -1.44.
    // +-0.3 around -1 accepts that range of natural images and rejects white noise (0) and
    // smooth images (-2 or steeper).
    assert!((-1.3..=-0.7).contains(&slope), "slope {slope}");
    // A horizontal derivative filter: mostly zero inside leaves, large at occluding edges.
    let mut responses = Vec::new();
    for img in &images {
        for row in img.data.chunks_exact(img.width) {
            responses.extend(row.windows(2).map(|w| w[1] - w[0]));
        }
    }
    let k = excess_kurtosis(&responses);
    eprintln!("excess kurtosis of derivative responses: {k:.2}");
    // A Gaussian gives 0, a Laplacian 3; natural images give 5..20 for such filters.
    assert!(k > 3.0, "excess kurtosis {k}");
    // OF-whitened built-in images are heavy-tailed too (the patches users learn from).
    let mut w = of_filter(&images[0], 0.4);
    scale_to_unit_variance(&mut w, 8);
    let kw = excess_kurtosis(&w.data);
    eprintln!("excess kurtosis of whitened pixels: {kw:.2}");
    assert!(kw > 1.0, "whitened excess kurtosis {kw}");
}
