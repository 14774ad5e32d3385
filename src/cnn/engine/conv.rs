//! The convolution layer (NHWC, weights (filters, ky, kx, channels), bias per filter) on one
//! chunk. On AVX-512 CPUs every pass is an implicit GEMM on a zero-padded copy of the input
//! ([`direct`]): forward `Y = X * W` with the output positions as rows, weight gradient
//! `dW^T = X^T dY` with the kernel taps as rows, input gradient `dX = pad(dY) * flip(W)` (for
//! stride 1). Elsewhere, and for the input gradient of a strided convolution, it is one GEMM
//! per chunk on an im2col matrix: forward `Y = im2col(X) W^T`, weight gradient
//! `dW = dY^T im2col(X)`, input gradient `col2im(dY W)`. The weights are repacked for the
//! implicit GEMM once per pass, for all chunks.

use super::{Chunk, Workspace, sized, sum_rows};
use crate::cnn::direct::{self, Run, Start};
use crate::cnn::kernels::{ConvGeometry, col2im, im2col};
use crate::cnn::net::Network;
use crate::linalg::{Backend, View, ViewMut, gemm};
use rayon::prelude::*;

impl Workspace {
    /// The forward pass of conv layer `l` on every chunk, as an implicit GEMM.
    pub(super) fn conv_forward_direct(&mut self, net: &Network, l: usize, filters: usize) {
        let g = net.geometry(l);
        let w = &net.params[net.first_param[l].expect("conv has parameters")];
        let packed = &mut self.packed[l];
        transpose_into(w, filters, g.patch_len(), packed);
        let packed = &*packed;
        self.chunks
            .par_iter_mut()
            .for_each(|ch| forward_direct(ch, net, l, packed));
    }

    /// The backward pass of conv layer `l` on every chunk, on the implicit-GEMM path.
    pub(super) fn conv_backward_direct(
        &mut self,
        net: &Network,
        l: usize,
        train: &[bool],
        need_dx: bool,
    ) {
        let g = net.geometry(l);
        let flip = need_dx && flipped_input_grad(&g);
        if flip {
            flip_weights(net, l, &mut self.flipped[l]);
        }
        let flipped = &self.flipped[l];
        self.chunks
            .par_iter_mut()
            .for_each(|ch| backward_direct(ch, net, l, train, need_dx, flip.then_some(flipped)));
    }
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
fn forward_direct(ch: &mut Chunk, net: &Network, l: usize, packed: &[f32]) {
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
fn backward_direct(
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
        sum_rows(dy, filters, sized(&mut ch.pgrads[p + 1], filters));
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

/// Forward convolution of one chunk on the im2col path; keeps the im2col matrix in the
/// layer's cache for the weight gradient.
pub(super) fn forward_im2col(ch: &mut Chunk, net: &Network, l: usize, filters: usize) {
    let n = ch.n;
    let out_len = n * net.shapes[l + 1].len();
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

/// Backward convolution of one chunk on the im2col path.
pub(super) fn backward_im2col(
    ch: &mut Chunk,
    net: &Network,
    l: usize,
    filters: usize,
    train: &[bool],
    need_dx: bool,
) {
    let n = ch.n;
    let in_len = n * net.shapes[l].len();
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
        sum_rows(dy, filters, sized(&mut ch.pgrads[p + 1], filters));
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
