//! The amplitude spectrum of a filter plane from a zero-padded 2-D FFT, and what it says: the
//! peak spatial frequency and orientation, and the half-amplitude bandwidths in frequency
//! (octaves) and orientation (degrees).
//!
//! Conventions: frequencies in cycles per pixel; the plane's y axis points up (see
//! [`super::spatial`]), so an orientation is the direction of the wave vector,
//! counterclockwise from +x, folded into [0, 180) degrees: 0 means the values vary along x
//! (vertical stripes), 90 means they vary along y (horizontal stripes). The peak is the
//! largest FFT bin refined by a parabola through the log amplitudes of its neighbours on each
//! axis (exact for a Gaussian spectrum, so a Gabor's peak is found to well under a bin).
//! Bandwidths are full widths at half the peak amplitude, read off the bilinearly
//! interpolated spectrum along the radial line and the circle through the peak.

use crate::linalg::fft::Fft2d;
use rustfft::FftDirection;
use rustfft::num_complex::Complex;

/// Peak and bandwidths of a plane's amplitude spectrum.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpectralPeak {
    /// Peak spatial frequency, cycles/pixel (0 for a low-pass filter).
    pub frequency: f64,
    /// Orientation of the peak's wave vector, radians in [0, pi).
    pub orientation: f64,
    /// Full width at half amplitude along the radial line, octaves; NaN when the amplitude
    /// does not fall to half below the peak (low-pass) or above it before the Nyquist corner.
    pub frequency_bandwidth_octaves: f64,
    /// Full width at half amplitude around the circle through the peak, degrees; NaN when the
    /// peak is at zero frequency or the amplitude stays above half within +-90 degrees.
    pub orientation_bandwidth_deg: f64,
}

/// The FFT size used for a k x k plane: the next power of two of 8k, at least 64 and at most
/// 512 (but never smaller than k), so peaks of small filters are resolved to 1/8 of their
/// own frequency resolution.
pub fn padded_size(size: usize) -> usize {
    (8 * size)
        .next_power_of_two()
        .clamp(64, 512)
        .max(size.next_power_of_two())
}

/// Reusable buffers and plans for one FFT size; one per worker thread.
pub struct SpectrumWorkspace {
    fft: Fft2d<f64>,
    grid: Vec<Complex<f64>>,
    amplitude: Vec<f64>,
}

impl SpectrumWorkspace {
    /// A workspace for planes of side `size`.
    pub fn new(size: usize) -> Self {
        let n = padded_size(size);
        Self {
            fft: Fft2d::new(n, n),
            grid: vec![Complex::default(); n * n],
            amplitude: vec![0.0; n * n],
        }
    }

    /// FFT size per axis.
    pub fn n(&self) -> usize {
        self.fft.width()
    }

    /// Computes the amplitude spectrum of a `size x size` plane zero-padded to `n x n`
    /// (the plane sits in the top-left corner; a shift changes only the phase). Returns the
    /// `n x n` amplitudes, row-major, index [v * n + u] for row frequency v, column frequency u.
    pub fn amplitude(&mut self, values: &[f64], size: usize) -> &[f64] {
        let n = self.n();
        self.grid.fill(Complex::default());
        for r in 0..size {
            for c in 0..size {
                self.grid[r * n + c] = Complex::new(values[r * size + c], 0.0);
            }
        }
        // Rows of the padded grid that are all zero stay zero after the row FFT.
        let (fft, amplitude) = (&self.fft, &mut self.amplitude);
        fft.transform_rows(&mut self.grid, 0..size, FftDirection::Forward);
        fft.for_each_column(&mut self.grid, |u, column, scratch| {
            fft.transform_column(column, FftDirection::Forward, scratch);
            for (v, z) in column.iter().enumerate() {
                amplitude[v * n + u] = z.norm();
            }
        });
        &self.amplitude
    }

    /// Peak frequency, orientation and bandwidths of a plane. None for an all-zero plane.
    pub fn peak(&mut self, values: &[f64], size: usize) -> Option<SpectralPeak> {
        let n = self.n();
        self.amplitude(values, size);
        let amp = &self.amplitude;
        let (mut best, mut best_at) = (0.0, 0usize);
        for (i, &a) in amp.iter().enumerate() {
            if a > best {
                best = a;
                best_at = i;
            }
        }
        if best <= 0.0 {
            return None;
        }
        let (v, u) = (best_at / n, best_at % n);
        let at = |vv: usize, uu: usize| amp[(vv % n) * n + (uu % n)];
        let du = parabolic_offset(at(v, u + n - 1), best, at(v, u + 1));
        let dv = parabolic_offset(at(v + n - 1, u), best, at(v + 1, u));
        let signed = |i: usize, d: f64| {
            let i = if i > n / 2 {
                i as f64 - n as f64
            } else {
                i as f64
            };
            (i + d) / n as f64
        };
        let fx = signed(u, du);
        // Row frequencies count downwards; the y axis points up.
        let fy = -signed(v, dv);
        let frequency = fx.hypot(fy);
        let orientation = if frequency > 0.0 {
            fold_half_turn(fy.atan2(fx))
        } else {
            0.0
        };
        let peak_amp = self.sample(fx, fy).max(best);
        let half = 0.5 * peak_amp;
        let frequency_bandwidth_octaves = self.radial_bandwidth(frequency, orientation, half);
        let orientation_bandwidth_deg = if frequency > 0.0 {
            self.angular_bandwidth(frequency, orientation, half)
        } else {
            f64::NAN
        };
        Some(SpectralPeak {
            frequency,
            orientation,
            frequency_bandwidth_octaves,
            orientation_bandwidth_deg,
        })
    }

    /// Bilinear interpolation of the amplitude at frequency (fx, fy), y up, periodic.
    fn sample(&self, fx: f64, fy: f64) -> f64 {
        let n = self.n() as f64;
        let u = (fx * n).rem_euclid(n);
        let v = (-fy * n).rem_euclid(n);
        let (u0, v0) = (u.floor(), v.floor());
        let (wu, wv) = (u - u0, v - v0);
        let nn = self.n();
        let (u0, v0) = (u0 as usize % nn, v0 as usize % nn);
        let (u1, v1) = ((u0 + 1) % nn, (v0 + 1) % nn);
        let a = &self.amplitude;
        let top = a[v0 * nn + u0] * (1.0 - wu) + a[v0 * nn + u1] * wu;
        let bottom = a[v1 * nn + u0] * (1.0 - wu) + a[v1 * nn + u1] * wu;
        top * (1.0 - wv) + bottom * wv
    }

    fn radial_bandwidth(&self, f0: f64, theta: f64, half: f64) -> f64 {
        let (c, s) = (theta.cos(), theta.sin());
        let step = 0.25 / self.n() as f64;
        let along = |f: f64| self.sample(f * c, f * s);
        let f_max = std::f64::consts::SQRT_2 * 0.5;
        let lo = crossing(f0, step, 0.0, half, &along);
        let hi = crossing(-f0, step, -f_max, half, &|f: f64| along(-f));
        match (lo, hi) {
            (Some(lo), Some(hi)) if lo > 0.0 => (-hi / lo).log2(),
            _ => f64::NAN,
        }
    }

    fn angular_bandwidth(&self, f0: f64, theta: f64, half: f64) -> f64 {
        let step = (0.25 / self.n() as f64 / f0).min(0.25f64.to_radians());
        let around = |t: f64| self.sample(f0 * t.cos(), f0 * t.sin());
        let limit = std::f64::consts::FRAC_PI_2;
        let minus = crossing(theta, step, theta - limit, half, &around);
        let plus = crossing(-theta, step, -theta - limit, half, &|t: f64| around(-t));
        match (minus, plus) {
            (Some(m), Some(p)) => (-p - m).to_degrees(),
            _ => f64::NAN,
        }
    }
}

/// An angle folded into [0, pi), with pi minus rounding and -0 both reported as 0.
pub fn fold_half_turn(angle: f64) -> f64 {
    let folded = angle.rem_euclid(std::f64::consts::PI) + 0.0;
    if folded >= std::f64::consts::PI - 1e-12 {
        0.0
    } else {
        folded
    }
}

/// Walks `g` from `start` downwards in steps of `step` to `end`, and returns the point (by
/// linear interpolation) where it first falls below `half`; None if it never does.
fn crossing(start: f64, step: f64, end: f64, half: f64, g: &dyn Fn(f64) -> f64) -> Option<f64> {
    let mut prev_x = start;
    let mut prev = g(start);
    let mut x = start - step;
    while x >= end - 1e-15 {
        let cur = g(x);
        if cur < half {
            let t = if prev > cur {
                (prev - half) / (prev - cur)
            } else {
                0.0
            };
            return Some(prev_x - t * step);
        }
        prev_x = x;
        prev = cur;
        x -= step;
    }
    None
}

/// Offset in (-0.5, 0.5) of the vertex of the parabola through the log amplitudes at -1, 0, 1.
fn parabolic_offset(left: f64, centre: f64, right: f64) -> f64 {
    let floor = centre * 1e-12;
    let (l, c, r) = (
        left.max(floor).ln(),
        centre.max(floor).ln(),
        right.max(floor).ln(),
    );
    let denom = l - 2.0 * c + r;
    if denom >= 0.0 {
        return 0.0;
    }
    (0.5 * (l - r) / denom).clamp(-0.5, 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grating(size: usize, f: f64, theta: f64) -> Vec<f64> {
        let m = (size as f64 - 1.0) / 2.0;
        let mut v = Vec::new();
        for r in 0..size {
            for c in 0..size {
                let (x, y) = (c as f64 - m, m - r as f64);
                let env = (-(x * x + y * y) / (2.0 * 3.0f64.powi(2))).exp();
                v.push(
                    env * (2.0 * std::f64::consts::PI * f * (x * theta.cos() + y * theta.sin()))
                        .cos(),
                );
            }
        }
        v
    }

    #[test]
    fn peak_of_a_gabor_is_its_carrier() {
        let mut ws = SpectrumWorkspace::new(16);
        for (f, deg) in [(0.2, 30.0), (0.15, 100.0), (0.25, 0.0)] {
            let theta: f64 = f64::to_radians(deg);
            let p = ws.peak(&grating(16, f, theta), 16).unwrap();
            // The spectrum of a cosine-phase Gabor is two Gaussians, whose overlap pulls the
            // peak slightly towards DC; 3% and 2 degrees cover that at these frequencies.
            assert!((p.frequency - f).abs() / f < 0.03, "{f} {deg}: {p:?}");
            let diff = (p.orientation.to_degrees() - deg).rem_euclid(180.0);
            assert!(diff.min(180.0 - diff) < 2.0, "{f} {deg}: {p:?}");
            assert!(p.frequency_bandwidth_octaves > 0.0, "{f} {deg}: {p:?}");
        }
    }
}
