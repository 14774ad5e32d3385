//! Activation maximisation (the DeepDream idea): for each unit (channel) of a convolution,
//! gradient ascent on the input, starting from small seeded noise, of the unit's response at
//! the centre of its map minus a small L2 penalty on the input,
//! `maximise a(x) - (l2 / 2) ||x||^2`, in the network's evaluation mode. Steps are
//! normalised by the gradient's RMS so one step size suits every layer. Every
//! [`BLUR_EVERY`] steps the input is blurred with a small Gaussian (Yosinski et al. 2015):
//! without it the ascent piles up pixel-scale noise that raises the response but says
//! nothing about the unit's preferred structure. The result is cropped to the unit's
//! receptive field (where the response's gradient is non-zero).
//!
//! [`visualize_run`] is `cnn visualize` in one call: a run's layer to a montage PNG with a
//! JSON sidecar.

use super::checkpoint::Checkpoint;
use super::engine::{Mode, Workspace, mix_seed};
use super::net::{LayerSpec, Network};
use super::params::in_range;
use crate::error::{Error, Result};
use crate::io::atomic;
use crate::io::sidecar::{self, Provenance};
use crate::params::{Params, Valid};
use crate::viz::montage;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use std::path::Path;

/// Settings of the ascent.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct AscentParams {
    /// Gradient-ascent steps [default: 200; 1..=100000].
    pub steps: usize,
    /// Step size in input units per RMS-normalised gradient [default: 0.05; range (0, 10]].
    pub step_size: f32,
    /// L2 penalty on the input [default: 0.01; range [0, 10]].
    pub l2: f32,
    /// Standard deviation, in pixels, of the periodic Gaussian blur; 0 turns it off
    /// [default: 1; range [0, 4]].
    pub blur: f32,
    /// Seed of the starting noise [default: 0].
    pub seed: u64,
}

impl Default for AscentParams {
    fn default() -> Self {
        Self {
            steps: 200,
            step_size: 0.05,
            l2: 0.01,
            blur: 1.0,
            seed: 0,
        }
    }
}

/// Ascent settings that passed [`Params::check`]; recorded as they are.
pub type ValidAscentParams = Valid<AscentParams>;

impl Params for AscentParams {
    fn validate(&mut self) -> Result<()> {
        if !(1..=100_000).contains(&self.steps) {
            return Err(Error::param("steps", self.steps, "must be in 1..=100000"));
        }
        let s = self.step_size;
        in_range("step_size", s, s > 0.0 && s <= 10.0, "(0, 10]")?;
        in_range("l2", self.l2, (0.0..=10.0).contains(&self.l2), "[0, 10]")?;
        in_range(
            "blur",
            self.blur,
            (0.0..=4.0).contains(&self.blur),
            "[0, 4]",
        )
    }
}

/// A convolution counted from the input: conv1, conv2, ...
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvLayer(usize);

impl ConvLayer {
    /// The `n`th convolution, from 1.
    pub fn new(n: usize) -> Option<Self> {
        (n >= 1).then_some(Self(n))
    }

    /// The layer index whose output the ascent maximises: the convolution's, or that of the
    /// batch norm right after it (what the ReLU sees).
    pub fn index_in(self, net: &Network) -> Result<usize> {
        let convs = net.spec.conv_layers();
        let mut layer = *convs.get(self.0 - 1).ok_or_else(|| {
            Error::param(
                "layer",
                self,
                format!("the network has conv1..conv{}", convs.len()),
            )
        })?;
        if matches!(net.spec.layers.get(layer + 1), Some(LayerSpec::BatchNorm)) {
            layer += 1;
        }
        Ok(layer)
    }
}

impl std::fmt::Display for ConvLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "conv{}", self.0)
    }
}

impl std::str::FromStr for ConvLayer {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        s.strip_prefix("conv")
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(Self::new)
            .ok_or_else(|| {
                Error::param("layer", s, "expected convN with N >= 1 (conv1, conv2, ...)")
            })
    }
}

/// Steps between blurs.
pub const BLUR_EVERY: usize = 4;

/// Separable Gaussian blur of each channel of one NHWC image in place, edges clamped.
fn blur_image(img: &mut [f32], h: usize, w: usize, c: usize, sigma: f32, tmp: &mut Vec<f32>) {
    let radius = (3.0 * sigma).ceil() as isize;
    let kernel: Vec<f32> = (-radius..=radius)
        .map(|d| (-(d * d) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let total: f32 = kernel.iter().sum();
    let kernel: Vec<f32> = kernel.iter().map(|k| k / total).collect();
    let clamp = |v: isize, n: usize| v.clamp(0, n as isize - 1) as usize;
    for horizontal in [true, false] {
        tmp.clear();
        tmp.extend_from_slice(img);
        for y in 0..h {
            for x in 0..w {
                for ch in 0..c {
                    let mut acc = 0.0;
                    for (k, d) in kernel.iter().zip(-radius..=radius) {
                        let (yy, xx) = if horizontal {
                            (y, clamp(x as isize + d, w))
                        } else {
                            (clamp(y as isize + d, h), x)
                        };
                        acc += k * tmp[(yy * w + xx) * c + ch];
                    }
                    img[(y * w + x) * c + ch] = acc;
                }
            }
        }
    }
}

/// Preferred inputs of convolution layer `layer` (index into the layer list): a bank of
/// (units, channels, side, side) values, planar per channel, cropped to the receptive field,
/// with the final responses.
pub struct Preferred {
    pub units: usize,
    pub channels: usize,
    pub side: usize,
    pub data: Vec<f32>,
    pub responses: Vec<f32>,
}

/// Preferred inputs of the units of convolution `conv` of `net`.
pub fn preferred_inputs_of(
    net: &Network,
    conv: ConvLayer,
    params: &ValidAscentParams,
) -> Result<Preferred> {
    Ok(preferred_inputs(net, conv.index_in(net)?, params))
}

/// Preferred inputs of the units of layer `layer` (an index into the layer list).
pub fn preferred_inputs(net: &Network, layer: usize, o: &ValidAscentParams) -> Preferred {
    let out = net.shapes[layer + 1];
    let inp = net.shapes[0];
    let units = out.channels;
    let (cy, cx) = (out.height / 2, out.width / 2);
    let target = |u: usize| (cy * out.width + cx) * out.channels + u;
    let len = inp.len();
    let noise = Normal::new(0.0f32, 0.1).expect("valid normal");
    let mut rng = ChaCha8Rng::seed_from_u64(mix_seed(o.seed, 0x71, layer as u64));
    let mut x: Vec<f32> = (0..units * len).map(|_| noise.sample(&mut rng)).collect();
    let mut ws = Workspace::new();
    ws.prepare(net, units);
    let no_train = vec![false; net.params.len()];
    let mut grad = vec![0f32; units * len];
    let mut field = vec![0f32; len];
    let mut responses = vec![0f32; units];
    let mut blur_tmp = Vec::with_capacity(len);
    for step in 0..=o.steps {
        ws.fill_inputs(net, |i, dst| {
            dst.copy_from_slice(&x[i * len..(i + 1) * len])
        });
        ws.forward(net, Mode::Eval, 0, layer + 1);
        ws.read(net, layer + 1, |i, a| responses[i] = a[target(i)]);
        if step == o.steps {
            break;
        }
        ws.set_grad(net, layer + 1, |i, g| {
            g.fill(0.0);
            g[target(i)] = 1.0;
        });
        ws.backward(net, layer + 1, &no_train, true);
        ws.read_grad(net, 0, |i, g| {
            grad[i * len..(i + 1) * len].copy_from_slice(g)
        });
        if step == 0 {
            for u in 0..units {
                for (f, g) in field.iter_mut().zip(&grad[u * len..(u + 1) * len]) {
                    *f += g.abs();
                }
            }
        }
        for u in 0..units {
            let g = &mut grad[u * len..(u + 1) * len];
            let xu = &mut x[u * len..(u + 1) * len];
            for (gv, xv) in g.iter_mut().zip(xu.iter()) {
                *gv -= o.l2 * xv;
            }
            let rms = (g.iter().map(|v| v * v).sum::<f32>() / len as f32)
                .sqrt()
                .max(1e-12);
            for (xv, gv) in xu.iter_mut().zip(g.iter()) {
                *xv += o.step_size * gv / rms;
            }
            if o.blur > 0.0 && (step + 1) % BLUR_EVERY == 0 {
                blur_image(
                    xu,
                    inp.height,
                    inp.width,
                    inp.channels,
                    o.blur,
                    &mut blur_tmp,
                );
            }
        }
    }
    // Receptive field: bounding box of the pixels the centre units' responses depend on.
    let (h, w, c) = (inp.height, inp.width, inp.channels);
    let (mut y0, mut y1, mut x0, mut x1) = (h, 0, w, 0);
    for y in 0..h {
        for xx in 0..w {
            if field[(y * w + xx) * c..(y * w + xx + 1) * c]
                .iter()
                .any(|&v| v > 0.0)
            {
                y0 = y0.min(y);
                y1 = y1.max(y + 1);
                x0 = x0.min(xx);
                x1 = x1.max(xx + 1);
            }
        }
    }
    if y0 >= y1 || x0 >= x1 {
        (y0, y1, x0, x1) = (0, h, 0, w);
    }
    let side = (y1 - y0).max(x1 - x0).min(h).min(w);
    let ys = y0.min(h - side);
    let xs = x0.min(w - side);
    let mut data = Vec::with_capacity(units * c * side * side);
    for u in 0..units {
        let img = &x[u * len..(u + 1) * len];
        for ch in 0..c {
            for y in ys..ys + side {
                for xx in xs..xs + side {
                    data.push(img[(y * w + xx) * c + ch]);
                }
            }
        }
    }
    Preferred {
        units,
        channels: c,
        side,
        data,
        responses,
    }
}

/// What the sidecar of a [`visualize_run`] montage records besides the shared fields.
#[derive(serde::Serialize)]
struct VisualizeSidecar<'a> {
    run: &'a Path,
    layer: String,
    options: &'a ValidAscentParams,
    preferred_input_shape: [usize; 4],
    responses: &'a [f32],
}

/// What [`visualize_run`] made.
#[derive(Debug, Clone, PartialEq)]
pub struct Visualization {
    pub units: usize,
    /// Side of the (square) receptive field each preferred input is cropped to.
    pub side: usize,
}

/// Preferred inputs of every unit of convolution `conv` of the network saved in `run`, as
/// a montage PNG at `out` with a JSON sidecar beside it (the settings and the final
/// responses). Both outputs are checked before any work and replaced only if `overwrite`.
pub fn visualize_run(
    run: &Path,
    conv: ConvLayer,
    params: &ValidAscentParams,
    out: &Path,
    overwrite: bool,
) -> Result<Visualization> {
    atomic::check_output(out, overwrite)?;
    let side_path = sidecar::path_for(out);
    atomic::check_output(&side_path, overwrite)?;
    let (_, net) = Checkpoint::read(run)?;
    let p = preferred_inputs_of(&net, conv, params)?;
    let shape = [p.units, p.channels, p.side, p.side];
    let bank = montage::Bank::from_shape(&p.data, &shape, out)?;
    let img = montage::render(&bank, &montage::MontageOptions::default());
    montage::write_png(&img, out, overwrite)?;
    let record = VisualizeSidecar {
        run,
        layer: conv.to_string(),
        options: params,
        preferred_input_shape: shape,
        responses: &p.responses,
    };
    Provenance::new("cnn visualize", record).write(&side_path, overwrite)?;
    Ok(Visualization {
        units: p.units,
        side: p.side,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blur_keeps_constants_and_spreads_an_impulse_symmetrically() {
        let (h, w, c) = (9, 9, 2);
        let mut tmp = Vec::new();
        let mut flat = vec![0.25f32; h * w * c];
        blur_image(&mut flat, h, w, c, 1.0, &mut tmp);
        // Normalised weights and clamped edges keep a constant image constant.
        assert!(flat.iter().all(|v| (v - 0.25).abs() < 1e-6));
        let mut img = vec![0f32; h * w * c];
        img[(4 * w + 4) * c + 1] = 1.0;
        blur_image(&mut img, h, w, c, 1.0, &mut tmp);
        let at = |y: usize, x: usize, ch: usize| img[(y * w + x) * c + ch];
        // Mass stays in its channel, is conserved away from the edges, peaks at the centre
        // and falls off equally in the four directions.
        assert!((0..h * w).all(|p| img[p * c] == 0.0));
        let total: f32 = (0..h * w).map(|p| img[p * c + 1]).sum();
        assert!((total - 1.0).abs() < 1e-5, "mass {total}");
        assert!(at(4, 4, 1) > at(4, 5, 1) && at(4, 5, 1) > at(4, 6, 1));
        for (a, b) in [
            (at(4, 5, 1), at(4, 3, 1)),
            (at(5, 4, 1), at(3, 4, 1)),
            (at(4, 5, 1), at(5, 4, 1)),
        ] {
            assert!((a - b).abs() < 1e-7);
        }
    }

    #[test]
    fn conv_layers_parse_and_print_as_named_and_bad_ascent_values_name_their_field() {
        let l: ConvLayer = "conv2".parse().unwrap();
        assert_eq!(l.to_string(), "conv2");
        for bad in ["conv0", "conv", "fc1", "conv-1"] {
            assert!(bad.parse::<ConvLayer>().is_err(), "{bad}");
        }
        let d = AscentParams::default();
        for (field, p) in [
            ("steps", AscentParams { steps: 0, ..d }),
            (
                "step_size",
                AscentParams {
                    step_size: 0.0,
                    ..d
                },
            ),
            (
                "l2",
                AscentParams {
                    l2: f32::INFINITY,
                    ..d
                },
            ),
            ("blur", AscentParams { blur: 5.0, ..d }),
        ] {
            match p.check() {
                Err(Error::Param { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
    }
}
