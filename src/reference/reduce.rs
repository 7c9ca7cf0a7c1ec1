//! Reference for `shaders/reduce.wgsl`.

/// `Σ x` in f64.
pub fn sum(x: &[f32]) -> f64 {
    x.iter().map(|&v| f64::from(v)).sum()
}

/// The mean of `x` in f64.
pub fn mean(x: &[f32]) -> f64 {
    sum(x) / x.len() as f64
}

/// Column sums of a `rows×cols` matrix: the bias gradient `Σ_rows dY`.
pub fn column_sums(x: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    (0..cols)
        .map(|j| (0..rows).map(|i| f64::from(x[i * cols + j])).sum::<f64>() as f32)
        .collect()
}
