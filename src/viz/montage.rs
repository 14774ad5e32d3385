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
    /// How values become grey levels. Default [`Scale::Symmetric`].
    pub scale: Scale,
}

/// How [`render`] maps a tile's values to grey levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scale {
    /// Each tile by its own largest magnitude, zero at mid-grey: filters, whose sign and
    /// shape matter and whose norm does not.
    #[default]
    Symmetric,
    /// Values on [0, 1] drawn as they are (0 black, 1 white), clamped: image patches, which
    /// should look as they do in the image.
    Unit,
}

impl Default for MontageOptions {
    fn default() -> Self {
        Self {
            columns: 0,
            zoom: 0,
            border: 1,
            order: None,
            scale: Scale::Symmetric,
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
    crate::io::atomic::check_distinct(&[("filters", filters), ("out", out)])?;
    crate::io::atomic::check_output(out, force)?;
    let bank = Bank::read(filters)?;
    let (width, height) = canvas_size(&bank, options);
    if width.max(height) > MAX_SIDE || width * height > MAX_PIXELS {
        return Err(crate::Error::param(
            "zoom",
            options.zoom,
            format!(
                "the montage of {} filters of {s}x{s} would be {width}x{height} pixels, beyond \
                 the limit of {MAX_SIDE} pixels a side and {MAX_PIXELS} pixels in all; lower \
                 `zoom` or `border`, or change `columns`",
                order_len(&bank, options),
                s = bank.size
            ),
        ));
    }
    let img = render(&bank, options);
    write_png(&img, out, force)?;
    Ok((bank, img.dimensions()))
}

/// Largest montage side, in pixels (what common viewers open).
pub const MAX_SIDE: u64 = 32_768;
/// Largest montage area: 100 megapixels, 300 MB of RGB while drawing.
pub const MAX_PIXELS: u64 = 100_000_000;

fn order_len(bank: &Bank, options: &MontageOptions) -> usize {
    options.order.as_ref().map_or(bank.count, Vec::len)
}

/// (columns, rows, zoom) of the grid: never more columns than filters drawn, so the canvas
/// is sized by what is drawn.
fn grid(bank: &Bank, options: &MontageOptions) -> (usize, usize, usize) {
    let n = order_len(bank, options).max(1);
    let columns = if options.columns > 0 {
        options.columns.min(n)
    } else {
        (n as f64).sqrt().ceil() as usize
    };
    let zoom = if options.zoom > 0 {
        options.zoom
    } else {
        (48 / bank.size.max(1)).max(1)
    };
    (columns, n.div_ceil(columns), zoom)
}

/// The montage's (width, height) in pixels, computed without overflow.
pub fn canvas_size(bank: &Bank, options: &MontageOptions) -> (u64, u64) {
    let (columns, rows, zoom) = grid(bank, options);
    let step = (bank.size as u64).saturating_mul(zoom as u64) + options.border as u64;
    let side = |k: usize| {
        (k as u64)
            .saturating_mul(step)
            .saturating_add(options.border as u64)
    };
    (side(columns), side(rows))
}

/// Draws the bank as a grid. One channel is drawn grey; three channels as RGB; any other
/// count shows the channel mean. Each filter is scaled as `options.scale` says.
pub fn render(bank: &Bank, options: &MontageOptions) -> RgbImage {
    let order: Vec<usize> = options
        .order
        .clone()
        .unwrap_or_else(|| (0..bank.count).collect());
    let (columns, rows, zoom) = grid(bank, options);
    let tile = bank.size * zoom;
    let b = options.border;
    let width = (columns * (tile + b) + b) as u32;
    let height = (rows * (tile + b) + b) as u32;
    let mut img = RgbImage::from_pixel(width, height, Rgb([40, 40, 40]));
    let plane = bank.size * bank.size;
    for (slot, &index) in order.iter().enumerate() {
        let f = bank.filter(index);
        let peak = f.iter().fold(0f32, |m, v| m.max(v.abs()));
        let (offset, scale) = match options.scale {
            Scale::Unit => (0.0, 1.0),
            Scale::Symmetric if peak > 0.0 && peak.is_finite() => (0.5, 0.5 / peak),
            Scale::Symmetric => (0.5, 0.0),
        };
        let to_byte = |v: f32| ((offset + v * scale).clamp(0.0, 1.0) * 255.0).round() as u8;
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

    #[test]
    fn unit_scale_draws_values_as_they_are() {
        let data = [1.0f32, 0.0, 0.5, 0.25];
        let bank = Bank::new(&data[..], 1, 1, 2);
        let img = render(
            &bank,
            &MontageOptions {
                zoom: 1,
                border: 0,
                scale: Scale::Unit,
                ..Default::default()
            },
        );
        let grey: Vec<u8> = [(0, 0), (1, 0), (0, 1), (1, 1)]
            .iter()
            .map(|&(x, y)| img.get_pixel(x, y).0[0])
            .collect();
        // Not rescaled by the tile's peak (0.5 would stay 128, 0.25 would not become 96).
        assert_eq!(grey, vec![255, 0, 128, 64]);
    }
}
