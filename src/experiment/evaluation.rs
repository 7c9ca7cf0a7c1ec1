//! Evaluating a trained model on any rows in their original units, beside the constant
//! predictor's scores.

use crate::data::{Dataset, Preprocessing, Targets, Task};
use crate::error::{Error, Result};
use crate::gpu::{block_on, Gpu};
use crate::metrics::{
    binary, binary_baseline, multiclass, multiclass_baseline, regression, regression_baseline,
    Metrics,
};
use crate::nn::Mlp;

/// A model's scores on some rows beside the constant predictor's.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
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
/// [`Error::ModelMismatch`] when the data does not fit the model (features, task, classes);
/// [`Error::Data`] when it does not fit the preprocessing; device errors.
pub fn evaluate(
    gpu: &Gpu,
    model: &Mlp,
    preprocessing: &Preprocessing,
    data: &Dataset,
) -> Result<Evaluation> {
    block_on("evaluate", evaluate_async(gpu, model, preprocessing, data))
}

/// Async variant of [`evaluate`], the one to call in a browser.
///
/// # Errors
/// As [`evaluate`].
pub async fn evaluate_async(
    gpu: &Gpu,
    model: &Mlp,
    preprocessing: &Preprocessing,
    data: &Dataset,
) -> Result<Evaluation> {
    model.check_fits(data)?;
    let scaled = preprocessing.scaler.apply(data)?;
    let outputs = model
        .predict_async(gpu, scaled.features(), scaled.len())
        .await?;
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

pub(super) fn sigmoid(z: f32) -> f32 {
    let z = f64::from(z);
    (if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        z.exp() / (1.0 + z.exp())
    }) as f32
}

pub(super) fn softmax(row: &[f32]) -> Vec<f32> {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f64> = row.iter().map(|&v| f64::from(v - max).exp()).collect();
    let sum: f64 = exp.iter().sum();
    exp.iter().map(|e| (e / sum) as f32).collect()
}
