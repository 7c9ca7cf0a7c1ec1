//! The checkpoint format: one JSON metadata entry, `"wgsl-train"`, in each file, with a
//! format version that every load checks. `docs/checkpoint-format.md` describes it field by
//! field; change both together, and raise [`FORMAT_VERSION`] when a reader of the old version
//! would misread the new.

use std::collections::{BTreeMap, HashMap};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::SplitRecord;
use crate::data::{Preprocessing, Standardizer, TargetScaler, Task};
use crate::error::{Error, Result};
use crate::nn::{Activation, Init, LossWeights, DEFAULT_NEGATIVE_SLOPE};
use crate::optim::ParamGroup;

/// The checkpoint format this crate writes, and the newest it reads.
/// Version 2 (wgsl-train 0.1 with activations other than ReLU) may name any of the
/// activations in `layers`, and records the model's `init`; version 3 records the loss's
/// weights (`loss_weights`), which a version-2 reader would drop unseen; version 4 may have
/// `Dropout` layers after activations (the tensors named by their index in the
/// `nn.Sequential` with them), which a version-3 reader would refuse as unknown. Version 1
/// files, whose layers are Linear and ReLU, and versions 2 and 3 read as before.
pub const FORMAT_VERSION: u32 = 4;

/// The metadata key of the JSON entry.
pub const METADATA_KEY: &str = "wgsl-train";

/// The model file's entry: everything needed to use the weights.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct ModelHeader {
    pub format_version: u32,
    pub crate_version: String,
    pub task: Task,
    /// `nn.Sequential`'s layers in order; the output is logits (the task's sigmoid or
    /// softmax is part of its loss, not a layer).
    pub layers: Vec<Layer>,
    /// How the weights were drawn before training (absent in files from before it was
    /// recorded, and in PyTorch's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<Init>,
    /// The loss's weights, as PyTorch's criterion takes them (absent: unweighted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_weights: Option<LossWeightsRecord>,
    /// Optimizer steps taken (absent for a model saved on its own).
    pub step: Option<u64>,
    pub preprocessing: Option<PreprocessingRecord>,
    pub split: Option<SplitRecord>,
    /// The optimizer's parameter groups as configured (absent for a model saved on its own).
    pub optimizer: Option<Vec<ParamGroup>>,
}

/// [`LossWeights`] in the file, under PyTorch's argument names: `{"weight": [...]}` for
/// `CrossEntropyLoss`, `{"pos_weight": [...]}` for `BCEWithLogitsLoss`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum LossWeightsRecord {
    Weight(Vec<f32>),
    PosWeight(Vec<f32>),
}

impl LossWeightsRecord {
    pub fn of(weights: &LossWeights) -> Option<Self> {
        match weights {
            LossWeights::None => None,
            LossWeights::Class(w) => Some(Self::Weight(w.clone())),
            LossWeights::Positive(w) => Some(Self::PosWeight(w.clone())),
        }
    }

    pub fn weights(record: Option<&Self>) -> LossWeights {
        match record {
            None => LossWeights::None,
            Some(Self::Weight(w)) => LossWeights::Class(w.clone()),
            Some(Self::PosWeight(w)) => LossWeights::Positive(w.clone()),
        }
    }
}

/// The training-state file's entry: what a resume needs besides the tensors.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct TrainingHeader {
    pub format_version: u32,
    pub crate_version: String,
    pub step: u64,
    /// The learning curves as CSV, `epoch,train_loss,validation_loss` (exact decimal
    /// round-trips, non-finite losses included).
    pub history: String,
    pub best_epoch: Option<usize>,
    pub stopped_early: bool,
    /// The run's settings in words; a resume compares them one by one.
    pub settings: BTreeMap<String, String>,
}

/// One layer of the model, named as its PyTorch class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Layer {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_features: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_features: Option<usize>,
    /// LeakyReLU's slope (PyTorch's default 0.01 when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub negative_slope: Option<f64>,
    /// GELU's form: `"none"` (exact `erf`, when absent) or `"tanh"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approximate: Option<String>,
    /// Dropout's probability (PyTorch's default 0.5 when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p: Option<f64>,
}

impl Layer {
    fn linear(inputs: usize, outputs: usize) -> Self {
        Layer {
            kind: "Linear".into(),
            in_features: Some(inputs),
            out_features: Some(outputs),
            negative_slope: None,
            approximate: None,
            p: None,
        }
    }

    /// `nn.Dropout(p)`.
    fn dropout(p: f32) -> Self {
        Layer {
            kind: "Dropout".into(),
            in_features: None,
            out_features: None,
            negative_slope: None,
            approximate: None,
            p: Some(f64::from(p)),
        }
    }

    /// The layer of `activation`, as PyTorch's module and its arguments.
    fn activation(activation: Activation) -> Self {
        Layer {
            kind: activation.torch_name().into(),
            in_features: None,
            out_features: None,
            negative_slope: match activation {
                Activation::LeakyRelu { negative_slope } => Some(f64::from(negative_slope)),
                _ => None,
            },
            approximate: match activation {
                Activation::Gelu => Some("none".into()),
                Activation::GeluTanh => Some("tanh".into()),
                _ => None,
            },
            p: None,
        }
    }

    /// The activation this layer is, if it is one wgsl-train has.
    fn as_activation(&self) -> std::result::Result<Option<Activation>, String> {
        Ok(Some(match self.kind.as_str() {
            "ReLU" => Activation::Relu,
            "LeakyReLU" => Activation::LeakyRelu {
                negative_slope: self
                    .negative_slope
                    .map_or(DEFAULT_NEGATIVE_SLOPE, |s| s as f32),
            },
            "Tanh" => Activation::Tanh,
            "Sigmoid" => Activation::Sigmoid,
            "GELU" => match self.approximate.as_deref() {
                None | Some("none") => Activation::Gelu,
                Some("tanh") => Activation::GeluTanh,
                Some(other) => {
                    return Err(format!(
                        "GELU with approximate={other:?}; PyTorch's are \"none\" and \"tanh\""
                    ))
                }
            },
            "SiLU" => Activation::Silu,
            _ => return Ok(None),
        }))
    }
}

/// PyTorch's names of the activations wgsl-train has, for messages.
const ACTIVATION_NAMES: &str = "ReLU, LeakyReLU, Tanh, Sigmoid, GELU or SiLU";

/// The preprocessing fitted on the training split, as the file stores it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct PreprocessingRecord {
    pub feature_names: Vec<String>,
    pub feature_mean: Vec<f64>,
    pub feature_std: Vec<f64>,
    /// Regression targets are standardised for training: `y = mean + std · output`.
    pub target_scaling: Option<TargetScaling>,
    pub target_mean: f64,
    pub class_names: Vec<String>,
    pub class_frequencies: Vec<f64>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(super) struct TargetScaling {
    pub mean: f64,
    pub std: f64,
}

/// A `u64` as 16 hexadecimal digits in JSON, as JSON numbers lose 64-bit integers in many
/// readers.
pub(super) mod hex_u64 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{value:016x}"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let text = String::deserialize(d)?;
        u64::from_str_radix(&text, 16).map_err(serde::de::Error::custom)
    }
}

/// The metadata of a file holding `header`: the JSON entry, and `"format": "pt"`, which
/// `safetensors.torch` expects.
pub(super) fn metadata_of<T: Serialize>(header: &T) -> HashMap<String, String> {
    let json = serde_json::to_string(header).expect("checkpoint headers serialize");
    HashMap::from([
        ("format".to_string(), "pt".to_string()),
        (METADATA_KEY.to_string(), json),
    ])
}

/// The header of a file with `metadata`, or `None` for a file without the entry (a PyTorch
/// state dict). The version is checked before anything else is read.
///
/// # Errors
/// [`Error::Checkpoint`] for a newer format version, a file of a development version from
/// before the format was versioned, or a damaged entry (naming the field).
pub(super) fn read_header<T: DeserializeOwned>(
    path: &str,
    metadata: &HashMap<String, String>,
) -> Result<Option<T>> {
    let bad = |detail: String| Error::Checkpoint {
        path: path.to_string(),
        detail,
    };
    let Some(json) = metadata.get(METADATA_KEY) else {
        if metadata.keys().any(|k| k.starts_with("wgsl-train.")) {
            return Err(bad(
                "written by a development version of wgsl-train, before the checkpoint format was versioned; its weights load as a PyTorch file only after removing its `wgsl-train.*` metadata, or train it again".into(),
            ));
        }
        return Ok(None);
    };
    let value: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| bad(format!("the {METADATA_KEY:?} metadata is not JSON: {e}")))?;
    let version = value
        .get("format_version")
        .and_then(serde_json::Value::as_u64);
    match version {
        Some(v) if v <= u64::from(FORMAT_VERSION) && v >= 1 => {}
        Some(v) => {
            let writer = value
                .get("crate_version")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("an unknown version");
            return Err(bad(format!(
                "checkpoint format version {v} (written by wgsl-train {writer}); this wgsl-train ({}) reads format versions 1 to {FORMAT_VERSION}: upgrade wgsl-train to read it",
                env!("CARGO_PKG_VERSION")
            )));
        }
        None => return Err(bad("the metadata has no format_version".into())),
    }
    serde_json::from_value(value)
        .map(Some)
        .map_err(|e| bad(format!("damaged {METADATA_KEY:?} metadata: {e}")))
}

/// The layers of an MLP with these sizes, an activation after each hidden layer and, where its
/// probability is above 0, a Dropout after that.
pub(super) fn layers_of(
    sizes: &[usize],
    activations: &[Activation],
    dropout: &[f32],
) -> Vec<Layer> {
    let mut layers = Vec::new();
    for (i, pair) in sizes.windows(2).enumerate() {
        if i > 0 {
            layers.push(Layer::activation(activations[i - 1]));
            if let Some(&p) = dropout.get(i - 1).filter(|&&p| p > 0.0) {
                layers.push(Layer::dropout(p));
            }
        }
        layers.push(Layer::linear(pair[0], pair[1]));
    }
    layers
}

/// What `layers` describe: the layer sizes, the activation after each hidden layer and the
/// Dropout probability after it (0 for none).
pub(super) type Architecture = (Vec<usize>, Vec<Activation>, Vec<f32>);

/// The architecture `layers` describe, or why wgsl-train cannot build it, naming the layer:
/// `Linear`, then for each hidden layer an activation, an optional `Dropout` and a `Linear`.
pub(super) fn sizes_of(layers: &[Layer]) -> std::result::Result<Architecture, String> {
    const SHAPE: &str = "nn.Sequential(Linear, activation, [Dropout,] Linear, …, Linear)";
    let (mut sizes, mut activations, mut dropout) = (Vec::new(), Vec::new(), Vec::new());
    // What the layer before was: the start, a Linear, an activation, or a Dropout.
    let mut before = "start";
    for (index, layer) in layers.iter().enumerate() {
        let activation = layer
            .as_activation()
            .map_err(|why| format!("layer {index}: {why}"))?;
        let kind = layer.kind.as_str();
        let (allowed, now) = match (kind, activation) {
            ("Linear", _) => (before != "Linear", "Linear"),
            (_, Some(_)) => (before == "Linear", "activation"),
            ("Dropout", None) => (before == "activation", "Dropout"),
            (_, None) => {
                return Err(format!(
                    "layer {index} is {kind}, which wgsl-train does not have: it builds Linear layers with {ACTIVATION_NAMES} between them, each activation optionally followed by Dropout"
                ))
            }
        };
        if !allowed {
            return Err(format!(
                "layer {index} is {kind} after {}, where wgsl-train's {SHAPE} has {}",
                match before {
                    "start" => "nothing",
                    "activation" => "an activation",
                    other => other,
                },
                match before {
                    "start" | "Dropout" => "Linear",
                    "Linear" => "an activation",
                    _ => "Linear or Dropout",
                }
            ));
        }
        before = now;
        if let Some(activation) = activation {
            activations.push(activation);
            dropout.push(0.0);
            continue;
        }
        if kind == "Dropout" {
            let p = layer.p.unwrap_or(0.5);
            if !(p > 0.0 && p < 1.0) {
                return Err(format!(
                    "layer {index} is Dropout(p={p}); wgsl-train's have 0 < p < 1 (scripts/from_torch.py leaves out Dropout(p=0), the identity)"
                ));
            }
            *dropout.last_mut().expect("after an activation") = p as f32;
            continue;
        }
        if let (Some(inp), Some(out)) = (layer.in_features, layer.out_features) {
            if sizes.last().is_some_and(|&last| last != inp) {
                return Err(format!(
                    "layer {index} (Linear) takes {inp} inputs, the layer before gives {}",
                    sizes.last().unwrap()
                ));
            }
            if sizes.is_empty() {
                sizes.push(inp);
            }
            sizes.push(out);
        } else {
            return Err(format!("layer {index} (Linear) has no in/out_features"));
        }
    }
    match layers.last() {
        None => Err("no layers".into()),
        Some(last) if last.kind != "Linear" => Err(format!(
            "the last layer is {}; the model must end in a Linear layer (the output is logits)",
            last.kind
        )),
        Some(_) => Ok((sizes, activations, dropout)),
    }
}

impl PreprocessingRecord {
    pub(super) fn of(p: &Preprocessing) -> Self {
        Self {
            feature_names: p.feature_names.clone(),
            feature_mean: p.scaler.mean.clone(),
            feature_std: p.scaler.std.clone(),
            target_scaling: p.target_scaler.map(|t| TargetScaling {
                mean: t.mean,
                std: t.std,
            }),
            target_mean: p.target_mean,
            class_names: p.class_names.clone(),
            class_frequencies: p.class_frequencies.clone(),
        }
    }

    /// The preprocessing, or the name of the first field that cannot be right (a standard
    /// deviation of 0 would scale a feature to ∞).
    pub(super) fn to_preprocessing(&self) -> std::result::Result<Preprocessing, &'static str> {
        let (mean, std) = (&self.feature_mean, &self.feature_std);
        if mean.len() != std.len() || mean.iter().any(|m| !m.is_finite()) {
            return Err("feature_mean");
        }
        if std.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            return Err("feature_std");
        }
        if !self.feature_names.is_empty() && self.feature_names.len() != mean.len() {
            return Err("feature_names");
        }
        if let Some(t) = self.target_scaling {
            if !(t.mean.is_finite() && t.std.is_finite() && t.std > 0.0) {
                return Err("target_scaling");
            }
        }
        Ok(Preprocessing {
            scaler: Standardizer {
                mean: mean.clone(),
                std: std.clone(),
            },
            target_scaler: self.target_scaling.map(|t| TargetScaler {
                mean: t.mean,
                std: t.std,
            }),
            target_mean: self.target_mean,
            class_names: self.class_names.clone(),
            class_frequencies: self.class_frequencies.clone(),
            feature_names: self.feature_names.clone(),
        })
    }
}
