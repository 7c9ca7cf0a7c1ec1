//! Mini-batch training on the GPU, many epochs per queue submission, with validation, early
//! stopping that restores the best weights, and a guard against non-finite losses — each
//! decided on the GPU at the end of every epoch.

mod config;
mod control;
mod device_data;
mod grid;
mod history;
mod path;
mod results;
mod small;
mod stream;
mod submission;
mod validation;

/// The schedules, where they have always been found (they belong to the optimizer).
pub use crate::optim::LrSchedule;
pub use config::{SingleDispatch, TrainConfig};
pub use grid::{
    Divergence, GridConfig, GridModel, GridResult, KernelForm, ModelGrid, GRID_MAX_PARAMS,
};
pub use history::{EpochRecord, History};

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::gpu::{block_on, Gpu};
use crate::kernels::control::{EpochRow, IMPROVED, OUT_OF_PATIENCE};
use crate::nn::Mlp;
use crate::optim::{Optimizer, OptimizerConfig, ParamGroup};
use control::{live_tensors, settings, EpochControl};
pub use path::epoch_order;
use path::{EpochAt, EpochPath, TrainRows};
use results::{Results, Submission};
use stream::EpochParts;
use submission::SubmissionSize;
use validation::Validation;

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
    // What is trained, and how.
    model: Mlp,
    optimizer: Optimizer,
    config: TrainConfig,
    // How an epoch runs: the rows, the path of its steps, the validation after them.
    rows: TrainRows,
    path: EpochPath,
    validation: Option<Validation>,
    // What each epoch leaves on the device and what is decided there.
    results: Results,
    control: EpochControl,
    /// How many epochs each submission runs (the buffers above hold its most).
    size: SubmissionSize,
    // What has run.
    history: History,
    dispatches_last_epoch: usize,
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
        config.validate()?;
        if config.patience.is_some() && validation.is_none() {
            return Err(Error::InvalidArgument {
                op: "Trainer::new",
                detail: "early stopping (patience) needs validation data".into(),
            });
        }
        let mut optimizer = Optimizer::with_groups(gpu, model.params(), groups)?;
        optimizer.set_schedule(config.lr_schedule)?;
        optimizer.set_clip_grad_norm(gpu, config.clip_grad_norm)?;
        let (n, batch) = (train.len(), config.batch_size.min(train.len()));
        let chunk_steps =
            stream::chunk_steps(gpu, n, (train.n_features(), 1), batch, config.chunk_rows)?;
        let size = SubmissionSize::new(gpu, n, chunk_steps.is_some(), config.submission_epochs);
        let max_epochs = size.max_epochs;
        let validation = validation
            .map(|data| Validation::new(gpu, &model, data))
            .transpose()?;
        let chunks = validation.as_ref().map_or(0, Validation::chunk_count);
        let layout = EpochRow::new(n.div_ceil(batch), chunks, gpu.binding_alignment())?;
        let results = Results::new(gpu, layout, max_epochs)?;
        // Only the path that will run is built: its buffers and pipelines.
        let rows = TrainRows::new(
            gpu,
            &model,
            train,
            (batch, config.seed),
            chunk_steps,
            max_epochs,
        )?;
        let path = EpochPath::new(
            gpu,
            &model,
            &optimizer,
            &rows,
            (&results.tensor, layout),
            (max_epochs, config.single_dispatch_epochs),
        )?;
        let settings = settings(&rows, &layout, &config, validation.as_ref(), max_epochs)?;
        let live = live_tensors(&model, &optimizer);
        let control = EpochControl::new(gpu, &results.tensor, &settings, optimizer.flags(), &live)?;
        Ok(Self {
            gpu,
            model,
            optimizer,
            config,
            rows,
            path,
            validation,
            results,
            control,
            size,
            history: History::default(),
            dispatches_last_epoch: 0,
        })
    }

    /// Whether each epoch runs as one dispatch (the small-model path), as
    /// [`TrainConfig::single_dispatch_epochs`] chose for this run; else a dispatch per kernel
    /// and step (the general path).
    pub fn single_dispatch_epochs(&self) -> bool {
        matches!(self.path, EpochPath::OneDispatch(_))
    }

    /// Dispatches one full training step records, the optimizer update included; on the
    /// one-dispatch path, 1: the whole epoch is one dispatch.
    pub fn dispatches_per_step(&self) -> usize {
        self.path.dispatches_per_step(&self.optimizer)
    }

    /// Dispatches the last epoch recorded: every step, plus the validation pass (the
    /// end-of-epoch decision and the copies it may switch on come on top).
    pub fn dispatches_last_epoch(&self) -> usize {
        self.dispatches_last_epoch
    }

    /// Steps per epoch.
    pub fn steps_per_epoch(&self) -> usize {
        self.rows.steps()
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
        let epochs = epochs.clamp(1, self.size.max_epochs);
        let first_epoch = self.history.epochs.len() + 1;
        let step_before = self.optimizer.step_count();
        self.rows.write_orders(gpu, first_epoch, epochs)?;
        self.path.set_step(gpu, step_before)?;
        let mut batch = gpu.batch();
        // The small-model kernel sets the non-finite flag slot only when it must; the
        // optimizer is no longer frozen by a stop in the last submission.
        batch.clear(&self.results.tensor);
        batch.clear(self.optimizer.flags());
        for k in 0..epochs {
            self.record_epoch(&mut batch, k, first_epoch + k)?;
        }
        self.control.prepare(gpu)?;
        self.results.record_readback(&mut batch);
        self.control.record_readback(&mut batch);
        #[cfg(not(target_arch = "wasm32"))]
        let started = std::time::Instant::now();
        gpu.submit(batch)?;
        let values = self.results.read_async(gpu).await?;
        self.control.read_async(gpu).await?;
        #[cfg(not(target_arch = "wasm32"))]
        self.size
            .measured(started.elapsed().as_secs_f64() / epochs as f64);
        let has_validation = self.validation.is_some();
        let ran = self.results.epochs(
            &values,
            first_epoch,
            has_validation,
            &self.control.state_now,
        );
        // The optimizer as the last epoch that ran left it.
        let count = ran.epochs.len();
        let steps = (count * self.rows.steps()) as u64;
        let epoch = first_epoch + count.saturating_sub(1);
        self.optimizer.rewind(step_before + steps, epoch)?;
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

    /// Records epoch `epoch` as the submission's `k`-th (0-based).
    fn record_epoch(
        &mut self,
        batch: &mut crate::gpu::Batch,
        k: usize,
        epoch: usize,
    ) -> Result<()> {
        self.optimizer.begin_epoch(epoch)?;
        let live = live_tensors(&self.model, &self.optimizer);
        self.control.record_snapshot(batch, &live)?;
        batch.clear(self.optimizer.nonfinite_flag());
        let mut parts = EpochParts::new(batch);
        let at = EpochAt {
            results: &self.results.tensor,
            layout: &self.results.layout,
            k,
            epoch,
        };
        let (gpu, optimizer) = (self.gpu, &mut self.optimizer);
        self.path
            .record(gpu, batch, optimizer, &self.rows, &at, &mut parts)?;
        if let Some(v) = &self.validation {
            v.record(batch, at.results, at.start(), at.layout)?;
        }
        self.dispatches_last_epoch = parts.dispatches(batch);
        self.control.record(batch);
        Ok(())
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
            let epochs = self.size.next(done, self.config.epochs - done);
            let ran = self.run_submission(epochs).await?;
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
        self.rows.chunk_steps()
    }

    /// The training configuration.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// The parameter groups and their hyperparameters as configured (the rate before any
    /// schedule).
    pub fn param_groups(&self) -> &[ParamGroup] {
        self.optimizer.param_groups()
    }

    /// The optimizer.
    pub fn optimizer(&self) -> &Optimizer {
        &self.optimizer
    }

    /// Mutable access to the optimizer, to restore its state when resuming. Its
    /// clip_grad_norm is [`TrainConfig::clip_grad_norm`]'s, which the one-dispatch kernel takes
    /// when the trainer is built: set it there (changed here, the next epoch on that path is
    /// refused, saying so).
    pub fn optimizer_mut(&mut self) -> &mut Optimizer {
        &mut self.optimizer
    }

    /// The best weights so far (flat, as the parameter buffer), if validation has found any.
    pub(crate) fn best_params(&self, gpu: &Gpu) -> Result<Option<Vec<f32>>> {
        match self.history.best_epoch {
            Some(_) => Ok(Some(self.control.best().to_vec(gpu)?)),
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
        self.control.resume(gpu, &history, best)?;
        self.history = history;
        Ok(())
    }

    /// Ends training and returns the model.
    pub fn into_model(self) -> Mlp {
        self.model
    }

    fn restore_best(&mut self) -> Result<()> {
        if self.history.best_epoch.is_some() {
            let mut batch = self.gpu.batch();
            batch.copy(self.control.best(), self.model.params().values())?;
            self.gpu.submit(batch)?;
        }
        Ok(())
    }
}
