//! How to train: the settings of a [`Trainer`](super::Trainer), with PyTorch-like defaults and
//! one check of them all.

use super::LrSchedule;
use crate::error::{Error, Result};
use crate::optim::clip_grad_norm_problem;

/// How to train. `Default`: 100 epochs of batches of 32, seed 0, no early stopping, one
/// dispatch an epoch where the model, data and device allow it.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    /// Passes over the training data (default 100).
    pub epochs: usize,
    /// Rows per step (default 32); the last batch of an epoch holds the remainder.
    pub batch_size: usize,
    /// Seed of each epoch's shuffle (default 0): epoch e's order depends only on (seed, e).
    pub seed: u64,
    /// Stop after this many epochs without a validation improvement, restoring the best
    /// weights (default `None`: train all epochs). Needs validation data.
    pub patience: Option<usize>,
    /// The least decrease of the validation loss that counts as an improvement (default 0;
    /// the decision is made on the GPU, in f32).
    pub min_delta: f64,
    /// How the learning rate changes from epoch to epoch (default constant).
    pub lr_schedule: LrSchedule,
    /// Whether each epoch's steps run in a single dispatch of one workgroup — the small-model
    /// path, for networks whose batch activations fit in workgroup memory — or a dispatch per
    /// kernel and step (the general path). Default [`SingleDispatch::Auto`]: the trainer takes
    /// the one-dispatch path wherever the model, the data and the device allow it
    /// ([`Trainer::single_dispatch_epochs`] says which it took). The two paths' results agree
    /// within the kernel tolerance, not bit for bit.
    ///
    /// [`Trainer::single_dispatch_epochs`]: super::Trainer::single_dispatch_epochs
    pub single_dispatch_epochs: SingleDispatch,
    /// Epochs per queue submission. `None` (default): as many as take about 25 ms, measured
    /// as training goes (at most 32; one for the first submission, and in a browser one
    /// always). `Some(c)`: at most `c`,
    /// and every c-th epoch ends a submission — where [`Trainer::fit_with`]'s callback sees
    /// the model as that epoch left it (to save checkpoints every `c` epochs). Results are the
    /// same bit for bit whatever the value: the end-of-epoch decisions run on the GPU either
    /// way.
    ///
    /// [`Trainer::fit_with`]: super::Trainer::fit_with
    pub submission_epochs: Option<usize>,
    /// Streaming the training split from the host. `None` (default): the split is uploaded
    /// once while it fits — while each of its buffers fits one storage binding (128 MiB by
    /// default on most adapters) — and is streamed otherwise. `Some(r)`: always streamed, in
    /// chunks of `r` rows rounded down to whole batches (at least one) — for data within a
    /// binding but beyond the GPU's memory. A streamed split stays on the host (a [`Dataset`]
    /// clone shares its rows); every epoch uploads it a chunk at a time in that epoch's seeded
    /// order, gathering the next chunk while the GPU trains on the current one, and trains
    /// exactly as the uploaded split would, bit for bit. It runs one epoch a submission (a
    /// submission a chunk) and takes the general path (not `single_dispatch_epochs`). (A
    /// validation split larger than a binding is held on the device in chunks that each fit
    /// one; it is not streamed.)
    ///
    /// [`Dataset`]: crate::data::Dataset
    pub chunk_rows: Option<usize>,
    /// `torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)` before every step:
    /// `Some(max_norm)` scales the gradients by `min(max_norm / (‖g‖₂ + 1e-6), 1)`, the norm
    /// over every parameter with L1's term, computed on the GPU (default `None`: no clipping).
    /// On the one-dispatch path each step goes backward twice, for the norm and the update.
    pub clip_grad_norm: Option<f64>,
}

/// Which way a [`Trainer`](super::Trainer) runs an epoch's steps
/// ([`TrainConfig::single_dispatch_epochs`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SingleDispatch {
    /// The one-dispatch path where it can train the run, else the general path (default).
    #[default]
    Auto,
    /// The one-dispatch path; `Trainer::new` refuses a run it cannot train, saying why: the
    /// network or its batch exceed the kernel's workgroup memory, the loss is BCE on
    /// probabilities or has more than 16 weights, the device binds too few storage buffers,
    /// the optimizer has several parameter groups, or the training split is streamed.
    Always,
    /// The general path: a dispatch per kernel and step.
    Never,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 100,
            batch_size: 32,
            seed: 0,
            patience: None,
            min_delta: 0.0,
            lr_schedule: LrSchedule::Constant,
            single_dispatch_epochs: SingleDispatch::Auto,
            submission_epochs: None,
            chunk_rows: None,
            clip_grad_norm: None,
        }
    }
}

impl TrainConfig {
    /// Checks every value: at least one epoch, one row per step and one epoch per submission,
    /// patience of at least one epoch, a finite `min_delta` ≥ 0, a valid schedule.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the value.
    pub fn validate(&self) -> Result<()> {
        let invalid = |detail: String| Error::InvalidArgument {
            op: "TrainConfig",
            detail,
        };
        if self.batch_size == 0 {
            return Err(invalid("batch_size must be at least 1".into()));
        }
        if self.epochs == 0 {
            return Err(invalid("epochs must be at least 1".into()));
        }
        if self.chunk_rows == Some(0) {
            return Err(invalid("chunk_rows must be at least 1".into()));
        }
        if self.patience == Some(0) {
            return Err(invalid(
                "patience must be at least 1 epoch (None: no early stopping)".into(),
            ));
        }
        if self.submission_epochs == Some(0) {
            return Err(invalid("submission_epochs must be at least 1".into()));
        }
        if !(self.min_delta.is_finite() && self.min_delta >= 0.0) {
            return Err(invalid(format!(
                "min_delta {} must be finite and ≥ 0",
                self.min_delta
            )));
        }
        if let Some(problem) = self.clip_grad_norm.and_then(clip_grad_norm_problem) {
            return Err(invalid(problem));
        }
        self.lr_schedule.validate()
    }
}
