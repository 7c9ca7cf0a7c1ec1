//! Learning-rate schedules, stepped once per epoch as PyTorch's `lr_scheduler`s usually are
//! ([`Optimizer::begin_epoch`](super::Optimizer::begin_epoch)).

use crate::error::{Error, Result};

/// How the learning rate changes from epoch to epoch. Epoch `e` (1-based) trains with
/// `lr(base, e − 1)`: the rate after `e − 1` calls of PyTorch's `scheduler.step()`, made at the
/// end of each epoch. Every parameter group follows it from its own base rate.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum LrSchedule {
    /// The optimizer's own rate throughout (default).
    #[default]
    Constant,
    /// PyTorch's `StepLR`: `lr = base · γ^⌊t / step_size⌋` after `t` steps (computed as
    /// PyTorch does, one multiplication by γ at each boundary).
    Step {
        /// Epochs between decays (≥ 1).
        step_size: usize,
        /// The factor γ of each decay (> 0).
        gamma: f64,
    },
    /// PyTorch's `CosineAnnealingLR`:
    /// `lr ≈ η_min + (base − η_min) · (1 + cos(π · t / T_max)) / 2` after `t` steps, computed
    /// with PyTorch's recursive (chainable) update from the previous rate, so the values are
    /// PyTorch's to the last bit; past `T_max` it rises again, as PyTorch's does.
    Cosine {
        /// The half period T_max in epochs (≥ 1).
        t_max: usize,
        /// The least rate η_min (≥ 0).
        eta_min: f64,
    },
}

impl LrSchedule {
    /// The rate after `steps` scheduler steps, from the base rate `base`: PyTorch's
    /// `get_lr()` replayed step by step in f64, in PyTorch's order of operations.
    pub fn lr(&self, base: f64, steps: usize) -> f64 {
        (1..=steps).fold(base, |lr, t| self.next(base, lr, t))
    }

    /// The rate of step `t` (≥ 1) from the rate `lr` of step `t − 1`.
    fn next(&self, base: f64, lr: f64, t: usize) -> f64 {
        use std::f64::consts::PI;
        match *self {
            LrSchedule::Constant => lr,
            LrSchedule::Step { step_size, gamma } => {
                if t.is_multiple_of(step_size) {
                    lr * gamma
                } else {
                    lr
                }
            }
            LrSchedule::Cosine { t_max, eta_min } => {
                let (t, t_max) = (t as f64, t_max as f64);
                // (t − 1 − T) mod 2T == 0, as Python's non-negative modulo
                if (t - 1.0 - t_max).rem_euclid(2.0 * t_max) == 0.0 {
                    lr + (base - eta_min) * (1.0 - (PI / t_max).cos()) / 2.0
                } else {
                    (1.0 + (PI * t / t_max).cos()) / (1.0 + (PI * (t - 1.0) / t_max).cos())
                        * (lr - eta_min)
                        + eta_min
                }
            }
        }
    }

    /// Checks the schedule's values.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the value out of range.
    pub fn validate(&self) -> Result<()> {
        let problem = match *self {
            LrSchedule::Constant => None,
            LrSchedule::Step { step_size: 0, .. } => Some("step_size must be at least 1".into()),
            LrSchedule::Step { gamma, .. } if !(gamma.is_finite() && gamma > 0.0) => {
                Some(format!("gamma {gamma} must be finite and > 0"))
            }
            LrSchedule::Cosine { t_max: 0, .. } => Some("t_max must be at least 1".into()),
            LrSchedule::Cosine { eta_min, .. } if !(eta_min.is_finite() && eta_min >= 0.0) => {
                Some(format!("eta_min {eta_min} must be finite and ≥ 0"))
            }
            _ => None,
        };
        match problem {
            Some(detail) => Err(Error::InvalidArgument {
                op: "learning-rate schedule",
                detail,
            }),
            None => Ok(()),
        }
    }
}
