//! Dropout on the inputs of a linear regression is a ridge whose penalty weights each
//! coefficient by its feature's energy: SGD with fresh masks converges to
//! `(X^T X + p/(1-p) diag(X^T X))^-1 X^T y`, and not to the plain ridge with the matched
//! weight unless the features are standardised.

use simplecell::analysis::ridge::{DropoutSgdParams, compare, scaled_problem, standardised};

/// Four features whose scales span a factor of 8, so the weighted and the plain penalties
/// differ by up to 64x per coefficient.
const SCALES: [f64; 4] = [0.5, 1.0, 2.0, 4.0];

/// The tolerance on SGD's relative distance to the weighted ridge. With 400,000 single-
/// example steps and tail averaging, the seeded runs below land at 0.36-0.42%; the averaged
/// iterate's noise shrinks as 1/sqrt(steps), so 2% is about 5x the observed error, while the
/// plain ridge sits 194% (p = 0.2) and 285% (p = 0.5) away on the unequal scales.
const TOL: f64 = 0.02;

#[test]
fn dropout_sgd_converges_to_the_weighted_ridge_not_the_plain_one() {
    let (x, y, _) = scaled_problem(2000, &SCALES, 0.5, 7);
    for (rate, seed) in [(0.2, 1u64), (0.5, 2)] {
        let params = DropoutSgdParams {
            seed,
            ..DropoutSgdParams::new(rate)
        };
        let c = compare(&x, &y, &params).unwrap();
        eprintln!(
            "p = {rate}: distance to weighted ridge {:.4}, to plain ridge {:.4}",
            c.distance_to_weighted, c.distance_to_plain
        );
        assert!(c.distance_to_weighted < TOL, "{c:?}");
        // The plain ridge is far: at least 5x the tolerance.
        assert!(c.distance_to_plain > 5.0 * TOL, "{c:?}");
    }
}

#[test]
fn on_standardised_features_the_two_ridges_coincide() {
    let (x, y, _) = scaled_problem(2000, &SCALES, 0.5, 7);
    let z = standardised(&x);
    let params = DropoutSgdParams {
        seed: 3,
        ..DropoutSgdParams::new(0.5)
    };
    let c = compare(&z, &y, &params).unwrap();
    eprintln!(
        "standardised: distance to weighted {:.4}, to plain {:.4}",
        c.distance_to_weighted, c.distance_to_plain
    );
    assert!(c.distance_to_weighted < TOL, "{c:?}");
    assert!(c.distance_to_plain < TOL, "{c:?}");
    // With equal column norms the closed forms are the same vector (to rounding).
    for (a, b) in c.weighted_ridge.iter().zip(&c.plain_ridge) {
        assert!((a - b).abs() < 1e-9 * (1.0 + b.abs()), "{a} vs {b}");
    }
}
