//! Reference for `shaders/activation.wgsl`.

/// `max(x, 0)`.
pub fn relu(x: &[f32]) -> Vec<f32> {
    x.iter().map(|&v| if v > 0.0 { v } else { 0.0 }).collect()
}

/// `grad_out` where `pre > 0`, else 0 (the gradient at exactly 0 is 0).
pub fn relu_backward(grad_out: &[f32], pre: &[f32]) -> Vec<f32> {
    grad_out
        .iter()
        .zip(pre)
        .map(|(&g, &p)| if p > 0.0 { g } else { 0.0 })
        .collect()
}
