//! Forward and backward passes over a batch. The batch is cut into fixed chunks of
//! [`CHUNK`] samples; each chunk runs every layer single-threaded with its own reusable
//! buffers, and chunks run in parallel on rayon's pool. Whatever crosses chunks (parameter
//! gradients, batch-norm statistics, losses) is summed in chunk order, so the result does not
//! depend on the number of threads or their timing: same inputs, same bytes.
//!
//! On AVX-512 CPUs every convolution pass is an implicit GEMM on a zero-padded copy of its
//! input ([`direct`]): forward `Y = X * W` with the output positions as rows, weight gradient
//! `dW^T = X^T dY` with the kernel taps as rows, input gradient `dX = pad(dY) * flip(W)` (for
//! stride 1). Elsewhere, and for the input gradient of a strided convolution, it is one GEMM
//! per chunk on an im2col matrix: forward `Y = im2col(X) W^T`, weight gradient
//! `dW = dY^T im2col(X)`, input gradient `col2im(dY W)`. Buffers grow once and are reused.
//!
//! A ReLU directly followed by a max pool runs as one fused pass each way when a forward
//! pass covers both; the ReLU's output (and the gradient at it) is then never stored, and
//! [`Workspace::read`] refuses to return it.

use super::direct::{self, Run, Start};
use super::kernels::ConvGeometry;
use super::kernels::{
    col2im, im2col, max_pool2, max_pool2_backward, relu_max_pool2, relu_max_pool2_backward,
};
use super::loss::{Loss, LossSums};
use super::net::{LayerSpec, Network};
use crate::linalg::dispatch::Level;
use crate::linalg::{Backend, View, ViewMut, gemm};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// Samples per chunk: small enough that a batch of 64 spreads over cores, large enough
/// that each convolution GEMM has thousands of rows.
pub const CHUNK: usize = 8;

/// Batch norm's epsilon and running-average momentum (PyTorch's defaults).
pub const BN_EPS: f64 = 1e-5;
pub const BN_MOMENTUM: f32 = 0.1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Batch statistics in batch norm, dropout active.
    Train,
    /// Running statistics in batch norm, dropout off.
    Eval,
}

#[derive(Default)]
struct Chunk {
    index: usize,
    n: usize,
    acts: Vec<Vec<f32>>,
    grads: Vec<Vec<f32>>,
    /// Per layer: the zero-padded input or im2col matrix (conv), normalised values (batch
    /// norm) or the mask (dropout).
    cache: Vec<Vec<f32>>,
    /// Per-pass temporaries of the convolution backward pass.
    scratch: Vec<f32>,
    padded_grad: Vec<f32>,
    /// Per layer: max-pool arg-max offsets.
    arg: Vec<Vec<u32>>,
    /// Per parameter tensor: this chunk's share of the gradient.
    pgrads: Vec<Vec<f32>>,
    /// Batch-norm partial sums (two per channel).
    stats: Vec<f64>,
    loss: LossSums,
}

/// Reusable buffers for passes over batches of one network.
#[derive(Default)]
pub struct Workspace {
    chunks: Vec<Chunk>,
    batch: usize,
    /// Per batch-norm layer: the last training batch's mean and biased variance.
    bn_batch: Vec<Vec<f64>>,
    /// Per batch-norm layer: 1 / sqrt(var + eps) used by the last forward pass.
    bn_inv: Vec<Vec<f32>>,
    /// Per conv layer on the implicit-GEMM path: the weights as (ky, kx, channel) x filter,
    /// and flipped as (ky, kx, filter) x channel for the input gradient. Rebuilt every pass
    /// because the optimiser changes the weights between batches.
    packed: Vec<Vec<f32>>,
    flipped: Vec<Vec<f32>>,
    /// Per layer output (`0..=layers`): true if the last forward pass fused it away (a ReLU
    /// output inside a fused ReLU + max pool), so neither it nor its gradient exists.
    hidden: Vec<bool>,
}

fn split_pair(v: &mut [Vec<f32>], l: usize) -> (&mut Vec<f32>, &mut Vec<f32>) {
    let (a, b) = v.split_at_mut(l + 1);
    (&mut a[l], &mut b[0])
}

fn sized(v: &mut Vec<f32>, len: usize) -> &mut [f32] {
    v.resize(len, 0.0);
    &mut v[..len]
}

/// Mixes a seed with small integers into an independent stream seed (SplitMix64 steps).
pub fn mix_seed(seed: u64, a: u64, b: u64) -> u64 {
    let mut z =
        seed ^ a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b.wrapping_mul(0xD1B5_4A32_D192_ED03);
    for _ in 0..2 {
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
    }
    z
}

impl Workspace {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sizes the workspace for a batch of `batch` samples.
    pub fn prepare(&mut self, net: &Network, batch: usize) {
        let layers = net.spec.layers.len();
        let count = batch.div_ceil(CHUNK);
        self.chunks.resize_with(count, Chunk::default);
        for (i, ch) in self.chunks.iter_mut().enumerate() {
            ch.index = i;
            ch.n = CHUNK.min(batch - i * CHUNK);
            ch.acts.resize_with(layers + 1, Vec::new);
            ch.grads.resize_with(layers + 1, Vec::new);
            ch.cache.resize_with(layers, Vec::new);
            ch.arg.resize_with(layers, Vec::new);
            ch.pgrads.resize_with(net.params.len(), Vec::new);
            for (l, s) in net.shapes.iter().enumerate() {
                ch.acts[l].resize(ch.n * s.len(), 0.0);
            }
        }
        self.batch = batch;
        self.bn_batch.resize_with(layers, Vec::new);
        self.bn_inv.resize_with(layers, Vec::new);
        self.packed.resize_with(layers, Vec::new);
        self.flipped.resize_with(layers, Vec::new);
        self.hidden.resize(layers + 1, false);
    }

    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Writes each sample's input with `fill(sample index in batch, destination)`, in
    /// parallel.
    pub fn fill_inputs(&mut self, net: &Network, fill: impl Fn(usize, &mut [f32]) + Sync) {
        let len = net.shapes[0].len();
        self.chunks.par_iter_mut().for_each(|ch| {
            for i in 0..ch.n {
                fill(
                    ch.index * CHUNK + i,
                    &mut ch.acts[0][i * len..(i + 1) * len],
                );
            }
        });
    }

    /// Calls `read(sample, values)` with the output of layer `l` (`l = 0` is the input,
    /// `l = layers` the logits) for each sample, in sample order.
    pub fn read(&self, net: &Network, l: usize, mut read: impl FnMut(usize, &[f32])) {
        assert!(!self.hidden[l], "{}", Self::HIDDEN);
        let len = net.shapes[l].len();
        for ch in &self.chunks {
            for i in 0..ch.n {
                read(ch.index * CHUNK + i, &ch.acts[l][i * len..(i + 1) * len]);
            }
        }
    }

    /// The gradient with respect to layer `l`'s output (`l = 0`: the input) after a
    /// backward pass that reached it.
    pub fn read_grad(&self, net: &Network, l: usize, mut read: impl FnMut(usize, &[f32])) {
        assert!(!self.hidden[l], "{}", Self::HIDDEN);
        let len = net.shapes[l].len();
        for ch in &self.chunks {
            for i in 0..ch.n {
                read(ch.index * CHUNK + i, &ch.grads[l][i * len..(i + 1) * len]);
            }
        }
    }

    /// Sets the gradient arriving at layer `l`'s output, for a backward pass from `l`.
    pub fn set_grad(&mut self, net: &Network, l: usize, set: impl Fn(usize, &mut [f32]) + Sync) {
        let len = net.shapes[l].len();
        self.chunks.par_iter_mut().for_each(|ch| {
            let g = sized(&mut ch.grads[l], ch.n * len);
            for i in 0..ch.n {
                set(ch.index * CHUNK + i, &mut g[i * len..(i + 1) * len]);
            }
        });
    }

    const HIDDEN: &str = "this ReLU output was fused into the max pool after it; run the \
        forward pass only up to the ReLU to read it";

    /// Runs layers `0..upto`. `seed` drives dropout masks (give each batch its own).
    pub fn forward(&mut self, net: &Network, mode: Mode, seed: u64, upto: usize) {
        let mut l = 0;
        while l < upto {
            self.hidden[l + 1] = false;
            if fuses(net, l, upto) {
                self.chunks
                    .par_iter_mut()
                    .for_each(|ch| relu_pool_forward(ch, net, l));
                self.hidden[l + 1] = true;
                self.hidden[l + 2] = false;
                l += 2;
                continue;
            }
            match net.spec.layers[l] {
                LayerSpec::BatchNorm => self.batch_norm_forward(net, l, mode),
                LayerSpec::Conv { filters, .. } if Level::avx512() => {
                    let g = net.geometry(l);
                    let w = &net.params[net.first_param[l].expect("conv has parameters")];
                    let packed = &mut self.packed[l];
                    transpose_into(w, filters, g.patch_len(), packed);
                    let packed = &*packed;
                    self.chunks
                        .par_iter_mut()
                        .for_each(|ch| conv_forward_direct(ch, net, l, packed));
                }
                _ => self
                    .chunks
                    .par_iter_mut()
                    .for_each(|ch| chunk_forward(ch, net, l, mode, seed)),
            }
            l += 1;
        }
    }

    /// Loss of the logits against `labels` (one per sample of the batch); fills the
    /// gradient at the output with d(mean loss)/d(logits) unless `with_grad` is off.
    pub fn loss(&mut self, net: &Network, loss: Loss, labels: &[u16], with_grad: bool) -> LossSums {
        assert_eq!(labels.len(), self.batch, "one label per sample");
        let top = net.spec.layers.len();
        let classes = net.shapes[top].len();
        let scale = 1.0 / self.batch as f32;
        self.chunks.par_iter_mut().for_each(|ch| {
            let start = ch.index * CHUNK;
            let labels = &labels[start..start + ch.n];
            let grad = with_grad.then(|| sized(&mut ch.grads[top], ch.n * classes));
            ch.loss = loss.evaluate(&ch.acts[top], labels, classes, scale, grad);
        });
        let mut sums = LossSums::default();
        for ch in &self.chunks {
            sums.add(ch.loss);
        }
        sums
    }

    /// Back-propagates from the output of layer `from - 1` (gradient set by [`Self::loss`]
    /// or [`Self::set_grad`]) down to the input. Parameter gradients are computed for
    /// tensors with `train[p]` true; the input gradient only if `input_grad`.
    pub fn backward(&mut self, net: &Network, from: usize, train: &[bool], input_grad: bool) {
        let mut l = from;
        while l > 0 {
            l -= 1;
            let need_dx = l > 0 || input_grad;
            if l > 0 && self.hidden[l] && matches!(net.spec.layers[l], LayerSpec::MaxPool) {
                // The forward pass fused the ReLU at l - 1 with this pool: so does this one.
                l -= 1;
                if l > 0 || input_grad {
                    self.chunks
                        .par_iter_mut()
                        .for_each(|ch| relu_pool_backward(ch, net, l));
                }
                continue;
            }
            match net.spec.layers[l] {
                LayerSpec::BatchNorm => self.batch_norm_backward(net, l, train),
                LayerSpec::Conv { .. } if Level::avx512() => {
                    let g = net.geometry(l);
                    let flip = need_dx && flipped_input_grad(&g);
                    if flip {
                        flip_weights(net, l, &mut self.flipped[l]);
                    }
                    let flipped = &self.flipped[l];
                    self.chunks.par_iter_mut().for_each(|ch| {
                        conv_backward_direct(ch, net, l, train, need_dx, flip.then_some(flipped))
                    });
                }
                _ => self
                    .chunks
                    .par_iter_mut()
                    .for_each(|ch| chunk_backward(ch, net, l, train, need_dx)),
            }
        }
    }

    /// Sums the chunks' parameter gradients, in chunk order, into `grads` for tensors with
    /// `train[p]` true.
    pub fn reduce_grads(&self, train: &[bool], grads: &mut [Vec<f32>]) {
        grads.par_iter_mut().enumerate().for_each(|(p, g)| {
            if !train[p] {
                return;
            }
            let first = &self.chunks[0].pgrads[p];
            g.clear();
            g.extend_from_slice(first);
            for ch in &self.chunks[1..] {
                for (a, b) in g.iter_mut().zip(&ch.pgrads[p]) {
                    *a += b;
                }
            }
        });
    }

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

    fn batch_norm_forward(&mut self, net: &Network, l: usize, mode: Mode) {
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

    fn batch_norm_backward(&mut self, net: &Network, l: usize, train: &[bool]) {
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

/// Whether layer `l` is a ReLU whose max pool also runs in a forward pass to `upto`.
fn fuses(net: &Network, l: usize, upto: usize) -> bool {
    l + 1 < upto
        && matches!(net.spec.layers[l], LayerSpec::Relu)
        && matches!(net.spec.layers[l + 1], LayerSpec::MaxPool)
}

/// ReLU at `l` and max pool at `l + 1` on one chunk: the pool's output and arg-max from the
/// ReLU's input.
fn relu_pool_forward(ch: &mut Chunk, net: &Network, l: usize) {
    let s = net.shapes[l];
    let out_len = ch.n * net.shapes[l + 2].len();
    let (lo, hi) = ch.acts.split_at_mut(l + 1);
    let y = sized(&mut hi[1], out_len);
    ch.arg[l + 1].resize(out_len, 0);
    relu_max_pool2(
        &lo[l],
        ch.n,
        (s.height, s.width, s.channels),
        y,
        &mut ch.arg[l + 1],
    );
}

/// Backward of [`relu_pool_forward`]: the gradient at the ReLU's input from the pool's.
fn relu_pool_backward(ch: &mut Chunk, net: &Network, l: usize) {
    let s = net.shapes[l];
    let in_len = ch.n * s.len();
    let (lo, hi) = ch.grads.split_at_mut(l + 1);
    relu_max_pool2_backward(
        &hi[1],
        &ch.acts[l + 2],
        &ch.arg[l + 1],
        ch.n,
        (s.height, s.width, s.channels),
        sized(&mut lo[l], in_len),
    );
}

/// `out` (cols x rows) = the transpose of the row-major `rows x cols` matrix `w`.
fn transpose_into(w: &[f32], rows: usize, cols: usize, out: &mut Vec<f32>) {
    out.resize(rows * cols, 0.0);
    for (r, row) in w.chunks_exact(cols).enumerate().take(rows) {
        for (j, &v) in row.iter().enumerate() {
            out[j * rows + r] = v;
        }
    }
}

/// Copies `images` NHWC images of h x w x c into `out` with `pad` zeros on every side.
fn pad_into(
    x: &[f32],
    images: usize,
    (h, w, c): (usize, usize, usize),
    pad: usize,
    out: &mut [f32],
) {
    let (ph, pw) = (h + 2 * pad, w + 2 * pad);
    let row = w * c;
    for n in 0..images {
        let img = &mut out[n * ph * pw * c..(n + 1) * ph * pw * c];
        img[..pad * pw * c].fill(0.0);
        img[(pad + h) * pw * c..].fill(0.0);
        for y in 0..h {
            let dst = &mut img[(pad + y) * pw * c..(pad + y + 1) * pw * c];
            dst[..pad * c].fill(0.0);
            dst[pad * c..pad * c + row]
                .copy_from_slice(&x[(n * h + y) * row..(n * h + y + 1) * row]);
            dst[pad * c + row..].fill(0.0);
        }
    }
}

/// Whether the input gradient can run as a convolution of the padded output gradient with
/// the flipped kernel: stride 1 and a padding the full correlation can undo.
fn flipped_input_grad(g: &ConvGeometry) -> bool {
    g.stride == 1 && g.pad < g.kernel
}

/// The weights (filters, ky, kx, c) as ((k-1-ky), (k-1-kx), filter) x c.
fn flip_weights(net: &Network, l: usize, out: &mut Vec<f32>) {
    let g = net.geometry(l);
    let w = &net.params[net.first_param[l].expect("conv has parameters")];
    let (k, c) = (g.kernel, g.channels);
    let f = w.len() / g.patch_len();
    out.resize(w.len(), 0.0);
    for fi in 0..f {
        for ky in 0..k {
            for kx in 0..k {
                let src = &w[((fi * k + ky) * k + kx) * c..][..c];
                let row = ((k - 1 - ky) * k + (k - 1 - kx)) * f + fi;
                out[row * c..(row + 1) * c].copy_from_slice(src);
            }
        }
    }
}

/// Forward convolution of one chunk as an implicit GEMM; keeps the padded input in the
/// layer's cache for the weight gradient.
fn conv_forward_direct(ch: &mut Chunk, net: &Network, l: usize, packed: &[f32]) {
    let n = ch.n;
    let g = net.geometry(l);
    let p = net.first_param[l].expect("conv has parameters");
    let bias = &net.params[p + 1];
    let filters = bias.len();
    let (k, c, s) = (g.kernel, g.channels, g.stride);
    let (ph, pw) = (g.height + 2 * g.pad, g.width + 2 * g.pad);
    let (oh, ow) = (g.out_height(), g.out_width());
    let xpad = sized(&mut ch.cache[l], n * ph * pw * c);
    pad_into(&ch.acts[l], n, (g.height, g.width, c), g.pad, xpad);
    let y = sized(&mut ch.acts[l + 1], n * oh * ow * filters);
    let runs: Vec<Run> = (0..k)
        .map(|ky| Run {
            a_off: ky * pw * c,
            b_row: ky * k * c,
            len: k * c,
        })
        .collect();
    let base = |i: usize| {
        let (img, r) = (i / (oh * ow), i % (oh * ow));
        ((img * ph + (r / ow) * s) * pw + (r % ow) * s) * c
    };
    direct::product(
        xpad,
        n * oh * ow,
        base,
        &runs,
        1,
        packed,
        filters,
        y,
        filters,
        Start::Bias(bias),
    );
}

/// Backward convolution of one chunk on the implicit-GEMM path. `flipped` is given when the
/// input gradient is wanted and can run as a flipped convolution; otherwise a wanted input
/// gradient goes through `col2im(dY W)`.
fn conv_backward_direct(
    ch: &mut Chunk,
    net: &Network,
    l: usize,
    train: &[bool],
    need_dx: bool,
    flipped: Option<&Vec<f32>>,
) {
    let n = ch.n;
    let g = net.geometry(l);
    let p = net.first_param[l].expect("conv has parameters");
    let filters = net.params[p + 1].len();
    let (k, c, s) = (g.kernel, g.channels, g.stride);
    let (ph, pw) = (g.height + 2 * g.pad, g.width + 2 * g.pad);
    let (oh, ow) = (g.out_height(), g.out_width());
    let taps = g.patch_len();
    let m = n * oh * ow;
    let dy = &ch.grads[l + 1][..m * filters];
    if train[p] {
        // dW^T (taps x filters): row (ky, kx, channel) reads the padded input at that tap's
        // offset from every output position, one run per output row.
        let runs: Vec<Run> = (0..n)
            .flat_map(|img| {
                (0..oh).map(move |oy| Run {
                    a_off: (img * ph + oy * s) * pw * c,
                    b_row: (img * oh + oy) * ow,
                    len: ow,
                })
            })
            .collect();
        let base = |i: usize| (i / (k * c)) * pw * c + i % (k * c);
        let dwt = sized(&mut ch.scratch, taps * filters);
        direct::product(
            &ch.cache[l],
            taps,
            base,
            &runs,
            s * c,
            dy,
            filters,
            dwt,
            filters,
            Start::Zero,
        );
        transpose_into(dwt, taps, filters, &mut ch.pgrads[p]);
    }
    if train[p + 1] {
        let db = sized(&mut ch.pgrads[p + 1], filters);
        db.fill(0.0);
        for row in dy.chunks_exact(filters) {
            for (a, b) in db.iter_mut().zip(row) {
                *a += b;
            }
        }
    }
    if !need_dx {
        return;
    }
    let in_len = n * g.height * g.width * c;
    match flipped {
        Some(wf) => {
            let q = k - 1 - g.pad;
            let (qh, qw) = (oh + 2 * q, ow + 2 * q);
            let dypad = sized(&mut ch.padded_grad, n * qh * qw * filters);
            pad_into(dy, n, (oh, ow, filters), q, dypad);
            let runs: Vec<Run> = (0..k)
                .map(|ky| Run {
                    a_off: ky * qw * filters,
                    b_row: ky * k * filters,
                    len: k * filters,
                })
                .collect();
            let (h, w) = (g.height, g.width);
            let base = |i: usize| {
                let (img, r) = (i / (h * w), i % (h * w));
                ((img * qh + r / w) * qw + r % w) * filters
            };
            let dx = sized(&mut ch.grads[l], in_len);
            direct::product(dypad, n * h * w, base, &runs, 1, wf, c, dx, c, Start::Zero);
        }
        None => {
            let dcol = sized(&mut ch.scratch, m * taps);
            gemm(
                Backend::MatrixMultiply,
                (m, filters, taps),
                1.0,
                View::rows(dy, filters),
                View::rows(&net.params[p], taps),
                0.0,
                ViewMut::rows(dcol, taps),
            );
            col2im(dcol, n, &g, sized(&mut ch.grads[l], in_len));
        }
    }
}

fn chunk_forward(ch: &mut Chunk, net: &Network, l: usize, mode: Mode, seed: u64) {
    let n = ch.n;
    let out_len = n * net.shapes[l + 1].len();
    match net.spec.layers[l] {
        LayerSpec::Conv { filters, .. } => {
            let g = net.geometry(l);
            let p = net.first_param[l].expect("conv has parameters");
            let (w, b) = (&net.params[p], &net.params[p + 1]);
            let m = n * g.out_height() * g.out_width();
            let k = g.patch_len();
            let col = sized(&mut ch.cache[l], m * k);
            im2col(&ch.acts[l], n, &g, col);
            let y = sized(&mut ch.acts[l + 1], out_len);
            for row in y.chunks_exact_mut(filters) {
                row.copy_from_slice(b);
            }
            gemm(
                Backend::MatrixMultiply,
                (m, k, filters),
                1.0,
                View::rows(col, k),
                View::transposed(w, k),
                1.0,
                ViewMut::rows(y, filters),
            );
        }
        LayerSpec::Linear { outputs } => {
            let inputs = net.shapes[l].len();
            let p = net.first_param[l].expect("linear has parameters");
            let (w, b) = (&net.params[p], &net.params[p + 1]);
            let (x, y) = split_pair(&mut ch.acts, l);
            let y = sized(y, out_len);
            for row in y.chunks_exact_mut(outputs) {
                row.copy_from_slice(b);
            }
            gemm(
                Backend::MatrixMultiply,
                (n, inputs, outputs),
                1.0,
                View::rows(x, inputs),
                View::transposed(w, inputs),
                1.0,
                ViewMut::rows(y, outputs),
            );
        }
        LayerSpec::Relu => {
            let (x, y) = split_pair(&mut ch.acts, l);
            for (o, &i) in sized(y, out_len).iter_mut().zip(x.iter()) {
                *o = i.max(0.0);
            }
        }
        LayerSpec::MaxPool => {
            let s = net.shapes[l];
            let (x, y) = split_pair(&mut ch.acts, l);
            let y = sized(y, out_len);
            ch.arg[l].resize(out_len, 0);
            max_pool2(x, n, (s.height, s.width, s.channels), y, &mut ch.arg[l]);
        }
        LayerSpec::Dropout { p } => {
            let (x, y) = split_pair(&mut ch.acts, l);
            let y = sized(y, out_len);
            if mode == Mode::Eval || p == 0.0 {
                y.copy_from_slice(&x[..out_len]);
                // An empty mask tells the backward pass this was the identity.
                ch.cache[l].clear();
                return;
            }
            let keep = 1.0 / (1.0 - p);
            let mut rng = ChaCha8Rng::seed_from_u64(mix_seed(seed, l as u64, ch.index as u64));
            let mask = sized(&mut ch.cache[l], out_len);
            for ((o, &i), m) in y.iter_mut().zip(x.iter()).zip(mask.iter_mut()) {
                *m = if rng.random::<f32>() < p { 0.0 } else { keep };
                *o = i * *m;
            }
        }
        LayerSpec::BatchNorm => unreachable!("batch norm runs across chunks"),
    }
}

fn chunk_backward(ch: &mut Chunk, net: &Network, l: usize, train: &[bool], need_dx: bool) {
    let n = ch.n;
    let in_len = n * net.shapes[l].len();
    match net.spec.layers[l] {
        LayerSpec::Conv { filters, .. } => {
            let g = net.geometry(l);
            let p = net.first_param[l].expect("conv has parameters");
            let m = n * g.out_height() * g.out_width();
            let k = g.patch_len();
            let dy = &ch.grads[l + 1][..m * filters];
            if train[p] {
                let dw = sized(&mut ch.pgrads[p], filters * k);
                gemm(
                    Backend::MatrixMultiply,
                    (filters, m, k),
                    1.0,
                    View::transposed(dy, filters),
                    View::rows(&ch.cache[l], k),
                    0.0,
                    ViewMut::rows(dw, k),
                );
            }
            if train[p + 1] {
                let db = sized(&mut ch.pgrads[p + 1], filters);
                db.fill(0.0);
                for row in dy.chunks_exact(filters) {
                    for (a, b) in db.iter_mut().zip(row) {
                        *a += b;
                    }
                }
            }
            if need_dx {
                // The im2col buffer is no longer needed: it receives dY W, then col2im.
                let dcol = sized(&mut ch.cache[l], m * k);
                gemm(
                    Backend::MatrixMultiply,
                    (m, filters, k),
                    1.0,
                    View::rows(dy, filters),
                    View::rows(&net.params[p], k),
                    0.0,
                    ViewMut::rows(dcol, k),
                );
                let dx = sized(&mut ch.grads[l], in_len);
                col2im(dcol, n, &g, dx);
            }
        }
        LayerSpec::Linear { outputs } => {
            let inputs = net.shapes[l].len();
            let p = net.first_param[l].expect("linear has parameters");
            let dy = &ch.grads[l + 1][..n * outputs];
            if train[p] {
                let dw = sized(&mut ch.pgrads[p], outputs * inputs);
                gemm(
                    Backend::MatrixMultiply,
                    (outputs, n, inputs),
                    1.0,
                    View::transposed(dy, outputs),
                    View::rows(&ch.acts[l], inputs),
                    0.0,
                    ViewMut::rows(dw, inputs),
                );
            }
            if train[p + 1] {
                let db = sized(&mut ch.pgrads[p + 1], outputs);
                db.fill(0.0);
                for row in dy.chunks_exact(outputs) {
                    for (a, b) in db.iter_mut().zip(row) {
                        *a += b;
                    }
                }
            }
            if need_dx {
                let (dx, dy) = split_pair(&mut ch.grads, l);
                gemm(
                    Backend::MatrixMultiply,
                    (n, outputs, inputs),
                    1.0,
                    View::rows(dy, outputs),
                    View::rows(&net.params[p], inputs),
                    0.0,
                    ViewMut::rows(sized(dx, in_len), inputs),
                );
            }
        }
        LayerSpec::Relu => {
            if need_dx {
                // relu(x) > 0 exactly when x > 0: the input serves, and it exists even when
                // the output was fused away.
                let (dx, dy) = split_pair(&mut ch.grads, l);
                let x = &ch.acts[l];
                for ((d, &g), &v) in sized(dx, in_len).iter_mut().zip(dy.iter()).zip(x.iter()) {
                    *d = if v > 0.0 { g } else { 0.0 };
                }
            }
        }
        LayerSpec::MaxPool => {
            if need_dx {
                let (dx, dy) = split_pair(&mut ch.grads, l);
                max_pool2_backward(dy, &ch.arg[l], sized(dx, in_len));
            }
        }
        LayerSpec::Dropout { p } => {
            if need_dx {
                let (dx, dy) = split_pair(&mut ch.grads, l);
                let dx = sized(dx, in_len);
                if p == 0.0 || ch.cache[l].len() < in_len {
                    dx.copy_from_slice(&dy[..in_len]);
                } else {
                    for ((d, &g), &m) in dx.iter_mut().zip(dy.iter()).zip(ch.cache[l].iter()) {
                        *d = g * m;
                    }
                }
            }
        }
        LayerSpec::BatchNorm => unreachable!("batch norm runs across chunks"),
    }
}
