//! What happened in training, epoch by epoch.

/// One epoch's losses.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpochRecord {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean training loss over the epoch's steps, weighted by rows per step.
    pub train_loss: f64,
    /// Loss on the validation split after the epoch, if there is one.
    pub validation_loss: Option<f64>,
    /// Each step's batch loss, in order (not saved in checkpoints, nor in JSON).
    #[serde(skip)]
    pub step_losses: Vec<f32>,
}

/// The learning curves.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct History {
    /// Every epoch run, in order.
    pub epochs: Vec<EpochRecord>,
    /// The epoch with the lowest validation loss (by `min_delta`), whose weights early
    /// stopping restores.
    pub best_epoch: Option<usize>,
    /// Whether training stopped before the configured number of epochs.
    pub stopped_early: bool,
}

impl History {
    /// The best epoch's record.
    pub fn best(&self) -> Option<&EpochRecord> {
        self.best_epoch.and_then(|e| self.epochs.get(e - 1))
    }

    /// The last epoch's record.
    pub fn last(&self) -> Option<&EpochRecord> {
        self.epochs.last()
    }

    /// The curves as CSV: `epoch,train_loss,validation_loss`.
    pub fn to_csv(&self) -> String {
        let mut out = String::from("epoch,train_loss,validation_loss\n");
        for r in &self.epochs {
            let v = r.validation_loss.map(|v| v.to_string()).unwrap_or_default();
            out.push_str(&format!("{},{},{v}\n", r.epoch, r.train_loss));
        }
        out
    }
}
