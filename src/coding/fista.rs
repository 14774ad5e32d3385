//! ISTA and FISTA: one proximal-gradient solver with two momentum policies, working on the
//! Gram matrix so an iteration is one (atoms x atoms)(atoms x patches) product and a
//! soft-threshold pass. This is the straightforward reference version; it stops when every
//! patch's relative duality gap is below the tolerance.

use super::{CodingParams, CodingReport, PreparedDictionary, SparseCoder, objective_and_gap};
use crate::error::Result;
use nalgebra::DMatrix;

/// Momentum policy of the proximal-gradient core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Momentum {
    /// Plain ISTA: no momentum; the objective never increases.
    None,
    /// FISTA (Beck and Teboulle 2009).
    Nesterov,
}

/// The proximal-gradient coder.
#[derive(Debug, Clone, Copy)]
pub struct ProximalGradient {
    pub momentum: Momentum,
    /// Check the duality gap every this many iterations (the check costs about one iteration).
    pub check_every: usize,
}

impl ProximalGradient {
    pub fn ista() -> Self {
        Self {
            momentum: Momentum::None,
            check_every: 10,
        }
    }
    pub fn fista() -> Self {
        Self {
            momentum: Momentum::Nesterov,
            check_every: 10,
        }
    }
}

fn shrink(v: f32, t: f32, positive: bool) -> f32 {
    if positive {
        (v - t).max(0.0)
    } else if v > t {
        v - t
    } else if v < -t {
        v + t
    } else {
        0.0
    }
}

impl SparseCoder for ProximalGradient {
    fn name(&self) -> &'static str {
        match self.momentum {
            Momentum::None => "ista",
            Momentum::Nesterov => "fista",
        }
    }

    fn encode(
        &self,
        dict: &PreparedDictionary,
        x: &DMatrix<f32>,
        codes: &mut DMatrix<f32>,
        params: &CodingParams,
    ) -> Result<CodingReport> {
        let start = std::time::Instant::now();
        let (k, n) = (dict.atoms(), x.ncols());
        let c = dict.d.tr_mul(x);
        let xx: Vec<f64> = x
            .column_iter()
            .map(|col| col.iter().map(|&v| (v as f64) * (v as f64)).sum())
            .collect();
        let step = 1.0 / dict.lipschitz;
        let thresh = params.lambda * step;
        let mut y = codes.clone();
        let mut prev = codes.clone();
        let mut t = 1.0f32;
        let mut iterations = 0;
        let mut gaps = vec![f64::INFINITY; n];
        let mut objectives = vec![0f64; n];
        loop {
            let ga = &dict.gram * &*codes;
            if iterations % self.check_every == 0 || iterations == params.max_iter {
                for j in 0..n {
                    let (p, g) = objective_and_gap(
                        xx[j],
                        c.column(j).as_slice(),
                        codes.column(j).as_slice(),
                        ga.column(j).as_slice(),
                        params.lambda,
                    );
                    objectives[j] = p;
                    gaps[j] = g / p.max(f64::MIN_POSITIVE);
                }
                if gaps.iter().all(|&g| g <= params.tol) || iterations >= params.max_iter {
                    break;
                }
            }
            let gy = if self.momentum == Momentum::None {
                ga
            } else {
                &dict.gram * &y
            };
            prev.copy_from(codes);
            let base = if self.momentum == Momentum::None {
                &*codes
            } else {
                &y
            };
            let next = base - (gy - &c) * step;
            for (a, v) in codes.iter_mut().zip(next.iter()) {
                *a = shrink(*v, thresh, params.positive);
            }
            if self.momentum == Momentum::Nesterov {
                let t_next = 0.5 * (1.0 + (1.0 + 4.0 * t * t).sqrt());
                let beta = (t - 1.0) / t_next;
                for ((yv, a), p) in y.iter_mut().zip(codes.iter()).zip(prev.iter()) {
                    *yv = a + beta * (a - p);
                }
                t = t_next;
            }
            iterations += 1;
        }
        let converged_count = gaps.iter().filter(|&&g| g <= params.tol).count();
        let nnz = codes.iter().filter(|&&v| v != 0.0).count();
        Ok(CodingReport {
            coder: self.name().into(),
            iterations,
            objective: objectives.iter().sum::<f64>() / n.max(1) as f64,
            max_relative_gap: gaps.iter().cloned().fold(0.0, f64::max),
            converged_fraction: converged_count as f64 / n.max(1) as f64,
            converged: converged_count == n,
            nonzero_fraction: nnz as f64 / (k * n).max(1) as f64,
            seconds: start.elapsed().as_secs_f64(),
        })
    }
}
