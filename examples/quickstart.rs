//! The quick start: open the GPU, run one forward and backward step of a small linear layer
//! with the crate's kernels, and check every result against the CPU reference.
//!
//! Run with `cargo run --release --example quickstart`.

use rand::{Rng, SeedableRng};
use wgsl_train::kernels::loss::{loss, LossKind};
use wgsl_train::kernels::matmul::{matmul, MatmulLayout, MatmulOptions};
use wgsl_train::kernels::{activation, reduce};
use wgsl_train::{reference, Gpu, Tensor};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let gpu = Gpu::new()?;
    let info = gpu.adapter_info();
    println!(
        "adapter: {} ({:?}, {:?}, driver {} {})",
        info.name, info.device_type, info.backend, info.driver, info.driver_info
    );

    // A batch of 64 rows of 10 features through a 10→5 layer with ReLU, MSE against targets.
    let (batch, inputs, outputs) = (64, 10, 5);
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut random =
        |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-1.0..1.0)).collect() };
    let (x, w, b, y) = (
        random(batch * inputs),
        random(outputs * inputs),
        random(outputs),
        random(batch * outputs),
    );

    let gx = Tensor::from_slice(&gpu, &[batch, inputs], &x)?;
    let gw = Tensor::from_slice(&gpu, &[outputs, inputs], &w)?;
    let gb = Tensor::from_slice(&gpu, &[outputs], &b)?;
    let gy = Tensor::from_slice(&gpu, &[batch, outputs], &y)?;

    // Forward: h = relu(x·Wᵀ + b), fused into one matmul.
    let pre = matmul(
        &gpu,
        &gx,
        &gw,
        &MatmulOptions {
            layout: MatmulLayout::ABt,
            bias: Some(&gb),
            ..Default::default()
        },
    )?;
    let h = activation::relu(&gpu, &pre)?;
    let out = loss(&gpu, LossKind::Mse, &h, &gy)?;
    // Backward: dpre = relu'(pre)·dh, dW = dpreᵀ·x, db = Σ_rows dpre.
    let dpre = activation::relu_backward(&gpu, &out.grad, &pre)?;
    let dw = matmul(
        &gpu,
        &dpre,
        &gx,
        &MatmulOptions {
            layout: MatmulLayout::AtB,
            ..Default::default()
        },
    )?;
    let db = reduce::column_sums(&gpu, &dpre)?;

    // The same on the CPU.
    let r_pre = reference::matmul::matmul(
        &x,
        &w,
        batch,
        outputs,
        inputs,
        MatmulLayout::ABt,
        Some(&b),
        None,
        None,
    );
    let r_h = reference::activation::relu(&r_pre);
    let (r_loss, r_grad) = reference::loss::mse(&r_h, &y);
    let r_dpre = reference::activation::relu_backward(&r_grad, &r_pre);
    let r_dw = reference::matmul::matmul(
        &r_dpre,
        &x,
        outputs,
        inputs,
        batch,
        MatmulLayout::AtB,
        None,
        None,
        None,
    );
    let r_db = reference::reduce::column_sums(&r_dpre, batch, outputs);

    let gpu_loss = out.loss.to_vec::<f32>(&gpu)?[0];
    println!("loss: gpu {gpu_loss:.7}, cpu {r_loss:.7}");
    let worst = [
        ("pre-activation", max_diff(&pre.to_vec(&gpu)?, &r_pre)),
        ("dL/dW", max_diff(&dw.to_vec(&gpu)?, &r_dw)),
        ("dL/db", max_diff(&db.to_vec(&gpu)?, &r_db)),
    ];
    for (name, diff) in worst {
        println!("{name}: max |gpu − cpu| = {diff:.2e}");
    }
    let ok = worst.iter().all(|(_, d)| *d < 1e-4) && (f64::from(gpu_loss) - r_loss).abs() < 1e-5;
    println!(
        "{}",
        if ok {
            "GPU matches the CPU reference."
        } else {
            "MISMATCH against the CPU reference"
        }
    );
    if !ok {
        std::process::exit(1);
    }
    Ok(())
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}
