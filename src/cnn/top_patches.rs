//! The dataset patches that most excite each unit of a convolution (Zeiler & Fergus 2014,
//! "Visualizing and understanding convolutional networks", their Figure 2): for every unit
//! (output channel) of a layer, the [`TOP`] images of a set in which the unit's strongest
//! response is largest, each at the position of that response, cropped to the position's
//! receptive field from the image as a person sees it (the bytes, not the standardised or
//! whitened values the network sees).
//!
//! The images go through the network in evaluation mode in batches of [`EVAL_BATCH`]; only a
//! running top list per unit is kept, so memory does not grow with the number of images.
//! The receptive field is derived from the network's layer list ([`receptive_field`]), not
//! assumed. [`TopPatches::coherence`] turns a unit's patches into one number: how alike
//! they are (the mean pairwise correlation), the measurable side of "this unit responds to
//! one kind of structure". [`top_patches_run`] is `cnn visualize --top-patches N` in one
//! call: a run's layer to a montage PNG with a JSON sidecar listing every patch.

use super::checkpoint::Checkpoint;
use super::data::{self, NetworkInputs};
use super::engine::{Mode, Workspace, mix_seed};
use super::measure::EVAL_BATCH;
use super::net::{LayerSpec, NetSpec, Network};
use super::visualize::ConvLayer;
use crate::error::{Error, Result};
use crate::io::atomic;
use crate::io::labelled::LabelledImages;
use crate::io::sidecar::{self, Provenance};
use crate::params::{Params, Valid, ensure};
use crate::viz::montage::{self, Bank, MontageOptions, Scale};
use image::RgbImage;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::cmp::Ordering;
use std::path::Path;

/// Patches per unit in Zeiler & Fergus's figures.
pub const TOP: usize = 9;

/// Value of a patch pixel that falls outside its image: mid-grey, 0.5 on the [0, 1]
/// display scale of the patches (the zero padding the network sees is the standardised
/// mean, which is close to mid-grey for natural images; a fixed grey keeps the padding
/// visible as such in a montage).
pub const PAD_VALUE: f32 = 0.5;

/// Where one output position of a layer looks in the input: the square window of side
/// `size` starting at `(y * stride + offset, x * stride + offset)` for output position
/// `(y, x)`. `offset` is negative when the window reaches into the padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ReceptiveField {
    pub size: usize,
    pub stride: usize,
    pub offset: isize,
}

impl ReceptiveField {
    /// The first input row (or column) of output row (or column) `i`.
    pub fn start(&self, i: usize) -> isize {
        (i * self.stride) as isize + self.offset
    }
}

/// The receptive field of the output of layer `layer` (index into the layer list; its
/// output is `shapes[layer + 1]`), composed from the input through every layer up to it: a
/// k x k convolution with stride s and padding p widens the window by (k - 1) input steps,
/// shifts it by -p steps and multiplies the step by s; a 2x2 / 2 max pool widens it by one
/// step and doubles the step; element-wise layers change nothing. A linear layer mixes
/// every position, so it has no local field: an error.
pub fn receptive_field(spec: &NetSpec, layer: usize) -> Result<ReceptiveField> {
    let mut f = ReceptiveField {
        size: 1,
        stride: 1,
        offset: 0,
    };
    let layers = spec.layers.get(..=layer).ok_or_else(|| {
        Error::param(
            "layer",
            layer,
            format!("the network has {} layers", spec.layers.len()),
        )
    })?;
    for (i, l) in layers.iter().enumerate() {
        match *l {
            LayerSpec::Conv {
                kernel,
                stride,
                pad,
                ..
            } => {
                f.offset -= (pad * f.stride) as isize;
                f.size += (kernel - 1) * f.stride;
                f.stride *= stride;
            }
            LayerSpec::MaxPool => {
                f.size += f.stride;
                f.stride *= 2;
            }
            LayerSpec::Relu | LayerSpec::BatchNorm | LayerSpec::Dropout { .. } => {}
            LayerSpec::Linear { .. } => {
                return Err(Error::param(
                    "layer",
                    layer,
                    format!(
                        "layer {i} below it is linear: its outputs have no local receptive field"
                    ),
                ));
            }
        }
    }
    Ok(f)
}

/// The top patches of every unit of one convolution.
///
/// A unit's patches are ranked by its response at the convolution's output (after batch
/// norm when the network has one there): the input of the ReLU, whose output the next
/// layer uses. The ReLU is monotone, so the ranking is the ReLU output's wherever the unit
/// fires; ranking before it keeps the order meaningful for a unit that fires on fewer than
/// `top` images (its ReLU output would tie at 0). `activations` hold these pre-ReLU
/// values; the ReLU output is their positive part.
#[derive(Debug, Clone, PartialEq)]
pub struct TopPatches {
    pub layer: ConvLayer,
    pub units: usize,
    /// Patches per unit: the requested count, or fewer when there were fewer images.
    pub top: usize,
    pub channels: usize,
    pub field: ReceptiveField,
    /// (height, width) of the layer's output map.
    pub map: (usize, usize),
    /// Images searched (the first ones of the set).
    pub images: usize,
    /// units x top x channels x size x size values on the [0, 1] display scale (byte /
    /// 255), planar per channel like a filter bank; pixels outside the image are
    /// [`PAD_VALUE`]. Rank 0 is the strongest.
    pub patches: Vec<f32>,
    /// units x top: the unit's pre-ReLU response at the patch's position.
    pub activations: Vec<f32>,
    /// units x top: the index of the patch's image in the set.
    pub image: Vec<usize>,
    /// units x top: (y, x) of the response in the layer's output map.
    pub position: Vec<(usize, usize)>,
}

/// One candidate: an image's strongest response of one unit.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    value: f32,
    image: usize,
    position: usize,
}

/// Ranking: larger response first; ties go to the lower image index, then the lower
/// position (row-major).
fn rank(a: &Candidate, b: &Candidate) -> Ordering {
    b.value
        .total_cmp(&a.value)
        .then(a.image.cmp(&b.image))
        .then(a.position.cmp(&b.position))
}

/// Inserts `c` into the sorted list `best` of at most `keep` candidates.
fn offer(best: &mut Vec<Candidate>, c: Candidate, keep: usize) {
    if best.len() == keep && rank(&c, best.last().expect("keep >= 1")) != Ordering::Less {
        return;
    }
    let at = best.partition_point(|b| rank(b, &c) == Ordering::Less);
    best.insert(at, c);
    best.truncate(keep);
}

/// Crops the `size` x `size` window at (`y0`, `x0`) of image `i` of `images` as planar
/// channels on the [0, 1] scale, pixels outside the image set to [`PAD_VALUE`].
pub fn crop(images: &LabelledImages, i: usize, y0: isize, x0: isize, size: usize) -> Vec<f32> {
    let (h, w, c) = (images.height, images.width, images.channels);
    let src = images.image(i);
    let mut out = vec![PAD_VALUE; c * size * size];
    for dy in 0..size {
        let y = y0 + dy as isize;
        if y < 0 || y >= h as isize {
            continue;
        }
        for dx in 0..size {
            let x = x0 + dx as isize;
            if x < 0 || x >= w as isize {
                continue;
            }
            let at = (y as usize * w + x as usize) * c;
            for ch in 0..c {
                out[(ch * size + dy) * size + dx] = src[at + ch] as f32 / 255.0;
            }
        }
    }
    out
}

/// The `top` strongest distinct images of every unit of convolution `conv` of `net` among
/// the first `images` of `inputs` (all of them if fewer), at most one patch per image (the
/// image's strongest response; Zeiler & Fergus show nine different images).
pub fn top_patches(
    net: &Network,
    conv: ConvLayer,
    inputs: &NetworkInputs,
    images: usize,
    top: usize,
) -> Result<TopPatches> {
    if top == 0 {
        return Err(Error::param("top", top, "must be at least 1"));
    }
    if images == 0 || inputs.is_empty() {
        return Err(Error::param(
            "images",
            images,
            format!("needs at least one image (the set has {})", inputs.len()),
        ));
    }
    inputs.check_shape(net.shapes[0])?;
    let raw = inputs.images;
    let layer = conv.index_in(net)?;
    let field = receptive_field(&net.spec, layer)?;
    let out = net.shapes[layer + 1];
    let (units, positions) = (out.channels, out.height * out.width);
    let n = images.min(inputs.len());
    let keep = top.min(n);
    let mut best: Vec<Vec<Candidate>> = vec![Vec::with_capacity(keep + 1); units];
    let mut ws = Workspace::new();
    // Per unit, the image's strongest response and its first position.
    let mut image_best = vec![(f32::NEG_INFINITY, 0usize); units];
    for start in (0..n).step_by(EVAL_BATCH) {
        let b = EVAL_BATCH.min(n - start);
        ws.prepare(net, b);
        ws.fill_inputs(net, |i, dst| inputs.write(start + i, None, dst));
        ws.forward(net, Mode::Eval, 0, layer + 1);
        ws.read(net, layer + 1, |i, a| {
            image_best.fill((f32::NEG_INFINITY, 0));
            for p in 0..positions {
                for (u, slot) in image_best.iter_mut().enumerate() {
                    let v = a[p * units + u];
                    // Strictly greater: a tie keeps the earlier position.
                    if v.total_cmp(&slot.0) == Ordering::Greater {
                        *slot = (v, p);
                    }
                }
            }
            for (u, &(value, position)) in image_best.iter().enumerate() {
                let c = Candidate {
                    value,
                    image: start + i,
                    position,
                };
                offer(&mut best[u], c, keep);
            }
        });
    }
    let (c, size) = (raw.channels, field.size);
    let mut t = TopPatches {
        layer: conv,
        units,
        top: keep,
        channels: c,
        field,
        map: (out.height, out.width),
        images: n,
        patches: Vec::with_capacity(units * keep * c * size * size),
        activations: Vec::with_capacity(units * keep),
        image: Vec::with_capacity(units * keep),
        position: Vec::with_capacity(units * keep),
    };
    for list in &best {
        for cand in list {
            let (y, x) = (cand.position / out.width, cand.position % out.width);
            t.patches
                .extend(crop(raw, cand.image, field.start(y), field.start(x), size));
            t.activations.push(cand.value);
            t.image.push(cand.image);
            t.position.push((y, x));
        }
    }
    Ok(t)
}

impl TopPatches {
    /// The null of [`TopPatches::coherence`]: the same layout (units, patches per unit,
    /// receptive field, images searched) filled with patches at random places, each unit's
    /// from distinct images drawn from the same first images of `raw`, at positions drawn
    /// uniformly over the layer's map, from `seed`. Activations are NaN (none was
    /// measured). Natural-image patches are not independent pixels, so this says what
    /// "alike" means for patches no unit chose.
    pub fn random_like(&self, raw: &LabelledImages, seed: u64) -> TopPatches {
        let mut rng = ChaCha8Rng::seed_from_u64(mix_seed(seed, 0x709, self.units as u64));
        let (h, w) = self.map;
        let size = self.field.size;
        let mut t = TopPatches {
            patches: Vec::with_capacity(self.patches.len()),
            activations: vec![f32::NAN; self.activations.len()],
            image: Vec::with_capacity(self.image.len()),
            position: Vec::with_capacity(self.position.len()),
            ..self.clone()
        };
        for _ in 0..self.units {
            for i in rand::seq::index::sample(&mut rng, self.images, self.top) {
                let (y, x) = (rng.random_range(0..h), rng.random_range(0..w));
                t.patches
                    .extend(crop(raw, i, self.field.start(y), self.field.start(x), size));
                t.image.push(i);
                t.position.push((y, x));
            }
        }
        t
    }

    /// Values in one patch.
    pub fn patch_len(&self) -> usize {
        self.channels * self.field.size * self.field.size
    }

    /// Patch `rank` of `unit`.
    pub fn patch(&self, unit: usize, rank: usize) -> &[f32] {
        let len = self.patch_len();
        let at = (unit * self.top + rank) * len;
        &self.patches[at..at + len]
    }

    /// The part of patch `k` (index unit * top + rank) inside its image, as half-open rows
    /// and columns of the patch; the rest is padding.
    fn inside(&self, k: usize, height: usize, width: usize) -> (usize, usize, usize, usize) {
        let s = self.field.size as isize;
        let (y, x) = self.position[k];
        let span = |start: isize, n: usize| {
            let lo = (-start).clamp(0, s);
            let hi = (n as isize - start).clamp(lo, s);
            (lo as usize, hi as usize)
        };
        let (y0, y1) = span(self.field.start(y), height);
        let (x0, x1) = span(self.field.start(x), width);
        (y0, y1, x0, x1)
    }

    /// How alike each unit's patches are: the mean, over every pair of its patches, of their
    /// correlation (each made zero-mean and unit-norm over the pixels, all channels, that
    /// lie inside both images, so the grey padding counts for nothing). 1 means every patch
    /// is the same pattern up to brightness and contrast; unrelated patches give about 0.
    /// A pair with fewer than 2 shared pixels, or a constant patch, is left out; a unit with
    /// no pair left is NaN. `height` and `width` are the images' size.
    pub fn coherence(&self, height: usize, width: usize) -> Vec<f64> {
        let s = self.field.size;
        let (c, top) = (self.channels, self.top);
        (0..self.units)
            .map(|u| {
                let (mut sum, mut pairs) = (0.0, 0usize);
                for i in 0..top {
                    for j in i + 1..top {
                        let (a, b) = (u * top + i, u * top + j);
                        let (ay0, ay1, ax0, ax1) = self.inside(a, height, width);
                        let (by0, by1, bx0, bx1) = self.inside(b, height, width);
                        let (y0, y1) = (ay0.max(by0), ay1.min(by1));
                        let (x0, x1) = (ax0.max(bx0), ax1.min(bx1));
                        if y1 <= y0 || x1 <= x0 || c * (y1 - y0) * (x1 - x0) < 2 {
                            continue;
                        }
                        let values = |k: usize| -> Vec<f64> {
                            let p = self.patch(k / top, k % top);
                            let mut v = Vec::with_capacity(c * (y1 - y0) * (x1 - x0));
                            for ch in 0..c {
                                for y in y0..y1 {
                                    for x in x0..x1 {
                                        v.push(p[(ch * s + y) * s + x] as f64);
                                    }
                                }
                            }
                            v
                        };
                        if let Some(r) = correlation(&values(a), &values(b)) {
                            sum += r;
                            pairs += 1;
                        }
                    }
                }
                if pairs == 0 {
                    f64::NAN
                } else {
                    sum / pairs as f64
                }
            })
            .collect()
    }

    /// The montage: one row per unit, its patches strongest first, drawn as they look in
    /// the images (colour stays colour; padding is grey).
    pub fn montage(&self) -> RgbImage {
        let bank = Bank::new(
            &self.patches[..],
            self.units * self.top,
            self.channels,
            self.field.size,
        );
        montage::render(
            &bank,
            &MontageOptions {
                columns: self.top,
                scale: Scale::Unit,
                ..Default::default()
            },
        )
    }

    /// Per unit, how many of its patches have a positive response (the ReLU passes them).
    pub fn firing(&self) -> Vec<usize> {
        self.activations
            .chunks_exact(self.top)
            .map(|a| a.iter().filter(|&&v| v > 0.0).count())
            .collect()
    }
}

/// What [`top_patches_run`] searches.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct TopPatchParams {
    /// Patches per unit [default: 9; 1..=64].
    pub top_patches: usize,
    /// Test images searched, the first ones of the run's test split [default: 2000;
    /// 1..=1000000; all of them when the split is smaller].
    pub images: usize,
}

impl Default for TopPatchParams {
    fn default() -> Self {
        Self {
            top_patches: TOP,
            images: 2000,
        }
    }
}

/// Top-patch settings that passed [`Params::check`].
pub type ValidTopPatchParams = Valid<TopPatchParams>;

impl Params for TopPatchParams {
    fn validate(&mut self) -> Result<()> {
        let n = self.top_patches;
        ensure((1..=64).contains(&n), "top_patches", n, "must be in 1..=64")?;
        let m = self.images;
        ensure(
            (1..=1_000_000).contains(&m),
            "images",
            m,
            "must be in 1..=1000000",
        )
    }
}

/// One unit's patches in the sidecar of [`top_patches_run`].
#[derive(serde::Serialize)]
struct UnitRecord {
    unit: usize,
    coherence: f64,
    /// Per rank: image index in the test split, (y, x) in the layer's map, pre-ReLU value.
    image: Vec<usize>,
    position: Vec<(usize, usize)>,
    activation: Vec<f32>,
}

/// What the sidecar of a [`top_patches_run`] montage records besides the shared fields.
#[derive(serde::Serialize)]
struct TopPatchSidecar<'a> {
    run: &'a Path,
    layer: String,
    options: &'a ValidTopPatchParams,
    images_searched: usize,
    receptive_field: ReceptiveField,
    pad_value: f32,
    units: Vec<UnitRecord>,
}

/// The test-image patches that most excite every unit of convolution `conv` of the network
/// saved in `run`, among the first `params.images` of the run's own test split as the run's
/// network sees them (its standardisation and input whitening): a montage PNG at `out`, one
/// row per unit, and a JSON sidecar beside it listing every patch. Both outputs are checked
/// before any work and replaced only if `overwrite`.
pub fn top_patches_run(
    run: &Path,
    conv: ConvLayer,
    params: &ValidTopPatchParams,
    out: &Path,
    overwrite: bool,
) -> Result<TopPatches> {
    atomic::check_output(out, overwrite)?;
    let side_path = sidecar::path_for(out);
    atomic::check_output(&side_path, overwrite)?;
    let (ck, net) = Checkpoint::read(run)?;
    conv.index_in(&net)?;
    let data = data::load(&ck.config.data, &ck.config.data_options)?;
    let inputs = NetworkInputs::new(&data.test, &ck.standardiser, ck.input_whitening.as_ref());
    let t = top_patches(&net, conv, &inputs, params.images, params.top_patches)?;
    let coherence = t.coherence(data.test.height, data.test.width);
    montage::write_png(&t.montage(), out, overwrite)?;
    let units = (0..t.units)
        .map(|u| {
            let r = u * t.top..(u + 1) * t.top;
            UnitRecord {
                unit: u,
                coherence: coherence[u],
                image: t.image[r.clone()].to_vec(),
                position: t.position[r.clone()].to_vec(),
                activation: t.activations[r].to_vec(),
            }
        })
        .collect();
    let record = TopPatchSidecar {
        run,
        layer: conv.to_string(),
        options: params,
        images_searched: t.images,
        receptive_field: t.field,
        pad_value: PAD_VALUE,
        units,
    };
    Provenance::new("cnn visualize --top-patches", record).write(&side_path, overwrite)?;
    Ok(t)
}

/// Pearson correlation of two equal-length vectors; None when either is constant.
fn correlation(a: &[f64], b: &[f64]) -> Option<f64> {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (x - ma, y - mb);
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    // Relative to the values' scale, so rounding noise in a flat patch is not a pattern.
    if aa <= 1e-12 * n || bb <= 1e-12 * n {
        return None;
    }
    Some(ab / (aa * bb).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cnn::data::Standardiser;
    use crate::cnn::net::Shape;

    fn conv(kernel: usize, stride: usize, pad: usize) -> LayerSpec {
        LayerSpec::Conv {
            filters: 2,
            kernel,
            stride,
            pad,
        }
    }

    #[test]
    fn receptive_field_matches_a_hand_count() {
        // conv 3x3 stride 2 pad 1 -> ReLU -> pool -> conv 3x3 stride 1 pad 1. By hand:
        // conv2's output 0 reads pool outputs -1..=1; pool output p reads conv1 outputs
        // 2p..=2p+1, so -2..=3; conv1 output q reads input 2q-1..=2q+1, so -5..=7: 13
        // pixels from -5, and the next conv2 output starts 2 * 2 = 4 pixels later.
        let spec = NetSpec {
            input: Shape {
                height: 32,
                width: 32,
                channels: 1,
            },
            layers: vec![
                conv(3, 2, 1),
                LayerSpec::Relu,
                LayerSpec::MaxPool,
                conv(3, 1, 1),
                LayerSpec::Relu,
                LayerSpec::MaxPool,
                LayerSpec::Linear { outputs: 2 },
            ],
        };
        let f = |l| receptive_field(&spec, l).unwrap();
        assert_eq!(
            f(0),
            ReceptiveField {
                size: 3,
                stride: 2,
                offset: -1
            }
        );
        assert_eq!(f(1), f(0), "a ReLU does not move the field");
        assert_eq!(
            f(3),
            ReceptiveField {
                size: 13,
                stride: 4,
                offset: -5
            }
        );
        assert_eq!(f(3).start(2), 3);
        // The study's reference net (5x5 pad 2, pool, 5x5 pad 2): 14 pixels from -6, step 2.
        let reference = NetSpec::reference(spec.input, 10, &Default::default());
        let conv2 = reference.conv_layers()[1];
        assert_eq!(
            receptive_field(&reference, conv2).unwrap(),
            ReceptiveField {
                size: 14,
                stride: 2,
                offset: -6
            }
        );
        assert!(
            receptive_field(&spec, 6).is_err(),
            "a linear layer has none"
        );
        assert!(receptive_field(&spec, 7).is_err(), "past the last layer");
    }

    /// 10 black 8x8 images; some hold short bright vertical bars of 3 pixels whose left
    /// edge a right-minus-left filter finds.
    fn bars(bars: &[(usize, usize, usize, u8)]) -> LabelledImages {
        let (h, w, n) = (8, 8, 10);
        let mut img = LabelledImages::empty(h, w, 1, vec!["a".into()]);
        img.pixels = vec![0; n * h * w];
        img.labels = vec![0; n];
        for &(i, y, x, v) in bars {
            // The bar is the column right of the edge at (y, x), rows y-1..=y+1.
            for yy in y - 1..=y + 1 {
                img.pixels[(i * h + yy) * w + x + 1] = v;
            }
        }
        img
    }

    /// conv1: one 3x3 filter (pad 1) that is +1 in its right column and -1 in its left.
    fn edge_net() -> Network {
        let spec = NetSpec {
            input: Shape {
                height: 8,
                width: 8,
                channels: 1,
            },
            layers: vec![
                LayerSpec::Conv {
                    filters: 1,
                    kernel: 3,
                    stride: 1,
                    pad: 1,
                },
                LayerSpec::Relu,
                LayerSpec::MaxPool,
                LayerSpec::Linear { outputs: 2 },
            ],
        };
        let mut net = Network::new(spec).unwrap();
        net.set_conv_bank(0, &[-1., 0., 1., -1., 0., 1., -1., 0., 1.]);
        net
    }

    #[test]
    fn an_edge_detector_finds_the_edges_one_per_image_and_crops_the_source() {
        let net = edge_net();
        // Image 2 has two bars; image 5 a weaker one and image 7 a weaker one still.
        let images = bars(&[
            (2, 4, 3, 255),
            (2, 2, 6, 230),
            (5, 5, 2, 128),
            (7, 3, 4, 64),
        ]);
        // Identity standardisation: the network sees byte / 255.
        let stdz = Standardiser {
            mean: vec![0.0],
            std: vec![1.0],
        };
        let inputs = NetworkInputs::new(&images, &stdz, None);
        let conv1 = ConvLayer::new(1).unwrap();
        let t = top_patches(&net, conv1, &inputs, 100, TOP).unwrap();
        assert_eq!((t.units, t.top, t.channels, t.images), (1, 9, 1, 10));
        // Response at an edge = 3 rows x bar value / 255. Image 2's second bar (230) beats
        // image 5's, but an image appears once, at its strongest response.
        assert_eq!(&t.image[..3], &[2, 5, 7]);
        assert_eq!(&t.position[..3], &[(4, 3), (5, 2), (3, 4)]);
        for (a, v) in t.activations[..3].iter().zip([255.0, 128.0, 64.0]) {
            assert!((a - 3.0 * v / 255.0).abs() < 1e-5, "{a} for bar {v}");
        }
        // The other images respond 0 everywhere: the tie goes to the lower image index and,
        // within an image, the first position.
        assert_eq!(&t.image[3..], &[0, 1, 3, 4, 6, 8]);
        assert!(t.position[3..].iter().all(|&p| p == (0, 0)));
        assert!(t.activations[3..].iter().all(|&a| a == 0.0));
        assert_eq!(t.firing(), vec![3]);
        // One row of nine 3x3 tiles (zoom 48 / 3 = 16, border 1).
        assert_eq!(t.montage().dimensions(), (9 * 49 + 1, 49 + 1));
        // The crops are the 3x3 source windows: the bar in the right column.
        for (rank, (i, y, x)) in [(2, 4, 3), (5, 5, 2), (7, 3, 4)].into_iter().enumerate() {
            let want: Vec<f32> = (0..3)
                .flat_map(|dy| (0..3).map(move |dx| (dy, dx)))
                .map(|(dy, dx)| images.image(i)[(y + dy - 1) * 8 + x + dx - 1] as f32 / 255.0)
                .collect();
            assert_eq!(t.patch(0, rank), &want[..]);
            assert!(want[2] > 0.0 && want[0] == 0.0);
        }
        // A window at (0, 0) starts one pixel outside the image: that row and column are
        // padding grey.
        let corner = t.patch(0, 3);
        assert_eq!(&corner[..4], &[PAD_VALUE, PAD_VALUE, PAD_VALUE, PAD_VALUE]);
        assert_eq!(corner[4], 0.0);
        // Asking for fewer images searches fewer; fewer images than `top` shortens the list.
        let t3 = top_patches(&net, conv1, &inputs, 3, TOP).unwrap();
        assert_eq!((t3.top, t3.images), (3, 3));
        assert_eq!(t3.image, vec![2, 0, 1]);
        assert!(top_patches(&net, conv1, &inputs, 10, 0).is_err());
        assert!(top_patches(&net, ConvLayer::new(2).unwrap(), &inputs, 10, 9).is_err());
    }

    #[test]
    fn a_colour_crop_is_planar_per_channel_with_grey_outside() {
        // One 2x2 RGB image whose bytes encode (row, column, channel).
        let mut img = LabelledImages::empty(2, 2, 3, vec!["a".into()]);
        img.pixels = (0..12u8).map(|v| v * 10).collect();
        img.labels = vec![0];
        // A 2x2 window one column left of the image: column 0 is padding.
        let p = crop(&img, 0, 0, -1, 2);
        let byte = |y: usize, x: usize, ch: usize| ((y * 2 + x) * 3 + ch) as f32 * 10.0 / 255.0;
        for ch in 0..3 {
            let plane = &p[ch * 4..(ch + 1) * 4];
            assert_eq!(
                plane,
                &[PAD_VALUE, byte(0, 0, ch), PAD_VALUE, byte(1, 0, ch)]
            );
        }
    }

    #[test]
    fn coherence_is_one_for_copies_and_ignores_padding() {
        let net = edge_net();
        // Three identical bars at different brightness: the same pattern up to contrast.
        let images = bars(&[(1, 4, 3, 255), (4, 2, 2, 200), (6, 5, 5, 100)]);
        let stdz = Standardiser {
            mean: vec![0.0],
            std: vec![1.0],
        };
        let inputs = NetworkInputs::new(&images, &stdz, None);
        let t = top_patches(&net, ConvLayer::new(1).unwrap(), &inputs, 10, 3).unwrap();
        assert_eq!(t.image, vec![1, 4, 6]);
        let c = t.coherence(8, 8);
        assert!((c[0] - 1.0).abs() < 1e-9, "{c:?}");
        // Constant (black) patches have no pattern: every pair is left out, so NaN.
        let blank = bars(&[]);
        let inputs = NetworkInputs::new(&blank, &stdz, None);
        let t = top_patches(&net, ConvLayer::new(1).unwrap(), &inputs, 10, 3).unwrap();
        assert!(t.coherence(8, 8)[0].is_nan());
        // The random null keeps the layout, draws distinct images, and is seeded.
        let images = bars(&[(1, 4, 3, 255), (4, 2, 2, 200), (6, 5, 5, 100)]);
        let inputs = NetworkInputs::new(&images, &stdz, None);
        let t = top_patches(&net, ConvLayer::new(1).unwrap(), &inputs, 10, 9).unwrap();
        let r = t.random_like(&images, 7);
        assert_eq!((r.units, r.top, r.patches.len()), (1, 9, t.patches.len()));
        let mut distinct = r.image.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), 9);
        assert!(r.position.iter().all(|&(y, x)| y < 8 && x < 8));
        let again = t.random_like(&images, 7);
        assert_eq!(
            (&r.image, &r.position, &r.patches),
            (&again.image, &again.position, &again.patches)
        );
        let other = t.random_like(&images, 8);
        assert_ne!((&r.image, &r.position), (&other.image, &other.position));
        // Correlation itself: anti-correlated vectors give -1.
        let r = correlation(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]).unwrap();
        assert!((r + 1.0).abs() < 1e-12);
    }
}
