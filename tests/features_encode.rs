//! The encoders against a direct, per-window float64 computation on a tiny image, and the
//! quadrant pooling on a worked example.

use nalgebra::DMatrix;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use simplecell::features::encode::Encoder;
use simplecell::features::pool::sum_pool_quadrants;
use simplecell::features::whiten::{Whitening, normalize_rows, sample_windows};
use simplecell::features::{EncoderKind, FeaturesParams};
use simplecell::io::labelled::LabelledImages;

const SIDE: usize = 9;
const SIZE: usize = 3;
const CHANNELS: usize = 3;
const DIM: usize = CHANNELS * SIZE * SIZE;
const ATOMS: usize = 5;

fn images(count: usize, seed: u64) -> LabelledImages {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut imgs = LabelledImages::empty(SIDE, SIDE, CHANNELS, vec!["a".into(), "b".into()]);
    imgs.pixels = (0..count * SIDE * SIDE * CHANNELS)
        .map(|_| rng.random::<u8>())
        .collect();
    imgs.labels = (0..count).map(|i| (i % 2) as u16).collect();
    imgs
}

fn bank(seed: u64) -> DMatrix<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut d = DMatrix::<f32>::from_fn(DIM, ATOMS, |_, _| rng.random::<f32>() - 0.5);
    for mut c in d.column_iter_mut() {
        let n = c.norm();
        c /= n;
    }
    d
}

/// Window at (y, x) of image `i`, normalised and whitened, all in float64.
fn direct_window(
    imgs: &LabelledImages,
    i: usize,
    y: usize,
    x: usize,
    offset: f64,
    w: &Whitening,
) -> Vec<f64> {
    let img = imgs.image(i);
    let mut v = vec![0f64; DIM];
    for c in 0..CHANNELS {
        for dy in 0..SIZE {
            for dx in 0..SIZE {
                v[c * SIZE * SIZE + dy * SIZE + dx] =
                    img[((y + dy) * SIDE + x + dx) * CHANNELS + c] as f64;
            }
        }
    }
    let mean = v.iter().sum::<f64>() / DIM as f64;
    let var = v.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / (DIM - 1) as f64;
    v.iter_mut()
        .for_each(|a| *a = (*a - mean) / (var + offset).sqrt());
    (0..DIM)
        .map(|j| {
            (0..DIM)
                .map(|k| (v[k] - w.mean[k] as f64) * w.matrix[k * DIM + j] as f64)
                .sum()
        })
        .collect()
}

/// Lasso codes of one window by cyclic coordinate descent in float64 (5 atoms: converges
/// to machine precision in a few hundred sweeps).
fn direct_lasso(x: &[f64], d: &DMatrix<f32>, lambda: f64) -> Vec<f64> {
    let col = |k: usize| (0..DIM).map(move |r| d[(r, k)] as f64);
    let mut a = vec![0f64; ATOMS];
    let mut r: Vec<f64> = x.to_vec();
    for _ in 0..5000 {
        for (k, ak) in a.iter_mut().enumerate() {
            let nk: f64 = col(k).map(|v| v * v).sum();
            let rho: f64 = col(k).zip(&r).map(|(dv, rv)| dv * rv).sum::<f64>() + nk * *ak;
            let new = rho.signum() * (rho.abs() - lambda).max(0.0) / nk;
            for (rv, dv) in r.iter_mut().zip(col(k)) {
                *rv -= dv * (new - *ak);
            }
            *ak = new;
        }
    }
    a
}

/// The pooled features of image `i`, computed window by window.
fn direct_features(
    imgs: &LabelledImages,
    i: usize,
    kind: EncoderKind,
    d: &DMatrix<f32>,
    w: &Whitening,
    p: &FeaturesParams,
) -> Vec<f64> {
    let n = SIDE - SIZE + 1;
    let half = n.div_ceil(2);
    let per = kind.features_per_atom() * ATOMS;
    let mut out = vec![0f64; 4 * per];
    for y in 0..n {
        for x in 0..n {
            let q = 2 * usize::from(y >= half) + usize::from(x >= half);
            let v = direct_window(imgs, i, y, x, p.normalization_offset as f64, w);
            let z: Vec<f64> = (0..ATOMS)
                .map(|k| (0..DIM).map(|r| v[r] * d[(r, k)] as f64).sum())
                .collect();
            let acc = &mut out[q * per..(q + 1) * per];
            match kind {
                EncoderKind::SoftThreshold => {
                    for k in 0..ATOMS {
                        acc[k] += (z[k] - p.alpha as f64).max(0.0);
                        acc[ATOMS + k] += (-z[k] - p.alpha as f64).max(0.0);
                    }
                }
                EncoderKind::Triangle => {
                    let dist: Vec<f64> = (0..ATOMS)
                        .map(|k| {
                            (0..DIM)
                                .map(|r| (v[r] - d[(r, k)] as f64).powi(2))
                                .sum::<f64>()
                                .sqrt()
                        })
                        .collect();
                    let mean = dist.iter().sum::<f64>() / ATOMS as f64;
                    for k in 0..ATOMS {
                        acc[k] += (mean - dist[k]).max(0.0);
                    }
                }
                EncoderKind::Lasso => {
                    let a = direct_lasso(&v, d, p.lasso_lambda as f64);
                    for (k, &ak) in a.iter().enumerate() {
                        acc[k] += ak.max(0.0);
                        acc[ATOMS + k] += (-ak).max(0.0);
                    }
                }
            }
        }
    }
    out
}

#[test]
fn every_encoder_matches_a_direct_per_window_computation() {
    let imgs = images(5, 1);
    // A real (not identity) whitening, estimated from the images' own windows.
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let mut windows = sample_windows(&imgs, 2000, SIZE, &mut rng);
    normalize_rows(&mut windows, DIM, 10.0);
    let w = Whitening::estimate(&windows, DIM, 0.1).unwrap();
    let d = bank(3);
    for kind in [
        EncoderKind::SoftThreshold,
        EncoderKind::Triangle,
        EncoderKind::Lasso,
    ] {
        let params = FeaturesParams {
            atoms: ATOMS,
            patch_size: SIZE,
            encoder: kind,
            alpha: 0.1,
            lasso_lambda: 0.3,
            lasso_tol: 1e-9,
            patches: 2000,
            ..Default::default()
        };
        let valid = params.check().unwrap();
        let enc = Encoder::new(&d, &w, CHANNELS, &valid);
        let f = enc.feature_len();
        assert_eq!(f, 4 * kind.features_per_atom() * ATOMS);
        let order = [3usize, 0, 4, 1, 2];
        let mut out = vec![0f32; order.len() * f];
        // Batches of 2 images: batch boundaries inside the set are exercised.
        enc.encode_into(&imgs, &order, 2, &mut out, &|_| {})
            .unwrap();
        for (row, &i) in order.iter().enumerate() {
            let want = direct_features(&imgs, i, kind, &d, &w, &params);
            for (j, (&got, &exp)) in out[row * f..(row + 1) * f].iter().zip(&want).enumerate() {
                // Each pooled value sums at most 16 windows' features of order 1, each made
                // in float32 (relative rounding 6e-8 per operation over ~30-term sums), so
                // 1e-5 relative to max(1, |value|) is several times the rounding; a wrong
                // window, sign, threshold or quadrant is off by far more.
                assert!(
                    (got as f64 - exp).abs() <= 1e-5 * exp.abs().max(1.0),
                    "{kind:?} image {i} feature {j}: {got} vs {exp}"
                );
            }
        }
    }
}

#[test]
fn quadrant_pooling_on_a_worked_example() {
    // A 3x3 grid whose single feature is the position index 0..8; the cut is at
    // ceil(3/2) = 2, so the quadrants hold {0,1,3,4}, {2,5}, {6,7} and {8}.
    let values: Vec<f32> = (0..9).map(|v| v as f32).collect();
    let mut pooled = vec![0f32; 4];
    sum_pool_quadrants(&values, 3, 1, &mut pooled);
    assert_eq!(pooled, vec![8.0, 7.0, 13.0, 8.0]);
    // Two features, the second the negative of the first: pooled per feature, quadrant-major.
    let two: Vec<f32> = (0..9).flat_map(|v| [v as f32, -(v as f32)]).collect();
    let mut pooled = vec![0f32; 8];
    sum_pool_quadrants(&two, 3, 2, &mut pooled);
    assert_eq!(pooled, vec![8.0, -8.0, 7.0, -7.0, 13.0, -13.0, 8.0, -8.0]);
    // 27 x 27 positions (6x6 windows on 32x32): quadrants of 14x14, 14x13, 13x14, 13x13.
    let ones = vec![1f32; 27 * 27];
    let mut pooled = vec![0f32; 4];
    sum_pool_quadrants(&ones, 27, 1, &mut pooled);
    assert_eq!(pooled, vec![196.0, 182.0, 182.0, 169.0]);
}
