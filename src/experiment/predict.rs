//! Predictions for new rows from a trained model and the preprocessing saved with it, in the
//! data's own terms: target units for regression, class names and probabilities otherwise.

use super::evaluation::{sigmoid, softmax};
use crate::data::{Preprocessing, Task};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::nn::Mlp;

/// What a model predicts for some rows.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Predictions {
    /// Regression: one value per row, in the target's own units.
    Values(Vec<f32>),
    /// Classification: per row the most probable class and every class's probability.
    Classes {
        /// The class names, in label order.
        names: Vec<String>,
        /// Each row's most probable class (an index into `names`).
        predicted: Vec<usize>,
        /// Row-major `rows × classes` probabilities.
        probabilities: Vec<f32>,
    },
}

/// Predicts for `rows` rows of raw (unstandardised) `features`, in the model's input order.
///
/// # Errors
/// [`Error::ShapeMismatch`] when `features` is not `rows ×` the model's inputs;
/// [`Error::Data`] when the preprocessing does not fit the model (its class names, or its
/// feature count); device errors.
pub fn predict(
    gpu: &Gpu,
    model: &Mlp,
    preprocessing: &Preprocessing,
    features: &[f32],
    rows: usize,
) -> Result<Predictions> {
    let inputs = model.sizes()[0];
    if preprocessing.scaler.mean.len() != inputs {
        return Err(Error::Data(format!(
            "the preprocessing has {} features, the model {inputs} inputs",
            preprocessing.scaler.mean.len()
        )));
    }
    let outputs = model.predict(gpu, &preprocessing.scaler.apply_rows(features), rows)?;
    let names = &preprocessing.class_names;
    let classes = match model.task() {
        Task::Regression => {
            let values = match &preprocessing.target_scaler {
                Some(t) => outputs.iter().map(|&p| t.inverse(p)).collect(),
                None => outputs,
            };
            return Ok(Predictions::Values(values));
        }
        Task::Binary => 2,
        Task::Multiclass => model.sizes()[model.layers()],
    };
    if names.len() != classes {
        return Err(Error::Data(format!(
            "the checkpoint names {} classes, the model has {classes}",
            names.len()
        )));
    }
    let probabilities: Vec<f32> = if model.task() == Task::Binary {
        outputs
            .iter()
            .flat_map(|&z| {
                let p = sigmoid(z);
                [1.0 - p, p]
            })
            .collect()
    } else {
        outputs.chunks(classes).flat_map(softmax).collect()
    };
    let predicted = probabilities
        .chunks(classes)
        .map(|row| (0..classes).fold(0, |best, c| if row[c] > row[best] { c } else { best }))
        .collect();
    Ok(Predictions::Classes {
        names: names.clone(),
        predicted,
        probabilities,
    })
}

impl Predictions {
    /// The predictions as CSV with a header: `prediction` for regression; `label` and
    /// `p(<class>)` per class for classification.
    pub fn to_csv(&self) -> String {
        match self {
            Predictions::Values(values) => {
                let mut out = String::from("prediction\n");
                for v in values {
                    out.push_str(&format!("{v}\n"));
                }
                out
            }
            Predictions::Classes {
                names,
                predicted,
                probabilities,
            } => {
                let mut out = String::from("label");
                for name in names {
                    out.push_str(&format!(",{}", csv_field(&format!("p({name})"))));
                }
                out.push('\n');
                for (row, &p) in probabilities.chunks(names.len()).zip(predicted) {
                    out.push_str(&csv_field(&names[p]));
                    for v in row {
                        out.push_str(&format!(",{v}"));
                    }
                    out.push('\n');
                }
                out
            }
        }
    }
}

/// A CSV field, quoted when it holds a comma, a quote or a line break.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}
