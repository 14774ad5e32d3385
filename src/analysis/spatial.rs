//! Spatial localization of one filter plane: where its energy (squared weight) sits, how far it
//! spreads along and across a given orientation, and how much of the patch holds 80% of it.
//!
//! Coordinates: pixel (row r, column c) of a k x k plane has x = c - (k-1)/2 (rightwards) and
//! y = (k-1)/2 - r (upwards), so angles run counterclockwise from +x as on paper. Reported
//! centres go back to image coordinates: column and row from the top-left pixel's centre.

/// Energy-weighted first and second moments of a plane.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EnergyMoments {
    /// Centroid column (pixels from the left pixel's centre).
    pub centre_col: f64,
    /// Centroid row (pixels from the top pixel's centre).
    pub centre_row: f64,
    /// Centroid in the centred, y-up frame.
    pub x: f64,
    pub y: f64,
    /// Energy-weighted covariance in the y-up frame: [xx, xy, yy] in pixels^2.
    pub cov: [f64; 3],
}

/// Energy-weighted centroid and covariance; None for an all-zero plane.
pub fn energy_moments(values: &[f64], size: usize) -> Option<EnergyMoments> {
    let m = (size as f64 - 1.0) / 2.0;
    let (mut e, mut sx, mut sy) = (0.0, 0.0, 0.0);
    for r in 0..size {
        for c in 0..size {
            let w = values[r * size + c].powi(2);
            e += w;
            sx += w * (c as f64 - m);
            sy += w * (m - r as f64);
        }
    }
    if e <= 0.0 {
        return None;
    }
    let (x, y) = (sx / e, sy / e);
    let (mut xx, mut xy, mut yy) = (0.0, 0.0, 0.0);
    for r in 0..size {
        for c in 0..size {
            let w = values[r * size + c].powi(2);
            let (dx, dy) = (c as f64 - m - x, m - r as f64 - y);
            xx += w * dx * dx;
            xy += w * dx * dy;
            yy += w * dy * dy;
        }
    }
    Some(EnergyMoments {
        centre_col: x + m,
        centre_row: m - y,
        x,
        y,
        cov: [xx / e, xy / e, yy / e],
    })
}

impl EnergyMoments {
    /// Standard deviation of the energy along direction `theta` (radians, counterclockwise
    /// from +x) and across it, in pixels.
    pub fn spread_along_across(&self, theta: f64) -> (f64, f64) {
        let (c, s) = (theta.cos(), theta.sin());
        let [xx, xy, yy] = self.cov;
        let along = c * c * xx + 2.0 * c * s * xy + s * s * yy;
        let across = s * s * xx - 2.0 * c * s * xy + c * c * yy;
        (along.max(0.0).sqrt(), across.max(0.0).sqrt())
    }
}

/// The smallest fraction of the patch's pixels that holds `share` (e.g. 0.8) of the energy:
/// pixels are taken in order of decreasing energy. NaN for an all-zero plane.
pub fn energy_area_fraction(values: &[f64], share: f64) -> f64 {
    let mut energy: Vec<f64> = values.iter().map(|v| v * v).collect();
    let total: f64 = energy.iter().sum();
    if total <= 0.0 {
        return f64::NAN;
    }
    energy.sort_by(|a, b| b.total_cmp(a));
    let mut acc = 0.0;
    for (k, e) in energy.iter().enumerate() {
        acc += e;
        // A relative slack keeps exact shares (say 4 equal pixels of 5 for 80%) from
        // tipping over on rounding.
        if acc >= share * total * (1.0 - 1e-12) {
            return (k + 1) as f64 / values.len() as f64;
        }
    }
    1.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn centroid_and_spread_of_two_points() {
        // 5x5 plane with equal energy at (row 2, col 0) and (row 2, col 4).
        let mut v = vec![0.0; 25];
        v[10] = 1.0;
        v[14] = -1.0;
        let m = energy_moments(&v, 5).unwrap();
        assert!((m.centre_col - 2.0).abs() < 1e-12 && (m.centre_row - 2.0).abs() < 1e-12);
        let (along, across) = m.spread_along_across(0.0);
        assert!((along - 2.0).abs() < 1e-12 && across.abs() < 1e-12);
        let (along, across) = m.spread_along_across(std::f64::consts::FRAC_PI_2);
        assert!(along.abs() < 1e-12 && (across - 2.0).abs() < 1e-12);
    }

    #[test]
    fn area_fraction_counts_pixels_in_energy_order() {
        let mut v = vec![0.0; 10];
        v[..4].copy_from_slice(&[1.0, 1.0, 1.0, 1.0]);
        v[4] = 1.0;
        // Five equal pixels: 80% of the energy needs four of ten pixels.
        assert!((energy_area_fraction(&v, 0.8) - 0.4).abs() < 1e-12);
        assert!(energy_area_fraction(&[0.0; 4], 0.8).is_nan());
    }
}
