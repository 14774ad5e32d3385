//! Batch normalisation (Ioffe and Szegedy, 2015) on NHWC activations, per channel. Its
//! statistics cross chunks, so unlike the other layers it runs on the whole workspace: each
//! chunk sums its share in float64, the shares are added in chunk order, and the normalised
//! values are written back chunk by chunk in parallel. Training uses the batch's mean and
//! biased variance and moves the running averages toward them (PyTorch's rule); evaluation
//! uses the running averages.

use super::{Mode, Workspace, sized, split_pair};
use crate::cnn::net::Network;
use rayon::prelude::*;

/// Batch norm's epsilon and running-average momentum (PyTorch's defaults).
pub const BN_EPS: f64 = 1e-5;
pub const BN_MOMENTUM: f32 = 0.1;

impl Workspace {
    /// Moves batch-norm running statistics toward the last training batch's (PyTorch's
    /// rule: unbiased variance, momentum 0.1).
    pub fn update_running_stats(&self, net: &mut Network) {
        let m = self.batch as f64;
        for (l, stats) in self.bn_batch.iter().enumerate() {
            if stats.is_empty() {
                continue;
            }
            let rows = m * (net.shapes[l + 1].height * net.shapes[l + 1].width) as f64;
            let c = stats.len() / 2;
            let r = &mut net.running[l];
            for ch in 0..c {
                let unbiased = stats[c + ch] * rows / (rows - 1.0).max(1.0);
                r[ch] = (1.0 - BN_MOMENTUM) * r[ch] + BN_MOMENTUM * stats[ch] as f32;
                r[c + ch] = (1.0 - BN_MOMENTUM) * r[c + ch] + BN_MOMENTUM * unbiased as f32;
            }
        }
    }

    pub(super) fn batch_norm_forward(&mut self, net: &Network, l: usize, mode: Mode) {
        let c = net.shapes[l].channels;
        let p = net.first_param[l].expect("batch norm has parameters");
        let (gamma, beta) = (&net.params[p], &net.params[p + 1]);
        let (mean, var): (Vec<f64>, Vec<f64>) = match mode {
            Mode::Eval => {
                let r = &net.running[l];
                (
                    r[..c].iter().map(|&v| v as f64).collect(),
                    r[c..].iter().map(|&v| v as f64).collect(),
                )
            }
            Mode::Train => {
                self.chunks.par_iter_mut().for_each(|ch| {
                    ch.stats.clear();
                    ch.stats.resize(2 * c, 0.0);
                    for row in ch.acts[l].chunks_exact(c) {
                        for (k, &v) in row.iter().enumerate() {
                            ch.stats[k] += v as f64;
                            ch.stats[c + k] += (v as f64) * (v as f64);
                        }
                    }
                });
                let mut sums = vec![0.0; 2 * c];
                for ch in &self.chunks {
                    for (s, v) in sums.iter_mut().zip(&ch.stats) {
                        *s += v;
                    }
                }
                let rows = (self.batch * net.shapes[l].height * net.shapes[l].width) as f64;
                let mean: Vec<f64> = sums[..c].iter().map(|s| s / rows).collect();
                let var: Vec<f64> = (0..c)
                    .map(|k| (sums[c + k] / rows - mean[k] * mean[k]).max(0.0))
                    .collect();
                self.bn_batch[l] = mean.iter().chain(&var).copied().collect();
                (mean, var)
            }
        };
        let inv: Vec<f32> = var
            .iter()
            .map(|v| (1.0 / (v + BN_EPS).sqrt()) as f32)
            .collect();
        let mean: Vec<f32> = mean.iter().map(|&m| m as f32).collect();
        self.chunks.par_iter_mut().for_each(|ch| {
            let len = ch.acts[l].len();
            let xhat = sized(&mut ch.cache[l], len);
            let (x, y) = split_pair(&mut ch.acts, l);
            let y = sized(y, len);
            for ((xr, hr), yr) in x
                .chunks_exact(c)
                .zip(xhat.chunks_exact_mut(c))
                .zip(y.chunks_exact_mut(c))
            {
                for k in 0..c {
                    let h = (xr[k] - mean[k]) * inv[k];
                    hr[k] = h;
                    yr[k] = gamma[k] * h + beta[k];
                }
            }
        });
        // An empty batch record tells the backward pass this forward used running statistics.
        if mode == Mode::Eval {
            self.bn_batch[l].clear();
        }
        self.bn_inv[l] = inv;
    }

    pub(super) fn batch_norm_backward(&mut self, net: &Network, l: usize, train: &[bool]) {
        let c = net.shapes[l].channels;
        let p = net.first_param[l].expect("batch norm has parameters");
        let gamma = &net.params[p];
        let train_mode = !self.bn_batch[l].is_empty();
        // Phase 1: per chunk sum(dy) and sum(dy * xhat) per channel; they are also this
        // chunk's shares of d(beta) and d(gamma).
        self.chunks.par_iter_mut().for_each(|ch| {
            ch.stats.clear();
            ch.stats.resize(2 * c, 0.0);
            let dy = &ch.grads[l + 1];
            for (gr, hr) in dy.chunks_exact(c).zip(ch.cache[l].chunks_exact(c)) {
                for k in 0..c {
                    ch.stats[k] += gr[k] as f64;
                    ch.stats[c + k] += (gr[k] * hr[k]) as f64;
                }
            }
            let gg = sized(&mut ch.pgrads[p], c);
            for (g, v) in gg.iter_mut().zip(&ch.stats[c..2 * c]) {
                *g = *v as f32;
            }
            let gb = sized(&mut ch.pgrads[p + 1], c);
            for (g, v) in gb.iter_mut().zip(&ch.stats[..c]) {
                *g = *v as f32;
            }
            if !train[p] {
                ch.pgrads[p].fill(0.0);
            }
        });
        let mut sums = vec![0.0; 2 * c];
        for ch in &self.chunks {
            for (s, v) in sums.iter_mut().zip(&ch.stats[..2 * c]) {
                *s += v;
            }
        }
        let rows = (self.batch * net.shapes[l].height * net.shapes[l].width) as f64;
        let inv = &self.bn_inv[l];
        self.chunks.par_iter_mut().for_each(|ch| {
            let len = ch.grads[l + 1].len();
            let (dx, dy) = split_pair(&mut ch.grads, l);
            let dx = sized(dx, len);
            for ((dxr, dyr), hr) in dx
                .chunks_exact_mut(c)
                .zip(dy.chunks_exact(c))
                .zip(ch.cache[l].chunks_exact(c))
            {
                for k in 0..c {
                    let s = gamma[k] * inv[k];
                    dxr[k] = if train_mode {
                        let mean_dy = (sums[k] / rows) as f32;
                        let mean_dyh = (sums[c + k] / rows) as f32;
                        s * (dyr[k] - mean_dy - hr[k] * mean_dyh)
                    } else {
                        s * dyr[k]
                    };
                }
            }
        });
    }
}
