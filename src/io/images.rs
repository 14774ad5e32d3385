//! Image input for `extract`: recursive folder listing and decoding of PNG, JPEG, TIFF and
//! PGM/PPM files (8 or 16 bits per channel) into one channel of linear luminance in [0, 1].
//!
//! Pixel values are taken as sRGB-encoded (what cameras and the Kodak set store), decoded to
//! linear light, and combined with the Rec. 709 luminance weights 0.2126 R + 0.7152 G +
//! 0.0722 B; a grey image is linearised the same way. Alpha is ignored. Float TIFFs are
//! treated like the integer formats. Decoding uses the `image` crate's default limits, so a
//! file that claims enormous dimensions is an error, never a huge allocation.

use crate::error::{Error, Result};
use image::{DynamicImage, ImageReader};
use std::path::{Path, PathBuf};

/// File extensions (lower case) that `list_images` picks up.
pub const EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "tif", "tiff", "pgm", "ppm", "pnm"];

/// A single-channel image, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct GrayImage {
    pub width: usize,
    pub height: usize,
    pub data: Vec<f32>,
}

/// Every image file under `dir` (recursively, following no symlinked folders twice), sorted
/// by path so the order, and therefore the output, does not depend on the file system.
pub fn list_images(dir: &Path) -> Result<Vec<PathBuf>> {
    let meta = std::fs::metadata(dir).map_err(|source| Error::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    if !meta.is_dir() {
        return Err(Error::bad_input(
            dir,
            "--images",
            dir.display(),
            "is not a folder",
        ));
    }
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(dir).follow_links(true) {
        let entry = entry.map_err(|e| {
            let path = e.path().unwrap_or(dir).to_path_buf();
            Error::Read {
                path,
                source: e
                    .into_io_error()
                    .unwrap_or_else(|| std::io::Error::other("symbolic link loop")),
            }
        })?;
        if entry.file_type().is_file() && has_image_extension(entry.path()) {
            files.push(entry.into_path());
        }
    }
    files.sort();
    Ok(files)
}

fn has_image_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .map(|e| EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        .unwrap_or(false)
}

/// sRGB transfer function inverse: encoded value in [0, 1] -> linear light.
pub fn srgb_to_linear(v: f32) -> f32 {
    if v <= 0.040_45 {
        v / 12.92
    } else {
        ((v + 0.055) / 1.055).powf(2.4)
    }
}

const WEIGHTS: [f32; 3] = [0.2126, 0.7152, 0.0722];

/// Decodes `path` into linear luminance. A file that cannot be decoded is a
/// [`Error::BadInput`] naming it, with the decoder's message.
pub fn load_luminance(path: &Path) -> Result<GrayImage> {
    let bytes = std::fs::read(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    decode_luminance(&bytes, path)
}

/// Decodes image bytes already in memory (`path` names it in errors and guides the format
/// guess together with the content).
pub fn decode_luminance(bytes: &[u8], path: &Path) -> Result<GrayImage> {
    let corrupt = |reason: String| Error::bad_input(path, "image", "undecodable", reason);
    let mut reader = ImageReader::new(std::io::Cursor::new(bytes));
    if let Ok(format) = image::ImageFormat::from_path(path) {
        reader.set_format(format);
    }
    let reader = reader
        .with_guessed_format()
        .map_err(|e| corrupt(e.to_string()))?;
    let img = reader.decode().map_err(|e| corrupt(e.to_string()))?;
    Ok(to_luminance(&img))
}

/// Linear luminance of a decoded image.
pub fn to_luminance(img: &DynamicImage) -> GrayImage {
    let (width, height) = (img.width() as usize, img.height() as usize);
    let data = match img {
        DynamicImage::ImageLuma8(g) => {
            let lut = lut8();
            g.as_raw().iter().map(|&v| lut[v as usize]).collect()
        }
        DynamicImage::ImageLumaA8(g) => {
            let lut = lut8();
            g.as_raw()
                .chunks_exact(2)
                .map(|p| lut[p[0] as usize])
                .collect()
        }
        DynamicImage::ImageRgb8(c) => rgb8(c.as_raw(), 3),
        DynamicImage::ImageRgba8(c) => rgb8(c.as_raw(), 4),
        other => {
            // 16-bit and float images: rare enough that a float copy costs nothing that matters.
            let rgb = other.to_rgb32f();
            rgb.as_raw()
                .chunks_exact(3)
                .map(|p| {
                    WEIGHTS[0] * srgb_to_linear(p[0].clamp(0.0, 1.0))
                        + WEIGHTS[1] * srgb_to_linear(p[1].clamp(0.0, 1.0))
                        + WEIGHTS[2] * srgb_to_linear(p[2].clamp(0.0, 1.0))
                })
                .collect()
        }
    };
    GrayImage {
        width,
        height,
        data,
    }
}

fn lut8() -> [f32; 256] {
    std::array::from_fn(|i| srgb_to_linear(i as f32 / 255.0))
}

fn rgb8(raw: &[u8], channels: usize) -> Vec<f32> {
    let lut = lut8();
    raw.chunks_exact(channels)
        .map(|p| {
            WEIGHTS[0] * lut[p[0] as usize]
                + WEIGHTS[1] * lut[p[1] as usize]
                + WEIGHTS[2] * lut[p[2] as usize]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn white_is_one_and_black_is_zero_at_both_depths() {
        let white8 = DynamicImage::ImageRgb8(image::RgbImage::from_pixel(
            2,
            1,
            image::Rgb([255, 255, 255]),
        ));
        let white16 = DynamicImage::ImageLuma16(image::ImageBuffer::from_pixel(
            1,
            1,
            image::Luma([65535u16]),
        ));
        for img in [white8, white16] {
            let g = to_luminance(&img);
            // The three weights sum to 1 up to f32 rounding.
            assert!(
                g.data.iter().all(|v| (v - 1.0).abs() < 1e-5),
                "{:?}",
                g.data
            );
        }
        let grey = DynamicImage::ImageLuma8(image::GrayImage::from_pixel(1, 1, image::Luma([0])));
        assert_eq!(to_luminance(&grey).data, vec![0.0]);
        // Mid-grey 128 is about 21.6% linear light (sRGB); 1e-3 covers the curve's rounding.
        let mid = DynamicImage::ImageLuma8(image::GrayImage::from_pixel(1, 1, image::Luma([128])));
        assert!((to_luminance(&mid).data[0] - 0.2158).abs() < 1e-3);
    }
}
