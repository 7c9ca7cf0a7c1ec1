//! Mini-batch gathering on the GPU (`shaders/gather.wgsl`).

use bytemuck::{Pod, Zeroable};

use super::{dim, grid, groups_for, sources};
use crate::error::{Error, Result};
use crate::gpu::{Binding, Dispatch, Gpu, KernelSpec, Tensor};

/// Mirrors `GatherParams` in `gather.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub struct GatherParams {
    /// Rows in the batch.
    pub rows: u32,
    /// Feature columns.
    pub x_cols: u32,
    /// Target columns.
    pub y_cols: u32,
    /// Padding.
    pub _pad: u32,
}

/// Mirrors `GatherStep` in `gather.wgsl`: one entry of the per-step table.
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub struct GatherStep {
    /// Where this step's rows start in the epoch's row order.
    pub offset: u32,
    /// Padding.
    pub _pad: [u32; 3],
}

const BINDINGS: &[(u32, Binding)] = &[
    (0, Binding::ReadOnly),
    (1, Binding::ReadOnly),
    (2, Binding::ReadOnly),
    (3, Binding::ReadWrite),
    (4, Binding::ReadWrite),
    (5, Binding::Uniform),
    (6, Binding::DynamicUniform),
];

/// Prepares the gather of `x_batch.shape()[0]` rows of `x_all` and `y_all`, chosen by
/// `order` from the offset in the step-table entry selected when the dispatch is recorded.
/// `x_*` are `[rows, features]`; `y_*` are `[rows, targets]` or `[rows]`.
pub(crate) fn gather_dispatch(
    gpu: &Gpu,
    x_all: &Tensor,
    y_all: &Tensor,
    order: &Tensor,
    x_batch: &Tensor,
    y_batch: &Tensor,
    step_table: &wgpu::Buffer,
) -> Result<Dispatch> {
    let rows = x_batch.shape()[0];
    let x_cols = x_all.len() / x_all.shape()[0];
    let y_cols = y_all.len() / y_all.shape()[0];
    if x_batch.len() != rows * x_cols || y_batch.len() != rows * y_cols {
        return Err(Error::ShapeMismatch {
            op: "gather",
            detail: "the batch buffers must hold rows of the data's width".into(),
            lhs: x_all.shape().to_vec(),
            rhs: x_batch.shape().to_vec(),
        });
    }
    let params = GatherParams {
        rows: dim("gather", rows)?,
        x_cols: dim("gather", x_cols)?,
        y_cols: dim("gather", y_cols)?,
        _pad: 0,
    };
    let spec = KernelSpec {
        shader: "gather",
        source: sources::GATHER,
        entry: "gather_rows",
        bindings: BINDINGS,
        constants: Vec::new(),
    };
    let table = (step_table, std::mem::size_of::<GatherStep>() as u64);
    Dispatch::with_table(
        gpu,
        &spec,
        &[x_all, y_all, order, x_batch, y_batch],
        &params,
        table,
        grid(groups_for(rows * (x_cols + y_cols))),
    )
}
