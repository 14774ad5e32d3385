//! The data-movement kernels around the GEMMs, on NHWC tensors (image, row, column,
//! channel): im2col and its adjoint col2im for convolutions, 2x2 max pooling, and ReLU fused
//! with the max pooling that follows it (one pass each way instead of two, with no ReLU
//! output stored; profiling put the separate ReLU and pooling passes at about 12% of an
//! epoch). Each works on one chunk of images, single-threaded; the engine runs chunks in
//! parallel. The pooling passes are plain loops compiled for each instruction set by the
//! crate's one dispatch ([`widest_simd!`]), so their channel loops vectorise 16 wide on
//! AVX-512.

use crate::linalg::dispatch::widest_simd;

/// Geometry of a convolution on one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvGeometry {
    pub height: usize,
    pub width: usize,
    pub channels: usize,
    pub kernel: usize,
    pub stride: usize,
    pub pad: usize,
}

impl ConvGeometry {
    pub fn out_height(&self) -> usize {
        (self.height + 2 * self.pad - self.kernel) / self.stride + 1
    }
    pub fn out_width(&self) -> usize {
        (self.width + 2 * self.pad - self.kernel) / self.stride + 1
    }
    /// Columns of the im2col matrix: kernel rows x kernel columns x channels.
    pub fn patch_len(&self) -> usize {
        self.kernel * self.kernel * self.channels
    }

    /// For output column `ox`, the kernel columns [kx0, kx1) that land inside the image and
    /// the first input column they read.
    fn valid_columns(&self, ox: usize) -> (usize, usize, usize) {
        let start = (ox * self.stride) as isize - self.pad as isize;
        let kx0 = (-start).max(0) as usize;
        let kx1 = ((self.width as isize - start).max(0) as usize).min(self.kernel);
        let ix0 = (start + kx0 as isize).max(0) as usize;
        (kx0, kx1.max(kx0), ix0)
    }
}

/// Unfolds `images` NHWC images into `col`: one row per output position (image, oy, ox),
/// one column per (ky, kx, channel); positions outside the image read zero.
pub fn im2col(x: &[f32], images: usize, g: &ConvGeometry, col: &mut [f32]) {
    let (oh, ow, c, k) = (g.out_height(), g.out_width(), g.channels, g.kernel);
    let plen = g.patch_len();
    let image_len = g.height * g.width * c;
    for n in 0..images {
        let img = &x[n * image_len..(n + 1) * image_len];
        for oy in 0..oh {
            for ox in 0..ow {
                let row = &mut col[((n * oh + oy) * ow + ox) * plen..][..plen];
                let (kx0, kx1, ix0) = g.valid_columns(ox);
                for ky in 0..k {
                    let dst = &mut row[ky * k * c..(ky + 1) * k * c];
                    let iy = (oy * g.stride + ky) as isize - g.pad as isize;
                    if iy < 0 || iy >= g.height as isize {
                        dst.fill(0.0);
                        continue;
                    }
                    dst[..kx0 * c].fill(0.0);
                    let src = (iy as usize * g.width + ix0) * c;
                    dst[kx0 * c..kx1 * c].copy_from_slice(&img[src..src + (kx1 - kx0) * c]);
                    dst[kx1 * c..].fill(0.0);
                }
            }
        }
    }
}

/// The adjoint of [`im2col`]: sums each column entry back into its input position.
/// `dx` is overwritten.
pub fn col2im(col: &[f32], images: usize, g: &ConvGeometry, dx: &mut [f32]) {
    let (oh, ow, c, k) = (g.out_height(), g.out_width(), g.channels, g.kernel);
    let plen = g.patch_len();
    let image_len = g.height * g.width * c;
    dx[..images * image_len].fill(0.0);
    for n in 0..images {
        let img = &mut dx[n * image_len..(n + 1) * image_len];
        for oy in 0..oh {
            for ox in 0..ow {
                let row = &col[((n * oh + oy) * ow + ox) * plen..][..plen];
                let (kx0, kx1, ix0) = g.valid_columns(ox);
                for ky in 0..k {
                    let iy = (oy * g.stride + ky) as isize - g.pad as isize;
                    if iy < 0 || iy >= g.height as isize {
                        continue;
                    }
                    let src = &row[ky * k * c + kx0 * c..ky * k * c + kx1 * c];
                    let start = (iy as usize * g.width + ix0) * c;
                    for (d, s) in img[start..start + src.len()].iter_mut().zip(src) {
                        *d += s;
                    }
                }
            }
        }
    }
}

/// 2x2 max pooling with stride 2 (odd trailing rows/columns are dropped, as in PyTorch).
/// Records in `arg` the input offset (within the chunk) of each output's maximum; ties go
/// to the first position in row-major order.
pub fn max_pool2(
    x: &[f32],
    images: usize,
    shape: (usize, usize, usize),
    y: &mut [f32],
    arg: &mut [u32],
) {
    pool2(false, x, images, shape, y, arg);
}

/// Backward of [`max_pool2`]: routes each output gradient to its maximum. `dx` (of
/// `input_len` values) is overwritten.
pub fn max_pool2_backward(dy: &[f32], arg: &[u32], dx: &mut [f32]) {
    dx.fill(0.0);
    for (g, &a) in dy.iter().zip(arg) {
        dx[a as usize] += g;
    }
}

/// `max_pool2(relu(x))` in one pass over the pre-activations `x`: each output is the
/// window's maximum if positive, else zero, bit for bit what the two passes give (a positive
/// maximum is the same value either way; otherwise every ReLU output of the window is zero).
/// `arg` gets the input offset of the window's first maximum of `x`; where the output is
/// zero it may differ from the two-pass arg-max, but no gradient flows there
/// ([`relu_max_pool2_backward`]).
pub fn relu_max_pool2(
    x: &[f32],
    images: usize,
    shape: (usize, usize, usize),
    y: &mut [f32],
    arg: &mut [u32],
) {
    pool2(true, x, images, shape, y, arg);
}

/// The 2x2 pool, with the ReLU folded in or not, on the widest instruction set present.
fn pool2(
    relu: bool,
    x: &[f32],
    images: usize,
    shape: (usize, usize, usize),
    y: &mut [f32],
    arg: &mut [u32],
) {
    widest_simd!(
        unsafe fn portable(
            relu: bool,
            x: &[f32],
            images: usize,
            shape: (usize, usize, usize),
            y: &mut [f32],
            arg: &mut [u32],
        ) {
            // Two monomorphic bodies, so neither tests `relu` inside its loops.
            if relu {
                pool2_body::<true>(x, images, shape, y, arg)
            } else {
                pool2_body::<false>(x, images, shape, y, arg)
            }
        }
    )
}

#[inline(always)]
fn pool2_body<const RELU: bool>(
    x: &[f32],
    images: usize,
    (h, w, c): (usize, usize, usize),
    y: &mut [f32],
    arg: &mut [u32],
) {
    let (oh, ow) = (h / 2, w / 2);
    assert!(x.len() >= images * h * w * c && x.len() <= u32::MAX as usize);
    assert!(y.len() >= images * oh * ow * c && arg.len() >= images * oh * ow * c);
    for n in 0..images {
        for oy in 0..oh {
            for ox in 0..ow {
                let out = ((n * oh + oy) * ow + ox) * c;
                let base = ((n * h + 2 * oy) * w + 2 * ox) * c;
                let o = [base, base + c, base + w * c, base + w * c + c];
                let (x0, x1) = (&x[o[0]..o[0] + c], &x[o[1]..o[1] + c]);
                let (x2, x3) = (&x[o[2]..o[2] + c], &x[o[3]..o[3] + c]);
                let yo = &mut y[out..out + c];
                let ao = &mut arg[out..out + c];
                for ch in 0..c {
                    // Strict comparisons in row-major order keep the first maximum.
                    let (mut v, mut k) = (x0[ch], o[0]);
                    if x1[ch] > v {
                        (v, k) = (x1[ch], o[1]);
                    }
                    if x2[ch] > v {
                        (v, k) = (x2[ch], o[2]);
                    }
                    if x3[ch] > v {
                        (v, k) = (x3[ch], o[3]);
                    }
                    yo[ch] = if !RELU || v > 0.0 { v } else { 0.0 };
                    ao[ch] = (k + ch) as u32;
                }
            }
        }
    }
}

/// Backward of [`relu_max_pool2`] given its output `y` and `arg`: each window's input
/// gradient is the output gradient at its arg-max if the output is positive, zero
/// elsewhere; every value of `dx` (the whole input, odd trailing rows and columns included)
/// is written once. Bit for bit the max-pool backward followed by the ReLU backward
/// (`0.0 + g` reproduces the sum into a zeroed buffer, which turns -0.0 into 0.0).
pub fn relu_max_pool2_backward(
    dy: &[f32],
    y: &[f32],
    arg: &[u32],
    images: usize,
    shape: (usize, usize, usize),
    dx: &mut [f32],
) {
    widest_simd!(
        unsafe fn portable(
            dy: &[f32],
            y: &[f32],
            arg: &[u32],
            images: usize,
            shape: (usize, usize, usize),
            dx: &mut [f32],
        ) {
            relu_max_pool2_backward_body(dy, y, arg, images, shape, dx)
        }
    )
}

#[inline(always)]
fn relu_max_pool2_backward_body(
    dy: &[f32],
    y: &[f32],
    arg: &[u32],
    images: usize,
    (h, w, c): (usize, usize, usize),
    dx: &mut [f32],
) {
    let (oh, ow) = (h / 2, w / 2);
    let dx = &mut dx[..images * h * w * c];
    for n in 0..images {
        for iy in 2 * oh..h {
            dx[(n * h + iy) * w * c..(n * h + iy + 1) * w * c].fill(0.0);
        }
        for oy in 0..oh {
            for ox in 0..ow {
                let out = ((n * oh + oy) * ow + ox) * c;
                let base = ((n * h + 2 * oy) * w + 2 * ox) * c;
                let (g, yo, ao) = (&dy[out..out + c], &y[out..out + c], &arg[out..out + c]);
                for (r, o) in [(0, base), (0, base + c), (1, base), (1, base + c)] {
                    let o = o + r * w * c;
                    let d = &mut dx[o..o + c];
                    for ch in 0..c {
                        let hit = ao[ch] as usize == o + ch && yo[ch] > 0.0;
                        d[ch] = if hit { 0.0 + g[ch] } else { 0.0 };
                    }
                }
            }
            if w % 2 == 1 {
                for r in 0..2 {
                    let o = ((n * h + 2 * oy + r) * w + w - 1) * c;
                    dx[o..o + c].fill(0.0);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn col2im_is_the_adjoint_of_im2col() {
        // <im2col(x), c> == <x, col2im(c)> for any x, c: checks padding and strides.
        for &(k, s, p) in &[(3, 1, 1), (5, 2, 2), (3, 2, 0), (4, 3, 1)] {
            let g = ConvGeometry {
                height: 7,
                width: 6,
                channels: 2,
                kernel: k,
                stride: s,
                pad: p,
            };
            let images = 2;
            let xl = images * 7 * 6 * 2;
            let cl = images * g.out_height() * g.out_width() * g.patch_len();
            let x: Vec<f32> = (0..xl).map(|i| ((i * 37) % 17) as f32 - 8.0).collect();
            let c: Vec<f32> = (0..cl).map(|i| ((i * 13) % 11) as f32 - 5.0).collect();
            let mut col = vec![f32::NAN; cl];
            im2col(&x, images, &g, &mut col);
            let mut dx = vec![f32::NAN; xl];
            col2im(&c, images, &g, &mut dx);
            let lhs: f64 = col.iter().zip(&c).map(|(a, b)| (a * b) as f64).sum();
            let rhs: f64 = x.iter().zip(&dx).map(|(a, b)| (a * b) as f64).sum();
            assert_eq!(lhs, rhs, "k={k} s={s} p={p}");
        }
    }

    /// The fused ReLU + pooling against the two separate passes (ReLU as the engine runs it,
    /// then max_pool2 and their backward passes), on odd and even sizes, with ties, zeros and
    /// all-negative windows: outputs and input gradients must be the same bits.
    #[test]
    fn fused_relu_pool_matches_the_two_passes() {
        for &(h, w, c) in &[(4usize, 4usize, 16usize), (5, 7, 3), (6, 3, 32), (1, 1, 2)] {
            let images = 2;
            let len = images * h * w * c;
            let out = images * (h / 2) * (w / 2) * c;
            // Values in {-2, ..., 2} / 2: plenty of ties, zeros and negative windows.
            let x: Vec<f32> = (0..len)
                .map(|i| ((i * 7 + i / 5) % 5) as f32 / 2.0 - 1.0)
                .collect();
            let dy: Vec<f32> = (0..out).map(|i| ((i * 3) % 11) as f32 - 5.0).collect();
            let relu: Vec<f32> = x.iter().map(|v| v.max(0.0)).collect();
            let (mut y2, mut a2) = (vec![f32::NAN; out], vec![0u32; out]);
            max_pool2(&relu, images, (h, w, c), &mut y2, &mut a2);
            let mut dr = vec![f32::NAN; len];
            max_pool2_backward(&dy, &a2, &mut dr);
            let dx2: Vec<f32> = dr
                .iter()
                .zip(&relu)
                .map(|(&g, &v)| if v > 0.0 { g } else { 0.0 })
                .collect();
            let (mut y1, mut a1) = (vec![f32::NAN; out], vec![0u32; out]);
            relu_max_pool2(&x, images, (h, w, c), &mut y1, &mut a1);
            let mut dx1 = vec![f32::NAN; len];
            relu_max_pool2_backward(&dy, &y1, &a1, images, (h, w, c), &mut dx1);
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&y1), bits(&y2), "outputs {h}x{w}x{c}");
            assert_eq!(bits(&dx1), bits(&dx2), "input gradients {h}x{w}x{c}");
            // The data must exercise both branches (the 1x1 image has no output at all).
            if out > 0 {
                assert!(y1.contains(&0.0) && y1.iter().any(|&v| v > 0.0));
            }
        }
    }
}
