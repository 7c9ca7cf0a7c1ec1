//! Preparing a dataset for training (split, standardise) and evaluating a trained model on
//! any rows in their original units, beside the constant predictor's scores.

use crate::data::{Dataset, Split, SplitConfig, Standardizer, TargetScaler, Targets, Task};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::metrics::{
    binary, binary_baseline, multiclass, multiclass_baseline, regression, regression_baseline,
    BinaryMetrics, MulticlassMetrics, RegressionMetrics,
};
use crate::nn::Mlp;

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
            class_frequencies: class_frequencies(train),
        }
    }

    /// The rows as the model trains on them: standardised features (and regression targets).
    ///
    /// # Errors
    /// [`Error::Data`] when the feature count differs from the training data's.
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

/// Scores of one kind of task.
#[derive(Debug, Clone, PartialEq)]
pub enum Metrics {
    /// MSE, RMSE, MAE, R².
    Regression(RegressionMetrics),
    /// Accuracy, precision, recall, F1, ROC-AUC, BCE.
    Binary(BinaryMetrics),
    /// Accuracy, macro-F1, confusion matrix, cross-entropy.
    Multiclass(MulticlassMetrics),
}

impl Metrics {
    /// Every score with its name, in a fixed order for the kind of task.
    pub fn named_values(&self) -> Vec<(&'static str, f64)> {
        match self {
            Metrics::Regression(r) => vec![
                ("MSE", r.mse),
                ("RMSE", r.rmse),
                ("MAE", r.mae),
                ("R²", r.r2),
            ],
            Metrics::Binary(b) => vec![
                ("accuracy", b.accuracy),
                ("precision", b.precision),
                ("recall", b.recall),
                ("F1", b.f1),
                ("ROC-AUC", b.roc_auc),
                ("BCE", b.bce),
            ],
            Metrics::Multiclass(m) => {
                vec![
                    ("accuracy", m.accuracy),
                    ("macro-F1", m.macro_f1),
                    ("cross-entropy", m.cross_entropy),
                ]
            }
        }
    }

    /// The loss the model was trained on, in the data's units: MSE, BCE or cross-entropy.
    pub fn loss(&self) -> f64 {
        match self {
            Metrics::Regression(m) => m.mse,
            Metrics::Binary(m) => m.bce,
            Metrics::Multiclass(m) => m.cross_entropy,
        }
    }
}

/// A model's scores on some rows beside the constant predictor's.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// The model's scores.
    pub model: Metrics,
    /// The constant predictor's (training mean, or training class frequencies).
    pub baseline: Metrics,
}

/// Scores of `model` on `data`, given in original units: the rows are standardised with
/// `preprocessing`, regression predictions mapped back, and the baseline is the training
/// mean or class frequencies.
///
/// # Errors
/// [`Error::Data`] when the data does not fit the model or preprocessing; device errors.
pub fn evaluate(
    gpu: &Gpu,
    model: &Mlp,
    preprocessing: &Preprocessing,
    data: &Dataset,
) -> Result<Evaluation> {
    if data.task() != model.task() {
        return Err(Error::Data(format!(
            "the data is for {}, the model for {}",
            data.task(),
            model.task()
        )));
    }
    let scaled = preprocessing.scaler.apply(data)?;
    let outputs = model.predict(gpu, scaled.features(), scaled.len())?;
    Ok(match data.targets() {
        Targets::Values(y) => {
            let pred: Vec<f32> = match &preprocessing.target_scaler {
                Some(t) => outputs.iter().map(|&p| t.inverse(p)).collect(),
                None => outputs,
            };
            Evaluation {
                model: Metrics::Regression(regression(&pred, y)),
                baseline: Metrics::Regression(regression_baseline(
                    preprocessing.target_mean as f32,
                    y,
                )),
            }
        }
        Targets::Classes(labels) => {
            let frequencies = &preprocessing.class_frequencies;
            if frequencies.len() != data.class_names().len() {
                return Err(Error::Data(format!(
                    "the data has {} classes, the model was trained on {}",
                    data.class_names().len(),
                    frequencies.len()
                )));
            }
            if model.task() == Task::Binary {
                let prob: Vec<f32> = outputs.iter().map(|&z| sigmoid(z)).collect();
                Evaluation {
                    model: Metrics::Binary(binary(&prob, labels)),
                    baseline: Metrics::Binary(binary_baseline(frequencies[1], labels)),
                }
            } else {
                let prob: Vec<f32> = outputs
                    .chunks(frequencies.len())
                    .flat_map(softmax)
                    .collect();
                Evaluation {
                    model: Metrics::Multiclass(multiclass(&prob, labels, frequencies.len())),
                    baseline: Metrics::Multiclass(multiclass_baseline(frequencies, labels)),
                }
            }
        }
    })
}

/// The loss of the constant predictor on `train` in the units the model trains in: the
/// variance of the (scaled) targets for MSE, the BCE of the positive rate, or the entropy of
/// the class frequencies for cross-entropy. The reference for [`super::diagnose`].
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

fn sigmoid(z: f32) -> f32 {
    let z = f64::from(z);
    (if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        z.exp() / (1.0 + z.exp())
    }) as f32
}

fn softmax(row: &[f32]) -> Vec<f32> {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f64> = row.iter().map(|&v| f64::from(v - max).exp()).collect();
    let sum: f64 = exp.iter().sum();
    exp.iter().map(|e| (e / sum) as f32).collect()
}
