//! Dictionary learning on synthetic data with a known answer: recovery of a planted
//! dictionary by the online rule and by MOD, unit-norm atoms after every update, a falling
//! held-out objective, and re-seeding that zeroes the new atom's codes and statistics.

use nalgebra::DMatrix;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use simplecell::dictionary::init::Init;
use simplecell::dictionary::{LearnParams, Learner, StopRule, UpdateKind, max_norm_deviation};
use simplecell::observer::Silent;
use simplecell::patches::PatchSource;

const PIXELS: usize = 20;
const ATOMS: usize = 50;

/// A random unit-norm 20 x 50 dictionary and `n` signals, each a combination of 3 atoms with
/// coefficients of magnitude 1..2 and random sign, plus Gaussian noise of std `noise`.
fn planted(n: usize, noise: f32, seed: u64) -> (DMatrix<f32>, Vec<f32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut d = DMatrix::from_fn(PIXELS, ATOMS, |_, _| StandardNormal.sample(&mut rng));
    simplecell::dictionary::normalize_columns(&mut d);
    let mut rows = Vec::with_capacity(n * PIXELS);
    for _ in 0..n {
        let mut x = vec![0f32; PIXELS];
        let mut chosen = Vec::new();
        while chosen.len() < 3 {
            let j = rng.random_range(0..ATOMS);
            if !chosen.contains(&j) {
                chosen.push(j);
            }
        }
        for &j in &chosen {
            let mag: f32 = rng.random_range(1.0..2.0);
            let c = if rng.random::<bool>() { mag } else { -mag };
            for (p, xv) in x.iter_mut().enumerate() {
                *xv += c * d[(p, j)];
            }
        }
        for xv in x.iter_mut() {
            let e: f32 = StandardNormal.sample(&mut rng);
            *xv += noise * e;
        }
        rows.extend_from_slice(&x);
    }
    (d, rows)
}

/// Fraction of true atoms with a learned atom at |cosine| > 0.99.
fn recovered(truth: &DMatrix<f32>, learned: &DMatrix<f32>) -> f64 {
    let sim = truth.transpose() * learned;
    let hits = (0..truth.ncols())
        .filter(|&j| sim.row(j).iter().any(|v| v.abs() > 0.99))
        .count();
    hits as f64 / truth.ncols() as f64
}

fn run_rule(update: UpdateKind, batch: usize, steps: u64) -> (f64, Learner) {
    let (truth, rows) = planted(3000, 0.01, 11);
    let config = LearnParams {
        atoms: ATOMS,
        lambda: 0.3,
        update,
        batch,
        stop: StopRule::Steps(steps),
        validation: Some(200),
        validate_every: 100,
        init: Init::Data,
        seed: 3,
        train_tol: 1e-2,
        exact_tol: 1e-4,
        exact_max_iter: 1000,
        ..LearnParams::default()
    }
    .check()
    .unwrap();
    let mut learner = Learner::new(&config, PatchSource::from_rows(PIXELS, rows)).unwrap();
    learner.run(&Silent).unwrap();
    (recovered(&truth, learner.dictionary()), learner)
}

#[test]
fn online_rule_recovers_a_planted_dictionary() {
    let (fraction, learner) = run_rule(UpdateKind::Online, 64, 600);
    // The bar: at least 95% of atoms within |cos| > 0.99.
    assert!(fraction >= 0.95, "online recovered only {fraction}");
    let objectives: Vec<f64> = learner
        .history()
        .iter()
        .map(|r| r.validation_objective.unwrap())
        .collect();
    // The held-out objective falls over the run: by at least 15% overall (the l1 term of
    // the true codes, about 0.3 * 3 * 1.5 = 1.35, bounds how far it can fall from ~1.7),
    // and no evaluation is more than 1% above the one before (online updates are noisy).
    let (first, last) = (objectives[0], *objectives.last().unwrap());
    assert!(last < 0.85 * first, "held-out objective {objectives:?}");
    for w in objectives.windows(2) {
        assert!(
            w[1] <= 1.01 * w[0],
            "held-out objective rose: {objectives:?}"
        );
    }
}

#[test]
fn mod_recovers_a_planted_dictionary() {
    let (fraction, _) = run_rule(UpdateKind::Mod, 2800, 60);
    assert!(fraction >= 0.95, "MOD recovered only {fraction}");
}

/// Every rule that promises unit norm keeps it after every single update; the
/// Olshausen-Field rule's atoms are written out at unit norm.
#[test]
fn atoms_have_unit_norm_after_every_update() {
    let (_, rows) = planted(600, 0.01, 12);
    for update in [UpdateKind::Online, UpdateKind::Mod, UpdateKind::Of] {
        let config = LearnParams {
            atoms: ATOMS,
            lambda: 0.3,
            update,
            batch: 100,
            stop: StopRule::Steps(15),
            validation: Some(0),
            train_tol: 1e-2,
            ..LearnParams::default()
        }
        .check()
        .unwrap();
        let mut learner =
            Learner::new(&config, PatchSource::from_rows(PIXELS, rows.clone())).unwrap();
        while !learner.finished() {
            learner.step().unwrap();
            // f32 normalisation of a 20-vector: deviation within a few ulps of 1.
            let dev = if update == UpdateKind::Of {
                max_norm_deviation(&learner.unit_dictionary())
            } else {
                max_norm_deviation(learner.dictionary())
            };
            assert!(
                dev < 1e-5,
                "{update:?} step {}: norm deviation {dev}",
                learner.step_count()
            );
        }
    }
}

/// An atom no signal can use (all signals live in the first 10 pixels; the atom lives in
/// the last 10) is detected as dead after `dead_after` patches, re-seeded from a batch
/// residual, its codes in that batch are zero and the online rule's statistics for it are
/// zero right after the step.
#[test]
fn dead_atom_is_reseeded_with_zeroed_codes_and_statistics() {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let n = 800;
    let mut rows = vec![0f32; n * PIXELS];
    for i in 0..n {
        for p in 0..10 {
            rows[i * PIXELS + p] = StandardNormal.sample(&mut rng);
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let init_path = dir.path().join("init.npy");
    let mut init = vec![0f32; 4 * PIXELS];
    for a in 0..3 {
        init[a * PIXELS + a] = 1.0;
    }
    init[3 * PIXELS + 15] = 1.0; // atom 3: orthogonal to every signal
    simplecell::io::npy::write(&init_path, &[4, PIXELS], &init, false).unwrap();

    let config = LearnParams {
        atoms: 4,
        lambda: 0.1,
        batch: 50,
        validation: Some(0),
        stop: StopRule::Steps(10),
        init: Init::File(init_path),
        dead_after: 150, // three batches
        ..LearnParams::default()
    }
    .check()
    .unwrap();
    let mut learner = Learner::new(&config, PatchSource::from_rows(PIXELS, rows)).unwrap();
    let k = 4;
    let mut reseeded_at = None;
    while !learner.finished() {
        learner.step().unwrap();
        if learner.last_reseeded().contains(&3) {
            reseeded_at = Some(learner.step_count());
            assert!(learner.last_codes().row(3).iter().all(|&v| v == 0.0));
            let state = learner.rule().state();
            // OnlineBcd state layout: 2 counters, A (k x k, column-major), B (pixels x k).
            let a = &state[2..2 + k * k];
            let b = &state[2 + k * k..];
            for r in 0..k {
                assert_eq!(a[3 * k + r], 0.0, "A column 3");
                assert_eq!(a[r * k + 3], 0.0, "A row 3");
            }
            assert!(
                b[3 * PIXELS..4 * PIXELS].iter().all(|&v| v == 0.0),
                "B column 3"
            );
            // The new atom points where the data is: its energy is in the first 10 pixels.
            let d = learner.dictionary();
            let inside: f32 = (0..10).map(|p| d[(p, 3)] * d[(p, 3)]).sum();
            assert!(
                inside > 0.99,
                "re-seeded atom energy inside the data's span: {inside}"
            );
            break;
        }
    }
    // Unused at steps 0, 1, 2 => 150 patches without use at step 3 (the fourth step).
    assert_eq!(reseeded_at, Some(4));
}
