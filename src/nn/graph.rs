//! The MLP's forward and backward passes as prepared launches over fixed buffers.

use crate::error::Result;
use crate::gpu::{DType, Gpu, Launch, Tensor};
use crate::kernels::activation::relu_backward_launch;
use crate::kernels::matmul::{matmul_launch, MatmulLayout, MatmulOptions};
use crate::kernels::reduce::column_sums_launch;

use super::Mlp;

/// The forward pass of a batch: one matmul per layer with the bias and (for hidden layers)
/// the ReLU fused in.
pub(crate) struct Forward {
    /// The output of each layer, `[rows, sizes[l + 1]]`; the last holds the logits.
    pub acts: Vec<Tensor>,
    pub launch: Launch,
}

impl Forward {
    pub fn logits(&self) -> &Tensor {
        &self.acts[self.acts.len() - 1]
    }
}

/// Prepares `acts[l] = relu?(acts[l−1]·W_lᵀ + b_l)` with `acts[−1] = x` (`[rows, inputs]`).
pub(crate) fn forward(gpu: &Gpu, mlp: &Mlp, x: &Tensor) -> Result<Forward> {
    let rows = x.shape()[0];
    let params = mlp.params();
    let mut acts: Vec<Tensor> = Vec::with_capacity(mlp.layers());
    let mut launch = Launch::default();
    for l in 0..mlp.layers() {
        let out = Tensor::zeros(gpu, &[rows, mlp.sizes()[l + 1]], DType::F32)?;
        let input = if l == 0 { x } else { &acts[l - 1] };
        let options = MatmulOptions {
            layout: MatmulLayout::ABt,
            bias: Some(params.value(&format!("{}.bias", 2 * l))?),
            relu: l + 1 < mlp.layers(),
            ..Default::default()
        };
        let weight = params.value(&format!("{}.weight", 2 * l))?;
        launch = launch.then(matmul_launch(gpu, input, weight, &out, &options)?);
        acts.push(out);
    }
    Ok(Forward { acts, launch })
}

/// The backward pass from `dlogits` (d loss / d logits, `[rows, outputs]`), writing every
/// parameter's gradient into the model's gradient buffer:
///   dW_l = dH_lᵀ·H_{l−1}, db_l = Σ_rows dH_l, dH_{l−1} = relu'(H_{l−1}) ⊙ (dH_l·W_l).
/// Since H = max(pre, 0), H > 0 exactly where pre > 0, so the ReLU mask reads H itself.
/// The intermediate gradients live as long as the launch's bind groups hold them.
pub(crate) fn backward(
    gpu: &Gpu,
    mlp: &Mlp,
    x: &Tensor,
    forward: &Forward,
    dlogits: &Tensor,
) -> Result<Launch> {
    let params = mlp.params();
    let rows = x.shape()[0];
    let mut launch = Launch::default();
    let mut upstream: Option<Tensor> = None; // dH_l for l below the output
    for l in (0..mlp.layers()).rev() {
        let dh = upstream.as_ref().unwrap_or(dlogits);
        let input = if l == 0 { x } else { &forward.acts[l - 1] };
        let (w, b) = (format!("{}.weight", 2 * l), format!("{}.bias", 2 * l));
        let at_b = MatmulOptions {
            layout: MatmulLayout::AtB,
            ..Default::default()
        };
        launch = launch.then(matmul_launch(gpu, dh, input, params.grad(&w)?, &at_b)?);
        launch = launch.then(column_sums_launch(gpu, dh, params.grad(&b)?, false)?);
        if l > 0 {
            let width = mlp.sizes()[l];
            let dpre = Tensor::zeros(gpu, &[rows, width], DType::F32)?;
            let dh_below = Tensor::zeros(gpu, &[rows, width], DType::F32)?;
            launch = launch.then(matmul_launch(
                gpu,
                dh,
                params.value(&w)?,
                &dpre,
                &MatmulOptions::default(),
            )?);
            launch = launch.then(relu_backward_launch(gpu, &dpre, input, &dh_below)?);
            upstream = Some(dh_below);
        }
    }
    Ok(launch)
}
