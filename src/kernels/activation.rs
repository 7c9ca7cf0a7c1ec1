//! ReLU forward and backward (`shaders/activation.wgsl`).

use bytemuck::{Pod, Zeroable};

use super::{dim, grid, groups_for, workgroup_constant, Shader};
use crate::error::{Error, Result};
use crate::gpu::{Binding, DType, Dispatch, Gpu, KernelSpec, Launch, Tensor};

/// Mirrors `ActivationParams` in `activation.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
struct ActivationParams {
    n: u32,
    _pad: [u32; 3],
}

fn spec(entry: &'static str, bindings: &'static [(u32, Binding)]) -> KernelSpec {
    KernelSpec {
        shader: Shader::Activation.code(),
        entry,
        bindings,
        constants: vec![workgroup_constant()],
    }
}

fn same_shape(op: &'static str, a: &Tensor, b: &Tensor) -> Result<()> {
    a.expect_dtype(op, "the input", DType::F32)?;
    b.expect_dtype(op, "the output", DType::F32)?;
    if a.shape() != b.shape() {
        return Err(Error::ShapeMismatch {
            op,
            detail: "both tensors must have the same shape".into(),
            lhs: a.shape().to_vec(),
            rhs: b.shape().to_vec(),
        });
    }
    Ok(())
}

/// Prepares `y = max(x, 0)`.
///
/// # Errors
/// [`Error::ShapeMismatch`] unless `x` and `y` have the same shape; [`Error::DType`] unless
/// both are f32.
pub fn relu_launch(gpu: &Gpu, x: &Tensor, y: &Tensor) -> Result<Launch> {
    same_shape("relu", x, y)?;
    const BINDINGS: &[(u32, Binding)] = &[
        (0, Binding::ReadOnly),
        (2, Binding::ReadWrite),
        (3, Binding::Uniform),
    ];
    let params = ActivationParams {
        n: dim("relu", x.len())?,
        _pad: [0; 3],
    };
    let dispatch = Dispatch::new(
        gpu,
        &spec("relu_forward", BINDINGS),
        &[x, y],
        &params,
        grid(groups_for(x.len())),
    )?;
    Ok(Launch::new(vec![dispatch]))
}

/// `max(x, 0)` as a new tensor.
///
/// # Errors
/// As [`relu_launch`].
pub fn relu(gpu: &Gpu, x: &Tensor) -> Result<Tensor> {
    let y = Tensor::zeros(gpu, x.shape(), DType::F32)?;
    gpu.run(&relu_launch(gpu, x, &y)?)?;
    Ok(y)
}

/// Prepares `grad_in = grad_out` where `pre > 0`, else 0 (also at exactly 0).
///
/// # Errors
/// [`Error::ShapeMismatch`] unless all three tensors have the same shape.
pub fn relu_backward_launch(
    gpu: &Gpu,
    grad_out: &Tensor,
    pre: &Tensor,
    grad_in: &Tensor,
) -> Result<Launch> {
    same_shape("relu_backward", grad_out, pre)?;
    same_shape("relu_backward", grad_out, grad_in)?;
    const BINDINGS: &[(u32, Binding)] = &[
        (0, Binding::ReadOnly),
        (1, Binding::ReadOnly),
        (2, Binding::ReadWrite),
        (3, Binding::Uniform),
    ];
    let params = ActivationParams {
        n: dim("relu_backward", pre.len())?,
        _pad: [0; 3],
    };
    let dispatch = Dispatch::new(
        gpu,
        &spec("relu_backward", BINDINGS),
        &[grad_out, pre, grad_in],
        &params,
        grid(groups_for(pre.len())),
    )?;
    Ok(Launch::new(vec![dispatch]))
}

/// The ReLU gradient as a new tensor.
///
/// # Errors
/// As [`relu_backward_launch`].
pub fn relu_backward(gpu: &Gpu, grad_out: &Tensor, pre: &Tensor) -> Result<Tensor> {
    let grad_in = Tensor::zeros(gpu, pre.shape(), DType::F32)?;
    gpu.run(&relu_backward_launch(gpu, grad_out, pre, &grad_in)?)?;
    Ok(grad_in)
}

/// The nonlinearity after each hidden layer. In JSON: `"relu"`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// `max(z, 0)`, with gradient 0 at 0 (PyTorch `nn.ReLU`).
    #[default]
    Relu,
}

impl Activation {
    /// The WGSL function (in `formulas.wgsl`) of the forward pass, `f(z)`.
    pub(crate) fn wgsl_forward(self) -> &'static str {
        match self {
            Activation::Relu => "relu",
        }
    }

    /// The WGSL function of the backward pass, `f'(z) · upstream` from `(z, upstream)`.
    pub(crate) fn wgsl_backward(self) -> &'static str {
        match self {
            Activation::Relu => "relu_grad",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::seam::{assert_mirrors, mirror};
    use super::*;

    #[test]
    fn the_params_match_wgsl() {
        let params = mirror!(ActivationParams { n });
        assert_mirrors(Shader::Activation, "ActivationParams", params);
    }
}
