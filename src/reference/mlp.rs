//! Reference MLP training on the CPU: the same forward, loss, backward and optimizer steps as
//! the GPU trainer, from the reference kernels, for the same batches in the same order.

use crate::kernels::loss::LossKind;
use crate::kernels::matmul::MatmulLayout;
use crate::optim::OptimizerConfig;

use super::{activation, loss, matmul, optim, reduce};

/// An MLP's parameters on the host with one reference optimizer per tensor.
pub struct ReferenceMlp {
    sizes: Vec<usize>,
    loss: LossKind,
    /// `0.weight`, `0.bias`, `2.weight`, … as in [`crate::nn::Mlp::state_dict`].
    params: Vec<Vec<f32>>,
    optimizers: Vec<optim::Optimizer>,
}

impl ReferenceMlp {
    /// From the layer sizes, the parameters in `state_dict` order, the loss and the
    /// optimizer (one group for all parameters).
    pub fn new(
        sizes: &[usize],
        params: Vec<Vec<f32>>,
        loss: LossKind,
        optimizer: OptimizerConfig,
    ) -> Self {
        let optimizers = params
            .iter()
            .map(|p| optim::Optimizer::new(optimizer, p.len()))
            .collect();
        Self {
            sizes: sizes.to_vec(),
            loss,
            params,
            optimizers,
        }
    }

    /// The parameters in `state_dict` order.
    pub fn params(&self) -> &[Vec<f32>] {
        &self.params
    }

    /// One training step on `rows` rows of `x`; `y` holds f32 targets (or class indices as
    /// numbers for softmax cross-entropy). Returns the batch's mean loss.
    pub fn step(&mut self, x: &[f32], y: &[f32], rows: usize) -> f64 {
        let layers = self.sizes.len() - 1;
        // Forward: acts[l] = relu?(acts[l−1]·Wᵀ + b).
        let mut acts: Vec<Vec<f32>> = Vec::with_capacity(layers);
        for l in 0..layers {
            let input = if l == 0 { x } else { &acts[l - 1] };
            let (inp, out) = (self.sizes[l], self.sizes[l + 1]);
            let h = matmul::matmul(
                input,
                &self.params[2 * l],
                rows,
                out,
                inp,
                MatmulLayout::ABt,
                Some(&self.params[2 * l + 1]),
                l + 1 < layers,
                None,
            );
            acts.push(h);
        }
        let logits = &acts[layers - 1];
        let (value, mut dh) = match self.loss {
            LossKind::Mse => loss::mse(logits, y),
            LossKind::BceWithLogits => loss::bce_with_logits(logits, y),
            LossKind::Bce => loss::bce(logits, y),
            LossKind::SoftmaxCrossEntropy => {
                let classes: Vec<u32> = y.iter().map(|&c| c as u32).collect();
                loss::softmax_cross_entropy(logits, &classes, self.sizes[layers])
            }
        };
        // Backward.
        let mut grads = vec![Vec::new(); self.params.len()];
        for l in (0..layers).rev() {
            let input = if l == 0 { x } else { &acts[l - 1] };
            let (inp, out) = (self.sizes[l], self.sizes[l + 1]);
            grads[2 * l] = matmul::matmul(
                &dh,
                input,
                out,
                inp,
                rows,
                MatmulLayout::AtB,
                None,
                false,
                None,
            );
            grads[2 * l + 1] = reduce::column_sums(&dh, rows, out);
            if l > 0 {
                let dpre = matmul::matmul(
                    &dh,
                    &self.params[2 * l],
                    rows,
                    inp,
                    out,
                    MatmulLayout::AB,
                    None,
                    false,
                    None,
                );
                dh = activation::relu_backward(&dpre, input);
            }
        }
        for ((p, g), o) in self.params.iter_mut().zip(&grads).zip(&mut self.optimizers) {
            o.step(p, g);
        }
        value
    }
}
