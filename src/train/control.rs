//! The end-of-epoch decisions on the device ([`crate::kernels::control`]): the state they keep
//! from submission to submission, the epoch's snapshot and the best weights, and the restore
//! and keep copies they switch on.

use super::history::History;
use super::path::TrainRows;
use super::validation::Validation;
use super::TrainConfig;
use crate::error::Result;
use crate::gpu::{Batch, DType, Dispatch, Gpu, Staging, Tensor};
use crate::kernels::control::{
    copy_dispatches, decide_dispatch, ControlState, CopyWhen, EpochRow, Settings, CONTROL_WORDS,
};
use crate::nn::Mlp;
use crate::optim::Optimizer;

/// An epoch whose training loss exceeds this many times the lowest before it has diverged.
pub(super) const DIVERGENCE_GROWTH: f32 = 1e4;

pub(crate) struct EpochControl {
    state: Tensor,
    staging: Staging,
    decide: Dispatch,
    /// Parameters and optimizer state at the start of the running epoch (for a rollback).
    snapshot: Vec<Tensor>,
    /// The parameters of the best validation epoch so far.
    best: Tensor,
    /// Snapshot → parameters and optimizer state after a divergence; parameters → best
    /// weights after an improvement.
    copies: Vec<Dispatch>,
    /// The state as the last submission left it.
    pub state_now: ControlState,
}

impl EpochControl {
    /// Decisions over `results`; a snapshot of each of `live` (the parameters first, then the
    /// optimizer's state) restores it after a divergence, and the best weights keep a copy of
    /// the parameters; `optimizer_flags` are the optimizer's `[non-finite, frozen]`.
    pub fn new(
        gpu: &Gpu,
        results: &Tensor,
        settings: &Settings,
        optimizer_flags: &Tensor,
        live: &[&Tensor],
    ) -> Result<Self> {
        let state = Tensor::zeros(gpu, &[CONTROL_WORDS], DType::U32)?;
        let zeros_like = |t: &Tensor| Tensor::zeros(gpu, &[t.len()], DType::F32);
        let snapshot = live
            .iter()
            .map(|t| zeros_like(t))
            .collect::<Result<Vec<_>>>()?;
        let best = zeros_like(live[0])?;
        let mut copies = Vec::new();
        for (copy, target) in snapshot.iter().zip(live) {
            copies.extend(copy_dispatches(
                gpu,
                copy,
                target,
                &state,
                CopyWhen::Restore,
            )?);
        }
        copies.extend(copy_dispatches(
            gpu,
            live[0],
            &best,
            &state,
            CopyWhen::Keep,
        )?);
        let decide = decide_dispatch(gpu, &state, results, optimizer_flags, settings)?;
        Ok(Self {
            staging: Staging::new(gpu, &state)?,
            state,
            decide,
            snapshot,
            best,
            copies,
            state_now: ControlState::default(),
        })
    }

    /// Records copies of `live` (as given to [`EpochControl::new`]) at an epoch's start.
    pub fn record_snapshot(&self, batch: &mut Batch, live: &[&Tensor]) -> Result<()> {
        for (source, copy) in live.iter().zip(&self.snapshot) {
            batch.copy(source, copy)?;
        }
        Ok(())
    }

    /// The best weights kept so far.
    pub fn best(&self) -> &Tensor {
        &self.best
    }

    /// Takes over the decision state of a run that trained the epochs of `history` and kept
    /// `best` as its best weights (when resuming from a checkpoint).
    pub fn resume(&mut self, gpu: &Gpu, history: &History, best: Option<&[f32]>) -> Result<()> {
        if let Some(best) = best {
            self.best.write(gpu, best)?;
        }
        self.state_now = resumed_state(history);
        Ok(())
    }

    /// Records the decision at the end of an epoch and the copies it may switch on.
    pub fn record(&self, batch: &mut Batch) {
        batch.record_at(&self.decide, &[]);
        for copy in &self.copies {
            batch.record_at(copy, &[]);
        }
    }

    /// Before a submission: the state to start from, running, at its first epoch.
    pub fn prepare(&self, gpu: &Gpu) -> Result<()> {
        let start = ControlState {
            running: 1,
            epoch: 0,
            ..self.state_now
        };
        self.state
            .write(gpu, bytemuck::cast_slice::<ControlState, u32>(&[start]))
    }

    /// Records the copy of the state for [`EpochControl::read_async`].
    pub fn record_readback(&self, batch: &mut Batch) {
        self.staging.record_copy(batch, &self.state);
    }

    /// Reads the state the submission left.
    pub async fn read_async(&mut self, gpu: &Gpu) -> Result<()> {
        let words = self.staging.read_async::<u32>(gpu).await?;
        self.state_now = bytemuck::pod_read_unaligned(bytemuck::cast_slice(&words));
        Ok(())
    }
}

/// The decision state of a run that has trained the epochs of `history`, as the device would
/// have left it: the best validation loss, the epochs since it, and the lowest training loss
/// (the untrained model's, the first step loss of epoch 1, included).
fn resumed_state(history: &History) -> ControlState {
    let first_step = history
        .epochs
        .first()
        .and_then(|e| e.step_losses.first().copied());
    let lowest = history
        .epochs
        .iter()
        .map(|e| e.train_loss as f32)
        .chain(first_step)
        .fold(f32::INFINITY, f32::min);
    let best = history.best();
    ControlState {
        epochs_without_improvement: match history.best_epoch {
            Some(best) => (history.epochs.len() - best) as u32,
            None => 0,
        },
        has_best: u32::from(best.is_some()),
        best: best.and_then(|b| b.validation_loss).unwrap_or(0.0) as f32,
        lowest,
        trained: u32::from(!history.epochs.is_empty()),
        ..ControlState::default()
    }
}

/// The tensors a rollback restores: the parameters first, then the optimizer's state.
pub(super) fn live_tensors<'a>(model: &'a Mlp, optimizer: &'a Optimizer) -> Vec<&'a Tensor> {
    std::iter::once(model.params().values())
        .chain(optimizer.state_tensors())
        .collect()
}

/// The decision kernel's settings for a run over `rows`, with results rows laid out as `row`.
pub(super) fn settings(
    rows: &TrainRows,
    row: &EpochRow,
    config: &TrainConfig,
    validation: Option<&Validation>,
    max_epochs: usize,
) -> Result<Settings> {
    let dim = |n| crate::kernels::dim("Trainer::new", n);
    Ok(Settings {
        row: *row,
        batch: dim(rows.batch)?,
        rows: dim(rows.n)?,
        patience: dim(config.patience.unwrap_or(0))?,
        has_validation: u32::from(validation.is_some()),
        row_count: dim(max_epochs)?,
        growth: DIVERGENCE_GROWTH,
        min_delta: config.min_delta as f32,
        validation_chunks: dim(validation.map_or(0, Validation::chunk_count))?,
        validation_chunk_rows: dim(validation.map_or(0, |v| v.chunk_rows))?,
        validation_rows: dim(validation.map_or(0, |v| v.rows))?,
    })
}
