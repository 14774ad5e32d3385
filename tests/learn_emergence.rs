//! Olshausen-Field emergence on real photographs: dictionaries learned with the OF rule from
//! whitened 12x12 patches of the Kodak images are localized and oriented, like simple-cell
//! receptive fields. The patches are made here (grayscale, log luminance, random 12x12
//! patches, DC removed, ZCA-whitened, scaled to mean(x^2) = 1) so the test does not depend on
//! the extraction module. The measures are simple ones computed here (the analysis module's
//! Gabor fits are built in parallel): the fraction of pixels holding 80% of an atom's energy,
//! and the concentration of its power spectrum around one orientation.

mod common;

use nalgebra::{DMatrix, SymmetricEigen};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use simplecell::dictionary::data::PatchSource;
use simplecell::dictionary::{LearnConfig, Learner, StopRule, UpdateKind};
use simplecell::observer::Silent;

const SIZE: usize = 12;
const PIXELS: usize = SIZE * SIZE;

/// Whitened patches from the Kodak photographs, row-major (patches, pixels).
fn kodak_patches(dir: &std::path::Path, count: usize) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    files.sort();
    let per_image = count.div_ceil(files.len());
    let mut rows: Vec<f64> = Vec::with_capacity(count * PIXELS);
    for file in &files {
        let img = image::open(file).unwrap().to_luma32f();
        let (w, h) = (img.width() as usize, img.height() as usize);
        let lum: Vec<f64> = img
            .pixels()
            .map(|p| ((p.0[0] as f64) + 0.01).ln())
            .collect();
        for _ in 0..per_image {
            if rows.len() >= count * PIXELS {
                break;
            }
            let (x0, y0) = (rng.random_range(0..w - SIZE), rng.random_range(0..h - SIZE));
            let start = rows.len();
            for y in 0..SIZE {
                for x in 0..SIZE {
                    rows.push(lum[(y0 + y) * w + x0 + x]);
                }
            }
            let mean = rows[start..].iter().sum::<f64>() / PIXELS as f64;
            rows[start..].iter_mut().for_each(|v| *v -= mean);
        }
    }
    // ZCA: C^(-1/2) with a ridge (1% of the largest eigenvalue) that damps the noisiest
    // high-frequency directions, as Olshausen and Field's low-pass did.
    let n = rows.len() / PIXELS;
    let x = DMatrix::from_column_slice(PIXELS, n, &rows);
    let cov = &x * x.transpose() / n as f64;
    let eig = SymmetricEigen::new(cov);
    let top = eig.eigenvalues.max();
    let scale = eig
        .eigenvalues
        .map(|l| 1.0 / (l.max(0.0) + 1e-2 * top).sqrt());
    let w = &eig.eigenvectors * DMatrix::from_diagonal(&scale) * eig.eigenvectors.transpose();
    let mut white = w * x;
    let rms = (white.iter().map(|v| v * v).sum::<f64>() / white.len() as f64).sqrt();
    white /= rms;
    white.iter().map(|&v| v as f32).collect()
}

/// Fraction of pixels that hold 80% of the atom's energy (1/144 for a delta, ~0.6 for noise).
fn energy_fraction(atom: &[f32]) -> f64 {
    let mut e: Vec<f64> = atom.iter().map(|&v| (v as f64).powi(2)).collect();
    e.sort_by(|a, b| b.total_cmp(a));
    let total: f64 = e.iter().sum();
    let mut acc = 0.0;
    for (i, v) in e.iter().enumerate() {
        acc += v;
        if acc >= 0.8 * total {
            return (i + 1) as f64 / atom.len() as f64;
        }
    }
    1.0
}

/// Orientation concentration of the power spectrum: |sum P(k) e^{2i theta_k}| / sum P(k)
/// over nonzero frequencies, with the atom zero-padded to 32x32. 1 for a pure grating, near
/// 0 for an isotropic pattern.
fn orientation_strength(atom: &[f32]) -> f64 {
    const N: usize = 32;
    let (mut re2, mut im2, mut total) = (0.0f64, 0.0f64, 0.0f64);
    for ky in 0..N {
        for kx in 0..N {
            let fy = if ky < N / 2 {
                ky as f64
            } else {
                ky as f64 - N as f64
            };
            let fx = if kx < N / 2 {
                kx as f64
            } else {
                kx as f64 - N as f64
            };
            if fx == 0.0 && fy == 0.0 {
                continue;
            }
            let (mut re, mut im) = (0.0f64, 0.0f64);
            for y in 0..SIZE {
                for x in 0..SIZE {
                    let phase =
                        -2.0 * std::f64::consts::PI * (fx * x as f64 + fy * y as f64) / N as f64;
                    let v = atom[y * SIZE + x] as f64;
                    re += v * phase.cos();
                    im += v * phase.sin();
                }
            }
            let power = re * re + im * im;
            let theta = fy.atan2(fx);
            re2 += power * (2.0 * theta).cos();
            im2 += power * (2.0 * theta).sin();
            total += power;
        }
    }
    (re2 * re2 + im2 * im2).sqrt() / total.max(1e-30)
}

#[test]
fn olshausen_field_atoms_are_localized_and_oriented() {
    let Some(dir) = common::shared_data("kodak") else {
        return;
    };
    let rows = kodak_patches(&dir, 30_000);
    let mut config = LearnConfig::new(100, 1.9);
    config.update = UpdateKind::Of;
    config.batch = 200;
    config.stop = StopRule::Steps(400);
    config.validation = 1000;
    config.validate_every = 100;
    config.train_tol = 1e-2;
    config.train_max_iter = 100;
    config.exact_tol = 1e-4;
    config.exact_max_iter = 500;
    config.seed = 2;
    let mut learner = Learner::new(config, PatchSource::from_rows(PIXELS, rows)).unwrap();
    learner.run(&Silent).unwrap();
    let d = learner.unit_dictionary();
    let k = d.ncols();
    let fractions: Vec<f64> = (0..k)
        .map(|j| energy_fraction(d.column(j).as_slice()))
        .collect();
    let strengths: Vec<f64> = (0..k)
        .map(|j| orientation_strength(d.column(j).as_slice()))
        .collect();
    let mut sorted_f = fractions.clone();
    sorted_f.sort_by(f64::total_cmp);
    let mut sorted_s = strengths.clone();
    sorted_s.sort_by(f64::total_cmp);
    eprintln!(
        "energy fraction quartiles {:?}",
        [sorted_f[k / 4], sorted_f[k / 2], sorted_f[3 * k / 4]]
    );
    eprintln!(
        "orientation quartiles {:?}",
        [sorted_s[k / 4], sorted_s[k / 2], sorted_s[3 * k / 4]]
    );
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let noise: Vec<Vec<f32>> = (0..200)
        .map(|_| {
            (0..PIXELS)
                .map(|_| rng.random_range(-1.0f32..1.0))
                .collect()
        })
        .collect();
    let mut nf: Vec<f64> = noise.iter().map(|a| energy_fraction(a)).collect();
    let mut ns: Vec<f64> = noise.iter().map(|a| orientation_strength(a)).collect();
    nf.sort_by(f64::total_cmp);
    ns.sort_by(f64::total_cmp);
    eprintln!(
        "noise energy {:?} orient {:?}",
        [nf[10], nf[100], nf[190]],
        [ns[10], ns[100], ns[190]]
    );
    let nnz = learner.history().last().unwrap().nonzero_fraction;
    eprintln!("nonzero {nnz}");
    let png = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("emergence.png");
    let shape = [k, PIXELS];
    let bank = simplecell::viz::montage::Bank::from_shape(d.as_slice(), &shape, &png).unwrap();
    let img = simplecell::viz::montage::render(&bank, &Default::default());
    simplecell::viz::montage::write_png(&img, &png, true).unwrap();
    eprintln!("montage {}", png.display());

    // The issue asks for 5-10% nonzero codes.
    assert!((0.05..=0.10).contains(&nnz), "nonzero fraction {nnz}");
    // Thresholds from the noise baseline printed above: 95% of random atoms need more than
    // 38% of the pixels for 80% of their energy and have orientation strength below 0.18.
    // An atom counts as localized below 1/3 of the pixels and as oriented above 0.35 (about
    // twice the noise's 95th percentile). "Most atoms": at least 70% each, 60% both.
    let localized = fractions.iter().filter(|&&f| f <= 1.0 / 3.0).count() as f64 / k as f64;
    let oriented = strengths.iter().filter(|&&s| s >= 0.35).count() as f64 / k as f64;
    let both = (0..k)
        .filter(|&j| fractions[j] <= 1.0 / 3.0 && strengths[j] >= 0.35)
        .count() as f64
        / k as f64;
    eprintln!("localized {localized}, oriented {oriented}, both {both}");
    assert!(localized >= 0.7, "localized fraction {localized}");
    assert!(oriented >= 0.7, "oriented fraction {oriented}");
    assert!(both >= 0.6, "localized and oriented {both}");
    // The held-out objective falls over the run (by more than 5%: seen ~12%).
    let h = learner.history();
    let (first, last) = (
        h[0].validation_objective.unwrap(),
        h.last().unwrap().validation_objective.unwrap(),
    );
    assert!(last < 0.95 * first, "held-out objective {first} -> {last}");
}
