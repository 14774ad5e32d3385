//! The Olshausen-Field (1996) rule, as in their `sparsenet` code: a gradient step on the
//! mean squared reconstruction error, `d_j <- d_j + eta_t / max(h_j, mean h) [(X - D A) A^T / n]_j`
//! with `h_j = mean(a_j^2)` the diagonal of the Hessian (our one change to sparsenet's fixed
//! step, so that `eta` does not have to be retuned to the data's scale: `eta = 1` would move a
//! well-used atom to its own least-squares optimum for the batch), then gain
//! adaptation: each atom keeps a running mean of its squared code,
//! `v_j <- (1 - r)^n v_j + (1 - (1 - r)^n) mean(a_j^2)` (sparsenet's per-patch average with
//! rate `r`, applied to a batch at once), its gain follows
//! `g_j <- g_j (v_j / goal)^alpha`, and the atom is rescaled to norm `g_j`.
//!
//! Norm rule (documented departure from unit norm): during learning an atom's norm is its
//! gain, so an atom whose codes are too large grows, becomes cheaper to use under the l1
//! penalty, and its codes shrink, which equalises code variance across atoms. `goal` is the
//! mean of the `v_j` (so the rule equalises variances rather than dictating sparsity, which
//! lambda already sets), and gains are rescaled to a geometric mean of 1 after each step so
//! the objective stays comparable with unit-norm rules. Because under the l1 penalty a
//! shrinking atom is used ever less (sparsenet's Cauchy prior does not have this spiral), the
//! variance ratio is floored at 0.5 and gains are kept within [0.5, 2]. The dictionary written to disk is
//! normalised to unit norm; the gains are recorded in the sidecar.
//!
//! Step-size schedule: `eta_t = eta_0 / (1 + t / t_0)`, sparsenet's constant step with a slow
//! decay so the atoms settle.

use super::DictionaryUpdate;
use crate::error::{Error, Result};
use crate::linalg::{gemm_nn, gemm_nt};
use nalgebra::DMatrix;

/// Parameters of the Olshausen-Field rule.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OfParams {
    /// Initial step size eta_0 (> 0), relative to each atom's Newton step. Default 0.2.
    pub eta: f32,
    /// Updates after which the step has halved (t_0 >= 1). Default 1000.
    pub eta_halflife: f32,
    /// Exponent of the gain rule (sparsenet's `alpha`). Default 0.02.
    pub gain_alpha: f32,
    /// Rate of the running code-variance average per patch (sparsenet's `var_eta`).
    /// Default 0.001.
    pub variance_rate: f32,
}

impl Default for OfParams {
    fn default() -> Self {
        Self {
            eta: 0.1,
            eta_halflife: 1000.0,
            gain_alpha: 0.02,
            variance_rate: 0.001,
        }
    }
}

/// The Olshausen-Field rule.
#[derive(Debug, Clone)]
pub struct OlshausenField {
    params: OfParams,
    gains: Vec<f32>,
    variances: Vec<f32>,
    updates: u64,
    residual: DMatrix<f32>,
    gradient: DMatrix<f32>,
    /// mean(a_j^2) of the current batch, per atom.
    hessian: Vec<f32>,
}

impl OlshausenField {
    pub fn new(pixels: usize, atoms: usize, params: OfParams) -> Self {
        Self {
            params,
            gains: vec![1.0; atoms],
            variances: vec![0.0; atoms],
            updates: 0,
            residual: DMatrix::zeros(pixels, 0),
            gradient: DMatrix::zeros(pixels, atoms),
            hessian: vec![0.0; atoms],
        }
    }

    pub fn gains(&self) -> &[f32] {
        &self.gains
    }
}

impl DictionaryUpdate for OlshausenField {
    fn name(&self) -> &'static str {
        "of"
    }

    fn update(&mut self, d: &mut DMatrix<f32>, x: &DMatrix<f32>, codes: &DMatrix<f32>) {
        let n = x.ncols();
        if self.residual.ncols() != n {
            self.residual = DMatrix::zeros(x.nrows(), n);
        }
        // residual = X - D A
        self.residual.copy_from(x);
        gemm_nn(-1.0, d, codes, 1.0, &mut self.residual);
        // gradient = residual A^T / n
        gemm_nt(
            1.0 / n as f32,
            &self.residual,
            codes,
            0.0,
            &mut self.gradient,
        );
        let eta = self.params.eta / (1.0 + self.updates as f32 / self.params.eta_halflife);
        let keep = (1.0 - self.params.variance_rate).powi(n as i32);
        let k = self.variances.len();
        let inv_n = 1.0 / n as f32;
        for (j, h) in self.hessian.iter_mut().enumerate() {
            *h = codes.row(j).iter().map(|a| a * a).sum::<f32>() * inv_n;
        }
        let mean_h = self.hessian.iter().sum::<f32>() / k.max(1) as f32;
        for j in 0..k {
            let h = self.hessian[j];
            // Step eta / max(h_j, mean h): the Newton step of a well-used atom (so eta is free
            // of the data's scale), and no more than the average atom's step for a rarely
            // used one, whose block optimum would overfit the residual of a patch or two.
            if h > 0.0 {
                let step = eta / h.max(mean_h);
                d.column_mut(j)
                    .iter_mut()
                    .zip(self.gradient.column(j).iter())
                    .for_each(|(dv, g)| *dv += step * g);
            }
            let v = &mut self.variances[j];
            *v = if self.updates == 0 {
                h
            } else {
                keep * *v + (1.0 - keep) * h
            };
        }
        let goal = self.variances.iter().sum::<f32>() / self.variances.len().max(1) as f32;
        if goal > 0.0 {
            for (g, &v) in self.gains.iter_mut().zip(&self.variances) {
                // Under an l1 penalty a shrinking atom is used ever less, so an unused atom's
                // gain would spiral to zero; the ratio is floored and gains kept in [0.5, 2].
                let ratio = (v / goal).max(0.5);
                *g = (*g * ratio.powf(self.params.gain_alpha)).clamp(0.5, 2.0);
            }
            let log_mean = self.gains.iter().map(|g| g.ln()).sum::<f32>() / self.gains.len() as f32;
            let scale = (-log_mean).exp();
            self.gains.iter_mut().for_each(|g| *g *= scale);
        }
        for (j, mut col) in d.column_iter_mut().enumerate() {
            let norm = col.norm();
            if norm > 1e-12 {
                col *= self.gains[j] / norm;
            }
        }
        self.updates += 1;
    }

    fn reset_atom(&mut self, d: &mut DMatrix<f32>, j: usize) {
        self.gains[j] = 1.0;
        self.variances[j] = self.variances.iter().sum::<f32>() / self.variances.len().max(1) as f32;
        let mut col = d.column_mut(j);
        let norm = col.norm();
        if norm > 0.0 {
            col /= norm;
        }
    }

    fn keeps_unit_norm(&self) -> bool {
        false
    }

    fn state(&self) -> Vec<f32> {
        let mut v = Vec::with_capacity(2 + 2 * self.gains.len());
        v.push((self.updates >> 24) as f32);
        v.push((self.updates & 0xFF_FFFF) as f32);
        v.extend_from_slice(&self.gains);
        v.extend_from_slice(&self.variances);
        v
    }

    fn restore(&mut self, state: &[f32]) -> Result<()> {
        let k = self.gains.len();
        if state.len() != 2 + 2 * k {
            return Err(Error::failed(
                "restoring the Olshausen-Field rule",
                format!("state has {} values, expected {}", state.len(), 2 + 2 * k),
            ));
        }
        self.updates = ((state[0] as u64) << 24) | state[1] as u64;
        self.gains.copy_from_slice(&state[2..2 + k]);
        self.variances.copy_from_slice(&state[2 + k..]);
        Ok(())
    }

    fn summary(&self) -> serde_json::Value {
        serde_json::json!({ "gains": self.gains, "code_variances": self.variances })
    }
}
