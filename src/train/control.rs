//! The end-of-epoch decisions on the device ([`crate::kernels::control`]): the state they keep
//! from submission to submission, and the restore and best-weights copies they switch on.

use crate::error::Result;
use crate::gpu::{Batch, DType, Dispatch, Gpu, Staging, Tensor};
use crate::kernels::control::{
    copy_dispatches, decide_dispatch, ControlState, CopyWhen, Settings, CONTROL_WORDS,
};

pub(crate) struct EpochControl {
    state: Tensor,
    staging: Staging,
    decide: Dispatch,
    /// Snapshot → parameters and optimizer state after a divergence; parameters → best
    /// weights after an improvement.
    copies: Vec<Dispatch>,
    /// The state as the last submission left it.
    pub state_now: ControlState,
}

impl EpochControl {
    /// `snapshot[i]` restores `live[i]`, `best` keeps a copy of `live[0]`;
    /// `optimizer_flags` are the optimizer's `[non-finite, frozen]`.
    pub fn new(
        gpu: &Gpu,
        results: &Tensor,
        settings: &Settings,
        optimizer_flags: &Tensor,
        snapshot: &[Tensor],
        live: &[&Tensor],
        best: &Tensor,
    ) -> Result<Self> {
        let state = Tensor::zeros(gpu, &[CONTROL_WORDS], DType::U32)?;
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
        copies.extend(copy_dispatches(gpu, live[0], best, &state, CopyWhen::Keep)?);
        let decide = decide_dispatch(gpu, &state, results, optimizer_flags, settings)?;
        Ok(Self {
            staging: Staging::new(gpu, &state)?,
            state,
            decide,
            copies,
            state_now: ControlState::default(),
        })
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
