//! Gabor fitting and per-filter measures on synthetic filters with known answers: exact
//! Gabors are recovered, noisy ones stay close with a lower R^2, white noise fits badly and
//! has the Hoyer sparsity expected of Gaussian vectors.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use simplecell::analysis::gabor::{FitOptions, GaborParams};
use simplecell::analysis::measures::{FilterMeasures, measure_plane};
use simplecell::analysis::planes::Plane;
use simplecell::analysis::spectrum::SpectrumWorkspace;

fn cases() -> Vec<GaborParams> {
    let g = |x0: f64, y0: f64, deg: f64, f: f64, phase_deg: f64, sx: f64, sy: f64| GaborParams {
        x0,
        y0,
        theta: deg.to_radians(),
        frequency: f,
        phase: phase_deg.to_radians(),
        sigma_x: sx,
        sigma_y: sy,
        amplitude: 1.0,
    };
    vec![
        g(0.7, -0.4, 20.0, 0.12, 30.0, 2.5, 3.5),
        g(0.0, 0.0, 75.0, 0.2, 90.0, 2.0, 3.0),
        g(-1.0, 0.5, 130.0, 0.25, 200.0, 1.8, 2.5),
        g(0.3, 1.2, 170.0, 0.09, 0.0, 3.5, 3.0),
        g(-0.5, -0.5, 45.0, 0.16, 300.0, 2.2, 4.0),
    ]
}

fn measure(values: Vec<f64>, size: usize, seed: u64) -> FilterMeasures {
    let plane = Plane {
        filter: 0,
        channel: None,
        size,
        values,
    };
    let mut ws = SpectrumWorkspace::new(size);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    measure_plane(&plane, &mut ws, &FitOptions::default(), &mut rng)
}

fn angle_error_deg(a: f64, b: f64) -> f64 {
    let d = (a - b).to_degrees().rem_euclid(180.0);
    d.min(180.0 - d)
}

#[test]
fn exact_gabors_are_recovered() {
    for (i, truth) in cases().iter().enumerate() {
        let m = measure(truth.render(16), 16, i as u64);
        let g = m.gabor.expect("a fit");
        let p = g.params;
        // The tolerances; a noiseless Gabor is inside the model family, so the fit
        // should in fact be exact to many digits, and these bounds leave room for that.
        assert!(g.r2 > 0.99, "case {i}: {g:?}");
        assert!(
            angle_error_deg(p.theta, truth.theta) < 3.0,
            "case {i}: {g:?}"
        );
        assert!(
            (p.frequency / truth.frequency - 1.0).abs() < 0.05,
            "case {i}: {g:?}"
        );
        assert!(
            (p.sigma_x / truth.sigma_x - 1.0).abs() < 0.10,
            "case {i}: {g:?}"
        );
        assert!(
            (p.sigma_y / truth.sigma_y - 1.0).abs() < 0.10,
            "case {i}: {g:?}"
        );
        // The spectral peak alone is a coarser estimate (the two lobes of a real Gabor's
        // spectrum overlap and pull it); 15% and 6 degrees hold for these envelopes.
        assert!(
            (m.peak_frequency / truth.frequency - 1.0).abs() < 0.15,
            "case {i}: {m:?}"
        );
        assert!(
            angle_error_deg(m.peak_orientation, truth.theta) < 6.0,
            "case {i}: {m:?}"
        );
    }
}

#[test]
fn noisy_gabors_fit_worse_but_parameters_stay_close() {
    let normal = Normal::new(0.0, 1.0).unwrap();
    for (i, truth) in cases().iter().enumerate() {
        let clean = truth.render(16);
        let rms = (clean.iter().map(|v| v * v).sum::<f64>() / clean.len() as f64).sqrt();
        let mut rng = ChaCha8Rng::seed_from_u64(100 + i as u64);
        // Noise at 30% of the signal's RMS: SNR about 11 in power.
        let noisy: Vec<f64> = clean
            .iter()
            .map(|v| v + 0.3 * rms * normal.sample(&mut rng))
            .collect();
        let exact = measure(clean, 16, i as u64).gabor.unwrap();
        let g = measure(noisy, 16, i as u64).gabor.unwrap();
        let p = g.params;
        assert!(
            g.r2 < exact.r2 - 0.01,
            "case {i}: R^2 {} vs exact {}",
            g.r2,
            exact.r2
        );
        // With noise power about 9% of the signal's, R^2 near 1/(1 + 0.09) = 0.92 is expected.
        assert!(g.r2 > 0.8, "case {i}: {g:?}");
        // Looser than the exact case: 256 noisy pixels pin the parameters to a few percent.
        assert!(
            angle_error_deg(p.theta, truth.theta) < 6.0,
            "case {i}: {g:?}"
        );
        assert!(
            (p.frequency / truth.frequency - 1.0).abs() < 0.10,
            "case {i}: {g:?}"
        );
        assert!(
            (p.sigma_x / truth.sigma_x - 1.0).abs() < 0.25,
            "case {i}: {g:?}"
        );
        assert!(
            (p.sigma_y / truth.sigma_y - 1.0).abs() < 0.25,
            "case {i}: {g:?}"
        );
    }
}

#[test]
fn white_noise_fits_badly_and_has_gaussian_hoyer() {
    let normal = Normal::new(0.0, 1.0).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let (size, count) = (16usize, 100usize);
    let n = (size * size) as f64;
    let mut r2 = Vec::new();
    let mut hoyer = Vec::new();
    for k in 0..count {
        let v: Vec<f64> = (0..size * size).map(|_| normal.sample(&mut rng)).collect();
        let m = measure(v, size, k as u64);
        r2.push(m.gabor.unwrap().r2);
        hoyer.push(m.hoyer);
    }
    r2.sort_by(f64::total_cmp);
    // A Gabor has 8 parameters for 256 noise pixels: it can explain a bump, not the whole;
    // even the best of 100 stays far below a real filter's fit.
    assert!(r2[count / 2] < 0.2, "median R^2 {}", r2[count / 2]);
    assert!(r2[count - 1] < 0.4, "max R^2 {}", r2[count - 1]);
    // E|x| / sqrt(E x^2) = sqrt(2/pi) for a Gaussian, so Hoyer = (sqrt n - sqrt n sqrt(2/pi))
    // / (sqrt n - 1) = 0.2156 for n = 256. The per-filter sd of ||v||_1/||v||_2 is about 0.04
    // here, so the mean of 100 filters lies within 0.01 of it.
    let expected = (n.sqrt() - n.sqrt() * (2.0 / std::f64::consts::PI).sqrt()) / (n.sqrt() - 1.0);
    let mean = hoyer.iter().sum::<f64>() / count as f64;
    assert!(
        (mean - expected).abs() < 0.01,
        "mean Hoyer {mean}, expected {expected}"
    );
}
