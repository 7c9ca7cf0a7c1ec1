//! Element-wise arithmetic (`shaders/elementwise.wgsl`): the operations an optimizer built
//! one kernel at a time would use. The fused optimizer in [`crate::optim`] is measured against
//! a chain of these.

use bytemuck::{Pod, Zeroable};

use super::{dim, grid, groups_for, sources};
use crate::error::{Error, Result};
use crate::gpu::{Binding, DType, Dispatch, Gpu, KernelSpec, Launch, Tensor};

/// An element-wise operation updating `y` in place.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ElementwiseOp {
    /// `y = a·x + b·y`
    Axpby {
        /// a
        a: f32,
        /// b
        b: f32,
    },
    /// `y = a·x² + b·y`
    AxpbySquare {
        /// a
        a: f32,
        /// b
        b: f32,
    },
    /// `y = a·√x + b`
    SqrtAffine {
        /// a
        a: f32,
        /// b
        b: f32,
    },
    /// `y = y + a·x/z`
    Addcdiv {
        /// a
        a: f32,
    },
}

/// Mirrors `ElementwiseParams` in `elementwise.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub struct ElementwiseParams {
    /// Number of elements.
    pub n: u32,
    /// The operation's a.
    pub a: f32,
    /// The operation's b.
    pub b: f32,
    /// Padding.
    pub _pad: u32,
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
        t.expect_dtype(name, "an operand", DType::F32)?;
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
        shader: "elementwise",
        source: sources::ELEMENTWISE,
        entry,
        bindings,
        constants: Vec::new(),
    };
    let params = ElementwiseParams {
        n: dim(name, y.len())?,
        a,
        b,
        _pad: 0,
    };
    let dispatch = Dispatch::new(gpu, &spec, &tensors, &params, grid(groups_for(y.len())))?;
    Ok(Launch::new(vec![dispatch]))
}
