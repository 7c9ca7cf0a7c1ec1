//! A dataset split uploaded to the GPU once, in the form the model's loss takes.

use crate::data::{Dataset, Targets, Task};
use crate::error::{Error, Result};
use crate::gpu::{Gpu, Tensor};
use crate::nn::Mlp;

/// Features `[rows, inputs]` and targets: f32 `[rows, 1]` (regression, binary 0/1) or u32
/// class indices `[rows]` (multiclass).
pub(crate) struct DeviceSplit {
    pub x: Tensor,
    pub y: Tensor,
}

impl DeviceSplit {
    pub fn upload(gpu: &Gpu, model: &Mlp, data: &Dataset) -> Result<Self> {
        if data.n_features() != model.sizes()[0] {
            return Err(Error::InvalidArgument {
                op: "Trainer::new",
                detail: format!(
                    "the data has {} features, the model {} inputs",
                    data.n_features(),
                    model.sizes()[0]
                ),
            });
        }
        if data.task() != model.task() {
            return Err(Error::InvalidArgument {
                op: "Trainer::new",
                detail: format!(
                    "the data is for {}, the model for {}",
                    data.task(),
                    model.task()
                ),
            });
        }
        let rows = data.len();
        let x = Tensor::from_slice(gpu, &[rows, data.n_features()], data.features())?;
        let y = match (data.targets(), model.task()) {
            (Targets::Classes(labels), Task::Multiclass) => {
                Tensor::from_slice(gpu, &[rows], labels)?
            }
            _ => Tensor::from_slice(gpu, &[rows, 1], &data.target_values())?,
        };
        Ok(Self { x, y })
    }
}
