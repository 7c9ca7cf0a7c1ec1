//! Fixed-order reductions: sums, means and column sums (`shaders/reduce.wgsl`).

use bytemuck::{Pod, Zeroable};

use super::{dim, grid, groups_for, Shader, WORKGROUP};
use crate::error::{Error, Result};
use crate::gpu::{Binding, DType, Dispatch, Gpu, KernelSpec, Launch, Tensor};

/// Mirrors `ReduceParams` in `reduce.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
struct ReduceParams {
    /// Elements to sum (`sum_chunks`) or rows (`column_sums`).
    n: u32,
    /// Columns (`column_sums`).
    cols: u32,
    /// `FLAG_ACCUMULATE` (`column_sums`).
    flags: u32,
    /// Factor applied to each output of `sum_chunks` (1, or 1/n on the last pass of a mean).
    scale: f32,
}

/// Elements one `sum_chunks` workgroup reduces (`CHUNK` in `reduce.wgsl`).
const CHUNK: usize = 4096;
const FLAG_ACCUMULATE: u32 = 1;
/// Invocations of a `sum_chunks` workgroup (`SUM_WG`); `column_sums` takes the element-wise
/// kernels' size (`COLUMNS_WG`).
const SUM_WG: u32 = 64;

const BINDINGS: &[(u32, Binding)] = &[
    (0, Binding::ReadOnly),
    (1, Binding::ReadWrite),
    (2, Binding::Uniform),
];

fn spec(entry: &'static str) -> KernelSpec {
    let workgroup = match entry {
        "sum_chunks" => ("SUM_WG", f64::from(SUM_WG)),
        _ => ("COLUMNS_WG", f64::from(WORKGROUP)),
    };
    KernelSpec {
        shader: Shader::Reduce.code(),
        entry,
        bindings: BINDINGS,
        constants: vec![workgroup],
    }
}

/// Prepares `out[0] = scale · Σ x` as a chain of `sum_chunks` passes, each reducing 4096
/// elements per workgroup, until one value remains. The order is fixed, so the result is the
/// same bit for bit on every run. `out` must have one element.
///
/// # Errors
/// [`Error::ShapeMismatch`] unless `out` has exactly one element; [`Error::DType`] for
/// non-f32 tensors.
pub fn sum_launch(gpu: &Gpu, x: &Tensor, out: &Tensor, scale: f32) -> Result<Launch> {
    x.expect_dtype("sum", "the input", DType::F32)?;
    out.expect_dtype("sum", "the output", DType::F32)?;
    if out.len() != 1 {
        return Err(Error::ShapeMismatch {
            op: "sum",
            detail: "the output must hold one value".into(),
            lhs: x.shape().to_vec(),
            rhs: out.shape().to_vec(),
        });
    }
    // Each pass leaves ceil(n / CHUNK) partial sums; the last pass writes `out`.
    let mut partials = Vec::new();
    let mut n = x.len();
    while n > CHUNK {
        n = n.div_ceil(CHUNK);
        partials.push(Tensor::zeros(gpu, &[n], DType::F32)?);
    }
    let inputs = std::iter::once(x).chain(&partials);
    let outputs = partials.iter().chain(std::iter::once(out));
    let passes = partials.len() + 1;
    let mut dispatches = Vec::with_capacity(passes);
    for (pass, (input, output)) in inputs.zip(outputs).enumerate() {
        let last = pass + 1 == passes;
        let params = ReduceParams {
            n: dim("sum", input.len())?,
            cols: 0,
            flags: 0,
            scale: if last { scale } else { 1.0 },
        };
        let chunks = groups_for_chunks(input.len());
        dispatches.push(Dispatch::new(
            gpu,
            &spec("sum_chunks"),
            &[input, output],
            &params,
            grid(chunks),
        )?);
    }
    // The bind groups keep the partial-sum buffers alive after `partials` is dropped.
    Ok(Launch::new(dispatches))
}

fn groups_for_chunks(n: usize) -> u32 {
    u32::try_from(n.div_ceil(CHUNK)).unwrap_or(u32::MAX)
}

/// `Σ x` as a new one-element tensor.
///
/// # Errors
/// As [`sum_launch`].
pub fn sum(gpu: &Gpu, x: &Tensor) -> Result<Tensor> {
    let out = Tensor::zeros(gpu, &[1], DType::F32)?;
    gpu.run(&sum_launch(gpu, x, &out, 1.0)?)?;
    Ok(out)
}

/// The mean of all elements of `x` as a new one-element tensor.
///
/// # Errors
/// As [`sum_launch`].
pub fn mean(gpu: &Gpu, x: &Tensor) -> Result<Tensor> {
    let out = Tensor::zeros(gpu, &[1], DType::F32)?;
    gpu.run(&sum_launch(gpu, x, &out, (1.0 / x.len() as f64) as f32)?)?;
    Ok(out)
}

/// Prepares the column sums of a `[rows, cols]` matrix into `out` (`[cols]`), added to what
/// `out` holds when `accumulate` is set: the bias gradient `db = Σ_rows dY`.
///
/// # Errors
/// [`Error::ShapeMismatch`] unless `x` is 2-D and `out` is `[cols]`.
pub fn column_sums_launch(gpu: &Gpu, x: &Tensor, out: &Tensor, accumulate: bool) -> Result<Launch> {
    x.expect_dtype("column_sums", "the input", DType::F32)?;
    out.expect_dtype("column_sums", "the output", DType::F32)?;
    let &[rows, cols] = x.shape() else {
        return Err(Error::ShapeMismatch {
            op: "column_sums",
            detail: "the input must be 2-D".into(),
            lhs: x.shape().to_vec(),
            rhs: out.shape().to_vec(),
        });
    };
    if out.shape() != [cols] {
        return Err(Error::ShapeMismatch {
            op: "column_sums",
            detail: format!("the output must be [{cols}]"),
            lhs: x.shape().to_vec(),
            rhs: out.shape().to_vec(),
        });
    }
    let params = ReduceParams {
        n: dim("column_sums", rows)?,
        cols: dim("column_sums", cols)?,
        flags: if accumulate { FLAG_ACCUMULATE } else { 0 },
        scale: 1.0,
    };
    let dispatch = Dispatch::new(
        gpu,
        &spec("column_sums"),
        &[x, out],
        &params,
        grid(groups_for(cols)),
    )?;
    Ok(Launch::new(vec![dispatch]))
}

/// The column sums of a `[rows, cols]` matrix as a new `[cols]` tensor.
///
/// # Errors
/// As [`column_sums_launch`].
pub fn column_sums(gpu: &Gpu, x: &Tensor) -> Result<Tensor> {
    let cols = x.shape().last().copied().unwrap_or(0).max(1);
    let out = Tensor::zeros(gpu, &[cols], DType::F32)?;
    gpu.run(&column_sums_launch(gpu, x, &out, false)?)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::seam::{assert_constant, assert_mirrors, mirror};
    use super::*;

    #[test]
    fn the_params_and_constants_match_wgsl() {
        let shader = Shader::Reduce;
        let params = mirror!(ReduceParams {
            n,
            cols,
            flags,
            scale
        });
        assert_mirrors(shader, "ReduceParams", params);
        assert_constant(shader, "CHUNK", CHUNK as f64);
        assert_constant(shader, "FLAG_ACCUMULATE", f64::from(FLAG_ACCUMULATE));
    }
}
