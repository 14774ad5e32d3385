//! ReLU and 2x2 max pooling on one chunk, and the two fused into one pass each way when a
//! forward pass covers both: the ReLU's output (and the gradient at it) is then never
//! stored, which profiling put at about 12% of an epoch.

use super::{Chunk, sized, split_pair};
use crate::cnn::kernels::{max_pool2, max_pool2_backward, relu_max_pool2, relu_max_pool2_backward};
use crate::cnn::net::{LayerSpec, Network};

pub(super) fn relu_forward(ch: &mut Chunk, net: &Network, l: usize) {
    let out_len = ch.n * net.shapes[l + 1].len();
    let (x, y) = split_pair(&mut ch.acts, l);
    for (o, &i) in sized(y, out_len).iter_mut().zip(x.iter()) {
        *o = i.max(0.0);
    }
}

pub(super) fn relu_backward(ch: &mut Chunk, net: &Network, l: usize) {
    let in_len = ch.n * net.shapes[l].len();
    // relu(x) > 0 exactly when x > 0: the input serves, and it exists even when
    // the output was fused away.
    let (dx, dy) = split_pair(&mut ch.grads, l);
    let x = &ch.acts[l];
    for ((d, &g), &v) in sized(dx, in_len).iter_mut().zip(dy.iter()).zip(x.iter()) {
        *d = if v > 0.0 { g } else { 0.0 };
    }
}

pub(super) fn max_pool_forward(ch: &mut Chunk, net: &Network, l: usize) {
    let n = ch.n;
    let out_len = n * net.shapes[l + 1].len();
    let s = net.shapes[l];
    let (x, y) = split_pair(&mut ch.acts, l);
    let y = sized(y, out_len);
    ch.arg[l].resize(out_len, 0);
    max_pool2(x, n, (s.height, s.width, s.channels), y, &mut ch.arg[l]);
}

pub(super) fn max_pool_backward(ch: &mut Chunk, net: &Network, l: usize) {
    let in_len = ch.n * net.shapes[l].len();
    let (dx, dy) = split_pair(&mut ch.grads, l);
    max_pool2_backward(dy, &ch.arg[l], sized(dx, in_len));
}

/// Whether layer `l` is a ReLU whose max pool also runs in a forward pass to `upto`.
pub(super) fn fuses(net: &Network, l: usize, upto: usize) -> bool {
    l + 1 < upto
        && matches!(net.spec.layers[l], LayerSpec::Relu)
        && matches!(net.spec.layers[l + 1], LayerSpec::MaxPool)
}

/// ReLU at `l` and max pool at `l + 1` on one chunk: the pool's output and arg-max from the
/// ReLU's input.
pub(super) fn relu_pool_forward(ch: &mut Chunk, net: &Network, l: usize) {
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
pub(super) fn relu_pool_backward(ch: &mut Chunk, net: &Network, l: usize) {
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
