//! Losses with their gradients in one pass, reduced to the mean on the GPU
//! (`shaders/loss.wgsl`, then `reduce.wgsl`'s `sum_chunks`).

use bytemuck::{Pod, Zeroable};

use super::reduce::sum_launch;
use super::{dim, grid, Shader};
use crate::error::{Error, Result};
use crate::gpu::{Binding, DType, Dispatch, Gpu, KernelSpec, Launch, Tensor};

/// Which loss; formulas in `shaders/formulas.wgsl` and DESIGN.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LossKind {
    /// Mean squared error, `mean((ŷ − y)²)` (PyTorch `MSELoss`). f32 targets.
    Mse,
    /// Binary cross-entropy on logits (PyTorch `BCEWithLogitsLoss`); stable for any logit.
    /// f32 targets in [0, 1].
    BceWithLogits,
    /// Binary cross-entropy on probabilities in [0, 1] (PyTorch `BCELoss`, logs clamped at
    /// −100). f32 targets in [0, 1]; probabilities outside [0, 1] give NaN.
    Bce,
    /// Softmax cross-entropy on `[rows, classes]` logits with u32 class-index targets
    /// `[rows]` (PyTorch `CrossEntropyLoss`); a target out of range gives a NaN loss.
    SoftmaxCrossEntropy,
}

impl LossKind {
    /// The loss's code in the shaders (`LOSS_*` in `formulas.wgsl`): the loss kernel's `LOSS`
    /// override and the small-model kernel's `loss` setting.
    pub(crate) fn code(self) -> u32 {
        match self {
            LossKind::Mse => 0,
            LossKind::BceWithLogits => 1,
            LossKind::Bce => 2,
            LossKind::SoftmaxCrossEntropy => 3,
        }
    }
}

/// Mirrors `LossParams` in `loss.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
struct LossParams {
    /// Elements (rows for the softmax).
    n: u32,
    /// Classes (softmax only).
    cols: u32,
    /// Padding.
    _pad: u32,
    /// 1/n (1/rows for the softmax), the gradient's scale for a mean loss.
    grad_scale: f32,
}

/// Terms one workgroup adds (`LOSS_WG × TERMS_PER_INVOCATION` in `loss.wgsl`).
const TERMS_PER_WORKGROUP: usize = 4096;
/// Invocations of a loss workgroup (`LOSS_WG`).
const LOSS_WG: u32 = 64;

const BINDINGS: &[(u32, Binding)] = &[
    (0, Binding::ReadOnly),
    (1, Binding::ReadOnly),
    (2, Binding::ReadWrite),
    (3, Binding::ReadWrite),
    (4, Binding::Uniform),
];

/// The loss value and the gradient with respect to the predictions.
#[derive(Debug)]
pub struct LossOutput {
    /// The mean loss, one element.
    pub loss: Tensor,
    /// d loss / d predictions, the predictions' shape.
    pub grad: Tensor,
}

/// `(terms, classes)`: how many loss terms are averaged, and the class count for the softmax.
fn check_shapes(kind: LossKind, pred: &Tensor, target: &Tensor) -> Result<(usize, usize)> {
    let op = "loss";
    pred.expect_dtype(op, "the predictions", DType::F32)?;
    let mismatch = |detail: String| Error::ShapeMismatch {
        op,
        detail,
        lhs: pred.shape().to_vec(),
        rhs: target.shape().to_vec(),
    };
    if kind == LossKind::SoftmaxCrossEntropy {
        target.expect_dtype(op, "the class targets", DType::U32)?;
        let &[rows, classes] = pred.shape() else {
            return Err(mismatch(
                "softmax cross-entropy takes [rows, classes] logits".into(),
            ));
        };
        if target.shape() != [rows] {
            return Err(mismatch(format!(
                "the targets must be [{rows}], one class index per row"
            )));
        }
        Ok((rows, classes))
    } else {
        target.expect_dtype(op, "the targets", DType::F32)?;
        if pred.shape() != target.shape() {
            return Err(mismatch(
                "predictions and targets must have the same shape".into(),
            ));
        }
        Ok((pred.len(), 1))
    }
}

/// Prepares the loss of `pred` against `target`: its mean into `loss` (one element) and its
/// gradient into `grad` (the shape of `pred`). One dispatch for up to 4096 terms (rows for the
/// softmax); beyond that, the loss kernel's per-workgroup sums are added by the fixed-order
/// reduction.
///
/// # Errors
/// [`Error::ShapeMismatch`] naming both shapes, or [`Error::DType`] (the softmax takes u32
/// targets, the others f32).
pub fn loss_launch(
    gpu: &Gpu,
    kind: LossKind,
    pred: &Tensor,
    target: &Tensor,
    loss: &Tensor,
    grad: &Tensor,
) -> Result<Launch> {
    let (terms, classes) = check_shapes(kind, pred, target)?;
    grad.expect_dtype("loss", "the gradient", DType::F32)?;
    if grad.shape() != pred.shape() {
        return Err(Error::ShapeMismatch {
            op: "loss",
            detail: "the gradient must have the predictions' shape".into(),
            lhs: pred.shape().to_vec(),
            rhs: grad.shape().to_vec(),
        });
    }
    let inv_terms = 1.0 / terms as f64;
    let params = LossParams {
        n: dim("loss", terms)?,
        cols: dim("loss", classes)?,
        _pad: 0,
        grad_scale: inv_terms as f32,
    };
    let spec = KernelSpec {
        shader: Shader::Loss.code(),
        entry: "loss_terms",
        bindings: BINDINGS,
        constants: vec![
            ("LOSS_WG", f64::from(LOSS_WG)),
            ("LOSS", f64::from(kind.code())),
        ],
    };
    let groups = u32::try_from(terms.div_ceil(TERMS_PER_WORKGROUP)).unwrap_or(u32::MAX);
    if groups == 1 {
        // One workgroup: its partial sum is the mean, written straight into `loss`.
        let dispatch = Dispatch::new(gpu, &spec, &[pred, target, loss, grad], &params, grid(1))?;
        return Ok(Launch::new(vec![dispatch]));
    }
    let partials = Tensor::zeros(gpu, &[groups as usize], DType::F32)?;
    let terms_pass = Dispatch::new(
        gpu,
        &spec,
        &[pred, target, &partials, grad],
        &params,
        grid(groups),
    )?;
    let mean = sum_launch(gpu, &partials, loss, 1.0)?;
    Ok(Launch::new(vec![terms_pass]).then(mean))
}

/// The mean loss and its gradient as new tensors.
///
/// ```no_run
/// # use wgsl_train::{Gpu, Tensor, kernels::loss::{loss, LossKind}};
/// # fn main() -> wgsl_train::Result<()> {
/// let gpu = Gpu::new()?;
/// let pred = Tensor::from_slice(&gpu, &[2], &[1.0f32, 3.0])?;
/// let target = Tensor::from_slice(&gpu, &[2], &[0.0f32, 1.0])?;
/// let out = loss(&gpu, LossKind::Mse, &pred, &target)?;
/// assert_eq!(out.loss.to_vec::<f32>(&gpu)?, vec![2.5]); // (1² + 2²) / 2
/// assert_eq!(out.grad.to_vec::<f32>(&gpu)?, vec![1.0, 2.0]); // 2(ŷ − y)/n
/// # Ok(()) }
/// ```
///
/// # Errors
/// As [`loss_launch`].
pub fn loss(gpu: &Gpu, kind: LossKind, pred: &Tensor, target: &Tensor) -> Result<LossOutput> {
    check_shapes(kind, pred, target)?;
    let out = LossOutput {
        loss: Tensor::zeros(gpu, &[1], DType::F32)?,
        grad: Tensor::zeros(gpu, pred.shape(), DType::F32)?,
    };
    gpu.run(&loss_launch(gpu, kind, pred, target, &out.loss, &out.grad)?)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::seam::{assert_constant, assert_constants, assert_mirrors, mirror};
    use super::*;

    #[test]
    fn the_params_and_constants_match_wgsl() {
        let shader = Shader::Loss;
        let params = mirror!(LossParams {
            n,
            cols,
            grad_scale
        });
        assert_mirrors(shader, "LossParams", params);
        let per_invocation = TERMS_PER_WORKGROUP / LOSS_WG as usize;
        assert_constant(shader, "TERMS_PER_INVOCATION", per_invocation as f64);
        let codes = [
            ("LOSS_MSE", LossKind::Mse),
            ("LOSS_BCE_WITH_LOGITS", LossKind::BceWithLogits),
            ("LOSS_BCE", LossKind::Bce),
            ("LOSS_SOFTMAX_CE", LossKind::SoftmaxCrossEntropy),
        ]
        .map(|(name, kind)| (name, kind.code()));
        // formulas.wgsl's codes, in both kernels that take them.
        assert_constants(shader, &codes);
        assert_constants(Shader::SmallMlp, &codes);
    }
}
