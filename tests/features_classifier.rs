//! The linear classifier: both solvers (Newton-CG and L-BFGS) reach the known optimum of
//! small problems and the same optimum of a seeded multi-class one, the objective's gradient
//! matches finite differences, and a fit is the same bits on 1 and 2 threads.

use simplecell::features::classifier::{FitSettings, Objective, fit};
use simplecell::features::{ClassifierKind, Solver};

/// Scores are float32, so the objective carries relative rounding near 1e-7 and a line
/// search stops seeing progress once a step gains less than that: the piecewise-quadratic
/// squared hinge still reaches 1e-6 of the gradient norm at zero, the logistic loss stalls
/// near 1e-5 (measured 1.1e-5 on the problem below), so its tests ask for 1e-4.
fn settings(kind: ClassifierKind, solver: Solver, lambda: f64) -> FitSettings {
    let tol = match kind {
        ClassifierKind::Svm => 1e-6,
        ClassifierKind::Logistic => 1e-4,
    };
    FitSettings {
        kind,
        solver,
        lambda,
        tol,
        max_iter: 500,
    }
}

/// Two points on a line, x = +1 (class 0) and x = -1 (class 1).
fn two_points() -> (Vec<f32>, Vec<u16>) {
    (vec![1.0, -1.0], vec![0, 1])
}

#[test]
fn svm_reaches_the_analytic_optimum_of_a_separable_problem() {
    // Scorer 0 sees t = +1 at x = 1 and t = -1 at x = -1; by symmetry its bias is 0 and
    // J(w) = lambda/2 w^2 + (1/2)(2 (1 - w)^2) for w < 1, so w = 2 / (2 + lambda).
    // Scorer 1 is its mirror image, w = -2 / (2 + lambda).
    let (x, y) = two_points();
    let lambda = 0.5;
    let w = 2.0 / (2.0 + lambda);
    for solver in [Solver::NewtonCg, Solver::Lbfgs] {
        let (model, report) = fit(
            &x,
            &y,
            1,
            2,
            settings(ClassifierKind::Svm, solver, lambda),
            None,
        )
        .unwrap();
        assert!(report.converged, "{report:?}");
        // The optimum is a quadratic with curvature 2 + lambda near w; a gradient of 1e-6 x 2
        // (the norm at zero) puts the weights within about 1e-6, float32 storage adds 6e-8.
        assert!(
            (model.weights[0] as f64 - w).abs() < 1e-5,
            "{:?}",
            model.weights
        );
        assert!(
            (model.weights[1] as f64 + w).abs() < 1e-5,
            "{:?}",
            model.weights
        );
        assert!(
            model.bias.iter().all(|b| b.abs() < 1e-5),
            "{:?}",
            model.bias
        );
        assert_eq!(model.predict(&x), y);
    }
}

#[test]
fn logistic_reaches_the_optimum_of_a_symmetric_problem() {
    // With W = (a, -a) by symmetry and zero biases, J(a) = lambda a^2 + log(1 + e^{-2a}),
    // stationary where lambda a = sigmoid(-2a); solved here by bisection.
    let (x, y) = two_points();
    let lambda = 0.3;
    let (mut lo, mut hi) = (0.0f64, 10.0f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        let g = lambda * mid - 1.0 / (1.0 + (2.0 * mid).exp());
        if g > 0.0 { hi = mid } else { lo = mid }
    }
    let a = 0.5 * (lo + hi);
    for solver in [Solver::NewtonCg, Solver::Lbfgs] {
        let (model, report) = fit(
            &x,
            &y,
            1,
            2,
            settings(ClassifierKind::Logistic, solver, lambda),
            None,
        )
        .unwrap();
        assert!(report.converged, "{report:?}");
        assert!(
            (model.weights[0] as f64 - a).abs() < 1e-5,
            "{:?} vs {a}",
            model.weights
        );
        assert!(
            (model.weights[1] as f64 + a).abs() < 1e-5,
            "{:?} vs {a}",
            model.weights
        );
    }
}

/// A seeded multi-class problem: 300 rows, 7 features, 4 classes.
fn problem() -> (Vec<f32>, Vec<u16>, usize, usize) {
    let (n, d, c) = (300, 7, 4);
    let mut state = 12345u64;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 33) as f64 / (1u64 << 31) as f64) as f32 - 0.5
    };
    let mut x = Vec::with_capacity(n * d);
    let mut y = Vec::with_capacity(n);
    for i in 0..n {
        let label = (i % c) as u16;
        for j in 0..d {
            let signal = if j % c == label as usize { 0.8 } else { 0.0 };
            x.push(signal + next());
        }
        y.push(label);
    }
    (x, y, d, c)
}

#[test]
fn gradient_matches_central_differences() {
    let (x, y, d, c) = problem();
    for kind in [ClassifierKind::Svm, ClassifierKind::Logistic] {
        let obj = Objective::new(&x, &y, d, c, 0.01, kind);
        // A point away from zero, so hinge margins of both signs occur.
        let params: Vec<f64> = (0..obj.len())
            .map(|i| ((i * 37 % 11) as f64 - 5.0) * 0.05)
            .collect();
        let (_, grad) = obj.evaluate(&params);
        // Central differences with h = 1e-3: the squared hinge and the log-sum-exp are
        // smooth (C^1, piecewise quadratic for the hinge), so truncation is O(h^2) = 1e-6;
        // scores are float32, which adds about 1e-7 * |J| / h = 1e-4 * |J| to each
        // difference. 2e-3 relative to the largest gradient entry bounds both, and a wrong
        // factor or a missing term is far bigger.
        let h = 1e-3;
        let scale = grad.iter().fold(0f64, |m, g| m.max(g.abs()));
        for i in 0..obj.len() {
            let mut plus = params.clone();
            plus[i] += h;
            let mut minus = params.clone();
            minus[i] -= h;
            let fd = (obj.evaluate(&plus).0 - obj.evaluate(&minus).0) / (2.0 * h);
            assert!(
                (fd - grad[i]).abs() < 2e-3 * scale,
                "{kind:?} parameter {i}: finite difference {fd}, gradient {}",
                grad[i]
            );
        }
    }
}

#[test]
fn fit_is_identical_on_one_and_two_threads() {
    // Enough rows for several parallel groups (4,096 rows each).
    let (small_x, small_y, d, c) = problem();
    let reps = 40;
    let x: Vec<f32> = small_x
        .iter()
        .cycle()
        .take(small_x.len() * reps)
        .copied()
        .collect();
    let y: Vec<u16> = small_y
        .iter()
        .cycle()
        .take(small_y.len() * reps)
        .copied()
        .collect();
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            [Solver::NewtonCg, Solver::Lbfgs].map(|solver| {
                fit(
                    &x,
                    &y,
                    d,
                    c,
                    settings(ClassifierKind::Svm, solver, 1e-3),
                    None,
                )
                .unwrap()
            })
        })
    };
    for ((a, ra), (b, rb)) in run(1).into_iter().zip(run(2)) {
        assert_eq!(ra.iterations, rb.iterations);
        assert_eq!(ra.cg_iterations, rb.cg_iterations);
        assert_eq!(
            a.weights.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            b.weights.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        assert_eq!(a.bias, b.bias);
    }
}

#[test]
fn newton_cg_and_lbfgs_reach_the_same_optimum() {
    let (x, y, d, c) = problem();
    for kind in [ClassifierKind::Svm, ClassifierKind::Logistic] {
        // tol 1e-3: both solvers reach it above the float32 rounding floor (at 1e-6 both
        // stop on a line search that sees no decrease, near 1e-5 x lambda ||W||).
        let at = |solver| FitSettings {
            tol: 1e-3,
            ..settings(kind, solver, 1e-2)
        };
        let (newton, rn) = fit(&x, &y, d, c, at(Solver::NewtonCg), None).unwrap();
        let (lbfgs, rl) = fit(&x, &y, d, c, at(Solver::Lbfgs), None).unwrap();
        assert!(rn.converged && rl.converged, "{rn:?}\n{rl:?}");
        // J is lambda-strongly convex, so ||w - w*|| <= ||grad J(w)|| / lambda; each fit's
        // gradient is at most tol x lambda ||W||, so the two weight vectors differ by at
        // most 2 tol ||W||; float32 storage adds 1e-7 relative. 3 tol + 1e-6 bounds it.
        let diff: f64 = newton
            .weights
            .iter()
            .zip(&lbfgs.weights)
            .map(|(a, b)| (*a as f64 - *b as f64).powi(2))
            .sum::<f64>()
            .sqrt();
        let scale: f64 = lbfgs
            .weights
            .iter()
            .map(|a| (*a as f64).powi(2))
            .sum::<f64>()
            .sqrt();
        assert!(
            diff <= (3.0 * rn.tol + 1e-6) * scale,
            "{kind:?}: {diff} vs {scale}"
        );
        assert!(
            (rn.objective - rl.objective).abs() <= 1e-5 * rl.objective,
            "{kind:?}: {} vs {}",
            rn.objective,
            rl.objective
        );
    }
}
