//! Reference for the activations (`formulas.wgsl`, `shaders/activation.wgsl`), in f64.

use crate::nn::Activation;

/// `f(z)` in f64.
pub fn forward(activation: Activation, z: f64) -> f64 {
    match activation {
        Activation::Relu => z.max(0.0),
        Activation::LeakyRelu { negative_slope } => {
            if z > 0.0 {
                z
            } else {
                z * f64::from(negative_slope)
            }
        }
        Activation::Tanh => z.tanh(),
        Activation::Sigmoid => sigmoid(z),
        Activation::Gelu => z * normal_cdf(z),
        Activation::GeluTanh => 0.5 * z * (1.0 + gelu_tanh_inner(z).tanh()),
        Activation::Silu => z * sigmoid(z),
    }
}

/// `f'(z)` in f64 (at 0, ReLU's and LeakyReLU's are the negative side's, as PyTorch's).
pub fn derivative(activation: Activation, z: f64) -> f64 {
    match activation {
        Activation::Relu => f64::from(u8::from(z > 0.0)),
        Activation::LeakyRelu { negative_slope } => {
            if z > 0.0 {
                1.0
            } else {
                f64::from(negative_slope)
            }
        }
        Activation::Tanh => 1.0 - z.tanh().powi(2),
        Activation::Sigmoid => sigmoid(z) * (1.0 - sigmoid(z)),
        Activation::Gelu => {
            normal_cdf(z) + z * (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt()
        }
        Activation::GeluTanh => {
            let t = gelu_tanh_inner(z).tanh();
            let k = (2.0 / std::f64::consts::PI).sqrt();
            0.5 * (1.0 + t) + 0.5 * z * (1.0 - t * t) * k * (1.0 + 3.0 * 0.044715 * z * z)
        }
        Activation::Silu => sigmoid(z) * (1.0 + z * (1.0 - sigmoid(z))),
    }
}

/// The largest |f'(z)| over all z: how far an error in z can move f(z). GELU's peaks at
/// 1.1289 (z ≈ 1.414), its tanh form's at 1.1289 too, SiLU's at 1.0998 (z ≈ 2.40).
pub fn lipschitz(activation: Activation) -> f64 {
    match activation {
        Activation::Relu | Activation::Tanh => 1.0,
        Activation::LeakyRelu { negative_slope } => f64::from(negative_slope).abs().max(1.0),
        Activation::Sigmoid => 0.25,
        Activation::Gelu | Activation::GeluTanh => 1.13,
        Activation::Silu => 1.1,
    }
}

/// A bound on the error of formulas.wgsl's f32 evaluation of `f(z)` or `f'(z)` (`value`) at
/// an f32 `z`, for the kernel tests' tolerances: relative (24 + 2z²)·u — Vulkan lets `exp(x)`
/// be off by 3 + 2|x| ulp and the exponents reach z²/2 + 1.3 (erfc's a² = z²/2), rounding `a`
/// moves a² by z²·u, and a dozen more roundings and the erfc fit's 1.2e-7 (2u) add about 20u —
/// plus an absolute 4u·(1 + |z|), where `1 ± tanh` cancels (GELU-tanh's forward, the 1 − t²
/// of tanh's derivatives) as it does in PyTorch's own formulas. u = 2⁻²⁴. Past |z| = 14.5
/// every exponential underflows or vanishes beside 1, so z² counts up to 210.
pub fn error_bound(z: f64, value: f64) -> f64 {
    const U: f64 = 1.0 / 16_777_216.0;
    (24.0 + 2.0 * (z * z).min(210.0)) * U * value.abs() + 4.0 * U * (1.0 + z.abs())
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

fn normal_cdf(z: f64) -> f64 {
    0.5 * libm::erfc(-z / std::f64::consts::SQRT_2)
}

fn gelu_tanh_inner(z: f64) -> f64 {
    (2.0 / std::f64::consts::PI).sqrt() * (z + 0.044715 * z * z * z)
}

/// `f(x)` element by element, rounded to f32.
pub fn activate(activation: Activation, x: &[f32]) -> Vec<f32> {
    x.iter()
        .map(|&v| forward(activation, f64::from(v)) as f32)
        .collect()
}

/// `f'(pre)·grad_out` element by element, rounded to f32.
pub fn activate_backward(activation: Activation, grad_out: &[f32], pre: &[f32]) -> Vec<f32> {
    grad_out
        .iter()
        .zip(pre)
        .map(|(&g, &p)| (derivative(activation, f64::from(p)) * f64::from(g)) as f32)
        .collect()
}

/// `max(x, 0)`.
pub fn relu(x: &[f32]) -> Vec<f32> {
    activate(Activation::Relu, x)
}

/// `grad_out` where `pre > 0`, else 0 (the gradient at exactly 0 is 0).
pub fn relu_backward(grad_out: &[f32], pre: &[f32]) -> Vec<f32> {
    activate_backward(Activation::Relu, grad_out, pre)
}
