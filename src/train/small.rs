//! The trainer's small-model path: a whole epoch as one dispatch
//! ([`crate::kernels::small_mlp`]).

use super::device_data::DeviceSplit;
use crate::error::{Error, Result};
use crate::gpu::{Batch, DType, Dispatch, Gpu, Tensor};
use crate::kernels::control::EpochRow;
use crate::kernels::optim::state_spares;
use crate::kernels::small_mlp::{epoch_dispatch, SmallModel};
use crate::nn::Mlp;
use crate::optim::{Optimizer, OptimizerConfig};

/// The prepared single-dispatch epoch and its per-step optimizer values.
pub(crate) struct SmallEpoch {
    dispatch: Dispatch,
    /// `[step size, √(1 − β₂ᵗ), first step, 1 − lr·λ₂]` per step and the step count before
    /// them, one block per epoch of a submission, written as each epoch is recorded.
    step_values: Tensor,
    block: usize,
    steps: usize,
    /// clip_grad_norm_'s max_norm the kernel was built with.
    max_norm: Option<f64>,
}

impl SmallEpoch {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        gpu: &Gpu,
        model: &Mlp,
        optimizer: &Optimizer,
        config: OptimizerConfig,
        train: &DeviceSplit,
        order: &Tensor,
        results: &Tensor,
        row: EpochRow,
        (batch, seed): (usize, u64),
        epochs: usize,
    ) -> Result<Self> {
        let params = model.params();
        let offsets = model
            .linears()
            .iter()
            .map(|l| (params.slot(l.weight).offset, params.slot(l.bias).offset))
            .collect();
        let rows = train.x.shape()[0];
        let max_norm = optimizer.clip_grad_norm();
        let small = SmallModel {
            sizes: model.sizes(),
            activations: model.activations(),
            dropout: (model.dropout(), seed),
            offsets,
            loss: model.loss_kind(),
            loss_weights: model.loss_weights(),
            optimizer: (config.kernel(), config.group_params()),
            max_norm,
            rows,
            batch,
            row,
        };
        let state = optimizer.state_tensors();
        let spares = state_spares(gpu, state.len())?;
        let mut all = state.iter().chain(&spares);
        let state = [(); 3].map(|_| all.next().expect("three state tensors with the spares"));
        let steps = rows.div_ceil(batch);
        // The steps' vectors, then the run's step before the epoch.
        let block = (steps * 4 + 4).div_ceil(gpu.binding_alignment()) * gpu.binding_alignment();
        let step_values = Tensor::zeros(gpu, &[epochs * block], DType::F32)?;
        let values = params.values();
        let dispatch = epoch_dispatch(
            gpu,
            &small,
            &train.x,
            &train.y,
            order,
            &step_values.blocks(gpu, &[steps * 4 + 4], block)?,
            values,
            state,
            results,
        )
        .map_err(|e| match e {
            Error::InvalidArgument { detail, .. } => Error::InvalidArgument {
                op: "Trainer::new",
                detail: format!("single-dispatch epochs do not fit this model: {detail}"),
            },
            other => other,
        })?;
        Ok(Self {
            dispatch,
            step_values,
            block,
            steps,
            max_norm,
        })
    }

    /// Records the submission's epoch number `k`: the optimizer's next `steps` steps (taken
    /// from it, as the general path's updates take theirs) and the step count before them
    /// (Dropout's masks are keyed by the step), and the one dispatch, bound to the epoch's
    /// blocks.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`], before anything is taken, when the optimizer's
    /// clip_grad_norm is no longer the one the kernel was built with (the general path reads
    /// it each step; this kernel holds it).
    pub fn record(
        &self,
        gpu: &Gpu,
        optimizer: &mut Optimizer,
        batch: &mut Batch,
        k: usize,
    ) -> Result<()> {
        if optimizer.clip_grad_norm() != self.max_norm {
            return Err(Error::InvalidArgument {
                op: "Trainer::run_epoch",
                detail: format!(
                    "the optimizer's clip_grad_norm is {:?}, but this trainer's one-dispatch \
                     epochs were built with {:?}: set TrainConfig::clip_grad_norm instead",
                    optimizer.clip_grad_norm(),
                    self.max_norm
                ),
            });
        }
        let first_step = optimizer.step_count() as u32;
        let mut values = optimizer.next_steps_of_one_group(self.steps);
        values.push(f32::from_bits(first_step));
        values.resize(self.block, 0.0);
        self.step_values
            .view(gpu, k * self.block, &[self.block])?
            .write(gpu, &values)?;
        batch.record_dispatch_block(&self.dispatch, k);
        Ok(())
    }
}
