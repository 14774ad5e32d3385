//! Spherical (and Euclidean) k-means recover planted centroids: points are unit-norm
//! centroids scaled by a random gain of either sign, plus small isotropic noise, so the
//! best gain-shape code of each point is its own centroid.

use nalgebra::DMatrix;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use simplecell::dictionary::kmeans::{KMeansParams, KMeansVariant, kmeans};

/// `k` random unit vectors in `dim` dimensions (columns) and `n` points around them.
fn planted(
    dim: usize,
    k: usize,
    n: usize,
    noise: f32,
    signed: bool,
    seed: u64,
) -> (DMatrix<f32>, Vec<f32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut c = DMatrix::<f32>::from_fn(dim, k, |_, _| rng.sample(StandardNormal));
    for mut col in c.column_iter_mut() {
        let norm = col.norm();
        col /= norm;
    }
    let mut points = Vec::with_capacity(n * dim);
    for i in 0..n {
        let j = i % k;
        let gain: f32 = rng.random_range(1.0..3.0);
        let sign = if signed && rng.random::<bool>() {
            -1.0
        } else {
            1.0
        };
        for r in 0..dim {
            points.push(sign * gain * c[(r, j)] + noise * rng.sample::<f32, _>(StandardNormal));
        }
    }
    (c, points)
}

/// For each planted centroid, the largest |cosine| with a learned one.
fn best_matches(planted: &DMatrix<f32>, learned: &DMatrix<f32>) -> Vec<f32> {
    planted
        .column_iter()
        .map(|p| {
            learned
                .column_iter()
                .map(|l| (p.dot(&l) / (p.norm() * l.norm())).abs())
                .fold(0.0, f32::max)
        })
        .collect()
}

#[test]
fn spherical_kmeans_recovers_planted_unit_norm_centroids() {
    let (dim, k, n) = (36, 20, 4000);
    // Noise 0.02 per coordinate: a point's noise has norm about 0.12 against a gain of 1-3,
    // so its own centroid is always the best match; points come with either sign, which the
    // gain-shape variant must fold together. (At noise 0.05 the noise energy of the covered
    // clusters competes with an uncovered one during seeding, and about one seed in five
    // leaves a cluster unseeded, which Lloyd iterations cannot repair; README, features.)
    let (c, points) = planted(dim, k, n, 0.02, true, 11);
    // Five seeds: seeding must find every cluster, not just once.
    for seed in 1..=5 {
        let params = KMeansParams {
            clusters: k,
            iterations: 15,
            variant: KMeansVariant::Spherical,
            seed,
        };
        let (learned, report) = kmeans(&points, dim, &params).unwrap();
        for col in learned.column_iter() {
            assert!((col.norm() - 1.0).abs() < 1e-5, "centroids are unit norm");
        }
        let matches = best_matches(&c, &learned);
        // With 200 points per cluster and noise 0.02, a recovered centroid's direction is off
        // by about 0.02 * sqrt(dim / 200) / gain, a cosine above 0.9999; 0.99 leaves room
        // while a merged or missing cluster (cosine 0.2-0.9 to the nearest learned one) fails.
        let worst = matches.iter().cloned().fold(1.0, f32::min);
        assert!(worst > 0.99, "best |cos| per planted centroid: {matches:?}");
        // The captured energy fraction rises to near 1 - noise energy (about 0.997 here).
        let first = report.history[0].objective;
        let last = report.history.last().unwrap().objective;
        assert!(last >= first && last > 0.99, "{:?}", report.history);
    }
}
#[test]
fn empty_clusters_are_reseeded_from_data_and_runs_repeat_exactly() {
    // More clusters than distinct points (3 directions repeated exactly): seeding must
    // start some centroids on duplicates, which lose every tie and end up empty each
    // iteration; every centroid must still be a unit vector from the data, never zero.
    let (dim, k, n) = (8, 12, 600);
    let (c, _) = planted(dim, 3, 3, 0.0, false, 5);
    let points: Vec<f32> = (0..n)
        .flat_map(|i| c.column(i % 3).iter().copied().collect::<Vec<_>>())
        .collect();
    let params = KMeansParams {
        clusters: k,
        iterations: 5,
        variant: KMeansVariant::Spherical,
        seed: 1,
    };
    let (a, report) = kmeans(&points, dim, &params).unwrap();
    assert!(
        report.history.iter().any(|h| h.reseeded > 0),
        "{:?}",
        report.history
    );
    for col in a.column_iter() {
        assert!((col.norm() - 1.0).abs() < 1e-5);
    }
    let (b, _) = kmeans(&points, dim, &params).unwrap();
    assert_eq!(a, b, "same seed, same centroids");
}

#[test]
fn euclidean_kmeans_recovers_planted_means() {
    let (dim, k, n) = (10, 5, 2000);
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let means = DMatrix::<f32>::from_fn(dim, k, |_, _| 5.0 * rng.sample::<f32, _>(StandardNormal));
    let mut points = Vec::new();
    for i in 0..n {
        for r in 0..dim {
            points.push(means[(r, i % k)] + 0.1 * rng.sample::<f32, _>(StandardNormal));
        }
    }
    let params = KMeansParams {
        clusters: k,
        iterations: 10,
        variant: KMeansVariant::Euclidean,
        seed: 0,
    };
    let (learned, _) = kmeans(&points, dim, &params).unwrap();
    for j in 0..k {
        let nearest = learned
            .column_iter()
            .map(|l| (l - means.column(j)).norm())
            .fold(f32::INFINITY, f32::min);
        // A mean of 400 points with noise 0.1 is within 0.1 * sqrt(10 / 400) = 0.016 of the
        // truth; 0.1 is far below the distance between planted means (about 7 * sqrt(2)).
        assert!(nearest < 0.1, "mean {j}: nearest centroid {nearest}");
    }
}
