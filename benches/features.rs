//! Criterion benchmarks of the feature pipeline's kernels on seeded inputs built outside the
//! timed loops: the encoder's GEMM at the shape one batch of 8 CIFAR images gives (5,832
//! windows x 108 values against 1,600 atoms), on both of `linalg::gemm`'s backends
//! (`matrixmultiply` and faer's `gemm` crate); the
//! whole encoder on that batch (windows, normalisation, GEMM, threshold, pooling); and one
//! evaluation of the classifier's objective and gradient. Throughput is in FLOP (GEMM) or
//! images, so criterion prints GFLOP/s and images/s.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use nalgebra::DMatrix;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use simplecell::features::classifier::Objective;
use simplecell::features::encode::Encoder;
use simplecell::features::whiten::Whitening;
use simplecell::features::{ClassifierKind, EncoderKind, FeaturesParams};
use simplecell::io::labelled::LabelledImages;
use simplecell::linalg::{Backend, View, ViewMut, gemm};

fn encoder_gemm(c: &mut Criterion) {
    let mut group = c.benchmark_group("encoder_gemm");
    group.sample_size(10);
    let (m, k, n) = (8 * 729, 108, 1600);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let a: Vec<f32> = (0..m * k).map(|_| rng.random::<f32>() - 0.5).collect();
    let b: Vec<f32> = (0..k * n).map(|_| rng.random::<f32>() - 0.5).collect();
    let mut out = vec![0f32; m * n];
    group.throughput(Throughput::Elements((2 * m * k * n) as u64));
    let name = format!("m{m}_k{k}_n{n}");
    for (label, backend) in [
        ("matrixmultiply", Backend::MatrixMultiply),
        ("faer", Backend::Faer),
    ] {
        group.bench_function(BenchmarkId::new(label, &name), |bch| {
            bch.iter(|| {
                gemm(
                    backend,
                    (m, k, n),
                    1.0,
                    View::rows(&a, k),
                    View::rows(&b, n),
                    0.0,
                    ViewMut::rows(&mut out, n),
                )
            })
        });
    }
    group.finish();
}

fn whole_encoder(c: &mut Criterion) {
    let mut group = c.benchmark_group("encoder");
    group.sample_size(10);
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let images = 8;
    let mut imgs = LabelledImages::empty(32, 32, 3, vec!["a".into(), "b".into()]);
    imgs.pixels = (0..images * 32 * 32 * 3)
        .map(|_| rng.random::<u8>())
        .collect();
    imgs.labels = vec![0; images];
    let dim = 108;
    let atoms = 1600;
    let bank = DMatrix::<f32>::from_fn(dim, atoms, |_, _| rng.random::<f32>() - 0.5);
    let space = Whitening::identity(dim);
    let order: Vec<usize> = (0..images).collect();
    group.throughput(Throughput::Elements(images as u64));
    for kind in [EncoderKind::SoftThreshold, EncoderKind::Triangle] {
        let params = FeaturesParams {
            encoder: kind,
            atoms,
            ..Default::default()
        }
        .check()
        .unwrap();
        let enc = Encoder::new(&bank, &space, 3, &params);
        let mut out = vec![0f32; images * enc.feature_len()];
        // One batch on one thread: the unit the pipeline runs per thread.
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        group.bench_function(
            BenchmarkId::new(kind.name(), format!("8_images_k{atoms}")),
            |bch| {
                bch.iter(|| {
                    pool.install(|| {
                        enc.encode_into(&imgs, &order, 8, &mut out, &|_| {})
                            .unwrap()
                    })
                })
            },
        );
    }
    group.finish();
}

fn classifier_evaluation(c: &mut Criterion) {
    let mut group = c.benchmark_group("classifier_objective");
    group.sample_size(10);
    let (n, d, classes) = (4096, 6400, 10);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let x: Vec<f32> = (0..n * d).map(|_| rng.random::<f32>() - 0.5).collect();
    let y: Vec<u16> = (0..n).map(|i| (i % classes) as u16).collect();
    let obj = Objective::new(&x, &y, d, classes, 1e-3, ClassifierKind::Svm);
    let mut params: Vec<f64> = (0..obj.len()).map(|i| (i % 7) as f64 * 1e-3).collect();
    group.throughput(Throughput::Elements((4 * n * d * classes) as u64));
    group.bench_function(
        BenchmarkId::new("svm", format!("n{n}_d{d}_c{classes}")),
        |bch| {
            bch.iter(|| {
                // A fresh point each time, so the objective's one-entry cache never answers.
                params[0] += 1e-9;
                obj.evaluate(&params)
            })
        },
    );
    group.finish();
}

criterion_group!(benches, encoder_gemm, whole_encoder, classifier_evaluation);
criterion_main!(benches);
