//! The analysis jobs as `simplecell analyze` and `compare` run them: files in, a report
//! folder out. Each checks every output for existence and reads and validates every input
//! before any work, so a refusal or a bad file leaves the folder untouched; then it computes,
//! and writes each table, picture and its JSON provenance file atomically.
//!
//! - [`analyze_filters`]: per-filter measures of a bank (`filters.csv`, `summary.csv`, plots
//!   of the Gabor parameters, a montage ordered by fit quality, `analysis.json`);
//! - [`analyze_codes`]: population and lifetime sparsity of a code matrix;
//! - [`compare_banks`]: two banks matched, with a null baseline (`pairs.csv`, `matrix.csv`,
//!   `summary.csv`, `pairs.png`, `comparison.json`).

use super::codes;
use super::compare::{self, CompareOptions, Comparison};
use super::gabor::FitOptions;
use super::measures::{self, FilterMeasures, MeasureOptions};
use super::planes::{self, ColourMode, Plane};
use super::{report, similarity};
use crate::bank::Bank;
use crate::error::{Error, Result};
use crate::io::sidecar::{InputFile, Provenance};
use crate::io::{atomic, npy};
use crate::observer::Progress;
use crate::params::{Params, Valid, ensure};
use crate::viz::montage::{MontageOptions, render, write_png};
use crate::viz::plots;
use serde::Serialize;
use std::path::Path;
use std::time::Instant;

/// Output names of [`analyze_filters`].
pub const FILTER_OUTPUTS: [&str; 7] = [
    "filters.csv",
    "summary.csv",
    "nx_ny.png",
    "orientation_hist.png",
    "frequency_hist.png",
    "montage_by_r2.png",
    "analysis.json",
];
/// Output names of [`analyze_codes`].
pub const CODE_OUTPUTS: [&str; 4] = [
    "population.csv",
    "lifetime.csv",
    "summary.csv",
    "analysis.json",
];
/// Output names of [`compare_banks`].
pub const COMPARE_OUTPUTS: [&str; 5] = [
    "pairs.csv",
    "matrix.csv",
    "summary.csv",
    "pairs.png",
    "comparison.json",
];

/// Parameters of [`analyze_filters`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AnalyzeParams {
    /// Analyse each channel of a colour bank separately instead of its luminance. Default
    /// off.
    pub per_channel: bool,
    /// Seed of the Gabor fits' random starts. Default 0.
    pub seed: u64,
    /// Random starts (default 2; 0..=64) and iterations per start (default 100;
    /// 1..=10000) of each Gabor fit.
    pub fit: FitOptions,
    /// Gabor fits with R^2 below this are left out of the plots. Default 0.5; range 0..=1.
    pub min_r2: f64,
}

impl Default for AnalyzeParams {
    fn default() -> Self {
        Self {
            per_channel: false,
            seed: 0,
            fit: FitOptions::default(),
            min_r2: 0.5,
        }
    }
}

impl AnalyzeParams {
    /// The checked parameters (see [`crate::params`]).
    pub fn check(&self) -> Result<Valid<Self>> {
        Params::check(self)
    }
}

impl Params for AnalyzeParams {
    fn validate(&mut self) -> Result<()> {
        check_min_r2(self.min_r2)?;
        self.fit.validate()
    }
}

/// Parameters of [`compare_banks`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CompareParams {
    /// Largest shift per axis in pixels. Default None: a quarter of the common filter size;
    /// range 0..=size-1 (checked against the banks).
    pub max_shift: Option<usize>,
    /// Phase-randomised surrogate banks for the null baseline. Default 10; range 2..=1000.
    pub null_draws: usize,
    /// Seed of the surrogates and the Gabor fits. Default 0.
    pub seed: u64,
    /// Gabor fits with R^2 below this are left out of the parameter tests. Default 0.5;
    /// range 0..=1.
    pub min_r2: f64,
}

impl Default for CompareParams {
    fn default() -> Self {
        Self {
            max_shift: None,
            null_draws: 10,
            seed: 0,
            min_r2: 0.5,
        }
    }
}

impl CompareParams {
    /// The checked parameters (see [`crate::params`]).
    pub fn check(&self) -> Result<Valid<Self>> {
        Params::check(self)
    }
}

impl Params for CompareParams {
    fn validate(&mut self) -> Result<()> {
        check_min_r2(self.min_r2)?;
        ensure(
            (2..=1000).contains(&self.null_draws),
            "null_draws",
            self.null_draws,
            "must be in 2..=1000",
        )
    }
}

fn check_min_r2(v: f64) -> Result<()> {
    ensure((0.0..=1.0).contains(&v), "min_r2", v, "must be in 0..=1")
}

fn check_outputs(dir: &Path, names: &[&str], force: bool) -> Result<()> {
    names
        .iter()
        .try_for_each(|name| atomic::check_output(&dir.join(name), force))
}

/// Reads a bank for analysis: at least 3x3 filters, finite values. Returns the file's shape
/// too, for the sidecar.
fn read_bank(path: &Path) -> Result<(Bank<'static>, Vec<usize>)> {
    let (bank, shape) = Bank::read_with_shape(path)?;
    if bank.size < 3 {
        return Err(Error::bad_input(
            path,
            "shape",
            format!("{shape:?}"),
            "filters must be at least 3x3 pixels",
        ));
    }
    bank.check_finite(path)?;
    Ok((bank, shape))
}

/// What [`analyze_filters`] measured.
pub struct FilterReport {
    pub planes: usize,
    pub measures: Vec<FilterMeasures>,
    /// Seconds spent measuring.
    pub seconds: f64,
}

/// Measures every filter of the bank in `path` and writes the report into `out`.
pub fn analyze_filters(
    params: &Valid<AnalyzeParams>,
    path: &Path,
    out: &Path,
    force: bool,
    progress: &dyn Progress,
) -> Result<FilterReport> {
    check_outputs(out, &FILTER_OUTPUTS, force)?;
    let (bank, shape) = read_bank(path)?;
    atomic::ensure_dir(out)?;
    let started = Instant::now();
    let mode = if params.per_channel {
        ColourMode::PerChannel
    } else {
        ColourMode::Luminance
    };
    let planes = planes::planes(&bank, mode);
    let options = MeasureOptions {
        fit: params.fit,
        seed: params.seed,
    };
    let results = measures::measure_bank(&planes, &options, progress);
    let measured = started.elapsed().as_secs_f64();
    let file = |name: &str| out.join(name);
    report::filters_table(&results, bank.size).write(&file("filters.csv"), force)?;
    report::filters_summary(&results, bank.size).write(&file("summary.csv"), force)?;
    write_filter_plots(params.min_r2, out, force, &bank, &planes, &results)?;
    let record = AnalyzeRecord {
        inputs: FiltersInput {
            filters: InputFile::hash(path)?,
        },
        parameters: AnalyzeParametersRecord {
            per_channel: params.per_channel,
            luma_weights: planes::LUMA_WEIGHTS,
            seed: params.seed,
            gabor_random_starts: params.fit.random_starts,
            gabor_max_iterations: params.fit.max_iterations,
            min_r2: params.min_r2,
            energy_share: measures::ENERGY_SHARE,
            fft_size: super::spectrum::padded_size(bank.size),
        },
        shape,
        planes: planes.len(),
        timings_seconds: AnalyzeTimings {
            measures: measured,
            total: started.elapsed().as_secs_f64(),
        },
    };
    Provenance::new("analyze", record).write(&file("analysis.json"), force)?;
    Ok(FilterReport {
        planes: planes.len(),
        measures: results,
        seconds: measured,
    })
}

/// The Gabor-parameter plots and the montage of the analysed planes, best fit first.
fn write_filter_plots(
    min_r2: f64,
    out: &Path,
    force: bool,
    bank: &Bank,
    planes: &[Plane],
    results: &[FilterMeasures],
) -> Result<()> {
    let file = |name: &str| out.join(name);
    let good: Vec<_> = results
        .iter()
        .filter_map(|m| m.gabor)
        .filter(|g| g.r2 >= min_r2)
        .collect();
    let points: Vec<(f64, f64)> = good.iter().map(|g| (g.nx(), g.ny())).collect();
    let top = points
        .iter()
        .flat_map(|&(x, y)| [x, y])
        .filter(|v| v.is_finite())
        .fold(1.0f64, f64::max);
    // Round the axes up to a multiple of 0.5, at most 3, where Ringach's plots end.
    let axis = ((top * 2.0).ceil() / 2.0).min(3.0);
    let fits = format!("Gabor fits with R² ≥ {} (n = {})", min_r2, good.len());
    let empty = format!("no filter fits a Gabor with R² ≥ {min_r2}: nothing to plot");
    let img = plots::scatter(
        &points,
        (0.0, axis),
        (0.0, axis),
        &plots::Labels {
            title: &format!("Envelope shape of the {fits}"),
            x: "nx = σx·f (cycles per σ, across the stripes)",
            y: "ny = σy·f (cycles per σ, along the stripes)",
            empty: &empty,
        },
    )?;
    write_png(&img, &file("nx_ny.png"), force)?;
    let orientations: Vec<f64> = good.iter().map(|g| g.params.theta.to_degrees()).collect();
    let (img, _) = plots::histogram(
        &orientations,
        12,
        (0.0, 180.0),
        &plots::Labels {
            title: &format!("Orientation of the {fits}"),
            x: "orientation θ (degrees)",
            y: "filters (count)",
            empty: &empty,
        },
    )?;
    write_png(&img, &file("orientation_hist.png"), force)?;
    let frequencies: Vec<f64> = good.iter().map(|g| g.params.frequency).collect();
    let (img, _) = plots::histogram(
        &frequencies,
        10,
        (0.0, 0.5),
        &plots::Labels {
            title: &format!("Spatial frequency of the {fits}"),
            x: "frequency (cycles/pixel)",
            y: "filters (count)",
            empty: &empty,
        },
    )?;
    write_png(&img, &file("frequency_hist.png"), force)?;
    // Montage of the analysed planes (luminance or per channel), best Gabor fit first.
    let data: Vec<f32> = planes
        .iter()
        .flat_map(|p| p.values.iter().map(|&v| v as f32))
        .collect();
    let plane_bank = Bank::new(data, planes.len(), 1, bank.size);
    let r2 = |i: usize| results[i].gabor.map_or(f64::NEG_INFINITY, |g| g.r2);
    let mut order: Vec<usize> = (0..planes.len()).collect();
    order.sort_by(|&i, &j| r2(j).total_cmp(&r2(i)).then(i.cmp(&j)));
    let img = render(
        &plane_bank,
        &MontageOptions {
            order: Some(order),
            ..Default::default()
        },
    );
    write_png(&img, &file("montage_by_r2.png"), force)
}

/// What [`analyze_codes`] measured.
pub struct CodeReport {
    pub samples: usize,
    pub units: usize,
}

/// Population (per sample) and lifetime (per unit) sparsity of the (samples, units) code
/// or activation matrix in `path`, written into `out`.
pub fn analyze_codes(
    path: &Path,
    out: &Path,
    force: bool,
    _progress: &dyn Progress,
) -> Result<CodeReport> {
    check_outputs(out, &CODE_OUTPUTS, force)?;
    let array = npy::read(path)?;
    let (samples, units) = match *array.shape.as_slice() {
        [s, u] if s > 0 && u > 0 => (s, u),
        _ => {
            return Err(Error::bad_input(
                path,
                "shape",
                format!("{:?}", array.shape),
                "a code matrix must be 2-D (samples, units) with both axes non-empty",
            ));
        }
    };
    npy::ensure_finite(
        path,
        &array.data,
        units,
        ("sample", "unit"),
        "codes must be finite (no NaN or infinity)",
    )?;
    atomic::ensure_dir(out)?;
    let started = Instant::now();
    let population = codes::population(&array.data, samples, units);
    let lifetime = codes::lifetime(&array.data, samples, units);
    let file = |name: &str| out.join(name);
    report::sparsity_table("sample", &population).write(&file("population.csv"), force)?;
    report::sparsity_table("unit", &lifetime).write(&file("lifetime.csv"), force)?;
    report::codes_summary(&population, &lifetime).write(&file("summary.csv"), force)?;
    let record = CodesRecord {
        inputs: CodesInput {
            codes: InputFile::hash(path)?,
        },
        shape: array.shape,
        timings_seconds: TotalTiming {
            total: started.elapsed().as_secs_f64(),
        },
    };
    Provenance::new("analyze", record).write(&file("analysis.json"), force)?;
    Ok(CodeReport { samples, units })
}

/// Compares the banks in `a` and `b` and writes the report into `out`.
pub fn compare_banks(
    params: &Valid<CompareParams>,
    a: &Path,
    b: &Path,
    out: &Path,
    force: bool,
    progress: &dyn Progress,
) -> Result<Comparison> {
    check_outputs(out, &COMPARE_OUTPUTS, force)?;
    let (bank_a, _) = read_bank(a)?;
    let (bank_b, _) = read_bank(b)?;
    let size = bank_a.size.max(bank_b.size);
    if let Some(s) = params.max_shift {
        ensure(
            s < size,
            "max_shift",
            s,
            format!(
                "must be in 0..={} (below the common filter size {size})",
                size - 1
            ),
        )?;
    }
    atomic::ensure_dir(out)?;
    let started = Instant::now();
    let options = CompareOptions {
        max_shift: params.max_shift,
        null_draws: params.null_draws,
        seed: params.seed,
        min_r2: params.min_r2,
        measure: MeasureOptions {
            fit: FitOptions::default(),
            seed: params.seed,
        },
    };
    let c = compare::compare(&bank_a, &bank_b, &options, progress);
    let file = |name: &str| out.join(name);
    report::pairs_table(&c).write(&file("pairs.csv"), force)?;
    report::matrix_table(&c).write(&file("matrix.csv"), force)?;
    report::compare_summary(&c).write(&file("summary.csv"), force)?;
    write_png(&pairs_montage(&c), &file("pairs.png"), force)?;
    let record = CompareRecord {
        inputs: CompareInputs {
            a: InputFile::hash(a)?,
            b: InputFile::hash(b)?,
        },
        parameters: CompareParametersRecord {
            max_shift: c.max_shift,
            null_draws: params.null_draws,
            seed: params.seed,
            min_r2: params.min_r2,
            common_size: c.common.size,
            common_channels: c.common.channels,
            luminance_projection: c.common.luminance,
            resampling: "bilinear, half-pixel centres (align_corners=False), smaller bank up to the larger size",
        },
        timings_seconds: TotalTiming {
            total: started.elapsed().as_secs_f64(),
        },
    };
    Provenance::new("compare", record).write(&file("comparison.json"), force)?;
    Ok(c)
}

/// Matched pairs side by side, best first: A's filter, then B's filter moved by the
/// reported shift and multiplied by the reported sign, so the two should look alike.
fn pairs_montage(c: &Comparison) -> image::RgbImage {
    let (a, b) = (&c.normalised_a, &c.normalised_b);
    let dim = a.channels * a.size * a.size;
    let mut data = Vec::with_capacity(2 * c.pairs.len() * dim);
    for p in compare::sorted_pairs(c) {
        data.extend_from_slice(&a.data[p.a * dim..(p.a + 1) * dim]);
        let moved = similarity::aligned(b, p.b, p.shift_x, p.shift_y, p.sign);
        data.extend(moved);
    }
    let count = data.len() / dim;
    let pairs_per_row = ((count / 2) as f64).sqrt().ceil().max(1.0) as usize;
    render(
        &Bank::new(data, count, a.channels, a.size),
        &MontageOptions {
            columns: 2 * pairs_per_row,
            ..Default::default()
        },
    )
}

/// `analysis.json` of a bank.
#[derive(Serialize)]
struct AnalyzeRecord {
    inputs: FiltersInput,
    parameters: AnalyzeParametersRecord,
    shape: Vec<usize>,
    planes: usize,
    timings_seconds: AnalyzeTimings,
}

#[derive(Serialize)]
struct FiltersInput {
    filters: InputFile,
}

#[derive(Serialize)]
struct AnalyzeParametersRecord {
    per_channel: bool,
    luma_weights: [f64; 3],
    seed: u64,
    gabor_random_starts: usize,
    gabor_max_iterations: usize,
    min_r2: f64,
    energy_share: f64,
    fft_size: usize,
}

#[derive(Serialize)]
struct AnalyzeTimings {
    measures: f64,
    total: f64,
}

/// `analysis.json` of a code matrix.
#[derive(Serialize)]
struct CodesRecord {
    inputs: CodesInput,
    shape: Vec<usize>,
    timings_seconds: TotalTiming,
}

#[derive(Serialize)]
struct CodesInput {
    codes: InputFile,
}

#[derive(Serialize)]
struct TotalTiming {
    total: f64,
}

/// `comparison.json`.
#[derive(Serialize)]
struct CompareRecord {
    inputs: CompareInputs,
    parameters: CompareParametersRecord,
    timings_seconds: TotalTiming,
}

#[derive(Serialize)]
struct CompareInputs {
    a: InputFile,
    b: InputFile,
}

#[derive(Serialize)]
struct CompareParametersRecord {
    max_shift: usize,
    null_draws: usize,
    seed: u64,
    min_r2: f64,
    common_size: usize,
    common_channels: usize,
    luminance_projection: bool,
    resampling: &'static str,
}
