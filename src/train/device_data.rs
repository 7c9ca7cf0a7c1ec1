//! A dataset split uploaded to the GPU once, in the form the model's loss takes.

use crate::data::{Dataset, Targets, Task};
use crate::error::Result;
use crate::gpu::{DType, Dispatch, Gpu, Tensor};
use crate::kernels::gather::shuffle_dispatch;
use crate::nn::Mlp;

/// Features `[rows, inputs]` and targets: f32 `[rows, 1]` (regression, binary 0/1) or u32
/// class indices `[rows]` (multiclass).
pub(crate) struct DeviceSplit {
    pub x: Tensor,
    pub y: Tensor,
}

impl DeviceSplit {
    pub fn upload(gpu: &Gpu, model: &Mlp, data: &Dataset) -> Result<Self> {
        model.check_fits(data)?;
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

/// The epoch's shuffled training data: consecutive mini-batches, each starting a new block
/// aligned for binding, rewritten on the GPU at the start of every epoch.
pub(crate) struct EpochBatches {
    pub x: Tensor,
    pub y: Tensor,
    /// Elements between consecutive blocks.
    x_block: usize,
    y_block: usize,
    x_cols: usize,
    pub shuffle: Dispatch,
}

impl EpochBatches {
    pub fn new(gpu: &Gpu, train: &DeviceSplit, order: &Tensor, batch: usize) -> Result<Self> {
        let rows = train.x.shape()[0];
        let steps = rows.div_ceil(batch);
        let align = gpu.binding_alignment();
        let (x_cols, y_cols) = (train.x.len() / rows, train.y.len() / rows);
        let x_block = (batch * x_cols).div_ceil(align) * align;
        let y_block = (batch * y_cols).div_ceil(align) * align;
        let x = Tensor::zeros(gpu, &[steps * x_block], DType::F32)?;
        let y = Tensor::zeros(gpu, &[steps * y_block], train.y.dtype())?;
        let shuffle = shuffle_dispatch(
            gpu,
            &train.x,
            &train.y,
            order,
            &x,
            &y,
            batch,
            (x_block, y_block),
        )?;
        Ok(Self {
            x,
            y,
            x_block,
            y_block,
            x_cols,
            shuffle,
        })
    }

    /// Block views of a step's `rows` features and targets; recording picks the step.
    pub fn blocks(&self, gpu: &Gpu, rows: usize) -> Result<(Tensor, Tensor)> {
        let target_shape = match self.y.dtype() {
            DType::U32 => vec![rows],
            DType::F32 => vec![rows, 1],
        };
        Ok((
            self.x.blocks(gpu, &[rows, self.x_cols], self.x_block)?,
            self.y.blocks(gpu, &target_shape, self.y_block)?,
        ))
    }
}
