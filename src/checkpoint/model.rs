//! The model file: a PyTorch `state_dict` of an `nn.Sequential` of Linear and activation layers,
//! with our metadata (layers, task, preprocessing, split, optimizer) beside it.

use std::path::Path;

use super::format::{
    layers_of, metadata_of, read_header, sizes_of, LossWeightsRecord, ModelHeader,
    PreprocessingRecord,
};
use super::run::{RunInfo, SplitRecord};
use super::tensors::{read_tensors, write_tensors};
use super::FORMAT_VERSION;
use crate::data::{Preprocessing, Task};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::nn::{Mlp, NamedTensor};
use crate::optim::ParamGroup;

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

/// The model file's header.
pub(super) fn model_header(
    model: &Mlp,
    training: Option<(u64, &[ParamGroup])>,
    info: &RunInfo,
) -> ModelHeader {
    ModelHeader {
        format_version: FORMAT_VERSION,
        crate_version: env!("CARGO_PKG_VERSION").into(),
        task: model.task(),
        layers: layers_of(model.sizes(), model.activations(), model.dropout()),
        init: Some(model.init()),
        loss_weights: LossWeightsRecord::of(model.loss_weights()),
        step: training.map(|(step, _)| step),
        preprocessing: info.preprocessing.map(PreprocessingRecord::of),
        split: info.split,
        optimizer: training.map(|(_, groups)| groups.to_vec()),
    }
}

/// The header of the model file `path`, if it has one (PyTorch's files do not).
fn model_file_header(path: &Path) -> Result<(Vec<NamedTensor>, Option<ModelHeader>)> {
    let (tensors, metadata) = read_tensors(path)?;
    let header = read_header(&path.display().to_string(), &metadata)?;
    Ok((tensors, header))
}

/// The preprocessing saved with a model by [`save_model`] or [`save`](super::save), if any.
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

/// The data and split a model file written by [`save`](super::save) records, if any.
///
/// # Errors
/// [`Error::Io`] or [`Error::Checkpoint`] when the file is unreadable, of a newer format, or
/// its metadata damaged.
pub fn load_split(path: &Path) -> Result<Option<SplitRecord>> {
    let (_, header) = model_file_header(path)?;
    Ok(header.and_then(|h| h.split))
}

/// Loads a model from `path`: one written by [`save`](super::save) or [`save_model`], or by PyTorch
/// (`safetensors.torch.save_file(model.state_dict(), path)` for an `nn.Sequential` of
/// `Linear` layers with an activation between them). The layer sizes come from the shapes,
/// checked against the layers our metadata names, and the activations from those layers; the
/// task from our metadata, or from `task` for files without it.
///
/// A PyTorch state dict does not say which activations sit between its Linear layers: they
/// are taken to be ReLU. `scripts/from_torch.py` writes the layers into the file, and refuses
/// a model with layers wgsl-train does not have.
///
/// # Errors
/// [`Error::Checkpoint`] for a file that is not valid safetensors, of a newer format version,
/// whose layers or tensors are not Linear layers with an activation wgsl-train has between
/// them (naming the first that is not), whose shapes do not chain, or that does not say its task when `task` is `None`;
/// [`Error::Io`] when unreadable.
pub fn load_model(gpu: &Gpu, path: &Path, task: Option<Task>) -> Result<Mlp> {
    let bad = |detail: String| Error::Checkpoint {
        path: path.display().to_string(),
        detail,
    };
    let (tensors, header) = model_file_header(path)?;
    // Our files say their layers, and the tensors must agree; a PyTorch state dict's layers
    // are read from its tensors.
    let (sizes, activations, dropout) = match &header {
        Some(header) => {
            let (described, activations, dropout) = sizes_of(&header.layers).map_err(bad)?;
            let linears = header.layers.iter().enumerate();
            let at: Vec<usize> = linears
                .filter(|(_, l)| l.kind == "Linear")
                .map(|(i, _)| i)
                .collect();
            let sizes = sizes_at(&tensors, &at).map_err(bad)?;
            if described != sizes {
                return Err(bad(format!(
                    "the metadata describes layer sizes {described:?}, the tensors have {sizes:?}"
                )));
            }
            (sizes, activations, dropout)
        }
        None => (
            sizes_from_tensors(&tensors).map_err(bad)?,
            Vec::new(),
            Vec::new(),
        ),
    };
    let task = match (task, &header) {
        (Some(t), _) => t,
        (None, Some(h)) => h.task,
        (None, None) => return Err(bad("the file does not say its task; pass one".into())),
    };
    let init = header.as_ref().and_then(|h| h.init).unwrap_or_default();
    let model = Mlp::new_with_init(gpu, &sizes, task, init, 0)
        .and_then(|m| m.with_activations(&activations))
        .and_then(|m| m.with_dropout(&dropout))
        .and_then(|m| {
            let record = header.as_ref().and_then(|h| h.loss_weights.as_ref());
            m.with_loss_weights(LossWeightsRecord::weights(record))
        })
        .map_err(|e| bad(e.to_string()))?;
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
                    "tensor {:?}: a layer with parameters at index {i}, where an nn.Sequential(Linear, activation, Linear, …) has an activation: the model has other layers (Dropout, a normalisation, …), which a bare state dict does not name; scripts/from_torch.py writes a file that says them (and refuses those wgsl-train does not have)",
                    t.name
                ))
            }
            Some(_) => {}
        }
    }
    let present = (0..).map(|k| 2 * k).take_while(|i| {
        let name = format!("{i}.weight");
        tensors.iter().any(|t| t.name == name)
    });
    sizes_at(tensors, &present.collect::<Vec<_>>())
}

/// The layer sizes of the Linear layers at these indices of an `nn.Sequential`, from their
/// weights' shapes, checking that each takes what the one before gives.
fn sizes_at(tensors: &[NamedTensor], at: &[usize]) -> std::result::Result<Vec<usize>, String> {
    let mut sizes = Vec::new();
    for (layer, index) in at.iter().enumerate() {
        let name = format!("{index}.weight");
        let Some(w) = tensors.iter().find(|t| t.name == name) else {
            return Err(format!(
                "no tensor {name:?} for the Linear layer at index {index}"
            ));
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
