//! The fused optimizers against PyTorch's arithmetic, rounding included: an f32 emulation of
//! `torch.optim`'s single-tensor SGD and Adam (the CPU implementation), operation by operation,
//! with every hyperparameter constant computed from Python floats (f64) and rounded to f32 once
//! where PyTorch hands it to a kernel. The GPU must stay within a few ulps of it for every
//! element of the parameters and the optimizer state, step after step; a constant rounded
//! differently (`1 − β₂` computed in f32 is 1.3e-5 relative off) is hundreds of ulps.
//!
//! Where PyTorch's vectorised CPU kernels fuse a multiply-add (`add` with `alpha`, `lerp`),
//! the emulation does too; a GPU driver may or may not fuse, which the few-ulp tolerance allows.

// The emulation walks several arrays in lockstep by index, as an element-wise kernel does.
#![allow(clippy::needless_range_loop)]

mod common;

use common::{gpu, rng, uniform};
use wgsl_train::optim::{AdamConfig, Optimizer, OptimizerConfig, ParamStore, SgdConfig};

const LEN: usize = 1031;
const STEPS: u64 = 60;
/// The tolerance in ulps of the magnitude of the terms of each value (see `Torch::scale`), and
/// 1e-30 absolute for exact zeros. A driver may fuse a multiply-add the emulation rounds twice
/// (lavapipe computes `fma` as a multiply and an add; NVIDIA's compiler likely fuses), so
/// each step may round about one ulp differently. The parameters keep every step's difference
/// (momentum carries the buffer's into each step): a few ulps plus one per step. A state
/// decaying at the rate β (m, v, the momentum buffer) keeps a difference made k steps ago times
/// βᵏ: a few ulps plus Σ βᵏ — about ten for β = 0.9, but for v's β₂ = 0.999 nearly one per step
/// (on an H200, v drifted 8.3 ulps by step 24). `1 − β₂` rounded in f32 shows as about 110 ulps
/// at the first step.
const ULPS: f64 = 8.0;

fn param_ulps(step: u64) -> f64 {
    4.0 + step as f64
}

/// A state decaying at `decay` a step: ULPS plus one ulp a step, each step's shrinking by `decay`.
fn state_ulps(step: u64, decay: f64) -> f64 {
    ULPS + (0..step).map(|k| decay.powi(k as i32)).sum::<f64>()
}

/// PyTorch's state of one tensor under SGD or Adam, in f32.
struct Torch {
    config: OptimizerConfig,
    step: u64,
    param: Vec<f32>,
    /// SGD: momentum_buffer (None before the first step); Adam: exp_avg, exp_avg_sq,
    /// max_exp_avg_sq.
    state: Vec<Vec<f32>>,
    /// For each state tensor (0..3) and the parameters (3), the largest magnitude of any term
    /// that went into each value so far: a rounding difference is relative to the terms (their
    /// sum can cancel), and one made while a value was large stays when it shrinks.
    scale: Vec<Vec<f32>>,
}

/// Raises `scale` to the largest magnitude of `terms`.
fn seen(scale: &mut f32, terms: &[f32]) {
    for t in terms {
        *scale = scale.max(t.abs());
    }
}

impl Torch {
    fn new(config: OptimizerConfig, param: Vec<f32>) -> Self {
        let n = param.len();
        Self {
            config,
            step: 0,
            scale: vec![
                vec![0.0; n],
                vec![0.0; n],
                vec![0.0; n],
                param.iter().map(|p| p.abs()).collect(),
            ],
            param,
            state: vec![vec![0.0; n]; 3],
        }
    }

    fn step(&mut self, grads: &[f32]) {
        self.step += 1;
        match self.config {
            OptimizerConfig::Sgd(c) => self.sgd(c, grads),
            OptimizerConfig::Adam(c) => self.adam(c, grads),
        }
    }

    /// `torch/optim/sgd.py`, `_single_tensor_sgd`.
    fn sgd(&mut self, c: SgdConfig, grads: &[f32]) {
        let first = self.step == 1;
        for i in 0..self.param.len() {
            let p = self.param[i];
            // grad = grad if not maximize else -grad
            let mut g = if c.maximize { -grads[i] } else { grads[i] };
            // The magnitude of the gradient's terms.
            let mut g_scale = g.abs().max(p.abs() * c.weight_decay as f32);
            // grad = grad.add(param, alpha=weight_decay)   (vectorised: fmadd(other, alpha, self))
            if c.weight_decay != 0.0 {
                g = p.mul_add(c.weight_decay as f32, g);
            }
            if c.momentum != 0.0 {
                let buf = &mut self.state[0][i];
                let b_scale = &mut self.scale[0][i];
                if first {
                    *buf = g; // torch.clone(grad)
                    seen(b_scale, &[g_scale]);
                } else {
                    // buf.mul_(momentum).add_(grad, alpha=1 - dampening)
                    let scaled = *buf * c.momentum as f32;
                    seen(b_scale, &[scaled, g_scale * (1.0 - c.dampening) as f32]);
                    *buf = g.mul_add((1.0 - c.dampening) as f32, scaled);
                }
                // grad = grad.add(buf, alpha=momentum) if nesterov else buf
                g = if c.nesterov {
                    g_scale = g_scale.max(*b_scale * c.momentum as f32);
                    buf.mul_add(c.momentum as f32, g)
                } else {
                    g_scale = *b_scale;
                    *buf
                };
            }
            // param.add_(grad, alpha=-lr)
            self.param[i] = g.mul_add(-c.lr as f32, p);
            let new = self.param[i];
            seen(&mut self.scale[3][i], &[p, g_scale * c.lr as f32, new]);
        }
    }

    /// `torch/optim/adam.py`, `_single_tensor_adam` (AdamW: `decoupled_weight_decay`).
    fn adam(&mut self, c: AdamConfig, grads: &[f32]) {
        let (beta1, beta2) = c.betas;
        let t = self.step as i32;
        // Python floats: bias_correction1 = 1 - beta1 ** step, ...
        let bias_correction1 = 1.0 - beta1.powi(t);
        let bias_correction2 = 1.0 - beta2.powi(t);
        let step_size = c.lr / bias_correction1;
        let bias_correction2_sqrt = bias_correction2.sqrt();
        let weight = (1.0 - beta1) as f32; // exp_avg.lerp_(grad, 1 - beta1)
        for i in 0..self.param.len() {
            let mut p = self.param[i];
            let mut g = if c.maximize { -grads[i] } else { grads[i] };
            let g_scale = g.abs().max(p.abs() * c.weight_decay as f32);
            if c.weight_decay != 0.0 {
                if c.decoupled_weight_decay {
                    // param.mul_(1 - lr * weight_decay)
                    p *= (1.0 - c.lr * c.weight_decay) as f32;
                } else {
                    // grad = grad.add(param, alpha=weight_decay)
                    g = p.mul_add(c.weight_decay as f32, g);
                }
            }
            let [m, v, max_v] = &mut self.state[..] else {
                unreachable!()
            };
            let (m_old, v_old) = (m[i], v[i]);
            // lerp(self, end, w): w < 0.5 ? self + w·(end − self) : end − (end − self)·(1 − w),
            // vectorised as one fmadd.
            m[i] = if weight < 0.5 {
                weight.mul_add(g - m[i], m[i])
            } else {
                (weight - 1.0).mul_add(g - m[i], g)
            };
            seen(&mut self.scale[0][i], &[m_old, g_scale, m[i]]);
            // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            v[i] = v[i] * beta2 as f32 + (1.0 - beta2) as f32 * g * g;
            let v_term = (1.0 - beta2) as f32 * g_scale * g_scale;
            seen(&mut self.scale[1][i], &[v_old, v_term, v[i]]);
            let v_scale = self.scale[1][i];
            seen(&mut self.scale[2][i], &[v_scale]);
            let v_used = if c.amsgrad {
                // torch.maximum(max_exp_avg_sqs[i], exp_avg_sq, out=max_exp_avg_sqs[i])
                max_v[i] = max_v[i].max(v[i]);
                max_v[i]
            } else {
                v[i]
            };
            // denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
            let denom = v_used.sqrt() / bias_correction2_sqrt as f32 + c.eps as f32;
            // param.addcdiv_(exp_avg, denom, value=-step_size)
            let update = (-step_size) as f32 * m[i] / denom;
            self.param[i] = p + update;
            let new = self.param[i];
            seen(&mut self.scale[3][i], &[p, update, new]);
        }
    }
}

/// Checks `got` against `want`, each within `ulps` of the magnitude of its terms (`scale`).
fn check(
    what: &str,
    seed: u64,
    step: u64,
    (got, want): (&[f32], &[f32]),
    scale: &[f32],
    ulps: f64,
) {
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let ulp = f64::from(scale[i]) / 16_777_216.0;
        let diff = (f64::from(g) - f64::from(w)).abs();
        assert!(
            diff <= ulps * ulp + 1e-30,
            "{what} after step {step}, index {i}: gpu {g:e} vs PyTorch's f32 arithmetic {w:e} ({:.1} ulps of its terms' magnitude {:e}; seed {seed})",
            diff / ulp,
            scale[i]
        );
    }
}

fn compare_with_torch(name: &str, config: OptimizerConfig) {
    let (mut rng, seed) = rng(name);
    let gpu = gpu();
    let store = ParamStore::new(gpu, &[("w", &[LEN])]).unwrap();
    let mut init = uniform(&mut rng, LEN, -1.0, 1.0);
    init[0] = 0.0;
    store.write(gpu, "w", &init).unwrap();
    let mut optimizer = Optimizer::new(gpu, &store, config).unwrap();
    let mut torch = Torch::new(config, init);
    // Each state with the rate it decays at (max_exp_avg_sq holds a past v).
    let states: &[(&str, f64)] = match config {
        OptimizerConfig::Sgd(c) if c.momentum != 0.0 => &[("momentum_buffer", c.momentum)],
        OptimizerConfig::Sgd(_) => &[],
        OptimizerConfig::Adam(AdamConfig {
            betas: (b1, b2),
            amsgrad,
            ..
        }) => &[("exp_avg", b1), ("exp_avg_sq", b2), ("max_exp_avg_sq", b2)]
            [..if amsgrad { 3 } else { 2 }],
    };
    for step in 1..=STEPS {
        // Gradients over several orders of magnitude, as training sees.
        let scale = 10f32.powi((step % 5) as i32 - 3);
        let grads: Vec<f32> = uniform(&mut rng, LEN, -1.0, 1.0)
            .iter()
            .map(|g| g * scale)
            .collect();
        let mut flat = grads.clone();
        flat.resize(store.flat_len(), 0.0);
        store.grads().write(gpu, &flat).unwrap();
        optimizer.step(gpu).unwrap();
        torch.step(&grads);
        let got = store.read(gpu, "w").unwrap();
        let what = format!("{name}: parameters");
        let ulps = param_ulps(step);
        check(
            &what,
            seed,
            step,
            (&got, &torch.param),
            &torch.scale[3],
            ulps,
        );
        for (s, &(state, decay)) in states.iter().enumerate() {
            let got = optimizer
                .state_tensor(state)
                .unwrap()
                .to_vec::<f32>(gpu)
                .unwrap();
            let what = format!("{name}: {state}");
            let pair = (&got[..LEN], &torch.state[s][..]);
            let ulps = state_ulps(step, decay);
            check(&what, seed, step, pair, &torch.scale[s], ulps);
        }
    }
}

#[test]
fn adam_follows_pytorch_arithmetic() {
    compare_with_torch("Adam", AdamConfig::default().into());
    compare_with_torch(
        "Adam with L2 and AMSGrad",
        AdamConfig {
            lr: 3e-3,
            weight_decay: 0.1,
            amsgrad: true,
            ..AdamConfig::default()
        }
        .into(),
    );
    compare_with_torch(
        "AdamW",
        AdamConfig {
            lr: 0.01,
            ..AdamConfig::adamw()
        }
        .into(),
    );
    // β₁ < 0.5: lerp's other branch; and maximize.
    compare_with_torch(
        "Adam with β₁ 0.3, maximize",
        AdamConfig {
            betas: (0.3, 0.99),
            maximize: true,
            ..AdamConfig::default()
        }
        .into(),
    );
}

#[test]
fn sgd_follows_pytorch_arithmetic() {
    compare_with_torch(
        "SGD",
        SgdConfig {
            lr: 0.1,
            ..SgdConfig::default()
        }
        .into(),
    );
    compare_with_torch(
        "SGD with momentum, dampening and L2",
        SgdConfig {
            lr: 0.03,
            momentum: 0.9,
            dampening: 0.1,
            weight_decay: 1e-3,
            ..SgdConfig::default()
        }
        .into(),
    );
    compare_with_torch(
        "SGD with Nesterov momentum",
        SgdConfig {
            lr: 0.05,
            momentum: 0.7,
            nesterov: true,
            ..SgdConfig::default()
        }
        .into(),
    );
}
