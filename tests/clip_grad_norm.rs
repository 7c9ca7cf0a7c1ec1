//! `clip_grad_norm_` on the GPU: one factor over every parameter (several of the norm's
//! workgroups among them) against the f64 reference, mini-batch training replayed on the
//! reference, and what it refuses. PyTorch's own runs are in golden.rs
//! (`clip_grad_norm_training_follows_pytorch`).

mod common;

use common::{gpu, rng, uniform, F32_U};
use wgsl_train::data::{diabetes, Prepared, SplitConfig};
use wgsl_train::nn::Mlp;
use wgsl_train::optim::{Optimizer, OptimizerConfig, ParamGroup, ParamStore, SgdConfig};
use wgsl_train::reference::mlp::clip_grad_norm;
use wgsl_train::train::{SingleDispatch, TrainConfig, Trainer};
use wgsl_train::Error;

/// SGD with lr 1 and no momentum takes θ − c·g, so the step shows the factor c each
/// parameter was scaled by; g holds L1's term λ₁·sign(θ) where its group has one (PyTorch's
/// `.grad` with L1 in the loss), so the norm is over g + λ₁·sign(θ) and the step scales it
/// whole. 40 139 parameters in two groups make three spans of the norm kernel, one of them
/// crossing from one group into the other. Bound: the squares are added 16 in a row, then in
/// a tree of 8 levels, then three spans' sums in a row, all positive: (16 + 8 + 3)·u of the
/// sum, and L1's addition, the square root, division and min a few u more: c within 40·u of
/// itself; θ − c·g within that times |g|, and the two roundings of the difference (the GPU's,
/// and this test's in f32) within 2·u of |θ| + c·|g|.
#[test]
fn clip_grad_norm_scales_every_parameter_by_one_global_factor() {
    let (mut rng, seed) = rng("clip_grad_norm_scales_every_parameter_by_one_global_factor");
    let gpu = gpu();
    let shapes: [(&str, &[usize]); 4] =
        [("a", &[7]), ("b", &[3, 43]), ("c", &[40_000]), ("d", &[3])];
    let group_of = |name: &str| usize::from(name == "c" || name == "d");
    for (relative, l1) in [(0.25, [0.0, 0.0]), (10.0, [0.0, 0.0]), (0.25, [0.3, 0.0])] {
        let params = ParamStore::new(gpu, &shapes).unwrap();
        let mut grads = Vec::new();
        let mut values = Vec::new();
        for (name, shape) in shapes {
            let n: usize = shape.iter().product();
            let (value, grad) = (
                uniform(&mut rng, n, -1.0, 1.0),
                uniform(&mut rng, n, -1.0, 1.0),
            );
            params.write(gpu, name, &value).unwrap();
            let id = params.id(name).unwrap();
            params.grad_of(id).write(gpu, &grad).unwrap();
            // PyTorch's .grad: L1's term added in f32, as autograd accumulates it.
            let l1 = l1[group_of(name)] as f32;
            let penalized = value
                .iter()
                .zip(&grad)
                .map(|(&v, &g)| g + if v == 0.0 { 0.0 } else { l1.copysign(v) });
            grads.push(penalized.collect::<Vec<f32>>());
            values.push(value);
        }
        let norm = clip_grad_norm(&mut grads.clone(), f64::INFINITY);
        let max_norm = relative * norm;
        let groups = (0..2)
            .map(|group| {
                let names = shapes.iter().map(|(name, _)| *name);
                let names = names.filter(|name| group_of(name) == group);
                let config = SgdConfig {
                    lr: 1.0,
                    l1: l1[group],
                    ..SgdConfig::default()
                };
                ParamGroup::new(names.map(String::from).collect(), config)
            })
            .collect();
        let mut optimizer = Optimizer::with_groups(gpu, &params, groups).unwrap();
        optimizer.set_clip_grad_norm(gpu, Some(max_norm)).unwrap();
        assert_eq!(
            optimizer.dispatches_per_step(),
            2,
            "the norm and the update"
        );
        optimizer.step(gpu).unwrap();
        let mut clipped = grads.clone();
        clip_grad_norm(&mut clipped, max_norm);
        let factor = (max_norm / (norm + 1e-6)).min(1.0);
        for (t, (name, _)) in shapes.iter().enumerate() {
            let got = params.read(gpu, name).unwrap();
            let want: Vec<f32> = values[t]
                .iter()
                .zip(&clipped[t])
                .map(|(&v, &g)| v - g)
                .collect();
            common::assert_close(
                &format!("max_norm {relative}·‖g‖, L1 {l1:?}, {name}"),
                seed,
                &got,
                &want,
                |i| {
                    let step = factor * f64::from(grads[t][i].abs());
                    40.0 * F32_U * step + 2.0 * F32_U * (f64::from(values[t][i].abs()) + step)
                },
            );
        }
    }
}

#[test]
fn clip_grad_norm_refuses_what_it_cannot_do_and_keeps_its_setting() {
    let gpu = gpu();
    let params = ParamStore::new(gpu, &[("w", &[5][..])]).unwrap();
    let mut optimizer = Optimizer::new(gpu, &params, SgdConfig::default()).unwrap();
    optimizer.set_clip_grad_norm(gpu, Some(2.0)).unwrap();
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let err = optimizer.set_clip_grad_norm(gpu, Some(bad)).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
        assert_eq!(
            optimizer.clip_grad_norm(),
            Some(2.0),
            "after max_norm {bad}"
        );
    }
    optimizer.set_clip_grad_norm(gpu, None).unwrap();
    assert_eq!(optimizer.dispatches_per_step(), 1);

    let config = TrainConfig {
        clip_grad_norm: Some(0.0),
        ..TrainConfig::default()
    };
    let err = config.validate().unwrap_err().to_string();
    assert!(
        err.contains("clip_grad_norm 0 must be finite and > 0"),
        "{err}"
    );
}

/// The one-dispatch kernel holds the max_norm it was built with: changed on the trainer's
/// optimizer afterwards, the next epoch is refused by name with the model and history as they
/// were, and runs again once it is set back; the general path reads it each step and takes
/// the change.
#[test]
fn a_max_norm_changed_after_the_one_dispatch_kernel_is_built_is_refused() {
    let gpu = gpu();
    let data = diabetes().unwrap();
    let p = Prepared::new(&data, &SplitConfig::default()).unwrap();
    for (choice, one_dispatch) in [(SingleDispatch::Auto, true), (SingleDispatch::Never, false)] {
        let model = Mlp::new(gpu, &[10, 5, 1], data.task(), 5).unwrap();
        let config = TrainConfig {
            clip_grad_norm: Some(0.5),
            single_dispatch_epochs: choice,
            ..TrainConfig::default()
        };
        let mut trainer =
            Trainer::new(gpu, model, SgdConfig::default(), &p.train, None, config).unwrap();
        assert_eq!(trainer.single_dispatch_epochs(), one_dispatch);
        trainer.run_epoch().unwrap();
        let before = common::weights(gpu, trainer.model());
        trainer
            .optimizer_mut()
            .set_clip_grad_norm(gpu, Some(0.1))
            .unwrap();
        let epoch = trainer.run_epoch();
        if !one_dispatch {
            epoch.unwrap();
            assert_eq!(trainer.history().epochs.len(), 2);
            continue;
        }
        let err = epoch.unwrap_err().to_string();
        assert!(err.contains("TrainConfig::clip_grad_norm"), "{err}");
        assert_eq!(trainer.history().epochs.len(), 1);
        assert_eq!(common::weights(gpu, trainer.model()), before);
        trainer
            .optimizer_mut()
            .set_clip_grad_norm(gpu, Some(0.5))
            .unwrap();
        trainer.run_epoch().unwrap();
        assert_eq!(trainer.history().epochs.len(), 2);
    }
}

/// Mini-batches of diabetes with the norm (L1's term in it) clipped at about a third of the
/// first steps', replayed step by step on the f64 reference, on every path: the one-dispatch
/// path (`Auto` takes it), the general path and the streamed split; with two layers, and with
/// three (where the one-dispatch kernel's norm pass writes over the output gradient, which it
/// must keep for the update).
#[test]
fn clipped_mini_batch_training_matches_the_cpu_reference() {
    let gpu = gpu();
    let data = diabetes().unwrap();
    let split = SplitConfig {
        seed: 3,
        ..SplitConfig::default()
    };
    let p = Prepared::new(&data, &split).unwrap();
    let optimizer = OptimizerConfig::Sgd(SgdConfig {
        lr: 0.05,
        momentum: 0.9,
        weight_decay: 1e-3,
        l1: 1e-2,
        ..SgdConfig::default()
    });
    let (batch, max_norm) = (32, Some(0.3));
    let paths = [
        (true, SingleDispatch::Auto, None),
        (false, SingleDispatch::Never, None),
        (false, SingleDispatch::Auto, Some(3 * batch)),
    ];
    for sizes in [&[10, 5, 1][..], &[10, 8, 4, 1]] {
        for (one_dispatch, choice, chunk_rows) in paths {
            let model = Mlp::new(gpu, sizes, data.task(), 5).unwrap();
            let initial = common::weights(gpu, &model);
            let config = TrainConfig {
                epochs: 12,
                batch_size: batch,
                seed: 11,
                chunk_rows,
                clip_grad_norm: max_norm,
                single_dispatch_epochs: choice,
                ..TrainConfig::default()
            };
            let mut trainer = Trainer::new(gpu, model, optimizer, &p.train, None, config).unwrap();
            assert_eq!(trainer.single_dispatch_epochs(), one_dispatch);
            let history = trainer.fit().unwrap().clone();
            let worst = common::replay_trainer(gpu, &trainer, &p.train, initial, &history);
            eprintln!(
                "{sizes:?}, one dispatch {one_dispatch}, chunks {chunk_rows:?}: the largest \
             difference is {worst:.3} of its bound"
            );
        }
    }
}
