//! Criterion benchmarks of dictionary learning's pieces on a seeded synthetic problem at the
//! standard case's shape (144 pixels, 256 atoms, batches of 256): the online rule's update
//! alone (statistics pass and sweep), and one whole learner step (coding with `cd`, then the
//! update). They run on rayon's default pool (all cores; RAYON_NUM_THREADS=1 for one). The
//! comparison with SPAMS and scikit-learn on real patches is bench/compare_learning.py.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use nalgebra::DMatrix;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use simplecell::dictionary::online::OnlineBcd;
use simplecell::dictionary::{DictionaryUpdate, LearnParams, Learner, StopRule};
use simplecell::patches::PatchSource;

const PIXELS: usize = 144;
const ATOMS: usize = 256;
const BATCH: usize = 256;

/// Unit-norm random atoms and patches made of 16 of them plus noise (about 6% nonzero codes,
/// like the standard case).
fn patches(n: usize, seed: u64) -> (DMatrix<f32>, DMatrix<f32>, DMatrix<f32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut d = DMatrix::<f32>::from_fn(PIXELS, ATOMS, |_, _| rng.sample(StandardNormal));
    simplecell::dictionary::normalize_columns(&mut d);
    let mut codes = DMatrix::<f32>::zeros(ATOMS, n);
    for j in 0..n {
        for _ in 0..ATOMS / 16 {
            let i = rng.random_range(0..ATOMS);
            codes[(i, j)] = rng.sample::<f32, _>(StandardNormal);
        }
    }
    let mut x = &d * &codes;
    x.iter_mut()
        .for_each(|v| *v += 0.1 * rng.sample::<f32, _>(StandardNormal));
    (d, x, codes)
}

fn online_update(c: &mut Criterion) {
    let (d0, x, codes) = patches(BATCH, 3);
    let mut group = c.benchmark_group("online_update");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function(BenchmarkId::new("p144_k256", "batch256"), |b| {
        let mut rule = OnlineBcd::new(PIXELS, ATOMS);
        let mut d = d0.clone();
        // Past the first updates, so the statistics are dense and every atom is swept.
        for _ in 0..5 {
            rule.update(&mut d, &x, &codes);
        }
        b.iter(|| rule.update(&mut d, &x, &codes))
    });
    group.finish();
}

fn learner_step(c: &mut Criterion) {
    let (_, x, _) = patches(20 * BATCH, 5);
    let config = LearnParams {
        atoms: ATOMS,
        lambda: 0.5,
        validation: Some(0),
        stop: StopRule::Steps(u64::MAX),
        ..LearnParams::default()
    }
    .check()
    .unwrap();
    let rows: Vec<f32> = x.as_slice().to_vec();
    let mut learner = Learner::new(&config, PatchSource::from_rows(PIXELS, rows)).unwrap();
    for _ in 0..5 {
        learner.step().unwrap();
    }
    let mut group = c.benchmark_group("learner_step");
    group.sample_size(30);
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function(BenchmarkId::new("cd_online", "p144_k256_batch256"), |b| {
        b.iter(|| learner.step().unwrap())
    });
    group.finish();
}

criterion_group!(benches, online_update, learner_step);
criterion_main!(benches);
