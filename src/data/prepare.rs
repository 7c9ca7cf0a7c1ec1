//! Preparing a dataset for training: split it, fit the standardisation on the training split
//! only, and keep what the baseline needs (the training mean or class frequencies).

use super::{Dataset, Split, SplitConfig, Standardizer, TargetScaler, Targets};
use crate::error::Result;

/// What was learned from the training split besides the weights: the standardisation, and
/// the training targets' mean or class frequencies for the baseline. Saved in checkpoints so a
/// model can be evaluated on new raw data.
#[derive(Debug, Clone, PartialEq)]
pub struct Preprocessing {
    /// Feature standardisation fitted on the training split.
    pub scaler: Standardizer,
    /// Regression target scaling fitted on the training split.
    pub target_scaler: Option<TargetScaler>,
    /// Mean of the training targets: the regression baseline's prediction (0 for classes).
    pub target_mean: f64,
    /// Class names, in label order (empty for regression).
    pub class_names: Vec<String>,
    /// The features' names, in the model's input order (what `predict` looks for in a CSV
    /// header; empty in checkpoints from before they were saved).
    pub feature_names: Vec<String>,
    /// Fraction of training rows in each class (empty for regression).
    pub class_frequencies: Vec<f64>,
}

impl Preprocessing {
    /// Fits on the training split.
    pub fn fit(train: &Dataset) -> Self {
        Self {
            scaler: Standardizer::fit(train),
            target_scaler: TargetScaler::fit(train),
            target_mean: TargetScaler::fit(train).map_or(0.0, |t| t.mean),
            class_names: train.class_names().to_vec(),
            feature_names: train.feature_names().to_vec(),
            class_frequencies: class_frequencies(train),
        }
    }

    /// The rows as the model trains on them: standardised features (and regression targets).
    ///
    /// # Errors
    /// [`Error::Data`](crate::Error::Data) when the feature count differs from the training data's.
    pub fn apply(&self, data: &Dataset) -> Result<Dataset> {
        let d = self.scaler.apply(data)?;
        Ok(match &self.target_scaler {
            Some(t) => t.apply(&d),
            None => d,
        })
    }
}

/// A dataset split three ways and standardised with statistics of the training split only.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The splits as loaded (original units), for evaluation.
    pub original: Split,
    /// Standardised training rows.
    pub train: Dataset,
    /// Standardised validation rows.
    pub validation: Dataset,
    /// Standardised test rows.
    pub test: Dataset,
    /// The standardisation and baseline statistics, fitted on the training split.
    pub preprocessing: Preprocessing,
}

impl Prepared {
    /// Splits `data` and standardises every split with the training split's statistics.
    ///
    /// # Errors
    /// As [`Dataset::split`].
    pub fn new(data: &Dataset, split: &SplitConfig) -> Result<Self> {
        let original = data.split(split)?;
        let preprocessing = Preprocessing::fit(&original.train);
        Ok(Self {
            train: preprocessing.apply(&original.train)?,
            validation: preprocessing.apply(&original.validation)?,
            test: preprocessing.apply(&original.test)?,
            preprocessing,
            original,
        })
    }
}

/// The loss of the constant predictor on `train` in the units the model trains in: the
/// variance of the (scaled) targets for MSE, the BCE of the positive rate, or the entropy of
/// the class frequencies for cross-entropy. The reference of the app layer's diagnosis.
pub fn baseline_loss(train: &Dataset) -> f64 {
    match train.targets() {
        Targets::Values(y) => {
            let n = y.len() as f64;
            let mean = y.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
            y.iter()
                .map(|&v| (f64::from(v) - mean).powi(2))
                .sum::<f64>()
                / n
        }
        Targets::Classes(_) => class_frequencies(train)
            .iter()
            .filter(|&&p| p > 0.0)
            .map(|&p| -p * p.ln())
            .sum(),
    }
}

/// The fraction of training rows in each class (empty for regression).
pub fn class_frequencies(train: &Dataset) -> Vec<f64> {
    let Targets::Classes(labels) = train.targets() else {
        return Vec::new();
    };
    let mut counts = vec![0.0; train.class_names().len()];
    for &l in labels {
        counts[l as usize] += 1.0;
    }
    counts.iter().map(|c| c / train.len() as f64).collect()
}
