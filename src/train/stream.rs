//! A training split streamed from the host. When the split's buffers would not fit one storage
//! binding (or [`TrainConfig::chunk_rows`](super::TrainConfig::chunk_rows) asks for it), its
//! rows stay on the host and every epoch uploads them a chunk of mini-batches at a time, in the
//! epoch's seeded order — the order the in-memory path shuffles by on the GPU — so every epoch
//! visits every row once, across chunks, and trains exactly as the in-memory run does. The
//! host gathers the next chunk straight into wgpu's staging memory while the GPU trains on the
//! chunk before.

use std::num::NonZeroU64;

use super::device_data::{block_sizes, device_targets, EpochBatches};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::gpu::{Batch, DType, Gpu, Tensor};
use crate::nn::Mlp;

/// What an automatically sized chunk aims to hold: big enough that a chunk's submission costs
/// little beside its work, small enough that the first chunk (not overlapped) and the staging
/// memory of two chunks in flight stay small.
const CHUNK_TARGET_BYTES: usize = 32 << 20;

/// The training rows on the host, and how many steps each uploaded chunk holds.
pub(crate) struct Stream {
    /// Shares the caller's rows (a `Dataset` clone is a reference count).
    data: Dataset,
    /// Each row's target word, as the device holds it.
    targets: Vec<u32>,
    batch: usize,
    pub chunk_steps: usize,
    pub target_dtype: DType,
}

impl Stream {
    pub fn new(model: &Mlp, data: &Dataset, batch: usize, chunk_steps: usize) -> Result<Self> {
        model.check_fits(data)?;
        let (targets, target_dtype) = device_targets(model, data);
        Ok(Self {
            data: data.clone(),
            targets,
            batch,
            chunk_steps,
            target_dtype,
        })
    }

    /// Before recording step `s` of an epoch whose row order is `order`: at a chunk's first
    /// step, submits the chunk before it (as one of the epoch's `parts`) and uploads this one,
    /// so the next chunk is gathered while the GPU trains on this one. Returns the step's
    /// block in `batches`.
    pub fn chunk_block(
        &self,
        gpu: &Gpu,
        batch: &mut Batch,
        batches: &EpochBatches,
        order: &[u32],
        s: usize,
        parts: &mut EpochParts,
    ) -> Result<usize> {
        let block = s % self.chunk_steps;
        if block == 0 {
            if s > 0 {
                parts.submit(gpu, batch)?;
            }
            self.upload(gpu, batches, order, s)?;
        }
        Ok(block)
    }

    /// Writes the chunk that starts at step `first_step` of an epoch whose row order is
    /// `order` into `batches` (laid out as the in-memory shuffle lays out a whole epoch).
    /// The write lands before the next submission, after those already made.
    pub fn upload(
        &self,
        gpu: &Gpu,
        batches: &EpochBatches,
        order: &[u32],
        first_step: usize,
    ) -> Result<()> {
        let first_row = first_step * self.batch;
        let rows = &order[first_row..order.len().min(first_row + self.chunk_steps * self.batch)];
        let features = |row: u32| self.data.row(row as usize);
        gather(gpu, &batches.x, batches.x_block, self.batch, rows, features)?;
        let targets = |row: u32| {
            let at = row as usize * batches.y_cols;
            &self.targets[at..at + batches.y_cols]
        };
        gather(gpu, &batches.y, batches.y_block, self.batch, rows, targets)
    }
}

/// An epoch recorded in parts, as streaming submits it: the dispatches of the parts submitted
/// so far, where the epoch began in its first batch, and the last part still running.
pub(crate) struct EpochParts {
    submitted: usize,
    start: usize,
    in_flight: Option<wgpu::SubmissionIndex>,
}

impl EpochParts {
    /// An epoch whose recording starts now in `batch`.
    pub fn new(batch: &Batch) -> Self {
        Self {
            submitted: 0,
            start: batch.dispatch_count(),
            in_flight: None,
        }
    }

    /// The dispatches the epoch has recorded: in the parts submitted and in `batch`.
    pub fn dispatches(&self, batch: &Batch) -> usize {
        self.submitted + batch.dispatch_count() - self.start
    }

    /// Submits what `batch` holds and leaves a new batch in its place, then waits for the part
    /// submitted before it: at most two parts are in flight, so the host gathers one chunk
    /// ahead and no further (wgpu holds each chunk's staging memory until its part has run).
    fn submit(&mut self, gpu: &Gpu, batch: &mut Batch) -> Result<()> {
        self.submitted = self.dispatches(batch);
        self.start = 0;
        let part = std::mem::replace(batch, gpu.batch());
        let index = gpu.submit_indexed(part)?;
        if let Some(before) = self.in_flight.replace(index) {
            gpu.wait_for(before)?;
        }
        Ok(())
    }
}

/// Writes the words `row_words(r)` of each row `r` of `rows` into `target`, `batch` rows to a
/// block of `block` words, zero past each batch's rows.
fn gather<'a, T: bytemuck::Pod>(
    gpu: &Gpu,
    target: &Tensor,
    block: usize,
    batch: usize,
    rows: &[u32],
    row_words: impl Fn(u32) -> &'a [T],
) -> Result<()> {
    let blocks = rows.len().div_ceil(batch);
    let bytes = 4 * (blocks * block) as u64;
    let size = NonZeroU64::new(bytes).ok_or_else(|| Error::Data("an empty chunk".into()))?;
    let mut staging = gpu
        .queue()
        .write_buffer_with(target.buffer(), target.offset_bytes(), size)
        .ok_or_else(|| Error::Validation {
            op: "stream upload",
            message: format!("{bytes} bytes do not fit the chunk buffer"),
        })?;
    let mut out = staging.slice(..);
    let mut at = 0;
    for batch_rows in rows.chunks(batch) {
        let block_end = at + 4 * block;
        for &row in batch_rows {
            let words: &[u8] = bytemuck::cast_slice(row_words(row));
            out.slice(at..at + words.len()).copy_from_slice(words);
            at += words.len();
        }
        out.slice(at..block_end).fill(0);
        at = block_end;
    }
    Ok(())
}

/// How many steps each chunk of a streamed training split holds, or `None` when the split is
/// kept on the device: `chunk_rows` rounded down to whole batches (at least one) if given;
/// otherwise `None` while the in-memory path's buffers — the split, its shuffled copy and an
/// epoch's row order — each fit one storage binding, and chunks of about
/// [`CHUNK_TARGET_BYTES`] once they do not.
///
/// # Errors
/// [`Error::TooLarge`] when not even one mini-batch fits a binding.
pub(crate) fn chunk_steps(
    gpu: &Gpu,
    rows: usize,
    (x_cols, y_cols): (usize, usize),
    batch: usize,
    chunk_rows: Option<usize>,
) -> Result<Option<usize>> {
    let limits = gpu.limits();
    let (limit, limit_name) = if limits.max_buffer_size < limits.max_storage_buffer_binding_size {
        (limits.max_buffer_size, "max_buffer_size")
    } else {
        (
            limits.max_storage_buffer_binding_size,
            "max_storage_buffer_binding_size",
        )
    };
    let steps = rows.div_ceil(batch);
    let (x_block, y_block) = block_sizes(gpu, (x_cols, y_cols), batch);
    let step_bytes = 4 * x_block.max(y_block);
    let in_memory = [
        rows * x_cols,
        steps * x_block,
        steps * y_block,
        rows.div_ceil(gpu.binding_alignment()) * gpu.binding_alignment(),
    ];
    if chunk_rows.is_none() && in_memory.iter().all(|&words| 4 * words as u64 <= limit) {
        return Ok(None);
    }
    let most = usize::try_from(limit).unwrap_or(usize::MAX) / step_bytes;
    if most == 0 {
        return Err(Error::TooLarge {
            what: format!("one mini-batch of {batch} training rows"),
            size: step_bytes as u64,
            limit,
            limit_name,
        });
    }
    let wanted = match chunk_rows {
        Some(rows) => rows / batch,
        None => CHUNK_TARGET_BYTES / step_bytes,
    };
    Ok(Some(wanted.clamp(1, most).min(steps)))
}
