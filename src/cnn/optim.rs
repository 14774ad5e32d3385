//! Optimisers and learning-rate schedules. Weight decay is an explicit L2 penalty
//! `(weight_decay / 2) * ||W||^2` on conv and linear weights (not biases or batch-norm
//! parameters), i.e. `weight_decay * W` is added to their gradient before the update; with
//! Adam this is classic L2 regularisation, not AdamW's decoupled decay.
//!
//! SGD with momentum follows PyTorch: `v = momentum * v + g; w -= lr * v`. Adam follows
//! Kingma and Ba with bias correction.

use super::params::Choice;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OptimizerKind {
    Sgd,
    Adam,
}

impl Choice for OptimizerKind {
    const ALL: &'static [Self] = &[OptimizerKind::Sgd, OptimizerKind::Adam];
    fn name(self) -> &'static str {
        match self {
            OptimizerKind::Sgd => "sgd",
            OptimizerKind::Adam => "adam",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Schedule {
    /// The same learning rate every epoch.
    Constant,
    /// Multiplied by `gamma` every `step` epochs.
    Step,
    /// Cosine annealing from the base rate to 0 over the run (no restarts).
    Cosine,
}

impl Choice for Schedule {
    const ALL: &'static [Self] = &[Schedule::Constant, Schedule::Step, Schedule::Cosine];
    fn name(self) -> &'static str {
        match self {
            Schedule::Constant => "constant",
            Schedule::Step => "step",
            Schedule::Cosine => "cosine",
        }
    }
}

/// Learning rate of 0-based `epoch` out of `epochs`.
pub fn learning_rate(
    base: f32,
    schedule: Schedule,
    epoch: usize,
    epochs: usize,
    step: usize,
    gamma: f32,
) -> f32 {
    match schedule {
        Schedule::Constant => base,
        Schedule::Step => base * gamma.powi((epoch / step.max(1)) as i32),
        Schedule::Cosine => {
            let t = epoch as f64 / epochs.max(1) as f64;
            (base as f64 * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())) as f32
        }
    }
}

/// Optimiser hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OptimizerConfig {
    pub kind: OptimizerKind,
    pub momentum: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
}

/// Optimiser state: one or two moment buffers per parameter tensor, and the step count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Optimizer {
    pub config: OptimizerConfig,
    pub first: Vec<Vec<f32>>,
    pub second: Vec<Vec<f32>>,
    pub steps: u64,
}

impl Optimizer {
    pub fn new(config: OptimizerConfig, sizes: &[usize]) -> Self {
        let zeros = || sizes.iter().map(|&n| vec![0.0; n]).collect();
        Self {
            config,
            first: zeros(),
            second: if config.kind == OptimizerKind::Adam {
                zeros()
            } else {
                Vec::new()
            },
            steps: 0,
        }
    }

    /// Updates `params[p]` for each `p` with `train[p]`; `decay[p]` says whether the L2
    /// penalty applies. `grads` are the data-loss gradients (they are modified).
    pub fn step(
        &mut self,
        params: &mut [Vec<f32>],
        grads: &mut [Vec<f32>],
        train: &[bool],
        decay: &[bool],
        lr: f32,
    ) {
        self.steps += 1;
        let c = self.config;
        let (bc1, bc2) = (
            1.0 - (c.beta1 as f64).powi(self.steps as i32),
            1.0 - (c.beta2 as f64).powi(self.steps as i32),
        );
        for p in 0..params.len() {
            if !train[p] {
                continue;
            }
            let (w, g) = (&mut params[p], &mut grads[p]);
            if decay[p] && c.weight_decay != 0.0 {
                g.iter_mut()
                    .zip(w.iter())
                    .for_each(|(g, w)| *g += c.weight_decay * w);
            }
            match c.kind {
                OptimizerKind::Sgd => {
                    for ((w, g), v) in w.iter_mut().zip(g.iter()).zip(self.first[p].iter_mut()) {
                        *v = c.momentum * *v + g;
                        *w -= lr * *v;
                    }
                }
                OptimizerKind::Adam => {
                    let step = lr as f64 / bc1;
                    let s2 = bc2.sqrt();
                    for (((w, g), m), v) in w
                        .iter_mut()
                        .zip(g.iter())
                        .zip(self.first[p].iter_mut())
                        .zip(self.second[p].iter_mut())
                    {
                        *m = c.beta1 * *m + (1.0 - c.beta1) * g;
                        *v = c.beta2 * *v + (1.0 - c.beta2) * g * g;
                        let denom = (*v as f64).sqrt() / s2 + c.eps as f64;
                        *w -= (step * *m as f64 / denom) as f32;
                    }
                }
            }
        }
    }
}

/// The L2 penalty `(weight_decay / 2) * sum ||W||^2` over decayed tensors.
pub fn l2_penalty(params: &[Vec<f32>], decay: &[bool], weight_decay: f32) -> f64 {
    0.5 * weight_decay as f64
        * params
            .iter()
            .zip(decay)
            .filter(|(_, d)| **d)
            .map(|(w, _)| w.iter().map(|v| (*v as f64).powi(2)).sum::<f64>())
            .sum::<f64>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules() {
        assert_eq!(
            learning_rate(0.1, Schedule::Step, 5, 10, 2, 0.5),
            0.1 * 0.25
        );
        assert!((learning_rate(0.1, Schedule::Cosine, 5, 10, 0, 0.0) - 0.05).abs() < 1e-7);
        assert_eq!(learning_rate(0.1, Schedule::Cosine, 0, 10, 0, 0.0), 0.1);
    }

    #[test]
    fn sgd_momentum_and_adam_match_hand_computation() {
        let config = OptimizerConfig {
            kind: OptimizerKind::Sgd,
            momentum: 0.9,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.1,
        };
        let mut opt = Optimizer::new(config, &[1]);
        let mut w = vec![vec![1.0f32]];
        opt.step(&mut w, &mut [vec![0.5]], &[true], &[true], 0.1);
        // g = 0.5 + 0.1 * 1 = 0.6; v = 0.6; w = 1 - 0.06.
        assert!((w[0][0] - 0.94).abs() < 1e-7);
        opt.step(&mut w, &mut [vec![0.5]], &[true], &[true], 0.1);
        // g = 0.5 + 0.094 = 0.594; v = 0.54 + 0.594 = 1.134; w = 0.94 - 0.1134.
        assert!((w[0][0] - 0.8266).abs() < 1e-6);
        let mut adam = Optimizer::new(
            OptimizerConfig {
                kind: OptimizerKind::Adam,
                weight_decay: 0.0,
                ..config
            },
            &[1],
        );
        let mut w = vec![vec![1.0f32]];
        adam.step(&mut w, &mut [vec![-3.0]], &[true], &[false], 0.01);
        // First Adam step moves by lr * sign(g) (up to eps).
        assert!((w[0][0] - 1.01).abs() < 1e-6);
    }
}
