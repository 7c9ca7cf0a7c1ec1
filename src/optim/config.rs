//! Optimizer hyperparameters: plain structs whose `Default` is PyTorch's.

use crate::error::{Error, Result};
use crate::kernels::optim::{
    GroupParams, StepVector, UpdateKernel, FLAG_AMSGRAD, FLAG_DECOUPLED, FLAG_MAXIMIZE,
    FLAG_NESTEROV,
};

/// SGD as in `torch.optim.SGD`, plus L1. `Default`: lr 1e-3 and everything else off.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SgdConfig {
    /// Learning rate γ (default 1e-3): `θ ← θ − γ·g`.
    pub lr: f64,
    /// Momentum μ (default 0): `b ← μ·b + (1 − τ)·g`, with `b ← g` on the first step.
    pub momentum: f64,
    /// Dampening τ (default 0), see `momentum`.
    pub dampening: f64,
    /// L2 penalty λ₂ (default 0), PyTorch's `weight_decay`: `g ← g + λ₂·θ`.
    pub weight_decay: f64,
    /// L1 penalty λ₁ (default 0): `g ← g + λ₁·sign(θ)`, with sign(0) = 0.
    pub l1: f64,
    /// Nesterov momentum (default false): `g ← g + μ·b` instead of `g ← b`. Needs μ > 0 and τ = 0.
    pub nesterov: bool,
    /// Maximize the objective (default false): the gradient is negated first.
    pub maximize: bool,
    /// `torch.nn.utils.clip_grad_value_(params, c)` before each step (default `None`: off):
    /// `g ← clamp(g, −c, c)` on the gradient with L1's term (as PyTorch users add L1 to the
    /// loss), before `weight_decay`'s, fused into the update. Must be > 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip_grad_value: Option<f64>,
}

impl Default for SgdConfig {
    fn default() -> Self {
        Self {
            lr: 1e-3,
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 0.0,
            l1: 0.0,
            nesterov: false,
            maximize: false,
            clip_grad_value: None,
        }
    }
}

/// Adam as in `torch.optim.Adam` (and AdamW with `decoupled_weight_decay`), plus L1.
/// `Default`: lr 1e-3, betas (0.9, 0.999), eps 1e-8, no weight decay.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AdamConfig {
    /// Learning rate (default 1e-3): `θ ← θ − lr/(1 − β₁ᵗ) · m / (√v/√(1 − β₂ᵗ) + ε)`.
    pub lr: f64,
    /// (β₁, β₂) (default (0.9, 0.999)): `m ← β₁·m + (1 − β₁)·g`, `v ← β₂·v + (1 − β₂)·g²`.
    pub betas: (f64, f64),
    /// ε (default 1e-8), added to the denominator.
    pub eps: f64,
    /// λ₂ (default 0): coupled `g ← g + λ₂·θ`, or decoupled `θ ← θ·(1 − lr·λ₂)`.
    pub weight_decay: f64,
    /// Apply `weight_decay` decoupled, as AdamW (default false).
    pub decoupled_weight_decay: bool,
    /// L1 penalty λ₁ (default 0): `g ← g + λ₁·sign(θ)`, with sign(0) = 0.
    pub l1: f64,
    /// AMSGrad (default false): use the running maximum of v.
    pub amsgrad: bool,
    /// Maximize the objective (default false): the gradient is negated first.
    pub maximize: bool,
    /// `torch.nn.utils.clip_grad_value_(params, c)` before each step (default `None`: off):
    /// `g ← clamp(g, −c, c)` on the gradient with L1's term, before coupled `weight_decay`'s,
    /// fused into the update. Must be > 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip_grad_value: Option<f64>,
}

impl Default for AdamConfig {
    fn default() -> Self {
        Self {
            lr: 1e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled_weight_decay: false,
            l1: 0.0,
            amsgrad: false,
            maximize: false,
            clip_grad_value: None,
        }
    }
}

impl AdamConfig {
    /// AdamW with PyTorch's defaults: as Adam, with decoupled weight decay 1e-2.
    pub fn adamw() -> Self {
        Self {
            weight_decay: 1e-2,
            decoupled_weight_decay: true,
            ..Self::default()
        }
    }
}

/// The hyperparameters of one parameter group.
/// In JSON (a checkpoint's metadata): the fields of the config with `"kind": "sgd"` or
/// `"kind": "adam"`, named as PyTorch's constructor arguments.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum OptimizerConfig {
    /// Stochastic gradient descent.
    Sgd(SgdConfig),
    /// Adam or AdamW.
    Adam(AdamConfig),
}

impl From<SgdConfig> for OptimizerConfig {
    fn from(c: SgdConfig) -> Self {
        OptimizerConfig::Sgd(c)
    }
}

impl From<AdamConfig> for OptimizerConfig {
    fn from(c: AdamConfig) -> Self {
        OptimizerConfig::Adam(c)
    }
}

/// Parameters (by name) that share hyperparameters, like one of PyTorch's `param_groups`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ParamGroup {
    /// Names of the parameters in the group.
    pub params: Vec<String>,
    /// Their hyperparameters.
    pub config: OptimizerConfig,
}

impl ParamGroup {
    /// A group of the named parameters.
    pub fn new(params: Vec<String>, config: impl Into<OptimizerConfig>) -> Self {
        Self {
            params,
            config: config.into(),
        }
    }
}

fn check(
    optimizer: &'static str,
    name: &'static str,
    value: f64,
    ok: bool,
    expected: &'static str,
) -> Result<()> {
    if ok && value.is_finite() {
        Ok(())
    } else {
        Err(Error::InvalidHyperparameter {
            optimizer,
            name,
            value,
            expected,
        })
    }
}

/// The checks every optimizer shares: `lr`, `weight_decay` and `l1` are ≥ 0, a clipping
/// bound > 0.
fn check_common(
    optimizer: &'static str,
    lr: f64,
    weight_decay: f64,
    l1: f64,
    clip_grad_value: Option<f64>,
) -> Result<()> {
    check(optimizer, "lr", lr, lr >= 0.0, "must be ≥ 0")?;
    if let Some(c) = clip_grad_value {
        check(optimizer, "clip_grad_value", c, c > 0.0, "must be > 0")?;
    }
    let penalty = "must be ≥ 0";
    check(
        optimizer,
        "weight_decay",
        weight_decay,
        weight_decay >= 0.0,
        penalty,
    )?;
    check(optimizer, "l1", l1, l1 >= 0.0, penalty)
}

/// Why clip_grad_norm_ cannot take this `max_norm`, if it cannot: the one rule the optimizer,
/// the trainer and the grid all apply.
pub(crate) fn clip_grad_norm_problem(max_norm: f64) -> Option<String> {
    (!(max_norm.is_finite() && max_norm > 0.0))
        .then(|| format!("clip_grad_norm {max_norm} must be finite and > 0"))
}

impl OptimizerConfig {
    /// The L1 penalty (ours: PyTorch users add it to the loss).
    pub fn l1(&self) -> f64 {
        match self {
            OptimizerConfig::Sgd(c) => c.l1,
            OptimizerConfig::Adam(c) => c.l1,
        }
    }

    /// Checks every value, as PyTorch's constructors do (and ε > 0, penalties ≥ 0).
    ///
    /// # Errors
    /// [`Error::InvalidHyperparameter`] naming the first value out of range.
    pub fn validate(&self) -> Result<()> {
        match self {
            OptimizerConfig::Sgd(c) => {
                let o = "SGD";
                check_common(o, c.lr, c.weight_decay, c.l1, c.clip_grad_value)?;
                check(o, "momentum", c.momentum, c.momentum >= 0.0, "must be ≥ 0")?;
                check(o, "dampening", c.dampening, true, "must be finite")?;
                if c.nesterov {
                    check(
                        o,
                        "momentum",
                        c.momentum,
                        c.momentum > 0.0,
                        "Nesterov momentum needs momentum > 0",
                    )?;
                    check(
                        o,
                        "dampening",
                        c.dampening,
                        c.dampening == 0.0,
                        "Nesterov momentum needs dampening = 0",
                    )?;
                }
                Ok(())
            }
            OptimizerConfig::Adam(c) => {
                let o = if c.decoupled_weight_decay {
                    "AdamW"
                } else {
                    "Adam"
                };
                let (b1, b2) = c.betas;
                check_common(o, c.lr, c.weight_decay, c.l1, c.clip_grad_value)?;
                check(
                    o,
                    "betas.0",
                    b1,
                    (0.0..1.0).contains(&b1),
                    "must be in [0, 1)",
                )?;
                check(
                    o,
                    "betas.1",
                    b2,
                    (0.0..1.0).contains(&b2),
                    "must be in [0, 1)",
                )?;
                check(o, "eps", c.eps, c.eps > 0.0, "must be > 0")
            }
        }
    }

    pub(crate) fn kernel(&self) -> UpdateKernel {
        match self {
            OptimizerConfig::Sgd(_) => UpdateKernel::Sgd,
            OptimizerConfig::Adam(_) => UpdateKernel::Adam,
        }
    }

    /// The learning rate.
    pub fn lr(&self) -> f64 {
        match self {
            OptimizerConfig::Sgd(c) => c.lr,
            OptimizerConfig::Adam(c) => c.lr,
        }
    }

    /// Sets the learning rate.
    pub(crate) fn set_lr(&mut self, lr: f64) {
        match self {
            OptimizerConfig::Sgd(c) => c.lr = lr,
            OptimizerConfig::Adam(c) => c.lr = lr,
        }
    }

    /// The group's step vector for step `t` (1-based), computed in f64 and rounded once:
    /// `[step size, √(1 − β₂ᵗ), 1 on the first step, 1 − lr·λ₂]` (see `shaders/formulas.wgsl`).
    pub(crate) fn step_vector(&self, t: u64) -> StepVector {
        let first = if t == 1 { 1.0 } else { 0.0 };
        match self {
            OptimizerConfig::Sgd(c) => [c.lr as f32, 1.0, first, 1.0],
            OptimizerConfig::Adam(c) => {
                let t = i32::try_from(t).unwrap_or(i32::MAX);
                let bias_correction1 = 1.0 - c.betas.0.powi(t);
                let bias_correction2 = 1.0 - c.betas.1.powi(t);
                [
                    (c.lr / bias_correction1) as f32,
                    bias_correction2.sqrt() as f32,
                    first,
                    (1.0 - c.lr * c.weight_decay) as f32,
                ]
            }
        }
    }

    /// The group's row of the kernel's table of fixed hyperparameters and the constants
    /// derived from them, each computed in f64 and rounded to f32 once, as PyTorch does.
    pub(crate) fn group_params(&self) -> GroupParams {
        let flag = |on: bool, bit: u32| if on { bit } else { 0 };
        match *self {
            OptimizerConfig::Sgd(c) => GroupParams {
                momentum: c.momentum as f32,
                one_minus_dampening: (1.0 - c.dampening) as f32,
                weight_decay: c.weight_decay as f32,
                l1: c.l1 as f32,
                flags: flag(c.nesterov, FLAG_NESTEROV) | flag(c.maximize, FLAG_MAXIMIZE),
                clip_value: clip_value(c.clip_grad_value),
                ..GroupParams::default()
            },
            OptimizerConfig::Adam(c) => GroupParams {
                weight_decay: c.weight_decay as f32,
                l1: c.l1 as f32,
                one_minus_beta1: (1.0 - c.betas.0) as f32,
                beta2: c.betas.1 as f32,
                one_minus_beta2: (1.0 - c.betas.1) as f32,
                eps: c.eps as f32,
                flags: flag(c.maximize, FLAG_MAXIMIZE)
                    | flag(c.amsgrad, FLAG_AMSGRAD)
                    | flag(c.decoupled_weight_decay, FLAG_DECOUPLED),
                clip_value: clip_value(c.clip_grad_value),
                ..GroupParams::default()
            },
        }
    }
}

/// The kernels' clipping bound: 0 when off.
fn clip_value(clip_grad_value: Option<f64>) -> f32 {
    clip_grad_value.map_or(0.0, |c| c as f32)
}
