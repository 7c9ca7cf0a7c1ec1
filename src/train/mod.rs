//! Mini-batch training on the GPU, many epochs per queue submission, with validation, early
//! stopping that restores the best weights, and a guard against non-finite losses — each
//! decided on the GPU at the end of every epoch.

mod config;
mod control;
mod device_data;
mod history;
mod schedule;
mod small;
mod stream;
mod validation;

pub use config::TrainConfig;
pub use history::{EpochRecord, History};
pub use schedule::LrSchedule;
pub(crate) use small::single_dispatch_fits;

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::gpu::{block_on, Batch, DType, Gpu, Launch, Staging, Tensor};
use crate::kernels::control::{
    ControlState, Settings, IMPROVED, LOSS_GREW, NONFINITE_LOSS, NONFINITE_PARAMETER,
    OUT_OF_PATIENCE, RAN,
};
use crate::nn::graph::{backward, forward_with_loss, LossPass};
use crate::nn::Mlp;
use crate::optim::{Optimizer, OptimizerConfig, ParamGroup};
use crate::rng::SeededRng;
use control::EpochControl;
use device_data::{DeviceSplit, EpochBatches};
use small::SmallEpoch;
use stream::{EpochParts, Stream};
use validation::{Validation, FIXED_SLOTS};

/// An epoch whose training loss exceeds this many times the lowest before it has diverged.
const DIVERGENCE_GROWTH: f32 = 1e4;

/// The most epochs one submission runs.
const MAX_EPOCHS_PER_SUBMISSION: usize = 32;
/// The most bytes the shuffled row orders of one submission's epochs may take.
const MAX_ORDER_BYTES: usize = 16 << 20;
/// What an automatically sized submission aims to take: long enough that submitting and
/// waiting cost little beside it, short enough that a progress bar still moves. (In a
/// browser, with no clock at hand here, automatic submissions hold one epoch.)
#[cfg(not(target_arch = "wasm32"))]
const SUBMISSION_TARGET_SECONDS: f64 = 0.025;

/// The row order of epoch `epoch` (1-based) for `n` rows: a shuffle seeded by `(seed, epoch)`,
/// so a resumed run sees the same batches as an uninterrupted one.
pub fn epoch_order(seed: u64, epoch: usize, n: usize) -> Vec<u32> {
    let mut order: Vec<u32> = (0..n as u32).collect();
    let mixed = seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    SeededRng::new(mixed).shuffle(&mut order);
    order
}

/// One training step's buffers and launches, for one batch size. The step's features and
/// targets are block views of the epoch's shuffled copy: recording picks the step's block.
struct StepGraph {
    pass: LossPass,
    backward: Launch,
}

impl StepGraph {
    fn new(gpu: &Gpu, model: &Mlp, batches: &EpochBatches, rows: usize) -> Result<Self> {
        let (xb, yb) = batches.blocks(gpu, rows)?;
        let pass = forward_with_loss(gpu, model, &xb, &yb)?;
        let backward = backward(gpu, model, &xb, &pass.forward, &pass.dlogits)?;
        Ok(Self { pass, backward })
    }

    /// Dispatches one step records (the optimizer's comes on top).
    fn dispatch_count(&self) -> usize {
        self.pass.forward.launch.dispatch_count()
            + self.pass.loss_launch.dispatch_count()
            + self.backward.dispatch_count()
    }
}

/// Where the training rows live.
enum TrainRows {
    /// On the device, uploaded once; each epoch's shuffled row order is written to `orders`
    /// (one order a submission's epoch, `order_block` elements apart) and applied there.
    Device {
        // Read by each epoch's shuffle (or the small-model kernel).
        split: DeviceSplit,
        orders: Tensor,
        order_block: usize,
    },
    /// On the host, uploaded a chunk of batches at a time, one epoch a submission.
    Host(Stream),
}

/// How an epoch's steps run.
#[allow(clippy::large_enum_variant)] // one per trainer: boxing would save nothing
enum Steps {
    /// The general path: the epoch's shuffle into batch blocks (or, streaming, each chunk's
    /// upload), then per step its dispatches (the full-batch graph, and one for a smaller last
    /// batch).
    General {
        batches: EpochBatches,
        full: StepGraph,
        tail: Option<StepGraph>,
    },
    /// The small-model path: the whole epoch in one dispatch.
    Single(SmallEpoch),
}

/// What one submission ran: each epoch's record with its status bits, and the error of a
/// divergence that ended it.
#[derive(Default)]
struct Submission {
    epochs: Vec<(EpochRecord, u32)>,
    error: Option<Error>,
}

/// Trains one [`Mlp`] with one optimizer on one training split.
///
/// The training data is uploaded once (or streamed, below). Epochs are recorded into one batch, several to a
/// submission (see [`TrainConfig::submission_epochs`]). Each epoch: a shuffle of the data into
/// mini-batch blocks on the GPU; for every step, forward, loss with its gradient, backward
/// (each reading the step's block through a dynamic offset), a copy of the step's loss, the
/// optimizer update; then the validation loss and the end-of-epoch decision — divergence
/// (restore the epoch's start), improvement (keep the weights), patience — made by a kernel,
/// which freezes the model for the rest of the submission after a stop (its updates are
/// skipped). The per-step losses and the decisions are read back once per submission.
///
/// A training split too large for one storage binding (or any, with
/// [`TrainConfig::chunk_rows`]) is not uploaded but streamed: each epoch, the host gathers a
/// chunk of batches in the epoch's order and uploads it, one submission a chunk, in place of
/// the shuffle on the GPU; see [`Trainer::chunk_steps`].
pub struct Trainer<'g> {
    gpu: &'g Gpu,
    model: Mlp,
    optimizer: Optimizer,
    config: TrainConfig,
    n_train: usize,
    rows: TrainRows,
    path: Steps,
    steps: usize,
    /// One row per epoch of a submission, `row_stride` elements apart: the per-step training
    /// losses, the validation loss, the optimizer's non-finite flag, the decision's status and
    /// the epoch's training loss, then (a validation split in chunks) each chunk's loss
    /// (`shaders/control.wgsl`).
    results: Tensor,
    row_stride: usize,
    /// Where each submission copies `results` for reading.
    results_staging: Staging,
    validation: Option<Validation>,
    control: EpochControl,
    /// The most epochs a submission can hold (the buffers above are sized for it).
    max_epochs: usize,
    /// Epochs the next automatically sized submission runs.
    auto_epochs: usize,
    /// Parameters and optimizer state at the start of the running epoch (for a rollback).
    snapshot: Vec<Tensor>,
    best_params: Tensor,
    history: History,
    dispatches_last_epoch: usize,
    /// The parameter groups as configured, before any schedule changed their rates.
    configured: Vec<ParamGroup>,
}

impl std::fmt::Debug for Trainer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trainer")
            .field("sizes", &self.model.sizes())
            .field("config", &self.config)
            .field("epochs_done", &self.history.epochs.len())
            .finish_non_exhaustive()
    }
}

impl<'g> Trainer<'g> {
    /// Prepares training `model` on `train` (and measuring `validation` each epoch) with one
    /// optimizer group holding every parameter.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a zero batch size or epoch count, patience without
    /// validation data, or data that does not fit the model; hyperparameter and device errors.
    pub fn new(
        gpu: &'g Gpu,
        model: Mlp,
        optimizer: impl Into<OptimizerConfig>,
        train: &Dataset,
        validation: Option<&Dataset>,
        config: TrainConfig,
    ) -> Result<Self> {
        let names = model.param_names();
        Self::with_groups(
            gpu,
            model,
            vec![ParamGroup::new(names, optimizer)],
            train,
            validation,
            config,
        )
    }

    /// As [`Trainer::new`], with parameter groups (e.g. no weight decay on biases).
    ///
    /// # Errors
    /// As [`Trainer::new`].
    pub fn with_groups(
        gpu: &'g Gpu,
        model: Mlp,
        groups: Vec<ParamGroup>,
        train: &Dataset,
        validation: Option<&Dataset>,
        config: TrainConfig,
    ) -> Result<Self> {
        let op = "Trainer::new";
        let invalid = |detail: &str| Error::InvalidArgument {
            op,
            detail: detail.to_string(),
        };
        config.validate()?;
        if config.patience.is_some() && validation.is_none() {
            return Err(invalid("early stopping (patience) needs validation data"));
        }
        let configured = groups.clone();
        let single_group = match &groups[..] {
            [only] if only.params.len() == model.params().slots().len() => Some(only.config),
            _ => None,
        };
        let optimizer = Optimizer::with_groups(gpu, model.params(), groups)?;
        let n = train.len();
        let batch = config.batch_size.min(n);
        let steps = n.div_ceil(batch);
        let align = gpu.binding_alignment();
        let chunk_steps =
            stream::chunk_steps(gpu, n, (train.n_features(), 1), batch, config.chunk_rows)?;
        let order_block = n.div_ceil(align) * align;
        let max_epochs = match chunk_steps {
            Some(_) => 1,
            None => (MAX_ORDER_BYTES / (4 * order_block)).clamp(1, MAX_EPOCHS_PER_SUBMISSION),
        };
        let validation = match validation {
            Some(data) => Some(Validation::new(gpu, &model, data)?),
            None => None,
        };
        let slots = steps + FIXED_SLOTS + validation.as_ref().map_or(0, Validation::extra_slots);
        let row_stride = slots.div_ceil(align) * align;
        let results = Tensor::zeros(gpu, &[max_epochs * row_stride], DType::F32)?;
        let flat = model.params().flat_len();
        let snapshot = std::iter::once(flat)
            .chain(optimizer.state_tensors().iter().map(Tensor::len))
            .map(|len| Tensor::zeros(gpu, &[len], DType::F32))
            .collect::<Result<Vec<_>>>()?;
        // Only the path that will run is built: its buffers and pipelines.
        let rows = match chunk_steps {
            Some(chunk_steps) => TrainRows::Host(Stream::new(&model, train, batch, chunk_steps)?),
            None => TrainRows::Device {
                split: DeviceSplit::upload(gpu, &model, train)?,
                orders: Tensor::zeros(gpu, &[max_epochs * order_block], DType::U32)?,
                order_block,
            },
        };
        let path = if config.single_dispatch_epochs {
            let Some(group) = single_group else {
                return Err(invalid(
                    "single-dispatch epochs take one optimizer group holding every parameter",
                ));
            };
            let TrainRows::Device { split, orders, .. } = &rows else {
                return Err(invalid(
                    "single-dispatch epochs need the whole training split on the device, and \
                     this one is streamed (it does not fit one storage binding, or chunk_rows \
                     is set)",
                ));
            };
            let small = SmallEpoch::new(
                gpu,
                &model,
                &optimizer,
                group,
                split,
                &orders.blocks(gpu, &[n], order_block)?,
                &results.blocks(gpu, &[row_stride], row_stride)?,
                batch,
                max_epochs,
            )?;
            Steps::Single(small)
        } else {
            let batches = match &rows {
                TrainRows::Device { split, orders, .. } => {
                    let order = orders.blocks(gpu, &[n], order_block)?;
                    EpochBatches::new(gpu, split, &order, batch)?
                }
                TrainRows::Host(stream) => EpochBatches::blocks_for(
                    gpu,
                    (train.n_features(), 1),
                    stream.target_dtype,
                    batch,
                    stream.chunk_steps,
                )?,
            };
            let full = StepGraph::new(gpu, &model, &batches, batch)?;
            let tail = match n % batch {
                0 => None,
                rest => Some(StepGraph::new(gpu, &model, &batches, rest)?),
            };
            Steps::General {
                batches,
                full,
                tail,
            }
        };
        let best_params = Tensor::zeros(gpu, &[flat], DType::F32)?;
        let live: Vec<&Tensor> = std::iter::once(model.params().values())
            .chain(optimizer.state_tensors())
            .collect();
        let dim = |n| crate::kernels::dim(op, n);
        let settings = Settings {
            steps: dim(steps)?,
            batch: dim(batch)?,
            rows: dim(n)?,
            patience: dim(config.patience.unwrap_or(0))?,
            has_validation: u32::from(validation.is_some()),
            row_stride: dim(row_stride)?,
            row_count: dim(max_epochs)?,
            growth: DIVERGENCE_GROWTH,
            min_delta: config.min_delta as f32,
            validation_chunks: dim(validation.as_ref().map_or(0, Validation::chunk_count))?,
            validation_chunk_rows: dim(validation.as_ref().map_or(0, |v| v.chunk_rows))?,
            validation_rows: dim(validation.as_ref().map_or(0, |v| v.rows))?,
        };
        let control = EpochControl::new(
            gpu,
            &results,
            &settings,
            optimizer.flags(),
            &snapshot,
            &live,
            &best_params,
        )?;
        Ok(Self {
            gpu,
            path,
            results_staging: Staging::new(gpu, &results)?,
            results,
            row_stride,
            best_params,
            model,
            optimizer,
            config,
            n_train: n,
            rows,
            steps,
            validation,
            control,
            max_epochs,
            auto_epochs: 1,
            snapshot,
            history: History::default(),
            dispatches_last_epoch: 0,
            configured,
        })
    }

    /// Dispatches one full training step records, the optimizer update included; with
    /// `single_dispatch_epochs`, 1: the whole epoch is one dispatch.
    pub fn dispatches_per_step(&self) -> usize {
        match &self.path {
            Steps::General { full, .. } => {
                full.dispatch_count() + self.optimizer.dispatches_per_step()
            }
            Steps::Single(_) => 1,
        }
    }

    /// Dispatches the last epoch recorded: every step, plus the validation pass (the
    /// end-of-epoch decision and the copies it may switch on come on top).
    pub fn dispatches_last_epoch(&self) -> usize {
        self.dispatches_last_epoch
    }

    /// Steps per epoch.
    pub fn steps_per_epoch(&self) -> usize {
        self.steps
    }

    /// Runs one epoch as one submission and returns its record.
    ///
    /// # Errors
    /// [`Error::NonFinite`] when a step's loss is NaN or infinite, or an update leaves a
    /// parameter so, and [`Error::Diverged`] when the training loss grows 10⁴-fold: the
    /// parameters and the optimizer state are then back where the epoch started. Device
    /// errors.
    pub fn run_epoch(&mut self) -> Result<EpochRecord> {
        block_on("Trainer::run_epoch", self.run_epoch_async())
    }

    /// Async variant of [`Trainer::run_epoch`], the one to call in a browser.
    ///
    /// # Errors
    /// As [`Trainer::run_epoch`].
    pub async fn run_epoch_async(&mut self) -> Result<EpochRecord> {
        let ran = self.run_submission(1).await?;
        for epoch in ran.epochs {
            self.accept(epoch);
        }
        match ran.error {
            Some(error) => Err(error),
            None => Ok(self.history.epochs.last().cloned().expect("the epoch ran")),
        }
    }

    /// Runs up to `epochs` epochs (at most the buffers' capacity) as one submission and
    /// returns those that ran: all of them, unless patience ran out first or training
    /// diverged (then also the error, with the state back at the diverged epoch's start).
    /// The caller adds them to the history with [`Trainer::accept`].
    async fn run_submission(&mut self, epochs: usize) -> Result<Submission> {
        let gpu = self.gpu;
        let epochs = epochs.clamp(1, self.max_epochs);
        let first_epoch = self.history.epochs.len() + 1;
        let step_before = self.optimizer.step_count();
        if let TrainRows::Device {
            orders,
            order_block,
            ..
        } = &self.rows
        {
            let orders_now: Vec<u32> = (0..epochs)
                .flat_map(|k| {
                    let mut order = epoch_order(self.config.seed, first_epoch + k, self.n_train);
                    order.resize(*order_block, 0);
                    order
                })
                .collect();
            orders
                .view(gpu, 0, &[orders_now.len()])?
                .write(gpu, &orders_now)?;
        }
        let mut batch = gpu.batch();
        // The small-model kernel sets the non-finite flag slot only when it must; the
        // optimizer is no longer frozen by a stop in the last submission.
        batch.clear(&self.results);
        batch.clear(self.optimizer.flags());
        for k in 0..epochs {
            self.record_epoch(&mut batch, k, first_epoch + k)?;
        }
        self.control.prepare(gpu)?;
        self.results_staging.record_copy(&mut batch, &self.results);
        self.control.record_readback(&mut batch);
        #[cfg(not(target_arch = "wasm32"))]
        let started = std::time::Instant::now();
        gpu.submit(batch)?;
        let results = self.results_staging.read_async::<f32>(gpu).await?;
        self.control.read_async(gpu).await?;
        #[cfg(not(target_arch = "wasm32"))]
        self.size_next_submission(started.elapsed().as_secs_f64() / epochs as f64);
        let ran = self.read_rows(first_epoch, &results);
        // A schedule's rate and the step count as the last epoch that ran left them.
        let count = ran.epochs.len();
        self.set_scheduled_lr(first_epoch + count.saturating_sub(1))?;
        self.optimizer
            .set_step_count(step_before + (count * self.steps) as u64);
        Ok(ran)
    }

    /// Adds an epoch that ran to the history.
    fn accept(&mut self, (record, status): (EpochRecord, u32)) {
        if status & IMPROVED != 0 {
            self.history.best_epoch = Some(record.epoch);
        }
        if status & OUT_OF_PATIENCE != 0 {
            self.history.stopped_early = true;
        }
        self.history.epochs.push(record);
    }

    /// Sizes automatic submissions so that one takes about [`SUBMISSION_TARGET_SECONDS`].
    #[cfg(not(target_arch = "wasm32"))]
    fn size_next_submission(&mut self, seconds_per_epoch: f64) {
        let epochs = SUBMISSION_TARGET_SECONDS / seconds_per_epoch.max(1e-6);
        self.auto_epochs = (epochs as usize).clamp(1, self.max_epochs);
    }

    /// A non-constant schedule's rate for `epoch` (1-based), set on every group. A constant
    /// schedule leaves the rate alone, so `Optimizer::set_lr` between epochs is a schedule of
    /// one's own.
    fn set_scheduled_lr(&mut self, epoch: usize) -> Result<()> {
        if self.config.lr_schedule != LrSchedule::Constant {
            for (group, base) in self.configured.iter().enumerate() {
                let lr = self.config.lr_schedule.lr(base.config.lr(), epoch - 1);
                self.optimizer.set_lr(group, lr)?;
            }
        }
        Ok(())
    }

    /// Records epoch `epoch` as the submission's `k`-th (0-based).
    fn record_epoch(&mut self, batch: &mut Batch, k: usize, epoch: usize) -> Result<()> {
        let gpu = self.gpu;
        self.set_scheduled_lr(epoch)?;
        let row = k * self.row_stride;
        self.record_snapshot(batch)?;
        batch.clear(self.optimizer.nonfinite_flag());
        let mut parts = EpochParts::new(batch);
        match &self.path {
            Steps::Single(small) => {
                small.record(gpu, &self.optimizer, batch, k)?;
                let step = self.optimizer.step_count();
                self.optimizer.set_step_count(step + self.steps as u64);
            }
            Steps::General {
                batches,
                full,
                tail,
            } => {
                if let Some(shuffle) = &batches.shuffle {
                    batch.record_dispatch_block(shuffle, k);
                }
                let stream = match &self.rows {
                    TrainRows::Host(stream) => {
                        Some((stream, epoch_order(self.config.seed, epoch, self.n_train)))
                    }
                    TrainRows::Device { .. } => None,
                };
                for s in 0..self.steps {
                    let graph = match tail {
                        Some(tail) if s + 1 == self.steps => tail,
                        _ => full,
                    };
                    let block = match &stream {
                        Some((stream, order)) => {
                            stream.chunk_block(gpu, batch, batches, order, s, &mut parts)?
                        }
                        None => s,
                    };
                    batch.record_block(&graph.pass.forward.launch, block);
                    batch.record_block(&graph.pass.loss_launch, block);
                    batch.record_block(&graph.backward, block);
                    batch.copy_range(&graph.pass.loss, 0, &self.results, row + s, 1)?;
                    self.optimizer.record_step(gpu, batch)?;
                }
                // The small-model kernel writes its own flag into the results.
                let flag = self.optimizer.nonfinite_flag();
                batch.copy_range(flag, 0, &self.results, row + self.steps + 1, 1)?;
            }
        }
        if let Some(v) = &self.validation {
            v.record(batch, &self.results, row, self.steps)?;
        }
        self.dispatches_last_epoch = parts.dispatches(batch);
        self.control.record(batch);
        Ok(())
    }

    /// Reads the submission's rows, epoch `first_epoch` first, up to a stop.
    fn read_rows(&self, first_epoch: usize, results: &[f32]) -> Submission {
        let mut ran = Submission::default();
        for (k, row) in results.chunks(self.row_stride).enumerate() {
            let epoch = first_epoch + k;
            let losses = &row[..self.steps];
            let status = row[self.steps + 2] as u32;
            if status & RAN == 0 {
                break;
            }
            // Computed by the decision, so that the history holds the value it decided on.
            let train_loss = f64::from(row[self.steps + 3]);
            if status & (NONFINITE_LOSS | NONFINITE_PARAMETER | LOSS_GREW) != 0 {
                ran.error = Some(self.divergence(epoch, status, losses, train_loss));
                break;
            }
            let record = EpochRecord {
                epoch,
                train_loss,
                validation_loss: self.validation.as_ref().map(|_| f64::from(row[self.steps])),
                step_losses: losses.to_vec(),
            };
            ran.epochs.push((record, status));
            if status & OUT_OF_PATIENCE != 0 {
                break;
            }
        }
        ran
    }

    /// The error for epoch `epoch`, which the device found diverged (`status`) and rolled back.
    fn divergence(&self, epoch: usize, status: u32, losses: &[f32], train_loss: f64) -> Error {
        let restored_epoch = epoch - 1;
        if status & LOSS_GREW != 0 {
            // As the decision had it: before any epoch is done, the first step's loss.
            let state = self.control.state_now;
            let lowest = if state.trained == 0 {
                losses[0]
            } else {
                state.lowest
            };
            return Error::Diverged {
                epoch,
                loss: train_loss,
                lowest: f64::from(lowest),
                restored_epoch,
            };
        }
        // A non-finite loss names its step. Parameters made non-finite by an update show in
        // the next step's loss, except after the last step, which the optimizer's flag covers.
        let (what, step) = match losses.iter().position(|l| !l.is_finite()) {
            Some(step) => ("loss", step + 1),
            None => ("parameter after the update", self.steps),
        };
        Error::NonFinite {
            what,
            epoch,
            step,
            restored_epoch,
        }
    }

    /// Trains for the configured epochs, or until early stopping, then restores the best
    /// weights if early stopping was on.
    ///
    /// # Errors
    /// As [`Trainer::run_epoch`].
    pub fn fit(&mut self) -> Result<&History> {
        self.fit_with(|_| Ok(()))
    }

    /// Async variant of [`Trainer::fit`], the one to call in a browser.
    ///
    /// # Errors
    /// As [`Trainer::run_epoch`].
    pub async fn fit_async(&mut self) -> Result<&History> {
        self.fit_with_async(|_| Ok(())).await
    }

    /// As [`Trainer::fit`], calling `after_epoch` once for every epoch, after the submission
    /// that ran it, with the history up to that epoch: to show progress, or to save a
    /// checkpoint every few epochs so a killed run can resume. The model then holds the
    /// weights of the submission's last epoch: to save every `c` epochs, set
    /// [`TrainConfig::submission_epochs`] to `Some(c)`, so that each c-th epoch ends a
    /// submission. When `after_epoch` fails, the history stops at that epoch and the model
    /// is as its submission's last epoch left it.
    ///
    /// # Errors
    /// As [`Trainer::run_epoch`], and whatever `after_epoch` returns.
    pub fn fit_with(
        &mut self,
        after_epoch: impl FnMut(&Trainer) -> Result<()>,
    ) -> Result<&History> {
        block_on("Trainer::fit_with", self.fit_with_async(after_epoch))?;
        Ok(&self.history)
    }

    /// Async variant of [`Trainer::fit_with`], the one to call in a browser (`after_epoch`
    /// is where a page draws its curves).
    ///
    /// # Errors
    /// As [`Trainer::fit_with`].
    pub async fn fit_with_async(
        &mut self,
        mut after_epoch: impl FnMut(&Trainer) -> Result<()>,
    ) -> Result<&History> {
        while self.history.epochs.len() < self.config.epochs && !self.history.stopped_early {
            let done = self.history.epochs.len();
            let epochs = match self.config.submission_epochs {
                Some(every) => every - done % every,
                None => self.auto_epochs,
            };
            let ran = self
                .run_submission(epochs.min(self.config.epochs - done))
                .await?;
            for epoch in ran.epochs {
                self.accept(epoch);
                after_epoch(self)?;
            }
            if let Some(error) = ran.error {
                return Err(error);
            }
        }
        if self.config.patience.is_some() {
            self.restore_best()?;
        }
        Ok(&self.history)
    }

    /// The epochs run so far, with the best validation epoch.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// The model being trained.
    pub fn model(&self) -> &Mlp {
        &self.model
    }

    /// Steps per uploaded chunk when the training split is streamed from the host (see
    /// [`TrainConfig::chunk_rows`]); `None` when the split was uploaded whole.
    pub fn chunk_steps(&self) -> Option<usize> {
        match &self.rows {
            TrainRows::Host(stream) => Some(stream.chunk_steps),
            TrainRows::Device { .. } => None,
        }
    }

    /// The training configuration.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// The parameter groups and their hyperparameters as configured (the rate before any
    /// schedule).
    pub fn param_groups(&self) -> &[ParamGroup] {
        &self.configured
    }

    /// The optimizer.
    pub fn optimizer(&self) -> &Optimizer {
        &self.optimizer
    }

    /// Mutable access to the optimizer, to restore its state when resuming.
    pub fn optimizer_mut(&mut self) -> &mut Optimizer {
        &mut self.optimizer
    }

    /// The best weights so far (flat, as the parameter buffer), if validation has found any.
    pub(crate) fn best_params(&self, gpu: &Gpu) -> Result<Option<Vec<f32>>> {
        match self.history.best_epoch {
            Some(_) => Ok(Some(self.best_params.to_vec(gpu)?)),
            None => Ok(None),
        }
    }

    /// Takes over an earlier run's history and best weights (when resuming from a
    /// checkpoint), so epochs, shuffles and early stopping continue where they were.
    pub(crate) fn resume(
        &mut self,
        gpu: &Gpu,
        history: History,
        best: Option<&[f32]>,
    ) -> Result<()> {
        if let Some(best) = best {
            self.best_params.write(gpu, best)?;
        }
        self.control.state_now = resumed_control(&history);
        self.history = history;
        Ok(())
    }

    /// Ends training and returns the model.
    pub fn into_model(self) -> Mlp {
        self.model
    }

    /// Records copies of the parameters and optimizer state, for a rollback.
    fn record_snapshot(&self, batch: &mut Batch) -> Result<()> {
        let params = self.model.params().values();
        let sources = std::iter::once(params).chain(self.optimizer.state_tensors());
        for (source, copy) in sources.zip(&self.snapshot) {
            batch.copy(source, copy)?;
        }
        Ok(())
    }

    fn restore_best(&mut self) -> Result<()> {
        if self.history.best_epoch.is_some() {
            let mut batch = self.gpu.batch();
            batch.copy(&self.best_params, self.model.params().values())?;
            self.gpu.submit(batch)?;
        }
        Ok(())
    }
}

/// The decision state of a run that has trained the epochs of `history`, as the device would
/// have left it: the best validation loss, the epochs since it, and the lowest training loss
/// (the untrained model's, the first step loss of epoch 1, included).
fn resumed_control(history: &History) -> ControlState {
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
