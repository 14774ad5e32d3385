//! Every per-filter measure in one record, computed for a whole bank in parallel: norm and
//! weight sparsity, spatial localization, spectral peak and bandwidths, and the Gabor fit.
//! Results do not depend on the thread count: each plane's random fit starts come from its
//! own ChaCha8 stream (the run's seed, stream = plane index).

use super::gabor::{self, FitOptions, FitStart, GaborFit};
use super::planes::Plane;
use super::sparsity;
use super::spatial::{self, energy_area_fraction};
use super::spectrum::SpectrumWorkspace;
use crate::observer::Progress;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};

/// Share of the energy whose pixel-area fraction is reported.
pub const ENERGY_SHARE: f64 = 0.8;

/// All measures of one filter plane. Angles in radians here; reports convert to degrees.
/// Undefined values (an all-zero plane, a bandwidth that does not close) are NaN.
#[derive(Debug, Clone, PartialEq)]
pub struct FilterMeasures {
    pub filter: usize,
    pub channel: Option<usize>,
    pub l2_norm: f64,
    pub hoyer: f64,
    pub excess_kurtosis: f64,
    pub gini: f64,
    pub centre_col: f64,
    pub centre_row: f64,
    /// Energy spread along the dominant (peak) orientation's wave vector, pixels.
    pub spread_along: f64,
    /// Energy spread across it (along the stripes), pixels.
    pub spread_across: f64,
    pub energy80_area_fraction: f64,
    pub peak_frequency: f64,
    pub peak_orientation: f64,
    pub frequency_bandwidth_octaves: f64,
    pub orientation_bandwidth_deg: f64,
    /// None for an all-zero plane.
    pub gabor: Option<GaborFit>,
}

/// Options for [`measure_bank`].
#[derive(Debug, Clone, Copy, Default)]
pub struct MeasureOptions {
    pub fit: FitOptions,
    pub seed: u64,
}

/// Measures one plane. `workspace` must have been made for the plane's size.
pub fn measure_plane(
    plane: &Plane,
    workspace: &mut SpectrumWorkspace,
    fit_options: &FitOptions,
    rng: &mut ChaCha8Rng,
) -> FilterMeasures {
    let v = &plane.values;
    let as_f32: Vec<f32> = v.iter().map(|&x| x as f32).collect();
    let l2_norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    let moments = spatial::energy_moments(v, plane.size);
    let peak = workspace.peak(v, plane.size);
    let nan = f64::NAN;
    let (spread_along, spread_across) = match (&moments, &peak) {
        (Some(m), Some(p)) => m.spread_along_across(p.orientation),
        _ => (nan, nan),
    };
    let gabor = match (&moments, &peak) {
        (Some(m), Some(p)) => {
            // A Gabor's energy is its envelope squared: a Gaussian sqrt(2) narrower.
            let start = FitStart {
                x0: m.x,
                y0: m.y,
                theta: p.orientation,
                frequency: p.frequency.max(0.5 / plane.size as f64),
                sigma_x: (spread_along * std::f64::consts::SQRT_2).max(0.5),
                sigma_y: (spread_across * std::f64::consts::SQRT_2).max(0.5),
            };
            Some(gabor::fit(v, plane.size, &start, fit_options, rng))
        }
        _ => None,
    };
    FilterMeasures {
        filter: plane.filter,
        channel: plane.channel,
        l2_norm,
        hoyer: sparsity::hoyer(&as_f32),
        excess_kurtosis: sparsity::excess_kurtosis(&as_f32),
        gini: sparsity::gini(&as_f32),
        centre_col: moments.map_or(nan, |m| m.centre_col),
        centre_row: moments.map_or(nan, |m| m.centre_row),
        spread_along,
        spread_across,
        energy80_area_fraction: energy_area_fraction(v, ENERGY_SHARE),
        peak_frequency: peak.map_or(nan, |p| p.frequency),
        peak_orientation: peak.map_or(nan, |p| p.orientation),
        frequency_bandwidth_octaves: peak.map_or(nan, |p| p.frequency_bandwidth_octaves),
        orientation_bandwidth_deg: peak.map_or(nan, |p| p.orientation_bandwidth_deg),
        gabor,
    }
}

/// Measures every plane in parallel (rayon), reporting progress in planes. All planes must
/// share one size.
pub fn measure_bank(
    planes: &[Plane],
    options: &MeasureOptions,
    progress: &dyn Progress,
) -> Vec<FilterMeasures> {
    let Some(first) = planes.first() else {
        return Vec::new();
    };
    let size = first.size;
    progress.start("analyze filters", Some(planes.len() as u64));
    let done = AtomicU64::new(0);
    let out: Vec<FilterMeasures> = planes
        .par_iter()
        .enumerate()
        .map_init(
            || SpectrumWorkspace::new(size),
            |ws, (i, plane)| {
                let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
                rng.set_stream(i as u64);
                let m = measure_plane(plane, ws, &options.fit, &mut rng);
                let d = done.fetch_add(1, Ordering::Relaxed) + 1;
                if d.is_multiple_of(64) {
                    progress.advance(d, "");
                }
                m
            },
        )
        .collect();
    progress.finish(&format!("{} planes", planes.len()));
    out
}
