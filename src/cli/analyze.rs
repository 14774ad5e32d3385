//! `simplecell analyze` and `simplecell compare`: filter and code reports.
//!
//! Both check every output for existence and read and validate every input before any work
//! starts, so a refusal or a bad file leaves the output folder untouched; then they compute,
//! and write each table, picture and the JSON provenance file atomically.

use super::progress::Reporter;
use crate::analysis::gabor::FitOptions;
use crate::analysis::measures::{self, FilterMeasures, MeasureOptions};
use crate::analysis::planes::{self, ColourMode};
use crate::analysis::{codes, report, similarity};
use crate::error::{Error, Result};
use crate::io::{atomic, npy, sidecar};
use crate::viz::montage::{Bank, MontageOptions, render, write_png};
use crate::viz::plots;
use clap::Args;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Filter bank: (atoms, size*size) or (filters, channels, k, k). One of --filters or
    /// --codes is required.
    #[arg(
        long,
        value_name = "F.npy",
        conflicts_with = "codes",
        required_unless_present = "codes"
    )]
    pub filters: Option<PathBuf>,
    /// Code or activation matrix (samples, units), e.g. the codes `encode` writes.
    #[arg(long, value_name = "A.npy")]
    pub codes: Option<PathBuf>,
    /// Output folder (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Analyse each channel of a colour bank separately instead of its luminance
    /// (BT.601 weights 0.299, 0.587, 0.114; other channel counts use the mean) [default: off].
    #[arg(long)]
    pub per_channel: bool,
    /// Seed for the Gabor fits' random starts [default: 0; any u64].
    #[arg(hide_default_value = true, long, default_value_t = 0)]
    pub seed: u64,
    /// Random starts per Gabor fit beyond the three deterministic ones [default: 2; range
    /// 0..=64].
    #[arg(hide_default_value = true, long, default_value_t = 2)]
    pub gabor_random_starts: usize,
    /// Levenberg-Marquardt iterations per start [default: 100; range 1..=10000].
    #[arg(hide_default_value = true, long, default_value_t = 100)]
    pub gabor_max_iterations: usize,
    /// Gabor fits with R^2 below this are left out of the plots [default: 0.5; range 0..=1].
    #[arg(hide_default_value = true, long, default_value_t = 0.5)]
    pub min_r2: f64,
    /// Overwrite existing outputs.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// First filter bank (rows of pairs.csv and matrix.csv).
    #[arg(long, value_name = "A.npy")]
    pub a: PathBuf,
    /// Second filter bank (columns of matrix.csv); the null baseline phase-randomises it.
    #[arg(long, value_name = "B.npy")]
    pub b: PathBuf,
    /// Output folder (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Largest shift per axis in pixels [default: a quarter of the common filter size;
    /// range 0..=size-1].
    #[arg(long)]
    pub max_shift: Option<usize>,
    /// Phase-randomised surrogate banks for the null baseline [default: 10; range 2..=1000].
    #[arg(hide_default_value = true, long, default_value_t = 10)]
    pub null_draws: usize,
    /// Seed of the surrogates and the Gabor fits [default: 0; any u64].
    #[arg(hide_default_value = true, long, default_value_t = 0)]
    pub seed: u64,
    /// Gabor fits with R^2 below this are left out of the parameter tests [default: 0.5;
    /// range 0..=1].
    #[arg(hide_default_value = true, long, default_value_t = 0.5)]
    pub min_r2: f64,
    /// Overwrite existing outputs.
    #[arg(long)]
    pub force: bool,
}

/// Output names of `analyze --filters`.
pub const FILTER_OUTPUTS: [&str; 7] = [
    "filters.csv",
    "summary.csv",
    "nx_ny.png",
    "orientation_hist.png",
    "frequency_hist.png",
    "montage_by_r2.png",
    "analysis.json",
];
/// Output names of `analyze --codes`.
pub const CODE_OUTPUTS: [&str; 4] = [
    "population.csv",
    "lifetime.csv",
    "summary.csv",
    "analysis.json",
];
/// Output names of `compare`.
pub const COMPARE_OUTPUTS: [&str; 5] = [
    "pairs.csv",
    "matrix.csv",
    "summary.csv",
    "pairs.png",
    "comparison.json",
];

fn check_outputs(dir: &Path, names: &[&str], force: bool) -> Result<()> {
    for name in names {
        atomic::check_output(&dir.join(name), force)?;
    }
    Ok(())
}

fn check_min_r2(v: f64) -> Result<()> {
    if !(0.0..=1.0).contains(&v) {
        return Err(Error::usage("--min-r2", v, "must be in 0..=1"));
    }
    Ok(())
}

/// Reads a filter bank and checks its shape and values.
fn read_bank(path: &Path) -> Result<npy::Array> {
    let array = npy::read(path)?;
    let bank = Bank::from_shape(&array.data, &array.shape, path)?;
    if bank.size < 3 {
        return Err(Error::bad_input(
            path,
            "shape",
            format!("{:?}", array.shape),
            "filters must be at least 3x3 pixels",
        ));
    }
    planes::validate(&bank, path)?;
    Ok(array)
}

fn input_record(path: &Path) -> Result<Value> {
    Ok(json!({ "path": path.display().to_string(), "sha256": sidecar::sha256_file(path)? }))
}

pub fn run_analyze(args: AnalyzeArgs, reporter: &Reporter) -> Result<()> {
    check_min_r2(args.min_r2)?;
    let fit = FitOptions {
        random_starts: args.gabor_random_starts,
        max_iterations: args.gabor_max_iterations,
    }
    .check()?;
    match (&args.filters, &args.codes) {
        (Some(f), None) => analyze_filters(&args, f, fit, reporter),
        (None, Some(c)) => analyze_codes(&args, c, reporter),
        _ => Err(Error::usage(
            "--filters/--codes",
            "both or neither",
            "give exactly one of --filters or --codes",
        )),
    }
}

fn analyze_filters(
    args: &AnalyzeArgs,
    path: &Path,
    fit: FitOptions,
    reporter: &Reporter,
) -> Result<()> {
    check_outputs(&args.out, &FILTER_OUTPUTS, args.force)?;
    let array = read_bank(path)?;
    let bank = Bank::from_shape(&array.data, &array.shape, path)?;
    atomic::ensure_dir(&args.out)?;
    let started = Instant::now();
    let mode = if args.per_channel {
        ColourMode::PerChannel
    } else {
        ColourMode::Luminance
    };
    let planes = planes::planes(&bank, mode);
    let options = MeasureOptions {
        fit,
        seed: args.seed,
    };
    let results = measures::measure_bank(&planes, &options, reporter);
    let measured = started.elapsed().as_secs_f64();
    let out = |name: &str| args.out.join(name);
    report::filters_table(&results, bank.size).write(&out("filters.csv"), args.force)?;
    report::filters_summary(&results, bank.size).write(&out("summary.csv"), args.force)?;
    write_filter_plots(args, &bank, &planes, &results)?;
    let mut meta = sidecar::base("analyze");
    meta.insert("inputs".into(), json!({ "filters": input_record(path)? }));
    meta.insert(
        "parameters".into(),
        json!({
            "per_channel": args.per_channel,
            "luma_weights": planes::LUMA_WEIGHTS,
            "seed": args.seed,
            "gabor_random_starts": fit.random_starts,
            "gabor_max_iterations": fit.max_iterations,
            "min_r2": args.min_r2,
            "energy_share": measures::ENERGY_SHARE,
            "fft_size": crate::analysis::spectrum::padded_size(bank.size),
        }),
    );
    meta.insert("shape".into(), json!(array.shape));
    meta.insert("planes".into(), json!(planes.len()));
    meta.insert(
        "timings_seconds".into(),
        json!({ "measures": measured, "total": started.elapsed().as_secs_f64() }),
    );
    sidecar::write(&out("analysis.json"), &Value::Object(meta), args.force)?;
    reporter.info(&format!(
        "analysed {} planes in {:.2} s; wrote {}",
        planes.len(),
        measured,
        args.out.display()
    ));
    Ok(())
}

fn write_filter_plots(
    args: &AnalyzeArgs,
    bank: &Bank,
    planes: &[planes::Plane],
    results: &[FilterMeasures],
) -> Result<()> {
    let out = |name: &str| args.out.join(name);
    let good: Vec<_> = results
        .iter()
        .filter_map(|m| m.gabor)
        .filter(|g| g.r2 >= args.min_r2)
        .collect();
    let points: Vec<(f64, f64)> = good.iter().map(|g| (g.nx(), g.ny())).collect();
    let top = points
        .iter()
        .flat_map(|&(x, y)| [x, y])
        .filter(|v| v.is_finite())
        .fold(1.0f64, f64::max);
    // Round the axes up to a multiple of 0.5, at most 3, where Ringach's plots end.
    let axis = ((top * 2.0).ceil() / 2.0).min(3.0);
    let fits = format!("Gabor fits with R² ≥ {} (n = {})", args.min_r2, good.len());
    let empty = format!(
        "no filter fits a Gabor with R² ≥ {}: nothing to plot",
        args.min_r2
    );
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
    write_png(&img, &out("nx_ny.png"), args.force)?;
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
    write_png(&img, &out("orientation_hist.png"), args.force)?;
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
    write_png(&img, &out("frequency_hist.png"), args.force)?;
    // Montage of the analysed planes (luminance or per channel), best Gabor fit first.
    let data: Vec<f32> = planes
        .iter()
        .flat_map(|p| p.values.iter().map(|&v| v as f32))
        .collect();
    let plane_bank = Bank {
        data: &data,
        count: planes.len(),
        channels: 1,
        size: bank.size,
    };
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
    write_png(&img, &out("montage_by_r2.png"), args.force)
}

fn analyze_codes(args: &AnalyzeArgs, path: &Path, reporter: &Reporter) -> Result<()> {
    check_outputs(&args.out, &CODE_OUTPUTS, args.force)?;
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
    if let Some(at) = array.data.iter().position(|v| !v.is_finite()) {
        return Err(Error::bad_input(
            path,
            &format!("sample {} unit {}", at / units, at % units),
            array.data[at],
            "codes must be finite (no NaN or infinity)",
        ));
    }
    atomic::ensure_dir(&args.out)?;
    let started = Instant::now();
    let population = codes::population(&array.data, samples, units);
    let lifetime = codes::lifetime(&array.data, samples, units);
    let out = |name: &str| args.out.join(name);
    report::sparsity_table("sample", &population).write(&out("population.csv"), args.force)?;
    report::sparsity_table("unit", &lifetime).write(&out("lifetime.csv"), args.force)?;
    report::codes_summary(&population, &lifetime).write(&out("summary.csv"), args.force)?;
    let mut meta = sidecar::base("analyze");
    meta.insert("inputs".into(), json!({ "codes": input_record(path)? }));
    meta.insert("shape".into(), json!(array.shape));
    meta.insert(
        "timings_seconds".into(),
        json!({ "total": started.elapsed().as_secs_f64() }),
    );
    sidecar::write(&out("analysis.json"), &Value::Object(meta), args.force)?;
    reporter.info(&format!(
        "analysed codes of {samples} samples x {units} units; wrote {}",
        args.out.display()
    ));
    Ok(())
}

pub fn run_compare(args: CompareArgs, reporter: &Reporter) -> Result<()> {
    check_min_r2(args.min_r2)?;
    if !(2..=1000).contains(&args.null_draws) {
        return Err(Error::usage(
            "--null-draws",
            args.null_draws,
            "must be in 2..=1000",
        ));
    }
    check_outputs(&args.out, &COMPARE_OUTPUTS, args.force)?;
    let array_a = read_bank(&args.a)?;
    let array_b = read_bank(&args.b)?;
    let bank_a = Bank::from_shape(&array_a.data, &array_a.shape, &args.a)?;
    let bank_b = Bank::from_shape(&array_b.data, &array_b.shape, &args.b)?;
    let size = bank_a.size.max(bank_b.size);
    if let Some(s) = args.max_shift
        && s >= size
    {
        return Err(Error::usage(
            "--max-shift",
            s,
            format!(
                "must be in 0..={} (below the common filter size {size})",
                size - 1
            ),
        ));
    }
    atomic::ensure_dir(&args.out)?;
    let started = Instant::now();
    let options = report::CompareOptions {
        max_shift: args.max_shift,
        null_draws: args.null_draws,
        seed: args.seed,
        min_r2: args.min_r2,
        measure: MeasureOptions {
            fit: FitOptions::default(),
            seed: args.seed,
        },
    };
    let c = report::compare(&bank_a, &bank_b, &options, reporter);
    let out = |name: &str| args.out.join(name);
    report::pairs_table(&c).write(&out("pairs.csv"), args.force)?;
    report::matrix_table(&c).write(&out("matrix.csv"), args.force)?;
    report::compare_summary(&c).write(&out("summary.csv"), args.force)?;
    write_png(&pairs_montage(&c), &out("pairs.png"), args.force)?;
    let mut meta = sidecar::base("compare");
    meta.insert(
        "inputs".into(),
        json!({ "a": input_record(&args.a)?, "b": input_record(&args.b)? }),
    );
    meta.insert(
        "parameters".into(),
        json!({
            "max_shift": c.max_shift,
            "null_draws": args.null_draws,
            "seed": args.seed,
            "min_r2": args.min_r2,
            "common_size": c.common.size,
            "common_channels": c.common.channels,
            "luminance_projection": c.common.luminance,
            "resampling": "bilinear, half-pixel centres (align_corners=False), smaller bank up to the larger size",
        }),
    );
    meta.insert(
        "timings_seconds".into(),
        json!({ "total": started.elapsed().as_secs_f64() }),
    );
    sidecar::write(&out("comparison.json"), &Value::Object(meta), args.force)?;
    let (null_mean, null_sd, z) = c.null();
    reporter.info(&format!(
        "matched {} pairs: mean similarity {:.3} (null {:.3} +- {:.3}, z = {:.1}); wrote {}",
        c.pairs.len(),
        c.matched_mean(),
        null_mean,
        null_sd,
        z,
        args.out.display()
    ));
    Ok(())
}

/// Matched pairs side by side, best first: A's filter, then B's filter moved by the
/// reported shift and multiplied by the reported sign, so the two should look alike.
fn pairs_montage(c: &report::Comparison) -> image::RgbImage {
    let (a, b) = (&c.normalised_a, &c.normalised_b);
    let dim = a.channels * a.size * a.size;
    let mut data = Vec::with_capacity(2 * c.pairs.len() * dim);
    for p in report::sorted_pairs(c) {
        data.extend_from_slice(&a.data[p.a * dim..(p.a + 1) * dim]);
        let moved = similarity::aligned(b, p.b, p.shift_x, p.shift_y, p.sign);
        data.extend(moved);
    }
    let count = data.len() / dim;
    let pairs_per_row = ((count / 2) as f64).sqrt().ceil().max(1.0) as usize;
    render(
        &Bank {
            data: &data,
            count,
            channels: a.channels,
            size: a.size,
        },
        &MontageOptions {
            columns: 2 * pairs_per_row,
            ..Default::default()
        },
    )
}
