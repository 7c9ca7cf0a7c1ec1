//! The backward pass built from the GPU kernels against finite differences: a linear layer
//! with ReLU and an MSE loss, `L = mse(relu(X·Wᵀ + b), Y)`.

mod common;

use common::{gpu, rng, uniform};
use wgsl_train::kernels::loss::{loss, LossKind};
use wgsl_train::kernels::matmul::{matmul, MatmulLayout, MatmulOptions};
use wgsl_train::kernels::{activation, reduce};
use wgsl_train::Tensor;

const BATCH: usize = 13;
const INPUTS: usize = 6;
const OUTPUTS: usize = 4;

/// The loss in f64, written out independently of the crate.
fn loss_f64(x: &[f64], w: &[f64], b: &[f64], y: &[f64]) -> f64 {
    let mut total = 0.0;
    for r in 0..BATCH {
        for o in 0..OUTPUTS {
            let pre: f64 = b[o]
                + (0..INPUTS)
                    .map(|i| x[r * INPUTS + i] * w[o * INPUTS + i])
                    .sum::<f64>();
            let d = pre.max(0.0) - y[r * OUTPUTS + o];
            total += d * d;
        }
    }
    total / (BATCH * OUTPUTS) as f64
}

fn central_difference(params: &[f64], f: impl Fn(&[f64]) -> f64) -> Vec<f64> {
    let h = 1e-6;
    (0..params.len())
        .map(|i| {
            let mut p = params.to_vec();
            p[i] += h;
            let up = f(&p);
            p[i] -= 2.0 * h;
            (up - f(&p)) / (2.0 * h)
        })
        .collect()
}

#[test]
fn linear_relu_mse_gradients_match_finite_differences() {
    let (mut rng, seed) = rng("linear_relu_mse_gradients_match_finite_differences");
    let gpu = gpu();
    let x = uniform(&mut rng, BATCH * INPUTS, -1.0, 1.0);
    let w = uniform(&mut rng, OUTPUTS * INPUTS, -1.0, 1.0);
    let b = uniform(&mut rng, OUTPUTS, -0.5, 0.5);
    let y = uniform(&mut rng, BATCH * OUTPUTS, 0.0, 1.0);

    let gx = Tensor::from_slice(gpu, &[BATCH, INPUTS], &x).unwrap();
    let gw = Tensor::from_slice(gpu, &[OUTPUTS, INPUTS], &w).unwrap();
    let gb = Tensor::from_slice(gpu, &[OUTPUTS], &b).unwrap();
    let gy = Tensor::from_slice(gpu, &[BATCH, OUTPUTS], &y).unwrap();
    let linear = MatmulOptions {
        layout: MatmulLayout::ABt,
        bias: Some(&gb),
        ..Default::default()
    };
    let pre = matmul(gpu, &gx, &gw, &linear).unwrap();
    let h = activation::relu(gpu, &pre).unwrap();
    let out = loss(gpu, LossKind::Mse, &h, &gy).unwrap();
    let dpre = activation::relu_backward(gpu, &out.grad, &pre).unwrap();
    // dW = dPreᵀ·X, db = Σ_rows dPre.
    let dw = matmul(
        gpu,
        &dpre,
        &gx,
        &MatmulOptions {
            layout: MatmulLayout::AtB,
            ..Default::default()
        },
    )
    .unwrap();
    let db = reduce::column_sums(gpu, &dpre).unwrap();

    let f64s = |v: &[f32]| v.iter().map(|&a| f64::from(a)).collect::<Vec<f64>>();
    let (x, w, b, y) = (f64s(&x), f64s(&w), f64s(&b), f64s(&y));
    let numeric_w = central_difference(&w, |w| loss_f64(&x, w, &b, &y));
    let numeric_b = central_difference(&b, |b| loss_f64(&x, &w, b, &y));
    for (name, analytic, numeric) in [
        ("dW", dw.to_vec::<f32>(gpu).unwrap(), numeric_w),
        ("db", db.to_vec::<f32>(gpu).unwrap(), numeric_b),
    ] {
        for (i, (&a, &n)) in analytic.iter().zip(&numeric).enumerate() {
            let tol = 1e-5 + 1e-4 * n.abs();
            assert!(
                (f64::from(a) - n).abs() <= tol,
                "{name}[{i}]: gpu {a} vs finite difference {n}, tolerance {tol} (seed {seed})"
            );
        }
    }
    let gpu_loss = out.loss.to_vec::<f32>(gpu).unwrap()[0];
    let want = loss_f64(&x, &w, &b, &y);
    assert!(
        (f64::from(gpu_loss) - want).abs() <= 1e-6 * want.max(1.0),
        "loss {gpu_loss} vs {want} (seed {seed})"
    );
}
