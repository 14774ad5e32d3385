//! Turning a filter bank into the square grey planes that every measure works on. A
//! dictionary (atoms, pixels) is one plane per atom; a CNN layer (filters, channels, k, k) is
//! projected to luminance by default (ITU-R BT.601 weights 0.299, 0.587, 0.114 for three
//! channels, the plain channel mean for any other count), or split into one plane per channel
//! on request. Also the resampling used when two banks of different sizes are compared.

use crate::bank::Bank;

/// BT.601 luma weights for R, G, B: the usual grey conversion for sRGB-coded images.
pub const LUMA_WEIGHTS: [f64; 3] = [0.299, 0.587, 0.114];

/// How channels become planes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColourMode {
    /// One plane per filter: luminance projection of its channels.
    Luminance,
    /// One plane per (filter, channel).
    PerChannel,
}

/// One square plane of filter values, row-major, with where it came from.
#[derive(Debug, Clone)]
pub struct Plane {
    /// Index of the filter in the bank.
    pub filter: usize,
    /// Channel index, or None for the luminance projection (or a one-channel bank).
    pub channel: Option<usize>,
    /// Side length in pixels.
    pub size: usize,
    /// `size * size` values, row-major (row 0 is the top of the patch).
    pub values: Vec<f64>,
}

/// The planes of a bank under `mode`.
pub fn planes(bank: &Bank, mode: ColourMode) -> Vec<Plane> {
    let pixels = bank.size * bank.size;
    let mut out = Vec::new();
    for i in 0..bank.count {
        let f = bank.filter(i);
        if bank.channels == 1 {
            out.push(Plane {
                filter: i,
                channel: None,
                size: bank.size,
                values: f.iter().map(|&v| v as f64).collect(),
            });
            continue;
        }
        match mode {
            ColourMode::Luminance => out.push(Plane {
                filter: i,
                channel: None,
                size: bank.size,
                values: luminance(f, bank.channels, pixels),
            }),
            ColourMode::PerChannel => {
                for c in 0..bank.channels {
                    out.push(Plane {
                        filter: i,
                        channel: Some(c),
                        size: bank.size,
                        values: f[c * pixels..(c + 1) * pixels]
                            .iter()
                            .map(|&v| v as f64)
                            .collect(),
                    });
                }
            }
        }
    }
    out
}

/// Luminance projection of one filter's channels (`channels` planes of `pixels` values).
pub fn luminance(filter: &[f32], channels: usize, pixels: usize) -> Vec<f64> {
    let weights: Vec<f64> = if channels == 3 {
        LUMA_WEIGHTS.to_vec()
    } else {
        vec![1.0 / channels as f64; channels]
    };
    (0..pixels)
        .map(|p| {
            weights
                .iter()
                .enumerate()
                .map(|(c, w)| w * filter[c * pixels + p] as f64)
                .sum()
        })
        .collect()
}

/// Resamples a square `from x from` plane to `to x to` by bilinear interpolation with
/// half-pixel centres (PyTorch's `interpolate(mode="bilinear", align_corners=False)`,
/// without antialiasing): output pixel centre `i + 0.5` maps to input position
/// `(i + 0.5) * from / to - 0.5`, clamped to the edge pixels.
pub fn resample_bilinear(values: &[f64], from: usize, to: usize) -> Vec<f64> {
    if from == to {
        return values.to_vec();
    }
    let scale = from as f64 / to as f64;
    let coord = |i: usize| {
        let p = ((i as f64 + 0.5) * scale - 0.5).clamp(0.0, (from - 1) as f64);
        let lo = p.floor() as usize;
        let hi = (lo + 1).min(from - 1);
        (lo, hi, p - lo as f64)
    };
    let mut out = Vec::with_capacity(to * to);
    for r in 0..to {
        let (r0, r1, wr) = coord(r);
        for c in 0..to {
            let (c0, c1, wc) = coord(c);
            let top = values[r0 * from + c0] * (1.0 - wc) + values[r0 * from + c1] * wc;
            let bottom = values[r1 * from + c0] * (1.0 - wc) + values[r1 * from + c1] * wc;
            out.push(top * (1.0 - wr) + bottom * wr);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luminance_uses_bt601_weights() {
        // Two pixels, three channels: R=1 everywhere, G=0, B=2 at pixel 1.
        let f = [1.0f32, 1.0, 0.0, 0.0, 0.0, 2.0];
        let l = luminance(&f, 3, 2);
        assert!((l[0] - 0.299).abs() < 1e-12);
        assert!((l[1] - (0.299 + 0.228)).abs() < 1e-12);
    }

    #[test]
    fn bilinear_keeps_constants_and_linear_ramps_along_the_interior() {
        let constant = vec![3.0; 16];
        assert!(
            resample_bilinear(&constant, 4, 7)
                .iter()
                .all(|v| (v - 3.0).abs() < 1e-12)
        );
        // A ramp in x, 2 -> 4 pixels: outputs at input positions -0.25, 0.25, 0.75, 1.25
        // clamp to [0, 1], giving 0, 0.25, 0.75, 1.
        let ramp = vec![0.0, 1.0, 0.0, 1.0];
        let up = resample_bilinear(&ramp, 2, 4);
        assert_eq!(&up[..4], &[0.0, 0.25, 0.75, 1.0]);
    }
}
