//! The study's CSV tables, each declared once as a row source and a list of columns.
//!
//! A column is a header and a function from one row to its cell, so a table's header and
//! its cells are written side by side and cannot drift out of order. Numbers go through
//! `study::cell` (four decimals, `nan`) unless a column says otherwise; the report copies
//! the cells verbatim, so these bytes are the study's interface and must not change by
//! accident.

use super::{CONV2_SUMMARY, RunRecord, StudyResults, criteria};
use crate::analysis::gabor::GaborFit;
use crate::analysis::measures::FilterMeasures;
use crate::analysis::stats::{Summary, summarise};
use crate::cnn::log::EpochMetrics;
use crate::io::table::Table;
use crate::study::front_ends::FrontEndRecord;
use crate::study::measure::BankMeasures;
use crate::study::{cell, layout};

/// A column: its header, and its cell in a row of type `R`.
type Column<R> = (&'static str, fn(&R) -> String);

/// The table with `columns`, one row per item of `rows`.
fn table<R>(columns: &[Column<R>], rows: impl IntoIterator<Item = R>) -> Table {
    let header: Vec<&str> = columns.iter().map(|(h, _)| *h).collect();
    let mut t = Table::new(&header);
    for row in rows {
        t.push(columns.iter().map(|(_, f)| f(&row)).collect());
    }
    t
}

/// The R^2 of a filter's Gabor fit, NaN when the fit failed.
fn r2(m: &FilterMeasures) -> f64 {
    m.gabor.map_or(f64::NAN, |g| g.r2)
}

fn input_name(rec: &RunRecord) -> &'static str {
    if rec.run.variant.colour {
        "colour (luminance projection)"
    } else {
        "gray"
    }
}

/// One logged first layer of a run: the epoch's index and its measures.
struct Layer<'a> {
    rec: &'a RunRecord,
    epoch: usize,
    b: &'a BankMeasures,
}

/// Every logged first layer of every run, in run then epoch order.
fn layers(r: &StudyResults) -> impl Iterator<Item = Layer<'_>> {
    r.runs.iter().flat_map(|rec| {
        let layers = rec.banks.iter().enumerate();
        layers.map(move |(epoch, b)| Layer { rec, epoch, b })
    })
}

fn similarity_table(r: &StudyResults) -> Table {
    let rows = layers(r);
    table::<Layer>(
        &[
            ("run", |x| x.rec.run.name()),
            ("variant", |x| x.rec.run.variant.name.into()),
            ("seed", |x| x.rec.run.seed.to_string()),
            ("input", |x| input_name(x.rec).into()),
            ("epoch", |x| x.epoch.to_string()),
            ("matched_similarity", |x| cell(x.b.matched_similarity)),
            ("null_mean", |x| cell(x.b.null_mean)),
            ("null_sd", |x| cell(x.b.null_sd)),
            ("z", |x| cell(x.b.z)),
            ("gabor_r2_median", |x| cell(x.b.r2_median)),
            ("gabor_r2_ge_0.7", |x| cell(x.b.r2_good_fraction)),
            ("energy80_area_median", |x| cell(x.b.energy80_median)),
            ("orientation_kuiper_p", |x| cell(x.b.orientation_p)),
            ("frequency_ks_p", |x| cell(x.b.frequency_p)),
            ("nx_ks_p", |x| cell(x.b.nx_p)),
            ("ny_ks_p", |x| cell(x.b.ny_p)),
            ("matched_minus_null", |x| {
                cell(x.b.matched_similarity - x.b.null_mean)
            }),
            ("kodak_matched", |x| {
                cell(x.rec.extra[x.epoch].kodak_matched)
            }),
            ("kodak_null", |x| cell(x.rec.extra[x.epoch].kodak_null)),
            ("energy_vs_whitening_r", |x| {
                cell(x.rec.extra[x.epoch].energy_vs_whitening)
            }),
            ("energy_vs_input_r", |x| {
                cell(x.rec.extra[x.epoch].energy_vs_input)
            }),
            ("selectivity_whitened", |x| {
                cell(x.rec.extra[x.epoch].selectivity_whitened)
            }),
            ("selectivity_raw", |x| {
                cell(x.rec.extra[x.epoch].selectivity_raw)
            }),
            ("diverged", |x| x.rec.diverged.to_string()),
        ],
        rows,
    )
}

/// One variant at one epoch, for the seed summary.
struct VariantEpoch<'a> {
    r: &'a StudyResults,
    variant: &'static str,
    epoch: usize,
}

/// Per variant and epoch, every measure of [`criteria::MEASURES`] as mean and sample sd
/// over the seeds that logged the epoch.
fn seed_summary(r: &StudyResults) -> Table {
    let mut names: Vec<&'static str> = Vec::new();
    for rec in &r.runs {
        if !names.contains(&rec.run.variant.name) {
            names.push(rec.run.variant.name);
        }
    }
    let mut header = vec!["variant".to_string(), "epoch".into(), "seeds".into()];
    for (m, _) in criteria::MEASURES {
        header.push(format!("{m}_mean"));
        header.push(format!("{m}_sd"));
    }
    header.push("matched_minus_null_t".into());
    header.push("diverged_runs".into());
    let mut t = Table::new(&header.iter().map(String::as_str).collect::<Vec<_>>());
    for v in names {
        for epoch in 0..=r.config.epochs {
            let x = VariantEpoch {
                r,
                variant: v,
                epoch,
            };
            let seeds = criteria::at(x.r, v, epoch, criteria::test_accuracy).n;
            if criteria::runs_of(r, v)
                .iter()
                .all(|rec| rec.banks.len() <= epoch)
            {
                continue;
            }
            let mut row = vec![v.to_string(), epoch.to_string(), seeds.to_string()];
            for (_, f) in criteria::MEASURES {
                let s = criteria::at(x.r, x.variant, x.epoch, f);
                row.push(cell(s.mean));
                row.push(cell(s.sd));
            }
            row.push(cell(
                criteria::at(r, v, epoch, criteria::input_difference).t(),
            ));
            let diverged = criteria::runs_of(r, v)
                .iter()
                .filter(|rec| rec.diverged)
                .count();
            row.push(diverged.to_string());
            t.push(row);
        }
    }
    t
}

fn criteria_table(r: &StudyResults) -> Table {
    table::<criteria::Verdict>(
        &[
            ("criterion", |v| v.criterion.into()),
            ("variant", |v| v.variant.clone()),
            ("measure", |v| v.measure.into()),
            ("value", |v| v.value.clone()),
            ("threshold", |v| v.threshold.clone()),
            ("result", |v| v.result().into()),
        ],
        criteria::verdicts(r),
    )
}

/// One logged epoch's zero split.
fn zeros_table(r: &StudyResults) -> Table {
    let rows = layers(r);
    table::<Layer>(
        &[
            ("run", |x| x.rec.run.name()),
            ("variant", |x| x.rec.run.variant.name.into()),
            ("seed", |x| x.rec.run.seed.to_string()),
            ("epoch", |x| x.epoch.to_string()),
            ("bias_mean", |x| cell(x.rec.extra[x.epoch].zeros.bias_mean)),
            ("zero_fraction", |x| cell(x.rec.extra[x.epoch].zeros.actual)),
            ("zero_fraction_zero_bias", |x| {
                cell(x.rec.extra[x.epoch].zeros.zero_bias)
            }),
            ("zero_fraction_phase_randomised", |x| {
                cell(x.rec.extra[x.epoch].zeros.phase_randomised)
            }),
        ],
        rows,
    )
}

/// A logged epoch of a run: its metrics and first-layer measures (paired, so a run whose
/// logs are uneven only shows the epochs it has both for).
struct Logged<'a> {
    rec: &'a RunRecord,
    m: &'a EpochMetrics,
    b: &'a BankMeasures,
}

fn sparsity_table(r: &StudyResults) -> Table {
    let rows = r.runs.iter().flat_map(|rec| {
        let logged = rec.metrics.iter().zip(&rec.banks);
        logged.map(move |(m, b)| Logged { rec, m, b })
    });
    table::<Logged>(
        &[
            ("run", |x| x.rec.run.name()),
            ("variant", |x| x.rec.run.variant.name.into()),
            ("seed", |x| x.rec.run.seed.to_string()),
            ("epoch", |x| x.m.epoch.to_string()),
            ("test_accuracy", |x| cell(x.m.test_accuracy)),
            ("activation_zero_fraction", |x| {
                cell(x.m.conv1_zero_fraction)
            }),
            ("activation_hoyer", |x| cell(x.m.conv1_hoyer)),
            ("preactivation_kurtosis", |x| cell(x.m.conv1_kurtosis)),
            ("filter_hoyer", |x| cell(x.b.filter_hoyer)),
            ("filter_kurtosis", |x| cell(x.b.filter_kurtosis)),
        ],
        rows,
    )
}

/// One row: the dictionary's codes of the test images.
fn codes_table(r: &StudyResults) -> Table {
    table::<&StudyResults>(
        &[
            ("source", |_| "dictionary codes of the test images".into()),
            ("images", |r| r.codes.images.to_string()),
            ("patches", |r| r.codes.patches.to_string()),
            // The option as given (f32 shortest form), not a measured number.
            ("lambda", |r| format!("{}", r.config.lambda)),
            ("code_zero_fraction", |r| cell(r.codes.zero_fraction)),
            ("code_hoyer", |r| cell(r.codes.hoyer_per_image)),
            ("code_kurtosis", |r| cell(r.codes.kurtosis)),
            ("converged_fraction", |r| cell(r.codes.converged_fraction)),
            // A tolerance check spanning decades: scientific notation.
            ("max_relative_gap", |r| {
                format!("{:.2e}", r.codes.max_relative_gap)
            }),
        ],
        [r],
    )
}

fn reference_table(r: &StudyResults) -> Table {
    table::<&(&str, BankMeasures)>(
        &[
            ("bank", |(name, _)| (*name).into()),
            ("filters", |(_, b)| b.filters.len().to_string()),
            ("matched_similarity_to_input_dictionary", |(_, b)| {
                cell(b.matched_similarity)
            }),
            ("null_mean", |(_, b)| cell(b.null_mean)),
            ("gabor_r2_median", |(_, b)| cell(b.r2_median)),
            ("gabor_r2_ge_0.7", |(_, b)| cell(b.r2_good_fraction)),
            ("energy80_area_median", |(_, b)| cell(b.energy80_median)),
            ("filter_hoyer", |(_, b)| cell(b.filter_hoyer)),
            ("filter_kurtosis", |(_, b)| cell(b.filter_kurtosis)),
        ],
        &r.references,
    )
}

fn accuracy_table(r: &StudyResults) -> Table {
    table::<&RunRecord>(
        &[
            ("run", |rec| rec.run.name()),
            ("variant", |rec| rec.run.variant.name.into()),
            ("first_layer", |rec| {
                rec.run.variant.first_layer.name().into()
            }),
            ("seed", |rec| rec.run.seed.to_string()),
            ("epochs", |rec| rec.last().0.epoch.to_string()),
            ("train_accuracy", |rec| cell(rec.last().0.train_accuracy)),
            ("test_accuracy", |rec| cell(rec.last().0.test_accuracy)),
            ("test_loss", |rec| cell(rec.last().0.test_loss)),
        ],
        &r.runs,
    )
}

/// A variant's final test accuracies over its seeds.
struct Variant<'a> {
    first: &'a RunRecord,
    acc: Vec<f64>,
    s: Summary,
}

/// Final test accuracies per variant, in order of first appearance: mean, sample sd, min,
/// max over its seeds.
fn accuracy_summary(r: &StudyResults) -> Table {
    let mut rows: Vec<Variant> = Vec::new();
    for rec in &r.runs {
        let name = rec.run.variant.name;
        if rows.iter().any(|v| v.first.run.variant.name == name) {
            continue;
        }
        let acc: Vec<f64> = (r.runs.iter())
            .filter(|o| o.run.variant.name == name)
            .map(|o| o.last().0.test_accuracy)
            .collect();
        let s = summarise(&acc);
        rows.push(Variant { first: rec, acc, s });
    }
    table::<Variant>(
        &[
            ("variant", |v| v.first.run.variant.name.into()),
            ("first_layer", |v| {
                v.first.run.variant.first_layer.name().into()
            }),
            ("runs", |v| v.acc.len().to_string()),
            ("mean_test_accuracy", |v| cell(v.s.mean)),
            ("sd", |v| cell(v.s.sd)),
            ("min", |v| {
                cell(v.acc.iter().copied().fold(f64::INFINITY, f64::min))
            }),
            ("max", |v| {
                cell(v.acc.iter().copied().fold(f64::NEG_INFINITY, f64::max))
            }),
        ],
        rows,
    )
}

/// A parameter of a filter's Gabor fit as a cell, `nan` when the fit failed.
fn fitted(m: &FilterMeasures, f: fn(&GaborFit) -> f64) -> String {
    cell(m.gabor.map_or(f64::NAN, |g| f(&g)))
}

/// One filter of a named bank.
struct Filter<'a> {
    bank: &'a str,
    m: &'a FilterMeasures,
}

/// Banks whose per-filter Gabor parameters are tabulated: the references and the first
/// replicate of every learned-first-layer variant at its first and last epoch.
fn gabor_banks(r: &StudyResults) -> Vec<(String, &BankMeasures)> {
    let mut out: Vec<(String, &BankMeasures)> = (r.references.iter())
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
    let banks = gabor_banks(r);
    let rows = banks
        .iter()
        .flat_map(|(bank, b)| (b.filters.iter()).map(move |m| Filter { bank, m }));
    table::<Filter>(
        &[
            ("bank", |x| x.bank.into()),
            ("filter", |x| x.m.filter.to_string()),
            ("gabor_r2", |x| cell(r2(x.m))),
            ("orientation_deg", |x| {
                fitted(x.m, |g| g.params.theta.to_degrees())
            }),
            ("frequency_cycles_per_pixel", |x| {
                fitted(x.m, |g| g.params.frequency)
            }),
            ("nx", |x| fitted(x.m, GaborFit::nx)),
            ("ny", |x| fitted(x.m, GaborFit::ny)),
            ("energy80_area_fraction", |x| {
                cell(x.m.energy80_area_fraction)
            }),
        ],
        rows,
    )
}

/// One unit of the second layer: its preferred input's measures and response.
struct Unit<'a> {
    run: &'a str,
    m: &'a FilterMeasures,
    response: f32,
}

fn conv2_table(r: &StudyResults) -> Table {
    let Some(c) = &r.conv2 else {
        return Table::new(&["run", "unit"]);
    };
    let units = c.measures.iter().zip(&c.responses);
    let rows = units.map(|(m, &response)| Unit {
        run: &c.run,
        m,
        response,
    });
    table::<Unit>(
        &[
            ("run", |u| u.run.into()),
            ("unit", |u| u.m.filter.to_string()),
            ("response", |u| cell(u.response as f64)),
            ("energy80_area_fraction", |u| {
                cell(u.m.energy80_area_fraction)
            }),
            ("peak_orientation_deg", |u| {
                cell(u.m.peak_orientation.to_degrees())
            }),
            ("peak_frequency_cycles_per_pixel", |u| {
                cell(u.m.peak_frequency)
            }),
            ("orientation_bandwidth_deg", |u| {
                cell(u.m.orientation_bandwidth_deg)
            }),
            ("gabor_r2", |u| cell(r2(u.m))),
        ],
        rows,
    )
}

/// A per-unit measure of the second layer.
type Measure = fn(&FilterMeasures) -> f64;

/// One measure summarised over the second layer's units.
struct Spread<'a> {
    run: &'a str,
    units: usize,
    measure: &'static str,
    s: Summary,
}

fn conv2_summary(r: &StudyResults) -> Table {
    let measures: [(&str, Measure); 4] = [
        ("energy80_area_fraction", |m| m.energy80_area_fraction),
        ("peak_frequency_cycles_per_pixel", |m| m.peak_frequency),
        ("orientation_bandwidth_deg", |m| m.orientation_bandwidth_deg),
        ("gabor_r2", r2),
    ];
    let Some(c) = &r.conv2 else {
        return Table::new(&["run", "units", "measure", "median", "q25", "q75"]);
    };
    let ms = &c.measures;
    let rows = measures.map(|(measure, f)| Spread {
        run: &c.run,
        units: ms.len(),
        measure,
        s: summarise(&ms.iter().map(f).collect::<Vec<f64>>()),
    });
    table::<Spread>(
        &[
            ("run", |x| x.run.into()),
            ("units", |x| x.units.to_string()),
            ("measure", |x| x.measure.into()),
            ("median", |x| cell(x.s.median)),
            ("q25", |x| cell(x.s.q25)),
            ("q75", |x| cell(x.s.q75)),
        ],
        rows,
    )
}

/// One unit's grating tuning.
struct Tuned<'a> {
    rec: &'a super::TuningRecord,
    u: &'a crate::study::tuning::UnitTuning,
}

fn tuning_table(r: &StudyResults) -> Table {
    let rows = r
        .tuning
        .iter()
        .flat_map(|rec| rec.units.iter().map(move |u| Tuned { rec, u }));
    table::<Tuned>(
        &[
            ("run", |x| x.rec.run.clone()),
            ("network", |x| x.rec.network.into()),
            ("layer", |x| x.rec.layer.into()),
            ("unit", |x| x.u.unit.to_string()),
            ("preferred_orientation_deg", |x| {
                cell(x.u.preferred_orientation_deg)
            }),
            ("preferred_frequency", |x| cell(x.u.preferred_frequency)),
            ("orientation_hwhh_deg", |x| cell(x.u.orientation_hwhh_deg)),
            ("frequency_bandwidth_octaves", |x| {
                cell(x.u.frequency_bandwidth_octaves)
            }),
            ("orientation_selectivity", |x| {
                cell(x.u.orientation_selectivity)
            }),
            ("peak_response", |x| cell(x.u.peak_response)),
        ],
        rows,
    )
}

/// Median of a tuning measure over a layer's units.
fn unit_median(rec: &super::TuningRecord, f: fn(&crate::study::tuning::UnitTuning) -> f64) -> f64 {
    summarise(&rec.units.iter().map(f).collect::<Vec<_>>()).median
}

/// The bandwidth table: per run, network and layer, the units' medians.
fn tuning_summary(r: &StudyResults) -> Table {
    table::<&super::TuningRecord>(
        &[
            ("run", |x| x.run.clone()),
            ("network", |x| x.network.into()),
            ("layer", |x| x.layer.into()),
            ("units", |x| x.units.len().to_string()),
            ("median_orientation_selectivity", |x| {
                cell(unit_median(x, |u| u.orientation_selectivity))
            }),
            ("median_orientation_hwhh_deg", |x| {
                cell(unit_median(x, |u| u.orientation_hwhh_deg))
            }),
            ("median_frequency_bandwidth_octaves", |x| {
                cell(unit_median(x, |u| u.frequency_bandwidth_octaves))
            }),
            ("median_preferred_frequency", |x| {
                cell(unit_median(x, |u| u.preferred_frequency))
            }),
        ],
        &r.tuning,
    )
}

/// One patch of a unit's top list.
struct TopPatch<'a> {
    rec: &'a super::TopPatchRecord,
    unit: usize,
    rank: usize,
}

impl TopPatch<'_> {
    fn at(&self) -> usize {
        self.unit * self.rec.patches.top + self.rank
    }
}

/// Every unit's top-9 dataset patches: which test image, where in the layer's map, where
/// the receptive field starts in the image (negative: into the padding), the response.
fn top9_table(r: &StudyResults) -> Table {
    let rows = r.top9.iter().flat_map(|rec| {
        let (units, top) = (rec.patches.units, rec.patches.top);
        (0..units * top).map(move |k| TopPatch {
            rec,
            unit: k / top,
            rank: k % top,
        })
    });
    table::<TopPatch>(
        &[
            ("run", |x| x.rec.run.clone()),
            ("layer", |x| x.rec.layer.into()),
            ("network", |x| x.rec.network.into()),
            ("unit", |x| x.unit.to_string()),
            ("rank", |x| x.rank.to_string()),
            ("image", |x| x.rec.patches.image[x.at()].to_string()),
            ("y", |x| x.rec.patches.position[x.at()].0.to_string()),
            ("x", |x| x.rec.patches.position[x.at()].1.to_string()),
            ("input_y0", |x| {
                let p = &x.rec.patches;
                p.field.start(p.position[x.at()].0).to_string()
            }),
            ("input_x0", |x| {
                let p = &x.rec.patches;
                p.field.start(p.position[x.at()].1).to_string()
            }),
            ("activation", |x| {
                cell(x.rec.patches.activations[x.at()] as f64)
            }),
        ],
        rows,
    )
}

/// Per run, layer and network: how alike each unit's top patches are.
fn top9_summary(r: &StudyResults) -> Table {
    table::<&super::TopPatchRecord>(
        &[
            ("run", |x| x.run.clone()),
            ("layer", |x| x.layer.into()),
            ("network", |x| x.network.into()),
            ("images", |x| x.patches.images.to_string()),
            ("receptive_field", |x| x.patches.field.size.to_string()),
            ("units", |x| x.patches.units.to_string()),
            ("mean_coherence", |x| cell(summarise(&x.coherence).mean)),
            ("median_coherence", |x| cell(summarise(&x.coherence).median)),
            ("random_mean_coherence", |x| {
                cell(summarise(&x.random_coherence).mean)
            }),
            ("units_firing_on_all", |x| {
                let top = x.patches.top;
                x.patches
                    .firing()
                    .iter()
                    .filter(|&&f| f == top)
                    .count()
                    .to_string()
            }),
        ],
        &r.top9,
    )
}

/// Builds one CSV's table from the study's records.
type Builder = fn(&StudyResults) -> Table;

/// Every CSV of the study: file name and the function that builds it, in writing order.
/// `front_ends.csv`: [`super::front_end_rows`].
fn front_ends_table(r: &StudyResults) -> Table {
    table::<FrontEndRecord>(
        &[
            ("bank", |x| x.bank.clone()),
            ("seed", |x| x.seed.map_or("-".into(), |s| s.to_string())),
            ("space", |x| x.space.clone()),
            ("atoms", |x| x.atoms.to_string()),
            ("features", |x| x.features.to_string()),
            ("lambda", |x| {
                if x.lambda.is_nan() {
                    "nan".into()
                } else {
                    format!("{:e}", x.lambda)
                }
            }),
            ("train_accuracy", |x| cell(x.train_accuracy)),
            ("validation_accuracy", |x| cell(x.validation_accuracy)),
            ("test_accuracy", |x| cell(x.test_accuracy)),
            ("seconds", |x| {
                if x.seconds.is_nan() {
                    "nan".into()
                } else {
                    format!("{:.1}", x.seconds)
                }
            }),
            ("source", |x| x.source.clone()),
        ],
        super::front_end_rows(r),
    )
}

pub(super) const TABLES: [(&str, Builder); 17] = [
    (layout::REFERENCE_BANKS, reference_table),
    (layout::SIMILARITY, similarity_table),
    (layout::SPARSITY, sparsity_table),
    (layout::CODES, codes_table),
    (layout::ACCURACY, accuracy_table),
    (layout::ACCURACY_SUMMARY, accuracy_summary),
    (layout::GABOR_PARAMETERS, gabor_table),
    (layout::CONV2_UNITS, conv2_table),
    (CONV2_SUMMARY, conv2_summary),
    (layout::SEED_SUMMARY, seed_summary),
    (layout::CRITERIA, criteria_table),
    (layout::ZEROS, zeros_table),
    (layout::TUNING, tuning_table),
    (layout::TUNING_SUMMARY, tuning_summary),
    (layout::TOP9, top9_table),
    (layout::TOP9_SUMMARY, top9_summary),
    (layout::FRONT_ENDS_CSV, front_ends_table),
];
