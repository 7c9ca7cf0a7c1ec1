//! Mini-batch training on the GPU, one queue submission per epoch, with validation, early
//! stopping that restores the best weights, and a guard against non-finite losses.

mod config;
mod device_data;
mod history;
mod schedule;
mod small;

pub use config::TrainConfig;
pub use history::{EpochRecord, History};
pub use schedule::LrSchedule;

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::gpu::{block_on, Batch, DType, Gpu, Launch, Staging, Tensor};
use crate::kernels::loss::loss_launch;
use crate::nn::graph::{backward, forward, Forward};
use crate::nn::Mlp;
use crate::optim::{Optimizer, OptimizerConfig, ParamGroup};
use crate::rng::SeededRng;
use device_data::{DeviceSplit, EpochBatches};
use small::SmallEpoch;

/// An epoch whose training loss exceeds this many times the lowest before it has diverged.
const DIVERGENCE_GROWTH: f64 = 1e4;

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
    forward: Forward,
    loss: Tensor,
    loss_launch: Launch,
    backward: Launch,
}

impl StepGraph {
    fn new(gpu: &Gpu, model: &Mlp, batches: &EpochBatches, rows: usize) -> Result<Self> {
        let (xb, yb) = batches.blocks(gpu, rows)?;
        let forward = forward(gpu, model, &xb)?;
        let loss = Tensor::zeros(gpu, &[1], DType::F32)?;
        let dlogits = Tensor::zeros(gpu, forward.logits().shape(), DType::F32)?;
        let loss_launch = loss_launch(
            gpu,
            model.loss_kind(),
            forward.logits(),
            &yb,
            &loss,
            &dlogits,
        )?;
        let backward = backward(gpu, model, &xb, &forward, &dlogits)?;
        Ok(Self {
            forward,
            loss,
            loss_launch,
            backward,
        })
    }

    /// Dispatches one step records (the optimizer's comes on top).
    fn dispatch_count(&self) -> usize {
        self.forward.launch.dispatch_count()
            + self.loss_launch.dispatch_count()
            + self.backward.dispatch_count()
    }
}

/// How an epoch's steps run.
#[allow(clippy::large_enum_variant)] // one per trainer: boxing would save nothing
enum Steps {
    /// The general path: the epoch's shuffle into batch blocks, then per step its dispatches
    /// (the full-batch graph, and one for a smaller last batch).
    General {
        batches: EpochBatches,
        full: StepGraph,
        tail: Option<StepGraph>,
    },
    /// The small-model path: the whole epoch in one dispatch.
    Single(SmallEpoch),
}

/// The validation split on the device with its forward pass and loss.
struct Validation {
    forward: Forward,
    loss: Tensor,
    loss_launch: Launch,
}

/// Trains one [`Mlp`] with one optimizer on one training split.
///
/// The training data is uploaded once. Each epoch is recorded as a single batch and submitted
/// once: a shuffle of the data into mini-batch blocks on the GPU; for every step, forward, loss
/// with its gradient, backward (each reading the step's block through a dynamic offset), a
/// copy of the step's loss, the optimizer update; then the validation loss. The per-step losses
/// are read back once per epoch.
pub struct Trainer<'g> {
    gpu: &'g Gpu,
    model: Mlp,
    optimizer: Optimizer,
    config: TrainConfig,
    n_train: usize,
    batch_size: usize,
    order: Tensor,
    path: Steps,
    steps: usize,
    /// Per-step training losses, then the validation loss, then the optimizer's non-finite flag.
    results: Tensor,
    /// Where each epoch's submission copies `results` for reading.
    results_staging: Staging,
    validation: Option<Validation>,
    /// Parameters and optimizer state at the start of the running epoch (for a rollback).
    snapshot: Vec<Tensor>,
    best_params: Tensor,
    history: History,
    epochs_without_improvement: usize,
    dispatches_last_epoch: usize,
    /// The parameter groups as configured, before any schedule changed their rates.
    configured: Vec<ParamGroup>,
    // The uploaded training split, read by each epoch's shuffle.
    _train: DeviceSplit,
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
        let train_split = DeviceSplit::upload(gpu, &model, train)?;
        let n = train.len();
        let batch = config.batch_size.min(n);
        let steps = n.div_ceil(batch);
        let order = Tensor::zeros(gpu, &[n], DType::U32)?;
        let validation = match validation {
            Some(data) => {
                let split = DeviceSplit::upload(gpu, &model, data)?;
                let forward = forward(gpu, &model, &split.x)?;
                let loss = Tensor::zeros(gpu, &[1], DType::F32)?;
                let grad = Tensor::zeros(gpu, forward.logits().shape(), DType::F32)?;
                let loss_launch = loss_launch(
                    gpu,
                    model.loss_kind(),
                    forward.logits(),
                    &split.y,
                    &loss,
                    &grad,
                )?;
                Some(Validation {
                    forward,
                    loss,
                    loss_launch,
                })
            }
            None => None,
        };
        let flat = model.params().flat_len();
        let snapshot = std::iter::once(flat)
            .chain(optimizer.state_tensors().iter().map(Tensor::len))
            .map(|len| Tensor::zeros(gpu, &[len], DType::F32))
            .collect::<Result<Vec<_>>>()?;
        let results = Tensor::zeros(gpu, &[steps + 2], DType::F32)?;
        // Only the path that will run is built: its buffers and pipelines.
        let path = if config.single_dispatch_epochs {
            let Some(group) = single_group else {
                return Err(invalid(
                    "single-dispatch epochs take one optimizer group holding every parameter",
                ));
            };
            let small = SmallEpoch::new(
                gpu,
                &model,
                &optimizer,
                group,
                &train_split,
                &order,
                &results,
                batch,
            )?;
            Steps::Single(small)
        } else {
            let batches = EpochBatches::new(gpu, &train_split, &order, batch)?;
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
        Ok(Self {
            gpu,
            path,
            results_staging: Staging::new(gpu, &results)?,
            results,
            best_params: Tensor::zeros(gpu, &[flat], DType::F32)?,
            model,
            optimizer,
            config,
            n_train: n,
            batch_size: batch,
            order,
            steps,
            validation,
            snapshot,
            history: History::default(),
            epochs_without_improvement: 0,
            dispatches_last_epoch: 0,
            configured,
            _train: train_split,
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

    /// Dispatches the last epoch's submission held (every step, plus the validation pass).
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
    /// [`Error::NonFinite`] when a step's loss is NaN or infinite: the parameters and the
    /// optimizer state are then back where the epoch started. Device errors.
    pub fn run_epoch(&mut self) -> Result<EpochRecord> {
        block_on("Trainer::run_epoch", self.run_epoch_async())
    }

    /// Async variant of [`Trainer::run_epoch`], the one to call in a browser.
    ///
    /// # Errors
    /// As [`Trainer::run_epoch`].
    pub async fn run_epoch_async(&mut self) -> Result<EpochRecord> {
        let gpu = self.gpu;
        let epoch = self.history.epochs.len() + 1;
        // A constant schedule leaves the rate alone, so `Optimizer::set_lr` between epochs
        // is a schedule of one's own.
        if self.config.lr_schedule != LrSchedule::Constant {
            for (group, base) in self.configured.iter().enumerate() {
                let lr = self.config.lr_schedule.lr(base.config.lr(), epoch - 1);
                self.optimizer.set_lr(group, lr)?;
            }
        }
        self.order
            .write(gpu, &epoch_order(self.config.seed, epoch, self.n_train))?;
        let step_before = self.optimizer.step_count();

        let mut batch = gpu.batch();
        self.record_snapshot(&mut batch)?;
        batch.clear(self.optimizer.nonfinite_flag());
        match &self.path {
            Steps::Single(small) => {
                // The kernel sets the non-finite flag slot only when it must: start from zero.
                batch.clear(&self.results);
                small.record(gpu, &self.optimizer, &mut batch)?;
                self.optimizer
                    .set_step_count(step_before + self.steps as u64);
            }
            Steps::General {
                batches,
                full,
                tail,
            } => {
                batch.record_at(&batches.shuffle, &[]);
                for s in 0..self.steps {
                    let graph = match tail {
                        Some(tail) if s + 1 == self.steps => tail,
                        _ => full,
                    };
                    batch.record_block(&graph.forward.launch, s);
                    batch.record_block(&graph.loss_launch, s);
                    batch.record_block(&graph.backward, s);
                    batch.copy_range(&graph.loss, 0, &self.results, s, 1)?;
                    self.optimizer.record_step(gpu, &mut batch)?;
                }
                // The small-model kernel writes its own flag into the results.
                let flag = self.optimizer.nonfinite_flag();
                batch.copy_range(flag, 0, &self.results, self.steps + 1, 1)?;
            }
        }
        if let Some(v) = &self.validation {
            batch.record(&v.forward.launch);
            batch.record(&v.loss_launch);
            batch.copy_range(&v.loss, 0, &self.results, self.steps, 1)?;
        }
        self.results_staging.record_copy(&mut batch, &self.results);
        self.dispatches_last_epoch = batch.dispatch_count();
        gpu.submit(batch)?;
        let results = self.results_staging.read_async::<f32>(gpu).await?;
        self.finish_epoch(epoch, step_before, &results)
    }

    /// Checks the epoch's results for divergence and records the epoch.
    fn finish_epoch(
        &mut self,
        epoch: usize,
        step_before: u64,
        results: &[f32],
    ) -> Result<EpochRecord> {
        // A non-finite loss names its step. Parameters made non-finite by an update show in
        // the next step's loss, except after the last step, which the optimizer's flag covers.
        let diverged = match results[..self.steps].iter().position(|l| !l.is_finite()) {
            Some(step) => Some(("loss", step + 1)),
            None if results[self.steps + 1] != 0.0 => {
                Some(("parameter after the update", self.steps))
            }
            None => None,
        };
        if let Some((what, step)) = diverged {
            self.rollback(step_before)?;
            return Err(Error::NonFinite {
                what,
                epoch,
                step,
                restored_epoch: epoch - 1,
            });
        }
        let mut weighted = 0.0;
        for (s, &loss) in results[..self.steps].iter().enumerate() {
            let rows = self.batch_size.min(self.n_train - s * self.batch_size);
            weighted += f64::from(loss) * rows as f64;
        }
        let train_loss = weighted / self.n_train as f64;
        // The lowest loss so far: every earlier epoch's, and the untrained model's (the first
        // step's loss of epoch 1, when this trainer ran it).
        let initial = match self.history.epochs.first() {
            Some(first) => first.step_losses.first().copied(),
            None => results.first().copied(),
        };
        let lowest = self
            .history
            .epochs
            .iter()
            .map(|e| e.train_loss)
            .chain(initial.map(f64::from))
            .fold(f64::INFINITY, f64::min);
        if train_loss > DIVERGENCE_GROWTH * lowest {
            self.rollback(step_before)?;
            return Err(Error::Diverged {
                epoch,
                loss: train_loss,
                lowest,
                restored_epoch: epoch - 1,
            });
        }
        let record = EpochRecord {
            epoch,
            train_loss,
            validation_loss: self
                .validation
                .as_ref()
                .map(|_| f64::from(results[self.steps])),
            step_losses: results[..self.steps].to_vec(),
        };
        self.history.epochs.push(record.clone());
        self.track_best(&record)?;
        Ok(record)
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

    /// As [`Trainer::fit`], calling `after_epoch` after every epoch: to show progress, or to
    /// save a checkpoint every few epochs so a killed run can resume.
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
        while self.history.epochs.len() < self.config.epochs {
            self.run_epoch_async().await?;
            after_epoch(self)?;
            if self
                .config
                .patience
                .is_some_and(|p| self.epochs_without_improvement >= p)
            {
                self.history.stopped_early = true;
                break;
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
        self.epochs_without_improvement = match history.best_epoch {
            Some(best) => history.epochs.len().saturating_sub(best),
            None => 0,
        };
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

    fn rollback(&mut self, step_before: u64) -> Result<()> {
        let mut batch = self.gpu.batch();
        let params = self.model.params().values();
        let targets = std::iter::once(params).chain(self.optimizer.state_tensors());
        for (copy, target) in self.snapshot.iter().zip(targets) {
            batch.copy(copy, target)?;
        }
        self.gpu.submit(batch)?;
        self.optimizer.set_step_count(step_before);
        self.gpu.wait()
    }

    fn track_best(&mut self, record: &EpochRecord) -> Result<()> {
        let Some(loss) = record.validation_loss else {
            return Ok(());
        };
        let improved = match self.history.best() {
            Some(best) => {
                loss < best.validation_loss.unwrap_or(f64::INFINITY) - self.config.min_delta
            }
            None => true,
        };
        if improved {
            self.history.best_epoch = Some(record.epoch);
            self.epochs_without_improvement = 0;
            let mut batch = self.gpu.batch();
            batch.copy(self.model.params().values(), &self.best_params)?;
            self.gpu.submit(batch)?;
        } else {
            self.epochs_without_improvement += 1;
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
