//! Everything a training run leaves, bit for bit, for tests that compare two ways of running
//! the same training.

use super::bits;
use wgsl_train::train::Trainer;
use wgsl_train::{Error, Gpu};

/// The history (each epoch's number, training and validation loss and step losses as bits),
/// the best epoch and whether training stopped early; the weights; the optimizer's state and
/// step count; and the error that ended the run, if any.
#[derive(Debug, PartialEq)]
pub struct Outcome {
    pub epochs: Vec<(usize, u64, Option<u64>, Vec<u32>)>,
    pub best_epoch: Option<usize>,
    pub stopped_early: bool,
    pub params: Vec<u32>,
    pub state: Vec<(String, Vec<u32>)>,
    pub steps: u64,
    pub error: Option<String>,
}

/// What `trainer`, on `gpu`, has left after a run that ended with `error`.
pub fn outcome(gpu: &Gpu, trainer: &Trainer, error: Option<Error>) -> Outcome {
    let history = trainer.history();
    let state = trainer.optimizer().state(gpu).unwrap();
    Outcome {
        epochs: history
            .epochs
            .iter()
            .map(|e| {
                (
                    e.epoch,
                    e.train_loss.to_bits(),
                    e.validation_loss.map(f64::to_bits),
                    bits(&e.step_losses),
                )
            })
            .collect(),
        best_epoch: history.best_epoch,
        stopped_early: history.stopped_early,
        params: bits(&trainer.model().params().values().to_vec(gpu).unwrap()),
        state: state
            .tensors
            .iter()
            .map(|(name, values)| (name.clone(), bits(values)))
            .collect(),
        steps: state.step,
        error: error.map(|e| format!("{e:?}")),
    }
}
