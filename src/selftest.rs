//! A self-test for people's own hardware: every kernel, and every variant the crate may pick,
//! against the CPU reference on the current adapter, at awkward and large sizes. Drivers do
//! miscompile; this is how a user finds out before training on one.
//!
//! `wgsl-train selftest` prints one line per check and exits non-zero on any failure.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::data::Dataset;
use crate::error::Result;
use crate::gpu::{block_on, DType, Gpu, Tensor};
use crate::kernels::activation::{relu, relu_backward};
use crate::kernels::dropout::{dropout, DropoutKey};
use crate::kernels::loss::{loss, LossKind};
use crate::kernels::matmul::{matmul_launch, MatmulLayout, MatmulOptions, MatmulVariant};
use crate::kernels::reduce::{column_sums, sum};
use crate::nn::{Activation, Mlp};
use crate::optim::{AdamConfig, Optimizer, OptimizerConfig, ParamStore, SgdConfig};
use crate::reference;
use crate::train::{SingleDispatch, TrainConfig, Trainer};

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Check {
    /// What was checked, e.g. `matmul Blocked A·Bᵀ 1031×257×129`.
    pub name: String,
    /// The largest error, relative to the tolerance's scale at that element.
    pub max_error: f64,
    /// The tolerance, in the same units (1 means "at the bound").
    pub tolerance: f64,
}

impl Check {
    /// Whether the check passed.
    pub fn passed(&self) -> bool {
        self.max_error <= self.tolerance
    }
}

/// A check of `got` against `want` with `|got − want| ≤ bound(i)`: its `max_error` is the worst
/// `|got − want| / bound(i)` (NaN counts as failing), tolerance 1.
fn compare(name: String, got: &[f32], want: &[f32], bound: impl Fn(usize) -> f64) -> Check {
    Check {
        name,
        max_error: reference::compare(got, want, bound).worst,
        tolerance: 1.0,
    }
}

const U: f64 = 1.0 / 16_777_216.0; // f32 unit roundoff

fn uniform(rng: &mut StdRng, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(lo..hi)).collect()
}

/// Runs every check on `gpu` with inputs from `seed`.
///
/// # Errors
/// Device errors (a failing comparison is a failed [`Check`], not an error).
pub fn run(gpu: &Gpu, seed: u64) -> Result<Vec<Check>> {
    block_on("selftest::run", run_async(gpu, seed))
}

/// Async variant of [`run`], the one to call in a browser.
///
/// # Errors
/// As [`run`].
pub async fn run_async(gpu: &Gpu, seed: u64) -> Result<Vec<Check>> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut checks = Vec::new();
    // 512³ and 132×260×1028 align to 4 everywhere; in 10×260×130 only B does, where the
    // Subgroup kernel reads A element by element.
    let shapes = [
        (7, 65, 129),
        (1031, 257, 129),
        (512, 512, 512),
        (132, 260, 1028),
        (10, 260, 130),
    ];
    for (m, n, k) in shapes {
        for variant in MatmulVariant::ALL {
            for layout in [MatmulLayout::AB, MatmulLayout::ABt, MatmulLayout::AtB] {
                // A variant that does not apply here falls back to another, checked under
                // its own name.
                if !variant.applies(gpu, layout, (m, n, k)) {
                    continue;
                }
                checks.push(check_matmul(gpu, &mut rng, (m, n, k), layout, variant).await?);
            }
        }
    }
    checks.extend(check_elementwise_kernels(gpu, &mut rng).await?);
    checks.extend(check_losses(gpu, &mut rng).await?);
    checks.extend(check_optimizers(gpu, &mut rng).await?);
    checks.push(check_single_dispatch_epochs(gpu, &mut rng).await?);
    Ok(checks)
}

/// The small-model path's one-dispatch epochs against the general path's kernels.
async fn check_single_dispatch_epochs(gpu: &Gpu, rng: &mut StdRng) -> Result<Check> {
    let (rows, inputs) = (200, 6);
    let features = uniform(rng, rows * inputs, -1.0, 1.0);
    let targets = uniform(rng, rows, -1.0, 1.0);
    let data = Dataset::regression(features, inputs, targets)?;
    let weights = async |single_dispatch_epochs: SingleDispatch| -> Result<Vec<f32>> {
        let model = Mlp::new(gpu, &[inputs, 8, 4, 1], data.task(), 1)?;
        let config = TrainConfig {
            epochs: 4,
            batch_size: 16,
            single_dispatch_epochs,
            ..TrainConfig::default()
        };
        let adam = AdamConfig {
            lr: 0.01,
            weight_decay: 1e-3,
            ..AdamConfig::default()
        };
        let mut trainer = Trainer::new(gpu, model, adam, &data, None, config)?;
        trainer.fit_async().await?;
        trainer.model().params().values().to_vec_async(gpu).await
    };
    let want = weights(SingleDispatch::Never).await?;
    let got = weights(SingleDispatch::Always).await?;
    Ok(compare(
        "training: one dispatch per epoch vs the general path, 52 steps".into(),
        &got,
        &want,
        |i| 1e-3 * (1.0 + f64::from(want[i].abs())),
    ))
}

async fn check_matmul(
    gpu: &Gpu,
    rng: &mut StdRng,
    (m, n, k): (usize, usize, usize),
    layout: MatmulLayout,
    variant: MatmulVariant,
) -> Result<Check> {
    let a = uniform(rng, m * k, -1.0, 1.0);
    let b = uniform(rng, k * n, -1.0, 1.0);
    let bias = uniform(rng, n, -1.0, 1.0);
    let (a_shape, b_shape) = match layout {
        MatmulLayout::AB => ([m, k], [k, n]),
        MatmulLayout::ABt => ([m, k], [n, k]),
        MatmulLayout::AtB => ([k, m], [k, n]),
    };
    let (ga, gb) = (
        Tensor::from_slice(gpu, &a_shape, &a)?,
        Tensor::from_slice(gpu, &b_shape, &b)?,
    );
    let gbias = Tensor::from_slice(gpu, &[n], &bias)?;
    let c = Tensor::zeros(gpu, &[m, n], DType::F32)?;
    let options = MatmulOptions {
        layout,
        bias: Some(&gbias),
        activation: Some(Activation::Relu),
        variant,
        ..MatmulOptions::default()
    };
    gpu.run(&matmul_launch(gpu, &ga, &gb, &c, &options)?)?;
    let want = reference::matmul::matmul(
        &a,
        &b,
        m,
        n,
        k,
        layout,
        Some(&bias),
        Some(Activation::Relu),
        None,
    );
    let scale = reference::matmul::abs_product_sums(&a, &b, m, n, k, layout);
    let name = format!("matmul {variant:?} {layout:?} + bias + ReLU, {m}×{n}×{k}");
    Ok(compare(name, &c.to_vec_async(gpu).await?, &want, |i| {
        (k as f64 + 2.0) * U * (scale[i] + f64::from(bias[i % n].abs())) + 1e-30
    }))
}

async fn check_elementwise_kernels(gpu: &Gpu, rng: &mut StdRng) -> Result<Vec<Check>> {
    let n = 1_000_003;
    let x = uniform(rng, n, -1.0, 1.0);
    let g = uniform(rng, n, -1.0, 1.0);
    let gx = Tensor::from_slice(gpu, &[n], &x)?;
    let gg = Tensor::from_slice(gpu, &[n], &g)?;
    let mut checks = vec![
        compare(
            format!("relu, {n}"),
            &relu(gpu, &gx)?.to_vec_async(gpu).await?,
            &reference::activation::relu(&x),
            |_| 1e-30,
        ),
        compare(
            format!("relu backward, {n}"),
            &relu_backward(gpu, &gg, &gx)?.to_vec_async(gpu).await?,
            &reference::activation::relu_backward(&g, &x),
            |_| 1e-30,
        ),
    ];
    // Dropout's masks, drawn on the GPU, are the host's bit for bit (a product with 0 or the
    // scale, one rounding each side).
    let key = DropoutKey {
        seed: rng.random(),
        model: 0,
        step: rng.random(),
        layer: 1,
    };
    let dropped = Tensor::from_slice(gpu, &[n], &x)?;
    dropout(gpu, &dropped, key, 0.3)?;
    let masks = key.multipliers(n, 0.3);
    let want: Vec<f32> = x.iter().zip(&masks).map(|(x, m)| x * m).collect();
    checks.push(compare(
        format!("dropout 0.3 (Philox4x32-10 masks), {n}"),
        &dropped.to_vec_async(gpu).await?,
        &want,
        |_| 1e-30,
    ));
    // Small integers sum exactly in f32 in any order: a dropped or repeated element shows.
    let ints: Vec<f32> = x.iter().map(|v| (v * 3.0).round()).collect();
    let want_sum = reference::reduce::sum(&ints) as f32;
    let got_sum = sum(gpu, &Tensor::from_slice(gpu, &[n], &ints)?)?
        .to_vec_async(gpu)
        .await?;
    checks.push(compare(
        format!("sum of small integers (exact), {n}"),
        &got_sum,
        &[want_sum],
        |_| 1e-30,
    ));
    // Column sums of small integers are exact too.
    let (rows, cols) = (1031, 97);
    let grid = Tensor::from_slice(gpu, &[rows, cols], &ints[..rows * cols])?;
    let want = reference::reduce::column_sums(&ints[..rows * cols], rows, cols);
    checks.push(compare(
        format!("column sums of small integers (exact), {rows}×{cols}"),
        &column_sums(gpu, &grid)?.to_vec_async(gpu).await?,
        &want,
        |_| 1e-30,
    ));
    Ok(checks)
}

async fn check_losses(gpu: &Gpu, rng: &mut StdRng) -> Result<Vec<Check>> {
    let mut checks = Vec::new();
    for (kind, n) in [
        (LossKind::Mse, 65_537),
        (LossKind::BceWithLogits, 65_537),
        (LossKind::Bce, 65_537),
    ] {
        let pred = match kind {
            LossKind::Bce => uniform(rng, n, 0.01, 0.99),
            _ => uniform(rng, n, -8.0, 8.0),
        };
        let target = uniform(rng, n, 0.0, 1.0);
        let out = loss(
            gpu,
            kind,
            &Tensor::from_slice(gpu, &[n], &pred)?,
            &Tensor::from_slice(gpu, &[n], &target)?,
        )?;
        let (want_loss, want_grad) = match kind {
            LossKind::Mse => reference::loss::mse(&pred, &target),
            LossKind::BceWithLogits => reference::loss::bce_with_logits(&pred, &target),
            _ => reference::loss::bce(&pred, &target),
        };
        let tol = want_loss.abs() * (1e-5 + n as f64 * U);
        checks.push(compare(
            format!("{kind:?} loss, {n}"),
            &out.loss.to_vec_async(gpu).await?,
            &[want_loss as f32],
            |_| tol,
        ));
        checks.push(compare(
            format!("{kind:?} gradient, {n}"),
            &out.grad.to_vec_async(gpu).await?,
            &want_grad,
            |i| 1e-5 * f64::from(want_grad[i].abs()) + 1e-6 / n as f64,
        ));
    }
    let (rows, classes) = (1031, 10);
    let logits = uniform(rng, rows * classes, -5.0, 5.0);
    let labels: Vec<u32> = (0..rows)
        .map(|_| rng.random_range(0..classes as u32))
        .collect();
    let out = loss(
        gpu,
        LossKind::SoftmaxCrossEntropy,
        &Tensor::from_slice(gpu, &[rows, classes], &logits)?,
        &Tensor::from_slice(gpu, &[rows], &labels)?,
    )?;
    let (want_loss, want_grad) = reference::loss::softmax_cross_entropy(&logits, &labels, classes);
    let tol = want_loss.abs() * (1e-5 + (rows + classes) as f64 * U);
    checks.push(compare(
        format!("softmax cross-entropy loss, {rows}×{classes}"),
        &out.loss.to_vec_async(gpu).await?,
        &[want_loss as f32],
        |_| tol,
    ));
    checks.push(compare(
        format!("softmax cross-entropy gradient, {rows}×{classes}"),
        &out.grad.to_vec_async(gpu).await?,
        &want_grad,
        |i| (1e-5 + classes as f64 * U) * f64::from(want_grad[i].abs()) + 1e-7 / rows as f64,
    ));
    Ok(checks)
}

async fn check_optimizers(gpu: &Gpu, rng: &mut StdRng) -> Result<Vec<Check>> {
    let shapes: [(&str, &[usize]); 3] = [("w", &[1031, 7]), ("b", &[65]), ("v", &[3])];
    let configs: [(&str, OptimizerConfig); 3] = [
        (
            "SGD, Nesterov momentum, L1 + L2",
            SgdConfig {
                lr: 0.05,
                momentum: 0.9,
                nesterov: true,
                weight_decay: 0.1,
                l1: 0.01,
                ..SgdConfig::default()
            }
            .into(),
        ),
        (
            "Adam, AMSGrad, L1 + L2",
            AdamConfig {
                lr: 0.01,
                amsgrad: true,
                weight_decay: 0.1,
                l1: 0.01,
                ..AdamConfig::default()
            }
            .into(),
        ),
        (
            "AdamW",
            AdamConfig {
                lr: 0.01,
                ..AdamConfig::adamw()
            }
            .into(),
        ),
    ];
    let mut checks = Vec::new();
    for (name, config) in configs {
        let store = ParamStore::new(gpu, &shapes)?;
        for slot in store.slots() {
            store.write(gpu, &slot.name, &uniform(rng, slot.len(), -1.0, 1.0))?;
        }
        let mut optimizer = Optimizer::new(gpu, &store, config)?;
        let mut references: Vec<reference::optim::Optimizer> = store
            .slots()
            .iter()
            .map(|slot| reference::optim::Optimizer::new(config, slot.len()))
            .collect();
        let steps = 10;
        let (mut got, mut want) = (Vec::new(), Vec::new());
        for _ in 0..steps {
            // Each step starts the reference from the GPU's parameters, so a parameter near 0
            // has one sign(θ) for L1 on both sides (rounding cannot part the trajectories),
            // and the bound does not grow with the steps. Gradients of at least 0.5 keep
            // Adam's g + λ₂·θ + λ₁·sign(θ) far from 0 (Adam moves θ by about lr = 0.01 a
            // step, so |λ₂·θ| + λ₁ < 0.13), where its step lr·g/(|g| + ε) would turn a
            // rounding of g into a large difference.
            for (slot, reference) in store.slots().iter().zip(&mut references) {
                let mut values = store.read_async(gpu, &slot.name).await?;
                let g: Vec<f32> = uniform(rng, slot.len(), 0.5, 1.0)
                    .into_iter()
                    .map(|g| if rng.random_bool(0.5) { g } else { -g })
                    .collect();
                store.grad(&slot.name)?.write(gpu, &g)?;
                reference.step(&mut values, &g);
                want.extend(values);
            }
            optimizer.step(gpu)?;
            for slot in store.slots() {
                got.extend(store.read_async(gpu, &slot.name).await?);
            }
        }
        checks.push(compare(
            format!("optimizer {name}, {steps} steps"),
            &got,
            &want,
            |i| 2e-6 * (1.0 + f64::from(want[i].abs())),
        ));
    }
    Ok(checks)
}
