//! Filter-bank montages: one PNG grid of filters, each scaled symmetrically about zero
//! (mid-grey is zero, as in Olshausen's displays), so the sign and shape of every filter
//! read at a glance whatever its norm.

use crate::error::{Error, Result};
use image::{Rgb, RgbImage};
use std::path::Path;

/// A bank of filters, row-major: `count` filters of `channels` x `size` x `size` values
/// (PyTorch's (filters, channels, k, k) layout; a dictionary is channels = 1).
#[derive(Debug, Clone, Copy)]
pub struct Bank<'a> {
    pub data: &'a [f32],
    pub count: usize,
    pub channels: usize,
    pub size: usize,
}

impl<'a> Bank<'a> {
    /// Interprets an array of shape (atoms, pixels) with square patches, or
    /// (filters, channels, k, k). `path` labels errors.
    pub fn from_shape(data: &'a [f32], shape: &[usize], path: &Path) -> Result<Self> {
        match *shape {
            [count, pixels] => {
                let size = (pixels as f64).sqrt().round() as usize;
                if size * size != pixels || pixels == 0 {
                    return Err(Error::bad_input(
                        path,
                        "shape",
                        format!("{shape:?}"),
                        "a 2-D filter bank needs square patches: (atoms, size*size)",
                    ));
                }
                Ok(Self {
                    data,
                    count,
                    channels: 1,
                    size,
                })
            }
            [count, channels, h, w] if h == w && h > 0 && channels > 0 => Ok(Self {
                data,
                count,
                channels,
                size: h,
            }),
            _ => Err(Error::bad_input(
                path,
                "shape",
                format!("{shape:?}"),
                "expected (atoms, size*size) or (filters, channels, k, k) with square kernels",
            )),
        }
    }

    /// The values of filter `i`.
    pub fn filter(&self, i: usize) -> &'a [f32] {
        let n = self.channels * self.size * self.size;
        &self.data[i * n..(i + 1) * n]
    }
}

/// Layout options for [`render`].
#[derive(Debug, Clone)]
pub struct MontageOptions {
    /// Filters per row; 0 picks a near-square grid.
    pub columns: usize,
    /// Screen pixels per filter pixel; 0 picks one so tiles are about 48 pixels wide.
    pub zoom: usize,
    /// Border between tiles, in screen pixels.
    pub border: usize,
    /// Order in which to show the filters (indices into the bank); None shows them in order.
    pub order: Option<Vec<usize>>,
}

impl Default for MontageOptions {
    fn default() -> Self {
        Self {
            columns: 0,
            zoom: 0,
            border: 1,
            order: None,
        }
    }
}

/// Draws the bank as a grid. One channel is drawn grey; three channels as RGB; any other
/// count shows the channel mean. Each filter is scaled by its own largest magnitude.
pub fn render(bank: &Bank, options: &MontageOptions) -> RgbImage {
    let order: Vec<usize> = options
        .order
        .clone()
        .unwrap_or_else(|| (0..bank.count).collect());
    let n = order.len().max(1);
    let columns = if options.columns > 0 {
        options.columns
    } else {
        (n as f64).sqrt().ceil() as usize
    };
    let rows = n.div_ceil(columns);
    let zoom = if options.zoom > 0 {
        options.zoom
    } else {
        (48 / bank.size.max(1)).max(1)
    };
    let tile = bank.size * zoom;
    let b = options.border;
    let width = (columns * (tile + b) + b) as u32;
    let height = (rows * (tile + b) + b) as u32;
    let mut img = RgbImage::from_pixel(width, height, Rgb([40, 40, 40]));
    let plane = bank.size * bank.size;
    for (slot, &index) in order.iter().enumerate() {
        let f = bank.filter(index);
        let peak = f.iter().fold(0f32, |m, v| m.max(v.abs()));
        let scale = if peak > 0.0 && peak.is_finite() {
            0.5 / peak
        } else {
            0.0
        };
        let to_byte = |v: f32| ((0.5 + v * scale).clamp(0.0, 1.0) * 255.0).round() as u8;
        let (gx, gy) = (slot % columns, slot / columns);
        let (x0, y0) = (b + gx * (tile + b), b + gy * (tile + b));
        for y in 0..bank.size {
            for x in 0..bank.size {
                let p = y * bank.size + x;
                let rgb = match bank.channels {
                    3 => [
                        to_byte(f[p]),
                        to_byte(f[plane + p]),
                        to_byte(f[2 * plane + p]),
                    ],
                    c => {
                        let mean = (0..c).map(|ch| f[ch * plane + p]).sum::<f32>() / c as f32;
                        let g = to_byte(mean);
                        [g, g, g]
                    }
                };
                for dy in 0..zoom {
                    for dx in 0..zoom {
                        img.put_pixel(
                            (x0 + x * zoom + dx) as u32,
                            (y0 + y * zoom + dy) as u32,
                            Rgb(rgb),
                        );
                    }
                }
            }
        }
    }
    img
}

/// Encodes `img` as PNG and writes it atomically.
pub fn write_png(img: &RgbImage, path: &Path, force: bool) -> Result<()> {
    let mut bytes = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    )
    .map_err(|e| Error::failed(format!("encoding {}", path.display()), e.to_string()))?;
    crate::io::atomic::write_bytes(path, &bytes, force)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_is_mid_grey_and_sign_is_symmetric() {
        let data = [1.0f32, -1.0, 0.0, 0.5];
        let bank = Bank {
            data: &data,
            count: 1,
            channels: 1,
            size: 2,
        };
        let img = render(
            &bank,
            &MontageOptions {
                zoom: 1,
                border: 0,
                ..Default::default()
            },
        );
        assert_eq!(img.get_pixel(0, 0).0[0], 255);
        assert_eq!(img.get_pixel(1, 0).0[0], 0);
        assert_eq!(img.get_pixel(0, 1).0[0], 128);
    }
}
