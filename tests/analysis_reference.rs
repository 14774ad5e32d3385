//! Agreement with an independent NumPy/SciPy computation on fixture arrays. The arrays and
//! the reference values were made by tests/fixtures/analysis/make_reference.py (run it with
//! any Python that has numpy and scipy to regenerate them); it shares no code with simplecell
//! and fits Gabors with SciPy's MINPACK Levenberg-Marquardt from a grid of starts.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;
use simplecell::analysis::codes;
use simplecell::analysis::gabor::FitOptions;
use simplecell::analysis::matching;
use simplecell::analysis::measures::measure_plane;
use simplecell::analysis::planes::{ColourMode, planes};
use simplecell::analysis::report::FILTER_COLUMNS;
use simplecell::analysis::report::filter_values;
use simplecell::analysis::similarity::{prepare_pair, similarity_matrix};
use simplecell::analysis::spectrum::SpectrumWorkspace;
use simplecell::analysis::stats::ks_two_sample;
use simplecell::io::npy;
use simplecell::viz::montage::Bank;
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/analysis")
        .join(name)
}

fn reference() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("reference.json")).unwrap()).unwrap()
}

fn close(a: f64, b: f64, tol: f64, what: &str) {
    assert!(
        (a - b).abs() <= tol * (1.0 + b.abs()),
        "{what}: simplecell {a}, reference {b}"
    );
}

#[test]
fn per_filter_measures_match_numpy() {
    let r = reference();
    let a = npy::read(&fixture("bank_a.npy")).unwrap();
    let bank = Bank::from_shape(&a.data, &a.shape, &fixture("bank_a.npy")).unwrap();
    let mut ws = SpectrumWorkspace::new(bank.size);
    for (i, plane) in planes(&bank, ColourMode::Luminance).iter().enumerate() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let m = measure_plane(plane, &mut ws, &FitOptions::default(), &mut rng);
        let values = filter_values(&m, bank.size);
        let expect = &r["filters"][i];
        // Closed-form measures: same definitions, float64 on both sides, so agreement to
        // rounding (FFT rounding is about 1e-13 relative; 1e-9 leaves room).
        // FILTER_COLUMNS[2..13]: l2_norm through peak_orientation_deg.
        for (k, name) in FILTER_COLUMNS[2..13].iter().enumerate() {
            close(
                values[k],
                expect[*name].as_f64().unwrap(),
                1e-9,
                &format!("filter {i} {name}"),
            );
        }
        let g = m.gabor.unwrap();
        let scipy_r2 = expect["gabor_r2"].as_f64().unwrap();
        if scipy_r2 <= 0.9 {
            // Noise and a spiky filter: least squares has many shallow local optima there.
            // On the spiky filter SciPy (unbounded) reaches R^2 0.67 with a degenerate
            // 0.03-pixel-wide envelope that simplecell's 0.2-pixel lower bound forbids, so
            // the check is that both call these filters far from Gabor-like, with simplecell
            // within 0.25 of SciPy's R^2.
            assert!(
                g.r2 < 0.9 && g.r2 > scipy_r2 - 0.25,
                "filter {i}: R^2 {} vs SciPy {scipy_r2}",
                g.r2
            );
            continue;
        }
        // On the six noisy Gabors simplecell must reach SciPy's optimum (to 1e-6 in R^2).
        assert!(
            g.r2 > scipy_r2 - 1e-6,
            "filter {i}: R^2 {} vs SciPy {scipy_r2}",
            g.r2
        );
        {
            // Same optimum, so the parameters agree to the optimisers' stopping tolerances.
            let dt = (g.params.theta.to_degrees()
                - expect["gabor_orientation_deg"].as_f64().unwrap())
            .rem_euclid(180.0);
            assert!(
                dt.min(180.0 - dt) < 0.1,
                "filter {i}: orientation off by {dt}"
            );
            close(
                g.params.frequency,
                expect["gabor_frequency_cycles_per_pixel"].as_f64().unwrap(),
                1e-3,
                "frequency",
            );
            close(
                g.params.sigma_x,
                expect["gabor_sigma_x_px"].as_f64().unwrap(),
                1e-3,
                "sigma_x",
            );
            close(
                g.params.sigma_y,
                expect["gabor_sigma_y_px"].as_f64().unwrap(),
                1e-3,
                "sigma_y",
            );
        }
    }
}

#[test]
fn similarity_matching_and_ks_match_scipy() {
    let r = reference();
    let a = npy::read(&fixture("bank_a.npy")).unwrap();
    let b = npy::read(&fixture("bank_b.npy")).unwrap();
    let bank_a = Bank::from_shape(&a.data, &a.shape, &fixture("bank_a.npy")).unwrap();
    let bank_b = Bank::from_shape(&b.data, &b.shape, &fixture("bank_b.npy")).unwrap();
    let (na, nb, _) = prepare_pair(&bank_a, &bank_b);
    let m = similarity_matrix(&na, &nb, 2);
    for i in 0..m.rows {
        for j in 0..m.cols {
            let expect = r["similarity"][i][j].as_f64().unwrap();
            // simplecell correlates float32 unit vectors: about 1e-7 rounding per product.
            close(
                m.at(i, j) as f64,
                expect,
                1e-5,
                &format!("similarity {i},{j}"),
            );
        }
    }
    let pairs = matching::maximise(&m.similarity, m.rows, m.cols);
    let expect: Vec<(usize, usize)> = r["matching"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p[0].as_u64().unwrap() as usize,
                p[1].as_u64().unwrap() as usize,
            )
        })
        .collect();
    assert_eq!(pairs, expect);
    let x: Vec<f64> = a
        .data
        .chunks(144)
        .flat_map(|f| f[..10].iter().map(|&v| v as f64))
        .collect();
    let y: Vec<f64> = b
        .data
        .chunks(144)
        .flat_map(|f| f[..7].iter().map(|&v| v as f64))
        .collect();
    let ks = ks_two_sample(&x, &y);
    close(
        ks.statistic,
        r["ks"]["statistic"].as_f64().unwrap(),
        1e-12,
        "KS D",
    );
    close(
        ks.p_value,
        r["ks"]["p_value"].as_f64().unwrap(),
        1e-9,
        "KS p",
    );
}

#[test]
fn code_sparsity_matches_scipy() {
    let r = reference();
    let c = npy::read(&fixture("codes.npy")).unwrap();
    let (samples, units) = (c.shape[0], c.shape[1]);
    let pop = codes::population(&c.data, samples, units);
    for (s, rec) in pop.iter().enumerate() {
        let expect = &r["codes_population"][s];
        match expect[0].as_f64() {
            Some(h) => {
                close(rec.hoyer, h, 1e-9, "population hoyer");
                close(
                    rec.gini,
                    expect[1].as_f64().unwrap(),
                    1e-9,
                    "population gini",
                );
            }
            // An all-zero sample: undefined, reported as NaN.
            None => assert!(rec.hoyer.is_nan() && rec.gini.is_nan() && rec.fraction_zero == 1.0),
        }
    }
    let life = codes::lifetime(&c.data, samples, units);
    for (u, rec) in life.iter().enumerate() {
        let expect = r["codes_lifetime_kurtosis"][u].as_f64().unwrap();
        close(rec.excess_kurtosis, expect, 1e-9, "lifetime kurtosis");
    }
}
