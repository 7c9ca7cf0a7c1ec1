//! The models too large for a grid kernel (their parameters would no longer stay in
//! registers), trained one at a time by the [`Trainer`] on the same rows, seeds and rules, so
//! a valid grid is never refused.

use super::{Divergence, GridConfig, GridModel, GridResult};
use crate::data::{Dataset, Fold};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::nn::Mlp;
use crate::train::{TrainConfig, Trainer};

/// The most parameters a model of a grid kernel has; larger models train alone. The generated
/// kernel is straight-line code whose compile time grows with the parameters: on lavapipe about
/// 0.23 s per parameter (10→5→1: ~4 s, 10→16→1: 26 s, 10→32→1: 88 s; BENCHMARKS.md), once per
/// shape (Mesa keeps compiled shaders on disk).
pub const GRID_MAX_PARAMS: usize = 200;

/// The layer sizes of `model` on `data`.
pub(super) fn sizes(data: &Dataset, model: &GridModel) -> Vec<usize> {
    let mut sizes = vec![data.n_features()];
    sizes.extend(&model.hidden);
    sizes.push(data.n_outputs());
    sizes
}

/// Whether `model` is too large for a grid kernel.
pub(super) fn too_large(data: &Dataset, model: &GridModel) -> bool {
    let params: usize = sizes(data, model)
        .windows(2)
        .map(|w| w[0] * w[1] + w[1])
        .sum();
    params > GRID_MAX_PARAMS
}

/// Trains `model` on its fold alone, as the grid would have: its seed's initial weights and
/// shuffles, the grid's epochs, batch and early stopping; a divergence ends it with the
/// weights from before the diverged epoch (the best, with early stopping).
pub(super) async fn train_alone(
    gpu: &Gpu,
    data: &Dataset,
    fold: &Fold,
    model: &GridModel,
    config: &GridConfig,
) -> Result<GridResult> {
    let sizes = sizes(data, model);
    let mlp = Mlp::new_with_init(gpu, &sizes, data.task(), model.init, model.seed)?
        .with_activations(&model.activations)?
        .with_dropout(&model.dropout)?
        .with_loss_weights(model.loss_weights.clone())?;
    let train = data.subset(&fold.train);
    let validation = (!fold.validation.is_empty()).then(|| data.subset(&fold.validation));
    let train_config = TrainConfig {
        epochs: config.epochs,
        batch_size: config.batch_size,
        seed: model.seed,
        patience: config.patience,
        min_delta: config.min_delta,
        lr_schedule: model.lr_schedule,
        clip_grad_norm: config.clip_grad_norm,
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(
        gpu,
        mlp,
        model.optimizer,
        &train,
        validation.as_ref(),
        train_config,
    )?;
    let diverged = match trainer.fit_async().await {
        Ok(_) => None,
        Err(Error::NonFinite { epoch, .. }) => Some(Divergence {
            epoch,
            nonfinite: true,
        }),
        Err(Error::Diverged { epoch, .. }) => Some(Divergence {
            epoch,
            nonfinite: false,
        }),
        Err(other) => return Err(other),
    };
    if diverged.is_some() && config.patience.is_some() {
        trainer.restore_best()?;
    }
    Ok(GridResult {
        history: trainer.history().clone(),
        diverged,
        weights: trainer.model().state_dict_async(gpu).await?,
        sizes,
        trained_alone: true,
    })
}
