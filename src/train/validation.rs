//! The validation split on the device, in as few chunks as fit the storage bindings (one,
//! unless the split is larger than a binding), each with its forward pass and loss. With
//! several chunks, the decision kernel (`shaders/control.wgsl`) combines their mean losses
//! weighted by their rows, as it does the training steps' — equal to one mean over every row
//! within rounding, not bit for bit.

use super::device_data::{device_targets, DeviceSplit};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::gpu::{Batch, Gpu, Tensor};
use crate::kernels::control::EpochRow;
use crate::nn::graph::{forward_with_loss, LossPass};
use crate::nn::{rows_per_binding, Mlp};

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
        if chunk_rows < data.len() && model.loss_weights().values().is_some() {
            // The chunks' losses are combined by their rows, not by their class weights.
            return Err(Error::InvalidArgument {
                op: "Trainer::new",
                detail: format!(
                    "a validation split in chunks ({} rows, {chunk_rows} a binding) cannot take \
                     loss weights",
                    data.len()
                ),
            });
        }
        let targets = device_targets(model, data);
        let mut chunks = Vec::new();
        for start in (0..data.len()).step_by(chunk_rows) {
            let rows = start..data.len().min(start + chunk_rows);
            let split = DeviceSplit::upload_rows(gpu, data, (&targets.0, targets.1), rows)?;
            chunks.push(forward_with_loss(gpu, model, &split.x, &split.y, None)?);
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

    /// Records every chunk's forward pass and loss, each loss copied into its slot of the
    /// results row that starts at `start` (laid out as `layout`): the validation slot itself
    /// for a single chunk; with several, the chunks' slots, which the decision combines.
    pub fn record(
        &self,
        batch: &mut Batch,
        results: &Tensor,
        start: usize,
        layout: &EpochRow,
    ) -> Result<()> {
        let first = start
            + match self.chunks.len() {
                1 => layout.validation_loss,
                _ => layout.first_chunk,
            } as usize;
        for (c, chunk) in self.chunks.iter().enumerate() {
            batch.record(&chunk.forward.launch);
            batch.record(&chunk.loss_launch);
            batch.copy_range(&chunk.loss, 0, results, first + c, 1)?;
        }
        Ok(())
    }
}
