//! A measurement prototype for the many-models issue, not part of the library: 10→5→1 models
//! (MSE, Adam with L1 and L2, batch 32) trained a model per invocation, each with its weights,
//! gradients and optimizer state in private variables, every model reading the same rows in the
//! same order (one fold, one shuffle seed), so each row load is the same address across the
//! SIMD lanes. Two forms of the same kernel: with loops over the parameters, and with them
//! unrolled by a generator (constant indices, so the compiler keeps the values in registers).
//! It prints model-steps/s for 120, 1,200 and 10,000 models and checks that the two forms end
//! with the same weights. No validation, early stopping or PyTorch check: see BENCHMARKS.md
//! ("Many models: where a model lives").
//!
//! `cargo run --release --example grid_prototype`

use std::time::Instant;
use wgsl_train::wgpu;
use wgsl_train::wgpu::util::DeviceExt;

const SHADER: &str = r#"
const F: u32 = 10u;
const H: u32 = 5u;
const P: u32 = 61u; // F*H + H + H + 1
const BATCH: u32 = 32u;

struct Settings { models: u32, steps: u32, t0: u32, _pad: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read> order: array<u32>;
@group(0) @binding(3) var<storage, read_write> params: array<f32>;
@group(0) @binding(4) var<storage, read_write> m_all: array<f32>;
@group(0) @binding(5) var<storage, read_write> v_all: array<f32>;
@group(0) @binding(6) var<storage, read> hyper: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> losses: array<f32>;
@group(0) @binding(8) var<uniform> settings: Settings;

@compute @workgroup_size(64)
fn train(@builtin(global_invocation_id) gid: vec3<u32>) {
    let model = gid.x;
    if model >= settings.models { return; }
    var w: array<f32, 61>;
    var m: array<f32, 61>;
    var v: array<f32, 61>;
    var g: array<f32, 61>;
    let base = model * P;
    for (var i = 0u; i < P; i++) { w[i] = params[base + i]; m[i] = m_all[base + i]; v[i] = v_all[base + i]; }
    let hp = hyper[model];
    let lr = hp.x; let l1 = hp.y; let l2 = hp.z;
    var t = f32(settings.t0);
    for (var s = 0u; s < settings.steps; s++) {
        for (var i = 0u; i < P; i++) { g[i] = 0.0; }
        var loss = 0.0;
        for (var r = 0u; r < BATCH; r++) {
            let row = order[s * BATCH + r];
            var xr: array<f32, 10>;
            for (var k = 0u; k < F; k++) { xr[k] = x[row * F + k]; }
            var h: array<f32, 5>;
            var out = w[F * H + H + H];
            for (var j = 0u; j < H; j++) {
                var a = w[F * H + j];
                for (var k = 0u; k < F; k++) { a += w[j * F + k] * xr[k]; }
                h[j] = max(a, 0.0);
                out += w[F * H + H + j] * h[j];
            }
            let d = out - y[row];
            loss += d * d;
            let dout = 2.0 * d / f32(BATCH);
            g[F * H + H + H] += dout;
            for (var j = 0u; j < H; j++) {
                g[F * H + H + j] += dout * h[j];
                let dh = select(0.0, dout * w[F * H + H + j], h[j] > 0.0);
                g[F * H + j] += dh;
                for (var k = 0u; k < F; k++) { g[j * F + k] += dh * xr[k]; }
            }
        }
        losses[model * settings.steps + s] = loss / f32(BATCH);
        t += 1.0;
        let c1 = 1.0 - pow(0.9, t);
        let c2 = sqrt(1.0 - pow(0.999, t));
        for (var i = 0u; i < P; i++) {
            let gi = g[i] + l2 * w[i] + l1 * sign(w[i]);
            m[i] = 0.9 * m[i] + 0.1 * gi;
            v[i] = 0.999 * v[i] + 0.001 * gi * gi;
            w[i] -= lr / c1 * m[i] / (sqrt(v[i]) / c2 + 1e-8);
        }
    }
    for (var i = 0u; i < P; i++) { params[base + i] = w[i]; m_all[base + i] = m[i]; v_all[base + i] = v[i]; }
}
"#;
/// The same kernel with the per-row and per-parameter loops unrolled (constant indices).
fn unrolled() -> String {
    let (f, h) = (10usize, 5usize);
    let p = f * h + h + h + 1;
    let mut body = String::new();
    let w = |i: usize| format!("w{i}");
    let g = |i: usize| format!("g{i}");
    for i in 0..p {
        body += &format!("var w{i} = params[base + {i}u]; var m{i} = m_all[base + {i}u]; var v{i} = v_all[base + {i}u]; var g{i} = 0.0;\n");
    }
    body += "var t = f32(settings.t0);\nfor (var s = 0u; s < settings.steps; s++) {\n";
    for i in 0..p {
        body += &format!("{} = 0.0;\n", g(i));
    }
    body +=
        "var loss = 0.0;\nfor (var r = 0u; r < BATCH; r++) {\nlet row = order[s * BATCH + r];\n";
    for k in 0..f {
        body += &format!("let x{k} = x[row * F + {k}u];\n");
    }
    body += &format!("var out = {};\n", w(f * h + h + h));
    for j in 0..h {
        let mut a = w(f * h + j);
        for k in 0..f {
            a = format!("fma({}, x{k}, {a})", w(j * f + k));
        }
        body += &format!(
            "let h{j} = max({a}, 0.0);\nout = fma({}, h{j}, out);\n",
            w(f * h + h + j)
        );
    }
    body += "let d = out - y[row];\nloss = fma(d, d, loss);\nlet dout = 2.0 * d / f32(BATCH);\n";
    body += &format!("{} += dout;\n", g(f * h + h + h));
    for j in 0..h {
        body += &format!(
            "{} = fma(dout, h{j}, {});\n",
            g(f * h + h + j),
            g(f * h + h + j)
        );
        body += &format!(
            "let dh{j} = select(0.0, dout * {}, h{j} > 0.0);\n{} += dh{j};\n",
            w(f * h + h + j),
            g(f * h + j)
        );
        for k in 0..f {
            body += &format!("{} = fma(dh{j}, x{k}, {});\n", g(j * f + k), g(j * f + k));
        }
    }
    body += "}\nlosses[model * settings.steps + s] = loss / f32(BATCH);\nt += 1.0;\nlet c1 = 1.0 - pow(0.9, t);\nlet c2 = sqrt(1.0 - pow(0.999, t));\n";
    for i in 0..p {
        body += &format!("{{ let gi = g{i} + l2 * w{i} + l1 * sign(w{i}); m{i} = 0.9 * m{i} + 0.1 * gi; v{i} = 0.999 * v{i} + 0.001 * gi * gi; w{i} -= lr / c1 * m{i} / (sqrt(v{i}) / c2 + 1e-8); }}\n");
    }
    body += "}\n";
    for i in 0..p {
        body += &format!(
            "params[base + {i}u] = w{i}; m_all[base + {i}u] = m{i}; v_all[base + {i}u] = v{i};\n"
        );
    }
    let head = SHADER.split("@compute").next().unwrap();
    format!("{head}@compute @workgroup_size(64)\nfn train(@builtin(global_invocation_id) gid: vec3<u32>) {{\nlet model = gid.x;\nif model >= settings.models {{ return; }}\nlet base = model * P;\nlet hp = hyper[model];\nlet lr = hp.x; let l1 = hp.y; let l2 = hp.z;\n{body}}}\n")
}

/// Xorshift values in [-1, 1): the prototype's data and weights, the same on every run.
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// Trains `models` models for `steps` steps with kernel `source`, three timed runs after a
/// warm-up (each run goes on from the last). Returns the median model-steps/s and the weights
/// after the warm-up run.
fn measure(gpu: &wgsl_train::Gpu, source: &str, models: usize, steps: usize) -> (f64, Vec<f32>) {
    let (device, queue) = (gpu.device(), gpu.queue());
    let rows = 442;
    let x = values(rows * 10, 1);
    let y = values(rows, 2);
    // One fold's 353 training rows in a fixed order, shared by every model.
    let order: Vec<u32> = (0..steps * 32).map(|i| ((i * 7919) % 353) as u32).collect();
    let params: Vec<f32> = values(models * 61, 3).iter().map(|v| v * 0.3).collect();
    let hyper: Vec<[f32; 4]> = (0..models)
        .map(|i| {
            let lr = [1e-3, 3e-3, 1e-2][i % 3];
            [lr, [0.0, 1e-3][(i / 3) % 2], [0.0, 1e-3][(i / 6) % 2], 0.0]
        })
        .collect();
    let buffer = |data: &[u8], usage| {
        device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: None,
            contents: data,
            usage,
        })
    };
    let storage = wgpu::BufferUsages::STORAGE;
    let zeros = vec![0f32; models * 61];
    let settings = [models as u32, steps as u32, 0, 0];
    let buffers = [
        buffer(bytemuck::cast_slice(&x), storage),
        buffer(bytemuck::cast_slice(&y), storage),
        buffer(bytemuck::cast_slice(&order), storage),
        buffer(
            bytemuck::cast_slice(&params),
            storage | wgpu::BufferUsages::COPY_SRC,
        ),
        buffer(bytemuck::cast_slice(&zeros), storage),
        buffer(bytemuck::cast_slice(&zeros), storage),
        buffer(bytemuck::cast_slice(&hyper), storage),
        buffer(bytemuck::cast_slice(&vec![0f32; models * steps]), storage),
        buffer(bytemuck::cast_slice(&settings), wgpu::BufferUsages::UNIFORM),
    ];
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: None,
        source: wgpu::ShaderSource::Wgsl(source.into()),
    });
    let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: None,
        layout: None,
        module: &module,
        entry_point: Some("train"),
        compilation_options: Default::default(),
        cache: None,
    });
    let entries: Vec<wgpu::BindGroupEntry> = buffers
        .iter()
        .enumerate()
        .map(|(i, b)| wgpu::BindGroupEntry {
            binding: i as u32,
            resource: b.as_entire_binding(),
        })
        .collect();
    let bind = device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: None,
        layout: &pipeline.get_bind_group_layout(0),
        entries: &entries,
    });
    let run = || {
        let mut encoder = device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, &bind, &[]);
            pass.dispatch_workgroups((models as u32).div_ceil(64), 1, 1);
        }
        queue.submit([encoder.finish()]);
        device.poll(wgpu::PollType::wait_indefinitely()).unwrap();
    };
    run();
    let weights = read(gpu, &buffers[3], models * 61);
    let mut rates: Vec<f64> = (0..3)
        .map(|_| {
            let start = Instant::now();
            run();
            (models * steps) as f64 / start.elapsed().as_secs_f64()
        })
        .collect();
    rates.sort_by(f64::total_cmp);
    (rates[1], weights)
}

fn read(gpu: &wgsl_train::Gpu, buffer: &wgpu::Buffer, n: usize) -> Vec<f32> {
    let (device, queue) = (gpu.device(), gpu.queue());
    let staging = device.create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size: (n * 4) as u64,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut encoder = device.create_command_encoder(&Default::default());
    encoder.copy_buffer_to_buffer(buffer, 0, &staging, 0, (n * 4) as u64);
    queue.submit([encoder.finish()]);
    staging
        .slice(..)
        .map_async(wgpu::MapMode::Read, |r| r.unwrap());
    device.poll(wgpu::PollType::wait_indefinitely()).unwrap();
    let data = staging.slice(..).get_mapped_range().unwrap();
    bytemuck::cast_slice(&data).to_vec()
}

fn main() {
    let gpu = wgsl_train::Gpu::new().unwrap();
    // 10 epochs of 11 steps a dispatch (353 training rows of one fold of 442, batch 32,
    // drop_last, as ../shared/peers/jax_grid.py trains each model). With 20 epochs in one
    // dispatch the loop form came back from lavapipe with its weights partly unwritten (not
    // understood yet; the unrolled form was fine), so the runs are 10 epochs each.
    let steps = 110;
    let unrolled = unrolled();
    for models in [120, 1200, 10_000] {
        let (looped_rate, looped) = measure(&gpu, SHADER, models, steps);
        let (unrolled_rate, unrolled_weights) = measure(&gpu, &unrolled, models, steps);
        // The two kernels compute the same thing in a different order (fma): they must agree.
        let worst = looped
            .iter()
            .zip(&unrolled_weights)
            .map(|(a, b)| ((a - b).abs() / (1.0 + a.abs())) as f64)
            .fold(0.0, f64::max);
        assert!(worst < 1e-3, "the kernels disagree: {worst}");
        println!(
            "{models} models × {steps} steps: loops {looped_rate:.0}, unrolled {unrolled_rate:.0} model-steps/s (weights agree to {worst:.1e})"
        );
    }
}
