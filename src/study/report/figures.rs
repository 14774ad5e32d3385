//! The study's PNG figures: learning curves of the first layers against their references,
//! the Gabor-fit distributions of the plain run's first layer, and the accuracy of every
//! first-layer condition. Each figure is drawn from the same records as the CSV tables, so
//! a curve's points are numbers a table lists.

use super::criteria::{self, Measure};
use super::{RunRecord, StudyResults};
use crate::analysis::measures::FilterMeasures;
use crate::error::Result;
use crate::study::layout;
use crate::study::measure::{BankMeasures, GOOD_R2};
use crate::viz::plots::{Category, Labels, Series, category_plot, histogram, series_plot};
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

/// Variants drawn as seed-mean curves: those that answer the questions' main contrasts
/// (all variants are in `seed_summary.csv`).
const CURVE_VARIANTS: [&str; 6] = [
    "plain",
    "random-labels",
    "whitened-input",
    "no-weight-decay",
    "batch-norm",
    "colour",
];

fn curve_variants(r: &StudyResults) -> Vec<&'static str> {
    CURVE_VARIANTS
        .into_iter()
        .filter(|v| !criteria::runs_of(r, v).is_empty())
        .collect()
}

/// `measure` of `variant` per epoch, mean over the seeds that logged the epoch.
fn variant_curve(r: &StudyResults, variant: &'static str, measure: Measure) -> Series<'static> {
    Series {
        label: variant,
        points: (0..=r.config.epochs)
            .map(|e| (e as f64, criteria::at(r, variant, e, measure).mean))
            .collect(),
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
    let no_runs = "no run with a trainable first layer: nothing to plot";
    let curves = curve_variants(r);
    let mean_curves =
        |m: Measure| -> Vec<Series> { curves.iter().map(|v| variant_curve(r, v, m)).collect() };
    let mut s = mean_curves(criteria::input_difference);
    s.push(flat("no excess over the null", 0.0, x));
    let top = upper(
        s.iter().flat_map(|c| c.points.iter().map(|p| p.1.abs())),
        0.05,
    );
    png(
        layout::DIFFERENCE_PNG,
        series_plot(
            &s,
            x,
            (-top.min(0.05), top),
            &Labels {
                title: "conv1 vs a dictionary of its own input: matched − null (same epoch)",
                x: "epoch",
                y: "matched − null similarity (mean over seeds)",
                empty: no_runs,
            },
        )?,
    )?;
    let mut s = mean_curves(criteria::gabor_share);
    let goal = if r.config.quick {
        criteria::SHARE_AT_END_QUICK
    } else {
        criteria::SHARE_AT_END_FULL
    };
    s.push(flat("criterion 1 goal", goal, x));
    png(
        layout::GABOR_SHARE_PNG,
        series_plot(
            &s,
            x,
            (0.0, 1.0),
            &Labels {
                title: "Share of conv1 filters with Gabor fit R² ≥ 0.7",
                x: "epoch",
                y: "share of filters (mean over seeds)",
                empty: no_runs,
            },
        )?,
    )?;
    let s = mean_curves(criteria::energy_vs_whitening);
    png(
        layout::ENERGY_PNG,
        series_plot(
            &s,
            x,
            (-1.0, 1.0),
            &Labels {
                title: "Energy profile: r(log filter power, log whitening spectrum)",
                x: "epoch",
                y: "correlation over radial frequency (mean over seeds)",
                empty: no_runs,
            },
        )?,
    )?;
    let zero_labels = [
        "plain: zeros as trained",
        "plain: same filters, biases 0",
        "plain: phase-randomised filters, same biases",
    ];
    let zero_measures: [Measure; 3] = [
        criteria::zeros_actual,
        criteria::zeros_zero_bias,
        criteria::zeros_phase_randomised,
    ];
    let s: Vec<Series> = zero_labels
        .iter()
        .zip(zero_measures)
        .map(|(label, m)| Series {
            label,
            ..variant_curve(r, "plain", m)
        })
        .collect();
    png(
        layout::ZEROS_PNG,
        series_plot(
            &s,
            x,
            (0.0, 1.0),
            &Labels {
                title: "Where conv1's activation zeros come from (plain)",
                x: "epoch",
                y: "fraction of zero activations (mean over seeds)",
                empty: "the plain run has not been measured: nothing to plot",
            },
        )?,
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
            &Labels {
                title: "conv1 activations: fraction of zeros",
                x: "epoch",
                y: "fraction of zero activations",
                empty: no_runs,
            },
        )?,
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
            &Labels {
                title: "conv1 weights: Hoyer sparsity",
                x: "epoch",
                y: "mean Hoyer sparsity (0 dense, 1 one weight)",
                empty: no_runs,
            },
        )?,
    )?;
    let nxny = |b: &BankMeasures| -> Vec<(f64, f64)> {
        b.filters
            .iter()
            .filter_map(|m| m.gabor)
            .filter(|g| g.r2 >= GOOD_R2)
            .map(|g| (g.nx(), g.ny()))
            .collect()
    };
    // Counts in the legend, so a series left out for lack of fits is accounted for in the
    // title's total.
    let dict_points = r.references.first().map(|(_, d)| nxny(d));
    let plain_points = plain.map(|p| nxny(p.banks.last().expect("epoch 0")));
    let dict_label = format!(
        "dictionary (n = {})",
        dict_points.as_ref().map_or(0, Vec::len)
    );
    let plain_label = format!(
        "conv1, plain, last epoch (n = {})",
        plain_points.as_ref().map_or(0, Vec::len)
    );
    let mut s = Vec::new();
    if let Some(points) = dict_points {
        s.push(Series {
            label: &dict_label,
            points,
            joined: false,
            dashed: false,
        });
    }
    if let Some(points) = plain_points {
        s.push(Series {
            label: &plain_label,
            points,
            joined: false,
            dashed: false,
        });
    }
    let points = s.iter().flat_map(|s| s.points.iter());
    let top = upper(points.flat_map(|p| [p.0, p.1]), 0.5).min(3.0);
    let nxny_title = format!(
        "Envelope shape of Gabor fits with R² ≥ {GOOD_R2} ({} dictionary, {} conv1)",
        s.first().map_or(0, |d| d.points.len()),
        s.get(1).map_or(0, |c| c.points.len())
    );
    let no_fits = format!(
        "neither the dictionary nor plain's last conv1 has a filter whose Gabor fit reaches \
         R² ≥ {GOOD_R2}: nothing to plot"
    );
    png(
        layout::NXNY_PNG,
        series_plot(
            &s,
            (0.0, top),
            (0.0, top),
            &Labels {
                title: &nxny_title,
                x: "nx = σx·f (cycles per σ, across the stripes)",
                y: "ny = σy·f (cycles per σ, along the stripes)",
                empty: &no_fits,
            },
        )?,
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
        s.push(cdf("conv1, plain, epoch 0", r2s(&p.banks[0])));
        s.push(cdf(
            "conv1, plain, last epoch",
            r2s(p.banks.last().expect("epoch 0")),
        ));
    }
    png(
        layout::R2_PNG,
        series_plot(
            &s,
            (0.0, 1.0),
            (0.0, 1.0),
            &Labels {
                title: "Gabor fit R²: cumulative distribution over filters",
                x: "R² of the filter's Gabor fit",
                y: "fraction of filters with R² ≤ x",
                empty: "no filter bank was fitted with Gabors: nothing to plot",
            },
        )?,
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
    let no_good = format!(
        "no conv1 filter of plain's last epoch fits a Gabor with R² ≥ {GOOD_R2}: nothing to plot"
    );
    let (img, _) = histogram(
        &good(|g| g.params.theta.to_degrees()),
        12,
        (0.0, 180.0),
        &Labels {
            title: &format!("Orientation of plain's last conv1 filters with R² ≥ {GOOD_R2}"),
            x: "orientation θ (degrees)",
            y: "filters (count)",
            empty: &no_good,
        },
    )?;
    png(layout::ORIENTATION_PNG, img)?;
    let (img, _) = histogram(
        &good(|g| g.params.frequency),
        10,
        (0.0, 0.5),
        &Labels {
            title: &format!("Frequency of plain's last conv1 filters with R² ≥ {GOOD_R2}"),
            x: "spatial frequency (cycles/pixel)",
            y: "filters (count)",
            empty: &no_good,
        },
    )?;
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
    let categories: Vec<Category> = replaced
        .iter()
        .map(|n| Category {
            label: n,
            values: r
                .runs
                .iter()
                .filter(|rec| rec.run.variant.name == *n)
                .map(|rec| rec.last().0.test_accuracy)
                .collect(),
        })
        .collect();
    png(
        layout::ACCURACY_PNG,
        category_plot(
            &categories,
            accuracy_range(categories.iter().flat_map(|c| c.values.iter().copied())),
            &Labels {
                title: "Test accuracy by first-layer condition (one dot per seed)",
                x: "test accuracy (fraction correct)",
                y: "first-layer condition",
                empty: "no run of a first-layer condition finished: nothing to plot",
            },
        )?,
    )?;
    png(layout::FRONT_ENDS_PNG, front_ends_figure(r)?)?;
    Ok(())
}

/// Test accuracy of every first layer through the feature pipeline, one row per bank and
/// space (a dot per CNN seed where there are several), under the CNNs trained end to end.
fn front_ends_figure(r: &StudyResults) -> Result<image::RgbImage> {
    let rows = super::front_end_rows(r);
    let label = |x: &super::FrontEndRecord| {
        if x.space == "-" {
            x.bank.clone()
        } else {
            format!("{}, {}", x.bank, x.space)
        }
    };
    let mut labels: Vec<String> = Vec::new();
    for x in &rows {
        if !labels.contains(&label(x)) {
            labels.push(label(x));
        }
    }
    let categories: Vec<Category> = labels
        .iter()
        .map(|l| Category {
            label: l,
            values: (rows.iter().filter(|x| &label(x) == l))
                .map(|x| x.test_accuracy)
                .collect(),
        })
        .collect();
    category_plot(
        &categories,
        accuracy_range(rows.iter().map(|x| x.test_accuracy)),
        &Labels {
            title: "First layers as unsupervised front ends: soft threshold, pooling, L2-SVM",
            x: "test accuracy (fraction correct)",
            y: "first layer, window space",
            empty: "no plain CNN run has finished: no front end was measured",
        },
    )
}

/// The accuracy axis: the values' span with a margin, widened to multiples of 0.05 within
/// [0, 1]. A dot plot reads positions, not lengths, so the axis need not start at 0, and
/// the 2-3 point gaps between conditions stay visible.
fn accuracy_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if lo > hi {
        return (0.0, 1.0);
    }
    let step = 0.05;
    (
        (((lo - 0.01) / step).floor() * step).max(0.0),
        (((hi + 0.01) / step).ceil() * step).min(1.0),
    )
}
