//! Gradient checks: the analytic gradients of every layer (conv with padding and stride,
//! batch norm in training and evaluation mode, ReLU, max-pool, dropout, linear), of every
//! loss, and with respect to the input, against central finite differences.
//!
//! The engine is float32, so the check compares directional derivatives along random
//! directions, `(L(t + e v) - L(t - e v)) / 2e` against `<grad, v>`, which averages the
//! rounding error of many coordinates instead of dividing one coordinate's rounding error by
//! e. With e = 1e-3 (or 2.5e-4 or 6.25e-5, see below) the truncation error is O(e^2), negligible;
//! float32 rounding of a loss of size ~3 (relative 1e-7 per evaluation) over 2e is at most
//! ~6e-4 absolute; hence 1e-2 relative plus 1e-3 absolute (x4 for each 4x smaller step). A wrong gradient is off by an
//! amount of order one (the batch-norm bug this test caught was off by 10-400%).
//! A step that crosses a ReLU or max-pool kink spoils one difference, so a direction also
//! passes if the smaller step agrees.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use simplecell::cnn::engine::{Mode, Workspace};
use simplecell::cnn::init::{Init, initialise};
use simplecell::cnn::loss::Loss;
use simplecell::cnn::net::{LayerSpec, NetSpec, Network, Shape};

const BATCH: usize = 11; // two chunks, so cross-chunk sums (batch norm, gradients) are checked

fn spec(variant: usize) -> NetSpec {
    let input = Shape {
        height: 8,
        width: 7,
        channels: 2,
    };
    let layers = match variant {
        0 => vec![
            LayerSpec::Conv {
                filters: 4,
                kernel: 3,
                stride: 1,
                pad: 1,
            },
            LayerSpec::BatchNorm,
            LayerSpec::Relu,
            LayerSpec::MaxPool,
            LayerSpec::Conv {
                filters: 5,
                kernel: 3,
                stride: 2,
                pad: 1,
            },
            LayerSpec::Relu,
            LayerSpec::Linear { outputs: 6 },
            LayerSpec::BatchNorm,
            LayerSpec::Relu,
            LayerSpec::Dropout { p: 0.3 },
            LayerSpec::Linear { outputs: 3 },
        ],
        _ => vec![
            LayerSpec::Conv {
                filters: 3,
                kernel: 5,
                stride: 2,
                pad: 2,
            },
            LayerSpec::Relu,
            LayerSpec::Conv {
                filters: 4,
                kernel: 3,
                stride: 1,
                pad: 0,
            },
            LayerSpec::Linear { outputs: 3 },
        ],
    };
    NetSpec { input, layers }
}

struct Setup {
    net: Network,
    x: Vec<f32>,
    labels: Vec<u16>,
    mode: Mode,
    loss: Loss,
}

fn loss_at(s: &Setup, ws: &mut Workspace, net: &Network, x: &[f32]) -> f64 {
    let len = net.shapes[0].len();
    ws.prepare(net, BATCH);
    ws.fill_inputs(net, |i, d| d.copy_from_slice(&x[i * len..(i + 1) * len]));
    ws.forward(net, s.mode, 99, net.spec.layers.len());
    ws.loss(net, s.loss, &s.labels, false).loss / BATCH as f64
}

#[allow(clippy::needless_range_loop)] // p indexes params, grads and info alike
fn check(variant: usize, loss: Loss, mode: Mode) {
    let mut net = Network::new(spec(variant)).unwrap();
    initialise(&mut net, Init::He, 5);
    let mut rng = ChaCha8Rng::seed_from_u64(variant as u64 * 10 + loss as u64);
    // Non-trivial batch-norm scales, shifts and running statistics.
    for p in 0..net.params.len() {
        if matches!(net.spec.layers[net.info[p].layer], LayerSpec::BatchNorm) {
            net.params[p]
                .iter_mut()
                .for_each(|v| *v += rng.random_range(-0.5..0.5));
        }
        if net.info[p].kind == simplecell::cnn::net::ParamKind::Bias {
            net.params[p]
                .iter_mut()
                .for_each(|v| *v += rng.random_range(-0.1..0.1));
        }
    }
    for r in net.running.iter_mut() {
        let c = r.len() / 2;
        for (i, v) in r.iter_mut().enumerate() {
            *v = if i < c {
                rng.random_range(-0.2..0.2)
            } else {
                rng.random_range(0.5..1.5)
            };
        }
    }
    let len = net.shapes[0].len();
    let x: Vec<f32> = (0..BATCH * len)
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    let labels: Vec<u16> = (0..BATCH).map(|i| (i % 3) as u16).collect();
    let s = Setup {
        net: net.clone(),
        x: x.clone(),
        labels,
        mode,
        loss,
    };
    let mut ws = Workspace::new();
    // Analytic gradients.
    ws.prepare(&net, BATCH);
    ws.fill_inputs(&net, |i, d| d.copy_from_slice(&x[i * len..(i + 1) * len]));
    let layers = net.spec.layers.len();
    ws.forward(&net, mode, 99, layers);
    ws.loss(&net, loss, &s.labels, true);
    let train = vec![true; net.params.len()];
    ws.backward(&net, layers, &train, true);
    let mut grads: Vec<Vec<f32>> = net.params.iter().map(|p| vec![0.0; p.len()]).collect();
    ws.reduce_grads(&train, &mut grads);
    let mut gx = vec![0f32; BATCH * len];
    ws.read_grad(&net, 0, |i, g| {
        gx[i * len..(i + 1) * len].copy_from_slice(g)
    });

    let mut directional = |name: &str,
                           analytic: &[f32],
                           perturb: &mut dyn FnMut(&[f32], f32) -> f64| {
        for trial in 0..4 {
            let v: Vec<f32> = (0..analytic.len())
                .map(|_| rng.random_range(-1.0..1.0))
                .collect();
            let want: f64 = analytic
                .iter()
                .zip(&v)
                .map(|(g, v)| (*g as f64) * (*v as f64))
                .sum();
            // A step that crosses a ReLU or max-pool kink spoils one difference; a smaller
            // step crosses one far less often, so a direction passes at either step size.
            let mut got = [0.0; 3];
            let ok = [1e-3f32, 2.5e-4, 6.25e-5]
                .iter()
                .enumerate()
                .any(|(i, &eps)| {
                    got[i] = (perturb(&v, eps) - perturb(&v, -eps)) / (2.0 * eps as f64);
                    // Rounding error grows as 1/eps: 6e-4 absolute at 1e-3, x4 per smaller step.
                    let abs_tol = 1e-3 * 4f64.powi(i as i32);
                    (got[i] - want).abs() <= 1e-2 * want.abs().max(got[i].abs()) + abs_tol
                });
            assert!(
                ok,
                "variant {variant} {loss:?} {mode:?} {name} trial {trial}: analytic {want}, numeric {got:?}"
            );
        }
    };
    for p in 0..net.params.len() {
        let name = format!(
            "param {p} (layer {} {:?})",
            net.info[p].layer, net.spec.layers[net.info[p].layer]
        );
        let mut shifted = net.clone();
        directional(&name, &grads[p], &mut |v, e| {
            for ((w, base), d) in shifted.params[p].iter_mut().zip(&net.params[p]).zip(v) {
                *w = base + e * d;
            }
            loss_at(&s, &mut ws, &shifted, &s.x)
        });
    }
    let mut moved = x.clone();
    directional("input", &gx, &mut |v, e| {
        for ((m, base), d) in moved.iter_mut().zip(&x).zip(v) {
            *m = base + e * d;
        }
        loss_at(&s, &mut ws, &s.net, &moved)
    });
}

#[test]
fn every_layer_loss_and_the_input_gradient_match_finite_differences() {
    for variant in 0..2 {
        for loss in [
            Loss::SoftmaxCrossEntropy,
            Loss::SigmoidCrossEntropy,
            Loss::SquaredError,
        ] {
            check(variant, loss, Mode::Train);
        }
    }
    // Evaluation mode: batch norm with running statistics, dropout off (used by visualize).
    check(0, Loss::SoftmaxCrossEntropy, Mode::Eval);
}
