//! Training decisions on the GPU (`shaders/control.wgsl`) and the copies they switch on
//! (`shaders/copy.wgsl`): what lets many epochs run in one submission.

use bytemuck::{Pod, Zeroable};

use super::{dim, grid, groups_for, workgroup_constant, Shader};
use crate::error::Result;
use crate::gpu::{Binding, Dispatch, Gpu, KernelSpec, Tensor};

/// Status bits of an epoch's row (`control.wgsl`); 0: the epoch did not run.
pub(crate) const RAN: u32 = 1;
pub(crate) const IMPROVED: u32 = 2;
pub(crate) const OUT_OF_PATIENCE: u32 = 4;
pub(crate) const NONFINITE_LOSS: u32 = 8;
pub(crate) const NONFINITE_PARAMETER: u32 = 16;
pub(crate) const LOSS_GREW: u32 = 32;

/// Where each value lies in one epoch's row of the trainer's results: the one declaration of
/// the layout, which the decision kernel and the small-model kernel receive in their settings
/// and the trainer reads by. Mirrors `EpochRow` in `epoch_row.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable, PartialEq, Eq)]
pub(crate) struct EpochRow {
    /// The step losses, at `[0, steps)`.
    pub steps: u32,
    pub validation_loss: u32,
    /// Set to 1 when an update left a parameter non-finite.
    pub nonfinite: u32,
    /// The decision's status bits (`RAN`, …).
    pub status: u32,
    /// The epoch's training loss, as the decision computed it.
    pub train_loss: u32,
    /// With a validation split in several chunks, each chunk's loss from here on.
    pub first_chunk: u32,
    /// Slots in use.
    pub len: u32,
    /// Elements between two rows: `len` rounded up to a multiple of the binding alignment,
    /// so that each row can be bound on its own.
    pub stride: u32,
}

impl EpochRow {
    /// The row of an epoch of `steps` steps whose validation split is in `validation_chunks`
    /// chunks (0 without one; a single chunk's loss goes straight into its slot), rows
    /// `align` elements apart (a multiple).
    pub fn new(steps: usize, validation_chunks: usize, align: usize) -> Result<Self> {
        let op = "Trainer::new";
        let mut next = steps;
        let mut slot = || {
            next += 1;
            dim(op, next - 1)
        };
        let (validation_loss, nonfinite, status, train_loss) = (slot()?, slot()?, slot()?, slot()?);
        let first_chunk = slot()?;
        let chunk_slots = if validation_chunks > 1 {
            validation_chunks
        } else {
            0
        };
        let len = first_chunk as usize + chunk_slots;
        Ok(Self {
            steps: dim(op, steps)?,
            validation_loss,
            nonfinite,
            status,
            train_loss,
            first_chunk,
            len: dim(op, len)?,
            stride: dim(op, len.div_ceil(align) * align)?,
        })
    }

    /// Elements between two rows.
    pub fn stride(&self) -> usize {
        self.stride as usize
    }
}

/// Mirrors `Settings` in `control.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub(crate) struct Settings {
    pub row: EpochRow,
    pub batch: u32,
    pub rows: u32,
    /// 0: no early stopping.
    pub patience: u32,
    pub has_validation: u32,
    pub row_count: u32,
    pub growth: f32,
    pub min_delta: f32,
    /// The validation split's chunks (0 without one), rows of each but the last, and rows.
    pub validation_chunks: u32,
    pub validation_chunk_rows: u32,
    pub validation_rows: u32,
}

/// Mirrors `Control` in `control.wgsl`: the decision state kept on the device.
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable, Default, PartialEq)]
pub(crate) struct ControlState {
    pub running: u32,
    pub epoch: u32,
    pub epochs_without_improvement: u32,
    pub has_best: u32,
    pub best: f32,
    pub lowest: f32,
    pub trained: u32,
    pub restore: u32,
    pub keep: u32,
    pub _pad: [u32; 3],
}

/// Words of [`ControlState`] (the size of its tensor).
pub(crate) const CONTROL_WORDS: usize = std::mem::size_of::<ControlState>() / 4;

/// The words of [`ControlState`] that [`copy_dispatches`] can wait for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum CopyWhen {
    Restore,
    Keep,
}

impl CopyWhen {
    /// The flag's index among the state's words.
    fn word(self) -> usize {
        let offset = match self {
            CopyWhen::Restore => std::mem::offset_of!(ControlState, restore),
            CopyWhen::Keep => std::mem::offset_of!(ControlState, keep),
        };
        offset / 4
    }
}

/// These kernels take no uniform: lavapipe (Mesa 22.3) compiled a fresh variant of the
/// decision kernel, with its uniform's values inlined, at every submission — 10 ms an epoch.
/// Their settings are a storage buffer, their lengths the bindings'.
const NO_PARAMS: [u32; 4] = [0; 4];

const DECIDE_BINDINGS: &[(u32, Binding)] = &[
    (0, Binding::ReadWrite),
    (1, Binding::ReadWrite),
    (2, Binding::ReadWrite),
    (3, Binding::ReadOnly),
];

/// Prepares the end-of-epoch decision over `control` (a [`ControlState`]), `results` (rows of
/// `settings.row`) and the optimizer's two flags (non-finite, frozen).
pub(crate) fn decide_dispatch(
    gpu: &Gpu,
    control: &Tensor,
    results: &Tensor,
    optimizer_flags: &Tensor,
    settings: &Settings,
) -> Result<Dispatch> {
    let spec = KernelSpec {
        shader: Shader::Control.code(),
        entry: "decide_epoch",
        bindings: DECIDE_BINDINGS,
        constants: vec![],
    };
    let words: &[u32] = bytemuck::cast_slice(std::slice::from_ref(settings));
    let settings = Tensor::from_slice(gpu, &[words.len()], words)?;
    Dispatch::new(
        gpu,
        &spec,
        &[control, results, optimizer_flags, &settings],
        &NO_PARAMS,
        [1, 1, 1],
    )
}

const COPY_BINDINGS: &[(u32, Binding)] = &[
    (0, Binding::ReadOnly),
    (1, Binding::ReadWrite),
    (2, Binding::ReadOnly),
];

/// Prepares `dst = src` (same length) for when `control`'s word `when` is set: one dispatch
/// per chunk of at most one storage binding.
pub(crate) fn copy_dispatches(
    gpu: &Gpu,
    src: &Tensor,
    dst: &Tensor,
    control: &Tensor,
    when: CopyWhen,
) -> Result<Vec<Dispatch>> {
    let spec = KernelSpec {
        shader: Shader::Copy.code(),
        entry: "copy_f32",
        bindings: COPY_BINDINGS,
        constants: vec![workgroup_constant(), ("FLAG", when.word() as f64)],
    };
    let total = src.len();
    let align = gpu.binding_alignment();
    let per_binding = (gpu.limits().max_storage_buffer_binding_size / 4) as usize;
    let chunk = (per_binding / align * align).max(align);
    (0..total)
        .step_by(chunk)
        .map(|base| {
            let len = chunk.min(total - base);
            let (src, dst) = (src.view(gpu, base, &[len])?, dst.view(gpu, base, &[len])?);
            Dispatch::new(
                gpu,
                &spec,
                &[&src, &dst, control],
                &NO_PARAMS,
                grid(groups_for(len)),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::seam::{assert_constants, assert_mirrors, mirror};
    use super::*;

    #[test]
    fn the_decision_state_settings_and_row_match_wgsl() {
        let shader = Shader::Control;
        #[rustfmt::skip]
        assert_mirrors(shader, "EpochRow", mirror!(EpochRow {
            steps, validation_loss, nonfinite, status, train_loss, first_chunk, len, stride,
        }));
        #[rustfmt::skip]
        assert_mirrors(shader, "Settings", mirror!(Settings {
            row, batch, rows, patience, has_validation, row_count, growth, min_delta,
            validation_chunks, validation_chunk_rows, validation_rows,
        }));
        #[rustfmt::skip]
        assert_mirrors(shader, "Control", mirror!(ControlState {
            running, epoch, epochs_without_improvement, has_best, best, lowest, trained,
            restore, keep,
        }));
        let bits = [
            ("RAN", RAN),
            ("IMPROVED", IMPROVED),
            ("OUT_OF_PATIENCE", OUT_OF_PATIENCE),
            ("NONFINITE_LOSS", NONFINITE_LOSS),
            ("NONFINITE_PARAMETER", NONFINITE_PARAMETER),
            ("LOSS_GREW", LOSS_GREW),
        ];
        assert_constants(shader, &bits);
    }

    #[test]
    fn a_row_lays_its_slots_after_the_steps() {
        let row = EpochRow::new(3, 2, 8).unwrap();
        let slots = [
            row.validation_loss,
            row.nonfinite,
            row.status,
            row.train_loss,
        ];
        assert_eq!(slots, [3, 4, 5, 6]);
        assert_eq!((row.first_chunk, row.len, row.stride), (7, 9, 16));
        // A single validation chunk writes the validation slot itself.
        let single = EpochRow::new(3, 1, 8).unwrap();
        assert_eq!((single.len, single.stride), (7, 8));
    }
}
