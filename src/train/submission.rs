//! How many epochs each submission runs: at most what the buffers hold, and either every
//! `submission_epochs` (so each c-th epoch ends one) or as many as take about 25 ms, measured as
//! training goes.

use super::path::TrainRows;
use crate::gpu::Gpu;

/// The most epochs one submission runs.
const MAX_EPOCHS_PER_SUBMISSION: usize = 32;
/// The most bytes the shuffled row orders of one submission's epochs may take.
const MAX_ORDER_BYTES: usize = 16 << 20;
/// What an automatically sized submission aims to take: long enough that submitting and
/// waiting cost little beside it, short enough that a progress bar still moves. (In a
/// browser, with no clock at hand here, automatic submissions hold one epoch.)
#[cfg(not(target_arch = "wasm32"))]
const SUBMISSION_TARGET_SECONDS: f64 = 0.025;

pub(super) struct SubmissionSize {
    /// The most epochs a submission can hold (the trainer's buffers are sized for it).
    pub max_epochs: usize,
    /// `Some(c)`: every c-th epoch ends a submission; `None`: automatic.
    every: Option<usize>,
    /// Epochs the next automatically sized submission runs.
    auto_epochs: usize,
}

impl SubmissionSize {
    /// For `n` training rows, streamed (one epoch a submission) or not, and
    /// `TrainConfig::submission_epochs`.
    pub fn new(gpu: &Gpu, n: usize, streamed: bool, every: Option<usize>) -> Self {
        let max_epochs = if streamed {
            1
        } else {
            (MAX_ORDER_BYTES / (4 * TrainRows::order_block(gpu, n)))
                .clamp(1, MAX_EPOCHS_PER_SUBMISSION)
        };
        Self {
            max_epochs,
            every,
            auto_epochs: 1,
        }
    }

    /// Epochs the next submission runs after `done` epochs, `left` more to go.
    pub fn next(&self, done: usize, left: usize) -> usize {
        let epochs = match self.every {
            Some(every) => every - done % every,
            None => self.auto_epochs,
        };
        epochs.min(left)
    }

    /// Sizes automatic submissions after one whose epochs took `seconds_per_epoch` each.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn measured(&mut self, seconds_per_epoch: f64) {
        let epochs = SUBMISSION_TARGET_SECONDS / seconds_per_epoch.max(1e-6);
        self.auto_epochs = (epochs as usize).clamp(1, self.max_epochs);
    }
}
