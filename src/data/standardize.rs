//! Standardisation fitted on the training split only, then applied to every split.

use super::{Dataset, Targets};
use crate::error::{Error, Result};

/// Per-feature `(x − mean) / std`, with the mean and the (population) standard deviation of
/// the data it was fitted on; a constant feature keeps std 1.
#[derive(Debug, Clone, PartialEq)]
pub struct Standardizer {
    /// Mean of each feature in the fitting data.
    pub mean: Vec<f64>,
    /// Standard deviation of each feature in the fitting data (1 where it was 0).
    pub std: Vec<f64>,
}

impl Standardizer {
    /// Fits on `train` (never on validation or test rows: that would leak them).
    pub fn fit(train: &Dataset) -> Self {
        let (n, f) = (train.len(), train.n_features());
        let mut mean = vec![0.0f64; f];
        for i in 0..n {
            for (m, &x) in mean.iter_mut().zip(train.row(i)) {
                *m += f64::from(x);
            }
        }
        mean.iter_mut().for_each(|m| *m /= n as f64);
        let mut var = vec![0.0f64; f];
        for i in 0..n {
            for ((v, &x), m) in var.iter_mut().zip(train.row(i)).zip(&mean) {
                *v += (f64::from(x) - m).powi(2);
            }
        }
        let std = var
            .into_iter()
            .map(|v| {
                let s = (v / n as f64).sqrt();
                if s > 0.0 {
                    s
                } else {
                    1.0
                }
            })
            .collect();
        Self { mean, std }
    }

    /// The dataset with standardised features.
    ///
    /// # Errors
    /// [`Error::Data`] when the feature count differs from the fitting data's.
    pub fn apply(&self, data: &Dataset) -> Result<Dataset> {
        if data.n_features() != self.mean.len() {
            return Err(Error::Data(format!(
                "standardiser fitted on {} features applied to {}",
                self.mean.len(),
                data.n_features()
            )));
        }
        Ok(data.with_features(self.apply_rows(data.features())))
    }

    /// Standardised copies of row-major `features` (rows of as many values as were fitted).
    pub fn apply_rows(&self, features: &[f32]) -> Vec<f32> {
        let f = self.mean.len();
        features
            .iter()
            .enumerate()
            .map(|(i, &x)| ((f64::from(x) - self.mean[i % f]) / self.std[i % f]) as f32)
            .collect()
    }
}

/// `(y − mean) / std` for regression targets, fitted on the training split; predictions are
/// mapped back with [`TargetScaler::inverse`] so metrics are in the data's own units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TargetScaler {
    /// Mean of the training targets.
    pub mean: f64,
    /// Their standard deviation (1 if constant).
    pub std: f64,
}

impl TargetScaler {
    /// Fits on the training targets; `None` for a classification dataset.
    pub fn fit(train: &Dataset) -> Option<Self> {
        let Targets::Values(y) = train.targets() else {
            return None;
        };
        let n = y.len() as f64;
        let mean = y.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let var = y
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / n;
        let std = if var > 0.0 { var.sqrt() } else { 1.0 };
        Some(Self { mean, std })
    }

    /// The dataset with scaled targets (unchanged for classification).
    pub fn apply(&self, data: &Dataset) -> Dataset {
        match data.targets() {
            Targets::Values(y) => data.with_values(
                y.iter()
                    .map(|&v| ((f64::from(v) - self.mean) / self.std) as f32)
                    .collect(),
            ),
            Targets::Classes(_) => data.clone(),
        }
    }

    /// A prediction in scaled units back in the data's units.
    pub fn inverse(&self, y: f32) -> f32 {
        (f64::from(y) * self.std + self.mean) as f32
    }
}
