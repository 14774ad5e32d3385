//! Classification losses on the network's outputs (logits) with integer labels, each the
//! mean over the batch of a per-sample loss:
//! - softmax cross-entropy: `-log softmax(z)[y]` (PyTorch's `CrossEntropyLoss`);
//! - sigmoid cross-entropy: `sum_k BCE(sigmoid(z_k), [k == y])`, one-vs-all
//!   (`BCEWithLogitsLoss` summed over classes);
//! - squared error: `0.5 * sum_k (z_k - [k == y])^2` on the raw outputs.
//!
//! Accuracy counts the arg-max output (first on ties) equal to the label.

use super::params::Choice;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Loss {
    SoftmaxCrossEntropy,
    SigmoidCrossEntropy,
    SquaredError,
}

impl Choice for Loss {
    const ALL: &'static [Self] = &[
        Loss::SoftmaxCrossEntropy,
        Loss::SigmoidCrossEntropy,
        Loss::SquaredError,
    ];
    fn name(self) -> &'static str {
        match self {
            Loss::SoftmaxCrossEntropy => "softmax-cross-entropy",
            Loss::SigmoidCrossEntropy => "sigmoid-cross-entropy",
            Loss::SquaredError => "squared-error",
        }
    }
}

/// Sum of the per-sample losses and number of correct predictions.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LossSums {
    pub loss: f64,
    pub correct: usize,
}

impl LossSums {
    pub fn add(&mut self, other: LossSums) {
        self.loss += other.loss;
        self.correct += other.correct;
    }
}

fn log_sigmoid(z: f64) -> f64 {
    // Stable for large |z|: log(sigmoid(z)) = -log(1 + exp(-z)).
    if z >= 0.0 {
        -(-z).exp().ln_1p()
    } else {
        z - z.exp().ln_1p()
    }
}

impl Loss {
    /// Loss and accuracy of `logits` (samples x classes, row-major). If `grad` is given it
    /// receives d(loss)/d(logits) multiplied by `scale` (1 / batch size for a batch mean).
    pub fn evaluate(
        &self,
        logits: &[f32],
        labels: &[u16],
        classes: usize,
        scale: f32,
        mut grad: Option<&mut [f32]>,
    ) -> LossSums {
        let mut sums = LossSums::default();
        for (i, &label) in labels.iter().enumerate() {
            let z = &logits[i * classes..(i + 1) * classes];
            let y = label as usize;
            let best = z
                .iter()
                .enumerate()
                .fold(0, |b, (k, &v)| if v > z[b] { k } else { b });
            sums.correct += usize::from(best == y);
            let g = grad
                .as_deref_mut()
                .map(|g| &mut g[i * classes..(i + 1) * classes]);
            sums.loss += match self {
                Loss::SoftmaxCrossEntropy => {
                    let max = z.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
                    let sum: f64 = z.iter().map(|&v| (v as f64 - max).exp()).sum();
                    let log_sum = max + sum.ln();
                    if let Some(g) = g {
                        for (k, gk) in g.iter_mut().enumerate() {
                            let p = (z[k] as f64 - log_sum).exp();
                            let t = if k == y { 1.0 } else { 0.0 };
                            *gk = ((p - t) as f32) * scale;
                        }
                    }
                    log_sum - z[y] as f64
                }
                Loss::SigmoidCrossEntropy => {
                    let mut l = 0.0;
                    for (k, &v) in z.iter().enumerate() {
                        let v = v as f64;
                        let t = if k == y { 1.0 } else { 0.0 };
                        l -= t * log_sigmoid(v) + (1.0 - t) * log_sigmoid(-v);
                    }
                    if let Some(g) = g {
                        for (k, gk) in g.iter_mut().enumerate() {
                            let p = 1.0 / (1.0 + (-(z[k] as f64)).exp());
                            let t = if k == y { 1.0 } else { 0.0 };
                            *gk = ((p - t) as f32) * scale;
                        }
                    }
                    l
                }
                Loss::SquaredError => {
                    let mut l = 0.0;
                    for (k, &v) in z.iter().enumerate() {
                        let t = if k == y { 1.0 } else { 0.0 };
                        l += 0.5 * (v as f64 - t).powi(2);
                    }
                    if let Some(g) = g {
                        for (k, gk) in g.iter_mut().enumerate() {
                            let t = if k == y { 1.0 } else { 0.0 };
                            *gk = (z[k] - t) * scale;
                        }
                    }
                    l
                }
            };
        }
        sums
    }
}
