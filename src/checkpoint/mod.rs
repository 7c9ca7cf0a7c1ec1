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
//! Each file carries one JSON metadata entry, `"wgsl-train"`, with its format version
//! ([`FORMAT_VERSION`], checked on every load), the layers, task, preprocessing, split and
//! optimizer (model file) or the step, curves and settings (training state):
//! `docs/checkpoint-format.md` describes every field.
//!
//! The training state is written first and holds everything a resume needs, weights included:
//! its rename is the one commit point. A run killed between the two renames leaves a training
//! state one save ahead of the model file, and resuming takes the weights from the state, so
//! `kill -9` at any instant leaves a resumable pair.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

mod format;

pub use format::{FORMAT_VERSION, METADATA_KEY};

use format::{
    layers_of, metadata_of, read_header, sizes_of, ModelHeader, PreprocessingRecord, TrainingHeader,
};

use crate::data::{Dataset, Preprocessing, SplitConfig, Task};
use crate::error::{Error, Result};
use crate::fs::WriteLock;
use crate::gpu::Gpu;
use crate::nn::{Mlp, NamedTensor};
use crate::optim::{OptimizerState, ParamGroup};
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
        metadata_of(&model_header(model, None, &info)),
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
/// was split. In JSON: the [`SplitConfig`]'s fields, `rows`, and the `fingerprint` as 16
/// hexadecimal digits.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SplitRecord {
    /// The split's fractions, seed and stratification.
    #[serde(flatten)]
    pub config: SplitConfig,
    /// Rows of the whole dataset.
    pub rows: usize,
    /// The whole dataset's fingerprint.
    #[serde(with = "format::hex_u64")]
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

/// The model file's header.
fn model_header(
    model: &Mlp,
    training: Option<(u64, &[ParamGroup])>,
    info: &RunInfo,
) -> ModelHeader {
    ModelHeader {
        format_version: FORMAT_VERSION,
        crate_version: env!("CARGO_PKG_VERSION").into(),
        task: model.task(),
        layers: layers_of(model.sizes()),
        step: training.map(|(step, _)| step),
        preprocessing: info.preprocessing.map(PreprocessingRecord::of),
        split: info.split,
        optimizer: training.map(|(_, groups)| groups.to_vec()),
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
    let mut settings = vec![
        ("layer sizes", sizes.join("→")),
        ("task", model.task().to_string()),
        ("optimizer", format!("{:?}", trainer.param_groups())),
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

/// The header of the model file `path`, if it has one (PyTorch's files do not).
fn model_file_header(path: &Path) -> Result<(Vec<NamedTensor>, Option<ModelHeader>)> {
    let (tensors, metadata) = read_tensors(path)?;
    let header = read_header(&path.display().to_string(), &metadata)?;
    Ok((tensors, header))
}

/// The preprocessing saved with a model by [`save_model`] or [`save`], if any.
///
/// # Errors
/// [`Error::Io`] or [`Error::Checkpoint`] when the file is unreadable, of a newer format, or
/// its metadata damaged (naming the field).
pub fn load_preprocessing(path: &Path) -> Result<Option<Preprocessing>> {
    let (_, header) = model_file_header(path)?;
    let Some(record) = header.and_then(|h| h.preprocessing) else {
        return Ok(None);
    };
    record
        .to_preprocessing()
        .map(Some)
        .map_err(|field| Error::Checkpoint {
            path: path.display().to_string(),
            detail: format!("damaged {field} metadata"),
        })
}

/// The data and split a model file written by [`save`] records, if any.
///
/// # Errors
/// [`Error::Io`] or [`Error::Checkpoint`] when the file is unreadable, of a newer format, or
/// its metadata damaged.
pub fn load_split(path: &Path) -> Result<Option<SplitRecord>> {
    let (_, header) = model_file_header(path)?;
    Ok(header.and_then(|h| h.split))
}

/// Loads a model from `path`: one written by [`save`] or [`save_model`], or by PyTorch
/// (`safetensors.torch.save_file(model.state_dict(), path)` for an `nn.Sequential` of
/// `Linear` and `ReLU`). The layer sizes come from the shapes, checked against the layers our
/// metadata names; the task from our metadata, or from `task` for files without it.
///
/// A PyTorch state dict does not say which activations sit between its Linear layers: they
/// are taken to be ReLU. `scripts/from_torch.py` writes the layers into the file, and refuses
/// a model with others.
///
/// # Errors
/// [`Error::Checkpoint`] for a file that is not valid safetensors, of a newer format version,
/// whose layers or tensors are not Linear layers with ReLU between them (naming the first that
/// is not), whose shapes do not chain, or that does not say its task when `task` is `None`;
/// [`Error::Io`] when unreadable.
pub fn load_model(gpu: &Gpu, path: &Path, task: Option<Task>) -> Result<Mlp> {
    let bad = |detail: String| Error::Checkpoint {
        path: path.display().to_string(),
        detail,
    };
    let (tensors, header) = model_file_header(path)?;
    let sizes = sizes_from_tensors(&tensors).map_err(bad)?;
    if let Some(header) = &header {
        let described = sizes_of(&header.layers).map_err(bad)?;
        if described != sizes {
            return Err(bad(format!(
                "the metadata describes layer sizes {described:?}, the tensors have {sizes:?}"
            )));
        }
    }
    let task = match (task, &header) {
        (Some(t), _) => t,
        (None, Some(h)) => h.task,
        (None, None) => return Err(bad("the file does not say its task; pass one".into())),
    };
    let model = Mlp::new(gpu, &sizes, task, 0).map_err(|e| bad(e.to_string()))?;
    model
        .load_state_dict(gpu, &tensors)
        .map_err(|e| bad(e.to_string()))?;
    Ok(model)
}

/// The layer sizes of the state dict of an `nn.Sequential(Linear, ReLU, …, Linear)`: its
/// parameters are `{2k}.weight` `[out, in]` and `{2k}.bias`, k = 0, 1, …. Anything else is
/// named: a parameter at an odd index means a layer the crate does not have.
fn sizes_from_tensors(tensors: &[NamedTensor]) -> std::result::Result<Vec<usize>, String> {
    for t in tensors {
        let index = t
            .name
            .split_once('.')
            .filter(|(_, kind)| ["weight", "bias"].contains(kind))
            .and_then(|(index, _)| index.parse::<usize>().ok());
        match index {
            None => {
                return Err(format!(
                    "tensor {:?} is not a parameter of an nn.Sequential of Linear layers (\"<index>.weight\" or \"<index>.bias\")",
                    t.name
                ))
            }
            Some(i) if i % 2 == 1 => {
                return Err(format!(
                    "tensor {:?}: a layer with parameters at index {i}, where wgsl-train's nn.Sequential(Linear, ReLU, Linear, …) has an activation; the model has layers wgsl-train does not have (Dropout, a normalisation, …)",
                    t.name
                ))
            }
            Some(_) => {}
        }
    }
    let mut sizes = Vec::new();
    for layer in 0.. {
        let Some(w) = tensors
            .iter()
            .find(|t| t.name == format!("{}.weight", 2 * layer))
        else {
            break;
        };
        let [out, inp] = w.shape[..] else {
            return Err(format!("{:?} is {:?}, not [out, in]", w.name, w.shape));
        };
        if layer == 0 {
            sizes.push(inp);
        } else if sizes[layer] != inp {
            return Err(format!(
                "{:?} takes {inp} inputs, the layer before gives {}",
                w.name, sizes[layer]
            ));
        }
        sizes.push(out);
    }
    if sizes.is_empty() {
        return Err("no 0.weight tensor: not an MLP checkpoint".into());
    }
    Ok(sizes)
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
        let Some(saved) = saved_settings.get(*name) else {
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
