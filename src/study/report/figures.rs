//! The study's PNG figures: learning curves of the first layers against their references,
//! the Gabor-fit distributions of the plain run's first layer, and the accuracy of every
//! first-layer condition. Each figure is drawn from the same records as the CSV tables, so
//! a curve's points are numbers a table lists.

use super::{RunRecord, StudyResults};
use crate::analysis::measures::FilterMeasures;
use crate::error::Result;
use crate::study::layout;
use crate::study::measure::{BankMeasures, GOOD_R2};
use crate::viz::plots::{Series, histogram, series_plot};
use std::path::Path;

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

pub(super) fn write_figures(out: &Path, r: &StudyResults) -> Result<()> {
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
