//! The CSV reports: per-filter and summary tables for `analyze`, population and lifetime
//! tables for codes, and the tables of a bank comparison ([`super::compare`]). Column names
//! carry their units; the README documents every one, so changing a name here is an
//! interface change.

use super::codes::VectorSparsity;
use super::compare::{Comparison, sorted_pairs};
use super::measures::FilterMeasures;
use super::stats;
use crate::io::table::{Table, cell};

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
