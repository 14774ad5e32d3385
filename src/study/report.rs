//! The study's outputs: CSV tables, PNG figures and `report.md`.
//!
//! Tables are written first; the report then reads them back and copies the selected rows'
//! cells verbatim under a "Source:" line naming the CSV, so every number in the report is a
//! number in a CSV, and `study.json` records the command that made them all. Figures are
//! drawn from the same records.

use super::codes::CodeSparsity;
use super::measure::{BankMeasures, GOOD_R2};
use super::plan::Run;
use super::{StudyConfig, cell, layout};
use crate::analysis::measures::FilterMeasures;
use crate::analysis::stats::summarise;
use crate::cnn::train::EpochMetrics;
use crate::error::{Error, Result};
use crate::io::{atomic, table::Table};
use crate::viz::plots::{Series, histogram, series_plot};
use std::fmt::Write as _;
use std::path::Path;

/// One trained run with its logged metrics and the measures of every epoch's first layer.
pub struct RunRecord {
    pub run: Run,
    pub metrics: Vec<EpochMetrics>,
    /// Index = epoch (0 is the initial network).
    pub banks: Vec<BankMeasures>,
}

impl RunRecord {
    fn last(&self) -> (&EpochMetrics, &BankMeasures) {
        (
            self.metrics.last().expect("a run logs epoch 0"),
            self.banks.last().expect("a run logs epoch 0"),
        )
    }
}

/// The second layer's preferred inputs and their measures.
pub struct Conv2Record {
    pub run: String,
    pub responses: Vec<f32>,
    pub measures: Vec<FilterMeasures>,
}

/// Everything the report shows.
pub struct StudyResults {
    pub config: StudyConfig,
    /// Every invocation that worked on the study, first to last, as recorded in the
    /// sidecar: `command_line`, wall `seconds`, `finished`.
    pub invocations: Vec<serde_json::Value>,
    pub runs: Vec<RunRecord>,
    /// (bank name, measures against the dictionary): dictionary, gabor, random.
    pub references: Vec<(&'static str, BankMeasures)>,
    pub codes: CodeSparsity,
    pub conv2: Conv2Record,
}

fn input_name(run: &Run) -> &'static str {
    if run.variant.colour {
        "colour (luminance projection)"
    } else {
        "gray"
    }
}

fn similarity_table(r: &StudyResults) -> Table {
    let mut t = Table::new(&[
        "run",
        "variant",
        "seed",
        "input",
        "epoch",
        "matched_similarity",
        "null_mean",
        "null_sd",
        "z",
        "gabor_r2_median",
        "gabor_r2_ge_0.7",
        "energy80_area_median",
        "orientation_kuiper_p",
        "frequency_ks_p",
        "nx_ks_p",
        "ny_ks_p",
    ]);
    for rec in &r.runs {
        for (epoch, b) in rec.banks.iter().enumerate() {
            t.push(vec![
                rec.run.name(),
                rec.run.variant.name.into(),
                rec.run.seed.to_string(),
                input_name(&rec.run).into(),
                epoch.to_string(),
                cell(b.matched_similarity),
                cell(b.null_mean),
                cell(b.null_sd),
                cell(b.z),
                cell(b.r2_median),
                cell(b.r2_good_fraction),
                cell(b.energy80_median),
                cell(b.orientation_p),
                cell(b.frequency_p),
                cell(b.nx_p),
                cell(b.ny_p),
            ]);
        }
    }
    t
}

fn sparsity_table(r: &StudyResults) -> Table {
    let mut t = Table::new(&[
        "run",
        "variant",
        "seed",
        "epoch",
        "test_accuracy",
        "activation_zero_fraction",
        "activation_hoyer",
        "preactivation_kurtosis",
        "filter_hoyer",
        "filter_kurtosis",
    ]);
    for rec in &r.runs {
        for (m, b) in rec.metrics.iter().zip(&rec.banks) {
            t.push(vec![
                rec.run.name(),
                rec.run.variant.name.into(),
                rec.run.seed.to_string(),
                m.epoch.to_string(),
                cell(m.test_accuracy),
                cell(m.conv1_zero_fraction),
                cell(m.conv1_hoyer),
                cell(m.conv1_kurtosis),
                cell(b.filter_hoyer),
                cell(b.filter_kurtosis),
            ]);
        }
    }
    t
}

fn codes_table(r: &StudyResults) -> Table {
    let c = &r.codes;
    let mut t = Table::new(&[
        "source",
        "images",
        "patches",
        "lambda",
        "code_zero_fraction",
        "code_hoyer",
        "code_kurtosis",
        "converged_fraction",
        "max_relative_gap",
    ]);
    t.push(vec![
        "dictionary codes of the test images".into(),
        c.images.to_string(),
        c.patches.to_string(),
        format!("{}", r.config.lambda),
        cell(c.zero_fraction),
        cell(c.hoyer_per_image),
        cell(c.kurtosis),
        cell(c.converged_fraction),
        format!("{:.2e}", c.max_relative_gap),
    ]);
    t
}

fn reference_table(r: &StudyResults) -> Table {
    let mut t = Table::new(&[
        "bank",
        "filters",
        "matched_similarity_to_dictionary",
        "null_mean",
        "gabor_r2_median",
        "gabor_r2_ge_0.7",
        "energy80_area_median",
        "filter_hoyer",
        "filter_kurtosis",
    ]);
    for (name, b) in &r.references {
        t.push(vec![
            (*name).into(),
            b.filters.len().to_string(),
            cell(b.matched_similarity),
            cell(b.null_mean),
            cell(b.r2_median),
            cell(b.r2_good_fraction),
            cell(b.energy80_median),
            cell(b.filter_hoyer),
            cell(b.filter_kurtosis),
        ]);
    }
    t
}

fn accuracy_table(r: &StudyResults) -> Table {
    let mut t = Table::new(&[
        "run",
        "variant",
        "first_layer",
        "seed",
        "epochs",
        "train_accuracy",
        "test_accuracy",
        "test_loss",
    ]);
    for rec in &r.runs {
        let (m, _) = rec.last();
        t.push(vec![
            rec.run.name(),
            rec.run.variant.name.into(),
            rec.run.variant.first_layer.name().into(),
            rec.run.seed.to_string(),
            m.epoch.to_string(),
            cell(m.train_accuracy),
            cell(m.test_accuracy),
            cell(m.test_loss),
        ]);
    }
    t
}

/// Final test accuracies per variant: mean, sample sd, min, max over its seeds.
fn accuracy_summary(r: &StudyResults) -> Table {
    let mut t = Table::new(&[
        "variant",
        "first_layer",
        "runs",
        "mean_test_accuracy",
        "sd",
        "min",
        "max",
    ]);
    let mut seen: Vec<&str> = Vec::new();
    for rec in &r.runs {
        let name = rec.run.variant.name;
        if seen.contains(&name) {
            continue;
        }
        seen.push(name);
        let acc: Vec<f64> = r
            .runs
            .iter()
            .filter(|o| o.run.variant.name == name)
            .map(|o| o.last().0.test_accuracy)
            .collect();
        let s = summarise(&acc);
        let (lo, hi) = acc
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        t.push(vec![
            name.into(),
            rec.run.variant.first_layer.name().into(),
            acc.len().to_string(),
            cell(s.mean),
            cell(s.sd),
            cell(lo),
            cell(hi),
        ]);
    }
    t
}

fn gabor_row(bank: &str, m: &FilterMeasures) -> Vec<String> {
    let g = m.gabor;
    vec![
        bank.into(),
        m.filter.to_string(),
        cell(g.map_or(f64::NAN, |g| g.r2)),
        cell(g.map_or(f64::NAN, |g| g.params.theta.to_degrees())),
        cell(g.map_or(f64::NAN, |g| g.params.frequency)),
        cell(g.map_or(f64::NAN, |g| g.nx())),
        cell(g.map_or(f64::NAN, |g| g.ny())),
        cell(m.energy80_area_fraction),
    ]
}

/// Banks whose per-filter Gabor parameters are tabulated: the references and the first
/// replicate of every learned-first-layer variant at its first and last epoch.
fn gabor_banks(r: &StudyResults) -> Vec<(String, &BankMeasures)> {
    let mut out: Vec<(String, &BankMeasures)> = r
        .references
        .iter()
        .map(|(n, b)| ((*n).to_string(), b))
        .collect();
    for rec in r.runs.iter().filter(|rec| rec.run.seed == r.config.seed) {
        if rec.run.variant.first_layer.frozen() {
            continue;
        }
        let last = rec.banks.len() - 1;
        out.push((format!("{} epoch 0", rec.run.name()), &rec.banks[0]));
        out.push((format!("{} epoch {last}", rec.run.name()), &rec.banks[last]));
    }
    out
}

fn gabor_table(r: &StudyResults) -> Table {
    let mut t = Table::new(&[
        "bank",
        "filter",
        "gabor_r2",
        "orientation_deg",
        "frequency_cycles_per_pixel",
        "nx",
        "ny",
        "energy80_area_fraction",
    ]);
    for (name, b) in gabor_banks(r) {
        for m in &b.filters {
            t.push(gabor_row(&name, m));
        }
    }
    t
}

fn conv2_table(r: &StudyResults) -> Table {
    let mut t = Table::new(&[
        "run",
        "unit",
        "response",
        "energy80_area_fraction",
        "peak_orientation_deg",
        "peak_frequency_cycles_per_pixel",
        "orientation_bandwidth_deg",
        "gabor_r2",
    ]);
    for (m, resp) in r.conv2.measures.iter().zip(&r.conv2.responses) {
        t.push(vec![
            r.conv2.run.clone(),
            m.filter.to_string(),
            cell(*resp as f64),
            cell(m.energy80_area_fraction),
            cell(m.peak_orientation.to_degrees()),
            cell(m.peak_frequency),
            cell(m.orientation_bandwidth_deg),
            cell(m.gabor.map_or(f64::NAN, |g| g.r2)),
        ]);
    }
    t
}

const CONV2_SUMMARY: &str = "conv2_summary.csv";

fn conv2_summary(r: &StudyResults) -> Table {
    let mut t = Table::new(&["run", "units", "measure", "median", "q25", "q75"]);
    let ms = &r.conv2.measures;
    let rows: [(&str, Vec<f64>); 4] = [
        (
            "energy80_area_fraction",
            ms.iter().map(|m| m.energy80_area_fraction).collect(),
        ),
        (
            "peak_frequency_cycles_per_pixel",
            ms.iter().map(|m| m.peak_frequency).collect(),
        ),
        (
            "orientation_bandwidth_deg",
            ms.iter().map(|m| m.orientation_bandwidth_deg).collect(),
        ),
        (
            "gabor_r2",
            ms.iter()
                .map(|m| m.gabor.map_or(f64::NAN, |g| g.r2))
                .collect(),
        ),
    ];
    for (name, v) in rows {
        let s = summarise(&v);
        t.push(vec![
            r.conv2.run.clone(),
            ms.len().to_string(),
            name.into(),
            cell(s.median),
            cell(s.q25),
            cell(s.q75),
        ]);
    }
    t
}

/// Every CSV of the study, by file name.
fn tables(r: &StudyResults) -> Vec<(&'static str, Table)> {
    vec![
        (layout::REFERENCE_BANKS, reference_table(r)),
        (layout::SIMILARITY, similarity_table(r)),
        (layout::SPARSITY, sparsity_table(r)),
        (layout::CODES, codes_table(r)),
        (layout::ACCURACY, accuracy_table(r)),
        (layout::ACCURACY_SUMMARY, accuracy_summary(r)),
        (layout::GABOR_PARAMETERS, gabor_table(r)),
        (layout::CONV2_UNITS, conv2_table(r)),
        (CONV2_SUMMARY, conv2_summary(r)),
    ]
}

/// The study's CSV file names, for output checks and tests.
pub fn table_names() -> [&'static str; 9] {
    [
        layout::REFERENCE_BANKS,
        layout::SIMILARITY,
        layout::SPARSITY,
        layout::CODES,
        layout::ACCURACY,
        layout::ACCURACY_SUMMARY,
        layout::GABOR_PARAMETERS,
        layout::CONV2_UNITS,
        CONV2_SUMMARY,
    ]
}

/// The study's figure file names.
pub fn figure_names() -> [&'static str; 8] {
    [
        layout::SIMILARITY_PNG,
        layout::SPARSITY_PNG,
        layout::FILTER_SPARSITY_PNG,
        layout::NXNY_PNG,
        layout::R2_PNG,
        layout::ORIENTATION_PNG,
        layout::FREQUENCY_PNG,
        layout::ACCURACY_PNG,
    ]
}

/// Runs drawn as curves: the first replicate of every variant whose first layer trains.
fn curve_runs(r: &StudyResults) -> Vec<&RunRecord> {
    r.runs
        .iter()
        .filter(|rec| rec.run.seed == r.config.seed && !rec.run.variant.first_layer.frozen())
        .collect()
}

fn epoch_range(r: &StudyResults) -> (f64, f64) {
    (0.0, r.config.epochs.max(1) as f64)
}

fn curve(rec: &RunRecord, f: impl Fn(usize) -> f64) -> Series<'_> {
    Series {
        label: rec.run.variant.name,
        points: (0..rec.banks.len()).map(|e| (e as f64, f(e))).collect(),
        joined: true,
        dashed: false,
    }
}

fn flat<'a>(label: &'a str, y: f64, x: (f64, f64)) -> Series<'a> {
    Series {
        label,
        points: vec![(x.0, y), (x.1, y)],
        joined: true,
        dashed: true,
    }
}

/// Upper end of an axis that starts at 0: the largest finite value plus 10%, at least `min`.
fn upper(values: impl Iterator<Item = f64>, min: f64) -> f64 {
    let top = values.filter(|v| v.is_finite()).fold(min, f64::max);
    top * 1.1
}

fn write_figures(out: &Path, r: &StudyResults) -> Result<()> {
    let png = |name: &str, img: image::RgbImage| {
        crate::viz::montage::write_png(&img, &out.join(name), true)
    };
    let runs = curve_runs(r);
    let x = epoch_range(r);
    let plain = runs.first().copied();
    let null = plain.map_or(f64::NAN, |p| {
        p.banks.last().map_or(f64::NAN, |b| b.null_mean)
    });
    let mut s: Vec<Series> = runs
        .iter()
        .map(|rec| curve(rec, |e| rec.banks[e].matched_similarity))
        .collect();
    s.push(flat("null (plain)", null, x));
    png(
        layout::SIMILARITY_PNG,
        series_plot(
            &s,
            x,
            (0.0, 1.0),
            "matched similarity to the dictionary",
            "epoch",
            "similarity",
        ),
    )?;
    let mut s: Vec<Series> = runs
        .iter()
        .map(|rec| curve(rec, |e| rec.metrics[e].conv1_zero_fraction))
        .collect();
    s.push(flat("dictionary codes", r.codes.zero_fraction, x));
    png(
        layout::SPARSITY_PNG,
        series_plot(
            &s,
            x,
            (0.0, 1.0),
            "conv1 activations: fraction of zeros",
            "epoch",
            "zero fraction",
        ),
    )?;
    let dict_hoyer = r
        .references
        .first()
        .map_or(f64::NAN, |(_, b)| b.filter_hoyer);
    let mut s: Vec<Series> = runs
        .iter()
        .map(|rec| curve(rec, |e| rec.banks[e].filter_hoyer))
        .collect();
    s.push(flat("dictionary atoms", dict_hoyer, x));
    png(
        layout::FILTER_SPARSITY_PNG,
        series_plot(
            &s,
            x,
            (0.0, 1.0),
            "conv1 weights: hoyer sparsity",
            "epoch",
            "hoyer",
        ),
    )?;
    let nxny = |b: &BankMeasures| -> Vec<(f64, f64)> {
        b.filters
            .iter()
            .filter_map(|m| m.gabor)
            .filter(|g| g.r2 >= GOOD_R2)
            .map(|g| (g.nx(), g.ny()))
            .collect()
    };
    let mut s = Vec::new();
    if let Some((_, d)) = r.references.first() {
        s.push(Series {
            label: "dictionary",
            points: nxny(d),
            joined: false,
            dashed: false,
        });
    }
    if let Some(p) = plain {
        s.push(Series {
            label: "cnn final (plain)",
            points: nxny(p.banks.last().expect("epoch 0")),
            joined: false,
            dashed: false,
        });
    }
    let points = s.iter().flat_map(|s| s.points.iter());
    let top = upper(points.flat_map(|p| [p.0, p.1]), 0.5).min(3.0);
    png(
        layout::NXNY_PNG,
        series_plot(
            &s,
            (0.0, top),
            (0.0, top),
            "gabor fits r2 >= 0.7",
            "nx",
            "ny",
        ),
    )?;
    let cdf = |label, values: Vec<f64>| {
        let mut v: Vec<f64> = values.into_iter().filter(|v| v.is_finite()).collect();
        v.sort_by(f64::total_cmp);
        let n = v.len().max(1) as f64;
        Series {
            label,
            points: v
                .iter()
                .enumerate()
                .map(|(i, &x)| (x, (i + 1) as f64 / n))
                .collect(),
            joined: true,
            dashed: false,
        }
    };
    let r2s = |b: &BankMeasures| -> Vec<f64> {
        b.filters
            .iter()
            .map(|m| m.gabor.map_or(f64::NAN, |g| g.r2))
            .collect()
    };
    let mut s: Vec<Series> = r.references.iter().map(|(n, b)| cdf(*n, r2s(b))).collect();
    if let Some(p) = plain {
        s.push(cdf("cnn epoch 0", r2s(&p.banks[0])));
        s.push(cdf("cnn final", r2s(p.banks.last().expect("epoch 0"))));
    }
    png(
        layout::R2_PNG,
        series_plot(
            &s,
            (0.0, 1.0),
            (0.0, 1.0),
            "gabor fit r2: cumulative fraction",
            "r2",
            "fraction",
        ),
    )?;
    let final_plain: Vec<&FilterMeasures> = plain
        .map(|p| p.banks.last().expect("epoch 0").filters.iter().collect())
        .unwrap_or_default();
    let good = |f: fn(&crate::analysis::gabor::GaborFit) -> f64| -> Vec<f64> {
        final_plain
            .iter()
            .filter_map(|m| m.gabor)
            .filter(|g| g.r2 >= GOOD_R2)
            .map(|g| f(&g))
            .collect()
    };
    let (img, _) = histogram(
        &good(|g| g.params.theta.to_degrees()),
        12,
        (0.0, 180.0),
        "cnn final orientations (r2 >= 0.7)",
        "degrees",
    );
    png(layout::ORIENTATION_PNG, img)?;
    let (img, _) = histogram(
        &good(|g| g.params.frequency),
        10,
        (0.0, 0.5),
        "cnn final frequencies (r2 >= 0.7)",
        "cycles per pixel",
    );
    png(layout::FREQUENCY_PNG, img)?;
    let mut names: Vec<&str> = Vec::new();
    for rec in &r.runs {
        if !names.contains(&rec.run.variant.name) {
            names.push(rec.run.variant.name);
        }
    }
    let replaced: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| {
            r.runs.iter().any(|rec| {
                rec.run.variant.name == *n
                    && rec.run.variant.question != "implicit sparsity"
                    && !rec.run.variant.colour
            })
        })
        .collect();
    let s: Vec<Series> = replaced
        .iter()
        .enumerate()
        .map(|(i, n)| Series {
            label: n,
            points: r
                .runs
                .iter()
                .filter(|rec| rec.run.variant.name == *n)
                .map(|rec| ((i + 1) as f64, rec.last().0.test_accuracy))
                .collect(),
            joined: false,
            dashed: false,
        })
        .collect();
    let top = upper(r.runs.iter().map(|rec| rec.last().0.test_accuracy), 0.1).min(1.0);
    png(
        layout::ACCURACY_PNG,
        series_plot(
            &s,
            (0.0, replaced.len() as f64 + 1.0),
            (0.0, top),
            "test accuracy per seed",
            "first layer condition",
            "accuracy",
        ),
    )?;
    Ok(())
}

/// A Markdown table of the rows of `csv` that `keep` accepts, with the named columns, cells
/// copied verbatim, under a line naming the source file.
fn markdown_table(
    out: &Path,
    csv_name: &str,
    columns: &[&str],
    keep: impl Fn(&csv::StringRecord, &csv::StringRecord) -> bool,
) -> Result<String> {
    let path = out.join(csv_name);
    let mut reader = csv::Reader::from_path(&path)
        .map_err(|e| Error::bad_input(&path, "csv", "unreadable", e.to_string()))?;
    let header = reader
        .headers()
        .map_err(|e| Error::bad_input(&path, "header", "unreadable", e.to_string()))?
        .clone();
    let index: Vec<usize> = columns
        .iter()
        .map(|c| {
            header.iter().position(|h| h == *c).ok_or_else(|| {
                Error::failed(
                    "writing the report",
                    format!("{csv_name} has no column {c}"),
                )
            })
        })
        .collect::<Result<_>>()?;
    let mut s = format!("Source: `{csv_name}`\n\n| {} |\n", columns.join(" | "));
    let _ = writeln!(s, "|{}", "---|".repeat(columns.len()));
    for rec in reader.records() {
        let rec = rec.map_err(|e| Error::bad_input(&path, "row", "unreadable", e.to_string()))?;
        if keep(&header, &rec) {
            let cells: Vec<&str> = index.iter().map(|&i| &rec[i]).collect();
            let _ = writeln!(s, "| {} |", cells.join(" | "));
        }
    }
    s.push('\n');
    Ok(s)
}

/// Field `name` of `rec` under `header`.
fn field<'a>(header: &csv::StringRecord, rec: &'a csv::StringRecord, name: &str) -> &'a str {
    header
        .iter()
        .position(|h| h == name)
        .map_or("", |i| &rec[i])
}

fn report_text(out: &Path, r: &StudyResults) -> Result<String> {
    let c = &r.config;
    let last = c.epochs.to_string();
    let first_seed = c.seed.to_string();
    let plain = format!("plain-s{}", c.seed);
    let mut s = String::new();
    let _ = writeln!(s, "# simplecell study report\n");
    let text = |v: &serde_json::Value, key: &str| {
        v.get(key).map_or(String::new(), |x| {
            x.as_str().map_or_else(|| x.to_string(), str::to_string)
        })
    };
    let seconds = |v: &serde_json::Value| v.get("seconds").and_then(|x| x.as_f64()).unwrap_or(0.0);
    let total: f64 = r.invocations.iter().map(seconds).sum();
    let _ = writeln!(
        s,
        "Made by the command line(s) below, as recorded in the sidecar ({} s of wall time in \
         all, on {} threads). Every parameter, seed and version is in `{}`; every table below is copied from the CSV \
         named above it, and every CSV was written by the last of these commands.\n",
        total.round(),
        rayon::current_num_threads(),
        layout::SIDECAR
    );
    for v in &r.invocations {
        let status = if v.get("finished").and_then(|f| f.as_bool()) == Some(true) {
            "finished"
        } else {
            "stopped before the end"
        };
        let _ = writeln!(
            s,
            "- `{}` ({} s, {status})",
            text(v, "command_line"),
            seconds(v).round()
        );
    }
    s.push('\n');
    let _ = writeln!(
        s,
        "CNN: the reference net (conv {k}x{k}, {f} filters -> ReLU -> max-pool -> conv 5x5, 64 -> \
         ReLU -> max-pool -> linear), {e} epochs of SGD (lr {lr}, momentum {m}, batch {b}) on \
         grayscale images unless the variant says otherwise. Reference: {f} dictionary atoms \
         of {k}x{k} whitened patches (lambda {l}), a Gabor bank and a random bank of the same \
         size and count.\n",
        k = c.kernel,
        f = c.filters,
        e = c.epochs,
        lr = c.lr,
        m = c.momentum,
        b = c.batch_size,
        l = c.lambda,
    );
    let _ = writeln!(s, "## 1. The unsupervised reference\n");
    let _ = writeln!(
        s,
        "![dictionary](reference/dictionary.png) ![gabor](reference/gabor.png) \
         ![random](reference/random.png)\n\nDictionary, Gabor bank, random bank. Each bank \
         against the dictionary (the dictionary's own row is the ceiling):\n"
    );
    s += &markdown_table(
        out,
        layout::REFERENCE_BANKS,
        &[
            "bank",
            "matched_similarity_to_dictionary",
            "null_mean",
            "gabor_r2_median",
            "gabor_r2_ge_0.7",
            "energy80_area_median",
        ],
        |_, _| true,
    )?;
    let _ = writeln!(s, "## 2. Similarity to the dictionary over training\n");
    let _ = writeln!(
        s,
        "Matched similarity is the mean, over an optimal one-to-one matching, of the largest \
         |cosine| over shifts; the null is the same score against phase-randomised copies of \
         the dictionary (same spectra, no localization); z = (matched - null) / sd. Epoch 0 \
         is the random initialisation (the control). First replicate of every variant whose \
         first layer trains, at epoch 0 and {last}:\n"
    );
    s += &markdown_table(
        out,
        layout::SIMILARITY,
        &[
            "run",
            "input",
            "epoch",
            "matched_similarity",
            "null_mean",
            "z",
            "gabor_r2_median",
            "gabor_r2_ge_0.7",
            "energy80_area_median",
            "orientation_kuiper_p",
            "frequency_ks_p",
            "nx_ks_p",
        ],
        |h, rec| {
            let epoch = field(h, rec, "epoch");
            field(h, rec, "seed") == first_seed
                && (epoch == "0" || epoch == last)
                && !field(h, rec, "variant").ends_with("-fixed")
        },
    )?;
    let _ = writeln!(
        s,
        "![similarity](similarity_curve.png) ![nx-ny](nx_ny.png)\n\n\
         ![r2](gabor_r2_hist.png) ![orientations](orientation_hist.png) \
         ![frequencies](frequency_hist.png)\n\n\
         First layer of `{plain}` at epoch 0 and at the end, and of the colour run at the end:\n\n\
         ![epoch 0](runs/{plain}/conv1_epoch_000.png) \
         ![final](runs/{plain}/conv1_epoch_{e:03}.png) \
         ![colour](runs/colour-s{seed}/conv1_epoch_{e:03}.png)\n\n\
         Per-filter Gabor parameters of these banks: `{gp}`.\n",
        e = c.epochs,
        seed = c.seed,
        gp = layout::GABOR_PARAMETERS,
    );
    let _ = writeln!(s, "## 3. Implicit sparsity\n");
    let _ = writeln!(
        s,
        "First-layer activations on {n} test images (fraction of zeros after the ReLU, \
         per-image Hoyer sparsity of the ReLU map, excess kurtosis of the pre-activations) \
         and the filters' own weights (mean Hoyer, mean excess kurtosis), at epoch 0 and \
         {last}:\n",
        n = c.activation_sample
    );
    s += &markdown_table(
        out,
        layout::SPARSITY,
        &[
            "run",
            "epoch",
            "test_accuracy",
            "activation_zero_fraction",
            "activation_hoyer",
            "preactivation_kurtosis",
            "filter_hoyer",
            "filter_kurtosis",
        ],
        |h, rec| {
            let epoch = field(h, rec, "epoch");
            field(h, rec, "seed") == first_seed
                && (epoch == "0" || epoch == last)
                && !field(h, rec, "variant").ends_with("-fixed")
        },
    )?;
    let _ = writeln!(
        s,
        "The dictionary's codes on the same test images (whitened as its training patches, \
         every {k}x{k} patch, exact lasso codes):\n",
        k = c.kernel
    );
    s += &markdown_table(
        out,
        layout::CODES,
        &[
            "images",
            "patches",
            "lambda",
            "code_zero_fraction",
            "code_hoyer",
            "code_kurtosis",
            "converged_fraction",
        ],
        |_, _| true,
    )?;
    let _ = writeln!(
        s,
        "![activation sparsity](sparsity_curve.png) ![filter sparsity](filter_sparsity_curve.png)\n"
    );
    let _ = writeln!(s, "## 4. Replacing the first layer\n");
    let _ = writeln!(
        s,
        "Final test accuracy over {n} seed(s) per condition; fixed banks keep their bytes \
         through training (only later layers learn):\n",
        n = c.seeds
    );
    s += &markdown_table(
        out,
        layout::ACCURACY_SUMMARY,
        &[
            "variant",
            "first_layer",
            "runs",
            "mean_test_accuracy",
            "sd",
            "min",
            "max",
        ],
        |_, _| true,
    )?;
    let _ = writeln!(s, "![accuracy](accuracy.png)\n");
    let _ = writeln!(s, "## 5. The next layer\n");
    let _ = writeln!(
        s,
        "Preferred inputs of the second convolution's units in `{run}` (gradient ascent on \
         the input from noise, {steps} steps, cropped to the receptive field), and the \
         medians of their measures (per unit in `{units}`):\n\n![conv2]({png})\n",
        run = r.conv2.run,
        steps = c.ascent_steps,
        units = layout::CONV2_UNITS,
        png = layout::CONV2_PNG,
    );
    s += &markdown_table(
        out,
        CONV2_SUMMARY,
        &["measure", "median", "q25", "q75"],
        |_, _| true,
    )?;
    let _ = writeln!(s, "## Files\n");
    for name in table_names() {
        let _ = writeln!(s, "- `{name}`");
    }
    let _ = writeln!(
        s,
        "- `runs/RUN/` (each CNN run: `metrics.csv`, `conv1_epoch_NNN.npy/.png/.json`, \
         `checkpoint.json`, `run.json`), `reference/` (patches' sidecar, dictionary run, banks)"
    );
    Ok(s)
}

/// Writes every table, figure and `report.md` into `out`.
pub fn write_all(out: &Path, r: &StudyResults) -> Result<()> {
    for (name, t) in tables(r) {
        t.write(&out.join(name), true)?;
    }
    write_figures(out, r)?;
    let text = report_text(out, r)?;
    atomic::write_bytes(&out.join(layout::REPORT), text.as_bytes(), true)
}
