//! Reference for `shaders/matmul.wgsl`.

use super::activation;
use crate::kernels::matmul::MatmulLayout;
use crate::nn::Activation;

/// `op(A)·op(B)` for `op(A)` of `m×k` and `op(B)` of `k×n`, stored as `layout` says, with
/// the epilogue `f(acc + c_old + bias)` where each part is optional (`f` the activation).
/// `c_old` is the previous output when accumulating.
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    a: &[f32],
    b: &[f32],
    m: usize,
    n: usize,
    k: usize,
    layout: MatmulLayout,
    bias: Option<&[f32]>,
    activation: Option<Activation>,
    c_old: Option<&[f32]>,
) -> Vec<f32> {
    let mut c = vec![0.0f32; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut acc = 0.0f64;
            for kk in 0..k {
                acc += f64::from(a_at(a, m, k, layout, i, kk))
                    * f64::from(b_at(b, n, k, layout, kk, j));
            }
            if let Some(old) = c_old {
                acc += f64::from(old[i * n + j]);
            }
            if let Some(bias) = bias {
                acc += f64::from(bias[j]);
            }
            if let Some(f) = activation {
                acc = activation::forward(f, acc);
            }
            c[i * n + j] = acc as f32;
        }
    }
    c
}

/// `Σ_k |op(A)[i,k]·op(B)[k,j]|` for every output: the scale of the rounding error of any
/// summation order, used to set the test tolerance (|error| ≤ k·u·this, u = 2⁻²⁴).
pub fn abs_product_sums(
    a: &[f32],
    b: &[f32],
    m: usize,
    n: usize,
    k: usize,
    layout: MatmulLayout,
) -> Vec<f64> {
    let mut s = vec![0.0f64; m * n];
    for i in 0..m {
        for j in 0..n {
            s[i * n + j] = (0..k)
                .map(|kk| {
                    (f64::from(a_at(a, m, k, layout, i, kk))
                        * f64::from(b_at(b, n, k, layout, kk, j)))
                    .abs()
                })
                .sum();
        }
    }
    s
}

fn a_at(a: &[f32], m: usize, k: usize, layout: MatmulLayout, i: usize, kk: usize) -> f32 {
    match layout {
        MatmulLayout::AtB => a[kk * m + i],
        _ => a[i * k + kk],
    }
}

fn b_at(b: &[f32], n: usize, k: usize, layout: MatmulLayout, kk: usize, j: usize) -> f32 {
    match layout {
        MatmulLayout::ABt => b[j * k + kk],
        _ => b[kk * n + j],
    }
}

/// `Σ_k op(A)[i, k]` for each row i of `op(A)` (`m×k`): the matmul's `row_sums` output.
pub fn row_sums(a: &[f32], m: usize, k: usize, layout: MatmulLayout) -> Vec<f32> {
    (0..m)
        .map(|i| {
            (0..k)
                .map(|kk| f64::from(a_at(a, m, k, layout, i, kk)))
                .sum::<f64>() as f32
        })
        .collect()
}
