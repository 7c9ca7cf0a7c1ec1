//! The fused optimizer update (`shaders/optim.wgsl`): the params structs mirroring the WGSL
//! ones, and the chunked dispatches over flat parameter storage. The optimizers themselves are
//! in [`crate::optim`].

use bytemuck::{Pod, Zeroable};

use super::{dim, grid, groups_for, workgroup_constant, Shader};
use crate::error::{Error, Result};
use crate::gpu::{Binding, DType, Dispatch, Gpu, KernelSpec, Tensor};

/// The most parameter groups one optimizer can have (`MAX_GROUPS` in `optim.wgsl`).
pub const MAX_GROUPS: usize = 16;

/// `GroupParams::flags` bits (as in `formulas.wgsl`).
pub(crate) const FLAG_NESTEROV: u32 = 1;
pub(crate) const FLAG_MAXIMIZE: u32 = 2;
pub(crate) const FLAG_AMSGRAD: u32 = 4;
pub(crate) const FLAG_DECOUPLED: u32 = 8;

/// Mirrors `GroupParams` in `formulas.wgsl`: one parameter group's hyperparameters that stay
/// fixed for a run and the constants derived from them, each computed in f64 and rounded to
/// f32 once (the learning rate, which a schedule may change, travels in the step vector).
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable, Default, PartialEq)]
pub(crate) struct GroupParams {
    pub momentum: f32,
    pub one_minus_dampening: f32,
    pub weight_decay: f32,
    pub l1: f32,
    pub one_minus_beta1: f32,
    pub beta2: f32,
    pub one_minus_beta2: f32,
    pub eps: f32,
    /// `FLAG_NESTEROV | FLAG_MAXIMIZE | FLAG_AMSGRAD | FLAG_DECOUPLED`.
    pub flags: u32,
    /// `clip_grad_value_`'s bound; 0 when off.
    pub clip_value: f32,
    pub _pad: [u32; 2],
}

/// Mirrors `ChunkParams` in `optim.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
struct ChunkParams {
    base: u32,
    len: u32,
    segments: u32,
    /// clip_grad_norm_'s partial sums (the workgroups of `grad_square_sums`).
    norm_sums: u32,
    /// clip_grad_norm_'s max_norm; 0 when off.
    max_norm: f32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

/// Where `grad_square_sums` puts its sums in the optimizer's flags (`NORM_SUMS`).
pub(crate) const NORM_SUMS: usize = 2;

/// One group's step vector (`formulas.wgsl`): `[step size, √(1 − β₂ᵗ), 1 on the first step,
/// 1 − lr·λ₂]`.
pub(crate) type StepVector = [f32; 4];

/// Mirrors `StepParams` in `optim.wgsl`: each group's step vector.
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub(crate) struct StepParams {
    pub groups: [StepVector; MAX_GROUPS],
}

/// Bytes between entries of the step table: the struct, rounded up to the uniform alignment.
pub(crate) fn step_stride(gpu: &Gpu) -> u64 {
    let align = u64::from(gpu.limits().min_uniform_buffer_offset_alignment);
    (std::mem::size_of::<StepParams>() as u64).div_ceil(align) * align
}

/// vec4s each invocation updates (`PER_INVOCATION` in `optim.wgsl`).
const PER_INVOCATION: usize = 16;

/// Which update kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UpdateKernel {
    Sgd,
    Adam,
}

/// Both algorithms bind three state buffers (SGD's last two are spares it never reads).
const BINDINGS: &[(u32, Binding)] = &[
    (0, Binding::ReadOnly),
    (1, Binding::ReadOnly),
    (2, Binding::ReadOnly),
    (3, Binding::ReadWrite),
    (4, Binding::ReadWrite),
    (5, Binding::ReadWrite),
    (6, Binding::ReadWrite),
    (9, Binding::ReadWrite),
    (7, Binding::Uniform),
    (8, Binding::DynamicUniform),
];

/// The flat buffers one update reads and writes.
pub(crate) struct UpdateBuffers<'a> {
    pub values: &'a Tensor,
    pub grads: &'a Tensor,
    /// SGD: `[momentum]`; Adam: `[m, v, max v]` (max v may be a short stand-in).
    pub state: &'a [&'a Tensor],
    pub segments: &'a Tensor,
    pub segment_count: usize,
    pub groups: &'a Tensor,
    /// `[non-finite update, frozen, Σg² of each span…]`: the first set to 1 by an update that
    /// leaves a parameter non-finite; while the second is nonzero, the update does nothing;
    /// from [`NORM_SUMS`] on, [`norm_sums`] partial sums for clip_grad_norm_.
    pub flags: &'a Tensor,
    /// clip_grad_norm_'s max_norm (norm type 2), or `None`.
    pub max_norm: Option<f64>,
    pub step_table: &'a wgpu::Buffer,
}

/// The optimizer kernels (this one and the small-model kernel) bind three state buffers; SGD
/// keeps one state tensor, so the other two bindings get small spares of their own (WebGPU
/// refuses one buffer in two writable bindings). The spares for an optimizer with `have`.
pub(crate) fn state_spares(gpu: &Gpu, have: usize) -> Result<Vec<Tensor>> {
    (have..3)
        .map(|_| Tensor::zeros(gpu, &[4], DType::F32))
        .collect()
}

/// One dispatch per chunk of at most one storage binding; a single dispatch unless the
/// parameters exceed the device's largest binding.
pub(crate) fn update_dispatches(
    gpu: &Gpu,
    kernel: UpdateKernel,
    buffers: &UpdateBuffers,
) -> Result<Vec<Dispatch>> {
    let adam = f64::from(u8::from(kernel == UpdateKernel::Adam));
    let spec = KernelSpec {
        shader: Shader::Optim.code(),
        entry: "update_step",
        bindings: BINDINGS,
        constants: vec![workgroup_constant(), ("ADAM", adam)],
    };
    let spares = state_spares(gpu, buffers.state.len())?;
    let state_in: Vec<&Tensor> = buffers.state.iter().copied().chain(&spares).collect();
    let total = buffers.values.len();
    let chunk = chunk_len(gpu);
    let mut dispatches = Vec::with_capacity(total.div_ceil(chunk));
    for base in (0..total).step_by(chunk) {
        let len = chunk.min(total - base);
        let view = |t: &Tensor| t.view(gpu, base, &[len]);
        let values = view(buffers.values)?;
        let grads = view(buffers.grads)?;
        let mut state = Vec::with_capacity(state_in.len());
        for &t in &state_in {
            // A state shorter than the parameters is a stand-in the kernel never reads
            // (AMSGrad's max v when no group uses AMSGrad): bind it whole.
            state.push(if t.len() == total {
                view(t)?
            } else {
                t.view(gpu, 0, t.shape())?
            });
        }
        let mut tensors = vec![&grads, buffers.segments, buffers.groups, &values];
        tensors.extend(state.iter());
        tensors.push(buffers.flags);
        let params = ChunkParams {
            base: dim("optimizer", base)?,
            len: dim("optimizer", len)?,
            segments: dim("optimizer", buffers.segment_count)?,
            norm_sums: dim("optimizer", norm_sums(len))?,
            max_norm: buffers.max_norm.unwrap_or(0.0) as f32,
            _pad0: 0,
            _pad1: 0,
            _pad2: 0,
        };
        let table = (buffers.step_table, std::mem::size_of::<StepParams>() as u64);
        dispatches.push(Dispatch::with_table(
            gpu,
            &spec,
            &tensors,
            &params,
            table,
            grid(groups_for(len.div_ceil(4 * PER_INVOCATION))),
        )?);
    }
    Ok(dispatches)
}

/// Elements one update dispatch takes: one storage binding's worth, rounded down to the
/// binding alignment.
fn chunk_len(gpu: &Gpu) -> usize {
    let align = gpu.binding_alignment();
    let per_binding = (gpu.limits().max_storage_buffer_binding_size / 4) as usize;
    (per_binding / align * align).max(align)
}

/// The partial sums clip_grad_norm_ takes over `len` flat elements: one per update workgroup.
pub(crate) fn norm_sums(len: usize) -> usize {
    groups_for(len.div_ceil(4 * PER_INVOCATION)) as usize
}

const NORM_BINDINGS: &[(u32, Binding)] = &[
    (0, Binding::ReadOnly),
    (1, Binding::ReadOnly),
    (2, Binding::ReadOnly),
    (3, Binding::ReadWrite),
    (9, Binding::ReadWrite),
    (7, Binding::Uniform),
];

/// The dispatch that writes each update span's Σg² into `flags` for clip_grad_norm_, to run
/// between the backward pass and the update; g holds L1's term, as PyTorch's `.grad` does when
/// L1 is in the loss.
///
/// # Errors
/// [`Error::InvalidArgument`] when the parameters take more than one storage binding (the
/// update runs in chunks, and the norm is over all of them).
pub(crate) fn norm_dispatch(gpu: &Gpu, buffers: &UpdateBuffers) -> Result<Dispatch> {
    let len = buffers.values.len();
    let chunk = chunk_len(gpu);
    if len > chunk {
        return Err(Error::InvalidArgument {
            op: "clip_grad_norm",
            detail: format!(
                "{len} parameters exceed one update dispatch ({chunk}, a storage binding); \
                 clip_grad_norm takes models within one"
            ),
        });
    }
    let spec = KernelSpec {
        shader: Shader::Optim.code(),
        entry: "grad_square_sums",
        bindings: NORM_BINDINGS,
        constants: vec![workgroup_constant()],
    };
    let params = ChunkParams {
        base: 0,
        len: dim("optimizer", len)?,
        segments: dim("optimizer", buffers.segment_count)?,
        norm_sums: dim("optimizer", norm_sums(len))?,
        max_norm: 0.0,
        _pad0: 0,
        _pad1: 0,
        _pad2: 0,
    };
    let groups = groups_for(len.div_ceil(4 * PER_INVOCATION));
    let grads = buffers.grads.view(gpu, 0, &[len])?;
    let values = buffers.values.view(gpu, 0, &[len])?;
    let tensors = [
        &grads,
        buffers.segments,
        buffers.groups,
        &values,
        buffers.flags,
    ];
    Dispatch::new(gpu, &spec, &tensors, &params, grid(groups))
}

#[cfg(test)]
mod tests {
    use super::super::seam::{assert_constants, assert_mirrors, mirror};
    use super::*;

    #[test]
    fn the_params_flags_and_capacities_match_wgsl() {
        let shader = Shader::Optim;
        #[rustfmt::skip]
        assert_mirrors(shader, "GroupParams", mirror!(GroupParams {
            momentum, one_minus_dampening, weight_decay, l1, one_minus_beta1, beta2,
            one_minus_beta2, eps, flags, clip_value,
        }));
        assert_mirrors(
            shader,
            "ChunkParams",
            mirror!(ChunkParams {
                base,
                len,
                segments,
                norm_sums,
                max_norm
            }),
        );
        assert_mirrors(shader, "StepParams", mirror!(StepParams { groups }));
        let constants = [
            ("FLAG_NESTEROV", FLAG_NESTEROV),
            ("FLAG_MAXIMIZE", FLAG_MAXIMIZE),
            ("FLAG_AMSGRAD", FLAG_AMSGRAD),
            ("FLAG_DECOUPLED", FLAG_DECOUPLED),
            ("MAX_GROUPS", MAX_GROUPS as u32),
            ("PER_INVOCATION", PER_INVOCATION as u32),
            ("NORM_SUMS", NORM_SUMS as u32),
        ];
        assert_constants(shader, &constants);
    }
}
