//! The progress bar of a training run (with the `progress` feature; none without it).

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
