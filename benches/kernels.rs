//! Kernel throughput on the current adapter.
//!
//! `cargo bench --bench kernels` — matmul reports elements/s where one element is one FLOP
//! (2·M·N·K per product), so "Gelem/s" reads as GFLOP/s; the losses report bytes read and
//! written per second. Each iteration records the launch, submits it and waits, so the
//! figures include one submission's overhead.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rand::{Rng, SeedableRng};
use wgsl_train::kernels::loss::{loss_launch, LossKind};
use wgsl_train::kernels::matmul::{matmul_launch, MatmulLayout, MatmulOptions, MatmulVariant};
use wgsl_train::{DType, Gpu, Launch, Tensor};

fn random(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..n).map(|_| rng.random_range(-1.0..1.0)).collect()
}

fn run(gpu: &Gpu, launch: &Launch) {
    gpu.run(launch).expect("submit");
    gpu.wait().expect("wait");
}

fn open_gpu() -> Gpu {
    let gpu = Gpu::new().unwrap_or_else(|e| panic!("the benches need a GPU adapter: {e}"));
    let info = gpu.adapter_info();
    eprintln!(
        "adapter: {} ({:?}, {})",
        info.name, info.backend, info.driver_info
    );
    gpu
}

fn matmul(c: &mut Criterion) {
    let gpu = open_gpu();
    let mut group = c.benchmark_group("matmul_flops");
    group.sample_size(10);
    for size in [256usize, 512, 1024] {
        let a = Tensor::from_slice(&gpu, &[size, size], &random(size * size, 1)).unwrap();
        let b = Tensor::from_slice(&gpu, &[size, size], &random(size * size, 2)).unwrap();
        let out = Tensor::zeros(&gpu, &[size, size], DType::F32).unwrap();
        group.throughput(Throughput::Elements(2 * (size as u64).pow(3)));
        for variant in MatmulVariant::ALL {
            for layout in [MatmulLayout::AB, MatmulLayout::ABt, MatmulLayout::AtB] {
                // A variant that does not apply here would measure its fallback.
                if !variant.applies(&gpu, layout, (size, size, size)) {
                    continue;
                }
                let options = MatmulOptions {
                    layout,
                    variant,
                    ..Default::default()
                };
                let launch = matmul_launch(&gpu, &a, &b, &out, &options).unwrap();
                let id = BenchmarkId::new(format!("{variant:?}/{layout:?}"), size);
                group.bench_function(id, |bench| bench.iter(|| run(&gpu, &launch)));
            }
        }
    }
    group.finish();
}

fn losses(c: &mut Criterion) {
    let gpu = open_gpu();
    let mut group = c.benchmark_group("loss_bytes");
    group.sample_size(20);
    let n = 1 << 20;
    let pred = Tensor::from_slice(&gpu, &[n], &random(n, 3)).unwrap();
    let target = Tensor::from_slice(&gpu, &[n], &random(n, 4)).unwrap();
    let loss = Tensor::zeros(&gpu, &[1], DType::F32).unwrap();
    let grad = Tensor::zeros(&gpu, &[n], DType::F32).unwrap();
    // Read predictions and targets, write the gradient and the loss terms, read those back.
    group.throughput(Throughput::Bytes(5 * 4 * n as u64));
    for kind in [LossKind::Mse, LossKind::BceWithLogits] {
        let launch = loss_launch(&gpu, kind, &pred, &target, None, &loss, &grad).unwrap();
        group.bench_function(BenchmarkId::new(format!("{kind:?}"), n), |bench| {
            bench.iter(|| run(&gpu, &launch))
        });
    }
    let (rows, classes) = (n / 16, 16);
    let classes_t: Vec<u32> = (0..rows as u32).map(|r| r % classes as u32).collect();
    let target = Tensor::from_slice(&gpu, &[rows], &classes_t).unwrap();
    let logits = pred.reshape(&[rows, classes]).unwrap();
    let grad = grad.reshape(&[rows, classes]).unwrap();
    let launch = loss_launch(
        &gpu,
        LossKind::SoftmaxCrossEntropy,
        &logits,
        &target,
        None,
        &loss,
        &grad,
    )
    .unwrap();
    group.bench_function(
        BenchmarkId::new("SoftmaxCrossEntropy", format!("{rows}x{classes}")),
        |bench| bench.iter(|| run(&gpu, &launch)),
    );
    group.finish();
}

criterion_group!(benches, matmul, losses);
criterion_main!(benches);
