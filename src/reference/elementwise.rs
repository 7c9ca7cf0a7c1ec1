//! Reference for `shaders/elementwise.wgsl`.

use crate::kernels::elementwise::ElementwiseOp;

/// Applies `op` to `y` in place, with `x` (and `z` for `Addcdiv`), in f64.
///
/// # Panics
/// If `Addcdiv` is given no `z`.
pub fn elementwise(op: ElementwiseOp, x: &[f32], z: Option<&[f32]>, y: &mut [f32]) {
    for i in 0..y.len() {
        let (xi, yi) = (f64::from(x[i]), f64::from(y[i]));
        let out = match op {
            ElementwiseOp::Axpby { a, b } => f64::from(a) * xi + f64::from(b) * yi,
            ElementwiseOp::AxpbySquare { a, b } => f64::from(a) * xi * xi + f64::from(b) * yi,
            ElementwiseOp::SqrtAffine { a, b } => f64::from(a) * xi.sqrt() + f64::from(b),
            ElementwiseOp::Addcdiv { a } => {
                let z = z.expect("addcdiv needs z");
                yi + f64::from(a) * xi / f64::from(z[i])
            }
        };
        y[i] = out as f32;
    }
}
