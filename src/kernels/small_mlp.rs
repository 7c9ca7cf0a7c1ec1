//! The small-model path (`shaders/small_mlp.wgsl`): a whole epoch of a small MLP in one
//! dispatch of one workgroup.

use bytemuck::{Pod, Zeroable};

use super::activation::Activation;
use super::control::EpochRow;
use super::dropout::{drop_threshold, dropout_scale};
use super::loss::{LossKind, LossWeights};
use super::optim::{GroupParams, UpdateKernel};
use super::{dim, Shader};
use crate::error::{Error, Result};
use crate::gpu::{Binding, Dispatch, Gpu, KernelSpec, Tensor};

/// Workgroup-memory capacities of the kernel, in f32 (`ACT_CAPACITY`, `GRAD_CAPACITY`).
const ACT_CAPACITY: usize = 5120;
const GRAD_CAPACITY: usize = 2048;
const MAX_LAYERS: usize = 4;
/// Loss weights the settings hold (`MAX_LOSS_WEIGHTS`).
const MAX_LOSS_WEIGHTS: usize = 16;
/// Invocations of the workgroup (`WG`): fewer on CPU-like adapters (lavapipe), where a barrier
/// costs in proportion to the invocations it waits for (32 ran about twice as fast as 256:
/// BENCHMARKS.md, "Performance round 2").
const WG_CPU: u32 = 32;
const WG_GPU: u32 = 256;

/// The workgroup size the kernel runs with on `gpu`.
fn workgroup_size(gpu: &Gpu) -> u32 {
    if gpu.is_cpu_adapter() {
        WG_CPU
    } else {
        WG_GPU
    }
}
/// Storage buffers the kernel binds.
const STORAGE_BUFFERS: u32 = 9;

/// Mirrors `SmallParams` in `small_mlp.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub(crate) struct SmallParams {
    group: GroupParams,
    rows: u32,
    batch: u32,
    layers: u32,
    x_cols: u32,
    sizes: [[u32; 4]; 2],
    weight_offsets: [u32; 4],
    bias_offsets: [u32; 4],
    loss: u32,
    optimizer: u32,
    weighted: u32,
    max_norm: f32,
    activation: [u32; 4],
    negative_slope: [f32; 4],
    pre_offsets: [u32; 4],
    dropout_threshold: [u32; 4],
    dropout_scale: [f32; 4],
    dropout_seed: [u32; 4],
    loss_weights: [[f32; 4]; 4],
    row: EpochRow,
}

/// `pre_offsets` of a hidden layer whose backward reads its output (`READS_OUTPUT`).
const READS_OUTPUT: u32 = u32::MAX;

/// The kernel's optimizer codes (`OPT_*` in `small_mlp.wgsl`; its loss codes are
/// [`LossKind::code`]'s).
const OPT_SGD: u32 = 0;
const OPT_ADAM: u32 = 1;

const BINDINGS: &[(u32, Binding)] = &[
    (0, Binding::ReadOnly),
    (1, Binding::ReadOnly),
    (2, Binding::ReadOnly),
    (3, Binding::ReadOnly),
    (4, Binding::ReadWrite),
    (5, Binding::ReadWrite),
    (6, Binding::ReadWrite),
    (7, Binding::ReadWrite),
    (8, Binding::ReadWrite),
    (9, Binding::Uniform),
];

/// What the kernel needs to know about the model and the training run.
pub(crate) struct SmallModel<'a> {
    pub sizes: &'a [usize],
    /// One per hidden layer.
    pub activations: &'a [Activation],
    /// Dropout's probability after each hidden layer (0: none), and the run's seed, which
    /// keys its masks.
    pub dropout: (&'a [f32], u64),
    /// `(weight, bias)` offsets of each layer in the flat parameter buffer.
    pub offsets: Vec<(usize, usize)>,
    pub loss: LossKind,
    pub loss_weights: &'a LossWeights,
    pub optimizer: (UpdateKernel, GroupParams),
    /// clip_grad_norm_'s max_norm, if the gradients are clipped: each step then goes backward
    /// twice, for the norm and for the update.
    pub max_norm: Option<f64>,
    pub rows: usize,
    pub batch: usize,
    /// The layout of the epoch's row of results; its `steps` are the epoch's.
    pub row: EpochRow,
}

/// Why the small-model path cannot run this model on `gpu`, if it cannot.
pub(crate) fn unsupported(gpu: &Gpu, model: &SmallModel) -> Option<String> {
    let weights = model.loss_weights.values().map_or(0, <[f32]>::len);
    refusal(
        gpu,
        model.sizes,
        model.activations,
        (model.loss, weights),
        model.batch,
    )
}

/// Where each hidden layer's pre-activations start in the kernel's workgroup memory, after
/// every layer's activations (`None` for a layer whose backward reads its output);
/// and the workgroup memory the activations and these take, in f32.
fn activation_layout(
    sizes: &[usize],
    activations: &[Activation],
    batch: usize,
) -> (Vec<Option<usize>>, usize) {
    let mut end: usize = sizes.iter().map(|s| s * batch).sum();
    let mut offsets = Vec::with_capacity(activations.len());
    for (h, f) in activations.iter().enumerate() {
        if f.backward_reads_output() {
            offsets.push(None);
        } else {
            offsets.push(Some(end));
            end += sizes[h + 1] * batch;
        }
    }
    (offsets, end)
}

/// Why the small-model path cannot run a network of layer `sizes` with `loss` at `batch` rows a
/// step on `gpu`, if it cannot.
pub(crate) fn refusal(
    gpu: &Gpu,
    sizes: &[usize],
    activation_kinds: &[Activation],
    (loss, loss_weights): (LossKind, usize),
    batch: usize,
) -> Option<String> {
    let limits = gpu.limits();
    let layers = sizes.len() - 1;
    let (_, activations) = activation_layout(sizes, activation_kinds, batch);
    // Going backward through layer l, the gradient area holds its output gradient and, above
    // the first layer, the gradient below it (never the inputs').
    let gradients = (0..layers)
        .map(|l| batch * (sizes[l + 1] + if l > 0 { sizes[l] } else { 0 }))
        .max()
        .unwrap_or(0);
    if layers > MAX_LAYERS {
        Some(format!("{layers} layers; it takes at most {MAX_LAYERS}"))
    } else if activations > ACT_CAPACITY || gradients > GRAD_CAPACITY {
        Some(format!(
            "a batch's activations ({activations} values) and gradients ({gradients}) exceed its workgroup memory ({ACT_CAPACITY} and {GRAD_CAPACITY})"
        ))
    } else if loss_weights > MAX_LOSS_WEIGHTS {
        Some(format!(
            "{loss_weights} loss weights; it holds at most {MAX_LOSS_WEIGHTS}"
        ))
    } else if loss == LossKind::Bce {
        Some("it has no BCE on probabilities; the MLP's losses are MSE, BCE with logits and softmax cross-entropy".into())
    } else if limits.max_storage_buffers_per_shader_stage < STORAGE_BUFFERS {
        Some(format!(
            "this device binds {} storage buffers, it needs {STORAGE_BUFFERS}",
            limits.max_storage_buffers_per_shader_stage
        ))
    } else if (limits.max_compute_workgroup_storage_size as usize)
        < 4 * (ACT_CAPACITY + GRAD_CAPACITY + workgroup_size(gpu) as usize + 1)
    {
        Some("this device's workgroup memory is too small".into())
    } else {
        None
    }
}

/// Prepares one epoch as one dispatch. `state` are the optimizer's flat state tensors
/// (momentum, or m, v and max v), `step_values` holds `[step size, √(1 − β₂ᵗ), first, 0]` per
/// step, and `results` (one epoch's row, laid out as `model.row`) receives the step losses and
/// the non-finite flag.
#[allow(clippy::too_many_arguments)]
pub(crate) fn epoch_dispatch(
    gpu: &Gpu,
    model: &SmallModel,
    x_all: &Tensor,
    y_all: &Tensor,
    order: &Tensor,
    step_values: &Tensor,
    values: &Tensor,
    state: [&Tensor; 3],
    results: &Tensor,
) -> Result<Dispatch> {
    if let Some(why) = unsupported(gpu, model) {
        return Err(Error::InvalidArgument {
            op: "single-dispatch epochs",
            detail: why,
        });
    }
    let op = "single-dispatch epochs";
    let mut sizes = [[0u32; 4]; 2];
    for (l, &s) in model.sizes.iter().enumerate() {
        sizes[l / 4][l % 4] = dim(op, s)?;
    }
    let mut weight_offsets = [0u32; 4];
    let mut bias_offsets = [0u32; 4];
    for (l, &(w, b)) in model.offsets.iter().enumerate() {
        weight_offsets[l] = dim(op, w)?;
        bias_offsets[l] = dim(op, b)?;
    }
    let (pre, _) = activation_layout(model.sizes, model.activations, model.batch);
    let mut activation = [0u32; 4];
    let mut negative_slope = [0f32; 4];
    let mut pre_offsets = [READS_OUTPUT; 4];
    for (h, f) in model.activations.iter().enumerate() {
        activation[h] = f.code();
        negative_slope[h] = f.negative_slope();
        if let Some(offset) = pre[h] {
            pre_offsets[h] = dim(op, offset)?;
        }
    }
    let (dropout, seed) = model.dropout;
    let (mut thresholds, mut scales) = ([0u32; 4], [1f32; 4]);
    for (h, &p) in dropout.iter().enumerate().filter(|(_, &p)| p > 0.0) {
        thresholds[h] = drop_threshold(p);
        scales[h] = dropout_scale(p);
    }
    let mut loss_weights = [[0f32; 4]; 4];
    for (j, &w) in model
        .loss_weights
        .values()
        .unwrap_or(&[])
        .iter()
        .enumerate()
    {
        loss_weights[j / 4][j % 4] = w;
    }
    let (kernel, hp) = model.optimizer;
    let params = SmallParams {
        group: hp,
        rows: dim(op, model.rows)?,
        batch: dim(op, model.batch)?,
        layers: dim(op, model.sizes.len() - 1)?,
        x_cols: dim(op, model.sizes[0])?,
        sizes,
        weight_offsets,
        bias_offsets,
        loss: model.loss.code(),
        optimizer: match kernel {
            UpdateKernel::Sgd => OPT_SGD,
            UpdateKernel::Adam => OPT_ADAM,
        },
        weighted: u32::from(model.loss_weights.values().is_some()),
        max_norm: model.max_norm.unwrap_or(0.0) as f32,
        activation,
        negative_slope,
        pre_offsets,
        dropout_threshold: thresholds,
        dropout_scale: scales,
        dropout_seed: [seed as u32, (seed >> 32) as u32, 0, 0],
        loss_weights,
        row: model.row,
    };
    let spec = KernelSpec {
        shader: Shader::SmallMlp.code(),
        entry: "train_epoch",
        bindings: BINDINGS,
        constants: vec![
            ("WG", f64::from(workgroup_size(gpu))),
            (
                "ONLY_RELU",
                f64::from(u8::from(
                    model.activations.iter().all(|&f| f == Activation::Relu),
                )),
            ),
            (
                "DROPOUT",
                f64::from(u8::from(dropout.iter().any(|&p| p > 0.0))),
            ),
            ("CLIP", f64::from(u8::from(model.max_norm.is_some()))),
        ],
    };
    let [s0, s1, s2] = state;
    Dispatch::new(
        gpu,
        &spec,
        &[
            x_all,
            y_all,
            order,
            step_values,
            values,
            s0,
            s1,
            s2,
            results,
        ],
        &params,
        [1, 1, 1],
    )
}

#[cfg(test)]
mod tests {
    use super::super::seam::{assert_constants, assert_mirrors, mirror};
    use super::*;

    #[test]
    fn the_settings_capacities_and_codes_match_wgsl() {
        let shader = Shader::SmallMlp;
        #[rustfmt::skip]
        assert_mirrors(shader, "SmallParams", mirror!(SmallParams {
            group, rows, batch, layers, x_cols, sizes, weight_offsets, bias_offsets, loss,
            optimizer, weighted, max_norm, activation, negative_slope, pre_offsets, dropout_threshold,
            dropout_scale, dropout_seed, loss_weights, row,
        }));
        let constants = [
            ("ACT_CAPACITY", ACT_CAPACITY as u32),
            ("GRAD_CAPACITY", GRAD_CAPACITY as u32),
            ("MAX_LAYERS", MAX_LAYERS as u32),
            ("MAX_LOSS_WEIGHTS", MAX_LOSS_WEIGHTS as u32),
            ("OPT_SGD", OPT_SGD),
            ("OPT_ADAM", OPT_ADAM),
            ("READS_OUTPUT", READS_OUTPUT),
        ];
        assert_constants(shader, &constants);
    }
}
