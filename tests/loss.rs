//! The loss kernels against the reference: values and gradients, awkward sizes, extreme logits.

mod common;

use common::{assert_close, gpu, rel_tol, rng, uniform, F32_U};
use rand::rngs::StdRng;
use rand::Rng;
use wgsl_train::kernels::loss::{loss, LossKind};
use wgsl_train::{reference, DType, Error, Tensor};

const SIZES: [usize; 8] = [1, 7, 63, 65, 129, 1000, 1031, 65_537];

/// Runs an element-wise loss on the GPU: (mean loss, gradient).
fn gpu_loss(kind: LossKind, pred: &[f32], target: &[f32]) -> (f32, Vec<f32>) {
    let gpu = gpu();
    let shape = [pred.len()];
    let out = loss(
        gpu,
        kind,
        &Tensor::from_slice(gpu, &shape, pred).unwrap(),
        &Tensor::from_slice(gpu, &shape, target).unwrap(),
    )
    .unwrap();
    (
        out.loss.to_vec::<f32>(gpu).unwrap()[0],
        out.grad.to_vec::<f32>(gpu).unwrap(),
    )
}

/// Compares a GPU loss value with the f64 reference: the per-term error (a few ulps of each
/// term, from exp/log) plus the summation bound, relative to the mean of |terms|.
fn assert_loss_close(what: &str, seed: u64, got: f32, want: f64, n: usize, term_rel: f64) {
    let tol = want.abs() * (term_rel + n as f64 * F32_U) + 1e-7;
    assert_close(what, seed, &[got], &[want as f32], |_| tol);
}

fn check_elementwise(kind: LossKind, rng: &mut StdRng, seed: u64, pred_range: (f32, f32)) {
    for n in SIZES {
        let pred = uniform(rng, n, pred_range.0, pred_range.1);
        let target: Vec<f32> = match kind {
            LossKind::Mse => uniform(rng, n, -2.0, 2.0),
            _ => (0..n)
                .map(|_| f32::from(u8::from(rng.random_bool(0.5))))
                .collect(),
        };
        let (want_loss, want_grad) = match kind {
            LossKind::Mse => reference::loss::mse(&pred, &target),
            LossKind::BceWithLogits => reference::loss::bce_with_logits(&pred, &target),
            LossKind::Bce => reference::loss::bce(&pred, &target),
            LossKind::SoftmaxCrossEntropy => unreachable!(),
        };
        let (got_loss, got_grad) = gpu_loss(kind, &pred, &target);
        assert_loss_close(
            &format!("{kind:?} loss n={n}"),
            seed,
            got_loss,
            want_loss,
            n,
            1e-5,
        );
        // Each gradient term is a handful of f32 operations on O(1) values, times 1/n.
        let tol = rel_tol(&want_grad, 1e-5, 1e-6 / n as f64);
        assert_close(
            &format!("{kind:?} grad n={n}"),
            seed,
            &got_grad,
            &want_grad,
            tol,
        );
    }
}

#[test]
fn mse_matches_reference() {
    let (mut rng, seed) = rng("mse_matches_reference");
    check_elementwise(LossKind::Mse, &mut rng, seed, (-2.0, 2.0));
}

#[test]
fn bce_with_logits_matches_reference() {
    let (mut rng, seed) = rng("bce_with_logits_matches_reference");
    check_elementwise(LossKind::BceWithLogits, &mut rng, seed, (-8.0, 8.0));
}

#[test]
fn bce_matches_reference() {
    let (mut rng, seed) = rng("bce_matches_reference");
    check_elementwise(LossKind::Bce, &mut rng, seed, (0.01, 0.99));
}

#[test]
fn softmax_cross_entropy_matches_reference() {
    let (mut rng, seed) = rng("softmax_cross_entropy_matches_reference");
    let gpu = gpu();
    for (rows, classes) in [
        (1, 1),
        (1, 7),
        (7, 3),
        (63, 10),
        (65, 65),
        (129, 2),
        (1031, 7),
        (5, 1000),
    ] {
        let logits = uniform(&mut rng, rows * classes, -5.0, 5.0);
        let target: Vec<u32> = (0..rows)
            .map(|_| rng.random_range(0..classes as u32))
            .collect();
        let out = loss(
            gpu,
            LossKind::SoftmaxCrossEntropy,
            &Tensor::from_slice(gpu, &[rows, classes], &logits).unwrap(),
            &Tensor::from_slice(gpu, &[rows], &target).unwrap(),
        )
        .unwrap();
        let (want_loss, want_grad) =
            reference::loss::softmax_cross_entropy(&logits, &target, classes);
        let got_loss = out.loss.to_vec::<f32>(gpu).unwrap()[0];
        // The log-sum-exp of `classes` terms adds `classes` roundings per row.
        let term_rel = 1e-5 + classes as f64 * F32_U;
        assert_loss_close(
            &format!("softmax CE {rows}x{classes}"),
            seed,
            got_loss,
            want_loss,
            rows,
            term_rel,
        );
        let got_grad = out.grad.to_vec::<f32>(gpu).unwrap();
        // The gradient is (p − y)/n with p off by a relative error: at the target, where p
        // may be near 1, p − 1 cancels, so the error scales with p/n there, not with |p − 1|/n.
        let rel = 1e-5 + classes as f64 * F32_U;
        let tol = |i: usize| {
            let y = f64::from(u8::from(target[i / classes] as usize == i % classes));
            1e-7 / rows as f64 + rel * (f64::from(want_grad[i]).abs() + y / rows as f64)
        };
        assert_close(
            &format!("softmax CE grad {rows}x{classes}"),
            seed,
            &got_grad,
            &want_grad,
            tol,
        );
    }
}

#[test]
fn losses_stay_finite_and_correct_at_extreme_logits() {
    let seed = 0; // fixed inputs
    let logits = [
        88.0f32, -88.0, 100.0, -100.0, 1e4, -1e4, 3e38, -3e38, 0.0, 20.0,
    ];
    for targets in [[0.0f32; 10], [1.0f32; 10], [0.5f32; 10]] {
        let (got_loss, got_grad) = gpu_loss(LossKind::BceWithLogits, &logits, &targets);
        let (want_loss, want_grad) = reference::loss::bce_with_logits(&logits, &targets);
        assert!(
            got_loss.is_finite(),
            "BCE-with-logits loss {got_loss} for targets {targets:?}"
        );
        assert!(
            got_grad.iter().all(|g| g.is_finite()),
            "gradient {got_grad:?}"
        );
        assert_loss_close(
            "BCE with logits at extremes",
            seed,
            got_loss,
            want_loss,
            10,
            1e-6,
        );
        assert_close(
            "BCE-with-logits grad at extremes",
            seed,
            &got_grad,
            &want_grad,
            rel_tol(&want_grad, 1e-6, 1e-7),
        );
    }

    // Softmax rows whose logits differ by far more than exp's range.
    let gpu = gpu();
    let rows = [
        [1e4f32, -1e4, 0.0],
        [-88.0, 88.0, 0.0],
        [3e38, -3e38, 0.0],
        [-100.0, -100.0, -100.0],
    ];
    let flat: Vec<f32> = rows.iter().flatten().copied().collect();
    // (Targets chosen so no row's loss exceeds f32's range: [3e38, −3e38, 0] with target 1
    // would be 6e38, infinite in f32 as in PyTorch.)
    let target = [0u32, 0, 2, 2];
    let out = loss(
        gpu,
        LossKind::SoftmaxCrossEntropy,
        &Tensor::from_slice(gpu, &[4, 3], &flat).unwrap(),
        &Tensor::from_slice(gpu, &[4], &target).unwrap(),
    )
    .unwrap();
    let got_loss = out.loss.to_vec::<f32>(gpu).unwrap()[0];
    let got_grad = out.grad.to_vec::<f32>(gpu).unwrap();
    let (want_loss, want_grad) = reference::loss::softmax_cross_entropy(&flat, &target, 3);
    assert!(
        got_loss.is_finite() && got_grad.iter().all(|g| g.is_finite()),
        "{got_loss} {got_grad:?}"
    );
    assert_loss_close("softmax CE at extremes", seed, got_loss, want_loss, 4, 1e-6);
    assert_close(
        "softmax CE grad at extremes",
        seed,
        &got_grad,
        &want_grad,
        rel_tol(&want_grad, 1e-6, 1e-7),
    );

    // BCE on probabilities at 0 and 1: the log is clamped at −100, as in PyTorch.
    let (got_loss, got_grad) =
        gpu_loss(LossKind::Bce, &[0.0, 1.0, 0.0, 1.0], &[1.0, 0.0, 0.0, 1.0]);
    assert_eq!(
        got_loss, 50.0,
        "two terms of 100 and two of 0, averaged over 4"
    );
    assert!(got_grad.iter().all(|g| g.is_finite()), "{got_grad:?}");
}

#[test]
fn softmax_target_out_of_range_gives_nan() {
    let gpu = gpu();
    let out = loss(
        gpu,
        LossKind::SoftmaxCrossEntropy,
        &Tensor::from_slice(gpu, &[2, 3], &[0.0f32; 6]).unwrap(),
        &Tensor::from_slice(gpu, &[2], &[1u32, 3]).unwrap(),
    )
    .unwrap();
    assert!(out.loss.to_vec::<f32>(gpu).unwrap()[0].is_nan());
}

#[test]
fn losses_reject_bad_shapes_and_types() {
    let gpu = gpu();
    let pred = Tensor::zeros(gpu, &[4, 3], DType::F32).unwrap();
    let err = loss(
        gpu,
        LossKind::Mse,
        &pred,
        &Tensor::zeros(gpu, &[3, 4], DType::F32).unwrap(),
    )
    .unwrap_err();
    assert!(
        matches!(err, Error::ShapeMismatch { op: "loss", .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("[4, 3]") && err.to_string().contains("[3, 4]"),
        "{err}"
    );
    // Softmax needs u32 class indices, one per row.
    let err = loss(
        gpu,
        LossKind::SoftmaxCrossEntropy,
        &pred,
        &Tensor::zeros(gpu, &[4], DType::F32).unwrap(),
    );
    assert!(matches!(err, Err(Error::DType { .. })), "{err:?}");
    let err = loss(
        gpu,
        LossKind::SoftmaxCrossEntropy,
        &pred,
        &Tensor::zeros(gpu, &[3], DType::U32).unwrap(),
    );
    assert!(matches!(err, Err(Error::ShapeMismatch { .. })), "{err:?}");
    let err = loss(
        gpu,
        LossKind::Mse,
        &pred,
        &Tensor::zeros(gpu, &[4, 3], DType::U32).unwrap(),
    );
    assert!(matches!(err, Err(Error::DType { .. })), "{err:?}");
}
