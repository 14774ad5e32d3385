//! The study's dropout-as-ridge stage: dropout on a linear model's inputs is a ridge
//! penalty weighted by each feature's energy, shown numerically twice.
//!
//! (a) Linear regression on a seeded problem with features of unequal scale
//! ([`crate::analysis::ridge`]): SGD on the dropout loss for several rates, beside the
//! closed-form weighted ridge it should converge to and the plain ridge with the matched
//! weight, which it should not reach unless the features are standardised (the last row).
//! (b) Multinomial logistic regression on the penultimate features (the classifier's
//! input) of the first seed's finished plain CNN ([`crate::analysis::dropout_logistic`]):
//! dropout-trained weights beside the plain and the weighted L2 fits of the same weight
//! norm, by cosine and test accuracy. Both are seeded from the study's seed, so a
//! re-run writes the same `dropout_ridge.csv` and `dropout_logistic.csv`; the figure
//! `dropout_ridge.png` draws (a).

use super::layout;
use super::params::ValidStudyParams;
use super::plan::Run;
use super::training::Images;
use crate::analysis::dropout_logistic::{
    self, DropoutLogisticParams, Labelled, NormMatch, dropout_logistic, weight_cosine,
};
use crate::analysis::ridge::{DropoutSgdParams, compare, scaled_problem, standardised};
use crate::cnn::checkpoint::Checkpoint;
use crate::cnn::data::NetworkInputs;
use crate::cnn::penultimate::penultimate_features;
use crate::error::{Error, Result};
use crate::io::table::Table;
use crate::params::Params;
use crate::study::cell;
use crate::viz::plots::{Labels, Series, series_plot};
use std::path::Path;

/// Rates of the linear-regression table (the last is also run on standardised features).
pub const LINEAR_RATES: [f64; 4] = [0.1, 0.2, 0.3, 0.5];
/// Column scales of the linear problem: a factor 8 between the smallest and the largest,
/// so the weighted and the plain penalties differ by up to 64x per coefficient.
pub const SCALES: [f64; 4] = [0.5, 1.0, 2.0, 4.0];
/// Rows and noise of the linear problem.
const ROWS: usize = 2000;
const NOISE: f64 = 0.5;
/// Rates of the logistic comparison.
pub const LOGISTIC_RATES: [f64; 2] = [0.2, 0.5];
/// Training images of the logistic comparison: the first ones of the study's training set.
/// The L2 fits on the CNN's 4,096 penultimate features dominate the stage's cost (a norm
/// match takes 7-9 L-BFGS fits), and 5,000 rows keep the stage to a few minutes.
pub const LOGISTIC_TRAIN_IMAGES: usize = 5000;
/// SGD passes of the dropout logistic fits.
pub const LOGISTIC_EPOCHS: usize = 40;

/// What the stage did, for the report.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DropoutRidgeOutcome {
    /// Why the logistic comparison was not run (no finished plain run, or a failure).
    pub logistic_skipped: Option<String>,
    pub seconds: f64,
}

/// Runs both parts and writes their CSVs and the figure into `out`. `plain` is the first
/// seed's plain run when it has finished (else the logistic part is skipped, saying why).
pub fn run(
    out: &Path,
    c: &ValidStudyParams,
    plain: Option<&Run>,
    images: &mut Images,
) -> Result<DropoutRidgeOutcome> {
    let started = std::time::Instant::now();
    linear(out, c.seed)?;
    let logistic_skipped = match plain {
        None => Some("the first seed's plain run has not finished".to_string()),
        Some(run) => match logistic(out, c, run, images) {
            Ok(()) => None,
            // A norm match that does not close is a finding to report, not a reason to
            // lose the study's report.
            Err(Error::Failed { context, reason }) => Some(format!("{context}: {reason}")),
            Err(e) => return Err(e),
        },
    };
    if logistic_skipped.is_some() {
        // No stale table from an earlier invocation beside the reason.
        crate::io::atomic::remove_outputs(&[out.join(layout::DROPOUT_LOGISTIC)])?;
    }
    Ok(DropoutRidgeOutcome {
        logistic_skipped,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The coefficients as one cell, space-separated.
fn vector_cell(v: &[f64]) -> String {
    v.iter().map(|&x| cell(x)).collect::<Vec<_>>().join(" ")
}

/// Part (a): `dropout_ridge.csv` and `dropout_ridge.png`.
fn linear(out: &Path, seed: u64) -> Result<()> {
    let (x, y, _) = scaled_problem(ROWS, &SCALES, NOISE, seed);
    let z = standardised(&x);
    let mut t = Table::new(&[
        "features",
        "rate",
        "penalty_weight",
        "plain_lambda",
        "distance_to_weighted",
        "distance_to_plain",
        "weighted_vs_plain",
        "sgd",
        "weighted_ridge",
        "plain_ridge",
    ]);
    let cases = LINEAR_RATES
        .iter()
        .map(|&p| ("unequal scales", &x, p))
        .chain([("standardised", &z, 0.5)]);
    let mut points: Vec<(&str, f64, f64, f64)> = Vec::new();
    for (i, (name, x, rate)) in cases.enumerate() {
        let params = DropoutSgdParams {
            seed: seed.wrapping_add(i as u64),
            ..DropoutSgdParams::new(rate)
        };
        let r = compare(x, &y, &params)?;
        let norm = |v: &[f64]| v.iter().map(|a| a * a).sum::<f64>().sqrt();
        let gap: Vec<f64> = r
            .plain_ridge
            .iter()
            .zip(&r.weighted_ridge)
            .map(|(a, b)| a - b)
            .collect();
        t.push(vec![
            name.to_string(),
            format!("{rate}"),
            cell(rate / (1.0 - rate)),
            cell(r.plain_lambda),
            format!("{:.6}", r.distance_to_weighted),
            format!("{:.6}", r.distance_to_plain),
            format!("{:.6}", norm(&gap) / norm(&r.weighted_ridge)),
            vector_cell(&r.sgd),
            vector_cell(&r.weighted_ridge),
            vector_cell(&r.plain_ridge),
        ]);
        points.push((name, rate, r.distance_to_weighted, r.distance_to_plain));
    }
    t.write(&out.join(layout::DROPOUT_RIDGE), true)?;
    figure(out, &points)
}

/// log10 of the two distances against the rate: unequal scales joined, standardised as
/// single marks.
fn figure(out: &Path, points: &[(&str, f64, f64, f64)]) -> Result<()> {
    let pick = |name: &str, which: fn(&(&str, f64, f64, f64)) -> f64| -> Vec<(f64, f64)> {
        points
            .iter()
            .filter(|p| p.0 == name)
            .map(|p| (p.1, which(p).log10()))
            .collect()
    };
    let series = [
        Series {
            label: "to the weighted ridge",
            points: pick("unequal scales", |p| p.2),
            joined: true,
            dashed: false,
        },
        Series {
            label: "to the plain ridge",
            points: pick("unequal scales", |p| p.3),
            joined: true,
            dashed: false,
        },
        Series {
            label: "standardised: to the weighted ridge",
            points: pick("standardised", |p| p.2),
            joined: false,
            dashed: false,
        },
        Series {
            label: "standardised: to the plain ridge (the ridges coincide)",
            points: pick("standardised", |p| p.3),
            joined: false,
            dashed: false,
        },
    ];
    let ys = points.iter().flat_map(|p| [p.2.log10(), p.3.log10()]);
    let (lo, hi) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    let img = series_plot(
        &series,
        (0.0, 0.6),
        ((lo - 0.3).floor(), (hi + 0.3).ceil()),
        &Labels {
            title: "dropout SGD on linear regression: distance to the two ridge predictions",
            x: "dropout rate p",
            y: "log10 relative distance ||b_sgd - b|| / ||b||",
            empty: "no dropout fit: nothing to plot",
        },
    )?;
    crate::viz::montage::write_png(&img, &out.join(layout::DROPOUT_RIDGE_PNG), true)
}

/// Part (b): `dropout_logistic.csv`.
fn logistic(out: &Path, c: &ValidStudyParams, run: &Run, images: &mut Images) -> Result<()> {
    let (ck, net) = Checkpoint::read(&run.dir(out))?;
    let data = images.for_run(c, run)?;
    let features = |set, images| {
        let inputs = NetworkInputs::new(set, &ck.standardiser, ck.input_whitening.as_ref());
        penultimate_features(&net, &inputs, images)
    };
    let train = features(&data.train, LOGISTIC_TRAIN_IMAGES)?;
    let rows = train.rows();
    let test = features(&data.test, usize::MAX)?;
    let classes = net.spec.outputs();
    let train_set = Labelled {
        x: &train.values,
        labels: &data.train.labels[..rows],
        features: train.features,
        classes,
    };
    let test_set = Labelled {
        x: &test.values,
        labels: &data.test.labels[..test.rows()],
        features: test.features,
        classes,
    };
    let mut t = Table::new(&[
        "run",
        "train_images",
        "test_images",
        "features",
        "rate",
        "epochs",
        "dropout_norm",
        "seed_to_seed_cosine",
        "plain_lambda",
        "plain_norm_ratio",
        "cosine_plain",
        "weighted_lambda",
        "weighted_norm_ratio",
        "cosine_weighted",
        "accuracy_dropout",
        "accuracy_plain",
        "accuracy_weighted",
        "l2_fits",
        "fits_converged",
    ]);
    for &rate in &LOGISTIC_RATES {
        crate::study::run::stop_if_asked(out)?;
        let params = |seed| {
            DropoutLogisticParams {
                rate,
                epochs: LOGISTIC_EPOCHS,
                seed,
                ..DropoutLogisticParams::default()
            }
            .check()
        };
        let a = dropout_logistic(train_set, &params(c.seed)?)?;
        let r =
            dropout_logistic::compare_model(train_set, test_set, &a, rate, &NormMatch::default())?;
        // The SGD's own noise floor: the cosine of two dropout fits that differ only in
        // their masks and row orders.
        let b = dropout_logistic(train_set, &params(c.seed.wrapping_add(1))?)?;
        t.push(vec![
            run.name(),
            rows.to_string(),
            test.rows().to_string(),
            train.features.to_string(),
            format!("{rate}"),
            LOGISTIC_EPOCHS.to_string(),
            cell(r.dropout_norm),
            cell(weight_cosine(&a, &b)),
            format!("{:.4e}", r.plain_lambda),
            cell(r.plain_norm_ratio),
            cell(r.cosine_plain),
            format!("{:.4e}", r.weighted_lambda),
            cell(r.weighted_norm_ratio),
            cell(r.cosine_weighted),
            cell(r.accuracy_dropout),
            cell(r.accuracy_plain),
            cell(r.accuracy_weighted),
            r.fits.to_string(),
            r.fits_converged.to_string(),
        ]);
    }
    t.write(&out.join(layout::DROPOUT_LOGISTIC), true)
}
