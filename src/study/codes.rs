//! The dictionary's codes on the CNN's own test images, so the sparsity of the CNN's
//! first-layer activations has an unsupervised counterpart measured on the same pixels.
//!
//! Each grayscale test image goes through the reference patches' preprocessing (sRGB decoded
//! to linear light, the Olshausen-Field whitening filter, unit variance), every k x k patch at
//! stride 1 has its mean removed, and the patches are coded with the exact `cd` coder at the
//! study's lambda. The measures mirror the CNN's `metrics.csv` columns: fraction of zeros,
//! per-image Hoyer sparsity of the magnitudes (CNN: of the ReLU map), and excess kurtosis of
//! all values (CNN: of the pre-activations).

use crate::analysis::sparsity::{excess_kurtosis, hoyer};
use crate::coding::{Coder, CodingParams, PreparedDictionary};
use crate::error::Result;
use crate::io::images::{GrayImage, srgb_to_linear};
use crate::io::labelled::LabelledImages;
use crate::patches::sample::remove_dc;
use crate::patches::whiten::{of_filter, scale_to_unit_variance};
use nalgebra::DMatrix;

/// The Olshausen-Field cut-off the reference patches use (cycles/pixel).
pub const OF_F0: f32 = 0.4;

/// Sparsity of the dictionary's codes on a set of images.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CodeSparsity {
    pub images: usize,
    pub patches: usize,
    pub zero_fraction: f64,
    pub hoyer_per_image: f64,
    pub kurtosis: f64,
    pub converged_fraction: f64,
    pub max_relative_gap: f64,
}

/// Whitened, mean-removed k x k patches (stride 1) of grayscale image `i`, appended to `out`.
fn image_patches(images: &LabelledImages, i: usize, k: usize, out: &mut Vec<f32>) {
    let (w, h) = (images.width, images.height);
    let img = GrayImage {
        width: w,
        height: h,
        data: images
            .image(i)
            .iter()
            .map(|&b| srgb_to_linear(b as f32 / 255.0))
            .collect(),
    };
    let mut white = of_filter(&img, OF_F0);
    scale_to_unit_variance(&mut white, 0);
    let start = out.len();
    for y in 0..=h - k {
        for x in 0..=w - k {
            for r in 0..k {
                out.extend_from_slice(&white.data[(y + r) * w + x..(y + r) * w + x + k]);
            }
        }
    }
    remove_dc(&mut out[start..], k * k);
}

/// Codes the first `count` images of `images` (grayscale, at least k x k) with `dictionary`
/// (atoms x k*k, row-major as on disk) and summarises their sparsity.
pub fn code_sparsity(
    images: &LabelledImages,
    count: usize,
    dictionary: &[f32],
    atoms: usize,
    k: usize,
    lambda: f32,
) -> Result<CodeSparsity> {
    let n = count.min(images.len());
    let per_image = (images.width + 1 - k) * (images.height + 1 - k);
    let mut x = Vec::with_capacity(n * per_image * k * k);
    for i in 0..n {
        image_patches(images, i, k, &mut x);
    }
    let patches = n * per_image;
    let d = PreparedDictionary::new(DMatrix::from_column_slice(k * k, atoms, dictionary));
    let x = DMatrix::from_vec(k * k, patches, x);
    let mut codes = DMatrix::<f32>::zeros(atoms, patches);
    let params = CodingParams::new(lambda).check()?;
    let report = Coder::Cd.build().encode(&d, &x, &mut codes, &params)?;
    let values = codes.as_slice();
    let zeros = values.iter().filter(|&&v| v == 0.0).count();
    let hoyers: Vec<f64> = values
        .chunks_exact(per_image * atoms)
        .map(|image| hoyer(&image.iter().map(|v| v.abs()).collect::<Vec<_>>()))
        .filter(|h| h.is_finite())
        .collect();
    Ok(CodeSparsity {
        images: n,
        patches,
        zero_fraction: zeros as f64 / values.len().max(1) as f64,
        hoyer_per_image: hoyers.iter().sum::<f64>() / hoyers.len().max(1) as f64,
        kurtosis: excess_kurtosis(values),
        converged_fraction: report.converged_fraction,
        max_relative_gap: report.max_relative_gap,
    })
}
