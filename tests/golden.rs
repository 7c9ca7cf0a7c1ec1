//! PyTorch's own numbers, written by `scripts/golden/generate.py` (torch's version is in each
//! file) and checked in under `tests/golden/`: the crate is compared with torch's output, not
//! with a transliteration of ours that could share our mistake. Each bound is derived beside
//! its comparison from the f32 arithmetic both sides do.

mod common;

use common::{epoch_path, fixture, flat, gpu, F32_U};
use serde::Deserialize;
use wgsl_train::data::Dataset;
use wgsl_train::kernels::activation::{activate, activate_backward};
use wgsl_train::kernels::loss::{loss, LossKind};
use wgsl_train::nn::{initial_values, Activation, Init, Mlp, NamedTensor};
use wgsl_train::optim::{
    AdamConfig, LrSchedule, Optimizer, OptimizerConfig, ParamGroup, ParamStore, SgdConfig,
};
use wgsl_train::reference::activation::{derivative, error_bound, forward};
use wgsl_train::train::{SingleDispatch, TrainConfig, Trainer};
use wgsl_train::{data::Task, Tensor};

// ---- defaults.json ----

#[derive(Deserialize)]
struct Defaults {
    optimizers: TorchDefaults,
    linear_init: Vec<LinearInit>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TorchDefaults {
    #[serde(rename = "SGD")]
    sgd: TorchSgd,
    adam: TorchAdam,
    adam_w: TorchAdam,
}

#[derive(Deserialize)]
struct TorchSgd {
    lr: f64,
    momentum: f64,
    dampening: f64,
    weight_decay: f64,
    nesterov: bool,
    maximize: bool,
}

#[derive(Deserialize)]
struct TorchAdam {
    lr: f64,
    betas: (f64, f64),
    eps: f64,
    weight_decay: f64,
    amsgrad: bool,
    maximize: bool,
    decoupled_weight_decay: bool,
}

#[derive(Deserialize)]
struct LinearInit {
    fan_in: usize,
    weight_bound: f64,
    bias_bound: f64,
}

#[test]
fn optimizer_defaults_are_pytorchs() {
    let torch: Defaults = fixture("defaults.json");
    let (t, ours) = (&torch.optimizers.sgd, SgdConfig::default());
    assert_eq!(
        (
            t.lr,
            t.momentum,
            t.dampening,
            t.weight_decay,
            t.nesterov,
            t.maximize
        ),
        (
            ours.lr,
            ours.momentum,
            ours.dampening,
            ours.weight_decay,
            ours.nesterov,
            ours.maximize
        ),
        "SgdConfig::default() against torch.optim.SGD's defaults"
    );
    assert_eq!(ours.l1, 0.0, "L1 (ours) is off by default");
    for (what, t, ours) in [
        ("Adam", &torch.optimizers.adam, AdamConfig::default()),
        ("AdamW", &torch.optimizers.adam_w, AdamConfig::adamw()),
    ] {
        assert_eq!(
            (
                t.lr,
                t.betas,
                t.eps,
                t.weight_decay,
                t.amsgrad,
                t.maximize,
                t.decoupled_weight_decay
            ),
            (
                ours.lr,
                ours.betas,
                ours.eps,
                ours.weight_decay,
                ours.amsgrad,
                ours.maximize,
                ours.decoupled_weight_decay
            ),
            "{what}: our default against torch.optim.{what}'s defaults"
        );
        assert_eq!(ours.l1, 0.0, "{what}: L1 (ours) is off by default");
    }
}

/// `nn.Linear`'s weights and biases are uniform within ±bound: ours stay within torch's bound
/// (one f32 rounding of it) and reach it (the largest of ≥ 1,280 uniform draws is above 0.98 of
/// the bound unless 0.98^1280 ≈ 6e-12 happens), so a narrower or a wider range fails.
#[test]
fn linear_init_fills_pytorchs_bounds() {
    let torch: Defaults = fixture("defaults.json");
    for init in &torch.linear_init {
        let (mut weight_max, mut bias_max) = (0.0f64, 0.0f64);
        for seed in 0..20 {
            let layers = initial_values(&[init.fan_in, 64], Init::Default, seed);
            let [weight, bias] = &layers[0];
            weight_max = weight
                .iter()
                .fold(weight_max, |m, w| m.max(f64::from(w.abs())));
            bias_max = bias.iter().fold(bias_max, |m, b| m.max(f64::from(b.abs())));
        }
        for (what, max, bound) in [
            ("weight", weight_max, init.weight_bound),
            ("bias", bias_max, init.bias_bound),
        ] {
            let fan_in = init.fan_in;
            assert!(
                max <= bound * (1.0 + F32_U) && max > 0.98 * bound,
                "fan_in {fan_in}: the largest |{what}| drawn is {max}, torch's bound {bound}"
            );
        }
    }
}

// ---- optimizers.json ----

#[derive(Deserialize)]
struct OptimizerCases {
    cases: Vec<OptimizerCase>,
}

#[derive(Deserialize)]
struct OptimizerCase {
    name: String,
    /// One config per parameter group; group g holds one tensor, named `g{g}`.
    groups: Vec<OptimizerConfig>,
    initial: Vec<Vec<f32>>,
    /// `grads[step][group]`: the loss's gradient (without L1, which torch's loss added).
    grads: Vec<Vec<Vec<f32>>>,
    /// `params[step][group]`: torch's parameters after the step.
    params: Vec<Vec<Vec<f32>>>,
}

/// Every optimizer configuration through ≥ 20 steps of torch's gradients. Bound per element
/// after step t: `(8 + 4t)·u·S` with S the largest |θ| so far or 10× the largest step so far:
/// each step rounds a handful of operations differently on each side (f32 both; a driver may
/// or may not fuse a multiply-add), at most ~8 ulps of the step's largest term; a difference
/// once made is carried (momentum and Adam's moments keep it, not damped), so it grows
/// linearly; and a step's largest term is within 10× of the step itself (a momentum buffer
/// sums gradients up to 1/(1 − μ) = 10 for μ = 0.9). The generator left out inputs where
/// Adam's regularised gradient comes within 1e-4 of zero, where its step is ill-conditioned.
#[test]
fn optimizers_follow_pytorch() {
    let torch: OptimizerCases = fixture("optimizers.json");
    let gpu = gpu();
    let mut worst = 0.0f64;
    for case in &torch.cases {
        let names: Vec<String> = (0..case.groups.len()).map(|g| format!("g{g}")).collect();
        let shapes: Vec<[usize; 1]> = case.initial.iter().map(|t| [t.len()]).collect();
        let spec: Vec<(&str, &[usize])> = names
            .iter()
            .zip(&shapes)
            .map(|(n, s)| (n.as_str(), &s[..]))
            .collect();
        let store = ParamStore::new(gpu, &spec).unwrap();
        let groups = names
            .iter()
            .zip(&case.groups)
            .map(|(n, c)| ParamGroup::new(vec![n.clone()], *c))
            .collect();
        let mut optimizer = Optimizer::with_groups(gpu, &store, groups).unwrap();
        for (name, init) in names.iter().zip(&case.initial) {
            store.write(gpu, name, init).unwrap();
        }
        let mut largest: Vec<Vec<f64>> = case
            .initial
            .iter()
            .map(|t| t.iter().map(|v| f64::from(v.abs())).collect())
            .collect();
        let mut previous = case.initial.clone();
        for (t, (grads, want)) in case.grads.iter().zip(&case.params).enumerate() {
            let step = t + 1;
            for (name, g) in names.iter().zip(grads) {
                store.grad(name).unwrap().write(gpu, g).unwrap();
            }
            optimizer.step(gpu).unwrap();
            for (g, name) in names.iter().enumerate() {
                let got = store.read(gpu, name).unwrap();
                for i in 0..got.len() {
                    let (w, before) = (f64::from(want[g][i]), f64::from(previous[g][i]));
                    let s = &mut largest[g][i];
                    *s = s.max(w.abs()).max(10.0 * (w - before).abs());
                    let bound = (8.0 + 4.0 * step as f64) * F32_U * *s + 1e-30;
                    let diff = (f64::from(got[i]) - w).abs();
                    worst = worst.max(diff / bound);
                    assert!(
                        diff <= bound,
                        "{}: {name}[{i}] after step {step}: ours {} vs torch's {w} (|diff| {diff:e} > bound {bound:e})",
                        case.name,
                        got[i]
                    );
                }
                previous[g] = want[g].clone();
            }
        }
        assert!(case.grads.len() >= 20, "{}: too few steps", case.name);
    }
    eprintln!("optimizers: the largest difference is {worst:.3} of its bound");
}

// ---- losses.json ----

#[derive(Deserialize)]
struct LossCases {
    cases: LossKinds,
}

#[derive(Deserialize)]
struct LossKinds {
    mse: Vec<LossCase>,
    bce_with_logits: Vec<LossCase>,
    bce: Vec<LossCase>,
    softmax_cross_entropy: Vec<LossCase>,
}

#[derive(Deserialize)]
struct LossCase {
    name: String,
    /// Flat, row-major.
    pred: serde_json::Value,
    target: Vec<f64>,
    shape: Vec<usize>,
    loss: f64,
    grad: serde_json::Value,
}

/// Each loss's mean value and gradient against torch's, at ordinary and edge inputs (BCE at
/// p = 0 and 1, logits of ±100 and ±1000, ties). Bounds: the value within (n + 8)·u of the
/// mean of |terms| (n terms summed in either order, a few ulps from exp and log); each
/// gradient element within 8·u of the magnitude of its own terms (`p − y` cancels where the
/// prediction is right: both sides compute it in f32 from |p| and |y|, divided by p(1 − p)
/// for BCE on probabilities), and 1e-30 absolute (a subnormal flushed to zero).
#[test]
fn losses_follow_pytorch() {
    let torch: LossCases = fixture("losses.json");
    let gpu = gpu();
    let mut worst = 0.0f64;
    let kinds = [
        (LossKind::Mse, &torch.cases.mse),
        (LossKind::BceWithLogits, &torch.cases.bce_with_logits),
        (LossKind::Bce, &torch.cases.bce),
        (
            LossKind::SoftmaxCrossEntropy,
            &torch.cases.softmax_cross_entropy,
        ),
    ];
    for (kind, cases) in kinds {
        for case in cases {
            let what = format!("{kind:?} {}", case.name);
            let pred = flat(&case.pred);
            let want_grad = flat(&case.grad);
            let pred_tensor = Tensor::from_slice(gpu, &case.shape, &pred).unwrap();
            let rows = case.shape[0];
            let classes = case.shape.get(1).copied().unwrap_or(1);
            let out = if kind == LossKind::SoftmaxCrossEntropy {
                let target: Vec<u32> = case.target.iter().map(|&t| t as u32).collect();
                let target = Tensor::from_slice(gpu, &[rows], &target).unwrap();
                loss(gpu, kind, &pred_tensor, &target).unwrap()
            } else {
                let target: Vec<f32> = case.target.iter().map(|&t| t as f32).collect();
                let target = Tensor::from_slice(gpu, &case.shape, &target).unwrap();
                loss(gpu, kind, &pred_tensor, &target).unwrap()
            };
            let got = f64::from(out.loss.to_vec::<f32>(gpu).unwrap()[0]);
            let grad = out.grad.to_vec::<f32>(gpu).unwrap();
            let n = rows as f64;
            // The terms' mean magnitude: the loss itself (every term is ≥ 0).
            let bound = (n + 8.0) * F32_U * case.loss.abs() + 1e-30;
            worst = worst.max((got - case.loss).abs() / bound);
            assert!(
                (got - case.loss).abs() <= bound,
                "{what}: loss {got} vs torch's {} (bound {bound:e})",
                case.loss
            );
            for (i, (&g, &w)) in grad.iter().zip(&want_grad).enumerate() {
                let (p, y) = (
                    f64::from(pred[i]),
                    f64::from(target_at(case, kind, i, classes)),
                );
                let terms = match kind {
                    LossKind::Mse => 2.0 * (p.abs() + y.abs()) / n,
                    LossKind::Bce => (p.abs() + y.abs()) / (n * (p * (1.0 - p)).max(1e-12)),
                    // (σ(x) − y)/n and (softmax − onehot)/rows: probabilities and targets ≤ 1.
                    _ => (1.0 + y.abs()) / n,
                };
                let bound = 8.0 * F32_U * terms + 1e-30;
                let diff = (f64::from(g) - f64::from(w)).abs();
                worst = worst.max(diff / bound);
                assert!(
                    diff <= bound,
                    "{what}: gradient[{i}] {g:e} vs torch's {w:e} (|diff| {diff:e} > bound {bound:e})"
                );
            }
            assert_eq!(grad.len(), want_grad.len(), "{what}: gradient length");
        }
    }
    eprintln!("losses: the largest difference is {worst:.3} of its bound");
}

/// The target that enters gradient element `i`: y itself, or for the softmax the one-hot 1
/// at the row's class.
fn target_at(case: &LossCase, kind: LossKind, i: usize, classes: usize) -> f32 {
    if kind == LossKind::SoftmaxCrossEntropy {
        f32::from(u8::from(case.target[i / classes] as usize == i % classes))
    } else {
        case.target[i] as f32
    }
}

// ---- schedules.json ----

#[derive(Deserialize)]
struct Schedules {
    schedules: Vec<Schedule>,
}

#[derive(Deserialize)]
struct Schedule {
    kind: String,
    step_size: Option<usize>,
    gamma: Option<f64>,
    t_max: Option<usize>,
    eta_min: Option<f64>,
    base_lr: f64,
    lr_by_epoch: Vec<f64>,
}

/// `StepLR` and `CosineAnnealingLR`, epoch by epoch, in f64 on both sides: each step's
/// recurrence rounds a few operations and a `cos` (libm's, within an ulp), so after t steps
/// the rates agree within 8·t ulps of the base rate.
#[test]
fn schedules_follow_pytorch() {
    let torch: Schedules = fixture("schedules.json");
    for s in &torch.schedules {
        let schedule = match s.kind.as_str() {
            "step" => LrSchedule::Step {
                step_size: s.step_size.unwrap(),
                gamma: s.gamma.unwrap(),
            },
            "cosine" => LrSchedule::Cosine {
                t_max: s.t_max.unwrap(),
                eta_min: s.eta_min.unwrap(),
            },
            other => panic!("schedule kind {other:?}"),
        };
        for (t, &want) in s.lr_by_epoch.iter().enumerate() {
            let got = schedule.lr(s.base_lr, t);
            let bound = 8.0 * t as f64 * f64::EPSILON * s.base_lr;
            assert!(
                (got - want).abs() <= bound,
                "{schedule:?}: epoch {} trains with {got}, torch's {want}",
                t + 1
            );
        }
    }
}

// ---- activations.json ----

#[derive(Deserialize)]
struct Activations {
    inputs: Vec<f32>,
    upstream: Vec<f32>,
    cases: Vec<ActivationCase>,
}

#[derive(Deserialize)]
struct ActivationCase {
    activation: Activation,
    output: Vec<f32>,
    input_grad: Vec<f32>,
}

/// Each `nn` activation module's output and input gradient, against the kernels and the f64
/// reference. Both torch's f32 and ours are within `error_bound` of the true value (its
/// derivation is beside it: exp's Vulkan precision, the roundings, and where 1 ± tanh cancels,
/// as in torch's formulas too), so they differ by at most twice that; the f64 reference by at
/// most once.
#[test]
fn activations_follow_pytorch() {
    let torch: Activations = fixture("activations.json");
    let gpu = gpu();
    let n = torch.inputs.len();
    let z = Tensor::from_slice(gpu, &[n], &torch.inputs).unwrap();
    let up = Tensor::from_slice(gpu, &[n], &torch.upstream).unwrap();
    assert_eq!(
        torch.cases.len(),
        8,
        "every kind, LeakyReLU with two slopes"
    );
    let mut worst = 0.0f64;
    for case in &torch.cases {
        let f = case.activation;
        let got = activate(gpu, f, &z).unwrap().to_vec::<f32>(gpu).unwrap();
        let grad = activate_backward(gpu, f, &up, &z)
            .unwrap()
            .to_vec::<f32>(gpu)
            .unwrap();
        for i in 0..n {
            let zi = f64::from(torch.inputs[i]);
            let upstream = f64::from(torch.upstream[i]);
            let (want, want_grad) = (f64::from(case.output[i]), f64::from(case.input_grad[i]));
            let bound = error_bound(zi, want);
            let grad_bound = upstream.abs() * error_bound(zi, derivative(f, zi));
            for (what, value, want, bound) in [
                ("kernel", f64::from(got[i]), want, 2.0 * bound),
                (
                    "kernel's gradient",
                    f64::from(grad[i]),
                    want_grad,
                    2.0 * grad_bound,
                ),
                ("f64 reference", forward(f, zi), want, bound),
                (
                    "f64 reference's gradient",
                    derivative(f, zi) * upstream,
                    want_grad,
                    grad_bound,
                ),
            ] {
                let diff = (value - want).abs();
                worst = worst.max(diff / bound);
                assert!(
                    diff <= bound,
                    "{f} at {zi:e}: the {what} gives {value:e}, torch {want:e} (|diff| {diff:e} > {bound:e})"
                );
            }
        }
    }
    eprintln!("activations: the largest difference is {worst:.3} of its bound");
}

// ---- torch_model.safetensors, torch_model.json ----

#[derive(Deserialize)]
struct TorchModel {
    inputs: Vec<Vec<f32>>,
    outputs: Vec<f32>,
}

/// A PyTorch `nn.Sequential(Linear, GELU, Linear, Tanh, Linear)` written by
/// `scripts/from_torch.py` — `nn.Sequential(Linear, GELU, Dropout(0.2), Linear, Tanh,
/// Linear)` — loads with its activations and Dropout and predicts what PyTorch computed in
/// evaluation (where Dropout is the identity).
/// Bound, layer by layer: a k-term dot product plus bias is within (k + 2)·u·S of the true one
/// (S the sum of the terms' magnitudes, computed here), the activation adds `error_bound` and
/// carries the error in by at most its Lipschitz bound; the next layer carries it through
/// its weights' absolute row sums. Both torch and the crate are within that of the true value.
#[test]
fn a_torch_model_with_other_activations_predicts_as_torch() {
    use wgsl_train::reference::activation::lipschitz;
    let torch: TorchModel = fixture("torch_model.json");
    let gpu = gpu();
    let path = format!(
        "{}/tests/golden/torch_model.safetensors",
        env!("CARGO_MANIFEST_DIR")
    );
    let model = wgsl_train::checkpoint::load_model(gpu, std::path::Path::new(&path), None).unwrap();
    assert_eq!(model.activations(), [Activation::Gelu, Activation::Tanh]);
    assert_eq!(model.dropout(), [0.2, 0.0]);
    assert_eq!(model.sizes(), [10, 8, 4, 1]);
    let rows = torch.outputs.len();
    let got = model.predict(gpu, &torch.inputs.concat(), rows).unwrap();
    let weights = model.state_dict(gpu).unwrap();
    let mut worst = 0.0f64;
    for (r, x) in torch.inputs.iter().enumerate() {
        // The value and the error bound of every unit, in f64, layer by layer.
        let mut h: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
        let mut err = vec![0.0f64; h.len()];
        for l in 0..model.layers() {
            let (w, b) = (&weights[2 * l].data, &weights[2 * l + 1].data);
            let k = h.len();
            let mut next = Vec::new();
            let mut next_err = Vec::new();
            for j in 0..b.len() {
                let row = &w[j * k..(j + 1) * k];
                let v: f64 = row
                    .iter()
                    .zip(&h)
                    .map(|(&w, h)| f64::from(w) * h)
                    .sum::<f64>()
                    + f64::from(b[j]);
                let scale: f64 = row
                    .iter()
                    .zip(&h)
                    .map(|(&w, h)| (f64::from(w) * h).abs())
                    .sum::<f64>()
                    + f64::from(b[j]).abs();
                let carried: f64 = row
                    .iter()
                    .zip(&err)
                    .map(|(&w, e)| f64::from(w).abs() * e)
                    .sum();
                let e = carried + (k as f64 + 2.0) * F32_U * scale;
                match model.activations().get(l) {
                    Some(&f) => {
                        let y = forward(f, v);
                        next.push(y);
                        next_err.push(lipschitz(f) * e + error_bound(v, y));
                    }
                    None => {
                        next.push(v);
                        next_err.push(e);
                    }
                }
            }
            (h, err) = (next, next_err);
        }
        let want = f64::from(torch.outputs[r]);
        let bound = 2.0 * err[0];
        let diff = (f64::from(got[r]) - want).abs();
        worst = worst.max(diff / bound);
        assert!(
            diff <= bound,
            "row {r}: predict gives {}, torch {want} (|diff| {diff:e} > {bound:e})",
            got[r]
        );
        assert!(
            (h[0] - want).abs() <= err[0],
            "row {r}: the f64 forward {} vs torch {want}",
            h[0]
        );
    }
    eprintln!("torch model: the largest difference is {worst:.3} of its bound");
}

// ---- training.json ----

#[derive(Deserialize)]
struct Training {
    features: Vec<Vec<f32>>,
    targets: Vec<f32>,
    runs: Vec<TrainingRun>,
}

#[derive(Deserialize)]
struct TrainingRun {
    name: String,
    config: OptimizerConfig,
    sizes: Vec<usize>,
    /// After each hidden layer (none in clip_norm.json: ReLU).
    #[serde(default = "relu")]
    activations: Vec<Activation>,
    /// clip_grad_norm_'s max_norm (clip_norm.json).
    #[serde(default)]
    max_norm: Option<f64>,
    epochs: usize,
    batch_size: usize,
    initial: std::collections::BTreeMap<String, serde_json::Value>,
    step_losses: Vec<f64>,
    r#final: std::collections::BTreeMap<String, serde_json::Value>,
}

fn relu() -> Vec<Activation> {
    vec![Activation::Relu]
}

fn named(
    tensors: &std::collections::BTreeMap<String, serde_json::Value>,
    mlp: &Mlp,
) -> Vec<NamedTensor> {
    mlp.params()
        .slots()
        .iter()
        .map(|slot| NamedTensor {
            name: slot.name.clone(),
            shape: slot.shape.clone(),
            data: flat(&tensors[&slot.name]),
        })
        .collect()
}

/// Whole runs of torch (full batches, so the crate's own row order does not enter): 10→5→1
/// with ReLU and with each other activation, 10→6→4→1 with GELU then Tanh, and 10→5→1 with
/// `clip_grad_value_` (a clamp moves a difference no further), each replayed
/// through each training path from torch's initial weights: the general path, the one-dispatch
/// path and the streamed split. Every step is checked (the count too), and the final weights.
/// Bounds: a step's loss and gradient sum 64 rows of 10-term dot products, which each side
/// rounds in its own order, ≤ (64 + 10 + 8)·u relative to the terms, and each activation and
/// its derivative add `error_bound`'s (24 + 2z²)·u, at most 56u for these |z| < 4 (about 2·u
/// more per layer of cancellation): 150u a step in all; carried over t steps (each step's
/// update moves by at most lr times that, relative), a weight differs by at most
/// t·150·u·(|w| + 10·lr), and a loss by t·150·u of itself.
#[test]
fn training_follows_pytorch_on_every_path() {
    let torch: Training = fixture("training.json");
    assert_eq!(
        torch.runs.len(),
        11,
        "ReLU twice, each other activation, two layers, clipped"
    );
    let worst = replay_torch_runs(&torch, 0);
    eprintln!("training: the largest difference is {worst:.3} of its bound");
}

/// Whole runs of torch with `clip_grad_norm_` before every step (clip_norm.json: SGD with
/// momentum and weight decay clipping every step, Adam clipping every step and only the first
/// seven, and SGD with L1's term in the loss, so in the norm and in what it scales), replayed
/// as above on every path (the one-dispatch path goes backward twice a step, for the norm and
/// the update). The norm adds the squares of 61 gradients, (61 + 8)·u more a step.
#[test]
fn clip_grad_norm_training_follows_pytorch() {
    let torch: Training = fixture("clip_norm.json");
    assert_eq!(torch.runs.len(), 4);
    let worst = replay_torch_runs(&torch, 69);
    eprintln!("clip_grad_norm training: the largest difference is {worst:.3} of its bound");
}

/// Replays every run of `torch` on each path that takes it, as
/// [`training_follows_pytorch_on_every_path`] says, with `extra` more roundings a step;
/// returns the largest difference as a share of its bound.
fn replay_torch_runs(torch: &Training, extra: usize) -> f64 {
    let gpu = gpu();
    let rows = torch.targets.len();
    let features: Vec<f32> = torch.features.concat();
    let inputs = torch.features[0].len();
    let data = Dataset::regression(features, inputs, torch.targets.clone()).unwrap();
    let per_step = (rows + inputs + 8 + 68 + extra) as f64 * F32_U;
    let mut worst = 0.0f64;
    for run in &torch.runs {
        for (path, one_dispatch, chunk_rows) in [
            ("general", false, None),
            ("one-dispatch", true, None),
            ("streamed", false, Some(rows)),
        ] {
            let what = format!("{} ({path} path)", run.name);
            let mlp = Mlp::new(gpu, &run.sizes, Task::Regression, 0)
                .unwrap()
                .with_activations(&run.activations)
                .unwrap();
            mlp.load_state_dict(gpu, &named(&run.initial, &mlp))
                .unwrap();
            let config = TrainConfig {
                epochs: run.epochs,
                batch_size: run.batch_size,
                single_dispatch_epochs: if chunk_rows.is_some() {
                    SingleDispatch::Never
                } else {
                    epoch_path(one_dispatch)
                },
                chunk_rows,
                clip_grad_norm: run.max_norm,
                ..TrainConfig::default()
            };
            let mut trainer = Trainer::new(gpu, mlp, run.config, &data, None, config).unwrap();
            assert_eq!(trainer.single_dispatch_epochs(), one_dispatch, "{what}");
            assert_eq!(
                trainer.chunk_steps().is_some(),
                chunk_rows.is_some(),
                "{what}"
            );
            let history = trainer.fit().unwrap().clone();
            let losses: Vec<f32> = history
                .epochs
                .iter()
                .flat_map(|e| e.step_losses.clone())
                .collect();
            let model = trainer.into_model();
            let want: Vec<Vec<f32>> = named(&run.r#final, &model)
                .into_iter()
                .map(|t| t.data)
                .collect();
            let got = model.state_dict(gpu).unwrap();
            let run_worst = against_torch(
                &what,
                (&losses, &run.step_losses),
                (&got, &want),
                (per_step, run.config.lr()),
            );
            worst = worst.max(run_worst);
        }
    }
    worst
}

/// Checks a run's step losses and final weights against torch's, each step adding `per_step`
/// of relative rounding as [`training_follows_pytorch_on_every_path`] derives it (a weight's
/// bound also counts `lr` times its largest step); returns the largest difference as a share
/// of its bound.
fn against_torch(
    what: &str,
    (losses, want_losses): (&[f32], &[f64]),
    (weights, want_weights): (&[NamedTensor], &[Vec<f32>]),
    (per_step, lr): (f64, f64),
) -> f64 {
    let mut worst = 0.0f64;
    assert_eq!(losses.len(), want_losses.len(), "{what}: steps taken");
    for (t, (&got, &want)) in losses.iter().zip(want_losses).enumerate() {
        let bound = (t + 1) as f64 * per_step * want.abs();
        let diff = (f64::from(got) - want).abs();
        worst = worst.max(diff / bound);
        assert!(
            diff <= bound,
            "{what}: step {} loss {got} vs torch's {want} (|diff| {diff:e} > bound {bound:e})",
            t + 1
        );
    }
    let steps = want_losses.len() as f64;
    assert_eq!(weights.len(), want_weights.len(), "{what}: parameters");
    for (got, want) in weights.iter().zip(want_weights) {
        for (i, (&g, &w)) in got.data.iter().zip(want).enumerate() {
            let bound = steps * per_step * (f64::from(w.abs()) + 10.0 * lr);
            let diff = f64::from((g - w).abs());
            worst = worst.max(diff / bound);
            assert!(
                diff <= bound,
                "{what}: final {}[{i}] {g} vs torch's {w} (|diff| {diff:e} > bound {bound:e})",
                got.name
            );
        }
    }
    worst
}

// ---- dropout.json ----

#[derive(Deserialize)]
struct DropoutTraining {
    features: Vec<Vec<f32>>,
    targets: Vec<f32>,
    runs: Vec<DropoutRun>,
}

#[derive(Deserialize)]
struct DropoutRun {
    name: String,
    config: OptimizerConfig,
    sizes: Vec<usize>,
    activations: Vec<Activation>,
    dropout: Vec<f32>,
    seed: u64,
    batch_size: usize,
    /// Each parameter in `state_dict` order.
    initial: Vec<serde_json::Value>,
    step_losses: Vec<f64>,
    r#final: Vec<serde_json::Value>,
}

/// One epoch of mini-batches through torch with Dropout after every hidden layer, torch given
/// the crate's masks (dropout.json; generate.py checks first that applying a mask that way is
/// bit for bit what `F.dropout` does with its own), replayed on the general path, the
/// streamed split and the one-dispatch path. The fixture's rows are laid out where the epoch's seeded shuffle takes
/// them from, so the crate's batches are torch's. Bounds as
/// [`training_follows_pytorch_on_every_path`]'s with 4-row batches: the masks and their scale
/// are exact on both sides, and the product with them one rounding more a layer.
#[test]
fn dropout_training_follows_pytorch() {
    let torch: DropoutTraining = fixture("dropout.json");
    assert_eq!(torch.runs.len(), 2);
    let gpu = gpu();
    let rows = torch.targets.len();
    let inputs = torch.features[0].len();
    let mut worst = 0.0f64;
    for run in &torch.runs {
        let order = wgsl_train::train::epoch_order(run.seed, 1, rows);
        let (mut features, mut targets) = (vec![0.0; rows * inputs], vec![0.0; rows]);
        for (i, &r) in order.iter().enumerate() {
            let r = r as usize;
            features[r * inputs..(r + 1) * inputs].copy_from_slice(&torch.features[i]);
            targets[r] = torch.targets[i];
        }
        let data = Dataset::regression(features, inputs, targets).unwrap();
        let per_step = (run.batch_size + inputs + 8 + 68 + 4) as f64 * F32_U;
        for (path, chunk_rows) in [
            (SingleDispatch::Never, None),
            (SingleDispatch::Never, Some(3 * run.batch_size)),
            (SingleDispatch::Always, None),
        ] {
            let what = format!("{} ({path:?}, chunks {chunk_rows:?})", run.name);
            let mlp = Mlp::new(gpu, &run.sizes, Task::Regression, 0)
                .unwrap()
                .with_activations(&run.activations)
                .unwrap()
                .with_dropout(&run.dropout)
                .unwrap();
            let initial: Vec<NamedTensor> = mlp
                .params()
                .slots()
                .iter()
                .zip(&run.initial)
                .map(|(slot, values)| NamedTensor {
                    name: slot.name.clone(),
                    shape: slot.shape.clone(),
                    data: flat(values),
                })
                .collect();
            mlp.load_state_dict(gpu, &initial).unwrap();
            let config = TrainConfig {
                epochs: 1,
                batch_size: run.batch_size,
                seed: run.seed,
                chunk_rows,
                single_dispatch_epochs: path,
                ..TrainConfig::default()
            };
            let mut trainer = Trainer::new(gpu, mlp, run.config, &data, None, config).unwrap();
            let history = trainer.fit().unwrap().clone();
            let want: Vec<Vec<f32>> = run.r#final.iter().map(flat).collect();
            let run_worst = against_torch(
                &what,
                (&history.epochs[0].step_losses, &run.step_losses),
                (&trainer.model().state_dict(gpu).unwrap(), &want),
                (per_step, run.config.lr()),
            );
            worst = worst.max(run_worst);
        }
    }
    eprintln!("dropout training: the largest difference is {worst:.3} of its bound");
}
