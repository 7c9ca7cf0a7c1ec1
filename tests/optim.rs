//! The fused optimizers against the reference optimizers, step by step, on fresh random
//! parameters and gradients at awkward lengths; dispatch counts, chunking and state restore.

mod common;

use common::{bits, gpu, param_bits, rng, uniform};
use rand::rngs::StdRng;
use wgsl_train::optim::{
    AdamConfig, Optimizer, OptimizerConfig, ParamGroup, ParamStore, SgdConfig,
};
use wgsl_train::{reference, Error, Gpu, GpuOptions};

/// Awkward shapes: lengths 1, 7, 63·5, 65, 129·3, 1031 and 181·191 (long enough that whole
/// workgroup spans of 16,384 lie inside it, the update kernel's uniform path).
const SHAPES: [(&str, &[usize]); 7] = [
    ("a", &[1]),
    ("b", &[7]),
    ("c", &[63, 5]),
    ("d", &[65]),
    ("e", &[129, 3]),
    ("f", &[1031]),
    ("g", &[181, 191]),
];
const STEPS: usize = 25;

/// Random parameters (with an exact zero in each tensor, where sign(0) = 0 matters).
fn init(gpu: &Gpu, rng: &mut StdRng) -> (ParamStore, Vec<Vec<f32>>) {
    let store = ParamStore::new(gpu, &SHAPES).unwrap();
    let values: Vec<Vec<f32>> = store
        .slots()
        .iter()
        .map(|s| {
            let mut v = uniform(rng, s.len(), -1.0, 1.0);
            v[0] = 0.0;
            v
        })
        .collect();
    for (slot, v) in store.slots().iter().zip(&values) {
        store.write(gpu, &slot.name, v).unwrap();
    }
    (store, values)
}

/// f32's unit roundoff, 2⁻²⁴.
const UNIT_ROUNDOFF: f64 = 1.0 / (1u64 << 24) as f64;

/// How far the f32 regularized gradient g′ = clamp(±g + λ₁·sign(θ), ±c) + λ₂·θ may lie from
/// its exact value: λ₂ and λ₁ are rounded to f32, and the product and the two sums are
/// rounded (a driver may split the `fma`), each by at most one unit roundoff of its size (the
/// clamp moves no error further, and c's own rounding is one unit roundoff of c ≤ |±g + λ₁|).
fn regularized_grad_error(config: OptimizerConfig, theta: f32, grad: f32) -> f64 {
    let (l2, l1) = match config {
        OptimizerConfig::Sgd(c) => (c.weight_decay, c.l1),
        OptimizerConfig::Adam(c) if c.decoupled_weight_decay => (0.0, c.l1),
        OptimizerConfig::Adam(c) => (c.weight_decay, c.l1),
    };
    let l2_term = (l2 * f64::from(theta)).abs();
    let regularized = f64::from(grad).abs() + l2_term + l1;
    2.0 * UNIT_ROUNDOFF * (l2_term + l1 + regularized)
}

/// `grads` moved by `sign` times the error bound of each element's regularized gradient,
/// rounded outwards to f32.
fn nudged(config: OptimizerConfig, params: &[f32], grads: &[f32], sign: f64) -> Vec<f32> {
    params
        .iter()
        .zip(grads)
        .map(|(&theta, &g)| {
            let moved = f64::from(g) + sign * regularized_grad_error(config, theta, g);
            let rounded = moved as f32;
            match f64::from(rounded) {
                r if sign > 0.0 && r < moved => rounded.next_up(),
                r if sign < 0.0 && r > moved => rounded.next_down(),
                _ => rounded,
            }
        })
        .collect()
}

/// One tensor's reference optimizer, with two twins fed the gradients moved by the f32 error
/// bound of the regularized gradient, up and down. Where g′ nearly cancels (g ≈ −λ₂·θ, or
/// Adam's |g′| near ε) the update is ill-conditioned: Adam's first step lr·g′/(|g′| + ε)
/// moves by lr·ε·δg/(|g′| + ε)², which can exceed any rounding bound. The twins measure that
/// condition at each element, through the states as they evolve, and the comparison allows it.
struct ConditionedReference {
    config: OptimizerConfig,
    exact: reference::optim::Optimizer,
    up: reference::optim::Optimizer,
    down: reference::optim::Optimizer,
}

impl ConditionedReference {
    fn new(config: OptimizerConfig, len: usize) -> Self {
        let fresh = || reference::optim::Optimizer::new(config, len);
        Self {
            config,
            exact: fresh(),
            up: fresh(),
            down: fresh(),
        }
    }

    /// One step from `params` (updated in place) and `grads`; returns, per element, how far
    /// the update may move with the gradient's f32 error: the larger twin's distance, doubled
    /// for what the first-order picture misses.
    fn step(&mut self, params: &mut [f32], grads: &[f32]) -> Vec<f64> {
        let before = params.to_vec();
        let mut up = before.clone();
        let mut down = before.clone();
        self.up
            .step(&mut up, &nudged(self.config, &before, grads, 1.0));
        self.down
            .step(&mut down, &nudged(self.config, &before, grads, -1.0));
        self.exact.step(params, grads);
        params
            .iter()
            .zip(up.iter().zip(&down))
            .map(|(&p, (&u, &d))| {
                let p = f64::from(p);
                2.0 * (f64::from(u) - p).abs().max((f64::from(d) - p).abs())
            })
            .collect()
    }
}

/// Runs `STEPS` steps of `groups` (group index per tensor) on the GPU and on the reference,
/// with fresh random gradients each step, and compares every parameter after every step
/// (each step from the same parameters; the optimizer states go their own ways).
fn check_trajectory(what: &str, configs: &[OptimizerConfig], group_of: &[usize]) {
    let (mut rng, seed) = rng(what);
    let gpu = gpu();
    let (store, mut want) = init(gpu, &mut rng);
    let groups = configs
        .iter()
        .enumerate()
        .map(|(g, &config)| {
            let names = SHAPES
                .iter()
                .zip(group_of)
                .filter(|(_, &o)| o == g)
                .map(|((n, _), _)| n.to_string());
            ParamGroup::new(names.collect(), config)
        })
        .collect();
    let mut optimizer = Optimizer::with_groups(gpu, &store, groups).unwrap();
    let mut references: Vec<ConditionedReference> = want
        .iter()
        .zip(group_of)
        .map(|(v, &g)| ConditionedReference::new(configs[g], v.len()))
        .collect();
    for step in 1..=STEPS {
        let mut conditions = Vec::with_capacity(SHAPES.len());
        for ((slot, reference), values) in store.slots().iter().zip(&mut references).zip(&mut want)
        {
            let grads = uniform(&mut rng, slot.len(), -1.0, 1.0);
            store.grad(&slot.name).unwrap().write(gpu, &grads).unwrap();
            conditions.push(reference.step(values, &grads));
        }
        optimizer.step(gpu).unwrap();
        for ((slot, values), condition) in store.slots().iter().zip(&mut want).zip(&conditions) {
            let got = store.read(gpu, &slot.name).unwrap();
            for (i, (&g, &w)) in got.iter().zip(values.iter()).enumerate() {
                // f32 rounding of a handful of operations in this step and of the states'
                // updates before it (which decay: the states forget), plus the update's
                // sensitivity to the regularized gradient's rounding at this element.
                let tol = 2e-6 * (1.0 + f64::from(w.abs())) + condition[i];
                let diff = (f64::from(g) - f64::from(w)).abs();
                assert!(
                    diff <= tol,
                    "{what}: step {step}, parameter {} index {i}: gpu {g:e} vs reference {w:e}, |diff| {diff:e} > tolerance {tol:e} (seed {seed})",
                    slot.name
                );
            }
            // The next step starts both from the GPU's parameters: with L1, sign(θ) of a
            // parameter that crosses 0 would otherwise differ between the two by rounding
            // and set the trajectories apart by far more than rounding.
            values.copy_from_slice(&got);
        }
    }
}

fn all_one_group(config: impl Into<OptimizerConfig>) -> (Vec<OptimizerConfig>, Vec<usize>) {
    (vec![config.into()], vec![0; SHAPES.len()])
}

#[test]
fn sgd_matches_reference() {
    let sgd = SgdConfig {
        lr: 0.05,
        ..Default::default()
    };
    let cases = [
        ("plain", sgd),
        (
            "momentum",
            SgdConfig {
                momentum: 0.9,
                ..sgd
            },
        ),
        (
            "dampening",
            SgdConfig {
                momentum: 0.9,
                dampening: 0.3,
                ..sgd
            },
        ),
        (
            "nesterov",
            SgdConfig {
                momentum: 0.8,
                nesterov: true,
                ..sgd
            },
        ),
        (
            "maximize",
            SgdConfig {
                momentum: 0.5,
                maximize: true,
                weight_decay: 0.1,
                ..sgd
            },
        ),
        (
            "l2",
            SgdConfig {
                weight_decay: 0.3,
                ..sgd
            },
        ),
        ("l1", SgdConfig { l1: 0.2, ..sgd }),
        (
            "everything",
            SgdConfig {
                momentum: 0.9,
                nesterov: true,
                weight_decay: 0.1,
                l1: 0.05,
                ..sgd
            },
        ),
        // Gradients are uniform in ±1: the bound clips about 70% of them.
        (
            "clip_grad_value",
            SgdConfig {
                momentum: 0.9,
                weight_decay: 0.1,
                l1: 0.05,
                clip_grad_value: Some(0.3),
                ..sgd
            },
        ),
    ];
    for (name, config) in cases {
        let (configs, group_of) = all_one_group(config);
        check_trajectory(
            &format!("sgd_matches_reference/{name}"),
            &configs,
            &group_of,
        );
    }
}

#[test]
fn adam_matches_reference() {
    let adam = AdamConfig {
        lr: 0.02,
        ..Default::default()
    };
    let cases = [
        ("plain", adam),
        (
            "amsgrad",
            AdamConfig {
                amsgrad: true,
                ..adam
            },
        ),
        (
            "maximize",
            AdamConfig {
                maximize: true,
                ..adam
            },
        ),
        (
            "l2",
            AdamConfig {
                weight_decay: 0.2,
                ..adam
            },
        ),
        ("l1", AdamConfig { l1: 0.1, ..adam }),
        (
            "betas",
            AdamConfig {
                betas: (0.5, 0.9),
                eps: 1e-3,
                ..adam
            },
        ),
        (
            "adamw",
            AdamConfig {
                lr: 0.02,
                ..AdamConfig::adamw()
            },
        ),
        (
            "adamw_amsgrad_l1",
            AdamConfig {
                lr: 0.02,
                amsgrad: true,
                l1: 0.05,
                weight_decay: 0.3,
                ..AdamConfig::adamw()
            },
        ),
        (
            "clip_grad_value",
            AdamConfig {
                l1: 0.05,
                weight_decay: 0.2,
                clip_grad_value: Some(0.3),
                ..adam
            },
        ),
    ];
    for (name, config) in cases {
        let (configs, group_of) = all_one_group(config);
        check_trajectory(
            &format!("adam_matches_reference/{name}"),
            &configs,
            &group_of,
        );
    }
}

#[test]
fn parameter_groups_match_reference() {
    // Weights decayed and L1-penalised, biases not, a different learning rate for "f".
    let weights = AdamConfig {
        lr: 0.01,
        weight_decay: 0.1,
        l1: 0.01,
        ..Default::default()
    };
    let biases = AdamConfig {
        lr: 0.01,
        ..Default::default()
    };
    let last = AdamConfig {
        lr: 0.05,
        amsgrad: true,
        ..Default::default()
    };
    check_trajectory(
        "parameter_groups_match_reference/adam",
        &[weights.into(), biases.into(), last.into()],
        &[1, 1, 0, 1, 0, 2, 1],
    );
    let sgd = SgdConfig {
        lr: 0.05,
        momentum: 0.9,
        ..Default::default()
    };
    check_trajectory(
        "parameter_groups_match_reference/sgd",
        &[
            SgdConfig {
                weight_decay: 0.2,
                ..sgd
            }
            .into(),
            SgdConfig {
                nesterov: true,
                ..sgd
            }
            .into(),
        ],
        &[0, 1, 0, 1, 0, 1, 0],
    );
}

#[test]
fn parameters_outside_every_group_are_not_updated() {
    let (mut rng, _) = rng("parameters_outside_every_group_are_not_updated");
    let gpu = gpu();
    let (store, values) = init(gpu, &mut rng);
    let group = ParamGroup::new(
        vec!["c".into()],
        SgdConfig {
            lr: 0.1,
            ..Default::default()
        },
    );
    let mut sgd = Optimizer::with_groups(gpu, &store, vec![group]).unwrap();
    store
        .grads()
        .write(gpu, &vec![1.0f32; store.flat_len()])
        .unwrap();
    sgd.step(gpu).unwrap();
    for (slot, before) in store.slots().iter().zip(&values) {
        let after = store.read(gpu, &slot.name).unwrap();
        assert_eq!(
            after != *before,
            slot.name == "c",
            "parameter {}",
            slot.name
        );
    }
}

#[test]
fn one_dispatch_per_step_for_many_tensors() {
    let gpu = gpu();
    let names: Vec<String> = (0..40).map(|i| format!("layer{i}")).collect();
    let shapes: Vec<(&str, &[usize])> = names
        .iter()
        .map(|n| (n.as_str(), &[17usize, 3][..]))
        .collect();
    let store = ParamStore::new(gpu, &shapes).unwrap();
    for config in [
        OptimizerConfig::from(SgdConfig::default()),
        AdamConfig {
            amsgrad: true,
            ..Default::default()
        }
        .into(),
    ] {
        let mut optimizer = Optimizer::new(gpu, &store, config).unwrap();
        let mut batch = gpu.batch();
        optimizer.record_step(gpu, &mut batch).unwrap();
        assert_eq!(batch.dispatch_count(), 1, "{config:?}");
        assert_eq!(optimizer.dispatches_per_step(), 1);
        gpu.submit(batch).unwrap();
    }
}

/// Runs `steps` Adam steps with the given gradients on `gpu` and returns the flat parameters.
fn run_adam(gpu: &Gpu, init: &[Vec<f32>], grads: &[Vec<Vec<f32>>]) -> (Vec<f32>, usize) {
    let store = ParamStore::new(gpu, &SHAPES).unwrap();
    for (slot, v) in store.slots().iter().zip(init) {
        store.write(gpu, &slot.name, v).unwrap();
    }
    let config = AdamConfig {
        lr: 0.01,
        amsgrad: true,
        weight_decay: 0.1,
        l1: 0.01,
        ..Default::default()
    };
    let mut adam = Optimizer::new(gpu, &store, config).unwrap();
    for step in grads {
        for (slot, g) in store.slots().iter().zip(step) {
            store.grad(&slot.name).unwrap().write(gpu, g).unwrap();
        }
        adam.step(gpu).unwrap();
    }
    (
        store.values().to_vec(gpu).unwrap(),
        adam.dispatches_per_step(),
    )
}

#[test]
fn chunked_and_unchunked_updates_agree_bitwise() {
    let (mut rng, _) = rng("chunked_and_unchunked_updates_agree_bitwise");
    let lens: Vec<usize> = SHAPES.iter().map(|(_, s)| s.iter().product()).collect();
    let init: Vec<Vec<f32>> = lens
        .iter()
        .map(|&n| uniform(&mut rng, n, -1.0, 1.0))
        .collect();
    let grads: Vec<Vec<Vec<f32>>> = (0..5)
        .map(|_| {
            lens.iter()
                .map(|&n| uniform(&mut rng, n, -1.0, 1.0))
                .collect()
        })
        .collect();
    let (whole, one) = run_adam(gpu(), &init, &grads);
    assert_eq!(one, 1);
    // 1 KiB bindings: the ~37,000 parameters are updated in chunks of 256.
    let small = Gpu::with_options(GpuOptions {
        max_storage_buffer_binding_size: Some(1024),
        ..GpuOptions::default()
    })
    .unwrap();
    let (chunked, chunks) = run_adam(&small, &init, &grads);
    assert!(chunks > 1, "expected several chunks, got {chunks}");
    assert!(
        bits(&whole) == bits(&chunked),
        "chunked and unchunked updates differ"
    );
}

#[test]
fn several_steps_in_one_batch_equal_separate_steps() {
    let (mut rng, _) = rng("several_steps_in_one_batch_equal_separate_steps");
    let gpu = gpu();
    let config = AdamConfig {
        lr: 0.01,
        ..Default::default()
    };
    let (a, _) = init(gpu, &mut rng);
    let b = ParamStore::new(gpu, &SHAPES).unwrap();
    b.values()
        .write(gpu, &a.values().to_vec::<f32>(gpu).unwrap())
        .unwrap();
    let grads = uniform(&mut rng, a.flat_len(), -1.0, 1.0);
    a.grads().write(gpu, &grads).unwrap();
    b.grads().write(gpu, &grads).unwrap();
    let mut separate = Optimizer::new(gpu, &a, config).unwrap();
    let mut batched = Optimizer::new(gpu, &b, config).unwrap();
    let mut batch = gpu.batch();
    for _ in 0..5 {
        separate.step(gpu).unwrap();
        batched.record_step(gpu, &mut batch).unwrap(); // grows the step table past 1 entry
    }
    gpu.submit(batch).unwrap();
    assert_eq!(batched.step_count(), 5);
    assert!(
        param_bits(&a) == param_bits(&b),
        "five steps in one batch differ from five submissions"
    );
}

#[test]
fn state_save_restore_and_continue_equals_an_uninterrupted_run() {
    let (mut rng, _) = rng("state_save_restore_and_continue_equals_an_uninterrupted_run");
    let gpu = gpu();
    let grads: Vec<Vec<f32>> = (0..20)
        .map(|_| uniform(&mut rng, 40000, -1.0, 1.0))
        .collect();
    for config in [
        OptimizerConfig::from(SgdConfig {
            lr: 0.05,
            momentum: 0.9,
            ..Default::default()
        }),
        AdamConfig {
            lr: 0.01,
            amsgrad: true,
            ..Default::default()
        }
        .into(),
    ] {
        let (full, init) = init(gpu, &mut rng);
        let flat = full.flat_len();
        let start = full.values().to_vec::<f32>(gpu).unwrap();
        let mut uninterrupted = Optimizer::new(gpu, &full, config).unwrap();
        let mut saved = None;
        for (step, g) in grads.iter().enumerate() {
            full.grads().write(gpu, &g[..flat]).unwrap();
            uninterrupted.step(gpu).unwrap();
            if step == 9 {
                saved = Some((
                    full.values().to_vec::<f32>(gpu).unwrap(),
                    uninterrupted.state(gpu).unwrap(),
                ));
            }
        }
        drop(init);
        let (values, state) = saved.unwrap();
        assert_eq!(state.step, 10);
        assert_ne!(values, start);
        let resumed_store = ParamStore::new(gpu, &SHAPES).unwrap();
        resumed_store.values().write(gpu, &values).unwrap();
        let mut resumed = Optimizer::new(gpu, &resumed_store, config).unwrap();
        resumed.load_state(gpu, &state).unwrap();
        for g in &grads[10..] {
            resumed_store.grads().write(gpu, &g[..flat]).unwrap();
            resumed.step(gpu).unwrap();
        }
        assert!(
            param_bits(&full) == param_bits(&resumed_store),
            "{config:?}: resumed run differs"
        );
        assert_eq!(resumed.step_count(), 20);
    }
}

#[test]
fn load_state_rejects_a_mismatched_state_and_changes_nothing() {
    let gpu = gpu();
    let store = ParamStore::new(gpu, &SHAPES).unwrap();
    let mut adam = Optimizer::new(gpu, &store, AdamConfig::default()).unwrap();
    let sgd = Optimizer::new(gpu, &store, SgdConfig::default()).unwrap();
    let err = adam.load_state(gpu, &sgd.state(gpu).unwrap()).unwrap_err();
    assert!(err.to_string().contains("momentum_buffer"), "{err}");
    let mut state = adam.state(gpu).unwrap();
    state.step = 7;
    state.tensors[1].1.pop();
    assert!(matches!(
        adam.load_state(gpu, &state),
        Err(Error::InvalidArgument { .. })
    ));
    assert_eq!(adam.step_count(), 0);
}

#[test]
fn invalid_hyperparameters_are_refused_at_construction() {
    let gpu = gpu();
    let store = ParamStore::new(gpu, &SHAPES).unwrap();
    let sgd = SgdConfig::default();
    let adam = AdamConfig::default();
    let cases: Vec<(OptimizerConfig, &str)> = vec![
        (SgdConfig { lr: -0.1, ..sgd }.into(), "lr"),
        (
            SgdConfig {
                lr: f64::NAN,
                ..sgd
            }
            .into(),
            "lr",
        ),
        (
            SgdConfig {
                momentum: -0.5,
                ..sgd
            }
            .into(),
            "momentum",
        ),
        (
            SgdConfig {
                weight_decay: -1.0,
                ..sgd
            }
            .into(),
            "weight_decay",
        ),
        (SgdConfig { l1: -1.0, ..sgd }.into(), "l1"),
        (
            SgdConfig {
                nesterov: true,
                ..sgd
            }
            .into(),
            "momentum",
        ),
        (
            SgdConfig {
                nesterov: true,
                momentum: 0.9,
                dampening: 0.1,
                ..sgd
            }
            .into(),
            "dampening",
        ),
        (AdamConfig { lr: -1e-3, ..adam }.into(), "lr"),
        (
            AdamConfig {
                betas: (1.0, 0.999),
                ..adam
            }
            .into(),
            "betas.0",
        ),
        (
            AdamConfig {
                betas: (0.9, -0.1),
                ..adam
            }
            .into(),
            "betas.1",
        ),
        (AdamConfig { eps: 0.0, ..adam }.into(), "eps"),
        (
            AdamConfig {
                weight_decay: -0.1,
                ..adam
            }
            .into(),
            "weight_decay",
        ),
        (
            AdamConfig {
                l1: -0.1,
                ..AdamConfig::adamw()
            }
            .into(),
            "l1",
        ),
    ];
    for (config, name) in cases {
        match Optimizer::new(gpu, &store, config) {
            Err(Error::InvalidHyperparameter { name: got, .. }) => {
                assert_eq!(got, name, "{config:?}")
            }
            other => panic!("{config:?}: expected an invalid {name}, got {other:?}"),
        }
    }
    // Groups: unknown names, a parameter in two groups, mixed optimizers.
    let group = |names: &[&str], c: OptimizerConfig| {
        ParamGroup::new(names.iter().map(|s| s.to_string()).collect(), c)
    };
    let unknown =
        Optimizer::with_groups(gpu, &store, vec![group(&["zz"], sgd.into())]).unwrap_err();
    assert!(unknown.to_string().contains("zz"), "{unknown}");
    let twice = vec![group(&["a"], sgd.into()), group(&["a"], sgd.into())];
    assert!(matches!(
        Optimizer::with_groups(gpu, &store, twice),
        Err(Error::InvalidArgument { .. })
    ));
    let mixed = vec![group(&["a"], sgd.into()), group(&["b"], adam.into())];
    assert!(matches!(
        Optimizer::with_groups(gpu, &store, mixed),
        Err(Error::InvalidArgument { .. })
    ));
}
