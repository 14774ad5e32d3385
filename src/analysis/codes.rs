//! Sparsity of a code or activation matrix stored (samples, units): population sparsity
//! measures each sample's response across units, lifetime sparsity each unit's responses
//! across samples (Willmore and Tolhurst 2001). Every vector gets Hoyer, excess kurtosis,
//! Gini, the fraction of exact zeros and the fraction of entries whose magnitude exceeds 1% of
//! that vector's largest magnitude (a scale-free "active" count that ignores tiny values).

use super::sparsity::{excess_kurtosis, gini, hoyer};
use rayon::prelude::*;

/// Sparsity measures of one vector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VectorSparsity {
    pub hoyer: f64,
    pub excess_kurtosis: f64,
    pub gini: f64,
    pub fraction_zero: f64,
    pub fraction_above_1pct_max: f64,
}

impl VectorSparsity {
    /// Column names in reports, in [`VectorSparsity::values`] order.
    pub const NAMES: [&'static str; 5] = [
        "hoyer",
        "excess_kurtosis",
        "gini",
        "fraction_zero",
        "fraction_above_1pct_max",
    ];

    pub fn values(&self) -> [f64; 5] {
        [
            self.hoyer,
            self.excess_kurtosis,
            self.gini,
            self.fraction_zero,
            self.fraction_above_1pct_max,
        ]
    }
}

/// Measures one vector.
pub fn vector_sparsity(v: &[f32]) -> VectorSparsity {
    let n = v.len().max(1) as f64;
    let peak = v.iter().fold(0f32, |m, x| m.max(x.abs()));
    let zeros = v.iter().filter(|&&x| x == 0.0).count();
    let active = if peak > 0.0 {
        v.iter().filter(|&&x| x.abs() > 0.01 * peak).count()
    } else {
        0
    };
    VectorSparsity {
        hoyer: hoyer(v),
        excess_kurtosis: excess_kurtosis(v),
        gini: gini(v),
        fraction_zero: zeros as f64 / n,
        fraction_above_1pct_max: active as f64 / n,
    }
}

/// Population sparsity: one record per sample (row of the row-major `samples x units` data).
pub fn population(data: &[f32], samples: usize, units: usize) -> Vec<VectorSparsity> {
    data.par_chunks(units.max(1))
        .take(samples)
        .map(vector_sparsity)
        .collect()
}

/// Lifetime sparsity: one record per unit (column), gathered with one pass per unit.
pub fn lifetime(data: &[f32], samples: usize, units: usize) -> Vec<VectorSparsity> {
    (0..units)
        .into_par_iter()
        .map_init(
            || Vec::with_capacity(samples),
            |column: &mut Vec<f32>, u| {
                column.clear();
                column.extend((0..samples).map(|s| data[s * units + u]));
                vector_sparsity(column)
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn population_and_lifetime_see_rows_and_columns() {
        // 3 samples x 4 units: sample 0 one-hot, unit 3 always zero.
        let data = [
            5.0f32, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 2.0, 0.001, 1.0, 0.0,
        ];
        let pop = population(&data, 3, 4);
        assert!((pop[0].hoyer - 1.0).abs() < 1e-12);
        assert!((pop[0].fraction_zero - 0.75).abs() < 1e-12);
        // 0.001 is below 1% of 2.0, so only two of sample 2's entries count as active.
        assert!((pop[2].fraction_above_1pct_max - 0.5).abs() < 1e-12);
        let life = lifetime(&data, 3, 4);
        assert_eq!(life.len(), 4);
        assert!(life[3].hoyer.is_nan() && life[3].fraction_zero == 1.0);
        assert!((life[1].fraction_zero - 1.0 / 3.0).abs() < 1e-12);
    }
}
