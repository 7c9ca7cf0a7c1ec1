//! Reference MLP training on the CPU: the same forward, loss, backward and optimizer steps as
//! the GPU trainer, from the reference kernels, for the same batches in the same order.

use crate::kernels::dropout::DropoutKey;
use crate::kernels::loss::{LossKind, LossWeights};
use crate::kernels::matmul::MatmulLayout;
use crate::nn::Activation;
use crate::optim::OptimizerConfig;

use super::{activation, loss, matmul, optim, reduce};

/// An MLP's parameters on the host with one reference optimizer per tensor.
pub struct ReferenceMlp {
    sizes: Vec<usize>,
    /// After each hidden layer.
    activations: Vec<Activation>,
    loss: LossKind,
    loss_weights: LossWeights,
    clip_grad_norm: Option<f64>,
    /// The drop probability after each hidden layer, and the run's seed that keys the masks.
    dropout: (Vec<f32>, u64),
    /// Steps taken (Dropout's masks are keyed by the step).
    steps: u32,
    /// `0.weight`, `0.bias`, `2.weight`, … as in [`crate::nn::Mlp::state_dict`].
    params: Vec<Vec<f32>>,
    optimizers: Vec<optim::Optimizer>,
}

impl ReferenceMlp {
    /// From the layer sizes, the parameters in `state_dict` order, the loss and the
    /// optimizer (one group for all parameters); ReLU after every hidden layer.
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
            activations: vec![Activation::Relu; sizes.len().saturating_sub(2)],
            loss,
            loss_weights: LossWeights::None,
            clip_grad_norm: None,
            dropout: (vec![0.0; sizes.len().saturating_sub(2)], 0),
            steps: 0,
            params,
            optimizers,
        }
    }

    /// The same with `clip_grad_norm_(params, max_norm)` before every step.
    pub fn with_clip_grad_norm(mut self, max_norm: Option<f64>) -> Self {
        self.clip_grad_norm = max_norm;
        self
    }

    /// The same with PyTorch's weights on the loss's terms (see [`LossWeights`]).
    pub fn with_loss_weights(mut self, weights: LossWeights) -> Self {
        self.loss_weights = weights;
        self
    }

    /// The same with `activations` after the hidden layers, one each.
    pub fn with_activations(mut self, activations: &[Activation]) -> Self {
        assert_eq!(
            activations.len(),
            self.activations.len(),
            "one per hidden layer"
        );
        self.activations = activations.to_vec();
        self
    }

    /// The same with Dropout of these probabilities after the hidden layers, one each, its
    /// masks those the GPU draws for a run of `seed` ([`DropoutKey`]).
    pub fn with_dropout(mut self, dropout: &[f32], seed: u64) -> Self {
        assert_eq!(dropout.len(), self.dropout.0.len(), "one per hidden layer");
        self.dropout = (dropout.to_vec(), seed);
        self
    }

    /// Dropout's multipliers for hidden layer `l`'s `n` outputs in this step, if it has one.
    fn dropout_multipliers(&self, l: usize, n: usize) -> Option<Vec<f32>> {
        let (dropout, seed) = &self.dropout;
        let p = *dropout.get(l).filter(|&&p| p > 0.0)?;
        let key = DropoutKey {
            seed: *seed,
            model: 0,
            step: self.steps,
            layer: l as u32,
        };
        Some(key.multipliers(n, p))
    }

    /// The parameters in `state_dict` order.
    pub fn params(&self) -> &[Vec<f32>] {
        &self.params
    }

    /// One training step on `rows` rows of `x`; `y` holds f32 targets (or class indices as
    /// numbers for softmax cross-entropy). Returns the batch's mean loss.
    pub fn step(&mut self, x: &[f32], y: &[f32], rows: usize) -> f64 {
        let layers = self.sizes.len() - 1;
        // Forward: pres[l] = acts[l−1]·Wᵀ + b, acts[l] = f(pres[l]) for hidden layers, times
        // Dropout's multipliers where it has them.
        let masks: Vec<Option<Vec<f32>>> = (0..layers.saturating_sub(1))
            .map(|l| self.dropout_multipliers(l, rows * self.sizes[l + 1]))
            .collect();
        let mut pres: Vec<Vec<f32>> = Vec::with_capacity(layers);
        let mut acts: Vec<Vec<f32>> = Vec::with_capacity(layers);
        for l in 0..layers {
            let input = if l == 0 { x } else { &acts[l - 1] };
            let (inp, out) = (self.sizes[l], self.sizes[l + 1]);
            let pre = matmul::matmul(
                input,
                &self.params[2 * l],
                rows,
                out,
                inp,
                MatmulLayout::ABt,
                Some(&self.params[2 * l + 1]),
                None,
                None,
            );
            let mut h = match self.activations.get(l) {
                Some(&f) => activation::activate(f, &pre),
                None => pre.clone(),
            };
            if let Some(Some(mask)) = masks.get(l) {
                h.iter_mut().zip(mask).for_each(|(h, m)| *h *= m);
            }
            pres.push(pre);
            acts.push(h);
        }
        let logits = &acts[layers - 1];
        let outputs = self.sizes[layers];
        let ones = vec![1.0; outputs];
        let weights = self.loss_weights.values().unwrap_or(&ones);
        let (value, mut dh) = match self.loss {
            LossKind::Mse => loss::mse(logits, y),
            LossKind::BceWithLogits => loss::bce_with_logits_pos_weight(logits, y, weights),
            LossKind::Bce => loss::bce(logits, y),
            LossKind::SoftmaxCrossEntropy => {
                let classes: Vec<u32> = y.iter().map(|&c| c as u32).collect();
                loss::softmax_cross_entropy_weighted(logits, &classes, weights)
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
                None,
                None,
            );
            grads[2 * l + 1] = reduce::column_sums(&dh, rows, out);
            if l > 0 {
                let dact = matmul::matmul(
                    &dh,
                    &self.params[2 * l],
                    rows,
                    inp,
                    out,
                    MatmulLayout::AB,
                    None,
                    None,
                    None,
                );
                dh = activation::activate_backward(self.activations[l - 1], &dact, &pres[l - 1]);
                if let Some(mask) = &masks[l - 1] {
                    dh.iter_mut().zip(mask).for_each(|(d, m)| *d *= m);
                }
            }
        }
        // clip_grad_norm_'s factor, over the gradients with L1's term.
        let clip = self.clip_grad_norm.map_or(1.0, |max_norm| {
            let squares: f64 = (self.params.iter().zip(&grads).zip(&self.optimizers))
                .flat_map(|((p, g), o)| o.penalized_grads(p, g))
                .map(|g| g * g)
                .sum();
            clip_coefficient(squares.sqrt(), max_norm)
        });
        for ((p, g), o) in self.params.iter_mut().zip(&grads).zip(&mut self.optimizers) {
            o.step_clipped(p, g, clip);
        }
        self.steps += 1;
        value
    }
}

/// `torch.nn.utils.clip_grad_norm_` with norm type 2, in f64: every gradient scaled by
/// `min(max_norm / (‖g‖ + 1e-6), 1)`, ‖g‖ over all of them. Returns ‖g‖ before clipping.
pub fn clip_grad_norm(grads: &mut [Vec<f32>], max_norm: f64) -> f64 {
    let squares: f64 = grads.iter().flatten().map(|&g| f64::from(g).powi(2)).sum();
    let norm = squares.sqrt();
    let scale = clip_coefficient(norm, max_norm);
    for g in grads.iter_mut().flatten() {
        *g = (f64::from(*g) * scale) as f32;
    }
    norm
}

/// clip_grad_norm_'s factor for gradients of norm `norm`: `min(max_norm / (norm + 1e-6), 1)`.
pub fn clip_coefficient(norm: f64, max_norm: f64) -> f64 {
    (max_norm / (norm + 1e-6)).min(1.0)
}
