//! Checkpoints as safetensors files that PyTorch can read.
//!
//! `save` writes two files: the model, `path`, whose tensors are named and shaped as the
//! `state_dict` of a PyTorch `nn.Sequential` of the same layers (`0.weight` `[out, in]`,
//! `0.bias`, `2.weight`, …), so `model.load_state_dict(safetensors.torch.load_file(path))`
//! works, and a file of ours can be loaded from theirs; and beside it the training state,
//! `<stem>.training.safetensors`: the optimizer's state per parameter (`0.weight.exp_avg`, …),
//! the best weights so far (`best.0.weight`, …), the step count, the learning curves, the
//! settings of the run, and a copy of the weights (`model.0.weight`, …), so training resumes
//! exactly. Every write goes to a temporary file that is synced and then renamed over the old
//! one: a failed or interrupted save never damages the previous file.
//!
//! The training state is written first and holds everything a resume needs, weights included:
//! its rename is the one commit point. A run killed between the two renames leaves a training
//! state one save ahead of the model file, and resuming takes the weights from the state, so
//! `kill -9` at any instant leaves a resumable pair.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

use crate::data::{Dataset, Preprocessing, SplitConfig, Standardizer, TargetScaler, Task};
use crate::error::{Error, Result};
use crate::fs::WriteLock;
use crate::gpu::Gpu;
use crate::nn::{Mlp, NamedTensor};
use crate::optim::OptimizerState;
use crate::train::{EpochRecord, History, Trainer};

/// The training-state file that belongs to the model file `path`.
pub fn training_state_path(path: &Path) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!("{stem}.training.safetensors"))
}

/// The lock a run holds while it may save to `path`: it covers the model file and its
/// training state, and removes what killed writers of either left behind.
///
/// # Errors
/// As [`WriteLock::acquire`].
pub fn lock_for_saving(path: &Path) -> Result<WriteLock> {
    WriteLock::acquire_covering(path, &[&training_state_path(path)])
}

/// Saves the model's parameters to `path` (PyTorch names and shapes), with the
/// preprocessing fitted on its training data, if given, in the file's metadata.
///
/// # Errors
/// [`Error::Io`] when the file cannot be written (the previous file, if any, is intact).
pub fn save_model(
    gpu: &Gpu,
    path: &Path,
    model: &Mlp,
    preprocessing: Option<&Preprocessing>,
) -> Result<()> {
    let info = RunInfo {
        preprocessing,
        split: None,
    };
    write_tensors(
        path,
        &model.state_dict(gpu)?,
        model_metadata(model, None, &info),
    )
}

/// What a checkpoint records about the run besides the trainer: the preprocessing, and which
/// data was split how. `Default`: neither.
#[derive(Debug, Clone, Default)]
pub struct RunInfo<'a> {
    /// The standardisation fitted on the training split, saved in the model file's metadata.
    pub preprocessing: Option<&'a Preprocessing>,
    /// The data and its split: a resume must repeat them, and `eval --split` reproduces a
    /// split's scores from them.
    pub split: Option<SplitRecord>,
}

/// Which data a model was trained on (its row count and [`Dataset::fingerprint`]) and how it
/// was split.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SplitRecord {
    /// The split's fractions, seed and stratification.
    pub config: SplitConfig,
    /// Rows of the whole dataset.
    pub rows: usize,
    /// The whole dataset's fingerprint.
    pub fingerprint: u64,
}

impl SplitRecord {
    /// The record of splitting `data` with `config`.
    pub fn of(data: &Dataset, config: &SplitConfig) -> Self {
        Self {
            config: *config,
            rows: data.len(),
            fingerprint: data.fingerprint(),
        }
    }

    /// Checks that `data` is the data this record was made from.
    ///
    /// # Errors
    /// [`Error::Data`] naming both row counts and fingerprints.
    pub fn check(&self, data: &Dataset) -> Result<()> {
        let now = Self::of(data, &self.config);
        if (now.rows, now.fingerprint) == (self.rows, self.fingerprint) {
            return Ok(());
        }
        Err(Error::Data(format!(
            "this is not the data the model was trained on: {} rows with fingerprint {:016x}, the model's had {} rows with fingerprint {:016x}",
            now.rows, now.fingerprint, self.rows, self.fingerprint
        )))
    }

    fn data_setting(&self) -> String {
        format!("{} rows, fingerprint {:016x}", self.rows, self.fingerprint)
    }
}

/// Saves the training state of `trainer` beside `path`, then the model itself to `path`
/// (with the preprocessing of `info` as in [`save_model`]).
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
    let mut metadata = HashMap::from([
        ("wgsl-train.step".to_string(), step.to_string()),
        ("wgsl-train.history".to_string(), trainer.history().to_csv()),
    ]);
    if let Some(best) = trainer.history().best_epoch {
        metadata.insert("wgsl-train.best_epoch".into(), best.to_string());
    }
    metadata.insert(
        "wgsl-train.stopped_early".into(),
        trainer.history().stopped_early.to_string(),
    );
    for (name, value) in settings(trainer, info) {
        metadata.insert(format!("{SETTING}{name}"), value);
    }
    // The training state first: it is complete on its own, so its rename commits the save.
    write_tensors(&training_state_path(path), &tensors, metadata)?;
    write_tensors(path, &weights, model_metadata(model, Some(step), info))
}

/// The prefix of the settings in the training state's metadata.
const SETTING: &str = "wgsl-train.setting.";

/// Settings that may change when a run resumes: they decide how long it goes on, not what
/// each step computes.
const MAY_CHANGE: [&str; 3] = ["epochs", "patience", "min_delta"];

/// The settings a checkpoint records: the trainer's own and the run's from `info`.
fn settings(trainer: &Trainer, info: &RunInfo) -> Vec<(&'static str, String)> {
    let model = trainer.model();
    let config = trainer.config();
    let sizes: Vec<String> = model.sizes().iter().map(usize::to_string).collect();
    let mut settings = vec![
        ("layer sizes", sizes.join("→")),
        ("task", model.task().to_string()),
        ("optimizer", format!("{:?}", trainer.optimizer_configs())),
        ("batch size", config.batch_size.to_string()),
        ("shuffle seed", config.seed.to_string()),
        (
            "learning-rate schedule",
            format!("{:?}", config.lr_schedule),
        ),
        (
            "single-dispatch epochs",
            config.single_dispatch_epochs.to_string(),
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

/// The preprocessing saved with a model by [`save_model`] or [`save`], if any.
///
/// # Errors
/// [`Error::Io`] or [`Error::Checkpoint`] when the file is unreadable or the metadata damaged.
pub fn load_preprocessing(path: &Path) -> Result<Option<Preprocessing>> {
    let bad = |what: &str| Error::Checkpoint {
        path: path.display().to_string(),
        detail: format!("damaged {what} metadata"),
    };
    let (_, metadata) = read_tensors(path)?;
    let get = |key: &str| metadata.get(&format!("wgsl-train.{key}"));
    let numbers = |key: &str| -> Result<Vec<f64>> {
        match get(key) {
            None => Ok(Vec::new()),
            Some(s) if s.is_empty() => Ok(Vec::new()),
            Some(s) => s
                .split(',')
                .map(|v| v.parse().map_err(|_| bad(key)))
                .collect(),
        }
    };
    if get("feature_mean").is_none() {
        return Ok(None);
    }
    let (mean, std) = (numbers("feature_mean")?, numbers("feature_std")?);
    // A standard deviation of 0 (or not finite) would scale features to ∞.
    if mean.len() != std.len()
        || mean.iter().any(|m| !m.is_finite())
        || std.iter().any(|s| !(s.is_finite() && *s > 0.0))
    {
        return Err(bad("feature_std"));
    }
    let target_scaler = match (
        &numbers("target_scale_mean")?[..],
        &numbers("target_scale_std")?[..],
    ) {
        ([mean], [std]) => Some(TargetScaler {
            mean: *mean,
            std: *std,
        }),
        _ => None,
    };
    let lines = |key: &str| -> Vec<String> {
        get(key)
            .map(|s| {
                s.split('\n')
                    .filter(|c| !c.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default()
    };
    let feature_names = lines("feature_names");
    if !feature_names.is_empty() && feature_names.len() != mean.len() {
        return Err(bad("feature_names"));
    }
    Ok(Some(Preprocessing {
        scaler: Standardizer { mean, std },
        target_scaler,
        target_mean: numbers("target_mean")?.first().copied().unwrap_or(0.0),
        class_names: lines("class_names"),
        class_frequencies: numbers("class_frequencies")?,
        feature_names,
    }))
}

/// The data and split a model file written by [`save`] records, if any.
///
/// # Errors
/// [`Error::Io`] or [`Error::Checkpoint`] when the file is unreadable or the record damaged.
pub fn load_split(path: &Path) -> Result<Option<SplitRecord>> {
    let (_, metadata) = read_tensors(path)?;
    let (Some(split), Some(data)) = (
        metadata.get("wgsl-train.split"),
        metadata.get("wgsl-train.data"),
    ) else {
        return Ok(None);
    };
    let parse = || -> Option<SplitRecord> {
        let mut parts = split.split(',');
        let config = SplitConfig {
            validation: parts.next()?.parse().ok()?,
            test: parts.next()?.parse().ok()?,
            seed: parts.next()?.parse().ok()?,
            stratify: parts.next()?.parse().ok()?,
        };
        let (rows, fingerprint) = data.split_once(" rows, fingerprint ")?;
        Some(SplitRecord {
            config,
            rows: rows.parse().ok()?,
            fingerprint: u64::from_str_radix(fingerprint, 16).ok()?,
        })
    };
    parse().map(Some).ok_or_else(|| Error::Checkpoint {
        path: path.display().to_string(),
        detail: "damaged split metadata".into(),
    })
}

/// Loads a model from `path`: one written by [`save`] or [`save_model`], or by PyTorch
/// (`safetensors.torch.save_file(model.state_dict(), path)` for an `nn.Sequential` of
/// `Linear` and `ReLU`). The layer sizes come from the shapes; the task from our metadata, or
/// from `task` for files without it.
///
/// # Errors
/// [`Error::Checkpoint`] for a file that is not valid safetensors, holds no `0.weight`,
/// non-f32 tensors, shapes that do not chain, or no task; [`Error::Io`] when unreadable.
pub fn load_model(gpu: &Gpu, path: &Path, task: Option<Task>) -> Result<Mlp> {
    let bad = |detail: String| Error::Checkpoint {
        path: path.display().to_string(),
        detail,
    };
    let (tensors, metadata) = read_tensors(path)?;
    let mut sizes = Vec::new();
    for layer in 0.. {
        let Some(w) = tensors
            .iter()
            .find(|t| t.name == format!("{}.weight", 2 * layer))
        else {
            break;
        };
        let [out, inp] = w.shape[..] else {
            return Err(bad(format!("{:?} is {:?}, not [out, in]", w.name, w.shape)));
        };
        if layer == 0 {
            sizes.push(inp);
        } else if sizes[layer] != inp {
            return Err(bad(format!(
                "{:?} takes {inp} inputs, the layer before gives {}",
                w.name, sizes[layer]
            )));
        }
        sizes.push(out);
    }
    if sizes.is_empty() {
        return Err(bad("no 0.weight tensor: not an MLP checkpoint".into()));
    }
    let task = match (task, metadata.get("wgsl-train.task").map(String::as_str)) {
        (Some(t), _) => t,
        (None, Some("regression")) => Task::Regression,
        (None, Some("binary")) => Task::Binary,
        (None, Some("multiclass")) => Task::Multiclass,
        _ => return Err(bad("the file does not say its task; pass one".into())),
    };
    let model = Mlp::new(gpu, &sizes, task, 0).map_err(|e| bad(e.to_string()))?;
    model
        .load_state_dict(gpu, &tensors)
        .map_err(|e| bad(e.to_string()))?;
    Ok(model)
}

/// Restores the training state saved beside `path` into `trainer`, built with the same
/// settings (see [`RunInfo`]): the weights, the optimizer state, the step count, the best
/// weights and the history. Training then continues exactly as if it had not stopped.
///
/// The weights come from the training state, which [`save`] writes first: a run killed
/// between its two writes resumes from the newer save. Files written before the training state
/// held the weights are restored with the weights of the model file at `path`, whose step must
/// then match.
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
    let step: u64 = metadata
        .get("wgsl-train.step")
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no step count".into()))?;
    let changed = compare_settings(&metadata, &settings(trainer, info)).map_err(bad)?;
    let history = parse_history(
        metadata
            .get("wgsl-train.history")
            .map_or("", String::as_str),
        &metadata,
    )
    .ok_or_else(|| bad("unreadable learning curves".into()))?;
    let weights = saved_weights(path, &tensors, &metadata)?;

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
    metadata: &HashMap<String, String>,
    now: &[(&'static str, String)],
) -> std::result::Result<Vec<(&'static str, String, String)>, String> {
    let mut changed = Vec::new();
    for (name, value) in now {
        let Some(saved) = metadata.get(&format!("{SETTING}{name}")) else {
            continue; // a file from before this setting was recorded
        };
        if saved == value {
            continue;
        }
        if MAY_CHANGE.contains(name) {
            changed.push((*name, saved.clone(), value.clone()));
        } else {
            return Err(format!(
                "the run was saved with {name} {saved}, but this one has {value}; resume with the same settings or start a new run"
            ));
        }
    }
    Ok(changed)
}

/// The weights to resume from: the training state's copy, or (for files written before it
/// held one) the model file's, which must be from the same step.
fn saved_weights(
    path: &Path,
    state: &[NamedTensor],
    metadata: &HashMap<String, String>,
) -> Result<Vec<NamedTensor>> {
    let copy: Vec<NamedTensor> = state
        .iter()
        .filter_map(|t| {
            let name = t.name.strip_prefix("model.")?;
            Some(NamedTensor {
                name: name.to_string(),
                ..t.clone()
            })
        })
        .collect();
    if !copy.is_empty() {
        return Ok(copy);
    }
    let (weights, model_metadata) = read_tensors(path)?;
    if model_metadata.get("wgsl-train.step") != metadata.get("wgsl-train.step") {
        return Err(Error::Checkpoint {
            path: training_state_path(path).display().to_string(),
            detail: format!(
                "the model file {} is from step {:?}, the training state from step {:?}: they were not saved together",
                path.display(),
                model_metadata.get("wgsl-train.step"),
                metadata.get("wgsl-train.step")
            ),
        });
    }
    Ok(weights)
}
fn model_metadata(model: &Mlp, step: Option<u64>, info: &RunInfo) -> HashMap<String, String> {
    let task = match model.task() {
        Task::Regression => "regression",
        Task::Binary => "binary",
        Task::Multiclass => "multiclass",
    };
    let sizes: Vec<String> = model.sizes().iter().map(usize::to_string).collect();
    let mut metadata = HashMap::from([
        ("format".to_string(), "pt".to_string()),
        ("wgsl-train.task".to_string(), task.to_string()),
        ("wgsl-train.sizes".to_string(), sizes.join(",")),
    ]);
    if let Some(step) = step {
        metadata.insert("wgsl-train.step".into(), step.to_string());
    }
    if let Some(split) = &info.split {
        let c = split.config;
        metadata.insert(
            "wgsl-train.split".into(),
            format!("{},{},{},{}", c.validation, c.test, c.seed, c.stratify),
        );
        metadata.insert("wgsl-train.data".into(), split.data_setting());
    }
    if let Some(p) = info.preprocessing {
        let join = |v: &[f64]| v.iter().map(f64::to_string).collect::<Vec<_>>().join(",");
        metadata.insert("wgsl-train.feature_mean".into(), join(&p.scaler.mean));
        metadata.insert("wgsl-train.feature_std".into(), join(&p.scaler.std));
        if let Some(t) = p.target_scaler {
            metadata.insert("wgsl-train.target_scale_mean".into(), t.mean.to_string());
            metadata.insert("wgsl-train.target_scale_std".into(), t.std.to_string());
        }
        metadata.insert("wgsl-train.target_mean".into(), p.target_mean.to_string());
        // Class and feature names come from CSV fields: they may hold commas, never a line
        // break.
        metadata.insert("wgsl-train.class_names".into(), p.class_names.join("\n"));
        metadata.insert(
            "wgsl-train.feature_names".into(),
            p.feature_names.join("\n"),
        );
        metadata.insert(
            "wgsl-train.class_frequencies".into(),
            join(&p.class_frequencies),
        );
    }
    metadata
}

fn write_tensors(
    path: &Path,
    tensors: &[NamedTensor],
    metadata: HashMap<String, String>,
) -> Result<()> {
    let bad = |detail: String| Error::Checkpoint {
        path: path.display().to_string(),
        detail,
    };
    let views = tensors
        .iter()
        .map(|t| {
            let view = TensorView::new(Dtype::F32, t.shape.clone(), bytemuck::cast_slice(&t.data))
                .map_err(|e| bad(format!("{}: {e}", t.name)))?;
            Ok((t.name.clone(), view))
        })
        .collect::<Result<Vec<_>>>()?;
    let bytes = safetensors::serialize(views, Some(metadata)).map_err(|e| bad(e.to_string()))?;
    crate::fs::write_atomic(path, &bytes)
}

/// Every tensor of a safetensors file, as f32, with the file's metadata.
///
/// # Errors
/// [`Error::Io`] when unreadable; [`Error::Checkpoint`] when not valid safetensors, a tensor
/// is not a float (f16, bf16 and f64 are converted to f32), or a value is NaN or infinite
/// (naming the tensor and index).
pub fn read_tensors(path: &Path) -> Result<(Vec<NamedTensor>, HashMap<String, String>)> {
    let bad = |detail: String| Error::Checkpoint {
        path: path.display().to_string(),
        detail,
    };
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })?;
    let (_, header) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| bad(format!("not a valid safetensors file: {e}")))?;
    let file = SafeTensors::deserialize(&bytes)
        .map_err(|e| bad(format!("not a valid safetensors file: {e}")))?;
    let mut tensors = Vec::new();
    for (name, view) in file.tensors() {
        // Other float widths, as PyTorch users save them, become f32 (f64 rounds to nearest).
        let bytes = view.data();
        let data: Vec<f32> = match view.dtype() {
            Dtype::F32 => bytemuck::pod_collect_to_vec(bytes),
            Dtype::F16 => bytemuck::pod_collect_to_vec::<u8, u16>(bytes)
                .into_iter()
                .map(|b| half::f16::from_bits(b).to_f32())
                .collect(),
            Dtype::BF16 => bytemuck::pod_collect_to_vec::<u8, u16>(bytes)
                .into_iter()
                .map(|b| half::bf16::from_bits(b).to_f32())
                .collect(),
            Dtype::F64 => bytemuck::pod_collect_to_vec::<u8, f64>(bytes)
                .into_iter()
                .map(|v| v as f32)
                .collect(),
            other => {
                return Err(bad(format!(
                    "{name:?} is {other:?}; tensors must be floats (f32, or f16, bf16, f64, which are converted)"
                )))
            }
        };
        if let Some(i) = data.iter().position(|v| !v.is_finite()) {
            return Err(bad(format!("{name:?} holds {} at index {i}", data[i])));
        }
        tensors.push(NamedTensor {
            name,
            shape: view.shape().to_vec(),
            data,
        });
    }
    tensors.sort_by(|a, b| a.name.cmp(&b.name));
    Ok((tensors, header.metadata().clone().unwrap_or_default()))
}

fn parse_history(csv: &str, metadata: &HashMap<String, String>) -> Option<History> {
    let mut epochs = Vec::new();
    for line in csv.lines().skip(1) {
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
        best_epoch: metadata
            .get("wgsl-train.best_epoch")
            .and_then(|b| b.parse().ok()),
        stopped_early: metadata
            .get("wgsl-train.stopped_early")
            .is_some_and(|s| s == "true"),
    })
}
