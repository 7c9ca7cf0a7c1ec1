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

/// Weights on a loss's terms, as PyTorch's criteria take them (the model's choice, recorded in
/// its checkpoint).
#[derive(Debug, Clone, PartialEq, Default)]
pub enum LossWeights {
    /// Every term counts once (default).
    #[default]
    None,
    /// Softmax cross-entropy's `CrossEntropyLoss(weight=w)`: one weight per class, and the
    /// loss is the weighted mean `Σ w[tᵢ]·lᵢ / Σ w[tᵢ]` over the rows.
    Class(Vec<f32>),
    /// BCE with logits' `BCEWithLogitsLoss(pos_weight=p)`: one weight per output column, by
    /// which the positive part of each term is multiplied,
    /// `l = −(p·y·ln σ(x) + (1 − y)·ln(1 − σ(x)))`; the mean is still over all terms.
    Positive(Vec<f32>),
}

impl LossWeights {
    /// The weights, if any.
    pub fn values(&self) -> Option<&[f32]> {
        match self {
            LossWeights::None => None,
            LossWeights::Class(w) | LossWeights::Positive(w) => Some(w),
        }
    }

    /// Checks that these weights fit `kind` with `width` classes (the softmax) or output
    /// columns: class weights for softmax cross-entropy, positive weights for BCE with
    /// logits, one per class or column, each finite and > 0.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming what does not fit.
    pub fn check(&self, kind: LossKind, width: usize) -> Result<()> {
        let invalid = |detail: String| Error::InvalidArgument {
            op: "loss weights",
            detail,
        };
        let (values, what) = match (self, kind) {
            (LossWeights::None, _) => return Ok(()),
            (LossWeights::Class(w), LossKind::SoftmaxCrossEntropy) => (w, "class"),
            (LossWeights::Positive(w), LossKind::BceWithLogits) => (w, "output column"),
            (LossWeights::Class(_), _) => {
                return Err(invalid(format!(
                    "class weights go with softmax cross-entropy (multiclass), not {kind:?} \
                     (binary BCE with logits takes a pos_weight)"
                )))
            }
            (LossWeights::Positive(_), _) => {
                return Err(invalid(format!(
                    "a pos_weight goes with BCE with logits (binary), not {kind:?} \
                     (multiclass softmax cross-entropy takes class weights)"
                )))
            }
        };
        if values.len() != width {
            return Err(invalid(format!(
                "{} weights given, one per {what} wants {width}",
                values.len()
            )));
        }
        if let Some(bad) = values.iter().find(|w| !(w.is_finite() && **w > 0.0)) {
            return Err(invalid(format!("weight {bad} must be finite and > 0")));
        }
        Ok(())
    }
}

/// PyTorch's words: `CrossEntropyLoss(weight=[0.5, 2])`, `BCEWithLogitsLoss(pos_weight=[3])`,
/// or `unweighted`.
impl std::fmt::Display for LossWeights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LossWeights::None => f.write_str("unweighted"),
            LossWeights::Class(w) => write!(f, "CrossEntropyLoss(weight={w:?})"),
            LossWeights::Positive(w) => write!(f, "BCEWithLogitsLoss(pos_weight={w:?})"),
        }
    }
}

/// Mirrors `LossParams` in `loss.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
struct LossParams {
    /// Elements (rows for the softmax).
    n: u32,
    /// Classes for the softmax, output columns for the element-wise losses.
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
    (2, Binding::ReadOnly),
    (3, Binding::ReadWrite),
    (4, Binding::ReadWrite),
    (5, Binding::Uniform),
];

/// The loss value and the gradient with respect to the predictions.
#[derive(Debug)]
pub struct LossOutput {
    /// The mean loss, one element.
    pub loss: Tensor,
    /// d loss / d predictions, the predictions' shape.
    pub grad: Tensor,
}

/// `(terms, width)`: how many loss terms are averaged, and the class count for the softmax or
/// the output columns for the others.
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
        Ok((pred.len(), pred.shape().last().copied().unwrap_or(1)))
    }
}

/// Prepares the loss of `pred` against `target`: its mean into `loss` (one element) and its
/// gradient into `grad` (the shape of `pred`). One dispatch for up to 4096 terms (rows for the
/// softmax); beyond that, the loss kernel's per-workgroup sums are added by the fixed-order
/// reduction.
///
/// `weights`, when given, are f32 [`LossWeights`]' values: one per class for softmax
/// cross-entropy, one per output column (`pos_weight`) for BCE with logits.
///
/// # Errors
/// [`Error::ShapeMismatch`] naming both shapes, or [`Error::DType`] (the softmax takes u32
/// targets, the others f32); [`Error::InvalidArgument`] for weights on another loss or of
/// another length.
pub fn loss_launch(
    gpu: &Gpu,
    kind: LossKind,
    pred: &Tensor,
    target: &Tensor,
    weights: Option<&Tensor>,
    loss: &Tensor,
    grad: &Tensor,
) -> Result<Launch> {
    let (terms, width) = check_shapes(kind, pred, target)?;
    if let Some(w) = weights {
        w.expect_dtype("loss", "the weights", DType::F32)?;
        let weighable = matches!(
            kind,
            LossKind::SoftmaxCrossEntropy | LossKind::BceWithLogits
        );
        if !weighable || w.len() != width {
            return Err(Error::InvalidArgument {
                op: "loss",
                detail: format!(
                    "weights go with softmax cross-entropy (one per class) or BCE with logits \
                     (one per output column); {kind:?} over {width} columns got {}",
                    w.len()
                ),
            });
        }
    }
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
        cols: dim("loss", width)?,
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
            ("WEIGHTED", f64::from(u8::from(weights.is_some()))),
        ],
    };
    // Unweighted, the kernel never reads binding 2; the predictions fill it.
    let weights = weights.unwrap_or(pred);
    let groups = u32::try_from(terms.div_ceil(TERMS_PER_WORKGROUP)).unwrap_or(u32::MAX);
    if groups == 1 {
        // One workgroup: its partial sum is the mean, written straight into `loss`.
        let dispatch = Dispatch::new(
            gpu,
            &spec,
            &[pred, target, weights, loss, grad],
            &params,
            grid(1),
        )?;
        return Ok(Launch::new(vec![dispatch]));
    }
    let partials = Tensor::zeros(gpu, &[groups as usize], DType::F32)?;
    let terms_pass = Dispatch::new(
        gpu,
        &spec,
        &[pred, target, weights, &partials, grad],
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
    gpu.run(&loss_launch(
        gpu, kind, pred, target, None, &out.loss, &out.grad,
    )?)?;
    Ok(out)
}

/// As [`loss`], with PyTorch's weights on the terms: `weights` are [`LossWeights`]' values,
/// one per class for softmax cross-entropy (`CrossEntropyLoss(weight=…)`), one per output
/// column for BCE with logits (`BCEWithLogitsLoss(pos_weight=…)`).
///
/// ```no_run
/// # use wgsl_train::{Gpu, Tensor, kernels::loss::{weighted_loss, LossKind}};
/// # fn main() -> wgsl_train::Result<()> {
/// let gpu = Gpu::new()?;
/// let logits = Tensor::from_slice(&gpu, &[2, 2], &[0.0f32, 0.0, 0.0, 0.0])?;
/// let classes = Tensor::from_slice(&gpu, &[2], &[0u32, 1])?;
/// let weights = Tensor::from_slice(&gpu, &[2], &[1.0f32, 3.0])?;
/// let out = weighted_loss(&gpu, LossKind::SoftmaxCrossEntropy, &logits, &classes, &weights)?;
/// // Both rows lose ln 2; the weighted mean (1·ln 2 + 3·ln 2) / (1 + 3) is ln 2 too.
/// assert!((out.loss.to_vec::<f32>(&gpu)?[0] - 2f32.ln()).abs() < 1e-6);
/// // The gradient of row 1 counts three times row 0's: (softmax − onehot)·w[t] / Σw.
/// assert_eq!(out.grad.to_vec::<f32>(&gpu)?, vec![-0.125, 0.125, 0.375, -0.375]);
/// # Ok(()) }
/// ```
///
/// # Errors
/// As [`loss_launch`].
pub fn weighted_loss(
    gpu: &Gpu,
    kind: LossKind,
    pred: &Tensor,
    target: &Tensor,
    weights: &Tensor,
) -> Result<LossOutput> {
    check_shapes(kind, pred, target)?;
    let out = LossOutput {
        loss: Tensor::zeros(gpu, &[1], DType::F32)?,
        grad: Tensor::zeros(gpu, pred.shape(), DType::F32)?,
    };
    gpu.run(&loss_launch(
        gpu,
        kind,
        pred,
        target,
        Some(weights),
        &out.loss,
        &out.grad,
    )?)?;
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
