//! Reference optimizers, written as plainly as the `torch.optim` pseudo-code, in f64, one
//! parameter tensor at a time. Parameters stay f32 between steps, as on the GPU.

use crate::optim::{AdamConfig, OptimizerConfig, SgdConfig};

/// Either reference optimizer, chosen by an [`OptimizerConfig`], for one parameter tensor.
#[derive(Debug, Clone)]
pub enum Optimizer {
    /// SGD.
    Sgd(Sgd),
    /// Adam or AdamW.
    Adam(Adam),
}

impl Optimizer {
    /// A fresh optimizer for a tensor of `len` elements.
    pub fn new(config: OptimizerConfig, len: usize) -> Self {
        match config {
            OptimizerConfig::Sgd(c) => Optimizer::Sgd(Sgd::new(c)),
            OptimizerConfig::Adam(c) => Optimizer::Adam(Adam::new(c, len)),
        }
    }

    /// One step: updates `params` from `grads`.
    pub fn step(&mut self, params: &mut [f32], grads: &[f32]) {
        self.step_clipped(params, grads, 1.0);
    }

    /// One step on the gradient (with L1's term) scaled by clip_grad_norm_'s factor `clip`.
    pub fn step_clipped(&mut self, params: &mut [f32], grads: &[f32], clip: f64) {
        match self {
            Optimizer::Sgd(o) => o.step_clipped(params, grads, clip),
            Optimizer::Adam(o) => o.step_clipped(params, grads, clip),
        }
    }

    /// The gradient clip_grad_norm_ measures: `grads` negated to maximize, with L1's term.
    pub fn penalized_grads(&self, params: &[f32], grads: &[f32]) -> Vec<f64> {
        let (maximize, l1) = match self {
            Optimizer::Sgd(o) => (o.config.maximize, o.config.l1),
            Optimizer::Adam(o) => (o.config.maximize, o.config.l1),
        };
        params
            .iter()
            .zip(grads)
            .map(|(&p, &g)| penalized_grad(g, f64::from(p), maximize, l1))
            .collect()
    }
}

/// `torch.optim.SGD` for one parameter tensor, plus L1.
#[derive(Debug, Clone)]
pub struct Sgd {
    config: SgdConfig,
    /// The momentum buffer b, created on the first step.
    momentum_buffer: Option<Vec<f64>>,
}

impl Sgd {
    /// A fresh optimizer (no momentum buffer yet).
    pub fn new(config: SgdConfig) -> Self {
        Self {
            config,
            momentum_buffer: None,
        }
    }

    /// The momentum buffer, once a step has created it.
    pub fn momentum_buffer(&self) -> Option<&[f64]> {
        self.momentum_buffer.as_deref()
    }

    /// One step: updates `params` from `grads`.
    pub fn step(&mut self, params: &mut [f32], grads: &[f32]) {
        self.step_clipped(params, grads, 1.0);
    }

    /// One step on the gradient (with L1's term) scaled by clip_grad_norm_'s factor `clip`.
    pub fn step_clipped(&mut self, params: &mut [f32], grads: &[f32], clip: f64) {
        let c = self.config;
        let first_step = self.momentum_buffer.is_none();
        let buffer = self
            .momentum_buffer
            .get_or_insert_with(|| vec![0.0; params.len()]);
        for i in 0..params.len() {
            let theta = f64::from(params[i]);
            let penalized = penalized_grad(grads[i], theta, c.maximize, c.l1);
            let mut g = clip_value(penalized * clip, c.clip_grad_value);
            g += c.weight_decay * theta;
            if c.momentum != 0.0 {
                buffer[i] = if first_step {
                    g
                } else {
                    c.momentum * buffer[i] + (1.0 - c.dampening) * g
                };
                g = if c.nesterov {
                    g + c.momentum * buffer[i]
                } else {
                    buffer[i]
                };
            }
            params[i] = (theta - c.lr * g) as f32;
        }
    }
}

/// The gradient a step starts from: negated to maximize, L1's term added (as a PyTorch user
/// adds `λ₁·Σ|θ|` to the loss). A step scales it by clip_grad_norm_'s factor, then
/// [`clip_value`]s it, then adds `weight_decay`'s term.
fn penalized_grad(grad: f32, theta: f64, maximize: bool, l1: f64) -> f64 {
    let g = f64::from(grad);
    (if maximize { -g } else { g }) + l1 * sign(theta)
}

/// `g` clamped to ±c as `clip_grad_value_` clamps `.grad`.
fn clip_value(g: f64, clip: Option<f64>) -> f64 {
    match clip {
        Some(c) => g.clamp(-c, c),
        None => g,
    }
}

/// `torch.optim.Adam` (AdamW with `decoupled_weight_decay`) for one parameter tensor, plus L1.
#[derive(Debug, Clone)]
pub struct Adam {
    config: AdamConfig,
    step: i32,
    exp_avg: Vec<f64>,
    exp_avg_sq: Vec<f64>,
    max_exp_avg_sq: Vec<f64>,
}

impl Adam {
    /// A fresh optimizer for a tensor of `len` elements (m = v = 0).
    pub fn new(config: AdamConfig, len: usize) -> Self {
        Self {
            config,
            step: 0,
            exp_avg: vec![0.0; len],
            exp_avg_sq: vec![0.0; len],
            max_exp_avg_sq: vec![0.0; len],
        }
    }

    /// (m, v, max v).
    pub fn state(&self) -> (&[f64], &[f64], &[f64]) {
        (&self.exp_avg, &self.exp_avg_sq, &self.max_exp_avg_sq)
    }

    /// One step: updates `params` from `grads`.
    pub fn step(&mut self, params: &mut [f32], grads: &[f32]) {
        self.step_clipped(params, grads, 1.0);
    }

    /// One step on the gradient (with L1's term) scaled by clip_grad_norm_'s factor `clip`.
    pub fn step_clipped(&mut self, params: &mut [f32], grads: &[f32], clip: f64) {
        let c = self.config;
        let (beta1, beta2) = c.betas;
        self.step += 1;
        let bias_correction1 = 1.0 - beta1.powi(self.step);
        let bias_correction2 = 1.0 - beta2.powi(self.step);
        for i in 0..params.len() {
            let mut theta = f64::from(params[i]);
            let penalized = penalized_grad(grads[i], theta, c.maximize, c.l1);
            let mut g = clip_value(penalized * clip, c.clip_grad_value);
            if c.decoupled_weight_decay {
                theta *= 1.0 - c.lr * c.weight_decay;
            } else {
                g += c.weight_decay * theta;
            }
            let m = &mut self.exp_avg[i];
            let v = &mut self.exp_avg_sq[i];
            *m = beta1 * *m + (1.0 - beta1) * g;
            *v = beta2 * *v + (1.0 - beta2) * g * g;
            let mut v_used = *v;
            if c.amsgrad {
                self.max_exp_avg_sq[i] = self.max_exp_avg_sq[i].max(*v);
                v_used = self.max_exp_avg_sq[i];
            }
            let step_size = c.lr / bias_correction1;
            let denom = v_used.sqrt() / bias_correction2.sqrt() + c.eps;
            params[i] = (theta - step_size * *m / denom) as f32;
        }
    }
}

/// sign(x) with sign(0) = 0.
fn sign(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
}
