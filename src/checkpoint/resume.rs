//! The training state beside a model file: everything a resume needs (the weights, the
//! optimizer's state, the best weights, the history, the run's settings), written first so that
//! its rename commits a save; and the resume, which refuses a run whose settings differ.

use std::path::Path;

use super::format::{metadata_of, read_header, TrainingHeader};
use super::model::model_header;
use super::paths::training_state_path;
use super::run::RunInfo;
use super::tensors::{read_tensors, write_tensors};
use super::{FORMAT_VERSION, METADATA_KEY};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::nn::NamedTensor;
use crate::optim::OptimizerState;
use crate::train::{EpochRecord, History, Trainer};

/// Saves the training state of `trainer` beside `path`, then the model itself to `path`
/// (with the preprocessing of `info` as in [`save_model`](super::save_model)).
///
/// # Errors
/// [`Error::Io`] when a file cannot be written (previous files stay intact).
pub fn save(gpu: &Gpu, path: &Path, trainer: &Trainer, info: &RunInfo) -> Result<()> {
    let model = trainer.model();
    let step = trainer.optimizer().step_count();
    let state = trainer.optimizer().state(gpu)?;
    let slots = model.params().slots();
    let flat = model.params().flat_len();
    let weights = model.state_dict(gpu)?;
    let mut tensors = Vec::new();
    for (state_name, values) in &state.tensors {
        if values.len() != flat {
            continue; // a stand-in the optimizer does not use (AMSGrad's max v without AMSGrad)
        }
        for slot in slots {
            tensors.push(NamedTensor {
                name: format!("{}.{state_name}", slot.name),
                shape: slot.shape.clone(),
                data: values[slot.offset..slot.offset + slot.len()].to_vec(),
            });
        }
    }
    if let Some(best) = trainer.best_params(gpu)? {
        for slot in slots {
            tensors.push(NamedTensor {
                name: format!("best.{}", slot.name),
                shape: slot.shape.clone(),
                data: best[slot.offset..slot.offset + slot.len()].to_vec(),
            });
        }
    }
    tensors.extend(weights.iter().map(|t| NamedTensor {
        name: format!("model.{}", t.name),
        ..t.clone()
    }));
    let header = TrainingHeader {
        format_version: FORMAT_VERSION,
        crate_version: env!("CARGO_PKG_VERSION").into(),
        step,
        history: trainer.history().to_csv(),
        best_epoch: trainer.history().best_epoch,
        stopped_early: trainer.history().stopped_early,
        settings: settings(trainer, info)
            .into_iter()
            .map(|(name, value)| (name.to_string(), value))
            .collect(),
    };
    // The training state first: it is complete on its own, so its rename commits the save.
    write_tensors(&training_state_path(path), &tensors, metadata_of(&header))?;
    let model_header = model_header(model, Some((step, trainer.param_groups())), info);
    write_tensors(path, &weights, metadata_of(&model_header))
}

/// Settings that may change when a run resumes: they decide how long it goes on, not what
/// each step computes.
const MAY_CHANGE: [&str; 3] = ["epochs", "patience", "min_delta"];

/// The settings a checkpoint records: the trainer's own and the run's from `info`.
fn settings(trainer: &Trainer, info: &RunInfo) -> Vec<(&'static str, String)> {
    let model = trainer.model();
    let config = trainer.config();
    let sizes: Vec<String> = model.sizes().iter().map(usize::to_string).collect();
    let activations: Vec<String> = model.activations().iter().map(|a| a.to_string()).collect();
    let dropout: Vec<String> = model.dropout().iter().map(f32::to_string).collect();
    let mut settings = vec![
        ("layer sizes", sizes.join("→")),
        ("activations", activations.join(",")),
        ("dropout", dropout.join(",")),
        ("task", model.task().to_string()),
        ("loss weights", model.loss_weights().to_string()),
        ("optimizer", format!("{:?}", trainer.param_groups())),
        ("batch size", config.batch_size.to_string()),
        ("shuffle seed", config.seed.to_string()),
        (
            "learning-rate schedule",
            format!("{:?}", config.lr_schedule),
        ),
        ("clip_grad_norm", format!("{:?}", config.clip_grad_norm)),
        // The path taken, not the choice: `Auto` takes either.
        (
            "single-dispatch epochs",
            trainer.single_dispatch_epochs().to_string(),
        ),
        ("epochs", config.epochs.to_string()),
        ("patience", format!("{:?}", config.patience)),
        ("min_delta", config.min_delta.to_string()),
    ];
    if let Some(split) = &info.split {
        settings.push(("data", split.data_setting()));
        settings.push(("split", format!("{:?}", split.config)));
    }
    settings
}

/// What [`restore_training`] restored, and the settings that changed as they may (epochs,
/// patience, min_delta).
#[derive(Debug, Clone, PartialEq)]
pub struct Restored {
    /// Epochs done before the resume.
    pub epochs: usize,
    /// `(setting, saved value, value now)` for each allowed change.
    pub changed: Vec<(&'static str, String, String)>,
}

/// Restores the training state saved beside `path` into `trainer`, built with the same
/// settings (see [`RunInfo`]): the weights, the optimizer state, the step count, the best
/// weights and the history. Training then continues exactly as if it had not stopped.
///
/// The weights come from the training state, which [`save`] writes first: a run killed
/// between its two writes resumes from the newer save.
///
/// # Errors
/// [`Error::Checkpoint`] when the files are missing, corrupt or hold non-finite values (naming
/// the tensor), or when a setting differs from the saved run's, naming the setting and both
/// values; nothing in `trainer` changes then.
pub fn restore_training(
    gpu: &Gpu,
    path: &Path,
    trainer: &mut Trainer,
    info: &RunInfo,
) -> Result<Restored> {
    let state_path = training_state_path(path);
    let bad = |detail: String| Error::Checkpoint {
        path: state_path.display().to_string(),
        detail,
    };
    let (tensors, metadata) = read_tensors(&state_path)?;
    let header: TrainingHeader = read_header(&state_path.display().to_string(), &metadata)?
        .ok_or_else(|| {
            bad(format!(
                "no {METADATA_KEY:?} metadata: not a training state"
            ))
        })?;
    let step = header.step;
    let changed = compare_settings(&header.settings, &settings(trainer, info)).map_err(bad)?;
    let history = parse_history(&header).ok_or_else(|| bad("unreadable learning curves".into()))?;
    let weights: Vec<NamedTensor> = tensors
        .iter()
        .filter_map(|t| {
            let name = t.name.strip_prefix("model.")?;
            Some(NamedTensor {
                name: name.to_string(),
                ..t.clone()
            })
        })
        .collect();

    let model = trainer.model();
    let slots = model.params().slots();
    let flat = model.params().flat_len();
    let current = trainer.optimizer().state(gpu)?;
    let find = |name: &str| tensors.iter().find(|t| t.name == name);
    // A flat buffer from the per-parameter tensors `{prefix}{param}{suffix}`.
    let flatten = |prefix: &str, suffix: &str, len: usize| -> Result<Vec<f32>> {
        let mut values = vec![0.0f32; len];
        for slot in slots {
            let name = format!("{prefix}{}{suffix}", slot.name);
            let t = find(&name).ok_or_else(|| bad(format!("missing {name:?}")))?;
            if t.shape != slot.shape {
                return Err(bad(format!(
                    "{name:?} is {:?}, the model needs {:?}",
                    t.shape, slot.shape
                )));
            }
            values[slot.offset..slot.offset + slot.len()].copy_from_slice(&t.data);
        }
        Ok(values)
    };
    let mut restored = OptimizerState {
        step,
        tensors: Vec::new(),
    };
    for (state_name, values) in &current.tensors {
        let values = if values.len() == flat {
            flatten("", &format!(".{state_name}"), flat)?
        } else {
            vec![0.0; values.len()] // the stand-in of an unused state
        };
        restored.tensors.push((state_name.clone(), values));
    }
    let best = match history.best_epoch {
        Some(_) => Some(flatten("best.", "", flat)?),
        None => None,
    };
    trainer
        .model()
        .load_state_dict(gpu, &weights)
        .map_err(|e| bad(e.to_string()))?;
    trainer
        .optimizer_mut()
        .load_state(gpu, &restored)
        .map_err(|e| bad(e.to_string()))?;
    let epochs = history.epochs.len();
    trainer.resume(gpu, history, best.as_deref())?;
    Ok(Restored { epochs, changed })
}

/// Checks the settings saved in `metadata` against `now`: the allowed changes, or the first
/// other difference in words.
fn compare_settings(
    saved_settings: &std::collections::BTreeMap<String, String>,
    now: &[(&'static str, String)],
) -> std::result::Result<Vec<(&'static str, String, String)>, String> {
    let mut changed = Vec::new();
    for (name, value) in now {
        // Files from before the activations were recorded trained ReLU everywhere, and before
        // Dropout was, none: one such word per hidden layer.
        let before_recorded = match *name {
            "activations" => Some("relu"),
            "dropout" => Some("0"),
            _ => None,
        };
        let per_layer;
        let saved = match (saved_settings.get(*name), before_recorded) {
            (Some(saved), _) => saved,
            (None, Some(word)) => {
                per_layer = value
                    .split(',')
                    .filter(|item| !item.is_empty())
                    .map(|_| word)
                    .collect::<Vec<_>>()
                    .join(",");
                &per_layer
            }
            (None, None) => continue, // a file from before this setting was recorded
        };
        if saved == value {
            continue;
        }
        if MAY_CHANGE.contains(name) {
            changed.push((*name, saved.clone(), value.clone()));
        } else {
            // Under `Auto` the path follows the device: say how to pin the saved one.
            let how = match *name {
                "single-dispatch epochs" if saved == "true" => {
                    " (single_dispatch_epochs: Always; CLI --single-dispatch-epochs always)"
                }
                "single-dispatch epochs" => {
                    " (single_dispatch_epochs: Never; CLI --single-dispatch-epochs never)"
                }
                _ => "",
            };
            // The optimizer's and the split's settings are `Debug` dumps: name the field that
            // differs, not the dump.
            if let Some((field, saved, value)) = differing_field(saved, value) {
                return Err(format!(
                    "the run was saved with the {name}'s {field} {saved}, but this one has {value}; resume with the same settings or start a new run"
                ));
            }
            return Err(format!(
                "the run was saved with {name} {saved}, but this one has {value}; resume with the same settings{how} or start a new run"
            ));
        }
    }
    Ok(changed)
}

fn parse_history(header: &TrainingHeader) -> Option<History> {
    let mut epochs = Vec::new();
    for line in header.history.lines().skip(1) {
        let mut fields = line.split(',');
        let epoch = fields.next()?.parse().ok()?;
        let train_loss = fields.next()?.parse().ok()?;
        let validation_loss = match fields.next() {
            Some("") | None => None,
            Some(v) => Some(v.parse().ok()?),
        };
        epochs.push(EpochRecord {
            epoch,
            train_loss,
            validation_loss,
            step_losses: Vec::new(),
        });
    }
    Some(History {
        epochs,
        best_epoch: header.best_epoch,
        stopped_early: header.stopped_early,
    })
}

/// Where two `Debug` dumps of one type first differ: the field (with the command line's flag
/// where it has one) and its value in each. `None` when no named field holds the difference
/// (plain values such as `10→5→1`).
fn differing_field(saved: &str, now: &str) -> Option<(String, String, String)> {
    let at = saved.bytes().zip(now.bytes()).position(|(a, b)| a != b)?;
    let colon = saved[..at].rfind(": ")?;
    let name_start = saved[..colon]
        .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
        .map_or(0, |i| i + 1);
    let field = &saved[name_start..colon];
    // The value: from after ": " to the comma or closing bracket that ends it.
    let value = |dump: &str| {
        let rest = &dump[colon + 2..];
        let mut depth = 0i32;
        let end = rest
            .char_indices()
            .find(|&(_, c)| {
                match c {
                    '(' | '[' | '{' => depth += 1,
                    ')' | ']' | '}' => depth -= 1,
                    _ => {}
                }
                depth < 0 || (depth == 0 && c == ',')
            })
            .map_or(rest.len(), |(i, _)| i);
        rest[..end].trim().to_string()
    };
    let (saved, now) = (value(saved), value(now));
    let flag = match field {
        "config" => {
            // Another optimizer: its kind, not its whole configuration.
            let kind = |v: &str| v.split('(').next().unwrap_or(v).to_lowercase();
            return Some(("kind (--optimizer)".into(), kind(&saved), kind(&now)));
        }
        "lr" => " (--lr)",
        "momentum" => " (--momentum)",
        "dampening" => " (--dampening)",
        "weight_decay" => " (--l2)",
        "l1" => " (--l1)",
        "nesterov" => " (--nesterov)",
        "betas" => " (--beta1, --beta2)",
        "eps" => " (--eps)",
        "amsgrad" => " (--amsgrad)",
        "decoupled_weight_decay" => " (--optimizer adamw)",
        "validation" => " (--validation)",
        "test" => " (--test)",
        "seed" => " (--seed)",
        _ => "",
    };
    Some((format!("{field}{flag}"), saved, now))
}

#[cfg(test)]
mod tests {
    use super::differing_field;
    use crate::optim::{AdamConfig, ParamGroup, SgdConfig};

    fn dump(config: impl Into<crate::optim::OptimizerConfig>) -> String {
        format!("{:?}", [ParamGroup::new(vec!["0.weight".into()], config)])
    }

    #[test]
    fn a_changed_hyperparameter_is_named_with_both_values() {
        let adam = AdamConfig::default();
        let field = |a: String, b: String| differing_field(&a, &b).unwrap();
        assert_eq!(
            field(dump(adam), dump(AdamConfig { lr: 0.01, ..adam })),
            ("lr (--lr)".into(), "0.001".into(), "0.01".into())
        );
        assert_eq!(
            field(
                dump(adam),
                dump(AdamConfig {
                    betas: (0.8, 0.999),
                    ..adam
                })
            ),
            (
                "betas (--beta1, --beta2)".into(),
                "(0.9, 0.999)".into(),
                "(0.8, 0.999)".into()
            )
        );
        assert_eq!(
            field(dump(adam), dump(SgdConfig::default())),
            ("kind (--optimizer)".into(), "adam".into(), "sgd".into())
        );
        assert_eq!(differing_field(&dump(adam), &dump(adam)), None);
    }
}
