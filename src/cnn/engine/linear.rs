//! The fully connected layer on one chunk: `Y = X W^T + b` with X the chunk's flattened
//! inputs (samples x inputs) and W (outputs x inputs); the weight gradient `dW = dY^T X` and
//! the input gradient `dX = dY W`, each one GEMM.

use super::{Chunk, sized, split_pair, sum_rows};
use crate::cnn::net::Network;
use crate::linalg::{Backend, View, ViewMut, gemm};

pub(super) fn forward(ch: &mut Chunk, net: &Network, l: usize, outputs: usize) {
    let n = ch.n;
    let out_len = n * net.shapes[l + 1].len();
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

pub(super) fn backward(
    ch: &mut Chunk,
    net: &Network,
    l: usize,
    outputs: usize,
    train: &[bool],
    need_dx: bool,
) {
    let n = ch.n;
    let in_len = n * net.shapes[l].len();
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
        sum_rows(dy, outputs, sized(&mut ch.pgrads[p + 1], outputs));
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
