//! The validation split on the device, in as few chunks as fit the storage bindings (one,
//! unless the split is larger than a binding), each with its forward pass and loss. With
//! several chunks, the decision kernel (`shaders/control.wgsl`) combines their mean losses
//! weighted by their rows, as it does the training steps' — equal to one mean over every row
//! within rounding, not bit for bit.

use super::device_data::{device_targets, DeviceSplit};
use crate::data::Dataset;
use crate::error::Result;
use crate::gpu::{Batch, Gpu, Tensor};
use crate::nn::graph::{forward_with_loss, LossPass};
use crate::nn::{rows_per_binding, Mlp};

/// Slots of a results row before the validation chunks' own (see `Trainer::results`).
pub(crate) const FIXED_SLOTS: usize = 4;

pub(crate) struct Validation {
    chunks: Vec<LossPass>,
    /// Rows of every chunk but perhaps the last.
    pub chunk_rows: usize,
    /// Rows in all.
    pub rows: usize,
}

impl Validation {
    pub fn new(gpu: &Gpu, model: &Mlp, data: &Dataset) -> Result<Self> {
        model.check_fits(data)?;
        let chunk_rows = rows_per_binding(gpu, model.sizes(), u64::MAX).min(data.len());
        let targets = device_targets(model, data);
        let mut chunks = Vec::new();
        for start in (0..data.len()).step_by(chunk_rows) {
            let rows = start..data.len().min(start + chunk_rows);
            let split = DeviceSplit::upload_rows(gpu, data, (&targets.0, targets.1), rows)?;
            chunks.push(forward_with_loss(gpu, model, &split.x, &split.y)?);
        }
        Ok(Self {
            chunks,
            chunk_rows,
            rows: data.len(),
        })
    }

    /// Chunks the split is in.
    pub fn chunk_count(&self) -> usize {
        self.chunks.len()
    }

    /// Slots a results row holds past the fixed ones: one per chunk when there are several
    /// (the decision combines them into the validation slot), none for one.
    pub fn extra_slots(&self) -> usize {
        match self.chunks.len() {
            1 => 0,
            n => n,
        }
    }

    /// Records every chunk's forward pass and loss, each loss copied into its slot of the
    /// results row at `row` (the validation slot `row + steps` itself for a single chunk).
    pub fn record(
        &self,
        batch: &mut Batch,
        results: &Tensor,
        row: usize,
        steps: usize,
    ) -> Result<()> {
        let first = match self.chunks.len() {
            1 => row + steps,
            _ => row + steps + FIXED_SLOTS,
        };
        for (c, chunk) in self.chunks.iter().enumerate() {
            batch.record(&chunk.forward.launch);
            batch.record(&chunk.loss_launch);
            batch.copy_range(&chunk.loss, 0, results, first + c, 1)?;
        }
        Ok(())
    }
}
