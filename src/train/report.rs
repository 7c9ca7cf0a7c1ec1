//! Preparing a dataset for training (split, standardise) and evaluating a trained model on
//! every split, beside the constant predictor's scores.

use crate::data::{Dataset, Split, SplitConfig, Standardizer, TargetScaler, Targets, Task};
use crate::error::Result;
use crate::gpu::Gpu;
use crate::metrics::{
    binary, binary_baseline, multiclass, multiclass_baseline, regression, regression_baseline,
    BinaryMetrics, MulticlassMetrics, RegressionMetrics,
};
use crate::nn::Mlp;

/// A dataset split three ways and standardised with statistics of the training split only.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The splits as loaded (original units), for evaluation.
    pub original: Split,
    /// Standardised training rows (features; regression targets too).
    pub train: Dataset,
    /// Standardised validation rows.
    pub validation: Dataset,
    /// Standardised test rows.
    pub test: Dataset,
    /// The feature standardiser, fitted on the training split.
    pub scaler: Standardizer,
    /// The regression target scaler, fitted on the training split.
    pub target_scaler: Option<TargetScaler>,
}

impl Prepared {
    /// Splits `data` and standardises every split with the training split's statistics.
    ///
    /// # Errors
    /// As [`Dataset::split`].
    pub fn new(data: &Dataset, split: &SplitConfig) -> Result<Self> {
        let original = data.split(split)?;
        let scaler = Standardizer::fit(&original.train);
        let target_scaler = TargetScaler::fit(&original.train);
        let scale = |d: &Dataset| -> Result<Dataset> {
            let d = scaler.apply(d)?;
            Ok(match &target_scaler {
                Some(t) => t.apply(&d),
                None => d,
            })
        };
        Ok(Self {
            train: scale(&original.train)?,
            validation: scale(&original.validation)?,
            test: scale(&original.test)?,
            scaler,
            target_scaler,
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

/// A model's scores on one split beside the constant predictor's.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// The model's scores.
    pub model: Metrics,
    /// The constant predictor's (training mean, or training class frequencies).
    pub baseline: Metrics,
}

/// Scores of `model` on the standardised rows `scaled` whose original rows are `original`.
///
/// # Errors
/// Device errors.
pub fn evaluate(
    gpu: &Gpu,
    model: &Mlp,
    prepared: &Prepared,
    scaled: &Dataset,
    original: &Dataset,
) -> Result<Evaluation> {
    let outputs = model.predict(gpu, scaled.features(), scaled.len())?;
    let train = &prepared.original.train;
    Ok(match (original.targets(), model.task()) {
        (Targets::Values(y), _) => {
            let pred: Vec<f32> = match &prepared.target_scaler {
                Some(t) => outputs.iter().map(|&p| t.inverse(p)).collect(),
                None => outputs,
            };
            let mean = train
                .target_values()
                .iter()
                .map(|&v| f64::from(v))
                .sum::<f64>()
                / train.len() as f64;
            Evaluation {
                model: Metrics::Regression(regression(&pred, y)),
                baseline: Metrics::Regression(regression_baseline(mean as f32, y)),
            }
        }
        (Targets::Classes(labels), Task::Binary) => {
            let prob: Vec<f32> = outputs.iter().map(|&z| sigmoid(z)).collect();
            let frequencies = class_frequencies(train);
            Evaluation {
                model: Metrics::Binary(binary(&prob, labels)),
                baseline: Metrics::Binary(binary_baseline(frequencies[1], labels)),
            }
        }
        (Targets::Classes(labels), _) => {
            let classes = original.class_names().len();
            let prob: Vec<f32> = outputs.chunks(classes).flat_map(softmax).collect();
            Evaluation {
                model: Metrics::Multiclass(multiclass(&prob, labels, classes)),
                baseline: Metrics::Multiclass(multiclass_baseline(
                    &class_frequencies(train),
                    labels,
                )),
            }
        }
    })
}

/// The loss of the constant predictor on `train` in the units the model trains in: the
/// variance of the (scaled) targets for MSE, the BCE of the positive rate, or the entropy of
/// the class frequencies for cross-entropy. The reference for [`super::diagnose`].
pub fn baseline_loss(train: &Dataset) -> f64 {
    match (train.targets(), train.task()) {
        (Targets::Values(y), _) => {
            let n = y.len() as f64;
            let mean = y.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
            y.iter()
                .map(|&v| (f64::from(v) - mean).powi(2))
                .sum::<f64>()
                / n
        }
        _ => class_frequencies(train)
            .iter()
            .filter(|&&p| p > 0.0)
            .map(|&p| -p * p.ln())
            .sum(),
    }
}

/// The fraction of training rows in each class.
pub fn class_frequencies(train: &Dataset) -> Vec<f64> {
    let mut counts = vec![0.0; train.class_names().len()];
    if let Targets::Classes(labels) = train.targets() {
        for &l in labels {
            counts[l as usize] += 1.0;
        }
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
