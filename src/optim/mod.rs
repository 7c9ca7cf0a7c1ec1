//! Optimizers — SGD (momentum, dampening, Nesterov), Adam (AMSGrad), AdamW — as one fused
//! update over flat parameter storage, with L1 and L2 regularization in the same pass.
//!
//! The algorithms are PyTorch's `torch.optim` ones, step for step, with the same names and
//! defaults; L1 (`λ₁·sign(θ)` added to the gradient) is ours. The formulas are in
//! `shaders/formulas.wgsl` (the update kernel, `shaders/optim.wgsl`, walks the flat buffers with
//! them), and [`crate::reference::optim`] has them as plain loops.
//!
//! ```no_run
//! use wgsl_train::optim::{AdamConfig, Optimizer, ParamStore};
//! # fn main() -> wgsl_train::Result<()> {
//! let gpu = wgsl_train::Gpu::new()?;
//! let params = ParamStore::new(&gpu, &[("0.weight", &[5, 10]), ("0.bias", &[5])])?;
//! let mut adam = Optimizer::new(&gpu, &params, AdamConfig { lr: 1e-2, ..Default::default() })?;
//! // ... write gradients into params.grads() (the backward pass does) ...
//! adam.step(&gpu)?;
//! # Ok(()) }
//! ```

mod config;
mod params;
mod schedule;

pub(crate) use config::clip_grad_norm_problem;
pub use config::{AdamConfig, OptimizerConfig, ParamGroup, SgdConfig};
pub use params::{ParamId, ParamSlot, ParamStore};
pub use schedule::LrSchedule;

/// The most parameter groups one optimizer can have.
pub use crate::kernels::optim::MAX_GROUPS;

use crate::error::{Error, Result};
use crate::gpu::{Batch, DType, Dispatch, Gpu, Tensor};
use crate::kernels::optim::{
    norm_dispatch, norm_sums, step_stride, update_dispatches, GroupParams, StepParams,
    UpdateBuffers, UpdateKernel, NORM_SUMS,
};

/// An optimizer's state, for checkpoints: the step count and each flat state tensor by its
/// PyTorch name (`momentum_buffer`; `exp_avg`, `exp_avg_sq`, `max_exp_avg_sq`), laid out as
/// the flat parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct OptimizerState {
    /// Steps taken so far.
    pub step: u64,
    /// `(name, values)` of each state tensor.
    pub tensors: Vec<(String, Vec<f32>)>,
}

/// A fused optimizer over one [`ParamStore`]: every parameter of every group is updated by one
/// dispatch per step (one per chunk if the parameters exceed the largest storage binding).
pub struct Optimizer {
    kernel: UpdateKernel,
    /// The groups as configured: their rates are a schedule's base rates.
    configured: Vec<ParamGroup>,
    /// Each group's hyperparameters now (the rate as the schedule or `set_lr` left it).
    groups: Vec<OptimizerConfig>,
    schedule: LrSchedule,
    /// Steps taken so far: `t` of the next step is one more.
    step: u64,
    state_names: &'static [&'static str],
    state: Vec<Tensor>,
    // Kept so the dispatches can be rebuilt when the step table grows.
    values: Tensor,
    grads: Tensor,
    segments: Tensor,
    segment_count: usize,
    group_table: Tensor,
    /// `[non-finite update, frozen, clip_grad_norm_'s sums…]`: see
    /// [`Optimizer::nonfinite_flag`] and [`Optimizer::flags`].
    flags: Tensor,
    /// clip_grad_norm_'s max_norm, and the dispatch that sums the squared gradients.
    max_norm: Option<f64>,
    norm: Option<Dispatch>,
    /// A view of `flags[0]`.
    nonfinite: Tensor,
    step_table: wgpu::Buffer,
    table_capacity: usize,
    dispatches: Vec<Dispatch>,
    /// The batch being recorded into and how many steps it holds.
    open_batch: Option<(u64, usize)>,
}

impl std::fmt::Debug for Optimizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Optimizer")
            .field("groups", &self.groups)
            .field("step", &self.step)
            .finish_non_exhaustive()
    }
}

impl Optimizer {
    /// An optimizer with one group holding every parameter of `params`.
    ///
    /// # Errors
    /// [`Error::InvalidHyperparameter`] for a value out of range.
    pub fn new(gpu: &Gpu, params: &ParamStore, config: impl Into<OptimizerConfig>) -> Result<Self> {
        let names = params.slots().iter().map(|s| s.name.clone()).collect();
        Self::with_groups(gpu, params, vec![ParamGroup::new(names, config)])
    }

    /// An optimizer with parameter groups, each with its own hyperparameters (PyTorch's
    /// `param_groups`), still updated in one dispatch. Parameters in no group are not updated.
    ///
    /// # Errors
    /// [`Error::InvalidHyperparameter`] for a value out of range; [`Error::InvalidArgument`]
    /// for an unknown or repeated parameter, no groups, more than 16 groups, or SGD and Adam
    /// groups mixed.
    pub fn with_groups(gpu: &Gpu, params: &ParamStore, groups: Vec<ParamGroup>) -> Result<Self> {
        let op = "Optimizer";
        let first = groups.first().ok_or_else(|| Error::InvalidArgument {
            op,
            detail: "an optimizer needs at least one parameter group".into(),
        })?;
        if groups.len() > MAX_GROUPS {
            return Err(Error::InvalidArgument {
                op,
                detail: format!(
                    "{} parameter groups; at most {MAX_GROUPS} are supported",
                    groups.len()
                ),
            });
        }
        let kernel = first.config.kernel();
        let mut owner = vec![None; params.slots().len()];
        for (g, group) in groups.iter().enumerate() {
            group.config.validate()?;
            if group.config.kernel() != kernel {
                return Err(Error::InvalidArgument {
                    op,
                    detail: "all parameter groups must use the same optimizer (SGD or Adam)".into(),
                });
            }
            for name in &group.params {
                let index = params.index(name)?;
                if owner[index].replace(g).is_some() {
                    return Err(Error::InvalidArgument {
                        op,
                        detail: format!("parameter {name:?} appears in more than one group"),
                    });
                }
            }
        }

        let segments: Vec<[u32; 4]> = params
            .slots()
            .iter()
            .zip(&owner)
            .filter_map(|(slot, group)| {
                let group = (*group)?;
                Some([
                    slot.offset as u32,
                    (slot.offset + slot.len()) as u32,
                    group as u32,
                    0,
                ])
            })
            .collect();
        // An empty table would be an empty buffer: keep one entry matching no element.
        let segment_count = segments.len();
        let table = if segments.is_empty() {
            vec![[0u32; 4]]
        } else {
            segments
        };
        let segments = Tensor::from_slice(
            gpu,
            &[table.len(), 4],
            bytemuck::cast_slice::<_, u32>(&table),
        )?;
        let group_params: Vec<GroupParams> =
            groups.iter().map(|g| g.config.group_params()).collect();
        let group_table = Tensor::from_slice(
            gpu,
            &[group_params.len() * std::mem::size_of::<GroupParams>() / 4],
            bytemuck::cast_slice::<_, u32>(&group_params),
        )?;

        let flat = params.flat_len();
        let (state_names, amsgrad): (&'static [&'static str], bool) = match kernel {
            UpdateKernel::Sgd => (&["momentum_buffer"], false),
            UpdateKernel::Adam => (
                &["exp_avg", "exp_avg_sq", "max_exp_avg_sq"],
                groups
                    .iter()
                    .any(|g| matches!(g.config, OptimizerConfig::Adam(a) if a.amsgrad)),
            ),
        };
        let state = state_names
            .iter()
            .map(|&name| {
                // Max v is only allocated when some group uses AMSGrad (else one vec4).
                let len = if name == "max_exp_avg_sq" && !amsgrad {
                    4
                } else {
                    flat
                };
                Tensor::zeros(gpu, &[len], DType::F32)
            })
            .collect::<Result<Vec<_>>>()?;

        let flags = Tensor::zeros(gpu, &[NORM_SUMS + norm_sums(flat)], DType::F32)?;
        let mut optimizer = Self {
            kernel,
            groups: groups.iter().map(|g| g.config).collect(),
            configured: groups,
            schedule: LrSchedule::Constant,
            step: 0,
            state_names,
            state,
            values: params.values().view(gpu, 0, &[flat])?,
            grads: params.grads().view(gpu, 0, &[flat])?,
            segments,
            segment_count,
            group_table,
            nonfinite: flags.view(gpu, 0, &[1])?,
            flags,
            max_norm: None,
            norm: None,
            step_table: step_table(gpu, 1)?,
            table_capacity: 1,
            dispatches: Vec::new(),
            open_batch: None,
        };
        optimizer.build_dispatches(gpu)?;
        Ok(optimizer)
    }

    fn build_dispatches(&mut self, gpu: &Gpu) -> Result<()> {
        let state: Vec<&Tensor> = self.state.iter().collect();
        let buffers = UpdateBuffers {
            values: &self.values,
            grads: &self.grads,
            state: &state,
            segments: &self.segments,
            segment_count: self.segment_count,
            groups: &self.group_table,
            flags: &self.flags,
            step_table: &self.step_table,
            max_norm: self.max_norm,
        };
        self.norm = match self.max_norm {
            Some(_) => Some(norm_dispatch(gpu, &buffers)?),
            None => None,
        };
        self.dispatches = update_dispatches(gpu, self.kernel, &buffers)?;
        Ok(())
    }

    /// Clips the gradients as `torch.nn.utils.clip_grad_norm_(params, max_norm)` does before
    /// each step (norm type 2, over every parameter of every group): scaled by
    /// `min(max_norm / (‖g‖ + 1e-6), 1)`, the norm computed on the GPU in the step's own
    /// submission, before the update; `None` (default) does not clip. A group's L1 term is
    /// part of the gradient it measures and scales, as it is of PyTorch's `.grad` when L1 is
    /// added to the loss.
    ///
    /// ```no_run
    /// # use wgsl_train::{Gpu, optim::{Optimizer, ParamStore, SgdConfig}};
    /// # fn main() -> wgsl_train::Result<()> {
    /// let gpu = Gpu::new()?;
    /// let params = ParamStore::new(&gpu, &[("w", &[3][..])])?;
    /// let mut optimizer = Optimizer::new(&gpu, &params, SgdConfig::default())?;
    /// optimizer.set_clip_grad_norm(&gpu, Some(1.0))?;
    /// assert_eq!(optimizer.clip_grad_norm(), Some(1.0));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a max_norm that is not finite and > 0, or parameters
    /// beyond one storage binding. Nothing changes.
    pub fn set_clip_grad_norm(&mut self, gpu: &Gpu, max_norm: Option<f64>) -> Result<()> {
        let invalid = |detail: String| Error::InvalidArgument {
            op: "clip_grad_norm",
            detail,
        };
        if let Some(problem) = max_norm.and_then(config::clip_grad_norm_problem) {
            return Err(invalid(problem));
        }
        let before = self.max_norm;
        self.max_norm = max_norm;
        if let Err(e) = self.build_dispatches(gpu) {
            self.max_norm = before;
            self.build_dispatches(gpu)?;
            return Err(e);
        }
        Ok(())
    }

    /// clip_grad_norm_'s max_norm, if the gradients are clipped.
    pub fn clip_grad_norm(&self) -> Option<f64> {
        self.max_norm
    }

    /// Records one optimizer step into `batch`, after whatever computed the gradients.
    /// Several steps may be recorded into one batch (with forward and backward passes between
    /// them): each gets its own entry of the per-step table, written before the submission.
    /// Submit a batch before recording this optimizer's steps into another: the table's
    /// entries are reused by the next batch.
    ///
    /// # Errors
    /// Only when the step table must grow and the device refuses the allocation.
    pub fn record_step(&mut self, gpu: &Gpu, batch: &mut Batch) -> Result<()> {
        let slot = match self.open_batch {
            Some((id, used)) if id == batch.id() => used,
            _ => 0,
        };
        if slot >= self.table_capacity {
            // Earlier steps of this batch keep the old table alive through their bind groups.
            self.table_capacity = (slot + 1).next_power_of_two();
            self.step_table = step_table(gpu, self.table_capacity)?;
            self.build_dispatches(gpu)?;
        }
        let stride = step_stride(gpu);
        let offset = slot as u64 * stride;
        let params = self.next_step();
        gpu.queue()
            .write_buffer(&self.step_table, offset, bytemuck::bytes_of(&params));
        if let Some(norm) = &self.norm {
            batch.record_at(norm, &[]);
        }
        for dispatch in &self.dispatches {
            batch.record_at(dispatch, &[offset as u32]);
        }
        self.open_batch = Some((batch.id(), slot + 1));
        Ok(())
    }

    /// Takes one step now: records it in a batch of its own and submits it.
    ///
    /// # Errors
    /// As [`Gpu::submit`].
    pub fn step(&mut self, gpu: &Gpu) -> Result<()> {
        let mut batch = gpu.batch();
        self.record_step(gpu, &mut batch)?;
        gpu.submit(batch)
    }

    /// Counts the next step and returns its per-group values, computed in f64 on the host:
    /// every path that updates parameters takes its steps here.
    fn next_step(&mut self) -> StepParams {
        self.step += 1;
        let mut params = StepParams {
            groups: [[0.0; 4]; MAX_GROUPS],
        };
        for (entry, config) in params.groups.iter_mut().zip(&self.groups) {
            *entry = config.step_vector(self.step);
        }
        params
    }

    /// Counts the next `steps` steps of an optimizer with one group and returns their values,
    /// one [`StepVector`](crate::kernels::optim::StepVector) after another, for a kernel that
    /// runs them itself (the small-model kernel).
    pub(crate) fn next_steps_of_one_group(&mut self, steps: usize) -> Vec<f32> {
        (0..steps)
            .flat_map(|_| self.next_step().groups[0])
            .collect()
    }

    /// The learning rate of group `group` (0 for an optimizer made by [`Optimizer::new`]).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when there is no such group.
    pub fn lr(&self, group: usize) -> Result<f64> {
        Ok(self.group(group)?.lr())
    }

    /// Sets the learning rate of group `group` for the steps recorded from now on (a schedule
    /// of one's own, between epochs, with [`LrSchedule::Constant`]); the rest of the state is
    /// untouched.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when there is no such group;
    /// [`Error::InvalidHyperparameter`] for a negative or non-finite rate (nothing changes).
    pub fn set_lr(&mut self, group: usize, lr: f64) -> Result<()> {
        let mut config = *self.group(group)?;
        config.set_lr(lr);
        config.validate()?;
        self.groups[group] = config;
        Ok(())
    }

    fn group(&self, group: usize) -> Result<&OptimizerConfig> {
        self.groups
            .get(group)
            .ok_or_else(|| Error::InvalidArgument {
                op: "Optimizer",
                detail: format!(
                    "no parameter group {group}; the optimizer has {}",
                    self.groups.len()
                ),
            })
    }

    /// Steps taken so far.
    pub fn step_count(&self) -> u64 {
        self.step
    }

    /// Sets the learning-rate schedule that [`Optimizer::begin_epoch`] follows, from each
    /// group's configured rate (default [`LrSchedule::Constant`]: the rate stays as configured
    /// or as [`Optimizer::set_lr`] sets it).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming a schedule value out of range (nothing changes).
    pub fn set_schedule(&mut self, schedule: LrSchedule) -> Result<()> {
        schedule.validate()?;
        self.schedule = schedule;
        Ok(())
    }

    /// The schedule the rates follow.
    pub fn schedule(&self) -> LrSchedule {
        self.schedule
    }

    /// Sets every group's rate for epoch `epoch` (1-based) as the schedule says; a constant
    /// schedule leaves the rates alone.
    ///
    /// # Errors
    /// [`Error::InvalidHyperparameter`] when the schedule gives a rate out of range.
    pub fn begin_epoch(&mut self, epoch: usize) -> Result<()> {
        if self.schedule != LrSchedule::Constant {
            for group in 0..self.groups.len() {
                let base = self.configured[group].config.lr();
                self.set_lr(group, self.schedule.lr(base, epoch.saturating_sub(1)))?;
            }
        }
        Ok(())
    }

    /// Goes back to `step` steps taken, in epoch `epoch`: the steps recorded since did not
    /// count (a stop froze them, or a divergence rolled them back and the state on the device
    /// is as it was).
    ///
    /// # Errors
    /// As [`Optimizer::begin_epoch`].
    pub(crate) fn rewind(&mut self, step: u64, epoch: usize) -> Result<()> {
        self.step = step;
        self.begin_epoch(epoch)
    }

    /// The parameter groups as configured (a schedule's base rates).
    pub fn param_groups(&self) -> &[ParamGroup] {
        &self.configured
    }

    /// The hyperparameters of each group, in order.
    pub fn groups(&self) -> &[OptimizerConfig] {
        &self.groups
    }

    /// How many dispatches one step records: 1, or one per chunk for parameters larger than
    /// the device's largest storage binding; one more to clip the gradients' norm.
    pub fn dispatches_per_step(&self) -> usize {
        self.dispatches.len() + usize::from(self.norm.is_some())
    }

    /// One f32 that an update sets to 1 when it leaves a parameter NaN or infinite; it stays
    /// set until cleared (the trainer clears it every epoch).
    pub fn nonfinite_flag(&self) -> &Tensor {
        &self.nonfinite
    }

    /// `[non-finite update, frozen]`: while the second is nonzero, steps change nothing (the
    /// trainer's decisions on the device freeze the model after a stop).
    pub(crate) fn flags(&self) -> &Tensor {
        &self.flags
    }

    /// The flat state tensors, in the order of their names.
    pub(crate) fn state_tensors(&self) -> &[Tensor] {
        &self.state
    }

    /// The flat state tensor called `name` (see [`OptimizerState`]).
    pub fn state_tensor(&self, name: &str) -> Option<&Tensor> {
        self.state_names
            .iter()
            .position(|n| *n == name)
            .map(|i| &self.state[i])
    }

    /// Downloads the step count and every state tensor.
    ///
    /// # Errors
    /// As [`Tensor::to_vec`].
    pub fn state(&self, gpu: &Gpu) -> Result<OptimizerState> {
        let tensors = self
            .state_names
            .iter()
            .zip(&self.state)
            .map(|(name, t)| Ok((name.to_string(), t.to_vec::<f32>(gpu)?)))
            .collect::<Result<_>>()?;
        Ok(OptimizerState {
            step: self.step,
            tensors,
        })
    }

    /// Restores a state saved by [`Optimizer::state`], so that training continues exactly
    /// as if it had not stopped.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the names or lengths do not match this optimizer; in
    /// that case nothing is changed.
    pub fn load_state(&mut self, gpu: &Gpu, state: &OptimizerState) -> Result<()> {
        let names: Vec<&str> = state.tensors.iter().map(|(n, _)| n.as_str()).collect();
        if names != self.state_names {
            return Err(Error::InvalidArgument {
                op: "Optimizer::load_state",
                detail: format!(
                    "expected state tensors {:?}, got {names:?}",
                    self.state_names
                ),
            });
        }
        for ((name, values), tensor) in state.tensors.iter().zip(&self.state) {
            if values.len() != tensor.len() {
                return Err(Error::InvalidArgument {
                    op: "Optimizer::load_state",
                    detail: format!(
                        "state {name:?} has {} values, expected {}",
                        values.len(),
                        tensor.len()
                    ),
                });
            }
        }
        for ((_, values), tensor) in state.tensors.iter().zip(&self.state) {
            tensor.write(gpu, values)?;
        }
        self.step = state.step;
        Ok(())
    }
}

fn step_table(gpu: &Gpu, entries: usize) -> Result<wgpu::Buffer> {
    let size = step_stride(gpu) * entries as u64;
    gpu.scoped("optimizer step table", || {
        gpu.device().create_buffer(&wgpu::BufferDescriptor {
            label: Some("optimizer steps"),
            size,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    })
}
