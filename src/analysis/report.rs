//! The CSV reports: per-filter and summary tables for `analyze`, population and lifetime
//! tables for codes, and the whole bank comparison of `compare` (similarity, matching, null
//! baseline, parameter distributions) with its tables. Column names carry their units; the
//! README documents every one, so changing a name here is an interface change.

use super::codes::VectorSparsity;
use super::matching;
use super::measures::{self, FilterMeasures, MeasureOptions};
use super::planes::{self, ColourMode};
use super::similarity::{self, Common, SimilarityMatrix};
use super::stats::{self, TwoSample};
use crate::io::table::{Table, cell};
use crate::observer::Progress;
use crate::viz::montage::Bank;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Columns of `filters.csv`, in order.
pub const FILTER_COLUMNS: [&str; 26] = [
    "filter",
    "channel",
    "l2_norm",
    "hoyer",
    "excess_kurtosis",
    "gini",
    "centroid_x_px",
    "centroid_y_px",
    "spread_along_px",
    "spread_across_px",
    "energy80_area_fraction",
    "peak_frequency_cycles_per_pixel",
    "peak_orientation_deg",
    "frequency_bandwidth_octaves",
    "orientation_bandwidth_deg",
    "gabor_centre_x_px",
    "gabor_centre_y_px",
    "gabor_orientation_deg",
    "gabor_frequency_cycles_per_pixel",
    "gabor_phase_deg",
    "gabor_sigma_x_px",
    "gabor_sigma_y_px",
    "gabor_amplitude",
    "gabor_r2",
    "gabor_nx",
    "gabor_ny",
];

/// The numeric values of one filter row (everything after `filter` and `channel`), in
/// [`FILTER_COLUMNS`] order. Gabor centres go back to image coordinates (column, row from
/// the top-left pixel's centre).
pub fn filter_values(m: &FilterMeasures, size: usize) -> [f64; 24] {
    let nan = f64::NAN;
    let half = (size as f64 - 1.0) / 2.0;
    let g = m.gabor;
    let gp = |f: fn(&super::gabor::GaborFit) -> f64| g.as_ref().map_or(nan, f);
    [
        m.l2_norm,
        m.hoyer,
        m.excess_kurtosis,
        m.gini,
        m.centre_col,
        m.centre_row,
        m.spread_along,
        m.spread_across,
        m.energy80_area_fraction,
        m.peak_frequency,
        m.peak_orientation.to_degrees(),
        m.frequency_bandwidth_octaves,
        m.orientation_bandwidth_deg,
        g.as_ref().map_or(nan, |g| g.params.x0 + half),
        g.as_ref().map_or(nan, |g| half - g.params.y0),
        gp(|g| g.params.theta.to_degrees()),
        gp(|g| g.params.frequency),
        gp(|g| g.params.phase.to_degrees()),
        gp(|g| g.params.sigma_x),
        gp(|g| g.params.sigma_y),
        gp(|g| g.params.amplitude),
        gp(|g| g.r2),
        gp(|g| g.nx()),
        gp(|g| g.ny()),
    ]
}

/// `filters.csv`: one row per plane. `channel` is `luma` for a luminance projection or a
/// one-channel bank, otherwise the channel index.
pub fn filters_table(measures: &[FilterMeasures], size: usize) -> Table {
    let mut t = Table::new(&FILTER_COLUMNS);
    for m in measures {
        let mut row = vec![
            m.filter.to_string(),
            m.channel.map_or("luma".into(), |c| c.to_string()),
        ];
        row.extend(filter_values(m, size).iter().map(|&v| cell(v)));
        t.push(row);
    }
    t
}

/// Header of every summary table of distributions.
pub const SUMMARY_COLUMNS: [&str; 8] = [
    "measure", "count", "mean", "sd", "q25", "median", "q75", "scope",
];

fn summary_row(t: &mut Table, measure: &str, scope: &str, values: &[f64]) {
    let s = stats::summarise(values);
    t.push(vec![
        measure.to_string(),
        s.count.to_string(),
        cell(s.mean),
        cell(s.sd),
        cell(s.q25),
        cell(s.median),
        cell(s.q75),
        scope.to_string(),
    ]);
}

/// `summary.csv` of `analyze --filters`: one row per numeric column of `filters.csv`.
pub fn filters_summary(measures: &[FilterMeasures], size: usize) -> Table {
    let mut t = Table::new(&SUMMARY_COLUMNS);
    let rows: Vec<[f64; 24]> = measures.iter().map(|m| filter_values(m, size)).collect();
    for (k, name) in FILTER_COLUMNS[2..].iter().enumerate() {
        let column: Vec<f64> = rows.iter().map(|r| r[k]).collect();
        summary_row(&mut t, name, "filters", &column);
    }
    t
}

/// `population.csv` or `lifetime.csv`: one row per sample or unit.
pub fn sparsity_table(index_name: &str, records: &[VectorSparsity]) -> Table {
    let mut header = vec![index_name];
    header.extend(VectorSparsity::NAMES);
    let mut t = Table::new(&header);
    for (i, r) in records.iter().enumerate() {
        let mut row = vec![i.to_string()];
        row.extend(r.values().iter().map(|&v| cell(v)));
        t.push(row);
    }
    t
}

/// `summary.csv` of `analyze --codes`: each measure's distribution over samples
/// (scope `population`) and over units (scope `lifetime`).
pub fn codes_summary(population: &[VectorSparsity], lifetime: &[VectorSparsity]) -> Table {
    let mut t = Table::new(&SUMMARY_COLUMNS);
    for (scope, records) in [("population", population), ("lifetime", lifetime)] {
        for (k, name) in VectorSparsity::NAMES.iter().enumerate() {
            let column: Vec<f64> = records.iter().map(|r| r.values()[k]).collect();
            summary_row(&mut t, name, scope, &column);
        }
    }
    t
}

/// Options of a bank comparison.
#[derive(Debug, Clone, Copy)]
pub struct CompareOptions {
    /// Largest shift per axis in pixels; None means a quarter of the common filter size.
    pub max_shift: Option<usize>,
    /// Phase-randomised surrogate banks for the null baseline.
    pub null_draws: usize,
    /// Seed of the surrogates and of the Gabor fits' random starts.
    pub seed: u64,
    /// Gabor fits with R^2 below this are left out of the parameter-distribution tests.
    pub min_r2: f64,
    pub measure: MeasureOptions,
}

/// One matched pair.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pair {
    pub a: usize,
    pub b: usize,
    pub similarity: f32,
    pub shift_x: i32,
    pub shift_y: i32,
    pub sign: i8,
}

/// Everything `compare` reports.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub common: Common,
    pub max_shift: usize,
    pub matrix: SimilarityMatrix,
    pub pairs: Vec<Pair>,
    /// Mean matched similarity of each surrogate draw.
    pub null_scores: Vec<f64>,
    /// (name, test) for orientation (Kuiper), frequency, nx, ny (KS).
    pub parameter_tests: Vec<(&'static str, TwoSample)>,
    /// Medians of the well-fitted Gabor parameters of A and B, same order as the tests.
    pub parameter_medians: Vec<(&'static str, f64, f64)>,
    pub measures_a: Vec<FilterMeasures>,
    pub measures_b: Vec<FilterMeasures>,
    pub normalised_a: similarity::Normalised,
    pub normalised_b: similarity::Normalised,
}

impl Comparison {
    pub fn matched_similarities(&self) -> Vec<f64> {
        self.pairs.iter().map(|p| p.similarity as f64).collect()
    }
    pub fn matched_mean(&self) -> f64 {
        stats::summarise(&self.matched_similarities()).mean
    }
    /// (null mean, null sd, z-score of the observed mean matched similarity).
    pub fn null(&self) -> (f64, f64, f64) {
        let s = stats::summarise(&self.null_scores);
        (s.mean, s.sd, (self.matched_mean() - s.mean) / s.sd)
    }
}

fn matched(matrix: &SimilarityMatrix) -> Vec<Pair> {
    matching::maximise(&matrix.similarity, matrix.rows, matrix.cols)
        .into_iter()
        .map(|(a, b)| {
            let k = a * matrix.cols + b;
            Pair {
                a,
                b,
                similarity: matrix.similarity[k],
                shift_x: matrix.shift_x[k],
                shift_y: matrix.shift_y[k],
                sign: matrix.sign[k],
            }
        })
        .collect()
}

/// Compares two banks: similarity table, optimal matching, null baseline from
/// phase-randomised copies of B (draw d uses ChaCha8 stream d of the seed), and two-sample
/// tests of the Gabor parameters of the two banks' luminance planes.
pub fn compare(
    a: &Bank,
    b: &Bank,
    options: &CompareOptions,
    progress: &dyn Progress,
) -> Comparison {
    let measures_b = measure_luminance(b, options, progress);
    compare_measured(a, b, measures_b, options, progress)
}

/// The per-filter measures `compare` takes of a bank's luminance planes; a caller comparing
/// many banks against one reference computes the reference's once and passes them to
/// [`compare_measured`].
pub fn measure_luminance(
    bank: &Bank,
    options: &CompareOptions,
    progress: &dyn Progress,
) -> Vec<FilterMeasures> {
    measures::measure_bank(
        &planes::planes(bank, ColourMode::Luminance),
        &options.measure,
        progress,
    )
}

/// [`compare`] with B's measures already taken (by [`measure_luminance`] with the same
/// options), so they are not recomputed.
pub fn compare_measured(
    a: &Bank,
    b: &Bank,
    measures_b: Vec<FilterMeasures>,
    options: &CompareOptions,
    progress: &dyn Progress,
) -> Comparison {
    let (na, nb, common) = similarity::prepare_pair(a, b);
    let max_shift = options.max_shift.unwrap_or(common.size / 4);
    progress.start("similarity", None);
    let matrix = similarity::similarity_matrix(&na, &nb, max_shift);
    let pairs = matched(&matrix);
    progress.finish("");
    progress.start("null baseline", Some(options.null_draws as u64));
    let mut null_scores = Vec::with_capacity(options.null_draws);
    for d in 0..options.null_draws {
        let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
        rng.set_stream(d as u64);
        let surrogate = similarity::phase_randomised(&nb, &mut rng);
        let m = similarity::similarity_matrix(&na, &surrogate, max_shift);
        let p = matched(&m);
        null_scores
            .push(p.iter().map(|p| p.similarity as f64).sum::<f64>() / p.len().max(1) as f64);
        progress.advance(d as u64 + 1, "");
    }
    progress.finish("");
    let measures_a = measure_luminance(a, options, progress);
    let params = |ms: &[FilterMeasures], f: fn(&super::gabor::GaborFit) -> f64| -> Vec<f64> {
        ms.iter()
            .filter_map(|m| m.gabor)
            .filter(|g| g.r2 >= options.min_r2)
            .map(|g| f(&g))
            .collect()
    };
    type Getter = fn(&super::gabor::GaborFit) -> f64;
    let getters: [(&'static str, Getter); 4] = [
        ("orientation_deg", |g| g.params.theta.to_degrees()),
        ("frequency_cycles_per_pixel", |g| g.params.frequency),
        ("nx", |g| g.nx()),
        ("ny", |g| g.ny()),
    ];
    let mut parameter_tests = Vec::new();
    let mut parameter_medians = Vec::new();
    for (name, get) in getters {
        let (pa, pb) = (params(&measures_a, get), params(&measures_b, get));
        let test = if name == "orientation_deg" {
            stats::kuiper_axial_deg(&pa, &pb)
        } else {
            stats::ks_two_sample(&pa, &pb)
        };
        parameter_tests.push((name, test));
        let median = |v: &[f64]| {
            if name == "orientation_deg" {
                stats::axial_mean_deg(v).0
            } else {
                stats::summarise(v).median
            }
        };
        parameter_medians.push((name, median(&pa), median(&pb)));
    }
    Comparison {
        common,
        max_shift,
        matrix,
        pairs,
        null_scores,
        parameter_tests,
        parameter_medians,
        measures_a,
        measures_b,
        normalised_a: na,
        normalised_b: nb,
    }
}

/// `pairs.csv`: the matched pairs, best first (ties by A index).
pub fn pairs_table(c: &Comparison) -> Table {
    let mut t = Table::new(&[
        "a_index",
        "b_index",
        "similarity",
        "shift_x",
        "shift_y",
        "sign",
    ]);
    for p in sorted_pairs(c) {
        t.push(vec![
            p.a.to_string(),
            p.b.to_string(),
            cell(p.similarity as f64),
            p.shift_x.to_string(),
            p.shift_y.to_string(),
            p.sign.to_string(),
        ]);
    }
    t
}

/// Matched pairs, best first (ties by A index).
pub fn sorted_pairs(c: &Comparison) -> Vec<Pair> {
    let mut pairs = c.pairs.clone();
    pairs.sort_by(|x, y| y.similarity.total_cmp(&x.similarity).then(x.a.cmp(&y.a)));
    pairs
}

/// `matrix.csv`: one row per filter of A, one column `b_J` per filter of B.
pub fn matrix_table(c: &Comparison) -> Table {
    let names: Vec<String> = std::iter::once("a_index".to_string())
        .chain((0..c.matrix.cols).map(|j| format!("b_{j}")))
        .collect();
    let refs: Vec<&str> = names.iter().map(|s| s.as_str()).collect();
    let mut t = Table::new(&refs);
    for i in 0..c.matrix.rows {
        let mut row = vec![i.to_string()];
        row.extend((0..c.matrix.cols).map(|j| cell(c.matrix.at(i, j) as f64)));
        t.push(row);
    }
    t
}

/// `summary.csv` of `compare`: one (quantity, value) row per figure.
pub fn compare_summary(c: &Comparison) -> Table {
    let mut t = Table::new(&["quantity", "value"]);
    let mut put = |k: &str, v: String| t.push(vec![k.to_string(), v]);
    let sims = c.matched_similarities();
    let s = stats::summarise(&sims);
    let frac = |th: f64| sims.iter().filter(|&&x| x > th).count() as f64 / sims.len().max(1) as f64;
    let (null_mean, null_sd, z) = c.null();
    put("filters_a", c.matrix.rows.to_string());
    put("filters_b", c.matrix.cols.to_string());
    put("common_size_px", c.common.size.to_string());
    put("common_channels", c.common.channels.to_string());
    put("luminance_projection", c.common.luminance.to_string());
    put("max_shift_px", c.max_shift.to_string());
    put("matched_pairs", sims.len().to_string());
    put("matched_similarity_mean", cell(s.mean));
    put("matched_similarity_median", cell(s.median));
    put("matched_similarity_q25", cell(s.q25));
    put("matched_similarity_q75", cell(s.q75));
    put("fraction_above_0.5", cell(frac(0.5)));
    put("fraction_above_0.8", cell(frac(0.8)));
    put("null_draws", c.null_scores.len().to_string());
    put("null_mean", cell(null_mean));
    put("null_sd", cell(null_sd));
    put("z_score", cell(z));
    for ((name, test), (_, ma, mb)) in c.parameter_tests.iter().zip(&c.parameter_medians) {
        let (stat, centre) = if *name == "orientation_deg" {
            ("kuiper_v", "axial_mean")
        } else {
            ("ks_d", "median")
        };
        put(&format!("{name}_{centre}_a"), cell(*ma));
        put(&format!("{name}_{centre}_b"), cell(*mb));
        put(&format!("{name}_n_a"), test.n_a.to_string());
        put(&format!("{name}_n_b"), test.n_b.to_string());
        put(&format!("{name}_{stat}"), cell(test.statistic));
        put(&format!("{name}_p_value"), cell(test.p_value));
    }
    t
}
