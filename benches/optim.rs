//! The fused optimizer update beside the adapter's buffer-copy bandwidth and beside an unfused
//! chain of element-wise kernels, measured in one run.
//!
//! `cargo bench --bench optim`. Throughput is in bytes read plus written per second. For the
//! fused and unfused Adam both count the fused kernel's traffic (read θ, g, m, v; write θ, m,
//! v: 28 bytes a parameter), so their GB/s compare times directly; the unfused chain really
//! moves 15 floats a parameter.

#[path = "support/elementwise.rs"]
mod elementwise;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use elementwise::{elementwise_launch, ElementwiseOp};
use rand::{Rng, SeedableRng};
use wgsl_train::gpu::{Binding, Dispatch, KernelSpec, ShaderCode};
use wgsl_train::optim::{AdamConfig, Optimizer, ParamStore, SgdConfig};
use wgsl_train::{DType, Gpu, Launch, Tensor};

fn random(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..n).map(|_| rng.random_range(-1.0..1.0)).collect()
}

/// The fastest streaming kernel we found on lavapipe: `y = 1.5·x + y` with vec4 loads, four
/// vec4s per invocation one grid apart (the access pattern of the fused optimizer). It reads
/// and writes 12 bytes an element: the ceiling for a shader that streams memory.
const STREAM: &str = r#"
struct Params { n: u32, pad0: u32, pad1: u32, pad2: u32 }
override WG: u32 = 256u;
@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> y: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> params: Params;
@compute @workgroup_size(WG)
fn stream(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    for (var k = 0u; k < 4u; k++) {
        let i = gid.x + k * nwg.x * WG;
        if i < params.n {
            y[i] = 1.5 * x[i] + y[i];
        }
    }
}
"#;

fn stream_launch(gpu: &Gpu, x: &Tensor, y: &Tensor) -> Launch {
    const BINDINGS: &[(u32, Binding)] = &[
        (0, Binding::ReadOnly),
        (1, Binding::ReadWrite),
        (2, Binding::Uniform),
    ];
    let spec = KernelSpec {
        shader: ShaderCode::user("bench-stream", STREAM),
        entry: "stream",
        bindings: BINDINGS,
        constants: vec![("WG", 256.0)],
    };
    let vec4s = (x.len() / 4) as u32;
    let dispatch = Dispatch::new(
        gpu,
        &spec,
        &[x, y],
        &[vec4s, 0, 0, 0],
        [vec4s.div_ceil(1024), 1, 1],
    )
    .unwrap();
    Launch::new(vec![dispatch])
}

fn optimizers(c: &mut Criterion) {
    let gpu = Gpu::new().unwrap_or_else(|e| panic!("the benches need a GPU adapter: {e}"));
    let info = gpu.adapter_info();
    eprintln!(
        "adapter: {} ({:?}, {})",
        info.name, info.backend, info.driver_info
    );
    let mut group = c.benchmark_group("optimizer_bytes");
    group.sample_size(10);
    for n in [1usize << 20, 1 << 24] {
        let label = if n == 1 << 20 { "1M" } else { "16M" };

        // The ceiling: copy one buffer of n floats into another (read + write).
        let src = Tensor::from_slice(&gpu, &[n], &random(n, 1)).unwrap();
        let dst = Tensor::zeros(&gpu, &[n], DType::F32).unwrap();
        group.throughput(Throughput::Bytes(8 * n as u64));
        group.bench_function(BenchmarkId::new("buffer_copy", label), |b| {
            b.iter(|| {
                let mut batch = gpu.batch();
                batch.copy(&src, &dst).unwrap();
                gpu.submit(batch).unwrap();
                gpu.wait().unwrap();
            })
        });

        let stream = stream_launch(&gpu, &src, &dst);
        group.throughput(Throughput::Bytes(12 * n as u64));
        group.bench_function(BenchmarkId::new("shader_stream_vec4", label), |b| {
            b.iter(|| {
                gpu.run(&stream).unwrap();
                gpu.wait().unwrap();
            })
        });

        let store = ParamStore::new(&gpu, &[("weight", &[n])]).unwrap();
        store.write(&gpu, "weight", &random(n, 2)).unwrap();
        store.grads().write(&gpu, &random(n, 3)).unwrap();
        let adam_config = AdamConfig {
            weight_decay: 0.01,
            ..Default::default()
        };
        let mut adam = Optimizer::new(&gpu, &store, adam_config).unwrap();
        group.throughput(Throughput::Bytes(28 * n as u64));
        group.bench_function(BenchmarkId::new("adam_fused", label), |b| {
            b.iter(|| {
                adam.step(&gpu).unwrap();
                gpu.wait().unwrap();
            })
        });

        // The same Adam step as five element-wise kernels (bias corrections of step 1).
        let (beta1, beta2, lr, eps) = (0.9f32, 0.999f32, 1e-3f32, 1e-8f32);
        let theta = store.value("weight").unwrap();
        let grad = store.grad("weight").unwrap();
        let m = Tensor::zeros(&gpu, &[n], DType::F32).unwrap();
        let v = Tensor::zeros(&gpu, &[n], DType::F32).unwrap();
        let denom = Tensor::zeros(&gpu, &[n], DType::F32).unwrap();
        let ew = |op, x, z, y| elementwise_launch(&gpu, op, x, z, y).unwrap();
        let chain: Vec<Launch> = vec![
            ew(ElementwiseOp::Axpby { a: 0.01, b: 1.0 }, theta, None, grad),
            ew(
                ElementwiseOp::Axpby {
                    a: 1.0 - beta1,
                    b: beta1,
                },
                grad,
                None,
                &m,
            ),
            ew(
                ElementwiseOp::AxpbySquare {
                    a: 1.0 - beta2,
                    b: beta2,
                },
                grad,
                None,
                &v,
            ),
            ew(
                ElementwiseOp::SqrtAffine {
                    a: 1.0 / (1.0 - beta2).sqrt(),
                    b: eps,
                },
                &v,
                None,
                &denom,
            ),
            ew(
                ElementwiseOp::Addcdiv {
                    a: -lr / (1.0 - beta1),
                },
                &m,
                Some(&denom),
                theta,
            ),
        ];
        group.bench_function(BenchmarkId::new("adam_unfused_5_kernels", label), |b| {
            b.iter(|| {
                let mut batch = gpu.batch();
                for launch in &chain {
                    batch.record(launch);
                }
                gpu.submit(batch).unwrap();
                gpu.wait().unwrap();
            })
        });

        // SGD with momentum: read θ, g, b; write θ, b.
        let sgd_config = SgdConfig {
            momentum: 0.9,
            ..Default::default()
        };
        let mut sgd = Optimizer::new(&gpu, &store, sgd_config).unwrap();
        group.throughput(Throughput::Bytes(20 * n as u64));
        group.bench_function(BenchmarkId::new("sgd_momentum_fused", label), |b| {
            b.iter(|| {
                sgd.step(&gpu).unwrap();
                gpu.wait().unwrap();
            })
        });
    }
    group.finish();
}

criterion_group!(benches, optimizers);
criterion_main!(benches);
