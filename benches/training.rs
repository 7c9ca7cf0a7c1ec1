//! Training throughput: whole epochs (one submission each) of the 10→5→1 network on the
//! diabetes training split and of a 784→256→256→10 network on synthetic data.
//!
//! `cargo bench --bench training`; criterion's `elem/s` here are training steps per second.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rand::{Rng, SeedableRng};
use wgsl_train::data::Prepared;
use wgsl_train::data::{diabetes, Dataset, SplitConfig, Task};
use wgsl_train::nn::Mlp;
use wgsl_train::optim::AdamConfig;
use wgsl_train::train::{SingleDispatch, TrainConfig, Trainer};
use wgsl_train::Gpu;

fn training(c: &mut Criterion) {
    let gpu = Gpu::new().unwrap_or_else(|e| panic!("the benches need a GPU adapter: {e}"));
    let diabetes = Prepared::new(&diabetes().unwrap(), &SplitConfig::default()).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let rows = 4096;
    let features: Vec<f32> = (0..rows * 784)
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    let labels: Vec<u32> = (0..rows as u32).map(|i| i % 10).collect();
    let wide = Dataset::classification(
        features,
        784,
        labels,
        (0..10).map(|c| c.to_string()).collect(),
    )
    .unwrap();

    let mut group = c.benchmark_group("training_steps");
    group.sample_size(10);
    let n = diabetes.train.len();
    #[allow(clippy::type_complexity)] // name, sizes, data, task, batch size, one dispatch/epoch
    let cases: [(&str, Vec<usize>, &Dataset, Task, usize, bool); 4] = [
        (
            "10-5-1/batch32",
            vec![10, 5, 1],
            &diabetes.train,
            Task::Regression,
            32,
            false,
        ),
        (
            "10-5-1/batch32/one_dispatch_per_epoch",
            vec![10, 5, 1],
            &diabetes.train,
            Task::Regression,
            32,
            true,
        ),
        (
            "10-5-1/full_batch",
            vec![10, 5, 1],
            &diabetes.train,
            Task::Regression,
            n,
            false,
        ),
        (
            "784-256-256-10/batch128",
            vec![784, 256, 256, 10],
            &wide,
            Task::Multiclass,
            128,
            false,
        ),
    ];
    for (name, sizes, data, task, batch, one_dispatch) in cases {
        let model = Mlp::new(&gpu, &sizes, task, 0).unwrap();
        let config = TrainConfig {
            epochs: usize::MAX,
            batch_size: batch,
            // Each case measures the path it names.
            single_dispatch_epochs: if one_dispatch {
                SingleDispatch::Always
            } else {
                SingleDispatch::Never
            },
            ..TrainConfig::default()
        };
        let mut trainer =
            Trainer::new(&gpu, model, AdamConfig::default(), data, None, config).unwrap();
        group.throughput(Throughput::Elements(trainer.steps_per_epoch() as u64));
        group.bench_function(BenchmarkId::new("epoch", name), |b| {
            b.iter(|| trainer.run_epoch().unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, training);
criterion_main!(benches);
