//! Weight initialisation: He (Kaiming normal, fan-in, ReLU gain), Xavier/Glorot (uniform),
//! orthogonal (rows of a random orthogonal matrix, gain 1, as `torch.nn.init.orthogonal_`),
//! biases zero; and loading a given first-layer bank from a `.npy` file.
//!
//! A loaded bank may be (filters, channels, k, k) or a dictionary (atoms, k*k). Its filter
//! count sets conv1's; channels are matched to the input: a grayscale filter on a colour
//! input is copied to each channel divided by the channel count (so it responds to a gray
//! image exactly as the grayscale filter does to its luminance), a colour filter on a
//! grayscale input is summed over channels. If its size differs from the kernel, each
//! filter plane is resampled with bilinear interpolation at pixel centres (the geometry of
//! `F.interpolate(..., mode="bilinear", align_corners=False)`, without antialiasing) and
//! rescaled so each filter keeps its L2 norm. A bank of the kernel's size and channels is
//! loaded exactly, byte for byte.

use super::net::{LayerSpec, Network, ParamKind};
use super::params::Choice;
use crate::bank::Bank;
use crate::error::Result;
use crate::linalg::resample::resample_bilinear;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Init {
    /// Normal with std sqrt(2 / fan_in) (Kaiming He et al. 2015).
    He,
    /// Uniform on +-sqrt(6 / (fan_in + fan_out)) (Glorot and Bengio 2010).
    Xavier,
    /// Orthonormal rows (or columns if there are more rows than columns) (Saxe et al. 2014).
    Orthogonal,
}

impl Choice for Init {
    const ALL: &'static [Self] = &[Init::He, Init::Xavier, Init::Orthogonal];
    fn name(self) -> &'static str {
        match self {
            Init::He => "he",
            Init::Xavier => "xavier",
            Init::Orthogonal => "orthogonal",
        }
    }
}

/// Initialises every weight tensor of `net` from `seed`; biases and batch-norm shifts are 0
/// and batch-norm scales 1.
pub fn initialise(net: &mut Network, init: Init, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for p in 0..net.params.len() {
        let layer = net.info[p].layer;
        let is_bn = matches!(net.spec.layers[layer], LayerSpec::BatchNorm);
        if net.info[p].kind != ParamKind::Weight {
            let fill = if is_bn && net.first_param[layer] == Some(p) {
                1.0
            } else {
                0.0
            };
            net.params[p].fill(fill);
            continue;
        }
        let (fan_in, fan_out) = net.fans(layer);
        let w = &mut net.params[p];
        match init {
            Init::He => {
                let std = (2.0 / fan_in as f64).sqrt();
                for v in w.iter_mut() {
                    let z: f64 = StandardNormal.sample(&mut rng);
                    *v = (z * std) as f32;
                }
            }
            Init::Xavier => {
                let a = (6.0 / (fan_in + fan_out) as f64).sqrt();
                for v in w.iter_mut() {
                    *v = rng.random_range(-a..a) as f32;
                }
            }
            Init::Orthogonal => {
                let rows = w.len() / fan_in;
                orthogonal(w, rows, fan_in, &mut rng);
            }
        }
    }
}

/// Fills `w` (rows x cols, row-major) with orthonormal rows, or orthonormal columns when
/// rows > cols, from the QR decomposition of a Gaussian matrix (signs fixed by R's diagonal).
fn orthogonal(w: &mut [f32], rows: usize, cols: usize, rng: &mut ChaCha8Rng) {
    let (tall_rows, tall_cols) = (rows.max(cols), rows.min(cols));
    let g =
        nalgebra::DMatrix::<f64>::from_fn(tall_rows, tall_cols, |_, _| StandardNormal.sample(rng));
    let qr = g.qr();
    let (mut q, r) = (qr.q(), qr.r());
    for j in 0..tall_cols {
        if r[(j, j)] < 0.0 {
            q.column_mut(j).neg_mut();
        }
    }
    for i in 0..rows {
        for j in 0..cols {
            // q is (max x min); the weight is q itself if rows >= cols, else its transpose.
            let v = if rows >= cols { q[(i, j)] } else { q[(j, i)] };
            w[i * cols + j] = v as f32;
        }
    }
}

/// Reads a (filters, channels, k, k) or (atoms, k*k) bank of finite values.
pub fn read_bank(path: &Path) -> Result<Bank<'static>> {
    let bank = Bank::read(path)?;
    bank.check_finite(path)?;
    Ok(bank)
}

/// Adapts `bank` to `channels` input channels and a `k` x `k` kernel (see the module doc),
/// returning (filters, channels, k, k) values.
pub fn adapt_bank(bank: &Bank, channels: usize, k: usize) -> Vec<f32> {
    let (s, bc) = (bank.size, bank.channels);
    let mut out = Vec::with_capacity(bank.count * channels * k * k);
    for f in 0..bank.count {
        let filt = &bank.data[f * bc * s * s..(f + 1) * bc * s * s];
        let planes: Vec<Vec<f32>> = if bc == channels {
            filt.chunks_exact(s * s).map(<[f32]>::to_vec).collect()
        } else if bc == 1 {
            let p: Vec<f32> = filt.iter().map(|v| v / channels as f32).collect();
            vec![p; channels]
        } else {
            // Colour bank on fewer channels: sum the colour planes.
            let mut p = vec![0.0; s * s];
            for plane in filt.chunks_exact(s * s) {
                p.iter_mut().zip(plane).for_each(|(a, b)| *a += b);
            }
            vec![p; channels]
        };
        let norm = |v: &[Vec<f32>]| {
            v.iter()
                .flatten()
                .map(|x| (*x as f64).powi(2))
                .sum::<f64>()
                .sqrt()
        };
        if s == k {
            planes.iter().for_each(|p| out.extend_from_slice(p));
            continue;
        }
        let resized: Vec<Vec<f32>> = planes
            .iter()
            .map(|p| {
                let wide: Vec<f64> = p.iter().map(|&v| v as f64).collect();
                let out = resample_bilinear(&wide, s, k);
                out.into_iter().map(|v| v as f32).collect()
            })
            .collect();
        let (before, after) = (norm(&planes), norm(&resized));
        let gain = if after > 0.0 {
            (before / after) as f32
        } else {
            1.0
        };
        resized
            .iter()
            .for_each(|p| out.extend(p.iter().map(|v| v * gain)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orthogonal_rows_are_orthonormal() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let (rows, cols) = (6, 10);
        let mut w = vec![0.0; rows * cols];
        orthogonal(&mut w, rows, cols, &mut rng);
        for i in 0..rows {
            for j in 0..rows {
                let d: f32 = (0..cols).map(|c| w[i * cols + c] * w[j * cols + c]).sum();
                let want = if i == j { 1.0 } else { 0.0 };
                // f32 storage of an f64 QR: 1e-5 is far above rounding, far below structure.
                assert!((d - want).abs() < 1e-5, "({i},{j}) {d}");
            }
        }
    }

    #[test]
    fn resampling_keeps_a_constant_and_the_norm() {
        let bank = Bank::new(vec![0.5; 64], 1, 1, 8);
        let out = adapt_bank(&bank, 1, 5);
        let norm: f64 = out.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
        assert!((norm - 4.0).abs() < 1e-5, "norm kept: {norm}");
        assert!(
            out.iter().all(|v| (v - out[0]).abs() < 1e-6),
            "constant stays constant"
        );
    }
}
