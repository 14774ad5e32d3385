//! k-means dictionaries, the unsupervised learner of Coates, Lee and Ng (AISTATS 2011) and
//! Coates and Ng ("Learning feature representations with K-means", 2012).
//!
//! - [`KMeansVariant::Spherical`], Coates and Ng's gain-shape variant: unit-norm centroids;
//!   each point goes to the centroid with the largest |d_j . x| and contributes
//!   `(d_j . x) x` to it (so a point and its negative pull the same way); the new centroid
//!   is the normalised sum of its contributions plus the old centroid (the damping of their
//!   reference code, which keeps a centroid from jumping when few points move).
//! - [`KMeansVariant::Euclidean`], Lloyd's algorithm as in the AISTATS paper's code: nearest
//!   centroid in Euclidean distance, centroid = mean of its points.
//!
//! Both start from greedy k-means++ seeding (Arthur and Vassilvitskii 2007: each new
//! centroid a data point drawn with probability proportional to how badly the centroids so
//! far represent it; the best of a few such draws) on a random pool of at most
//! max(10 K, 10,000) points, so two centroids rarely start in one cluster, and re-seed an empty cluster with one of the worst-represented points of that
//! iteration (largest energy left after projecting on its
//! centroid, or largest distance), a different point for each. Assignments are one GEMM per
//! fixed block of points, blocks in parallel; the sums over points run in point order, so
//! the centroids do not depend on the thread count.

use crate::dictionary::data::rng_for;
use crate::error::{Error, Result};
use crate::linalg::{Backend, View, ViewMut, gemm};
use nalgebra::DMatrix;
use rand::seq::index::sample;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Which k-means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KMeansVariant {
    Spherical,
    Euclidean,
}

/// Settings of a k-means run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KMeansParams {
    /// Number of centroids K. Range 1..=the number of points.
    pub clusters: usize,
    /// Assignment-update iterations. Default 10; range >= 1.
    pub iterations: usize,
    pub variant: KMeansVariant,
    /// Seed of the initial centroids.
    pub seed: u64,
}

impl KMeansParams {
    /// Spherical k-means with 10 iterations and seed 0.
    pub fn new(clusters: usize) -> Self {
        Self {
            clusters,
            iterations: 10,
            variant: KMeansVariant::Spherical,
            seed: 0,
        }
    }
}

/// One iteration's record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KMeansIteration {
    /// Spherical: mean over points of `(d_j . x)^2 / ||x||^2` for the chosen centroid (the
    /// fraction of energy captured). Euclidean: mean squared distance to the centroid.
    pub objective: f64,
    /// Clusters that received no point and were re-seeded.
    pub reseeded: usize,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KMeansReport {
    pub variant: KMeansVariant,
    pub history: Vec<KMeansIteration>,
    pub seconds: f64,
}

/// Points per assignment block (one GEMM each).
const BLOCK: usize = 4096;

/// The stream of the seed that picks the initial centroids.
const STREAM_KMEANS_INIT: u64 = (1 << 62) + 7;

/// Runs k-means on the rows of `points` (row-major, `dim` columns). Returns the centroids
/// as columns of a dim x K matrix (the dictionary convention) and the report.
pub fn kmeans(
    points: &[f32],
    dim: usize,
    params: &KMeansParams,
) -> Result<(DMatrix<f32>, KMeansReport)> {
    let started = std::time::Instant::now();
    if dim == 0 || !points.len().is_multiple_of(dim) {
        return Err(Error::param("dim", dim, "must divide the number of values"));
    }
    let n = points.len() / dim;
    let k = params.clusters;
    if k == 0 || k > n {
        return Err(Error::param(
            "clusters",
            k,
            format!("must be in 1..={n} (the number of points)"),
        ));
    }
    if params.iterations == 0 {
        return Err(Error::param("iterations", 0, "must be at least 1"));
    }
    let spherical = params.variant == KMeansVariant::Spherical;
    let sq_norms: Vec<f32> = points
        .par_chunks(dim)
        .map(|p| p.iter().map(|v| v * v).sum())
        .collect();
    let mut rng = rng_for(params.seed, STREAM_KMEANS_INIT);
    let mut centroids = seed_plus_plus(points, dim, k, &sq_norms, spherical, &mut rng);
    if spherical {
        normalize_or_keep(&mut centroids);
    }
    let mut history = Vec::with_capacity(params.iterations);
    for _ in 0..params.iterations {
        let (assign, score) = assign_points(points, dim, &centroids, spherical);
        // Sums in point order (deterministic), in float64.
        let mut sums = vec![0f64; dim * k];
        let mut counts = vec![0usize; k];
        let mut objective = 0f64;
        for i in 0..n {
            let j = assign[i];
            counts[j] += 1;
            let w = if spherical { score[i] as f64 } else { 1.0 };
            let x = &points[i * dim..(i + 1) * dim];
            for (s, &v) in sums[j * dim..(j + 1) * dim].iter_mut().zip(x) {
                *s += w * v as f64;
            }
            objective += if spherical {
                let xx = sq_norms[i] as f64;
                if xx > 0.0 {
                    (score[i] as f64).powi(2) / xx
                } else {
                    0.0
                }
            } else {
                residual(i, &score, &sq_norms, spherical) as f64
            };
        }
        // The worst-represented points, worst first, ties by position.
        let empty: Vec<usize> = (0..k).filter(|&j| counts[j] == 0).collect();
        let mut worst: Vec<(f32, usize)> = Vec::new();
        if !empty.is_empty() {
            worst = (0..n)
                .map(|i| (residual(i, &score, &sq_norms, spherical), i))
                .collect();
            let take = empty.len().min(n);
            worst.select_nth_unstable_by(take - 1, |a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            worst.truncate(take);
            worst.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        }
        for j in 0..k {
            let mut col = centroids.column_mut(j);
            if counts[j] == 0 {
                continue;
            }
            let s = &sums[j * dim..(j + 1) * dim];
            if spherical {
                // The paper's damping: the old unit centroid plus the new sum.
                for (c, &v) in col.iter_mut().zip(s) {
                    *c = (*c as f64 + v) as f32;
                }
            } else {
                for (c, &v) in col.iter_mut().zip(s) {
                    *c = (v / counts[j] as f64) as f32;
                }
            }
        }
        for (&j, &(_, i)) in empty.iter().zip(&worst) {
            centroids
                .column_mut(j)
                .copy_from_slice(&points[i * dim..(i + 1) * dim]);
        }
        if spherical {
            normalize_or_keep(&mut centroids);
        }
        history.push(KMeansIteration {
            objective: objective / n as f64,
            reseeded: empty.len(),
        });
    }
    Ok((
        centroids,
        KMeansReport {
            variant: params.variant,
            history,
            seconds: started.elapsed().as_secs_f64(),
        },
    ))
}

/// How badly point `i` is represented by its centroid: the energy left after projecting on
/// it (spherical), or its squared distance (Euclidean, where `score` holds
/// `x.c - ||c||^2 / 2`, so the distance is `||x||^2 - 2 score`).
fn residual(i: usize, score: &[f32], sq_norms: &[f32], spherical: bool) -> f32 {
    if spherical {
        (sq_norms[i] - score[i] * score[i]).max(0.0)
    } else {
        (sq_norms[i] - 2.0 * score[i]).max(0.0)
    }
}

/// The centroid of every point and its score: spherical, the signed `d_j . x` of the
/// largest |d_j . x|; Euclidean, the largest `x . c_j - ||c_j||^2 / 2` (the nearest
/// centroid). Ties go to the lowest index.
fn assign_points(
    points: &[f32],
    dim: usize,
    centroids: &DMatrix<f32>,
    spherical: bool,
) -> (Vec<usize>, Vec<f32>) {
    let k = centroids.ncols();
    let half_sq: Vec<f32> = centroids
        .column_iter()
        .map(|c| 0.5 * c.iter().map(|v| v * v).sum::<f32>())
        .collect();
    let blocks: Vec<(Vec<usize>, Vec<f32>)> = points
        .par_chunks(BLOCK * dim)
        .map(|block| {
            let b = block.len() / dim;
            let mut s = vec![0f32; b * k];
            gemm(
                Backend::MatrixMultiply,
                (b, dim, k),
                1.0,
                View::rows(block, dim),
                View::transposed(centroids.as_slice(), dim),
                0.0,
                ViewMut::rows(&mut s, k),
            );
            let mut assign = Vec::with_capacity(b);
            let mut score = Vec::with_capacity(b);
            for row in s.chunks_exact(k) {
                let (mut best, mut best_key, mut best_val) = (0usize, f32::NEG_INFINITY, 0f32);
                for (j, &v) in row.iter().enumerate() {
                    let key = if spherical { v.abs() } else { v - half_sq[j] };
                    if key > best_key {
                        (best, best_key, best_val) = (j, key, v);
                    }
                }
                assign.push(best);
                score.push(if spherical { best_val } else { best_key });
            }
            (assign, score)
        })
        .collect();
    let mut assign = Vec::with_capacity(points.len() / dim);
    let mut score = Vec::with_capacity(points.len() / dim);
    for (a, s) in blocks {
        assign.extend(a);
        score.extend(s);
    }
    (assign, score)
}

/// Points in the k-means++ pool per centroid (and at least [`SEED_POOL_MIN`]).
const SEED_POOL_PER_CLUSTER: usize = 10;
const SEED_POOL_MIN: usize = 10_000;

/// Greedy k-means++ seeding (as scikit-learn's): on a random pool of points, the first
/// centroid is uniform; for each next one, `2 + ln K` candidates are drawn with probability
/// proportional to each pool point's badness (energy left after projecting on its best unit
/// centroid, or squared distance to its nearest centroid), and the candidate that lowers the
/// pool's total badness most is kept. Plain k-means++ leaves a cluster unseeded whenever the
/// noise energy of the covered clusters outweighs it, and Lloyd iterations never repair
/// that; the greedy step makes it rare. The candidates' products with the pool are one GEMM
/// per step, and every sum runs in a fixed order, so the result does not depend on threads.
fn seed_plus_plus(
    points: &[f32],
    dim: usize,
    k: usize,
    sq_norms: &[f32],
    spherical: bool,
    rng: &mut rand_chacha::ChaCha8Rng,
) -> DMatrix<f32> {
    use rand::Rng;
    let n = points.len() / dim;
    let m = n.min((SEED_POOL_PER_CLUSTER * k).max(SEED_POOL_MIN));
    let mut pool_index: Vec<usize> = sample(rng, n, m).into_vec();
    pool_index.sort_unstable();
    let mut pool = Vec::with_capacity(m * dim);
    for &i in &pool_index {
        pool.extend_from_slice(&points[i * dim..(i + 1) * dim]);
    }
    let pool_sq: Vec<f32> = pool_index.iter().map(|&i| sq_norms[i]).collect();
    let trials = 2 + (k as f64).ln().floor() as usize;
    let mut centroids = DMatrix::<f32>::zeros(dim, k);
    let mut badness = vec![f32::INFINITY; m];
    let mut candidates = vec![0f32; trials * dim];
    let mut dots = vec![0f32; m * trials];
    // The badness of every pool point under each of `count` candidates (rows of
    // `candidates`), from one GEMM: column t of the result holds candidate t.
    let residuals = |count: usize, candidates: &[f32], dots: &mut [f32]| {
        gemm(
            Backend::MatrixMultiply,
            (m, dim, count),
            1.0,
            View::rows(&pool, dim),
            View::transposed(&candidates[..count * dim], dim),
            0.0,
            ViewMut::rows(&mut dots[..m * count], count),
        );
        let cc: Vec<f32> = candidates[..count * dim]
            .chunks_exact(dim)
            .map(|c| c.iter().map(|v| v * v).sum())
            .collect();
        for (row, &xx) in dots[..m * count].chunks_exact_mut(count).zip(&pool_sq) {
            for (v, &c) in row.iter_mut().zip(&cc) {
                let dot = *v;
                *v = if spherical {
                    if c > 0.0 {
                        (xx - dot * dot / c).max(0.0)
                    } else {
                        xx
                    }
                } else {
                    (xx - 2.0 * dot + c).max(0.0)
                };
            }
        }
    };
    let first = rng.random_range(0..m);
    candidates[..dim].copy_from_slice(&pool[first * dim..(first + 1) * dim]);
    for j in 0..k {
        let count = if j == 0 { 1 } else { trials };
        if j > 0 {
            let total: f64 = badness.iter().map(|&b| b as f64).sum();
            for t in 0..trials {
                let p = if total > 0.0 {
                    let mut target = rng.random::<f64>() * total;
                    let mut chosen = 0;
                    for (p, &b) in badness.iter().enumerate() {
                        if b > 0.0 {
                            chosen = p;
                            target -= b as f64;
                            if target < 0.0 {
                                break;
                            }
                        }
                    }
                    chosen
                } else {
                    // Every pool point is represented exactly: any point will do.
                    rng.random_range(0..m)
                };
                candidates[t * dim..(t + 1) * dim].copy_from_slice(&pool[p * dim..(p + 1) * dim]);
            }
        }
        residuals(count, &candidates, &mut dots);
        // The candidate whose addition leaves the least total badness (ties: the first).
        let mut best = (0usize, f64::INFINITY);
        for t in 0..count {
            let total: f64 = dots[..m * count]
                .chunks_exact(count)
                .zip(&badness)
                .map(|(row, &b)| b.min(row[t]) as f64)
                .sum();
            if total < best.1 {
                best = (t, total);
            }
        }
        let t = best.0;
        for (b, row) in badness
            .iter_mut()
            .zip(dots[..m * count].chunks_exact(count))
        {
            *b = b.min(row[t]);
        }
        centroids
            .column_mut(j)
            .copy_from_slice(&candidates[t * dim..(t + 1) * dim]);
    }
    centroids
}

/// Scales every nonzero column to unit norm (a zero column, possible only for an all-zero
/// data point, stays zero).
fn normalize_or_keep(d: &mut DMatrix<f32>) {
    super::normalize_columns(d);
}
