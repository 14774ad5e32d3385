//! Criterion benchmarks of the analysis: per-filter measures with Gabor fits for 1,024
//! filters of 16x16 (the 10 s target on 2 cores), the shift-tolerant similarity
//! table of two 256-filter banks at +-3 pixels, and the whole `compare` (similarity,
//! matching, 10 null draws, Gabor fits of both banks; the 2 s target). Inputs are seeded
//! noisy random Gabors built outside the timed loop.

use criterion::{Criterion, criterion_group, criterion_main};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use simplecell::analysis::compare::{CompareOptions, compare};
use simplecell::analysis::gabor::GaborParams;
use simplecell::analysis::measures::{MeasureOptions, measure_bank};
use simplecell::analysis::planes::{ColourMode, planes};
use simplecell::analysis::similarity::{prepare_pair, similarity_matrix};
use simplecell::observer::Silent;
use simplecell::viz::montage::Bank;
use std::hint::black_box;

const SIZE: usize = 16;

/// `count` random Gabors (the range of a learned dictionary) plus 10% white noise.
fn noisy_gabors(count: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let normal = Normal::new(0.0, 1.0).unwrap();
    let mut data = Vec::with_capacity(count * SIZE * SIZE);
    for _ in 0..count {
        let g = GaborParams {
            x0: rng.random_range(-3.0..3.0),
            y0: rng.random_range(-3.0..3.0),
            theta: rng.random_range(0.0..std::f64::consts::PI),
            frequency: rng.random_range(0.06..0.3),
            phase: rng.random_range(0.0..std::f64::consts::TAU),
            sigma_x: rng.random_range(1.2..3.5),
            sigma_y: rng.random_range(1.2..4.5),
            amplitude: 1.0,
        };
        let v = g.render(SIZE);
        let rms = (v.iter().map(|x| x * x).sum::<f64>() / v.len() as f64).sqrt();
        data.extend(
            v.iter()
                .map(|x| (x + 0.1 * rms * normal.sample(&mut rng)) as f32),
        );
    }
    data
}

fn bank(data: &[f32]) -> Bank<'_> {
    Bank::new(data, data.len() / (SIZE * SIZE), 1, SIZE)
}

fn benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("analysis");
    group.sample_size(10);
    let big = noisy_gabors(1024, 1);
    let big_planes = planes(&bank(&big), ColourMode::Luminance);
    group.bench_function("measure_bank/filters=1024/size=16/starts=5", |b| {
        b.iter(|| {
            black_box(measure_bank(
                &big_planes,
                &MeasureOptions::default(),
                &Silent,
            ))
        })
    });
    let (a, bb) = (noisy_gabors(256, 2), noisy_gabors(256, 3));
    let (na, nb, _) = prepare_pair(&bank(&a), &bank(&bb));
    group.bench_function("similarity_matrix/256x256/size=16/shift=3", |b| {
        b.iter(|| black_box(similarity_matrix(&na, &nb, 3)))
    });
    let options = CompareOptions {
        max_shift: Some(3),
        null_draws: 10,
        seed: 0,
        min_r2: 0.5,
        measure: MeasureOptions::default(),
    };
    group.bench_function("compare/256x256/size=16/shift=3/null_draws=10", |b| {
        b.iter(|| black_box(compare(&bank(&a), &bank(&bb), &options, &Silent)))
    });
    group.finish();
}

criterion_group!(analysis, benches);
criterion_main!(analysis);
