//! The results a submission leaves on the device — a row per epoch, laid out as
//! [`EpochRow`] says — and how the host reads them back: each epoch's record and status, up to
//! a stop, and the error of a divergence that ended the submission.

use super::history::EpochRecord;
use crate::error::{Error, Result};
use crate::gpu::{Batch, DType, Gpu, Staging, Tensor};
use crate::kernels::control::{
    ControlState, EpochRow, LOSS_GREW, NONFINITE_LOSS, NONFINITE_PARAMETER, OUT_OF_PATIENCE, RAN,
};

/// What one submission ran: each epoch's record with its status bits, and the error of a
/// divergence that ended it.
#[derive(Default)]
pub(super) struct Submission {
    pub epochs: Vec<(EpochRecord, u32)>,
    pub error: Option<Error>,
}

/// The rows of a submission's epochs on the device, and where they are read back.
pub(super) struct Results {
    pub tensor: Tensor,
    pub layout: EpochRow,
    staging: Staging,
}

impl Results {
    /// Room for `epochs` rows laid out as `layout`.
    pub fn new(gpu: &Gpu, layout: EpochRow, epochs: usize) -> Result<Self> {
        let tensor = Tensor::zeros(gpu, &[epochs * layout.stride()], DType::F32)?;
        Ok(Self {
            staging: Staging::new(gpu, &tensor)?,
            tensor,
            layout,
        })
    }

    /// Records the copy that [`Results::read_async`] reads.
    pub fn record_readback(&self, batch: &mut Batch) {
        self.staging.record_copy(batch, &self.tensor);
    }

    /// The values the submission left.
    pub async fn read_async(&self, gpu: &Gpu) -> Result<Vec<f32>> {
        self.staging.read_async::<f32>(gpu).await
    }

    /// The epochs that ran, from `first_epoch` on, up to a stop, read from `values`; `control`
    /// is the decision state as the submission left it, for a divergence's message.
    pub fn epochs(
        &self,
        values: &[f32],
        first_epoch: usize,
        has_validation: bool,
        control: &ControlState,
    ) -> Submission {
        let layout = &self.layout;
        let slot = |row: &[f32], at: u32| row[at as usize];
        let mut ran = Submission::default();
        for (k, row) in values.chunks(layout.stride()).enumerate() {
            let epoch = first_epoch + k;
            let losses = &row[..layout.steps as usize];
            let status = slot(row, layout.status) as u32;
            if status & RAN == 0 {
                break;
            }
            // Computed by the decision, so that the history holds the value it decided on.
            let train_loss = f64::from(slot(row, layout.train_loss));
            if status & (NONFINITE_LOSS | NONFINITE_PARAMETER | LOSS_GREW) != 0 {
                ran.error = Some(divergence(epoch, status, losses, train_loss, control));
                break;
            }
            let record = EpochRecord {
                epoch,
                train_loss,
                validation_loss: has_validation
                    .then(|| f64::from(slot(row, layout.validation_loss))),
                step_losses: losses.to_vec(),
            };
            ran.epochs.push((record, status));
            if status & OUT_OF_PATIENCE != 0 {
                break;
            }
        }
        ran
    }
}

/// The error for epoch `epoch`, which the device found diverged (`status`) and rolled back.
fn divergence(
    epoch: usize,
    status: u32,
    losses: &[f32],
    train_loss: f64,
    control: &ControlState,
) -> Error {
    let restored_epoch = epoch - 1;
    if status & LOSS_GREW != 0 {
        // As the decision had it: before any epoch is done, the first step's loss.
        let lowest = if control.trained == 0 {
            losses[0]
        } else {
            control.lowest
        };
        return Error::Diverged {
            epoch,
            loss: train_loss,
            lowest: f64::from(lowest),
            restored_epoch,
        };
    }
    // A non-finite loss names its step. Parameters made non-finite by an update show in the
    // next step's loss, except after the last step, which the optimizer's flag covers.
    let (what, step) = match losses.iter().position(|l| !l.is_finite()) {
        Some(step) => ("loss", step + 1),
        None => ("parameter after the update", losses.len()),
    };
    Error::NonFinite {
        what,
        epoch,
        step,
        restored_epoch,
    }
}
