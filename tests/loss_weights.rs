//! PyTorch's weights on the losses — `CrossEntropyLoss(weight=…)` and
//! `BCEWithLogitsLoss(pos_weight=…)` — against torch's own numbers, against the f64 reference
//! at awkward sizes (several loss workgroups among them), in training, and refused where they
//! do not fit.

mod common;

use common::{assert_close, fixture, flat, gpu, rng, uniform, F32_U};
use rand::Rng;
use serde::Deserialize;
use wgsl_train::data::{iris, wine_quality, Dataset, Prepared, SplitConfig, Task};
use wgsl_train::kernels::loss::{loss_launch, weighted_loss, LossKind};
use wgsl_train::nn::{LossWeights, Mlp};
use wgsl_train::optim::{AdamConfig, OptimizerConfig};
use wgsl_train::train::{SingleDispatch, TrainConfig, Trainer};
use wgsl_train::{reference, DType, Error, Tensor};

#[derive(Deserialize)]
struct LossFixture {
    cases: FixtureCases,
}

#[derive(Deserialize)]
struct FixtureCases {
    weighted: WeightedCases,
}

#[derive(Deserialize)]
struct WeightedCases {
    softmax_cross_entropy: Vec<WeightedCase>,
    bce_with_logits: Vec<WeightedCase>,
}

#[derive(Deserialize)]
struct WeightedCase {
    name: String,
    pred: serde_json::Value,
    target: serde_json::Value,
    shape: Vec<usize>,
    weights: Vec<f32>,
    loss: f64,
    grad: serde_json::Value,
}

/// The weighted loss of `pred` (`shape`) against `target` on the GPU: (mean, gradient).
fn gpu_weighted(
    kind: LossKind,
    pred: &[f32],
    shape: &[usize],
    target: &Tensor,
    weights: &[f32],
) -> (f64, Vec<f32>) {
    let gpu = gpu();
    let out = weighted_loss(
        gpu,
        kind,
        &Tensor::from_slice(gpu, shape, pred).unwrap(),
        target,
        &Tensor::from_slice(gpu, &[weights.len()], weights).unwrap(),
    )
    .unwrap();
    (
        f64::from(out.loss.to_vec::<f32>(gpu).unwrap()[0]),
        out.grad.to_vec::<f32>(gpu).unwrap(),
    )
}

fn class_targets(classes: &[u32]) -> Tensor {
    Tensor::from_slice(gpu(), &[classes.len()], classes).unwrap()
}

/// Bounds, u = 2⁻²⁴. Softmax: the mean Σ w·l / Σ w adds n terms and n weights, within
/// (2n + 8)·u of itself (every term ≥ 0); a gradient element w[t]·(p − onehot)/Σw within
/// (n + 8)·u of w[t]·(p + onehot)/Σw (p − 1 cancels at the target; Σw carries n roundings).
/// BCE with pos_weight: each term within 8·u of the magnitude of its two parts,
/// |(1 − y)·x| + (1 + (p − 1)y)·softplus(−x), the mean within n·u more; a gradient element
/// within (16 + 2|x|)·u of (1 + (p − 1)y)·σ(x) + p·|y|, over n (GPUs take exp(x) as
/// exp2(x·log₂e), and the rounding of that argument costs |x|·log₂e·u of the result).
#[test]
fn weighted_losses_follow_pytorch() {
    let torch: LossFixture = fixture("losses.json");
    let weighted = &torch.cases.weighted;
    let mut worst = 0.0f64;
    for case in &weighted.softmax_cross_entropy {
        let what = format!("weighted softmax CE {}", case.name);
        let (pred, want_grad) = (flat(&case.pred), flat(&case.grad));
        let labels: Vec<u32> = flat(&case.target).iter().map(|&t| t as u32).collect();
        let (rows, classes) = (case.shape[0], case.shape[1]);
        let kind = LossKind::SoftmaxCrossEntropy;
        let (got, grad) = gpu_weighted(
            kind,
            &pred,
            &case.shape,
            &class_targets(&labels),
            &case.weights,
        );
        let n = rows as f64;
        let bound = (2.0 * n + 8.0) * F32_U * case.loss.abs() + 1e-30;
        worst = worst.max((got - case.loss).abs() / bound);
        assert!(
            (got - case.loss).abs() <= bound,
            "{what}: loss {got} vs torch's {} (bound {bound:e})",
            case.loss
        );
        let total: f64 = labels
            .iter()
            .map(|&t| f64::from(case.weights[t as usize]))
            .sum();
        for (i, (&g, &w)) in grad.iter().zip(&want_grad).enumerate() {
            let label = labels[i / classes] as usize;
            let onehot = f64::from(u8::from(label == i % classes));
            let scale = f64::from(case.weights[label]) / total;
            let bound =
                (n + 8.0) * F32_U * scale * (f64::from(w).abs() / scale + 2.0 * onehot) + 1e-30;
            let diff = (f64::from(g) - f64::from(w)).abs();
            worst = worst.max(diff / bound);
            assert!(
                diff <= bound,
                "{what}: gradient[{i}] {g:e} vs torch's {w:e} (bound {bound:e})"
            );
        }
    }
    for case in &weighted.bce_with_logits {
        let what = format!("BCE with logits, pos_weight, {}", case.name);
        let (pred, want_grad, target) = (flat(&case.pred), flat(&case.grad), flat(&case.target));
        let kind = LossKind::BceWithLogits;
        let target_tensor = Tensor::from_slice(gpu(), &case.shape, &target).unwrap();
        let (got, grad) = gpu_weighted(kind, &pred, &case.shape, &target_tensor, &case.weights);
        let n = pred.len() as f64;
        let cols = case.weights.len();
        let parts = |i: usize| {
            let (x, y) = (f64::from(pred[i]), f64::from(target[i]));
            let p = f64::from(case.weights[i % cols]);
            let log_weight = 1.0 + (p - 1.0) * y;
            let softplus = (-x.abs()).exp().ln_1p() + (-x).max(0.0);
            let sigmoid = 1.0 / (1.0 + (-x).exp());
            (
                ((1.0 - y) * x).abs() + log_weight * softplus,
                log_weight * sigmoid + p * y.abs(),
            )
        };
        let magnitude: f64 = (0..pred.len()).map(|i| parts(i).0).sum::<f64>() / n;
        let bound = (n + 8.0) * F32_U * magnitude + 1e-30;
        worst = worst.max((got - case.loss).abs() / bound);
        assert!(
            (got - case.loss).abs() <= bound,
            "{what}: loss {got} vs torch's {} (bound {bound:e})",
            case.loss
        );
        for (i, (&g, &w)) in grad.iter().zip(&want_grad).enumerate() {
            let x = f64::from(pred[i]).abs();
            let bound = (16.0 + 2.0 * x) * F32_U * parts(i).1 / n + 1e-30;
            let diff = (f64::from(g) - f64::from(w)).abs();
            worst = worst.max(diff / bound);
            assert!(
                diff <= bound,
                "{what}: gradient[{i}] {g:e} vs torch's {w:e} (bound {bound:e})"
            );
        }
    }
    eprintln!("weighted losses: the largest difference is {worst:.3} of its bound");
}

/// Weighted softmax cross-entropy against the reference at awkward sizes: 5000 and 9001 rows
/// take two and three loss workgroups, each of which must find the same Σ w[t].
#[test]
fn class_weighted_cross_entropy_matches_reference() {
    let (mut rng, seed) = rng("class_weighted_cross_entropy_matches_reference");
    for (rows, classes) in [
        (1, 1),
        (7, 3),
        (63, 10),
        (129, 2),
        (1031, 7),
        (5000, 3),
        (9001, 5),
    ] {
        let logits = uniform(&mut rng, rows * classes, -5.0, 5.0);
        let weights = uniform(&mut rng, classes, 0.1, 5.0);
        let labels: Vec<u32> = (0..rows)
            .map(|_| rng.random_range(0..classes as u32))
            .collect();
        let (got, grad) = gpu_weighted(
            LossKind::SoftmaxCrossEntropy,
            &logits,
            &[rows, classes],
            &class_targets(&labels),
            &weights,
        );
        let (want, want_grad) =
            reference::loss::softmax_cross_entropy_weighted(&logits, &labels, &weights);
        // Each row's log-sum-exp adds `classes` roundings; the two sums n each.
        let rel = 1e-5 + (classes + 2 * rows) as f64 * F32_U;
        let what = format!("weighted softmax CE {rows}x{classes}");
        assert_close(&what, seed, &[got as f32], &[want as f32], |_| {
            rel * want.abs() + 1e-7
        });
        let total: f64 = labels.iter().map(|&t| f64::from(weights[t as usize])).sum();
        let tol = |i: usize| {
            let label = labels[i / classes] as usize;
            let onehot = f64::from(u8::from(label == i % classes));
            let scale = f64::from(weights[label]) / total;
            1e-7 * scale + rel * (f64::from(want_grad[i]).abs() + onehot * scale)
        };
        assert_close(&format!("{what} grad"), seed, &grad, &want_grad, tol);
    }
}

/// BCE with logits and a pos_weight per column against the reference, one and three columns.
/// Bounds: each term's softplus takes one log of 1 + e^(−|x|), within 2⁻²¹ absolute on Vulkan
/// (its log is held to an absolute error in [0.5, 2], not a relative one), times the term's
/// weight (1 − y) + p·y; the mean adds n roundings; and 1e-5 relative for exp and the rest.
#[test]
fn pos_weighted_bce_matches_reference() {
    let (mut rng, seed) = rng("pos_weighted_bce_matches_reference");
    for (rows, cols) in [
        (1, 1),
        (7, 1),
        (65, 1),
        (1031, 1),
        (65_537, 1),
        (63, 3),
        (1365, 3),
    ] {
        let n = rows * cols;
        let logits = uniform(&mut rng, n, -8.0, 8.0);
        let target: Vec<f32> = (0..n)
            .map(|_| f32::from(u8::from(rng.random_bool(0.3))))
            .collect();
        let pos_weight = uniform(&mut rng, cols, 0.2, 5.0);
        let target_tensor = Tensor::from_slice(gpu(), &[rows, cols], &target).unwrap();
        let (got, grad) = gpu_weighted(
            LossKind::BceWithLogits,
            &logits,
            &[rows, cols],
            &target_tensor,
            &pos_weight,
        );
        let (want, want_grad) =
            reference::loss::bce_with_logits_pos_weight(&logits, &target, &pos_weight);
        let what = format!("pos-weighted BCE {rows}x{cols}");
        let rel = 1e-5 + n as f64 * F32_U;
        let log_error: f64 = (0..n)
            .map(|i| {
                let (y, p) = (f64::from(target[i]), f64::from(pos_weight[i % cols]));
                (1.0 - y + p * y) / 2_097_152.0
            })
            .sum::<f64>()
            / n as f64;
        assert_close(&what, seed, &[got as f32], &[want as f32], |_| {
            rel * want.abs() + log_error + 1e-9
        });
        // (1 − y)·σ(x) − p·y·σ(−x): a handful of operations on values up to 5, over n.
        let tol = |i: usize| 1e-5 * (f64::from(want_grad[i]).abs() + 5.0 / n as f64);
        assert_close(&format!("{what} grad"), seed, &grad, &want_grad, tol);
    }
}

fn invalid_detail(result: Result<impl std::fmt::Debug, Error>) -> String {
    match result {
        Err(Error::InvalidArgument { detail, .. }) => detail,
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
}

#[test]
fn weights_that_do_not_fit_are_refused() {
    let gpu = gpu();
    let pred = Tensor::zeros(gpu, &[4, 3], DType::F32).unwrap();
    let classes = class_targets(&[0, 1, 2, 0]);
    let two = Tensor::from_slice(gpu, &[2], &[1.0f32, 2.0]).unwrap();
    let out = Tensor::zeros(gpu, &[1], DType::F32).unwrap();
    let grad = Tensor::zeros(gpu, &[4, 3], DType::F32).unwrap();
    let launch = |kind, target: &Tensor, weights: &Tensor| {
        loss_launch(gpu, kind, &pred, target, Some(weights), &out, &grad)
    };
    let detail = invalid_detail(launch(LossKind::SoftmaxCrossEntropy, &classes, &two));
    assert!(detail.contains("got 2"), "{detail}");
    let values = Tensor::zeros(gpu, &[4, 3], DType::F32).unwrap();
    let three = Tensor::from_slice(gpu, &[3], &[1.0f32; 3]).unwrap();
    let detail = invalid_detail(launch(LossKind::Mse, &values, &three));
    assert!(detail.contains("Mse"), "{detail}");

    let multiclass = || Mlp::new(gpu, &[4, 3], Task::Multiclass, 0).unwrap();
    let binary = || Mlp::new(gpu, &[4, 1], Task::Binary, 0).unwrap();
    let regression = || Mlp::new(gpu, &[4, 1], Task::Regression, 0).unwrap();
    for (model, weights, names) in [
        (
            multiclass(),
            LossWeights::Class(vec![1.0, 2.0]),
            "2 weights",
        ),
        (
            multiclass(),
            LossWeights::Class(vec![1.0, f32::NAN, 1.0]),
            "NaN",
        ),
        (
            multiclass(),
            LossWeights::Class(vec![1.0, 0.0, 1.0]),
            "weight 0",
        ),
        (multiclass(), LossWeights::Positive(vec![2.0]), "binary"),
        (binary(), LossWeights::Class(vec![1.0, 2.0]), "multiclass"),
        (binary(), LossWeights::Positive(vec![-1.0]), "weight -1"),
        (regression(), LossWeights::Positive(vec![2.0]), "Mse"),
    ] {
        let detail = invalid_detail(model.with_loss_weights(weights));
        assert!(detail.contains(names), "{names}: {detail}");
    }
    let model = binary()
        .with_loss_weights(LossWeights::Positive(vec![2.5]))
        .unwrap();
    assert_eq!(model.loss_weights(), &LossWeights::Positive(vec![2.5]));
}

fn prepared(data: &Dataset) -> Prepared {
    let split = SplitConfig {
        seed: 3,
        ..SplitConfig::default()
    };
    Prepared::new(data, &split).unwrap()
}

/// Trains a weighted model on each path — the general path, the one-dispatch path and the
/// streamed split — replays each run on the reference with the same weights, and checks the
/// last validation loss against the reference's weighted loss of the trained model's outputs.
fn check_weighted_training(data: &Dataset, sizes: &[usize], weights: LossWeights, batch: usize) {
    let gpu = gpu();
    let p = prepared(data);
    let optimizer = OptimizerConfig::Adam(AdamConfig {
        lr: 0.01,
        ..AdamConfig::default()
    });
    for (path, single_dispatch_epochs, chunk_rows) in [
        ("general", SingleDispatch::Never, None),
        ("one-dispatch", SingleDispatch::Always, None),
        ("streamed", SingleDispatch::Auto, Some(3 * batch)),
    ] {
        let config = TrainConfig {
            epochs: 15,
            batch_size: batch,
            seed: 11,
            chunk_rows,
            single_dispatch_epochs,
            ..TrainConfig::default()
        };
        let model = Mlp::new(gpu, sizes, data.task(), 5)
            .unwrap()
            .with_loss_weights(weights.clone())
            .unwrap();
        let initial = common::weights(gpu, &model);
        let validation = Some(&p.validation);
        let mut trainer =
            Trainer::new(gpu, model, optimizer, &p.train, validation, config).unwrap();
        assert_eq!(trainer.single_dispatch_epochs(), path == "one-dispatch");
        let history = trainer.fit().unwrap().clone();
        let worst = common::replay_trainer(gpu, &trainer, &p.train, initial, &history);
        let trained = trainer.model();
        eprintln!("{weights:?} {path} path: the largest difference is {worst:.3}");

        let val = &p.validation;
        let logits = trained.predict(gpu, val.features(), val.len()).unwrap();
        let targets = val.target_values();
        let values = weights.values().unwrap();
        let want = match data.task() {
            Task::Binary => reference::loss::bce_with_logits_pos_weight(&logits, &targets, values),
            _ => {
                let labels: Vec<u32> = targets.iter().map(|&t| t as u32).collect();
                reference::loss::softmax_cross_entropy_weighted(&logits, &labels, values)
            }
        }
        .0;
        let got = history.epochs.last().unwrap().validation_loss.unwrap();
        // The forward pass's fan-in and the val rows' sums, in f32 (see replay's bounds).
        let bound = (val.len() + sizes[0] + 16) as f64 * F32_U * want.abs() * 4.0;
        assert!(
            (got - want).abs() <= bound,
            "{weights:?} {path} path: validation loss {got} vs the reference's weighted {want} (bound {bound:e})"
        );
    }
}

#[test]
fn class_weighted_training_matches_the_cpu_reference() {
    let weights = LossWeights::Class(vec![0.4, 1.0, 2.5]);
    check_weighted_training(&iris().unwrap(), &[4, 8, 3], weights, 16);
}

#[test]
fn pos_weighted_training_matches_the_cpu_reference() {
    let weights = LossWeights::Positive(vec![1.7]);
    check_weighted_training(&wine_quality().unwrap(), &[11, 6, 1], weights, 64);
}

/// The one-dispatch kernel holds 16 loss weights: more are refused there by number, and
/// `Auto` takes the general path.
#[test]
fn more_loss_weights_than_the_one_dispatch_kernel_holds_take_the_general_path() {
    let gpu = gpu();
    let classes = 17;
    let labels: Vec<u32> = (0..68).map(|i| i % classes as u32).collect();
    let features: Vec<f32> = labels.iter().map(|&l| l as f32 / 17.0).collect();
    let names = (0..classes).map(|c| format!("c{c}")).collect();
    let data = Dataset::classification(features, 1, labels, names).unwrap();
    let model = || {
        Mlp::new(gpu, &[1, 4, classes], Task::Multiclass, 0)
            .unwrap()
            .with_loss_weights(LossWeights::Class(vec![1.0; classes]))
            .unwrap()
    };
    let config = |single_dispatch_epochs| TrainConfig {
        epochs: 1,
        single_dispatch_epochs,
        ..TrainConfig::default()
    };
    let sgd = OptimizerConfig::Sgd(Default::default());
    let always = Trainer::new(
        gpu,
        model(),
        sgd,
        &data,
        None,
        config(SingleDispatch::Always),
    );
    let Err(refusal) = always else {
        panic!("17 loss weights on the one-dispatch path");
    };
    assert!(refusal.to_string().contains("17 loss weights"), "{refusal}");
    let auto = Trainer::new(gpu, model(), sgd, &data, None, config(SingleDispatch::Auto));
    assert!(!auto.unwrap().single_dispatch_epochs());
}
