//! Reading and writing a safetensors file's tensors (as f32) and metadata.

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

use crate::error::{Error, Result};
use crate::nn::NamedTensor;

/// Writes `tensors` (f32) and `metadata` to `path`, atomically.
pub(super) fn write_tensors(
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
