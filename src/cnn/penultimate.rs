//! A trained network's penultimate features: the input of its last linear layer (the
//! classifier), one row per image, computed in evaluation mode (dropout off, batch norm
//! with its running statistics). They are what the network's own classifier sees, so a
//! linear model refitted on them (by dropout or by L2, as the study's dropout-as-ridge
//! stage does) is compared on the network's own representation. [`last_linear`] returns
//! that classifier's weights, so a caller (and the test) can check that applying it to
//! the features gives back the network's logits.

use super::data::NetworkInputs;
use super::engine::{Mode, Workspace};
use super::measure::EVAL_BATCH;
use super::net::{LayerSpec, Network};
use crate::error::{Error, Result};

/// The rows of a network's penultimate features.
#[derive(Debug, Clone, PartialEq)]
pub struct Penultimate {
    /// Values per row (the last linear layer's input length).
    pub features: usize,
    /// rows x features, row-major, in the order of the images.
    pub values: Vec<f32>,
}

impl Penultimate {
    pub fn rows(&self) -> usize {
        self.values.len() / self.features.max(1)
    }
}

/// The network's last linear layer: its index, weights (outputs x inputs, row-major) and
/// biases.
pub fn last_linear(net: &Network) -> Result<(usize, &[f32], &[f32])> {
    let l = net
        .spec
        .layers
        .iter()
        .rposition(|l| matches!(l, LayerSpec::Linear { .. }))
        .ok_or_else(|| {
            Error::param(
                "network",
                format!("{} layers", net.spec.layers.len()),
                "has no linear layer: no penultimate features",
            )
        })?;
    let p = net.first_param[l].expect("a linear layer has parameters");
    Ok((l, &net.params[p], &net.params[p + 1]))
}

/// The input of the last linear layer of `net` for the first `images` of `inputs` (all
/// of them if fewer), in evaluation mode, in batches of [`EVAL_BATCH`].
pub fn penultimate_features(
    net: &Network,
    inputs: &NetworkInputs,
    images: usize,
) -> Result<Penultimate> {
    let (l, _, _) = last_linear(net)?;
    inputs.check_shape(net.shapes[0])?;
    let n = images.min(inputs.len());
    if n == 0 {
        return Err(Error::param("images", n, "needs at least one image"));
    }
    let features = net.shapes[l].len();
    let mut values = vec![0f32; n * features];
    let mut ws = Workspace::new();
    for start in (0..n).step_by(EVAL_BATCH) {
        let b = EVAL_BATCH.min(n - start);
        ws.prepare(net, b);
        ws.fill_inputs(net, |i, dst| inputs.write(start + i, None, dst));
        // Up to (not including) layer l: its input is the output of layer l - 1.
        ws.forward(net, Mode::Eval, 0, l);
        ws.read(net, l, |i, a| {
            let row = start + i;
            values[row * features..(row + 1) * features].copy_from_slice(a);
        });
    }
    Ok(Penultimate { features, values })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cnn::data::Standardiser;
    use crate::cnn::init::{Init, initialise};
    use crate::cnn::net::{NetSpec, ReferenceOptions, Shape};
    use crate::io::labelled::LabelledImages;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn images(n: usize) -> LabelledImages {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        LabelledImages {
            height: 12,
            width: 12,
            channels: 1,
            pixels: (0..n * 144).map(|_| rng.random::<u8>()).collect(),
            labels: (0..n).map(|i| (i % 3) as u16).collect(),
            class_names: vec!["a".into(), "b".into(), "c".into()],
        }
    }

    /// Applying the network's own last linear layer to the features gives back its logits:
    /// the features are the classifier's input, in its order. Both sides are float32 sums
    /// of 3 x 36 x 6 = 648 products of O(1) values, so their rounding differs by ~1e-6
    /// relative; 1e-4 of the largest logit leaves a wide margin and still catches any
    /// misplaced value (which would move a logit by O(its size)).
    #[test]
    fn the_last_linear_layer_applied_to_the_features_gives_the_logits() {
        let options = ReferenceOptions {
            conv1_filters: 4,
            conv2_filters: 6,
            dropout: 0.5,
            ..ReferenceOptions::default()
        };
        let shape = Shape {
            height: 12,
            width: 12,
            channels: 1,
        };
        let mut net = Network::new(NetSpec::reference(shape, 3, &options)).unwrap();
        initialise(&mut net, Init::He, 3);
        // Non-zero biases, so the check covers them.
        let last = net.params.len() - 1;
        net.params[last] = vec![0.3, -0.2, 0.1];
        let set = images(300);
        let stdz = Standardiser {
            mean: vec![0.5],
            std: vec![0.25],
        };
        let inputs = NetworkInputs::new(&set, &stdz, None);
        let f = penultimate_features(&net, &inputs, 1000).unwrap();
        assert_eq!((f.rows(), f.features), (300, 3 * 3 * 6));
        assert!(f.values.iter().all(|&v| v >= 0.0), "after ReLU and pooling");
        let top = net.spec.layers.len();
        let mut logits = vec![0f32; 300 * 3];
        let mut ws = Workspace::new();
        for start in (0..300).step_by(EVAL_BATCH) {
            let b = EVAL_BATCH.min(300 - start);
            ws.prepare(&net, b);
            ws.fill_inputs(&net, |i, dst| inputs.write(start + i, None, dst));
            ws.forward(&net, Mode::Eval, 0, top);
            ws.read(&net, top, |i, a| {
                logits[(start + i) * 3..(start + i + 1) * 3].copy_from_slice(a)
            });
        }
        let (_, w, bias) = last_linear(&net).unwrap();
        let scale = logits.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(scale > 0.1, "the logits are not trivial: {scale}");
        for (row, x) in f.values.chunks_exact(f.features).enumerate() {
            for c in 0..3 {
                let z = bias[c] as f64
                    + w[c * f.features..(c + 1) * f.features]
                        .iter()
                        .zip(x)
                        .map(|(&a, &b)| a as f64 * b as f64)
                        .sum::<f64>();
                let got = logits[row * 3 + c] as f64;
                assert!(
                    (z - got).abs() <= 1e-4 * scale as f64,
                    "row {row} class {c}: {z} vs {got}"
                );
            }
        }
        // Fewer images than asked: the first ones, in order.
        let g = penultimate_features(&net, &inputs, 7).unwrap();
        assert_eq!(g.values[..], f.values[..7 * f.features]);
    }

    #[test]
    fn a_network_without_a_linear_layer_or_images_is_refused() {
        let spec = NetSpec {
            input: Shape {
                height: 4,
                width: 4,
                channels: 1,
            },
            layers: vec![LayerSpec::Relu],
        };
        let net = Network::new(spec).unwrap();
        let e = last_linear(&net).unwrap_err().to_string();
        assert!(e.contains("no linear layer"), "{e}");
    }
}
