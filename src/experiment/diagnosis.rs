//! A plain-words reading of the learning curves: underfitting, overfitting, or neither, with
//! the usual remedies.

use crate::train::History;

/// What the curves suggest.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Diagnosis {
    /// The training loss did not fall from the untrained model's: nothing was learned (a zero
    /// or far too small learning rate, or gradients that vanish).
    NotLearning {
        /// The untrained model's loss (the first step's).
        initial_loss: f64,
        /// The final training loss.
        train_loss: f64,
    },
    /// The training loss is barely below the constant predictor's, or not below it at all.
    Underfitting {
        /// The final training loss.
        train_loss: f64,
        /// The constant predictor's loss on the training data.
        baseline_loss: f64,
    },
    /// The validation loss rose from its best while the training loss kept falling.
    Overfitting {
        /// The epoch of the lowest validation loss.
        best_epoch: usize,
        /// The lowest validation loss.
        best_validation_loss: f64,
        /// The last epoch's validation loss.
        last_validation_loss: f64,
        /// The last epoch's validation minus training loss.
        gap: f64,
        /// Whether early stopping put the best epoch's weights back.
        restored: bool,
    },
    /// Neither: the model learned and validation loss did not turn up.
    Fine {
        /// The last epoch's validation minus training loss (0 without validation).
        gap: f64,
    },
}

/// How far below the baseline the training loss must get to not count as underfitting.
const UNDERFIT_RATIO: f64 = 0.9;
/// How far below the untrained model's loss the training loss must get to count as learning.
const LEARNED_RATIO: f64 = 0.99;
/// How far the validation loss must rise over its best to count as overfitting.
const OVERFIT_RISE: f64 = 0.05;

/// Reads `history`; `baseline_loss` is the constant predictor's loss on the training data in
/// the units of the training loss.
pub fn diagnose(history: &History, baseline_loss: f64) -> Diagnosis {
    let Some(last) = history.last() else {
        return Diagnosis::Fine { gap: 0.0 };
    };
    let initial = history.epochs[0].step_losses.first().map(|&l| f64::from(l));
    if let Some(initial_loss) = initial.filter(|&l| last.train_loss > LEARNED_RATIO * l) {
        return Diagnosis::NotLearning {
            initial_loss,
            train_loss: last.train_loss,
        };
    }
    if last.train_loss > UNDERFIT_RATIO * baseline_loss {
        return Diagnosis::Underfitting {
            train_loss: last.train_loss,
            baseline_loss,
        };
    }
    let gap = last.validation_loss.map_or(0.0, |v| v - last.train_loss);
    // The lowest validation loss over all epochs, however early stopping was configured.
    let best = history
        .epochs
        .iter()
        .filter_map(|r| r.validation_loss.map(|v| (r, v)))
        .min_by(|a, b| a.1.total_cmp(&b.1));
    if let (Some((best, best_loss)), Some(last_val)) = (best, last.validation_loss) {
        let train_fell = last.train_loss < best.train_loss;
        if last_val > best_loss * (1.0 + OVERFIT_RISE) && train_fell {
            return Diagnosis::Overfitting {
                best_epoch: best.epoch,
                best_validation_loss: best_loss,
                last_validation_loss: last_val,
                gap,
                restored: history.stopped_early && history.best_epoch == Some(best.epoch),
            };
        }
    }
    Diagnosis::Fine { gap }
}

impl std::fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Diagnosis::NotLearning { initial_loss, train_loss } => write!(
                f,
                "Not learning: the training loss went from {initial_loss:.4} to {train_loss:.4}, less than 1% \
                 lower. Check the learning rate (zero, or far too small) and the data."
            ),
            Diagnosis::Underfitting { train_loss, baseline_loss } => write!(
                f,
                "Underfitting: the training loss ({train_loss:.4}) is {} that of always predicting the training \
                 mean or majority ({baseline_loss:.4}). Try a larger model, more epochs, another learning rate \
                 (higher if the loss fell slowly, lower if it jumped about), or less regularization.",
                if train_loss < baseline_loss { "barely below" } else { "no better than" }
            ),
            Diagnosis::Overfitting { best_epoch, best_validation_loss, last_validation_loss, gap, restored } => {
                write!(
                    f,
                    "Overfitting: the validation loss was lowest at epoch {best_epoch} ({best_validation_loss:.4}) \
                     and rose to {last_validation_loss:.4} while the training loss kept falling; the gap between \
                     them is {gap:.4}. "
                )?;
                if *restored {
                    write!(f, "Early stopping kept epoch {best_epoch}'s weights. ")?;
                }
                write!(f, "Try L2 or L1 regularization, a smaller model, early stopping (patience), or more data.")
            }
            Diagnosis::Fine { gap } => write!(
                f,
                "No sign of under- or overfitting: the model learned, and the validation loss did not turn up \
                 (validation − training loss: {gap:.4})."
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{diagnose, Diagnosis};
    use crate::train::{EpochRecord, History};

    fn history(first_step: f32, train_losses: &[f64]) -> History {
        History {
            epochs: train_losses
                .iter()
                .enumerate()
                .map(|(e, &train_loss)| EpochRecord {
                    epoch: e + 1,
                    train_loss,
                    validation_loss: Some(train_loss),
                    step_losses: vec![first_step],
                })
                .collect(),
            ..History::default()
        }
    }

    /// The words match the numbers: a loss above the baseline is "no better than" it, one just
    /// below it "barely below", and a loss that did not fall is "not learning".
    #[test]
    fn the_diagnosis_states_its_comparisons_correctly() {
        let above = diagnose(&history(3.0, &[2.0, 1.2864]), 1.0);
        assert!(matches!(above, Diagnosis::Underfitting { .. }));
        assert!(
            above.to_string().contains("(1.2864) is no better than"),
            "{above}"
        );
        let barely = diagnose(&history(3.0, &[2.0, 0.95]), 1.0);
        assert!(
            barely.to_string().contains("(0.9500) is barely below"),
            "{barely}"
        );
        let flat = diagnose(&history(0.5, &[0.5, 0.5]), 1.0);
        assert!(matches!(flat, Diagnosis::NotLearning { .. }), "{flat}");
        let learned = diagnose(&history(3.0, &[1.0, 0.2]), 1.0);
        assert!(matches!(learned, Diagnosis::Fine { .. }), "{learned}");
    }
}
