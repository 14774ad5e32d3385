//! Criterion benchmarks of the sparse coders and of the GEMM under FISTA's inner loop, on a
//! seeded synthetic problem (random unit-norm atoms; patches made from sparse codes plus
//! noise). The comparison with SPAMS and scikit-learn on real patches is
//! bench/compare_coding.py.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use nalgebra::DMatrix;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use simplecell::coding::{Coder, CodingParams, PreparedDictionary};
use simplecell::linalg::{Backend, View, ViewMut, gemm};

fn problem(
    pixels: usize,
    atoms: usize,
    patches: usize,
    seed: u64,
) -> (PreparedDictionary, DMatrix<f32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut d = DMatrix::<f32>::from_fn(pixels, atoms, |_, _| rng.sample(StandardNormal));
    for mut col in d.column_iter_mut() {
        let norm = col.norm();
        col /= norm;
    }
    let mut a = DMatrix::<f32>::zeros(atoms, patches);
    for j in 0..patches {
        for _ in 0..atoms / 16 {
            let i = rng.random_range(0..atoms);
            a[(i, j)] = rng.sample::<f32, _>(StandardNormal) * 2.0;
        }
    }
    let mut x = &d * &a;
    x.iter_mut()
        .for_each(|v| *v += 0.1 * rng.sample::<f32, _>(StandardNormal));
    (PreparedDictionary::new(d), x)
}

fn coders(c: &mut Criterion) {
    let (dict, x) = problem(144, 256, 2048, 7);
    let mut group = c.benchmark_group("encode");
    group.sample_size(10);
    group.throughput(Throughput::Elements(x.ncols() as u64));
    for name in ["cd", "fista", "ista"] {
        let coder = Coder::from_name(name).unwrap().build();
        let params = CodingParams {
            tol: 1e-4,
            max_iter: 2000,
            ..CodingParams::new(0.5)
        }
        .check()
        .unwrap();
        group.bench_function(
            BenchmarkId::new(name, "p144_k256_n2048_lambda0.5_tol1e-4"),
            |b| {
                b.iter(|| {
                    let mut codes = DMatrix::<f32>::zeros(dict.atoms(), x.ncols());
                    coder.encode(&dict, &x, &mut codes, &params).unwrap()
                })
            },
        );
    }
    group.finish();
}

fn gram_gemm(c: &mut Criterion) {
    let mut group = c.benchmark_group("gemm_gram_times_codes");
    for &(k, n) in &[(256usize, 128usize), (256, 512), (1024, 128)] {
        let g: Vec<f32> = (0..k * k).map(|i| (i % 17) as f32 * 0.01).collect();
        let a: Vec<f32> = (0..k * n).map(|i| (i % 13) as f32 * 0.01).collect();
        let mut out = vec![0f32; k * n];
        group.throughput(Throughput::Elements((2 * k * k * n) as u64));
        group.bench_function(BenchmarkId::new("flops", format!("k{k}_n{n}")), |b| {
            b.iter(|| {
                let (gv, av) = (View::columns(&g, k), View::columns(&a, k));
                let out = ViewMut::columns(&mut out, k);
                gemm(Backend::Faer, (k, k, n), 1.0, gv, av, 0.0, out)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, coders, gram_gemm);
criterion_main!(benches);
