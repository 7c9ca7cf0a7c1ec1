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
        let (words, dtype) = device_targets(model, data);
        Self::upload_rows(gpu, data, (&words, dtype), 0..data.len())
    }

    /// Uploads the rows `rows` of `data`, whose target words (from [`device_targets`]) are
    /// `targets`.
    pub fn upload_rows(
        gpu: &Gpu,
        data: &Dataset,
        (targets, dtype): (&[u32], DType),
        rows: std::ops::Range<usize>,
    ) -> Result<Self> {
        let cols = data.n_features();
        let features = &data.features()[rows.start * cols..rows.end * cols];
        let (n, words) = (rows.len(), &targets[rows]);
        let x = Tensor::from_slice(gpu, &[n, cols], features)?;
        let y = match dtype {
            DType::U32 => Tensor::from_slice(gpu, &[n], words)?,
            DType::F32 => Tensor::from_slice::<f32>(gpu, &[n, 1], bytemuck::cast_slice(words))?,
        };
        Ok(Self { x, y })
    }
}

/// Each row's target as the device holds it, as 32-bit words: class indices (u32) for a
/// multiclass model, the f32 value (a class index as a number for binary) otherwise.
pub(crate) fn device_targets(model: &Mlp, data: &Dataset) -> (Vec<u32>, DType) {
    match (data.targets(), model.task()) {
        (Targets::Classes(labels), Task::Multiclass) => (labels.clone(), DType::U32),
        _ => {
            let values = data.target_values();
            (bytemuck::cast_slice(&values).to_vec(), DType::F32)
        }
    }
}

/// The epoch's shuffled training data: consecutive mini-batches, each starting a new block
/// aligned for binding. Either every batch of the epoch, rewritten on the GPU by `shuffle` at
/// the start of every epoch, or (streaming) a chunk of them, written from the host.
pub(crate) struct EpochBatches {
    pub x: Tensor,
    pub y: Tensor,
    /// Elements between consecutive blocks.
    pub x_block: usize,
    pub y_block: usize,
    pub x_cols: usize,
    pub y_cols: usize,
    pub shuffle: Option<Dispatch>,
}

impl EpochBatches {
    /// Every batch of the epoch, shuffled on the GPU from `train` by `order`.
    pub fn new(gpu: &Gpu, train: &DeviceSplit, order: &Tensor, batch: usize) -> Result<Self> {
        let rows = train.x.shape()[0];
        let (x_cols, y_cols) = (train.x.len() / rows, train.y.len() / rows);
        let mut batches = Self::blocks_for(
            gpu,
            (x_cols, y_cols),
            train.y.dtype(),
            batch,
            rows.div_ceil(batch),
        )?;
        batches.shuffle = Some(shuffle_dispatch(
            gpu,
            &train.x,
            &train.y,
            order,
            &batches.x,
            &batches.y,
            batch,
            (batches.x_block, batches.y_block),
        )?);
        Ok(batches)
    }

    /// Room for `steps` batches of `batch` rows of `x_cols` features and `y_cols` targets of
    /// `y_dtype`, filled by whoever holds the data.
    pub fn blocks_for(
        gpu: &Gpu,
        (x_cols, y_cols): (usize, usize),
        y_dtype: DType,
        batch: usize,
        steps: usize,
    ) -> Result<Self> {
        let (x_block, y_block) = block_sizes(gpu, (x_cols, y_cols), batch);
        Ok(Self {
            x: Tensor::zeros(gpu, &[steps * x_block], DType::F32)?,
            y: Tensor::zeros(gpu, &[steps * y_block], y_dtype)?,
            x_block,
            y_block,
            x_cols,
            y_cols,
            shuffle: None,
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

/// Elements from one batch's features (targets) to the next's: a batch rounded up to the
/// storage-binding alignment, so that each step binds its own with a dynamic offset.
pub(crate) fn block_sizes(
    gpu: &Gpu,
    (x_cols, y_cols): (usize, usize),
    batch: usize,
) -> (usize, usize) {
    let align = gpu.binding_alignment();
    (
        (batch * x_cols).div_ceil(align) * align,
        (batch * y_cols).div_ceil(align) * align,
    )
}
