//! Element-wise arithmetic (`benches/support/elementwise.wgsl`): the operations an optimizer
//! built one kernel at a time would use, the baseline the fused optimizer is measured against
//! in `benches/optim.rs`. Bound through the crate's public API for one's own kernels, with a
//! plain f64 reference that `tests/elementwise.rs` holds it to.

use bytemuck::{Pod, Zeroable};
use wgsl_train::gpu::{Binding, KernelSpec, ShaderCode};
use wgsl_train::{DType, Dispatch, Error, Gpu, Launch, Result, Tensor};

const SHADER: ShaderCode = ShaderCode::user("elementwise", include_str!("elementwise.wgsl"));
const WORKGROUP: u32 = 256;

/// An element-wise operation updating `y` in place.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ElementwiseOp {
    /// `y = a·x + b·y`
    Axpby { a: f32, b: f32 },
    /// `y = a·x² + b·y`
    AxpbySquare { a: f32, b: f32 },
    /// `y = a·√x + b`
    SqrtAffine { a: f32, b: f32 },
    /// `y = y + a·x/z`
    Addcdiv { a: f32 },
}

/// Mirrors `ElementwiseParams` in `elementwise.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
struct ElementwiseParams {
    n: u32,
    a: f32,
    b: f32,
    _pad: u32,
}

const XY: &[(u32, Binding)] = &[
    (0, Binding::ReadOnly),
    (2, Binding::ReadWrite),
    (3, Binding::Uniform),
];
const XZY: &[(u32, Binding)] = &[
    (0, Binding::ReadOnly),
    (1, Binding::ReadOnly),
    (2, Binding::ReadWrite),
    (3, Binding::Uniform),
];

/// Prepares `op` over `x` (and `z` for [`ElementwiseOp::Addcdiv`]) into `y`, all of one shape.
///
/// # Errors
/// [`Error::ShapeMismatch`] when the shapes differ, [`Error::InvalidArgument`] when `z` is
/// given to an operation without one or missing for `Addcdiv`, [`Error::DType`] for u32.
pub fn elementwise_launch(
    gpu: &Gpu,
    op: ElementwiseOp,
    x: &Tensor,
    z: Option<&Tensor>,
    y: &Tensor,
) -> Result<Launch> {
    let name = "elementwise";
    for t in [Some(x), z, Some(y)].into_iter().flatten() {
        if t.dtype() != DType::F32 {
            return Err(Error::DType {
                op: name,
                what: "an operand",
                expected: DType::F32,
                got: t.dtype(),
            });
        }
        if t.shape() != y.shape() {
            return Err(Error::ShapeMismatch {
                op: name,
                detail: "all operands must have the same shape".into(),
                lhs: t.shape().to_vec(),
                rhs: y.shape().to_vec(),
            });
        }
    }
    let (entry, a, b) = match op {
        ElementwiseOp::Axpby { a, b } => ("axpby", a, b),
        ElementwiseOp::AxpbySquare { a, b } => ("axpby_square", a, b),
        ElementwiseOp::SqrtAffine { a, b } => ("sqrt_affine", a, b),
        ElementwiseOp::Addcdiv { a } => ("addcdiv", a, 0.0),
    };
    let (bindings, tensors) = match (op, z) {
        (ElementwiseOp::Addcdiv { .. }, Some(z)) => (XZY, vec![x, z, y]),
        (ElementwiseOp::Addcdiv { .. }, None) | (_, Some(_)) => {
            return Err(Error::InvalidArgument {
                op: name,
                detail: format!(
                    "{entry} takes {} z operand",
                    if z.is_some() { "no" } else { "a" }
                ),
            })
        }
        (_, None) => (XY, vec![x, y]),
    };
    let spec = KernelSpec {
        shader: SHADER,
        entry,
        bindings,
        constants: vec![("WG", f64::from(WORKGROUP))],
    };
    let n = u32::try_from(y.len()).map_err(|_| Error::InvalidArgument {
        op: name,
        detail: "more than 2³² elements".into(),
    })?;
    let params = ElementwiseParams { n, a, b, _pad: 0 };
    // A 2-D grid, as the shader flattens it, so that more than 65535 workgroups fit.
    let groups = n.div_ceil(WORKGROUP).max(1);
    let grid = if groups <= 65535 {
        [groups, 1, 1]
    } else {
        [65535, groups.div_ceil(65535), 1]
    };
    let dispatch = Dispatch::new(gpu, &spec, &tensors, &params, grid)?;
    Ok(Launch::new(vec![dispatch]))
}

/// The reference: applies `op` to `y` in place, with `x` (and `z` for `Addcdiv`), in f64.
#[allow(dead_code)] // used by the test, not the bench
pub fn reference(op: ElementwiseOp, x: &[f32], z: &[f32], y: &mut [f32]) {
    for i in 0..y.len() {
        let (xi, yi) = (f64::from(x[i]), f64::from(y[i]));
        let out = match op {
            ElementwiseOp::Axpby { a, b } => f64::from(a) * xi + f64::from(b) * yi,
            ElementwiseOp::AxpbySquare { a, b } => f64::from(a) * xi * xi + f64::from(b) * yi,
            ElementwiseOp::SqrtAffine { a, b } => f64::from(a) * xi.sqrt() + f64::from(b),
            ElementwiseOp::Addcdiv { a } => yi + f64::from(a) * xi / f64::from(z[i]),
        };
        y[i] = out as f32;
    }
}
