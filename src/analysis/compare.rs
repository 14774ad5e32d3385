//! Comparing two filter banks: the similarity table (shift- and sign-maximised normalised
//! cross-correlation, [`super::similarity`]), the optimal one-to-one matching, a null
//! baseline from phase-randomised copies of B, and two-sample tests of the two banks' Gabor
//! parameters. [`super::report`] turns a [`Comparison`] into tables.

use super::matching;
use super::measures::{self, FilterMeasures, MeasureOptions};
use super::planes::{self, ColourMode};
use super::similarity::{self, Common, SimilarityMatrix};
use super::stats::{self, TwoSample};
use crate::bank::Bank;
use crate::observer::Progress;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

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

/// Matched pairs, best first (ties by A index).
pub fn sorted_pairs(c: &Comparison) -> Vec<Pair> {
    let mut pairs = c.pairs.clone();
    pairs.sort_by(|x, y| y.similarity.total_cmp(&x.similarity).then(x.a.cmp(&y.a)));
    pairs
}
