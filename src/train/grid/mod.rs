//! Many models trained together: a grid of configurations, each on its own rows (a fold of a
//! cross-validation, or a train/validation split), in one submission a few epochs at a time.
//!
//! Each model trains in its own GPU invocation, its parameters and optimizer state in
//! registers, with its own validation, early stopping (best weights kept) and divergence
//! rollback decided by the rules every path follows (`shaders/epoch_decision.wgsl`), so what
//! one model does changes nothing for another: a model trained in a grid ends with the history
//! and weights it has in a grid of one, bit for bit. Each model sees its rows in the order the
//! same configuration trained alone by a [`Trainer`](super::Trainer) sees them (epoch `e`'s
//! shuffle of its training rows depends on its seed and `e` alone), and starts from the weights
//! [`Mlp::new`](crate::nn::Mlp::new) draws from the same seed; it agrees with that trainer
//! within the kernels' tolerance (the order of additions differs).

mod alone;
mod plan;

use crate::data::{Dataset, Fold};
use crate::error::{Error, Result};
use crate::gpu::{block_on, Gpu, Tensor};
use crate::kernels::control::{
    LOSS_GREW, NONFINITE_LOSS, NONFINITE_PARAMETER, OUT_OF_PATIENCE, RAN,
};
pub use crate::kernels::grid::KernelForm;
use crate::kernels::grid::{grid_dispatch, GridBuffers, ModelControl};
use crate::nn::{
    dropout_per_hidden_layer, loss_for, param_names, per_hidden_layer, Activation, Init,
    LossWeights, NamedTensor,
};
use crate::optim::{clip_grad_norm_problem, LrSchedule, OptimizerConfig};
pub use alone::GRID_MAX_PARAMS;
use plan::{KernelPlan, Plan};

use super::history::{EpochRecord, History};

/// One model of a grid: its network, how it is optimized, its seed and its rows.
#[derive(Debug, Clone, PartialEq)]
pub struct GridModel {
    /// Widths of the hidden layers (e.g. `[5]`); the inputs and outputs come from the data.
    pub hidden: Vec<usize>,
    /// The nonlinearity after the hidden layers, as
    /// [`Mlp::with_activations`](crate::nn::Mlp::with_activations) takes them: one for every
    /// hidden layer, or one each (none: ReLU).
    pub activations: Vec<Activation>,
    /// PyTorch's weights on the loss's terms, as
    /// [`Mlp::with_loss_weights`](crate::nn::Mlp::with_loss_weights) takes them: one per class
    /// for multiclass (`CrossEntropyLoss(weight=…)`, a weighted mean), `pos_weight` for binary
    /// (`BCEWithLogitsLoss(pos_weight=…)`); [`LossWeights::None`] for none. Training and
    /// validation losses are weighted alike.
    pub loss_weights: LossWeights,
    /// `nn.Dropout(p)` after the hidden layers' activations (0: none), as
    /// [`Mlp::with_dropout`](crate::nn::Mlp::with_dropout) takes them: one for every hidden
    /// layer, or one each (none: no Dropout); its masks those the model draws trained alone
    /// with its seed.
    pub dropout: Vec<f32>,
    /// How the initial weights are drawn.
    pub init: Init,
    /// The optimizer and its hyperparameters (L1 and L2 included).
    pub optimizer: OptimizerConfig,
    /// How the learning rate changes from epoch to epoch.
    pub lr_schedule: LrSchedule,
    /// Seed of the initial weights (as [`Mlp::new`](crate::nn::Mlp::new) takes it) and of each
    /// epoch's shuffle (as [`TrainConfig::seed`](super::TrainConfig::seed)).
    pub seed: u64,
    /// Which of the grid's folds the model trains on.
    pub fold: usize,
}

/// How every model of a grid trains. `Default`: 100 epochs of batches of 32, no early stopping.
#[derive(Debug, Clone, PartialEq)]
pub struct GridConfig {
    /// Passes over each model's training rows (default 100).
    pub epochs: usize,
    /// Rows per step (default 32); the last step of an epoch takes the rest.
    pub batch_size: usize,
    /// Stop a model after this many epochs without a validation improvement and give it its
    /// best weights (default `None`: every model trains all epochs). Needs validation rows.
    pub patience: Option<usize>,
    /// The least decrease of the validation loss that counts as an improvement (default 0).
    pub min_delta: f64,
    /// Epochs per dispatch (default `None`: as many as keep a dispatch near a million
    /// model-row visits, at least one). Results are the same bit for bit whatever the value.
    pub epochs_per_dispatch: Option<usize>,
    /// How the kernels are written (default `None`: [`KernelForm::for_adapter`]: a model per
    /// subgroup on GPUs with subgroups of one size, unrolled on other GPUs and lavapipe, looped
    /// elsewhere). The unrolled and looped forms compute the same operations in the same order;
    /// the subgroup form adds each step's rows in another order.
    pub kernel_form: Option<KernelForm>,
    /// `clip_grad_norm_`'s max_norm for every model, over its own parameters (default `None`:
    /// no clipping), as [`TrainConfig::clip_grad_norm`](super::TrainConfig::clip_grad_norm)
    /// (with a model's L1 term in its gradient).
    pub clip_grad_norm: Option<f64>,
}

impl Default for GridConfig {
    fn default() -> Self {
        Self {
            epochs: 100,
            batch_size: 32,
            patience: None,
            min_delta: 0.0,
            epochs_per_dispatch: None,
            kernel_form: None,
            clip_grad_norm: None,
        }
    }
}

/// How a model's training ended early, if it diverged: the epoch (1-based) whose loss or
/// parameters went non-finite, or whose loss grew past 10⁴ times the lowest before it; the
/// model was given back the weights it had before that epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Divergence {
    /// The epoch that diverged.
    pub epoch: usize,
    /// Whether a loss or parameter was NaN or infinite (else the loss grew).
    pub nonfinite: bool,
}

/// What one model of a grid ended with.
#[derive(Debug, Clone, PartialEq)]
pub struct GridResult {
    /// Its epochs (without per-step losses), best epoch and whether it stopped early.
    pub history: History,
    /// Whether it diverged, and where.
    pub diverged: Option<Divergence>,
    /// Its weights, as a PyTorch `state_dict`: the best epoch's with early stopping, else the
    /// last epoch's (the epoch before a divergence).
    pub weights: Vec<NamedTensor>,
    /// The network's layer sizes, inputs to outputs.
    pub sizes: Vec<usize>,
    /// Whether it was too large for a grid kernel (over [`GRID_MAX_PARAMS`] parameters) and
    /// was trained alone by the [`Trainer`](super::Trainer) on the same rows, seeds and rules.
    pub trained_alone: bool,
}

/// Model-row visits a dispatch aims at when [`GridConfig::epochs_per_dispatch`] is `None`.
const VISITS_PER_DISPATCH: usize = 1 << 20;

/// Trains every model of a grid together.
pub struct ModelGrid<'g> {
    gpu: &'g Gpu,
    config: GridConfig,
    /// The models of the grid kernels, and where each stands in the models given.
    plan: Plan,
    in_grid: Vec<usize>,
    /// The models trained alone, with where each stands in the models given; the data and
    /// folds they train on.
    alone: Vec<(usize, GridModel)>,
    dataset: Dataset,
    folds: Vec<Fold>,
    kernels: Vec<KernelState>,
    data: Tensor,
    epochs_done: usize,
}

/// One generated kernel's models on the device.
struct KernelState {
    records: Tensor,
    controls: Tensor,
    history: Tensor,
}

impl std::fmt::Debug for ModelGrid<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelGrid")
            .field("models", &self.plan.models.len())
            .field("config", &self.config)
            .field("epochs_done", &self.epochs_done)
            .finish_non_exhaustive()
    }
}

impl<'g> ModelGrid<'g> {
    /// Prepares `models` on `data`, each on its fold of `folds` (row indices into `data`; a
    /// fold without validation rows trains without validation).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the model and value for an empty grid, a fold out of
    /// range or without training rows, a zero width, a zero batch size or epoch count, patience
    /// where a model has no validation rows, a clip_grad_norm not finite and > 0 or beside a
    /// model's L1 penalty; [`Error::InvalidHyperparameter`] for an optimizer
    /// value out of range; device errors.
    pub fn new(
        gpu: &'g Gpu,
        data: &Dataset,
        folds: &[Fold],
        models: Vec<GridModel>,
        config: GridConfig,
    ) -> Result<Self> {
        check(data, folds, &models, &config)?;
        let total = models.len();
        type Placed = Vec<(usize, GridModel)>;
        let (alone, in_grid): (Placed, Placed) = models
            .into_iter()
            .enumerate()
            .partition(|(_, m)| alone::too_large(data, m));
        let (in_grid, grid_models): (Vec<usize>, Vec<GridModel>) = in_grid.into_iter().unzip();
        debug_assert_eq!(in_grid.len() + alone.len(), total);
        let plan = Plan::new(gpu, data, folds, grid_models, &config)?;
        let data_tensor = Tensor::from_slice(gpu, &[plan.data.len()], &plan.data)?;
        let kernels = plan
            .kernels
            .iter()
            .map(|k| KernelState::new(gpu, k, config.epochs))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            gpu,
            config,
            plan,
            in_grid,
            alone,
            dataset: data.clone(),
            folds: folds.to_vec(),
            kernels,
            data: data_tensor,
            epochs_done: 0,
        })
    }

    /// Trains every model for the configured epochs (or until it stops) and returns each
    /// model's result, in the order the models were given.
    ///
    /// # Errors
    /// Device errors.
    pub fn fit(&mut self) -> Result<Vec<GridResult>> {
        self.fit_with(|_, _| Ok(()))
    }

    /// As [`ModelGrid::fit`], calling `progress(epochs_done, epochs)` after each submission.
    ///
    /// # Errors
    /// Device errors, and whatever `progress` returns.
    pub fn fit_with(
        &mut self,
        progress: impl FnMut(usize, usize) -> Result<()>,
    ) -> Result<Vec<GridResult>> {
        block_on("ModelGrid::fit", self.fit_async(progress))
    }

    /// Async variant of [`ModelGrid::fit_with`], the one to call in a browser.
    ///
    /// # Errors
    /// As [`ModelGrid::fit_with`].
    pub async fn fit_async(
        &mut self,
        mut progress: impl FnMut(usize, usize) -> Result<()>,
    ) -> Result<Vec<GridResult>> {
        self.train_async(false, |done, total, _| progress(done, total))
            .await
    }

    /// As [`ModelGrid::fit_async`], reading every model's learning curves back after each
    /// submission and calling `watch(epochs_done, histories)` with them (in the models' order;
    /// a model that trains alone has none until the end), for curves drawn as they grow.
    ///
    /// # Errors
    /// As [`ModelGrid::fit_with`].
    pub async fn fit_watching_async(
        &mut self,
        mut watch: impl FnMut(usize, &[History]) -> Result<()>,
    ) -> Result<Vec<GridResult>> {
        self.train_async(true, |done, _, histories| watch(done, histories))
            .await
    }

    async fn train_async(
        &mut self,
        read_curves: bool,
        mut after: impl FnMut(usize, usize, &[History]) -> Result<()>,
    ) -> Result<Vec<GridResult>> {
        let total = self.config.epochs;
        let per_dispatch = self.epochs_per_dispatch();
        while self.epochs_done < total && !self.plan.models.is_empty() {
            let epochs = per_dispatch.min(total - self.epochs_done);
            self.run_dispatch(epochs)?;
            self.epochs_done += epochs;
            let histories = match read_curves {
                true => self.histories().await?,
                false => Vec::new(),
            };
            after(self.epochs_done, total, &histories)?;
        }
        self.results().await
    }

    /// Every model's curves so far (empty for those that train alone).
    async fn histories(&self) -> Result<Vec<History>> {
        let mut out = vec![History::default(); self.in_grid.len() + self.alone.len()];
        for (kernel, state) in self.plan.kernels.iter().zip(&self.kernels) {
            let history: Vec<f32> = state.history.to_vec_async(self.gpu).await?;
            for (slot, model) in kernel.slots.iter().enumerate() {
                let Some(model) = *model else { continue };
                let rows = &history[slot * 4 * self.config.epochs..][..4 * self.config.epochs];
                out[self.in_grid[model]] = read_history(rows, 0, self.has_validation(model)).0;
            }
        }
        Ok(out)
    }

    fn has_validation(&self, model: usize) -> bool {
        !self.plan.folds[self.plan.models[model].fold]
            .validation
            .is_empty()
    }

    fn epochs_per_dispatch(&self) -> usize {
        self.config.epochs_per_dispatch.unwrap_or_else(|| {
            let visits_per_epoch = self.plan.visits_per_epoch().max(1);
            (VISITS_PER_DISPATCH / visits_per_epoch).clamp(1, self.config.epochs)
        })
    }

    /// Records and submits `epochs` epochs of every kernel.
    fn run_dispatch(&mut self, epochs: usize) -> Result<()> {
        let gpu = self.gpu;
        let tables = self.plan.tables(self.epochs_done, epochs);
        let tables = Tensor::from_slice(gpu, &[tables.len()], &tables)?;
        let steps = self.plan.step_values(self.epochs_done, epochs);
        let step_values = Tensor::from_slice(gpu, &[steps.len()], &steps)?;
        let hyper = self.plan.hyper_words();
        let hyper = Tensor::from_slice(gpu, &[hyper.len()], &hyper)?;
        let mut batch = gpu.batch();
        let mut dispatches = Vec::new();
        for (k, kernel) in self.plan.kernels.iter().enumerate() {
            let settings = self
                .plan
                .settings(k, self.epochs_done, epochs, &self.config)?;
            let words: &[u32] = bytemuck::cast_slice(std::slice::from_ref(&settings));
            let settings = Tensor::from_slice(gpu, &[words.len()], words)?;
            let state = &self.kernels[k];
            let buffers = GridBuffers {
                data: &self.data,
                tables: &tables,
                hyper: &hyper,
                step_values: &step_values,
                records: &state.records,
                controls: &state.controls,
                history: &state.history,
                settings: &settings,
            };
            dispatches.push(grid_dispatch(
                gpu,
                &kernel.shape,
                kernel.slots.len(),
                &buffers,
            )?);
        }
        for dispatch in &dispatches {
            batch.record_at(dispatch, &[]);
        }
        gpu.submit(batch)
    }

    /// Reads every model's history, controls and weights back.
    async fn results(&self) -> Result<Vec<GridResult>> {
        let mut results: Vec<Option<GridResult>> =
            vec![None; self.in_grid.len() + self.alone.len()];
        for (kernel, state) in self.plan.kernels.iter().zip(&self.kernels) {
            let records: Vec<f32> = state.records.to_vec_async(self.gpu).await?;
            let controls: Vec<u32> = state.controls.to_vec_async(self.gpu).await?;
            let history: Vec<f32> = state.history.to_vec_async(self.gpu).await?;
            let control_words = std::mem::size_of::<ModelControl>() / 4;
            let layout = kernel.shape.layout();
            for (slot, model) in kernel.slots.iter().enumerate() {
                let Some(model) = *model else { continue };
                let control: ModelControl = *bytemuck::from_bytes(bytemuck::cast_slice(
                    &controls[slot * control_words..(slot + 1) * control_words],
                ));
                let rows = &history[slot * 4 * self.config.epochs..][..4 * self.config.epochs];
                let (history, diverged) =
                    read_history(rows, control.best_epoch, self.has_validation(model));
                let record = &records[slot * 4 * layout.len..][..4 * layout.len];
                let keep_best = self.config.patience.is_some() && history.best_epoch.is_some();
                let at = if keep_best { layout.best } else { 0 };
                let flat = &record[4 * at..4 * (at + layout.params)];
                results[self.in_grid[model]] = Some(GridResult {
                    history,
                    diverged,
                    weights: state_dict(&kernel.shape.sizes, &kernel.shape.dropout, flat),
                    sizes: kernel.shape.sizes.clone(),
                    trained_alone: false,
                });
            }
        }
        for (at, model) in &self.alone {
            let fold = &self.folds[model.fold];
            let result =
                alone::train_alone(self.gpu, &self.dataset, fold, model, &self.config).await?;
            results[*at] = Some(result);
        }
        results
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                r.ok_or_else(|| Error::InvalidArgument {
                    op: "ModelGrid::fit",
                    detail: format!("model {i} was placed in no kernel"),
                })
            })
            .collect()
    }
}

impl KernelState {
    fn new(gpu: &Gpu, kernel: &KernelPlan, epochs: usize) -> Result<Self> {
        let records = Tensor::from_slice(gpu, &[kernel.records.len()], &kernel.records)?;
        let controls: &[u32] = bytemuck::cast_slice(&kernel.controls);
        let controls = Tensor::from_slice(gpu, &[controls.len()], controls)?;
        let history = Tensor::from_slice(
            gpu,
            &[kernel.slots.len() * epochs * 4],
            &vec![0f32; kernel.slots.len() * epochs * 4],
        )?;
        Ok(Self {
            records,
            controls,
            history,
        })
    }
}

/// A model's history from its rows of (training loss, validation loss, status, 0).
fn read_history(
    rows: &[f32],
    best_epoch: u32,
    has_validation: bool,
) -> (History, Option<Divergence>) {
    let mut history = History::default();
    let mut diverged = None;
    for (i, row) in rows.chunks(4).enumerate() {
        let status = row[2] as u32;
        if status & RAN == 0 {
            break;
        }
        let epoch = i + 1;
        if status & (NONFINITE_LOSS | NONFINITE_PARAMETER | LOSS_GREW) != 0 {
            diverged = Some(Divergence {
                epoch,
                nonfinite: status & LOSS_GREW == 0,
            });
            break;
        }
        history.epochs.push(EpochRecord {
            epoch,
            train_loss: f64::from(row[0]),
            validation_loss: has_validation.then(|| f64::from(row[1])),
            step_losses: Vec::new(),
        });
        if status & OUT_OF_PATIENCE != 0 {
            history.stopped_early = true;
        }
    }
    history.best_epoch = (best_epoch > 0).then_some(best_epoch as usize);
    (history, diverged)
}

/// The flat parameters (PyTorch's order) as a state dict, named as `nn.Sequential` names them
/// with Dropout (f32 bits, one per hidden layer) where it is.
fn state_dict(sizes: &[usize], dropout: &[u32], flat: &[f32]) -> Vec<NamedTensor> {
    let dropout: Vec<f32> = dropout.iter().map(|&p| f32::from_bits(p)).collect();
    let names = param_names(sizes, &dropout);
    let mut names = names.into_iter();
    let mut at = 0;
    let mut tensors = Vec::new();
    for pair in sizes.windows(2) {
        let (inputs, outputs) = (pair[0], pair[1]);
        for shape in [vec![outputs, inputs], vec![outputs]] {
            let len: usize = shape.iter().product();
            tensors.push(NamedTensor {
                name: names.next().expect("two names a layer"),
                shape,
                data: flat[at..at + len].to_vec(),
            });
            at += len;
        }
    }
    tensors
}

/// Checks everything before anything is allocated.
fn check(data: &Dataset, folds: &[Fold], models: &[GridModel], config: &GridConfig) -> Result<()> {
    let invalid = |detail: String| Error::InvalidArgument {
        op: "ModelGrid::new",
        detail,
    };
    if models.is_empty() {
        return Err(invalid("the grid has no models".into()));
    }
    if config.epochs == 0 || config.batch_size == 0 {
        return Err(invalid("epochs and batch_size must be at least 1".into()));
    }
    if config.patience == Some(0) || config.epochs_per_dispatch == Some(0) {
        return Err(invalid(
            "patience and epochs_per_dispatch must be at least 1 (None: the default)".into(),
        ));
    }
    if !(config.min_delta.is_finite() && config.min_delta >= 0.0) {
        return Err(invalid(format!(
            "min_delta {} must be finite and ≥ 0",
            config.min_delta
        )));
    }
    if let Some(problem) = config.clip_grad_norm.and_then(clip_grad_norm_problem) {
        return Err(invalid(problem));
    }
    for (f, fold) in folds.iter().enumerate() {
        if fold.train.is_empty() {
            return Err(invalid(format!("fold {f} has no training rows")));
        }
        if let Some(&row) = fold
            .train
            .iter()
            .chain(&fold.validation)
            .find(|&&r| r >= data.len())
        {
            return Err(invalid(format!(
                "fold {f} names row {row}, but the data has {} rows",
                data.len()
            )));
        }
    }
    for (i, model) in models.iter().enumerate() {
        let Some(fold) = folds.get(model.fold) else {
            return Err(invalid(format!(
                "model {i} trains on fold {}, but there are {} folds",
                model.fold,
                folds.len()
            )));
        };
        if model.hidden.contains(&0) {
            return Err(invalid(format!(
                "model {i} has a hidden layer of width 0: {:?}",
                model.hidden
            )));
        }
        if config.patience.is_some() && fold.validation.is_empty() {
            return Err(invalid(format!(
                "early stopping (patience) needs validation rows; fold {} of model {i} has none",
                model.fold
            )));
        }
        check_model(data, model).map_err(|e| match e {
            Error::InvalidArgument { op, detail } => Error::InvalidArgument {
                op,
                detail: format!("model {i}: {detail}"),
            },
            other => other,
        })?;
    }
    Ok(())
}

/// One model's own settings: its activations and Dropout against its layers, its loss
/// weights, optimizer, init and schedule.
fn check_model(data: &Dataset, model: &GridModel) -> Result<()> {
    let sizes = alone::sizes(data, model);
    per_hidden_layer("ModelGrid::new", &model.activations, &sizes)?;
    dropout_per_hidden_layer("ModelGrid::new", &model.dropout, &sizes)?;
    model
        .loss_weights
        .check(loss_for(data.task()), data.n_outputs())?;
    model.optimizer.validate()?;
    model.init.validate()?;
    model.lr_schedule.validate()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_dict_takes_each_layer_in_pytorch_order() {
        let flat: Vec<f32> = (0..17).map(|i| i as f32).collect();
        let tensors = state_dict(&[3, 2, 1], &[0], &flat[..11]);
        let names: Vec<&str> = tensors.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["0.weight", "0.bias", "2.weight", "2.bias"]);
        assert_eq!(tensors[0].data, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(tensors[1].data, [6.0, 7.0]);
        assert_eq!(tensors[2].data, [8.0, 9.0]);
        assert_eq!(tensors[3].data, [10.0]);
    }
}
