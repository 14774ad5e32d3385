//! `report.md`: the study's questions in order, each answered by rows copied verbatim from
//! the CSV tables (read back from disk, so the text cannot disagree with the files) plus
//! the figures, under a header that records the command lines and their wall time.

use super::{CONV2_SUMMARY, StudyResults, table_names};
use crate::error::{Error, Result};
use crate::study::layout;
use std::fmt::Write as _;
use std::path::Path;

/// A Markdown table of the rows of `csv` that `keep` accepts, with the named columns, cells
/// copied verbatim, under a line naming the source file.
fn markdown_table(
    out: &Path,
    csv_name: &str,
    columns: &[&str],
    keep: impl Fn(&csv::StringRecord, &csv::StringRecord) -> bool,
) -> Result<String> {
    let (header, records) = read_csv(out, csv_name)?;
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
    for rec in &records {
        if keep(&header, rec) {
            let cells: Vec<&str> = index.iter().map(|&i| &rec[i]).collect();
            let _ = writeln!(s, "| {} |", cells.join(" | "));
        }
    }
    s.push('\n');
    Ok(s)
}

/// The row filter of a table shown whole.
fn every_row(_: &csv::StringRecord, _: &csv::StringRecord) -> bool {
    true
}

/// Field `name` of `rec` under `header`.
fn field<'a>(header: &csv::StringRecord, rec: &'a csv::StringRecord, name: &str) -> &'a str {
    header
        .iter()
        .position(|h| h == name)
        .map_or("", |i| &rec[i])
}

pub(super) fn report_text(out: &Path, r: &StudyResults) -> Result<String> {
    let c = &r.config;
    let last = c.epochs.to_string();
    let first_seed = c.seed.to_string();
    // The learning curves' end points: epoch 0 and the last epoch of the first replicate of
    // every variant whose first layer trains.
    let ends_of_first_replicate = |h: &csv::StringRecord, rec: &csv::StringRecord| {
        let epoch = field(h, rec, "epoch");
        field(h, rec, "seed") == first_seed
            && (epoch == "0" || epoch == last)
            && !field(h, rec, "variant").ends_with("-fixed")
    };
    let plain = format!("plain-s{}", c.seed);
    let mut s = String::new();
    let _ = writeln!(s, "## How this report was made\n");
    let total: f64 = r.invocations.iter().map(|v| v.seconds).sum();
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
        let status = if v.finished {
            "finished"
        } else {
            "stopped before the end"
        };
        let _ = writeln!(
            s,
            "- `{}` ({} s, {status})",
            v.command_line,
            v.seconds.round()
        );
    }
    s.push('\n');
    let _ = writeln!(
        s,
        "CNN: the reference net (conv {k}x{k}, {f} filters -> ReLU -> max-pool -> conv 5x5, 64 -> \
         ReLU -> max-pool -> linear), conv1 initialised at He x {scale}, {e} epochs of SGD (lr \
         {lr}, cosine schedule, momentum {m}, weight decay {wd}, batch {b}, horizontal flips) \
         on {train} grayscale training images, tested on {test}, unless the variant says \
         otherwise. References: {ia} atoms learned from {k}x{k} patches of the CNN's own \
         standardised training images (the similarity reference); {f} atoms of {k}x{k} \
         whitened Kodak patches (lambda {l}; second reference and fixed first layer); a Gabor \
         bank and a random bank of {f} filters.\n",
        k = c.kernel,
        f = c.filters,
        e = c.epochs,
        lr = c.lr,
        m = c.momentum,
        b = c.batch_size,
        l = c.lambda,
        scale = c.conv1_init_scale,
        wd = c.weight_decay,
        ia = c.input_atoms,
        train = c.train_limit.map_or("all".to_string(), |n| n.to_string()),
        test = c
            .test_limit
            .map_or("all test images".to_string(), |n| format!(
                "{n} test images"
            )),
    );
    let _ = writeln!(s, "## 1. The unsupervised reference\n");
    let _ = writeln!(
        s,
        "![input dictionary](reference/input/dictionary.png) \
         ![kodak dictionary](reference/dictionary.png) ![gabor](reference/gabor.png) \
         ![random](reference/random.png)\n\nInput dictionary (learned from the CNN's own \
         standardised patches, mean removed), Kodak dictionary (whitened patches), Gabor \
         bank, random bank. Each bank against the input dictionary (its own row is the \
         ceiling):\n"
    );
    s += &markdown_table(
        out,
        layout::REFERENCE_BANKS,
        &[
            "bank",
            "matched_similarity_to_input_dictionary",
            "null_mean",
            "gabor_r2_median",
            "gabor_r2_ge_0.7",
            "energy80_area_median",
        ],
        every_row,
    )?;
    let _ = writeln!(s, "## 2. Similarity to the dictionary over training\n");
    let _ = writeln!(
        s,
        "Matched similarity (against the input dictionary) is the mean, over an optimal \
         one-to-one matching, of the largest |cosine| over shifts; the null is the same score \
         for phase-randomised surrogates at the same epoch (same spectra, no localization), so \
         matched − null is what the filters' spatial structure adds; `kodak_*` is the same \
         against the whitened Kodak dictionary. Epoch 0 is the initialisation (the control). \
         First replicate of every variant whose first layer trains, at epoch 0 and {last} \
         (every seed and epoch in `similarity.csv`; means and sds over seeds in \
         `seed_summary.csv`):\n"
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
            "matched_minus_null",
            "kodak_matched",
            "kodak_null",
            "gabor_r2_ge_0.7",
            "energy_vs_whitening_r",
            "selectivity_whitened",
            "orientation_kuiper_p",
            "frequency_ks_p",
        ],
        ends_of_first_replicate,
    )?;
    // The figures draw the main contrasts only; this table has every variant, so a reader
    // can compare dropout or a loss with the baseline without opening the CSV.
    let _ = writeln!(
        s,
        "Every variant at epoch {last}, mean and sd over the seeds that reached it (the whole \
         curve of each in `seed_summary.csv`; variants with a fixed first layer keep their \
         initial filters, so only their accuracy is theirs):\n"
    );
    s += &markdown_table(
        out,
        layout::SEED_SUMMARY,
        &[
            "variant",
            "seeds",
            "gabor_share_mean",
            "gabor_share_sd",
            "matched_minus_null_mean",
            "matched_minus_null_sd",
            "selectivity_whitened_mean",
            "selectivity_whitened_sd",
            "energy_vs_input_r_mean",
            "zero_fraction_mean",
            "test_accuracy_mean",
            "test_accuracy_sd",
            "diverged_runs",
        ],
        |h, rec| field(h, rec, "epoch") == last,
    )?;
    let _ = writeln!(
        s,
        "![matched minus null](matched_minus_null.png) ![nx-ny](nx_ny.png)\n\n\
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
        ends_of_first_replicate,
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
        every_row,
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
        every_row,
    )?;
    let _ = writeln!(s, "![accuracy](accuracy.png)\n");
    let _ = writeln!(s, "## 5. The next layer\n");
    match &r.conv2 {
        Some(conv2) => {
            let _ = writeln!(
                s,
                "Preferred inputs of the second convolution's units in `{run}` (gradient \
                 ascent on the input from noise, {steps} steps, cropped to the receptive \
                 field), and the medians of their measures (per unit in \
                 `{units}`):\n\n![conv2]({png})\n",
                run = conv2.run,
                steps = c.ascent_steps,
                units = layout::CONV2_UNITS,
                png = layout::CONV2_PNG,
            );
            s += &markdown_table(
                out,
                CONV2_SUMMARY,
                &["measure", "median", "q25", "q75"],
                every_row,
            )?;
            let _ = writeln!(
                s,
                "Orientation and frequency tuning to gratings (bandwidth table; every unit in \
                 `{}`), for each finished plain seed, trained and as initialised:\n",
                layout::TUNING
            );
            s += &markdown_table(
                out,
                layout::TUNING_SUMMARY,
                &[
                    "run",
                    "network",
                    "layer",
                    "units",
                    "median_orientation_selectivity",
                    "median_orientation_hwhh_deg",
                    "median_frequency_bandwidth_octaves",
                    "median_preferred_frequency",
                ],
                every_row,
            )?;
            let _ = writeln!(
                s,
                "The test images that most excite each unit (Zeiler & Fergus), one patch per \
                 image cropped to the unit's receptive field from the image as shown (grey \
                 outside it), and how alike each unit's patches are (mean pairwise \
                 correlation; random_mean_coherence is the same for patches at random places; \
                 every unit's images and positions in `{}`), for each finished plain seed, trained and as initialised; the first seed's montages, one row \
                 per unit, strongest first:\n",
                layout::TOP9
            );
            s += &markdown_table(
                out,
                layout::TOP9_SUMMARY,
                &[
                    "run",
                    "layer",
                    "network",
                    "images",
                    "receptive_field",
                    "units",
                    "mean_coherence",
                    "median_coherence",
                    "random_mean_coherence",
                    "units_firing_on_all",
                ],
                every_row,
            )?;
            let _ = writeln!(
                s,
                "![conv1 top 9]({}) ![conv1 top 9, epoch 0]({})\n\n\
                 ![conv2 top 9]({}) ![conv2 top 9, epoch 0]({})\n",
                layout::CONV1_TOP9_PNG,
                layout::CONV1_TOP9_INITIAL_PNG,
                layout::CONV2_TOP9_PNG,
                layout::CONV2_TOP9_INITIAL_PNG,
            );
        }
        None => {
            let _ = writeln!(
                s,
                "The plain run has not been trained yet: nothing to show.\n"
            );
        }
    }
    s += &front_ends_section(out, r)?;
    s += &dropout_ridge_section(out, r)?;
    s += &losses_section(out, r)?;
    let _ = writeln!(s, "## Files\n");
    for name in table_names() {
        let _ = writeln!(s, "- `{name}`");
    }
    let _ = writeln!(
        s,
        "- `{}`, `{}` (dropout as ridge)",
        layout::DROPOUT_RIDGE,
        layout::DROPOUT_LOGISTIC
    );
    let _ = writeln!(
        s,
        "- `{}`, `{}` (the losses), `{}/RUN/` (their `cnn train` runs)",
        layout::LOSSES_CSV,
        layout::LOSSES_SUMMARY,
        layout::LOSSES
    );
    let _ = writeln!(
        s,
        "- `runs/RUN/` (each CNN run: `metrics.csv`, `conv1_epoch_NNN.npy/.png/.json`, \
         `checkpoint.bin`, `run.json`), `reference/` (patches' sidecar, dictionary run, banks)"
    );
    Ok(s)
}

/// Section 6: every first layer through the same unsupervised feature pipeline, with the
/// mean test accuracy of each bank named in the text (from the same rows as the table).
fn front_ends_section(out: &Path, r: &StudyResults) -> Result<String> {
    let mut s = String::new();
    let _ = writeln!(s, "## 6. Every first layer as an unsupervised front end\n");
    let rows = super::front_end_rows(r);
    if rows.is_empty() {
        let _ = writeln!(
            s,
            "No plain run has finished yet: no first layer went through the pipeline.\n"
        );
        return Ok(s);
    }
    let _ = writeln!(
        s,
        "Each bank goes through one pipeline without labels until the classifier (Coates and \
         Ng, ICML 2011, as `simplecell features` runs it): every {k}x{k} window (the CNN's \
         kernel size) at stride 1 of the CNN's {n} grayscale training images, \
         contrast-normalised (`normalised`) and, for banks learned on whitened patches, \
         ZCA-whitened (`whitened`); the soft threshold `max(0, +-d.x - 0.25)` on unit-norm \
         atoms; sum pooling over the 4 quadrants; an L2-SVM on the standardised features, \
         its lambda chosen on a fifth of the training images held out. `k-means`, `random \
         patches` and `sparse coding` are learned by the pipeline with the CNN's filter \
         count; the `cnn end to end` rows are the CNNs trained with labels, for scale.\n",
        k = r.config.kernel,
        n = r
            .config
            .train_limit
            .map_or("training".into(), |n| n.to_string()),
    );
    let mean = |bank: &str, space: &str| {
        let v: Vec<f64> = (rows.iter())
            .filter(|x| x.bank == bank && x.space == space)
            .map(|x| x.test_accuracy)
            .collect();
        (v.iter().sum::<f64>() / v.len().max(1) as f64, v.len())
    };
    let mut parts = Vec::new();
    for (bank, space, name) in [
        (
            "cnn conv1 (trained)",
            "normalised",
            "the CNN's trained conv1",
        ),
        ("cnn conv1 (initial)", "normalised", "its initialisation"),
        ("gabor", "normalised", "the Gabor bank"),
        ("random", "normalised", "the random bank"),
        ("k-means", "whitened", "k-means"),
        ("sparse coding", "whitened", "sparse coding"),
        ("cnn end to end (plain)", "-", "the plain CNN end to end"),
    ] {
        let (m, count) = mean(bank, space);
        if count > 0 {
            let seeds = if count > 1 {
                format!(" (mean of {count} seeds)")
            } else {
                String::new()
            };
            parts.push(format!("{name} {}{seeds}", crate::study::cell(m)));
        }
    }
    let _ = writeln!(s, "Test accuracy: {}.\n", parts.join(", "));
    // A lambda at either end of the grid may not be the best one: say so for each such run.
    let grid = crate::study::front_ends::LAMBDAS;
    let at_edge: Vec<String> = (rows.iter())
        .filter(|x| x.lambda == grid[0] || x.lambda == grid[grid.len() - 1])
        .map(|x| format!("{} ({}, {:e})", x.bank, x.space, x.lambda))
        .collect();
    if !at_edge.is_empty() {
        let _ = writeln!(
            s,
            "The held-out split chose a lambda at an end of the grid {grid:?} for: {}; a \
             wider grid might raise those rows a little.\n",
            at_edge.join(", ")
        );
    }
    s += &markdown_table(
        out,
        layout::FRONT_ENDS_CSV,
        &[
            "bank",
            "seed",
            "space",
            "atoms",
            "features",
            "lambda",
            "validation_accuracy",
            "test_accuracy",
            "seconds",
        ],
        every_row,
    )?;
    let _ = writeln!(s, "![front ends]({})\n", layout::FRONT_ENDS_PNG);
    Ok(s)
}
/// Section 7: dropout as ridge, the linear table and the logistic comparison.
fn dropout_ridge_section(out: &Path, r: &StudyResults) -> Result<String> {
    use crate::study::dropout_ridge::{LOGISTIC_TRAIN_IMAGES, SCALES};
    let mut s = String::new();
    let _ = writeln!(s, "## 7. Dropout as ridge\n");
    let _ = writeln!(
        s,
        "Inverted dropout at rate p on a linear model's inputs adds, in expectation, \
         `p/(1-p) sum_j b_j^2 ||x_j||^2` to the squared error: a ridge weighted by each \
         feature's energy. SGD on the dropout loss (fresh masks, decaying step, iterate \
         averaging) on a seeded regression with column scales {SCALES:?}, beside the \
         closed form `(X^T X + p/(1-p) diag(X^T X))^-1 X^T y` (weighted ridge) and the plain \
         ridge with the matched weight `p/(1-p) mean_j ||x_j||^2` (relative distances; \
         `weighted_vs_plain` is the distance between the two predictions; coefficient \
         vectors in order of the scales):\n"
    );
    s += &markdown_table(
        out,
        layout::DROPOUT_RIDGE,
        &[
            "features",
            "rate",
            "penalty_weight",
            "distance_to_weighted",
            "distance_to_plain",
            "weighted_vs_plain",
            "sgd",
            "weighted_ridge",
            "plain_ridge",
        ],
        every_row,
    )?;
    let _ = writeln!(s, "![dropout as ridge]({})\n", layout::DROPOUT_RIDGE_PNG);
    let linear = csv_rows(out, layout::DROPOUT_RIDGE)?;
    let unequal: Vec<_> = linear
        .iter()
        .filter(|r| r["features"] == "unequal scales")
        .collect();
    let range = |rows: &[&std::collections::HashMap<String, String>], col: &str| {
        let v: Vec<f64> = rows.iter().filter_map(|r| r[col].parse().ok()).collect();
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        format!("{:.2}-{:.2}%", 100.0 * lo, 100.0 * hi)
    };
    let standard: Vec<_> = linear
        .iter()
        .filter(|r| r["features"] == "standardised")
        .collect();
    let _ = writeln!(
        s,
        "Reading: on unequal scales SGD lands {} from the weighted ridge at every rate and \
         {} from the plain ridge (the two predictions themselves are {} apart); on \
         standardised features it is {} from both, which coincide there. The dropout \
         penalty is the feature-weighted ridge, and the plain ridge only when every feature \
         has the same energy.\n",
        range(&unequal, "distance_to_weighted"),
        range(&unequal, "distance_to_plain"),
        range(&unequal, "weighted_vs_plain"),
        range(&standard, "distance_to_weighted"),
    );
    match &r.dropout_ridge.logistic_skipped {
        Some(why) => {
            let _ = writeln!(s, "The logistic comparison was not run: {why}.\n");
        }
        None => {
            let _ = writeln!(
                s,
                "Multinomial logistic regression on the penultimate features (the input of the \
                 last linear layer, in evaluation mode) of the first seed's plain CNN, trained \
                 on the first {LOGISTIC_TRAIN_IMAGES} training images by SGD with dropout on \
                 the features (bias neither dropped nor penalised), beside the L2 fits whose \
                 weight norm matches it within 1%: the plain penalty `lambda/2 ||W||^2` and the \
                 weighted one `lambda/2 sum_j E[x_j^2] ||w_j||^2`, dropout's second-order \
                 penalty with the softmax curvature taken as constant. Cosines of the \
                 flattened weight matrices (biases excluded); `seed_to_seed_cosine` is two \
                 dropout fits that differ only in masks and row order (the SGD's noise floor); \
                 accuracies on the test images:\n"
            );
            s += &markdown_table(
                out,
                layout::DROPOUT_LOGISTIC,
                &[
                    "run",
                    "rate",
                    "dropout_norm",
                    "seed_to_seed_cosine",
                    "plain_lambda",
                    "cosine_plain",
                    "weighted_lambda",
                    "cosine_weighted",
                    "accuracy_dropout",
                    "accuracy_plain",
                    "accuracy_weighted",
                ],
                every_row,
            )?;
            for row in csv_rows(out, layout::DROPOUT_LOGISTIC)? {
                let _ = writeln!(
                    s,
                    "At p = {}: cosine with the weighted L2 fit {} and with the plain one {} \
                     (noise floor {}); test accuracy dropout {}, plain L2 {}, weighted L2 {}.",
                    row["rate"],
                    row["cosine_weighted"],
                    row["cosine_plain"],
                    row["seed_to_seed_cosine"],
                    row["accuracy_dropout"],
                    row["accuracy_plain"],
                    row["accuracy_weighted"],
                );
            }
            s.push('\n');
        }
    }
    Ok(s)
}

/// Section 8: each loss at its own best learning rate, from the two loss tables, with the
/// test accuracy of each loss named in the text beside the study's own loss variants.
fn losses_section(out: &Path, r: &StudyResults) -> Result<String> {
    use crate::study::losses::{COLLAPSE_MARGIN, SUMMARY_HEADER, sweep_rates};
    let c = &r.config;
    let o = &r.losses;
    let mut s = String::new();
    let _ = writeln!(s, "## 8. The losses, each at its own learning rate\n");
    let rates: Vec<String> = sweep_rates(c.lr).iter().map(f32::to_string).collect();
    let _ = writeln!(
        s,
        "The loss variants of sections 2-4 run at the baseline's learning rate with He-scaled \
         logits, a setting made for softmax cross-entropy. Here every loss gets the same \
         treatment: the classifier layer starts at zero (a uniform first prediction for \
         every loss), the learning rate is swept over {} (seed {}) with {} images held out \
         of the training images as a validation set, and the rate with the best final \
         validation accuracy is trained with every seed on the usual {} training images and \
         scored on the test images. A run whose loss stopped being finite is `diverged`; one \
         that ends within {} points of chance ({:.2}) is `collapsed`; neither is chosen or \
         averaged. Everything else is the plain variant's.\n",
        rates.join(", "),
        c.replicate_seeds()[0],
        o.validation_images,
        c.train_limit.map_or("all".to_string(), |n| n.to_string()),
        100.0 * COLLAPSE_MARGIN,
        o.chance,
    );
    if o.records.is_empty() {
        let _ = writeln!(s, "No loss run has been trained yet: nothing to show.\n");
        return Ok(s);
    }
    s += &markdown_table(
        out,
        layout::LOSSES_CSV,
        &[
            "loss",
            "lr",
            "status",
            "epochs",
            "train_accuracy",
            "accuracy",
        ],
        |h, rec| field(h, rec, "phase") == "validation",
    )?;
    let _ = writeln!(
        s,
        "![validation accuracy against the learning rate]({})\n",
        layout::LOSSES_PNG
    );
    let _ = writeln!(
        s,
        "The chosen rates, their test accuracy over the seeds and their first layers (last \
         epoch; matched minus null against the input and the Kodak dictionaries as in \
         section 2):\n"
    );
    s += &markdown_table(
        out,
        layout::LOSSES_SUMMARY,
        &SUMMARY_HEADER
            .iter()
            .copied()
            .filter(|c| !c.starts_with("rates_"))
            .collect::<Vec<_>>(),
        every_row,
    )?;
    // The study's own variants of the same losses, for the reading.
    let summary = csv_rows(out, layout::ACCURACY_SUMMARY)?;
    let variant = |name: &str| {
        summary
            .iter()
            .find(|row| row["variant"] == name)
            .map_or("not trained".to_string(), |row| {
                row["mean_test_accuracy"].clone()
            })
    };
    let tuned = csv_rows(out, layout::LOSSES_SUMMARY)?;
    let mut lines = Vec::new();
    for row in &tuned {
        let study = match row["loss"].as_str() {
            "softmax-cross-entropy" => format!("plain {}", variant("plain")),
            "sigmoid-cross-entropy" => format!("sigmoid-ce {}", variant("sigmoid-ce")),
            _ => format!(
                "squared-error {}, squared-error-lr0.1x {}",
                variant("squared-error"),
                variant("squared-error-lr0.1x")
            ),
        };
        lines.push(format!(
            "{}: {} at lr {} (the study's variants: {})",
            row["loss"], row["test_accuracy_mean"], row["chosen_lr"], study
        ));
    }
    let _ = writeln!(
        s,
        "Reading: mean test accuracy at each loss's own rate, against the study's variants \
         at the baseline's rate: {}.\n",
        lines.join("; ")
    );
    // The baseline's first layer at its own (lower) rate, for the conv1 columns above.
    let plain = csv_rows(out, layout::SEED_SUMMARY)?
        .into_iter()
        .find(|row| row["variant"] == "plain" && row["epoch"] == c.epochs.to_string());
    if let Some(p) = plain {
        let _ = writeln!(
            s,
            "For the first layers, the plain variant (softmax cross-entropy, lr {}, He-scaled \
             classifier) at epoch {} has Gabor share {}, matched minus null {} (input \
             dictionary) and {} (Kodak), and ReLU zero fraction {} (`{}`, means over seeds).\n",
            c.lr,
            c.epochs,
            p["gabor_share_mean"],
            p["matched_minus_null_mean"],
            p["kodak_matched_minus_null_mean"],
            p["zero_fraction_mean"],
            layout::SEED_SUMMARY,
        );
    }
    Ok(s)
}

/// The header and the rows of `csv_name` in `out`; an unreadable file, header or row is
/// an error naming the file.
fn read_csv(out: &Path, csv_name: &str) -> Result<(csv::StringRecord, Vec<csv::StringRecord>)> {
    let path = out.join(csv_name);
    let mut reader = csv::Reader::from_path(&path)
        .map_err(|e| Error::bad_input(&path, "csv", "unreadable", e.to_string()))?;
    let header = reader
        .headers()
        .map_err(|e| Error::bad_input(&path, "header", "unreadable", e.to_string()))?
        .clone();
    let records = reader
        .records()
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| Error::bad_input(&path, "row", "unreadable", e.to_string()))?;
    Ok((header, records))
}

/// Every row of `csv_name` as header -> cell.
fn csv_rows(out: &Path, csv_name: &str) -> Result<Vec<std::collections::HashMap<String, String>>> {
    let (header, records) = read_csv(out, csv_name)?;
    Ok(records
        .iter()
        .map(|rec| {
            header
                .iter()
                .zip(rec.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect())
}
