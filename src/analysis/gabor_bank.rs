//! Analytic Gabor banks: reference banks for `compare`, and fixed first layers for the CNN
//! (`cnn train --conv1-init`, the study's Gabor variant).
//!
//! A bank is ordered frequency-major, then orientation, then phase; every filter is sampled
//! on the k x k grid, made zero-mean and scaled to unit L2 norm, so banks of different sizes
//! start a network on the same footing.

use super::gabor::GaborParams;
use crate::bank::Bank;
use crate::error::{Error, Result};
use crate::io::npy;
use crate::io::sidecar::{self, Provenance};
use crate::params::{Params, Valid, ensure};
use serde::Serialize;
use std::path::Path;

/// The bank's description. Field docs give each default and range.
#[derive(Debug, Clone, PartialEq)]
pub struct GaborBankParams {
    /// Filter side length in pixels. Default 16; range 3..=128.
    pub size: usize,
    /// Orientations, evenly spaced over 0..180 degrees (wave-vector direction,
    /// counterclockwise from +x). Default 8; range 1..=180.
    pub orientations: usize,
    /// Carrier frequencies in cycles/pixel. Default 0.1, 0.2; 1 to 64 of them, each in
    /// (0, 0.5].
    pub frequencies: Vec<f64>,
    /// Carrier phases in degrees. Default 0, 90; 1 to 64 of them, each in [0, 360).
    pub phases: Vec<f64>,
    /// Envelope sigma across the stripes in pixels: one value for all frequencies or one
    /// per frequency. Default None: 0.5/f, at most size/4 so the envelope fits the patch.
    /// Each in (0, 4*size].
    pub sigma: Option<Vec<f64>>,
    /// Envelope aspect ratio sigma_along_stripes / sigma_across. Default 1; range 0.1..=10.
    pub aspect: f64,
    /// Keep only the first `count` filters of the order above. Default None: all of them.
    pub count: Option<usize>,
}

impl Default for GaborBankParams {
    fn default() -> Self {
        Self {
            size: 16,
            orientations: 8,
            frequencies: vec![0.1, 0.2],
            phases: vec![0.0, 90.0],
            sigma: None,
            aspect: 1.0,
            count: None,
        }
    }
}

impl GaborBankParams {
    /// The checked parameters (see [`crate::params`]).
    pub fn check(&self) -> Result<Valid<Self>> {
        Params::check(self)
    }

    /// Envelope sigma of each frequency.
    fn sigmas(&self) -> Vec<f64> {
        match &self.sigma {
            None => self
                .frequencies
                .iter()
                .map(|f| (0.5 / f).min(self.size as f64 / 4.0))
                .collect(),
            Some(s) if s.len() == 1 => vec![s[0]; self.frequencies.len()],
            Some(s) => s.clone(),
        }
    }
}

impl Params for GaborBankParams {
    fn validate(&mut self) -> Result<()> {
        ensure(
            (3..=128).contains(&self.size),
            "size",
            self.size,
            "must be in 3..=128",
        )?;
        ensure(
            (1..=180).contains(&self.orientations),
            "orientations",
            self.orientations,
            "must be in 1..=180",
        )?;
        ensure_list(
            "frequencies",
            &self.frequencies,
            |f| f > 0.0 && f <= 0.5,
            "each must be in (0, 0.5]",
        )?;
        ensure_list(
            "phases",
            &self.phases,
            |p| (0.0..360.0).contains(&p),
            "each must be in [0, 360)",
        )?;
        ensure(
            (0.1..=10.0).contains(&self.aspect),
            "aspect",
            self.aspect,
            "must be in 0.1..=10",
        )?;
        if let Some(s) = &self.sigma {
            ensure(
                s.len() == 1 || s.len() == self.frequencies.len(),
                "sigma",
                format!("{s:?}"),
                "give one value, or one per frequency",
            )?;
        }
        for s in self.sigmas() {
            ensure(
                s > 0.0 && s <= 4.0 * self.size as f64,
                "sigma",
                s,
                "each must be in (0, 4*size]",
            )?;
        }
        if let Some(n) = self.count {
            ensure(n >= 1, "count", n, "must be at least 1")?;
        }
        Ok(())
    }
}

/// A list field holds 1 to 64 values, each `ok`.
fn ensure_list(field: &str, values: &[f64], ok: impl Fn(f64) -> bool, each: &str) -> Result<()> {
    ensure(
        (1..=64).contains(&values.len()),
        field,
        format!("{values:?}"),
        format!("give 1 to 64 {field}"),
    )?;
    values
        .iter()
        .try_for_each(|&v| ensure(ok(v), field, v, each))
}

/// One Gabor per filter, in bank order.
pub fn filters(params: &Valid<GaborBankParams>) -> Vec<GaborParams> {
    let mut filters = Vec::new();
    for (&f, &s) in params.frequencies.iter().zip(&params.sigmas()) {
        for o in 0..params.orientations {
            for &p in &params.phases {
                filters.push(GaborParams {
                    x0: 0.0,
                    y0: 0.0,
                    theta: (o as f64 * 180.0 / params.orientations as f64).to_radians(),
                    frequency: f,
                    phase: p.to_radians(),
                    sigma_x: s,
                    sigma_y: s * params.aspect,
                    amplitude: 1.0,
                });
            }
        }
    }
    if let Some(n) = params.count {
        filters.truncate(n);
    }
    filters
}

/// The bank, (filters, 1, k, k). Fails if a filter vanishes after its mean is removed (a
/// carrier the grid cannot represent, or a cosine Gabor that is all mean).
pub fn gabor_bank(params: &Valid<GaborBankParams>) -> Result<Bank<'static>> {
    let filters = filters(params);
    let size = params.size;
    let mut out = Vec::with_capacity(filters.len() * size * size);
    for (i, g) in filters.iter().enumerate() {
        let mut v = g.render(size);
        let norm = crate::linalg::normalise::zero_mean_unit_norm(&mut v);
        if norm < 1e-6 {
            return Err(Error::param(
                "frequencies/phases",
                format!(
                    "filter {i} (f = {}, phase = {} deg)",
                    g.frequency,
                    g.phase.to_degrees()
                ),
                "this Gabor is zero on the grid after removing its mean; change the phase or frequency",
            ));
        }
        out.extend(v.iter().map(|&x| x as f32));
    }
    Ok(Bank::new(out, filters.len(), 1, size))
}

/// Writes the bank to `out` (`.npy`, (filters, 1, k, k) float32) with a sidecar beside it;
/// existing files are refused unless `force`.
pub fn write_gabor_bank(
    params: &Valid<GaborBankParams>,
    out: &Path,
    force: bool,
) -> Result<Bank<'static>> {
    let side = sidecar::path_for(out);
    crate::io::atomic::check_output(out, force)?;
    crate::io::atomic::check_output(&side, force)?;
    let started = std::time::Instant::now();
    let bank = gabor_bank(params)?;
    let shape = bank.shape();
    npy::write(out, &shape, &bank.data, force)?;
    let record = GaborRecord {
        shape,
        parameters: ParametersRecord {
            size: params.size,
            orientations: params.orientations,
            frequencies_cycles_per_pixel: &params.frequencies,
            phases_deg: &params.phases,
            sigma_px: params.sigma.as_deref(),
            aspect: params.aspect,
        },
        normalisation: "each filter zero-mean, unit L2 norm",
        filters: filters(params)
            .iter()
            .map(|g| FilterRecord {
                orientation_deg: g.theta.to_degrees(),
                frequency_cycles_per_pixel: g.frequency,
                phase_deg: g.phase.to_degrees(),
                sigma_x_px: g.sigma_x,
                sigma_y_px: g.sigma_y,
            })
            .collect(),
        timings_seconds: Timings {
            total: started.elapsed().as_secs_f64(),
        },
    };
    Provenance::new("gabor", record).write(&side, force)?;
    Ok(bank)
}

/// The sidecar of a written bank.
#[derive(Serialize)]
struct GaborRecord<'a> {
    shape: [usize; 4],
    parameters: ParametersRecord<'a>,
    normalisation: &'static str,
    filters: Vec<FilterRecord>,
    timings_seconds: Timings,
}

#[derive(Serialize)]
struct ParametersRecord<'a> {
    size: usize,
    orientations: usize,
    frequencies_cycles_per_pixel: &'a [f64],
    phases_deg: &'a [f64],
    sigma_px: Option<&'a [f64]>,
    aspect: f64,
}

#[derive(Serialize)]
struct FilterRecord {
    orientation_deg: f64,
    frequency_cycles_per_pixel: f64,
    phase_deg: f64,
    sigma_x_px: f64,
    sigma_y_px: f64,
}

#[derive(Serialize)]
struct Timings {
    total: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_zero_mean_unit_norm_in_frequency_orientation_phase_order() {
        let params = GaborBankParams {
            size: 12,
            orientations: 4,
            frequencies: vec![0.15, 0.25],
            ..GaborBankParams::default()
        }
        .check()
        .unwrap();
        let bank = gabor_bank(&params).unwrap();
        assert_eq!(bank.shape(), [2 * 4 * 2, 1, 12, 12]);
        for i in 0..bank.count {
            let f = bank.filter(i);
            let mean = f.iter().map(|&v| v as f64).sum::<f64>() / f.len() as f64;
            let norm = f.iter().map(|&v| (v as f64).powi(2)).sum::<f64>().sqrt();
            // float32 rounding of 144 values: far below 1e-5.
            assert!(
                mean.abs() < 1e-6 && (norm - 1.0).abs() < 1e-5,
                "{i}: {mean} {norm}"
            );
        }
        let order = filters(&params);
        assert_eq!(order[1].phase, 90f64.to_radians());
        assert_eq!(order[2].theta, 45f64.to_radians());
        assert_eq!(order[8].frequency, 0.25);
        let first = GaborBankParams {
            count: Some(5),
            ..(*params).clone()
        };
        let truncated = gabor_bank(&first.check().unwrap()).unwrap();
        assert_eq!(truncated.data[..], bank.data[..5 * 144]);
    }

    #[test]
    fn out_of_range_parameters_name_their_field() {
        let field = |p: GaborBankParams| {
            p.check()
                .unwrap_err()
                .param_field()
                .unwrap_or("(not a parameter error)")
                .to_string()
        };
        let d = GaborBankParams::default();
        assert_eq!(
            field(GaborBankParams {
                size: 2,
                ..d.clone()
            }),
            "size"
        );
        assert_eq!(
            field(GaborBankParams {
                frequencies: vec![0.7],
                ..d.clone()
            }),
            "frequencies"
        );
        assert_eq!(
            field(GaborBankParams {
                sigma: Some(vec![1.0; 3]),
                ..d.clone()
            }),
            "sigma"
        );
        assert_eq!(
            field(GaborBankParams {
                phases: vec![360.0],
                ..d
            }),
            "phases"
        );
    }
}
