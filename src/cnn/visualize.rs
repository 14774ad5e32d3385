//! Activation maximisation (the DeepDream idea): for each unit (channel) of a convolution,
//! gradient ascent on the input, starting from small seeded noise, of the unit's response at
//! the centre of its map minus a small L2 penalty on the input,
//! `maximise a(x) - (l2 / 2) ||x||^2`, in the network's evaluation mode. Steps are
//! normalised by the gradient's RMS so one step size suits every layer. Every
//! [`BLUR_EVERY`] steps the input is blurred with a small Gaussian (Yosinski et al. 2015):
//! without it the ascent piles up pixel-scale noise that raises the response but says
//! nothing about the unit's preferred structure. The result is cropped to the unit's
//! receptive field (where the response's gradient is non-zero).

use super::engine::{Mode, Workspace, mix_seed};
use super::net::Network;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

/// Settings of the ascent.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct AscentOptions {
    pub steps: usize,
    pub step_size: f32,
    pub l2: f32,
    /// Standard deviation, in pixels, of the periodic Gaussian blur; 0 turns it off.
    pub blur: f32,
    pub seed: u64,
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

pub fn preferred_inputs(net: &Network, layer: usize, o: &AscentOptions) -> Preferred {
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
}
