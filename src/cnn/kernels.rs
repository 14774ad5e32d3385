//! The data-movement kernels around the GEMMs, on NHWC tensors (image, row, column,
//! channel): im2col and its adjoint col2im for convolutions, and 2x2 max pooling. Each works
//! on one chunk of images, single-threaded; the engine runs chunks in parallel.

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
    (h, w, c): (usize, usize, usize),
    y: &mut [f32],
    arg: &mut [u32],
) {
    let (oh, ow) = (h / 2, w / 2);
    for n in 0..images {
        for oy in 0..oh {
            for ox in 0..ow {
                let out = ((n * oh + oy) * ow + ox) * c;
                let base = ((n * h + 2 * oy) * w + 2 * ox) * c;
                let offsets = [base, base + c, base + w * c, base + w * c + c];
                for ch in 0..c {
                    let mut best = offsets[0] + ch;
                    let mut v = x[best];
                    for &o in &offsets[1..] {
                        if x[o + ch] > v {
                            v = x[o + ch];
                            best = o + ch;
                        }
                    }
                    y[out + ch] = v;
                    arg[out + ch] = best as u32;
                }
            }
        }
    }
}

/// Backward of [`max_pool2`]: routes each output gradient to its maximum. `dx` (of
/// `input_len` values) is overwritten.
pub fn max_pool2_backward(dy: &[f32], arg: &[u32], dx: &mut [f32]) {
    dx.fill(0.0);
    for (g, &a) in dy.iter().zip(arg) {
        dx[a as usize] += g;
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
}
