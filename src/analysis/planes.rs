//! Turning a filter bank into the square grey planes that every measure works on. A
//! dictionary (atoms, pixels) is one plane per atom; a CNN layer (filters, channels, k, k) is
//! projected to luminance by default (ITU-R BT.601 weights 0.299, 0.587, 0.114 for three
//! channels, the plain channel mean for any other count), or split into one plane per channel
//! on request.

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
}
