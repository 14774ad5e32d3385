//! Filter-bank montages: one PNG grid of filters, each scaled symmetrically about zero
//! (mid-grey is zero, as in Olshausen's displays), so the sign and shape of every filter
//! read at a glance whatever its norm.

use crate::error::{Error, Result};
use crate::params::{Params, Valid, ensure};
use image::{Rgb, RgbImage};
use std::path::Path;

/// The filter bank type, defined in [`crate::bank`]; re-exported here because montages are
/// where most callers meet it.
pub use crate::bank::Bank;

/// Layout options for [`render`].
#[derive(Debug, Clone, PartialEq)]
pub struct MontageOptions {
    /// Filters per row; 0 picks a near-square grid. Default 0; range 0..=4096.
    pub columns: usize,
    /// Screen pixels per filter pixel; 0 picks one so tiles are about 48 pixels wide.
    /// Default 0; range 0..=64.
    pub zoom: usize,
    /// Border between tiles, in screen pixels. Default 1; range 0..=32.
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

impl MontageOptions {
    /// The checked options (see [`crate::params`]).
    pub fn check(&self) -> Result<Valid<Self>> {
        Params::check(self)
    }
}

impl Params for MontageOptions {
    fn validate(&mut self) -> Result<()> {
        ensure(
            self.columns <= 4096,
            "columns",
            self.columns,
            "must be in 0..=4096",
        )?;
        ensure(self.zoom <= 64, "zoom", self.zoom, "must be in 0..=64")?;
        ensure(
            self.border <= 32,
            "border",
            self.border,
            "must be in 0..=32",
        )
    }
}

/// Reads the bank in `filters` and writes its montage to `out` (refused if it exists,
/// unless `force`). Returns the bank and the picture's size in pixels.
pub fn montage_file(
    options: &Valid<MontageOptions>,
    filters: &Path,
    out: &Path,
    force: bool,
) -> Result<(Bank<'static>, (u32, u32))> {
    crate::io::atomic::check_output(out, force)?;
    let bank = Bank::read(filters)?;
    let img = render(&bank, options);
    write_png(&img, out, force)?;
    Ok((bank, img.dimensions()))
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
        let bank = Bank::new(&data[..], 1, 1, 2);
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
