//! Forward and backward passes over a batch: the chunk driver. The batch is cut into fixed
//! chunks of [`CHUNK`] samples; each chunk runs every layer single-threaded with its own
//! reusable buffers, and chunks run in parallel on rayon's pool. Whatever crosses chunks
//! (parameter gradients, batch-norm statistics, losses) is summed in chunk order, so the
//! result does not depend on the number of threads or their timing: same inputs, same bytes.
//!
//! Each layer's passes live in a file of their own: [`conv`] (implicit GEMM on AVX-512 CPUs,
//! im2col elsewhere), [`linear`], [`batch_norm`] (the one layer that spans chunks),
//! [`relu_pool`] (ReLU, max pooling and the two fused) and [`dropout`]. Buffers grow once and
//! are reused. When a ReLU's output was fused away, [`Workspace::read`] refuses to return it.

mod batch_norm;
mod conv;
mod dropout;
mod linear;
mod relu_pool;

pub use batch_norm::{BN_EPS, BN_MOMENTUM};

use super::loss::{Loss, LossSums};
use super::net::{LayerSpec, Network};
use crate::linalg::dispatch::Level;
use rayon::prelude::*;

/// Samples per chunk: small enough that a batch of 64 spreads over cores, large enough
/// that each convolution GEMM has thousands of rows.
pub const CHUNK: usize = 8;

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
            if relu_pool::fuses(net, l, upto) {
                self.chunks
                    .par_iter_mut()
                    .for_each(|ch| relu_pool::relu_pool_forward(ch, net, l));
                self.hidden[l + 1] = true;
                self.hidden[l + 2] = false;
                l += 2;
                continue;
            }
            match net.spec.layers[l] {
                LayerSpec::BatchNorm => self.batch_norm_forward(net, l, mode),
                LayerSpec::Conv { filters, .. } if Level::avx512() => {
                    self.conv_forward_direct(net, l, filters)
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
                        .for_each(|ch| relu_pool::relu_pool_backward(ch, net, l));
                }
                continue;
            }
            match net.spec.layers[l] {
                LayerSpec::BatchNorm => self.batch_norm_backward(net, l, train),
                LayerSpec::Conv { .. } if Level::avx512() => {
                    self.conv_backward_direct(net, l, train, need_dx)
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
}

/// The forward pass of layer `l` (not batch norm, which spans chunks) on one chunk.
fn chunk_forward(ch: &mut Chunk, net: &Network, l: usize, mode: Mode, seed: u64) {
    match net.spec.layers[l] {
        LayerSpec::Conv { filters, .. } => conv::forward_im2col(ch, net, l, filters),
        LayerSpec::Linear { outputs } => linear::forward(ch, net, l, outputs),
        LayerSpec::Relu => relu_pool::relu_forward(ch, net, l),
        LayerSpec::MaxPool => relu_pool::max_pool_forward(ch, net, l),
        LayerSpec::Dropout { p } => dropout::forward(ch, net, l, p, mode, seed),
        LayerSpec::BatchNorm => unreachable!("batch norm runs across chunks"),
    }
}

/// The backward pass of layer `l` (not batch norm) on one chunk: parameter gradients for the
/// tensors `train` marks, and the input gradient if `need_dx`.
fn chunk_backward(ch: &mut Chunk, net: &Network, l: usize, train: &[bool], need_dx: bool) {
    match net.spec.layers[l] {
        LayerSpec::Conv { filters, .. } => {
            conv::backward_im2col(ch, net, l, filters, train, need_dx)
        }
        LayerSpec::Linear { outputs } => linear::backward(ch, net, l, outputs, train, need_dx),
        // The remaining layers have no parameters: nothing to do without an input gradient.
        _ if !need_dx => {}
        LayerSpec::Relu => relu_pool::relu_backward(ch, net, l),
        LayerSpec::MaxPool => relu_pool::max_pool_backward(ch, net, l),
        LayerSpec::Dropout { p } => dropout::backward(ch, net, l, p),
        LayerSpec::BatchNorm => unreachable!("batch norm runs across chunks"),
    }
}

/// `out` (width values) = the sum of the rows of `rows` (row-major, `width` wide), in row
/// order: a bias gradient.
fn sum_rows(rows: &[f32], width: usize, out: &mut [f32]) {
    out.fill(0.0);
    for row in rows.chunks_exact(width) {
        for (a, b) in out.iter_mut().zip(row) {
            *a += b;
        }
    }
}
