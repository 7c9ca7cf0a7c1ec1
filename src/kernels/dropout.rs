//! Dropout in place (`shaders/dropout.wgsl`, the draw in `shaders/formulas.wgsl`), its masks
//! on the host, and the training step's counter that keys them.
//!
//! PyTorch's inverted dropout: in training each element is kept with probability 1 − p and
//! scaled by 1/(1 − p), or zeroed; in evaluation the layer is the identity. The draws are not
//! PyTorch's (its generator's stream depends on how it is launched): each element's is the
//! first word of Philox4x32-10 of the counter (element, layer, step, model) under the seed, so
//! it is reproducible bit for bit on every adapter whatever the schedule, and
//! [`DropoutKey::multipliers`] gives the host the same masks.

use bytemuck::{Pod, Zeroable};

use super::{dim, grid, groups_for, workgroup_constant, Shader};
use crate::error::{Error, Result};
use crate::gpu::{Binding, DType, Dispatch, Gpu, KernelSpec, Launch, Tensor};
/// Philox4x32-10, the draw's generator (public for tests against its published vectors).
pub use crate::rng::philox4x32_10;

/// Which masks: a training run's seed, the model, the training step (0 for the first; steps
/// count on across epochs and resumes) and the hidden layer (0 for the first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DropoutKey {
    /// The run's seed (`TrainConfig::seed`).
    pub seed: u64,
    /// A further word of the counter: 0 wherever the crate trains, so that a model in a grid
    /// draws the masks it draws trained alone (its seed tells it from the others, as a fresh
    /// `torch.manual_seed(seed)` before each fit would); another value gives another,
    /// independent set of masks.
    pub model: u32,
    /// The training step, from 0.
    pub step: u32,
    /// The hidden layer the dropout follows, from 0.
    pub layer: u32,
}

impl DropoutKey {
    /// Whether element `element` (`row · units + unit` of the step's batch) is kept at drop
    /// probability `p`: the top 24 bits of its draw, as a fraction of 2²⁴, are ≥ p.
    pub fn keeps(self, element: u32, p: f32) -> bool {
        let counter = [element, self.layer, self.step, self.model];
        let key = [self.seed as u32, (self.seed >> 32) as u32];
        philox4x32_10(counter, key)[0] >> 8 >= drop_threshold(p)
    }

    /// What the GPU multiplies the first `n` elements by: [`dropout_scale`]`(p)` where kept,
    /// 0 where dropped.
    pub fn multipliers(self, n: usize, p: f32) -> Vec<f32> {
        let scale = dropout_scale(p);
        (0..n as u32)
            .map(|i| if self.keeps(i, p) { scale } else { 0.0 })
            .collect()
    }
}

/// `⌈p·2²⁴⌉`: an element is dropped where its 24-bit draw is below it.
pub(crate) fn drop_threshold(p: f32) -> u32 {
    (f64::from(p) * 16_777_216.0).ceil() as u32
}

/// The scale of kept elements, `1/(1 − p)` as PyTorch rounds it: `1 − p` in double
/// precision, rounded to f32, then divided into 1 in f32 (`noise.div_(1 - p)`).
pub fn dropout_scale(p: f32) -> f32 {
    1.0 / ((1.0 - f64::from(p)) as f32)
}

/// Checks a drop probability: finite, in `[0, 1)` (0 is no dropout; 1 would train nothing).
///
/// # Errors
/// [`Error::InvalidArgument`] naming `p` otherwise.
pub fn check_dropout(op: &'static str, p: f32) -> Result<()> {
    if (0.0..1.0).contains(&p) {
        Ok(())
    } else {
        Err(Error::InvalidArgument {
            op,
            detail: format!(
                "dropout probability {p} is not in [0, 1) (0 is no dropout; 1 would drop everything)"
            ),
        })
    }
}

/// Mirrors `DropoutParams` in `dropout.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
struct DropoutParams {
    n: u32,
    layer: u32,
    model: u32,
    threshold: u32,
    seed_lo: u32,
    seed_hi: u32,
    scale: f32,
    _pad0: u32,
}

/// Prepares dropout of `data` in place, its masks keyed by `key` with the step read from
/// `step` (one u32 on the device, so that one dispatch serves every step; `key.step` is not
/// used). Applied to a layer's output it is the forward pass; applied with the same key to the
/// gradient of that output it is the backward pass.
///
/// # Errors
/// [`Error::InvalidArgument`] for a `p` outside `[0, 1)`; [`Error::DType`] unless `data` is
/// f32 and `step` u32.
pub(crate) fn dropout_launch(
    gpu: &Gpu,
    data: &Tensor,
    step: &Tensor,
    key: DropoutKey,
    p: f32,
) -> Result<Launch> {
    let op = "dropout";
    check_dropout(op, p)?;
    data.expect_dtype(op, "the data", DType::F32)?;
    step.expect_dtype(op, "the step counter", DType::U32)?;
    const BINDINGS: &[(u32, Binding)] = &[
        (0, Binding::ReadWrite),
        (1, Binding::ReadOnly),
        (2, Binding::Uniform),
    ];
    let params = DropoutParams {
        n: dim(op, data.len())?,
        layer: key.layer,
        model: key.model,
        threshold: drop_threshold(p),
        seed_lo: key.seed as u32,
        seed_hi: (key.seed >> 32) as u32,
        scale: dropout_scale(p),
        _pad0: 0,
    };
    let dispatch = Dispatch::new(
        gpu,
        &spec("dropout_kernel", BINDINGS),
        &[data, step],
        &params,
        grid(groups_for(data.len())),
    )?;
    Ok(Launch::new(vec![dispatch]))
}

/// Prepares `step += 1`: the end of a training step.
pub(crate) fn step_tick_launch(gpu: &Gpu, step: &Tensor) -> Result<Launch> {
    const BINDINGS: &[(u32, Binding)] = &[(3, Binding::ReadWrite), (2, Binding::Uniform)];
    let dispatch = Dispatch::new(
        gpu,
        &spec("step_tick_kernel", BINDINGS),
        &[step],
        &DropoutParams::zeroed(),
        [1, 1, 1],
    )?;
    Ok(Launch::new(vec![dispatch]))
}

fn spec(entry: &'static str, bindings: &'static [(u32, Binding)]) -> KernelSpec {
    KernelSpec {
        shader: Shader::Dropout.code(),
        entry,
        bindings,
        constants: vec![workgroup_constant()],
    }
}

/// Dropout of `data` in place with the masks of `key` (its step included), now: what a
/// training step does to a hidden layer's output.
///
/// ```no_run
/// # use wgsl_train::{Gpu, Tensor, kernels::dropout::{dropout, DropoutKey}};
/// # fn main() -> wgsl_train::Result<()> {
/// let gpu = Gpu::new()?;
/// let h = Tensor::from_slice(&gpu, &[2, 3], &[1.0f32; 6])?;
/// let key = DropoutKey { seed: 7, model: 0, step: 0, layer: 0 };
/// dropout(&gpu, &h, key, 0.5)?;
/// assert_eq!(h.to_vec::<f32>(&gpu)?, key.multipliers(6, 0.5));
/// # Ok(()) }
/// ```
///
/// # Errors
/// [`Error::InvalidArgument`] for a `p` outside `[0, 1)`; [`Error::DType`] unless `data` is
/// f32.
pub fn dropout(gpu: &Gpu, data: &Tensor, key: DropoutKey, p: f32) -> Result<()> {
    let step = Tensor::from_slice(gpu, &[1], &[key.step])?;
    gpu.run(&dropout_launch(gpu, data, &step, key, p)?)
}

#[cfg(test)]
mod tests {
    use super::super::seam::{assert_mirrors, mirror};
    use super::*;

    #[test]
    fn the_params_match_wgsl() {
        let params = mirror!(DropoutParams {
            n,
            layer,
            model,
            threshold,
            seed_lo,
            seed_hi,
            scale
        });
        assert_mirrors(Shader::Dropout, "DropoutParams", params);
    }

    /// PyTorch's scale for p = 0.2: `1 - 0.2` is 0.8 in double, 0.800000011920929 as f32, and
    /// 1 divided by it in f32 is 1.25 exactly.
    #[test]
    fn the_scale_rounds_as_pytorchs() {
        assert_eq!(dropout_scale(0.2), 1.25);
        assert_eq!(dropout_scale(0.5), 2.0);
        assert_eq!(dropout_scale(0.0), 1.0);
    }

    #[test]
    fn probabilities_outside_0_1_are_refused() {
        for p in [-0.1, 1.0, f32::NAN, f32::INFINITY] {
            let err = check_dropout("t", p).unwrap_err().to_string();
            assert!(err.contains("[0, 1)"), "{p}: {err}");
        }
        check_dropout("t", 0.0).unwrap();
        check_dropout("t", 0.99).unwrap();
    }
}
