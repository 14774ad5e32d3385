//! Criterion benchmarks of the CNN engine on the reference net (conv5x5 3->32 pad 2, ReLU,
//! pool, conv5x5 32->64 pad 2, ReLU, pool, linear 4096->10) with seeded random 32x32x3
//! inputs: one SGD training step (forward, loss, backward, gradient reduction) and one
//! evaluation forward pass, per batch size. Threads follow RAYON_NUM_THREADS.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use simplecell::cnn::engine::{Mode, Workspace};
use simplecell::cnn::init::{Init, initialise};
use simplecell::cnn::loss::Loss;
use simplecell::cnn::net::{NetSpec, Network, ReferenceOptions, Shape};

fn reference() -> Network {
    let input = Shape {
        height: 32,
        width: 32,
        channels: 3,
    };
    let mut net =
        Network::new(NetSpec::reference(input, 10, &ReferenceOptions::default())).unwrap();
    initialise(&mut net, Init::He, 1);
    net
}

fn bench(c: &mut Criterion) {
    let net = reference();
    let layers = net.spec.layers.len();
    let train = vec![true; net.params.len()];
    let mut grads: Vec<Vec<f32>> = net.params.iter().map(|p| vec![0.0; p.len()]).collect();
    let mut group = c.benchmark_group("cnn_reference");
    group.sample_size(20);
    for &batch in &[64usize, 256] {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let x: Vec<f32> = (0..batch * 3072)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        let labels: Vec<u16> = (0..batch).map(|i| (i % 10) as u16).collect();
        let mut ws = Workspace::new();
        ws.prepare(&net, batch);
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_with_input(
            BenchmarkId::new("train_step", format!("batch={batch}")),
            &batch,
            |b, _| {
                b.iter(|| {
                    ws.fill_inputs(&net, |i, d| d.copy_from_slice(&x[i * 3072..(i + 1) * 3072]));
                    ws.forward(&net, Mode::Train, 0, layers);
                    ws.loss(&net, Loss::SoftmaxCrossEntropy, &labels, true);
                    ws.backward(&net, layers, &train, false);
                    ws.reduce_grads(&train, &mut grads);
                })
            },
        );
        group.bench_with_input(
            BenchmarkId::new("eval_forward", format!("batch={batch}")),
            &batch,
            |b, _| {
                b.iter(|| {
                    ws.fill_inputs(&net, |i, d| d.copy_from_slice(&x[i * 3072..(i + 1) * 3072]));
                    ws.forward(&net, Mode::Eval, 0, layers);
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
