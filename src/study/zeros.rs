//! Where conv1's activation zeros come from (issue 14): the fraction of conv1 outputs the
//! ReLU zeroes depends on the filters' biases and on their shapes. For one logged epoch,
//! three networks that differ only in conv1 are run on the same test images:
//!
//! - the logged filters with their logged biases (the zeros the network has);
//! - the same filters with zero biases (what the shapes alone give);
//! - phase-randomised copies of the filters (same amplitude spectrum and DC, so the same
//!   response energy to a white input, but no spatial structure) with the logged biases.
//!
//! If the rise over training is due to the biases, the zero-bias fraction stays near its
//! epoch-0 value while the phase-randomised one rises with the actual one; if it is due to
//! the shapes, the reverse. Batch-norm runs are not split: batch norm re-centres each
//! channel, so conv1's own bias has no effect there.

use crate::cnn::data::NetworkInputs;
use crate::cnn::engine::Workspace;
use crate::cnn::measure::conv1_zero_fraction;
use crate::cnn::net::{LayerSpec, NetSpec, Network};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// The three zero fractions of one epoch's conv1 (NaN when not split).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ZeroSplit {
    pub actual: f64,
    pub zero_bias: f64,
    pub phase_randomised: f64,
    pub bias_mean: f64,
}

impl ZeroSplit {
    pub fn not_split(bias_mean: f64) -> Self {
        Self {
            actual: f64::NAN,
            zero_bias: f64::NAN,
            phase_randomised: f64::NAN,
            bias_mean,
        }
    }
}

/// One k x k plane with its Fourier amplitudes kept and its phases replaced by those of
/// the DFT of Gaussian white noise (Hermitian, so the result is real); DC keeps its phase.
fn phase_randomise(plane: &[f32], k: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let tau = std::f64::consts::TAU;
    let dft = |x: &[f64], sign: f64| -> Vec<(f64, f64)> {
        let mut out = vec![(0.0, 0.0); k * k];
        for v in 0..k {
            for u in 0..k {
                let (mut re, mut im) = (0.0, 0.0);
                for y in 0..k {
                    for xx in 0..k {
                        let a = sign * tau * (u * xx + v * y) as f64 / k as f64;
                        re += x[y * k + xx] * a.cos();
                        im += x[y * k + xx] * a.sin();
                    }
                }
                out[v * k + u] = (re, im);
            }
        }
        out
    };
    let values: Vec<f64> = plane.iter().map(|&v| v as f64).collect();
    let noise: Vec<f64> = (0..k * k).map(|_| StandardNormal.sample(rng)).collect();
    let f = dft(&values, -1.0);
    let z = dft(&noise, -1.0);
    let mut out = vec![0f32; k * k];
    for y in 0..k {
        for x in 0..k {
            let mut re = 0.0;
            for v in 0..k {
                for u in 0..k {
                    let i = v * k + u;
                    let amp = f[i].0.hypot(f[i].1);
                    let (c, s) = if i == 0 {
                        (f[0].0.signum(), 0.0)
                    } else {
                        let m = z[i].0.hypot(z[i].1).max(1e-300);
                        (z[i].0 / m, z[i].1 / m)
                    };
                    let a = tau * (u * x + v * y) as f64 / k as f64;
                    // Real part of amp e^{i phi} e^{i a}.
                    re += amp * (c * a.cos() - s * a.sin());
                }
            }
            out[y * k + x] = (re / (k * k) as f64) as f32;
        }
    }
    out
}

/// Splits the zeros of conv1 with `bank` ((filters, channels, k, k)) and `bias` on the
/// first `count` of `inputs`, in a network of `spec` (only its layers up to conv1's ReLU
/// run).
pub fn split(
    spec: &NetSpec,
    bank: &[f32],
    bias: &[f32],
    inputs: &NetworkInputs,
    count: usize,
    seed: u64,
) -> ZeroSplit {
    let bias_mean = bias.iter().map(|&b| b as f64).sum::<f64>() / bias.len().max(1) as f64;
    if spec
        .layers
        .iter()
        .any(|l| matches!(l, LayerSpec::BatchNorm))
    {
        return ZeroSplit::not_split(bias_mean);
    }
    let Ok(mut net) = Network::new(spec.clone()) else {
        return ZeroSplit::not_split(bias_mean);
    };
    let l = spec.first_conv().expect("a conv layer");
    let mut ws = Workspace::new();
    let mut zeros = |net: &mut Network, bank: &[f32], bias: &[f32]| {
        net.set_conv_bank(l, bank);
        net.set_conv_bias(l, bias);
        conv1_zero_fraction(net, &mut ws, inputs, count)
    };
    let actual = zeros(&mut net, bank, bias);
    let zero_bias = zeros(&mut net, bank, &vec![0.0; bias.len()]);
    let k = net.geometry(l).kernel;
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x2E705);
    let randomised: Vec<f32> = bank
        .chunks_exact(k * k)
        .flat_map(|plane| phase_randomise(plane, k, &mut rng))
        .collect();
    let phase_randomised = zeros(&mut net, &randomised, bias);
    ZeroSplit {
        actual,
        zero_bias,
        phase_randomised,
        bias_mean,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_randomisation_keeps_energy_and_mean_but_moves_pixels() {
        let k = 7;
        let plane: Vec<f32> = (0..k * k)
            .map(|i| if i % k == 3 { 1.0 } else { -0.2 })
            .collect();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let r = phase_randomise(&plane, k, &mut rng);
        let energy = |p: &[f32]| p.iter().map(|v| (*v as f64).powi(2)).sum::<f64>();
        let mean = |p: &[f32]| p.iter().map(|&v| v as f64).sum::<f64>() / p.len() as f64;
        // Parseval and the kept DC term, up to the output's f32 rounding (about 1e-7
        // relative); 1e-5 leaves room for the 49-term sums.
        assert!((energy(&r) / energy(&plane) - 1.0).abs() < 1e-5);
        assert!((mean(&r) - mean(&plane)).abs() < 1e-5);
        let moved = plane
            .iter()
            .zip(&r)
            .map(|(a, b)| (a - b).abs())
            .sum::<f32>();
        assert!(moved > 1.0, "the vertical bar is gone: {moved}");
    }
}
