//! The CPU references themselves: against values worked out by hand from the formulas, and
//! their gradients against central finite differences of their own loss values.

use wgsl_train::kernels::matmul::MatmulLayout;
use wgsl_train::nn::Activation;
use wgsl_train::reference::{activation, loss, matmul, reduce};

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

#[test]
fn matmul_reference_known_values() {
    // [[1,2],[3,4]]·[[5,6],[7,8]] = [[1·5+2·7, 1·6+2·8], [3·5+4·7, 3·6+4·8]] = [[19,22],[43,50]].
    let a = [1.0, 2.0, 3.0, 4.0];
    let b = [5.0, 6.0, 7.0, 8.0];
    assert_eq!(
        matmul::matmul(&a, &b, 2, 2, 2, MatmulLayout::AB, None, None, None),
        vec![19.0, 22.0, 43.0, 50.0]
    );
    // A·Bᵀ with Bᵀ = [[5,7],[6,8]]: [[1·5+2·6, 1·7+2·8], [3·5+4·6, 3·7+4·8]] = [[17,23],[39,53]].
    assert_eq!(
        matmul::matmul(&a, &b, 2, 2, 2, MatmulLayout::ABt, None, None, None),
        vec![17.0, 23.0, 39.0, 53.0]
    );
    // Aᵀ·B with Aᵀ = [[1,3],[2,4]]: [[1·5+3·7, 1·6+3·8], [2·5+4·7, 2·6+4·8]] = [[26,30],[38,44]].
    assert_eq!(
        matmul::matmul(&a, &b, 2, 2, 2, MatmulLayout::AtB, None, None, None),
        vec![26.0, 30.0, 38.0, 44.0]
    );
    // Epilogue: [[19,22],[43,50]] + old [[1,1],[1,1]] + bias [−30, −100], then ReLU:
    // [[19+1−30, 22+1−100], [43+1−30, 50+1−100]] = [[−10, −77], [14, −49]] → [[0,0],[14,0]].
    let out = matmul::matmul(
        &a,
        &b,
        2,
        2,
        2,
        MatmulLayout::AB,
        Some(&[-30.0, -100.0]),
        Some(Activation::Relu),
        Some(&[1.0; 4]),
    );
    assert_eq!(out, vec![0.0, 0.0, 14.0, 0.0]);
}

#[test]
fn activation_and_reduce_reference_known_values() {
    assert_eq!(activation::relu(&[-1.0, 0.0, 2.5]), vec![0.0, 0.0, 2.5]);
    assert_eq!(
        activation::relu_backward(&[5.0, 6.0, 7.0], &[-1.0, 0.0, 2.0]),
        vec![0.0, 0.0, 7.0]
    );
    // [[1,2,3],[4,5,6]]: columns 1+4, 2+5, 3+6.
    assert_eq!(
        reduce::column_sums(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2, 3),
        vec![5.0, 7.0, 9.0]
    );
    assert_eq!(reduce::sum(&[1.0, 2.0, 3.5]), 6.5);
    assert_eq!(reduce::mean(&[1.0, 2.0, 3.0, 6.0]), 3.0);
}

/// Each activation's f64 reference at values worked out from the definitions, and its
/// derivative against a central finite difference of its own forward.
#[test]
fn activation_references_known_values_and_derivatives() {
    use activation::{derivative, forward};
    let leaky = Activation::LeakyRelu {
        negative_slope: 0.25,
    };
    // Φ(1) = 0.841344746068543 (tables of the normal CDF); tanh(1) = 0.761594155955765;
    // σ(1) = 1/(1 + e⁻¹) = 0.731058578630005; √(2/π)·1.044715 = 0.833561968939166
    for (a, z, want) in [
        (Activation::Relu, -2.0, 0.0),
        (leaky, -2.0, -0.5),
        (leaky, 3.0, 3.0),
        (Activation::Tanh, 1.0, 0.761_594_155_955_765),
        (Activation::Sigmoid, 1.0, 0.731_058_578_630_005),
        (Activation::Gelu, 1.0, 0.841_344_746_068_543),
        (Activation::Gelu, -1.0, -(1.0 - 0.841_344_746_068_543)),
        (
            Activation::GeluTanh,
            1.0,
            0.5 * (1.0 + (0.833_561_968_939_166_f64).tanh()),
        ),
        (Activation::Silu, 1.0, 0.731_058_578_630_005),
    ] {
        assert!(
            close(forward(a, z), want, 1e-9),
            "{a}({z}) = {}, want {want}",
            forward(a, z)
        );
    }
    // lipschitz bounds |f'| everywhere (the kernel tests' tolerances lean on it).
    for a in Activation::ALL.into_iter().chain([leaky]) {
        let steepest = (-20_000..20_000)
            .map(|i| derivative(a, f64::from(i) / 1000.0).abs())
            .fold(0.0, f64::max);
        assert!(
            steepest <= activation::lipschitz(a),
            "{a}: |f'| reaches {steepest}"
        );
    }
    assert_eq!(derivative(Activation::Relu, 0.0), 0.0);
    assert_eq!(derivative(leaky, 0.0), 0.25);
    for a in Activation::ALL.into_iter().chain([leaky]) {
        for z in [-6.0, -2.5, -1.0, -0.3, 0.2, 0.7, 1.5, 4.0] {
            let h = 1e-6;
            let numeric = (forward(a, z + h) - forward(a, z - h)) / (2.0 * h);
            assert!(
                close(derivative(a, z), numeric, 1e-7),
                "{a}'({z}) = {}, finite difference {numeric}",
                derivative(a, z)
            );
        }
    }
}

#[test]
fn loss_references_known_values() {
    // MSE of ŷ = [1, 3] against y = [0, 1]: ((1−0)² + (3−1)²)/2 = 2.5; grad 2(ŷ−y)/2 = [1, 2].
    let (l, g) = loss::mse(&[1.0, 3.0], &[0.0, 1.0]);
    assert_eq!(l, 2.5);
    assert_eq!(g, vec![1.0, 2.0]);

    // BCE with logits at x = 0, y = 1: max(0,0) − 0 + log1p(e⁰) = ln 2; σ(0) − 1 = −0.5.
    let (l, g) = loss::bce_with_logits(&[0.0], &[1.0]);
    assert!(close(l, std::f64::consts::LN_2, 1e-15));
    assert_eq!(g, vec![-0.5]);
    // x = 100, y = 0: 100 − 0 + log1p(e⁻¹⁰⁰) = 100 (+4e−44); σ(100) − 0 = 1.
    // x = −100, y = 1: 0 + 100 + log1p(e⁻¹⁰⁰) = 100; σ(−100) − 1 = −1. Mean over 2: 100.
    let (l, g) = loss::bce_with_logits(&[100.0, -100.0], &[0.0, 1.0]);
    assert!(close(l, 100.0, 1e-12));
    assert_eq!(g, vec![0.5, -0.5]);

    // BCE on p = 0.5, y = 1: −ln 0.5 = ln 2; grad (0.5 − 1)/(0.5·0.5) = −2.
    let (l, g) = loss::bce(&[0.5], &[1.0]);
    assert!(close(l, std::f64::consts::LN_2, 1e-15));
    assert_eq!(g, vec![-2.0]);
    // p = 0, y = 1: ln 0 = −∞ clamped to −100, so 100; grad (0 − 1)/max(0, 1e−12) = −1e12.
    let (l, g) = loss::bce(&[0.0], &[1.0]);
    assert_eq!(l, 100.0);
    assert_eq!(g, vec![-1e12]);

    // Softmax CE of logits [0, 0, 0], target 1: ln(3·e⁰) − 0 = ln 3; grad [1/3, 1/3 − 1, 1/3].
    let (l, g) = loss::softmax_cross_entropy(&[0.0, 0.0, 0.0], &[1], 3);
    assert!(close(l, 3f64.ln(), 1e-15));
    assert_eq!(g, vec![1.0 / 3.0, -2.0 / 3.0, 1.0 / 3.0]);
    // Logits [1000, 0]: the max is subtracted first, so no overflow. Target 0: ln(1 + e⁻¹⁰⁰⁰) ≈ 0,
    // grad ≈ [0, 0]. Target 1: ln(1 + e⁻¹⁰⁰⁰) + 1000 = 1000, grad ≈ [1, −1]. Mean: 500.
    let (l, g) = loss::softmax_cross_entropy(&[1000.0, 0.0, 1000.0, 0.0], &[0, 1], 2);
    assert!(close(l, 500.0, 1e-12));
    assert_eq!(g, vec![0.0, 0.0, 0.5, -0.5]);
}

/// Central differences of `f` at every element of `x`, with a step of 2⁻¹⁴ that is exact in
/// f32 for |x| < 2⁹, so the only error is the O(h²) truncation.
fn finite_differences(x: &[f32], f: impl Fn(&[f32]) -> f64) -> Vec<f64> {
    let h = 1.0 / 16384.0;
    (0..x.len())
        .map(|i| {
            let mut plus = x.to_vec();
            let mut minus = x.to_vec();
            plus[i] += h;
            minus[i] -= h;
            (f(&plus) - f(&minus)) / (2.0 * f64::from(h))
        })
        .collect()
}

fn assert_gradient(name: &str, analytic: &[f32], numeric: &[f64]) {
    for (i, (&a, &n)) in analytic.iter().zip(numeric).enumerate() {
        let tol = 1e-4 * n.abs().max(1e-2);
        assert!(
            (f64::from(a) - n).abs() <= tol,
            "{name}: index {i}: analytic {a} vs finite difference {n}, tolerance {tol}"
        );
    }
}

#[test]
fn loss_reference_gradients_match_finite_differences() {
    let pred = [0.3f32, -1.2, 2.0, 0.7, -0.1];
    let target = [1.0f32, 0.0, 1.0, 0.25, 0.0];
    assert_gradient(
        "mse",
        &loss::mse(&pred, &target).1,
        &finite_differences(&pred, |p| loss::mse(p, &target).0),
    );
    assert_gradient(
        "bce_with_logits",
        &loss::bce_with_logits(&pred, &target).1,
        &finite_differences(&pred, |p| loss::bce_with_logits(p, &target).0),
    );
    let prob = [0.3f32, 0.8, 0.5, 0.05, 0.95];
    assert_gradient(
        "bce",
        &loss::bce(&prob, &target).1,
        &finite_differences(&prob, |p| loss::bce(p, &target).0),
    );
    let logits = [0.5f32, -1.0, 2.0, 0.0, 1.5, -0.5];
    let classes = [2u32, 0];
    assert_gradient(
        "softmax_cross_entropy",
        &loss::softmax_cross_entropy(&logits, &classes, 3).1,
        &finite_differences(&logits, |x| loss::softmax_cross_entropy(x, &classes, 3).0),
    );
}

#[test]
fn optimizer_references_known_values() {
    use wgsl_train::optim::{AdamConfig, SgdConfig};
    use wgsl_train::reference::optim::{Adam, Sgd};
    let run_sgd = |config: SgdConfig, grads: &[f32]| -> Vec<f32> {
        let mut sgd = Sgd::new(config);
        let mut theta = [1.0f32];
        grads
            .iter()
            .map(|&g| {
                sgd.step(&mut theta, &[g]);
                theta[0]
            })
            .collect()
    };
    let near = |got: &[f32], want: &[f64]| {
        got.len() == want.len()
            && got
                .iter()
                .zip(want)
                .all(|(&g, &w)| (f64::from(g) - w).abs() < 1e-6)
    };
    let sgd = SgdConfig {
        lr: 0.1,
        momentum: 0.9,
        ..Default::default()
    };
    // θ₀ = 1, g = 1 each step, μ = 0.9, γ = 0.1:
    // b₁ = g = 1 (the first step copies), θ₁ = 1 − 0.1 = 0.9;
    // b₂ = 0.9·1 + 1 = 1.9, θ₂ = 0.9 − 0.19 = 0.71; b₃ = 0.9·1.9 + 1 = 2.71, θ₃ = 0.71 − 0.271 = 0.439.
    let got = run_sgd(sgd, &[1.0, 1.0, 1.0]);
    assert!(near(&got, &[0.9, 0.71, 0.439]), "momentum: {got:?}");
    // Nesterov: g ← g + μ·b. b₁ = 1, g = 1.9, θ₁ = 0.81; b₂ = 1.9, g = 1 + 1.71 = 2.71, θ₂ = 0.539.
    let got = run_sgd(
        SgdConfig {
            nesterov: true,
            ..sgd
        },
        &[1.0, 1.0],
    );
    assert!(near(&got, &[0.81, 0.539]), "nesterov: {got:?}");
    // Dampening τ = 0.5: b₁ = 1 (undamped first step), θ₁ = 0.9; b₂ = 0.9 + 0.5 = 1.4, θ₂ = 0.76.
    let got = run_sgd(
        SgdConfig {
            dampening: 0.5,
            ..sgd
        },
        &[1.0, 1.0],
    );
    assert!(near(&got, &[0.9, 0.76]), "dampening: {got:?}");
    // L2 λ₂ = 0.5 and L1 λ₁ = 0.2, no momentum: g = 1 + 0.5·1 + 0.2·sign(1) = 1.7, θ₁ = 0.83.
    let got = run_sgd(
        SgdConfig {
            lr: 0.1,
            weight_decay: 0.5,
            l1: 0.2,
            ..Default::default()
        },
        &[1.0],
    );
    assert!(near(&got, &[0.83]), "l1 + l2: {got:?}");
    // Maximize negates g first: θ₁ = 1 + 0.1 = 1.1.
    let got = run_sgd(
        SgdConfig {
            lr: 0.1,
            maximize: true,
            ..Default::default()
        },
        &[1.0],
    );
    assert!(near(&got, &[1.1]), "maximize: {got:?}");

    let run_adam = |config: AdamConfig, grads: &[f32]| -> Vec<f32> {
        let mut adam = Adam::new(config, 1);
        let mut theta = [1.0f32];
        grads
            .iter()
            .map(|&g| {
                adam.step(&mut theta, &[g]);
                theta[0]
            })
            .collect()
    };
    let adam = AdamConfig {
        lr: 0.1,
        ..Default::default()
    };
    // θ₀ = 1, g₁ = 1, g₂ = 0, β = (0.9, 0.999), ε = 1e-8.
    // Step 1: m = 0.1, v = 0.001; m̂ = m/(1 − 0.9) = 1, v̂ = v/(1 − 0.999) = 1;
    //         θ₁ = 1 − 0.1·1/(1 + 1e-8) = 0.900000001.
    // Step 2: m = 0.09, v = 0.000999; m̂ = 0.09/0.19 = 0.4736842, v̂ = 0.000999/0.001999 = 0.4997499,
    //         θ₂ = 0.9 − 0.1·0.4736842/(√0.4997499 + 1e-8) = 0.8329942.
    let got = run_adam(adam, &[1.0, 0.0]);
    assert!(near(&got, &[0.900000001, 0.8329942]), "adam: {got:?}");
    // AMSGrad keeps max v = 0.001 at step 2: v̂ = 0.001/0.001999 = 0.5002501,
    //         θ₂ = 0.9 − 0.1·0.4736842/√0.5002501 = 0.8330277.
    let got = run_adam(
        AdamConfig {
            amsgrad: true,
            ..adam
        },
        &[1.0, 0.0],
    );
    assert!(near(&got, &[0.900000001, 0.8330277]), "amsgrad: {got:?}");
    // AdamW, λ = 0.1: θ ← 1·(1 − 0.1·0.1) = 0.99 first, then the Adam step of 0.1: θ₁ = 0.89.
    let got = run_adam(
        AdamConfig {
            lr: 0.1,
            weight_decay: 0.1,
            ..AdamConfig::adamw()
        },
        &[1.0],
    );
    assert!(near(&got, &[0.89]), "adamw: {got:?}");
    // Coupled L2, λ = 0.1: g = 1 + 0.1·1 = 1.1; m̂ = 1.1, √v̂ = 1.1, so θ₁ = 1 − 0.1 = 0.9 again.
    let got = run_adam(
        AdamConfig {
            weight_decay: 0.1,
            ..adam
        },
        &[1.0],
    );
    assert!(near(&got, &[0.9]), "adam l2: {got:?}");
    // Maximize with g = 1: the step goes up, θ₁ = 1.1.
    let got = run_adam(
        AdamConfig {
            maximize: true,
            ..adam
        },
        &[1.0],
    );
    assert!(near(&got, &[1.1]), "adam maximize: {got:?}");
}
