//! Criterion benchmarks of patch extraction: the dead-leaves generator, OF whitening of one
//! image, and a whole built-in extraction to a temporary folder. Inputs are built outside the
//! timed loops; sizes are in the benchmark names.

use criterion::{Criterion, criterion_group, criterion_main};
use simplecell::io::images::GrayImage;
use simplecell::observer::Silent;
use simplecell::patches::{ExtractParams, ImageSource, dead_leaves, extract, whiten};
use std::hint::black_box;

fn generator(c: &mut Criterion) {
    c.bench_function("dead_leaves/size=512", |b| {
        b.iter(|| dead_leaves::generate(black_box(512), 7))
    });
}

fn of_whitening(c: &mut Criterion) {
    // A Kodak-sized image (768x512) of dead leaves: the FFT cost depends only on the size.
    let img = GrayImage {
        width: 768,
        height: 512,
        data: dead_leaves::generate(768, 3)[..768 * 512].to_vec(),
    };
    c.bench_function("of_filter/768x512/f0=0.4", |b| {
        b.iter(|| whiten::of_filter(black_box(&img), 0.4))
    });
}

fn whole_extraction(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bench.npy");
    let config = ExtractParams {
        source: ImageSource::BuiltIn {
            images: 4,
            size: 512,
        },
        count: 100_000,
        ..ExtractParams::default()
    }
    .check()
    .unwrap();
    let mut group = c.benchmark_group("extract");
    group.sample_size(10);
    group.bench_function("builtin/images=4x512/count=100000/patch=12/of", |b| {
        b.iter(|| extract(&config, &out, true, &Silent).unwrap())
    });
    group.finish();
}

criterion_group!(benches, generator, of_whitening, whole_extraction);
criterion_main!(benches);
