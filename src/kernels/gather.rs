//! The once-per-epoch shuffle of the training data into mini-batch blocks
//! (`shaders/gather.wgsl`).

use bytemuck::{Pod, Zeroable};

use super::{dim, grid, groups_for, workgroup_constant, Shader};
use crate::error::{Error, Result};
use crate::gpu::{Binding, Dispatch, Gpu, KernelSpec, Tensor};

/// Mirrors `ShuffleParams` in `gather.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
struct ShuffleParams {
    /// Rows in the dataset.
    rows: u32,
    /// Feature columns.
    x_cols: u32,
    /// Target columns.
    y_cols: u32,
    /// Rows per mini-batch.
    batch: u32,
    /// Elements between the starts of consecutive feature blocks.
    x_block: u32,
    /// Elements between the starts of consecutive target blocks.
    y_block: u32,
    /// Padding.
    _pad: [u32; 2],
}

const BINDINGS: &[(u32, Binding)] = &[
    (0, Binding::ReadOnly),
    (1, Binding::ReadOnly),
    (2, Binding::ReadOnly),
    (3, Binding::ReadWrite),
    (4, Binding::ReadWrite),
    (5, Binding::Uniform),
];

/// Prepares the shuffle of `x_all` (`[rows, features]`) and `y_all` (`[rows, targets]` or
/// `[rows]`) by `order` into blocks of `batch` rows, `x_block` and `y_block` elements apart.
#[allow(clippy::too_many_arguments)]
pub(crate) fn shuffle_dispatch(
    gpu: &Gpu,
    x_all: &Tensor,
    y_all: &Tensor,
    order: &Tensor,
    x_batches: &Tensor,
    y_batches: &Tensor,
    batch: usize,
    blocks: (usize, usize),
) -> Result<Dispatch> {
    let rows = x_all.shape()[0];
    let (x_cols, y_cols) = (x_all.len() / rows, y_all.len() / rows);
    let (x_block, y_block) = blocks;
    let steps = rows.div_ceil(batch);
    if x_batches.len() < steps * x_block
        || y_batches.len() < steps * y_block
        || x_block < batch * x_cols
    {
        return Err(Error::ShapeMismatch {
            op: "shuffle",
            detail: format!("the batch buffers must hold {steps} blocks of {batch} rows"),
            lhs: x_all.shape().to_vec(),
            rhs: x_batches.shape().to_vec(),
        });
    }
    let params = ShuffleParams {
        rows: dim("shuffle", rows)?,
        x_cols: dim("shuffle", x_cols)?,
        y_cols: dim("shuffle", y_cols)?,
        batch: dim("shuffle", batch)?,
        x_block: dim("shuffle", x_block)?,
        y_block: dim("shuffle", y_block)?,
        _pad: [0; 2],
    };
    // Features four at a time where their count allows (blocks are multiples of 64).
    let (entry, x_words) = match x_cols % 4 {
        0 => ("shuffle_rows_vec4", x_cols / 4),
        _ => ("shuffle_rows", x_cols),
    };
    let spec = KernelSpec {
        shader: Shader::Gather.code(),
        entry,
        bindings: BINDINGS,
        constants: vec![workgroup_constant()],
    };
    Dispatch::new(
        gpu,
        &spec,
        &[x_all, y_all, order, x_batches, y_batches],
        &params,
        grid(groups_for(rows * (x_words + y_cols))),
    )
}

#[cfg(test)]
mod tests {
    use super::super::seam::{assert_mirrors, mirror};
    use super::*;

    #[test]
    fn the_params_match_wgsl() {
        #[rustfmt::skip]
        let params = mirror!(ShuffleParams { rows, x_cols, y_cols, batch, x_block, y_block });
        assert_mirrors(Shader::Gather, "ShuffleParams", params);
    }
}
