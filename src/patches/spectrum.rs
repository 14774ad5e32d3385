//! Radially averaged amplitude spectra: the measurement behind "natural images have a 1/f
//! amplitude spectrum" and "whitening flattens it". Used by the tests and available to users
//! who want to check their own images.

use crate::io::images::GrayImage;
use crate::linalg::fft::{Fft2d, bin_frequency};
use rustfft::FftDirection;
use rustfft::num_complex::Complex64;

/// The radially averaged amplitude spectrum of `img`: element k is the mean |F| over the
/// frequencies with radius in [k, k+1) / n cycles/pixel, n = min(width, height), for
/// k < n/2. The mean is removed and a separable Hann window applied first, so the image's
/// borders do not add a spurious cross of energy. Returns (frequency of bin k's lower edge,
/// mean amplitude) pairs; bin 0 (the DC) is omitted.
pub fn radial_amplitude(img: &GrayImage) -> Vec<(f64, f64)> {
    let (w, h) = (img.width, img.height);
    let n = w.min(h);
    if n < 4 {
        return Vec::new();
    }
    let mean = img.data.iter().map(|&v| v as f64).sum::<f64>() / (w * h) as f64;
    let hann = |i: usize, len: usize| {
        0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / (len - 1) as f64).cos()
    };
    let mut buf: Vec<Complex64> = (0..w * h)
        .map(|i| {
            let (y, x) = (i / w, i % w);
            Complex64::new((img.data[i] as f64 - mean) * hann(x, w) * hann(y, h), 0.0)
        })
        .collect();
    let fft = Fft2d::<f64>::new(w, h);
    fft.transform_rows(&mut buf, 0..h, FftDirection::Forward);
    let bins = n / 2;
    let mut sum = vec![0.0f64; bins];
    let mut count = vec![0usize; bins];
    fft.for_each_column(&mut buf, |x, column, scratch| {
        fft.transform_column(column, FftDirection::Forward, scratch);
        for (y, v) in column.iter().enumerate() {
            let f = (bin_frequency(x, w).powi(2) + bin_frequency(y, h).powi(2)).sqrt();
            let k = (f * n as f64) as usize;
            if k < bins {
                sum[k] += v.norm();
                count[k] += 1;
            }
        }
    });
    (1..bins)
        .filter(|&k| count[k] > 0)
        .map(|k| (k as f64 / n as f64, sum[k] / count[k] as f64))
        .collect()
}

/// Least-squares slope of log amplitude against log frequency over `lo <= f <= hi`.
pub fn log_log_slope(spectrum: &[(f64, f64)], lo: f64, hi: f64) -> f64 {
    let pts: Vec<(f64, f64)> = spectrum
        .iter()
        .filter(|(f, a)| *f >= lo && *f <= hi && *a > 0.0)
        .map(|(f, a)| (f.ln(), a.ln()))
        .collect();
    let n = pts.len() as f64;
    let (mx, my) = (
        pts.iter().map(|p| p.0).sum::<f64>() / n,
        pts.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
    sxy / sxx
}
