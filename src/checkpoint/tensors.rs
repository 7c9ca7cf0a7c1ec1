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
    let (_, header) = SafeTensors::read_metadata(&bytes).map_err(|e| {
        let culprit = misdescribed_tensor(&bytes)
            .map(|t| format!(" ({t})"))
            .unwrap_or_default();
        bad(format!("not a valid safetensors file: {e}{culprit}"))
    })?;
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

/// The first tensor whose header entry does not describe its bytes (the safetensors crate's
/// "invalid shape, data type, or offset for tensor" names none), said with what is wrong.
fn misdescribed_tensor(bytes: &[u8]) -> Option<String> {
    let n = usize::try_from(u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?)).ok()?;
    let header: serde_json::Value =
        serde_json::from_slice(bytes.get(8..8usize.checked_add(n)?)?).ok()?;
    let data_len = bytes.len() - 8 - n;
    for (name, info) in header
        .as_object()?
        .iter()
        .filter(|(k, _)| *k != "__metadata__")
    {
        let dtype = info["dtype"].as_str().unwrap_or_default();
        let width: u128 = match dtype {
            "F64" | "I64" | "U64" => 8,
            "F32" | "I32" | "U32" => 4,
            "F16" | "BF16" | "I16" | "U16" => 2,
            "BOOL" | "U8" | "I8" | "F8_E4M3" | "F8_E5M2" => 1,
            _ => {
                return Some(format!(
                    "tensor {name:?}: unknown dtype {:?}",
                    info["dtype"]
                ))
            }
        };
        let shape = info["shape"]
            .as_array()
            .map(|dims| dims.iter().map(|d| d.as_u64()));
        let Some(Some(elements)) = shape.map(|dims| {
            dims.map(|d| d.map(u128::from))
                .try_fold(1u128, |n, d| d.map(|d| n.saturating_mul(d)))
        }) else {
            return Some(format!(
                "tensor {name:?}: shape {} is not a list of sizes",
                info["shape"]
            ));
        };
        let offsets = info["data_offsets"]
            .as_array()
            .and_then(|o| Some((o.first()?.as_u64()?, o.get(1)?.as_u64()?)));
        let Some((start, end)) = offsets.filter(|(a, b)| a <= b && *b as u128 <= data_len as u128)
        else {
            return Some(format!(
                "tensor {name:?}: data_offsets {} are not a range within the {data_len} bytes of data",
                info["data_offsets"]
            ));
        };
        let held = u128::from(end - start);
        if held != elements.saturating_mul(width) {
            return Some(format!(
                "tensor {name:?}: {dtype} of shape {} needs {} bytes, its data_offsets [{start}, {end}] hold {held}",
                info["shape"],
                elements.saturating_mul(width)
            ));
        }
    }
    None
}
