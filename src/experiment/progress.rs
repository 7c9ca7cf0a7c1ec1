//! The progress bars of a training run and of a sweep's grid (with the `progress` feature;
//! none without it).

use crate::train::Trainer;

/// A bar of epochs with the last losses, drawn only when stderr is a terminal.
pub(crate) struct Progress {
    #[cfg(feature = "progress")]
    bar: indicatif::ProgressBar,
}

impl Progress {
    /// A bar for the epochs `trainer` has left to run (hidden unless `show`).
    #[cfg_attr(not(feature = "progress"), allow(unused_variables))]
    pub fn new(show: bool, trainer: &Trainer) -> Self {
        #[cfg(feature = "progress")]
        {
            let bar = if show {
                indicatif::ProgressBar::new(trainer.config().epochs as u64)
            } else {
                indicatif::ProgressBar::hidden()
            };
            bar.set_style(
                indicatif::ProgressStyle::with_template("{bar:30} epoch {pos}/{len} {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar.set_position(trainer.history().epochs.len() as u64);
            Self { bar }
        }
        #[cfg(not(feature = "progress"))]
        Self {}
    }

    /// Moves the bar on after an epoch.
    #[cfg_attr(not(feature = "progress"), allow(unused_variables))]
    pub fn epoch_done(&self, trainer: &Trainer) {
        #[cfg(feature = "progress")]
        if let Some(record) = trainer.history().last() {
            self.bar.set_message(match record.validation_loss {
                Some(v) => format!("train {:.5}  validation {v:.5}", record.train_loss),
                None => format!("train {:.5}", record.train_loss),
            });
            self.bar.set_position(record.epoch as u64);
        }
    }
}

#[cfg(feature = "progress")]
impl Drop for Progress {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

/// A bar of model-epochs for the models of a grid, trained in step (a model stopped early
/// counts as done with the rest), drawn only when stderr is a terminal.
pub(crate) struct GridProgress {
    #[cfg(feature = "progress")]
    models: usize,
    #[cfg(feature = "progress")]
    bar: indicatif::ProgressBar,
}

impl GridProgress {
    /// A bar for `models` models of `epochs` epochs each (hidden unless `show`).
    #[cfg_attr(not(feature = "progress"), allow(unused_variables))]
    pub fn new(show: bool, models: usize, epochs: usize) -> Self {
        #[cfg(feature = "progress")]
        {
            let total = (models * epochs) as u64;
            let bar = if show {
                indicatif::ProgressBar::new(total)
            } else {
                indicatif::ProgressBar::hidden()
            };
            bar.set_length(total);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:30} {human_pos}/{human_len} model-epochs, {eta} left",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            Self { models, bar }
        }
        #[cfg(not(feature = "progress"))]
        Self {}
    }

    /// Moves the bar to `epochs_done` epochs of every model.
    #[cfg_attr(not(feature = "progress"), allow(unused_variables))]
    pub fn epochs_done(&self, epochs_done: usize) {
        #[cfg(feature = "progress")]
        self.bar.set_position((self.models * epochs_done) as u64);
    }
}

#[cfg(feature = "progress")]
impl Drop for GridProgress {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(all(test, feature = "progress"))]
mod tests {
    #[test]
    fn the_grid_bar_counts_model_epochs() {
        let bar = super::GridProgress::new(false, 120, 20);
        bar.epochs_done(3);
        assert_eq!(bar.bar.position(), 360);
        assert_eq!(bar.bar.length(), Some(2400));
    }
}
