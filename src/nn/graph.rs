//! The MLP's forward and backward passes as prepared launches over fixed buffers.

use crate::error::Result;
use crate::gpu::{DType, Gpu, Launch, Tensor};
use crate::kernels::dropout::{dropout_launch, DropoutKey};
use crate::kernels::loss::loss_launch;
use crate::kernels::matmul::{matmul_launch, MatmulLayout, MatmulOptions};

use super::Mlp;

/// The forward pass of a batch: one matmul per layer with the bias and (for hidden layers)
/// the activation fused in.
pub(crate) struct Forward {
    /// The output of each layer, `[rows, sizes[l + 1]]`; the last holds the logits.
    pub acts: Vec<Tensor>,
    /// Each hidden layer's pre-activation, kept for the backward pass; `None` where the
    /// activation's derivative can be read from the layer's output (ReLU).
    pub pres: Vec<Option<Tensor>>,
    pub launch: Launch,
}

impl Forward {
    pub fn logits(&self) -> &Tensor {
        &self.acts[self.acts.len() - 1]
    }

    /// Where the backward pass takes hidden layer l's activation derivative.
    fn derivative_at(&self, l: usize) -> &Tensor {
        self.pres[l].as_ref().unwrap_or(&self.acts[l])
    }
}

/// Dropout in a training step: the run's seed and the device's step counter (the masks'
/// step; see [`DropoutKey`]). Without it, as in validation and prediction, Dropout layers are
/// the identity.
#[derive(Clone, Copy)]
pub(crate) struct Training<'a> {
    pub seed: u64,
    pub step: &'a Tensor,
}

impl Training<'_> {
    /// The dropout after hidden layer `l` of `mlp`, in place on `data` (its output, or in the
    /// backward pass that output's gradient), if the layer has one.
    fn dropout(&self, gpu: &Gpu, mlp: &Mlp, l: usize, data: &Tensor) -> Result<Launch> {
        match mlp.dropout().get(l) {
            Some(&p) if p > 0.0 => {
                let key = DropoutKey {
                    seed: self.seed,
                    model: 0,
                    step: 0,
                    layer: l as u32,
                };
                dropout_launch(gpu, data, self.step, key, p)
            }
            _ => Ok(Launch::default()),
        }
    }
}

/// A forward pass and the mean loss of its outputs against the targets, with the loss's
/// gradient with respect to the logits.
pub(crate) struct LossPass {
    pub forward: Forward,
    /// One element: the mean loss.
    pub loss: Tensor,
    pub dlogits: Tensor,
    pub loss_launch: Launch,
}

/// Prepares the forward pass of `x` and the model's loss against `y` (f32 `[rows, 1]`, or u32
/// class indices `[rows]` for softmax cross-entropy), in `training` or not.
pub(crate) fn forward_with_loss(
    gpu: &Gpu,
    mlp: &Mlp,
    x: &Tensor,
    y: &Tensor,
    training: Option<Training>,
) -> Result<LossPass> {
    let forward = forward(gpu, mlp, x, training)?;
    let loss = Tensor::zeros(gpu, &[1], DType::F32)?;
    let dlogits = Tensor::zeros(gpu, forward.logits().shape(), DType::F32)?;
    let weights = match mlp.loss_weights().values() {
        Some(w) => Some(Tensor::from_slice(gpu, &[w.len()], w)?),
        None => None,
    };
    let loss_launch = loss_launch(
        gpu,
        mlp.loss_kind(),
        forward.logits(),
        y,
        weights.as_ref(),
        &loss,
        &dlogits,
    )?;
    Ok(LossPass {
        forward,
        loss,
        dlogits,
        loss_launch,
    })
}

/// Prepares `acts[l] = f_l(acts[l−1]·W_lᵀ + b_l)` with `acts[−1] = x` (`[rows, inputs]`;
/// a block view when each recording picks the batch), `f_l` the activation of hidden layer l
/// and the identity for the output layer; in `training`, each hidden layer's Dropout after it.
pub(crate) fn forward(
    gpu: &Gpu,
    mlp: &Mlp,
    x: &Tensor,
    training: Option<Training>,
) -> Result<Forward> {
    let rows = x.shape()[0];
    let params = mlp.params();
    let mut acts: Vec<Tensor> = Vec::with_capacity(mlp.layers());
    let mut pres = Vec::with_capacity(mlp.layers() - 1);
    let mut launch = Launch::default();
    for (l, linear) in mlp.linears().iter().enumerate() {
        let shape = [rows, mlp.sizes()[l + 1]];
        let out = Tensor::zeros(gpu, &shape, DType::F32)?;
        let activation = mlp.activations().get(l).copied();
        let pre = match activation {
            Some(f) if !f.backward_reads_output() => Some(Tensor::zeros(gpu, &shape, DType::F32)?),
            _ => None,
        };
        let input = if l == 0 { x } else { &acts[l - 1] };
        let options = MatmulOptions {
            layout: MatmulLayout::ABt,
            bias: Some(params.value_of(linear.bias)),
            activation,
            pre_activation: pre.as_ref(),
            ..Default::default()
        };
        let weight = params.value_of(linear.weight);
        launch = launch.then(matmul_launch(gpu, input, weight, &out, &options)?);
        if activation.is_some() {
            pres.push(pre);
            if let Some(training) = training {
                launch = launch.then(training.dropout(gpu, mlp, l, &out)?);
            }
        }
        acts.push(out);
    }
    Ok(Forward { acts, pres, launch })
}

/// The backward pass from `dlogits` (d loss / d logits, `[rows, outputs]`), writing every
/// parameter's gradient into the model's gradient buffer, two dispatches a hidden layer and one
/// for the first:
///   dW_l = dH_lᵀ·H_{l−1} with db_l = Σ_rows dH_l as the same matmul's row sums;
///   dZ_{l−1} = (dH_l·W_l) ⊙ f'(Z_{l−1}), the activation's backward fused into the matmul
/// (for ReLU it reads H_{l−1} in place of Z_{l−1}: H > 0 exactly where Z > 0), then in
/// `training` the Dropout's masks of layer l − 1 times dZ_{l−1} (H_{l−1} holds the dropped
/// output, zero where dropped, so ReLU's reading of it stays right).
/// The intermediate gradients live as long as the launch's bind groups hold them.
pub(crate) fn backward(
    gpu: &Gpu,
    mlp: &Mlp,
    x: &Tensor,
    (forward, dlogits): (&Forward, &Tensor),
    training: Option<Training>,
) -> Result<Launch> {
    let params = mlp.params();
    let rows = x.shape()[0];
    let mut launch = Launch::default();
    let mut upstream: Option<Tensor> = None; // dH_l for l below the output
    for (l, linear) in mlp.linears().iter().enumerate().rev() {
        let dh = upstream.as_ref().unwrap_or(dlogits);
        let input = if l == 0 { x } else { &forward.acts[l - 1] };
        let weight_grad = MatmulOptions {
            layout: MatmulLayout::AtB,
            row_sums: Some(params.grad_of(linear.bias)),
            ..Default::default()
        };
        launch = launch.then(matmul_launch(
            gpu,
            dh,
            input,
            params.grad_of(linear.weight),
            &weight_grad,
        )?);
        if l > 0 {
            let dh_below = Tensor::zeros(gpu, &[rows, mlp.sizes()[l]], DType::F32)?;
            let through = MatmulOptions {
                derivative: Some((mlp.activations()[l - 1], forward.derivative_at(l - 1))),
                ..Default::default()
            };
            launch = launch.then(matmul_launch(
                gpu,
                dh,
                params.value_of(linear.weight),
                &dh_below,
                &through,
            )?);
            if let Some(training) = training {
                launch = launch.then(training.dropout(gpu, mlp, l - 1, &dh_below)?);
            }
            upstream = Some(dh_below);
        }
    }
    Ok(launch)
}
