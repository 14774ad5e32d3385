//! The whole `features` job as one library call, [`run`]: random training windows ->
//! normalisation and ZCA -> a dictionary (k-means, sparse coding, random patches, or a given
//! bank) -> every training image encoded and pooled -> features standardised -> the L2
//! weight chosen on a held-out split of the training images -> refit on all of them ->
//! learning curve -> test images encoded in chunks and scored. It returns a [`FeaturesRun`]
//! holding every number; [`super::output::write`] turns it into files.
//!
//! Memory: the training features are the one large array (images x 4 x (K or 2K) float32:
//! 2.6 GB for 50,000 images at K = 1600 with the soft threshold); test images are encoded
//! and scored a chunk at a time and never held whole. Every random choice comes from the
//! seed, so a run is reproducible; the thread count changes the speed, not the numbers.

use super::classifier::{Accuracy, FitReport, FitSettings, LinearModel, argmax_rows, fit};
use super::encode::{EncodeStats, Encoder};
use super::params::{BankSpace, DictionaryKind, EncoderKind, ValidFeaturesParams};
use super::whiten::{Whitening, normalize_rows, sample_windows};
use crate::dictionary::data::rng_for;
use crate::dictionary::kmeans::{KMeansParams, KMeansVariant, kmeans};
use crate::dictionary::{LearnParams, Learner, StopRule, normalize_columns};
use crate::error::{Error, Result};
use crate::io::labelled::LabelledImages;
use crate::observer::Progress;
use crate::patches::PatchSource;
use nalgebra::DMatrix;
use rand::seq::SliceRandom;
use rayon::prelude::*;
use serde::Serialize;
use std::time::Instant;

/// Seed streams, so every use of the seed draws independent numbers.
const STREAM_WINDOWS: u64 = (1 << 61) + 1;
const STREAM_ORDER: u64 = (1 << 61) + 2;
const STREAM_RANDOM_PATCHES: u64 = (1 << 61) + 3;

/// Added to each feature's variance before dividing by the standard deviation, as in the
/// paper's code: a feature that never fires stays at zero instead of dividing by zero.
pub const STANDARDISATION_OFFSET: f64 = 0.01;

/// Test images encoded and scored per chunk (bounds the memory the test set costs).
const TEST_CHUNK: usize = 1000;

/// A bank supplied by the caller instead of learned: dim x K, atom k in column k, each
/// atom's values in (channel, row, column) order.
#[derive(Debug, Clone)]
pub struct GivenBank {
    pub bank: DMatrix<f32>,
    /// What to call it in reports (a file name, say).
    pub name: String,
}

/// One candidate L2 weight on the held-out split.
#[derive(Debug, Clone, Serialize)]
pub struct SelectionRow {
    pub lambda: f64,
    pub train_accuracy: f64,
    pub validation_accuracy: f64,
    pub fit: FitReport,
}

/// One point of the learning curve: a classifier on the first `size` images of the fixed
/// training order, its L2 weight chosen on a fifth of them held out, then refit on all.
#[derive(Debug, Clone, Serialize)]
pub struct CurvePoint {
    pub size: usize,
    pub lambda: f64,
    pub validation_accuracy: f64,
    pub train_accuracy: f64,
    pub test: Accuracy,
    pub fit: FitReport,
}

/// Everything a run produced.
#[derive(Debug, Clone, Serialize)]
pub struct FeaturesRun {
    pub params: ValidFeaturesParams,
    pub class_names: Vec<String>,
    pub train_images: usize,
    pub test_images: usize,
    pub image_side: usize,
    pub channels: usize,
    #[serde(skip)]
    pub whitening: Whitening,
    /// The bank as the encoder used it (dim x K).
    #[serde(skip)]
    pub bank: DMatrix<f32>,
    pub bank_name: String,
    /// How the dictionary was made (k-means history, learner history, ...).
    pub dictionary_report: serde_json::Value,
    pub feature_len: usize,
    #[serde(skip)]
    pub feature_mean: Vec<f32>,
    #[serde(skip)]
    pub feature_std: Vec<f32>,
    pub validation_images: usize,
    pub selection: Vec<SelectionRow>,
    pub chosen_lambda: f64,
    #[serde(skip)]
    pub model: LinearModel,
    pub final_fit: FitReport,
    pub train: Accuracy,
    pub validation: Accuracy,
    pub test: Accuracy,
    pub learning_curve: Vec<CurvePoint>,
    pub encode_train: EncodeStats,
    pub encode_test: EncodeStats,
    /// Wall-clock seconds per stage, in order.
    pub timings: Vec<(String, f64)>,
    /// The process's peak resident memory at the end, where the OS reports it.
    pub peak_resident_bytes: Option<u64>,
}

/// Runs the job on `train` and `test` images (square, same size and channels) with a
/// checked `params` and, when `params.dictionary` is `Given`, the bank `given`.
pub fn run(
    params: &ValidFeaturesParams,
    train: &LabelledImages,
    test: &LabelledImages,
    given: Option<&GivenBank>,
    progress: &dyn Progress,
) -> Result<FeaturesRun> {
    let mut timings: Vec<(String, f64)> = Vec::new();
    let mut clock = Instant::now();
    let mut lap = |name: &str, timings: &mut Vec<(String, f64)>| {
        timings.push((name.to_string(), clock.elapsed().as_secs_f64()));
        clock = Instant::now();
    };
    check_data(params, train, test)?;
    let (side, channels) = (train.width, train.channels);
    let dim = channels * params.patch_size * params.patch_size;
    let classes = train.class_names.len();
    let given = match (params.dictionary, given) {
        (DictionaryKind::Given, Some(g)) => {
            if g.bank.nrows() != dim {
                return Err(Error::param(
                    "bank",
                    format!("{} values per atom", g.bank.nrows()),
                    format!(
                        "must be {dim} ({channels} channels x {0} x {0} windows)",
                        params.patch_size
                    ),
                ));
            }
            Some(g)
        }
        (DictionaryKind::Given, None) => {
            return Err(Error::param("dictionary", "given", "no bank was supplied"));
        }
        (_, _) => None,
    };

    // Whitening, from random training windows.
    progress.start("sample windows", None);
    let mut rng = rng_for(params.seed, STREAM_WINDOWS);
    let mut windows = sample_windows(train, params.patches, params.patch_size, &mut rng);
    normalize_rows(&mut windows, dim, params.normalization_offset);
    progress.finish(&format!("{} windows of {dim} values", params.patches));
    lap("sample_windows", &mut timings);
    progress.start("whitening", None);
    let whitening = Whitening::estimate(&windows, dim, params.zca_epsilon as f64)?;
    progress.finish("ZCA estimated");
    lap("whitening", &mut timings);

    // The dictionary.
    let (mut bank, dictionary_report, bank_name) = match given {
        Some(g) => (
            g.bank.clone(),
            serde_json::json!({"source": g.name}),
            g.name.clone(),
        ),
        None => {
            let white = whitening.apply(&windows);
            drop(windows);
            let (bank, report) = learn_dictionary(params, white, dim, progress)?;
            (bank, report, params.dictionary.name().to_string())
        }
    };
    if params.encoder != EncoderKind::Triangle {
        // The threshold and the lasso penalty are in units of unit-norm atoms.
        normalize_columns(&mut bank);
    }
    lap("dictionary", &mut timings);
    let space = match (params.dictionary, params.bank_space) {
        (DictionaryKind::Given, BankSpace::Normalized) => Whitening::identity(dim),
        _ => whitening.clone(),
    };
    let encoder = Encoder::new(&bank, &space, channels, params);
    let f = encoder.feature_len();

    // Training features, in a seeded order: the held-out split is the last rows and each
    // learning-curve subset a prefix, so no subset is ever copied.
    let n = train.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rng_for(params.seed, STREAM_ORDER));
    let labels: Vec<u16> = order.iter().map(|&i| train.labels[i]).collect();
    let mut x = vec![0f32; n * f];
    progress.start("encode training images", Some(n as u64));
    let encode_train =
        encoder.encode_into(train, &order, params.encode_batch, &mut x, &|done| {
            progress.advance(done as u64, "")
        })?;
    progress.finish(&format!(
        "{n} images -> {f} features, encoder GEMM {:.1} GFLOP/s per thread",
        encode_train.gemm_flops / encode_train.gemm_thread_seconds.max(1e-9) * 1e-9
    ));
    lap("encode_train", &mut timings);
    let (feature_mean, feature_std) = standardise(&mut x, f);
    lap("standardise", &mut timings);

    // The L2 weight, on a held-out split of the training images.
    let validation_images = if n >= 5 * params.validation {
        params.validation
    } else {
        (n / 5).max(1)
    };
    let fit_rows = n - validation_images;
    if fit_rows == 0 {
        return Err(Error::param(
            "validation",
            validation_images,
            format!("leaves no training images out of {n}"),
        ));
    }
    progress.start("choose lambda", Some(params.lambdas.len() as u64));
    let (selection, held_out_model) =
        select_lambda(params, &x, &labels, f, classes, fit_rows, n, &|i, msg| {
            progress.advance(i as u64, msg)
        })?;
    let best = best_row(&selection);
    let chosen_lambda = selection[best].lambda;
    let validation = Accuracy::of(
        &held_out_model[best].predict(&x[fit_rows * f..]),
        &labels[fit_rows..],
        classes,
    );
    progress.finish(&format!(
        "lambda {chosen_lambda:e}: held-out accuracy {:.4}",
        validation.value()
    ));
    lap("choose_lambda", &mut timings);
    progress.start("refit on all training images", None);
    let settings = fit_settings(params, chosen_lambda);
    let (model, final_fit) = fit(
        &x,
        &labels,
        f,
        classes,
        settings,
        Some(&held_out_model[best]),
    )?;
    let train_accuracy = Accuracy::of(&model.predict(&x), &labels, classes);
    progress.finish(&format!(
        "{} L-BFGS iterations, training accuracy {:.4}",
        final_fit.iterations,
        train_accuracy.value()
    ));
    drop(held_out_model);
    lap("refit", &mut timings);

    // Learning curve on prefixes of the training order.
    let mut sizes: Vec<usize> = params.learning_curve.iter().map(|&s| s.min(n)).collect();
    sizes.sort_unstable();
    sizes.dedup();
    let mut curve_models: Vec<(usize, f64, f64, f64, LinearModel, FitReport)> = Vec::new();
    progress.start("learning curve", Some(sizes.len() as u64));
    for (i, &size) in sizes.iter().enumerate() {
        if size == n {
            curve_models.push((
                size,
                chosen_lambda,
                validation.value(),
                train_accuracy.value(),
                model.clone(),
                final_fit.clone(),
            ));
            continue;
        }
        let held = (size / 5).max(1);
        let (rows, models) = select_lambda(
            params,
            &x[..size * f],
            &labels[..size],
            f,
            classes,
            size - held,
            size,
            &|_, _| {},
        )?;
        let b = best_row(&rows);
        let (m, report) = fit(
            &x[..size * f],
            &labels[..size],
            f,
            classes,
            fit_settings(params, rows[b].lambda),
            Some(&models[b]),
        )?;
        let acc = Accuracy::of(&m.predict(&x[..size * f]), &labels[..size], classes).value();
        curve_models.push((
            size,
            rows[b].lambda,
            rows[b].validation_accuracy,
            acc,
            m,
            report,
        ));
        progress.advance(i as u64 + 1, &format!("{size} images"));
    }
    progress.finish("learning curve fitted");
    lap("learning_curve", &mut timings);
    drop(x);

    // Test images, a chunk at a time.
    let mut test_accuracy = Accuracy::new(classes);
    let mut curve_test: Vec<Accuracy> = curve_models
        .iter()
        .map(|_| Accuracy::new(classes))
        .collect();
    let mut encode_test = EncodeStats::default();
    let mut chunk = Vec::new();
    progress.start("encode and score test images", Some(test.len() as u64));
    let test_order: Vec<usize> = (0..test.len()).collect();
    for ids in test_order.chunks(TEST_CHUNK) {
        chunk.resize(ids.len() * f, 0.0);
        let stats = encoder.encode_into(test, ids, params.encode_batch, &mut chunk, &|_| {})?;
        accumulate_stats(&mut encode_test, &stats);
        apply_standardisation(&mut chunk, &feature_mean, &feature_std);
        let y: Vec<u16> = ids.iter().map(|&i| test.labels[i]).collect();
        test_accuracy.add(&argmax_rows(&model.scores(&chunk), classes), &y);
        for ((.., m, _), acc) in curve_models.iter().zip(curve_test.iter_mut()) {
            acc.add(&m.predict(&chunk), &y);
        }
        progress.advance((ids[0] + ids.len()) as u64, "");
    }
    progress.finish(&format!("test accuracy {:.4}", test_accuracy.value()));
    lap("test", &mut timings);

    let learning_curve = curve_models
        .into_iter()
        .zip(curve_test)
        .map(|((size, lambda, val, tr, _, fit), test)| CurvePoint {
            size,
            lambda,
            validation_accuracy: val,
            train_accuracy: tr,
            test,
            fit,
        })
        .collect();
    Ok(FeaturesRun {
        params: params.clone(),
        class_names: train.class_names.clone(),
        train_images: n,
        test_images: test.len(),
        image_side: side,
        channels,
        whitening,
        bank,
        bank_name,
        dictionary_report,
        feature_len: f,
        feature_mean,
        feature_std,
        validation_images,
        selection,
        chosen_lambda,
        model,
        final_fit,
        train: train_accuracy,
        validation,
        test: test_accuracy,
        learning_curve,
        encode_train,
        encode_test,
        timings,
        peak_resident_bytes: peak_resident_bytes(),
    })
}

/// The images must be square, alike in size and channels, labelled within the class list,
/// and large enough for the window.
fn check_data(
    params: &ValidFeaturesParams,
    train: &LabelledImages,
    test: &LabelledImages,
) -> Result<()> {
    if train.is_empty() || test.is_empty() {
        return Err(Error::param(
            "data",
            "no images",
            "need training and test images",
        ));
    }
    if train.height != train.width
        || (test.height, test.width, test.channels) != (train.height, train.width, train.channels)
    {
        return Err(Error::param(
            "data",
            format!(
                "train {}x{}x{}, test {}x{}x{}",
                train.height, train.width, train.channels, test.height, test.width, test.channels
            ),
            "images must be square and train and test alike",
        ));
    }
    params.check_images(train.height, train.width)?;
    if train.class_names.len() < 2 {
        return Err(Error::param(
            "data",
            "one class",
            "a classifier needs 2 or more classes",
        ));
    }
    Ok(())
}

/// Learns the dictionary from the whitened windows (rows, `dim` columns).
fn learn_dictionary(
    params: &ValidFeaturesParams,
    white: Vec<f32>,
    dim: usize,
    progress: &dyn Progress,
) -> Result<(DMatrix<f32>, serde_json::Value)> {
    let k = params.atoms;
    match params.dictionary {
        DictionaryKind::Kmeans | DictionaryKind::KmeansEuclidean => {
            progress.start("k-means", None);
            let variant = if params.dictionary == DictionaryKind::Kmeans {
                KMeansVariant::Spherical
            } else {
                KMeansVariant::Euclidean
            };
            let kp = KMeansParams {
                clusters: k,
                iterations: params.kmeans_iterations,
                variant,
                seed: params.seed,
            };
            let (d, report) = kmeans(&white, dim, &kp)?;
            progress.finish(&format!(
                "{} iterations in {:.1} s",
                report.history.len(),
                report.seconds
            ));
            Ok((d, serde_json::to_value(report).unwrap_or_default()))
        }
        DictionaryKind::RandomPatches => {
            let n = white.len() / dim;
            let mut rng = rng_for(params.seed, STREAM_RANDOM_PATCHES);
            let picks = rand::seq::index::sample(&mut rng, n, k);
            let mut d = DMatrix::<f32>::zeros(dim, k);
            for (j, i) in picks.into_iter().enumerate() {
                d.column_mut(j)
                    .copy_from_slice(&white[i * dim..(i + 1) * dim]);
            }
            normalize_columns(&mut d);
            Ok((d, serde_json::json!({"patches_drawn_from": n})))
        }
        DictionaryKind::SparseCoding => {
            let n = white.len() / dim;
            let validation = (n / 10).min(1000);
            let mut config = LearnParams {
                atoms: k,
                lambda: params.sparse_coding_lambda,
                stop: StopRule::Epochs(params.sparse_coding_epochs),
                seed: params.seed,
                validation: Some(validation),
                ..LearnParams::default()
            };
            config.batch = config.batch.min(n - validation);
            let steps = config.total_steps(n - validation).unwrap_or(1);
            // About ten history rows: each codes the held-out windows exactly.
            config.validate_every = (steps / 10).max(1);
            let mut learner = Learner::new(&config.check()?, PatchSource::from_rows(dim, white))?;
            learner.run(progress)?;
            let history = serde_json::to_value(learner.history()).unwrap_or_default();
            Ok((
                learner.unit_dictionary(),
                serde_json::json!({"learn_config": learner.config(), "history": history}),
            ))
        }
        DictionaryKind::Given => unreachable!("a given bank is not learned"),
    }
}

/// Per-feature mean and `sqrt(variance + 0.01)` over the rows of `x` (`f` columns), then
/// `x` standardised in place. Sums in float64 over fixed row groups added in order.
fn standardise(x: &mut [f32], f: usize) -> (Vec<f32>, Vec<f32>) {
    let n = x.len() / f;
    const GROUP: usize = 1024;
    let sums: Vec<(Vec<f64>, Vec<f64>)> = x
        .par_chunks(GROUP * f)
        .map(|g| {
            let mut s = vec![0f64; f];
            let mut ss = vec![0f64; f];
            for row in g.chunks_exact(f) {
                for ((a, b), &v) in s.iter_mut().zip(ss.iter_mut()).zip(row) {
                    *a += v as f64;
                    *b += v as f64 * v as f64;
                }
            }
            (s, ss)
        })
        .collect();
    let mut s = vec![0f64; f];
    let mut ss = vec![0f64; f];
    for (a, b) in &sums {
        for j in 0..f {
            s[j] += a[j];
            ss[j] += b[j];
        }
    }
    let mean: Vec<f32> = s.iter().map(|&v| (v / n as f64) as f32).collect();
    let std: Vec<f32> = (0..f)
        .map(|j| {
            let m = s[j] / n as f64;
            // Sample variance (n - 1), as Matlab's `var` in the paper's code.
            let var = ((ss[j] - n as f64 * m * m) / (n.max(2) - 1) as f64).max(0.0);
            (var + STANDARDISATION_OFFSET).sqrt() as f32
        })
        .collect();
    apply_standardisation(x, &mean, &std);
    (mean, std)
}

/// `(x - mean) / std` for every row of `x`.
pub fn apply_standardisation(x: &mut [f32], mean: &[f32], std: &[f32]) {
    let inv: Vec<f32> = std.iter().map(|&s| 1.0 / s).collect();
    x.par_chunks_mut(mean.len()).for_each(|row| {
        for ((v, &m), &i) in row.iter_mut().zip(mean).zip(&inv) {
            *v = (*v - m) * i;
        }
    });
}

fn fit_settings(params: &ValidFeaturesParams, lambda: f64) -> FitSettings {
    FitSettings {
        kind: params.classifier,
        solver: params.solver,
        lambda,
        tol: params.tol,
        max_iter: params.max_iter,
    }
}

/// Fits every candidate lambda on rows `0..fit_rows` and scores rows `fit_rows..rows`,
/// largest lambda first, each warm-started from the one before (the weights grow as lambda
/// falls, so each start is close).
#[allow(clippy::too_many_arguments)]
fn select_lambda(
    params: &ValidFeaturesParams,
    x: &[f32],
    labels: &[u16],
    f: usize,
    classes: usize,
    fit_rows: usize,
    rows: usize,
    advance: &dyn Fn(usize, &str),
) -> Result<(Vec<SelectionRow>, Vec<LinearModel>)> {
    let mut lambdas = params.lambdas.clone();
    lambdas.sort_by(|a, b| b.total_cmp(a));
    lambdas.dedup();
    let (xt, yt) = (&x[..fit_rows * f], &labels[..fit_rows]);
    let (xv, yv) = (&x[fit_rows * f..rows * f], &labels[fit_rows..rows]);
    let mut out = Vec::new();
    let mut models: Vec<LinearModel> = Vec::new();
    for (i, &lambda) in lambdas.iter().enumerate() {
        advance(
            i,
            &format!("fitting lambda {lambda:e} on {fit_rows} images"),
        );
        let (model, report) = fit(
            xt,
            yt,
            f,
            classes,
            fit_settings(params, lambda),
            models.last(),
        )?;
        let train_accuracy = Accuracy::of(&model.predict(xt), yt, classes).value();
        let validation_accuracy = Accuracy::of(&model.predict(xv), yv, classes).value();
        advance(
            i + 1,
            &format!("lambda {lambda:e}: held-out {validation_accuracy:.4}"),
        );
        out.push(SelectionRow {
            lambda,
            train_accuracy,
            validation_accuracy,
            fit: report,
        });
        models.push(model);
    }
    Ok((out, models))
}

/// The row with the best held-out accuracy; ties go to the larger lambda (listed first).
fn best_row(rows: &[SelectionRow]) -> usize {
    let mut best = 0;
    for (i, r) in rows.iter().enumerate() {
        if r.validation_accuracy > rows[best].validation_accuracy {
            best = i;
        }
    }
    best
}

fn accumulate_stats(total: &mut EncodeStats, s: &EncodeStats) {
    // Window-weighted means of the lasso fractions.
    let (w0, w1) = (total.windows as f64, s.windows as f64);
    let mean = |a: f64, b: f64| {
        if w0 + w1 > 0.0 {
            (a * w0 + b * w1) / (w0 + w1)
        } else {
            0.0
        }
    };
    total.lasso_converged_fraction =
        mean(total.lasso_converged_fraction, s.lasso_converged_fraction);
    total.lasso_nonzero_fraction = mean(total.lasso_nonzero_fraction, s.lasso_nonzero_fraction);
    total.images += s.images;
    total.windows += s.windows;
    total.gemm_flops += s.gemm_flops;
    total.gemm_thread_seconds += s.gemm_thread_seconds;
    total.seconds += s.seconds;
    total.lasso_max_relative_gap = total.lasso_max_relative_gap.max(s.lasso_max_relative_gap);
}

/// Peak resident memory of this process (Linux `VmHWM`), if known.
pub fn peak_resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
