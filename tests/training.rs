//! End-to-end training on the GPU against the CPU reference, reproducibility, resuming from a
//! checkpoint, early stopping, the divergence guard, and the dispatch count per step.

mod common;

use common::{gpu, param_bits};
use wgsl_train::checkpoint::{load_model, restore_training, save, RunInfo};
use wgsl_train::data::Prepared;
use wgsl_train::data::{diabetes, iris, wine_quality, Dataset, SplitConfig, Task};
use wgsl_train::nn::Mlp;
use wgsl_train::optim::{AdamConfig, LrSchedule, OptimizerConfig, ParamGroup, SgdConfig};
use wgsl_train::train::{SingleDispatch, TrainConfig, Trainer};
use wgsl_train::{reference, Error, Gpu};

fn prepared(data: &Dataset) -> Prepared {
    Prepared::new(
        data,
        &SplitConfig {
            seed: 3,
            ..SplitConfig::default()
        },
    )
    .unwrap()
}

/// The general path's settings: these tests hold its kernels and dispatches to account (the
/// small-model path's own tests are in small_model.rs).
fn config(epochs: usize, batch_size: usize) -> TrainConfig {
    TrainConfig {
        epochs,
        batch_size,
        seed: 11,
        single_dispatch_epochs: SingleDispatch::Never,
        ..TrainConfig::default()
    }
}

/// Trains on the GPU on each path — the general path, the one-dispatch path (where the network
/// fits it) and the training split streamed from the host — then replays the run on the CPU
/// reference from the same weights and batch order (`common::replay`, shared with the
/// browser's tests).
fn check_against_reference(
    data: &Dataset,
    sizes: &[usize],
    optimizer: OptimizerConfig,
    epochs: usize,
    batch: usize,
) {
    let gpu = gpu();
    let p = prepared(data);
    let weights = |model: &Mlp| -> Vec<Vec<f32>> {
        let dict = model.state_dict(gpu).unwrap();
        dict.into_iter().map(|t| t.data).collect()
    };
    let paths = [
        ("general", config(epochs, batch)),
        (
            "one-dispatch",
            TrainConfig {
                single_dispatch_epochs: SingleDispatch::Always,
                ..config(epochs, batch)
            },
        ),
        (
            "streamed",
            TrainConfig {
                chunk_rows: Some(3 * batch),
                ..config(epochs, batch)
            },
        ),
    ];
    for (path, train_config) in paths {
        let model = Mlp::new(gpu, sizes, data.task(), 5).unwrap();
        let initial = weights(&model);
        let loss = model.loss_kind();
        let loss_weights = model.loss_weights().clone();
        let mut trainer =
            Trainer::new(gpu, model, optimizer, &p.train, None, train_config).unwrap();
        assert_eq!(trainer.single_dispatch_epochs(), path == "one-dispatch");
        assert_eq!(trainer.chunk_steps().is_some(), path == "streamed");
        let history = trainer.fit().unwrap().clone();
        let worst = common::replay::check_against_reference(&common::replay::Run {
            train: &p.train,
            sizes,
            loss,
            loss_weights,
            clip_grad_norm: None,
            activations: &[],
            dropout: &[],
            optimizer,
            seed: 11,
            batch,
            initial,
            trained: weights(trainer.model()),
            history: &history,
        });
        eprintln!("{sizes:?} {path} path: the largest difference is {worst:.3} of its bound");
    }
}

#[test]
fn regression_training_matches_the_cpu_reference() {
    for optimizer in common::replay::diabetes_optimizers() {
        check_against_reference(&diabetes().unwrap(), &[10, 5, 1], optimizer, 12, 32);
    }
}

#[test]
fn classification_training_matches_the_cpu_reference() {
    let adam = AdamConfig {
        lr: 0.01,
        weight_decay: 1e-3,
        ..AdamConfig::default()
    };
    // 105 iris training rows in batches of 16: 7 steps an epoch, the last one of 9 rows.
    check_against_reference(&iris().unwrap(), &[4, 8, 3], adam.into(), 15, 16);
    let sgd = SgdConfig {
        lr: 0.05,
        momentum: 0.5,
        ..SgdConfig::default()
    };
    check_against_reference(&wine_quality().unwrap(), &[11, 6, 1], sgd.into(), 2, 16);
}

fn train_weights(gpu: &Gpu, data: &Prepared, epochs: usize) -> Vec<u32> {
    let model = Mlp::new(gpu, &[10, 5, 1], Task::Regression, 9).unwrap();
    let mut trainer = Trainer::new(
        gpu,
        model,
        AdamConfig::default(),
        &data.train,
        Some(&data.validation),
        config(epochs, 32),
    )
    .unwrap();
    trainer.fit().unwrap();
    param_bits(trainer.model().params())
}

#[test]
fn a_fixed_seed_gives_bitwise_identical_weights() {
    let gpu = gpu();
    let p = prepared(&diabetes().unwrap());
    assert!(
        train_weights(gpu, &p, 5) == train_weights(gpu, &p, 5),
        "two runs with the same seeds differ"
    );
}

/// Trains 8 epochs, saving after epoch 4; trains a fresh trainer restored from that save to
/// epoch 8; both must end bit for bit alike: weights, step count, every epoch's losses and the
/// best epoch.
fn resume_equals_uninterrupted(what: &str, groups: &[ParamGroup], train_config: TrainConfig) {
    let gpu = gpu();
    let p = prepared(&diabetes().unwrap());
    let name = format!(
        "wgsl-train-resume-{}-{}",
        what.replace(' ', "-"),
        std::process::id()
    );
    let dir = std::env::temp_dir().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("model.safetensors");
    let trainer = |model| {
        let (train, validation) = (&p.train, Some(&p.validation));
        Trainer::with_groups(
            gpu,
            model,
            groups.to_vec(),
            train,
            validation,
            train_config.clone(),
        )
        .unwrap()
    };

    let mut uninterrupted = trainer(Mlp::new(gpu, &[10, 5, 1], Task::Regression, 9).unwrap());
    for epoch in 1..=8 {
        uninterrupted.run_epoch().unwrap();
        if epoch == 4 {
            save(gpu, &path, &uninterrupted, &RunInfo::default()).unwrap();
        }
    }

    let mut resumed = trainer(load_model(gpu, &path, None).unwrap());
    restore_training(gpu, &path, &mut resumed, &RunInfo::default()).unwrap();
    assert_eq!(resumed.history().epochs.len(), 4, "{what}");
    while resumed.history().epochs.len() < 8 {
        resumed.run_epoch().unwrap();
    }
    assert!(
        param_bits(uninterrupted.model().params()) == param_bits(resumed.model().params()),
        "{what}: the resumed run's weights differ"
    );
    assert_eq!(
        uninterrupted.optimizer().step_count(),
        resumed.optimizer().step_count(),
        "{what}"
    );
    for group in 0..groups.len() {
        let lr = |t: &Trainer| t.optimizer().lr(group).unwrap().to_bits();
        assert_eq!(
            lr(&uninterrupted),
            lr(&resumed),
            "{what}: group {group}'s rate"
        );
    }
    let losses = |t: &Trainer| {
        t.history()
            .epochs
            .iter()
            .map(|r| (r.train_loss, r.validation_loss))
            .collect::<Vec<_>>()
    };
    assert_eq!(losses(&uninterrupted), losses(&resumed), "{what}");
    assert_eq!(
        uninterrupted.history().best_epoch,
        resumed.history().best_epoch,
        "{what}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

fn one_group(config: impl Into<OptimizerConfig>) -> Vec<ParamGroup> {
    let names = ["0.weight", "0.bias", "2.weight", "2.bias"].map(String::from);
    vec![ParamGroup::new(names.to_vec(), config)]
}

#[test]
fn resuming_from_a_checkpoint_equals_an_uninterrupted_run() {
    let adam = AdamConfig {
        lr: 0.01,
        amsgrad: true,
        ..AdamConfig::default()
    };
    let with_patience = TrainConfig {
        patience: Some(100),
        ..config(8, 32)
    };
    resume_equals_uninterrupted("Adam AMSGrad", &one_group(adam), with_patience);
}

/// The rate after the resume continues the schedule where the save left it (StepLR decays at
/// epochs 3 and 6 across the save after epoch 4; the cosine is mid-descent).
#[test]
fn a_resume_continues_the_learning_rate_schedule() {
    let sgd = SgdConfig {
        lr: 0.05,
        momentum: 0.9,
        ..SgdConfig::default()
    };
    for (what, lr_schedule) in [
        (
            "StepLR",
            LrSchedule::Step {
                step_size: 3,
                gamma: 0.5,
            },
        ),
        (
            "cosine",
            LrSchedule::Cosine {
                t_max: 6,
                eta_min: 1e-3,
            },
        ),
    ] {
        let train_config = TrainConfig {
            lr_schedule,
            ..config(8, 32)
        };
        resume_equals_uninterrupted(what, &one_group(sgd), train_config);
    }
}

/// Two parameter groups (weights with L2 and their own rate, biases without), each with its
/// own optimizer state, resumed.
#[test]
fn a_resume_keeps_each_parameter_groups_state() {
    let weights = AdamConfig {
        lr: 0.01,
        weight_decay: 0.1,
        ..AdamConfig::default()
    };
    let biases = AdamConfig {
        lr: 0.003,
        betas: (0.8, 0.99),
        ..AdamConfig::default()
    };
    let groups = vec![
        ParamGroup::new(vec!["0.weight".into(), "2.weight".into()], weights),
        ParamGroup::new(vec!["0.bias".into(), "2.bias".into()], biases),
    ];
    let train_config = TrainConfig {
        lr_schedule: LrSchedule::Step {
            step_size: 2,
            gamma: 0.7,
        },
        ..config(8, 32)
    };
    resume_equals_uninterrupted("two groups", &groups, train_config);
}

#[test]
fn early_stopping_restores_the_best_weights() {
    let gpu = gpu();
    let p = prepared(&diabetes().unwrap());
    // A wide network and a high learning rate overfit this small split quickly.
    let model = Mlp::new(gpu, &[10, 64, 64, 1], Task::Regression, 1).unwrap();
    let train_config = TrainConfig {
        patience: Some(5),
        ..config(200, 16)
    };
    let mut trainer = Trainer::new(
        gpu,
        model,
        AdamConfig {
            lr: 0.01,
            ..AdamConfig::default()
        },
        &p.train,
        Some(&p.validation),
        train_config,
    )
    .unwrap();
    let history = trainer.fit().unwrap().clone();
    assert!(
        history.stopped_early,
        "expected an early stop within 200 epochs"
    );
    let best = history.best().unwrap();
    assert!(best.epoch < history.epochs.len());
    assert_eq!(
        history.epochs.len() - best.epoch,
        5,
        "stops after `patience` epochs without improvement"
    );
    // The model now scores the best epoch's validation loss, not the last one's.
    let pred = trainer
        .model()
        .predict(gpu, p.validation.features(), p.validation.len())
        .unwrap();
    let (mse, _) = reference::loss::mse(&pred, &p.validation.target_values());
    let want = best.validation_loss.unwrap();
    assert!(
        (mse - want).abs() <= 1e-5 * want,
        "restored model's validation loss {mse} vs best {want}"
    );
    assert!(history.last().unwrap().validation_loss.unwrap() > want);
}

#[test]
fn a_diverging_run_stops_with_an_error_and_keeps_the_last_finite_weights() {
    let gpu = gpu();
    let p = prepared(&diabetes().unwrap());
    let model = Mlp::new(gpu, &[10, 5, 1], Task::Regression, 2).unwrap();
    let sgd = SgdConfig {
        lr: 1e6,
        ..SgdConfig::default()
    }; // diverges within a few steps
    let mut trainer = Trainer::new(gpu, model, sgd, &p.train, None, config(10, 32)).unwrap();
    let before = trainer
        .model()
        .params()
        .values()
        .to_vec::<f32>(gpu)
        .unwrap();
    match trainer.run_epoch() {
        Err(Error::NonFinite {
            epoch: 1,
            step,
            restored_epoch: 0,
            ..
        }) => assert!(step >= 1),
        other => panic!("expected a non-finite loss error, got {other:?}"),
    }
    let after = trainer
        .model()
        .params()
        .values()
        .to_vec::<f32>(gpu)
        .unwrap();
    assert_eq!(
        before, after,
        "the parameters must be back at the start of the epoch"
    );
    assert_eq!(trainer.optimizer().step_count(), 0);
    assert!(trainer.history().epochs.is_empty());
}

#[test]
fn a_step_of_the_10_5_1_network_takes_7_dispatches() {
    let gpu = gpu();
    let p = prepared(&diabetes().unwrap());
    let model = Mlp::new(gpu, &[10, 5, 1], Task::Regression, 0).unwrap();
    let mut trainer = Trainer::new(
        gpu,
        model,
        AdamConfig::default(),
        &p.train,
        None,
        config(1, 32),
    )
    .unwrap();
    // forward 2 (bias and ReLU fused into each matmul), loss with its gradient and mean 1,
    // backward 3 (dW₂ with db₂ as its row sums; dH₁ = dY·W₂ with the ReLU mask fused; dW₁ with
    // db₁), optimizer 1 (all parameters).
    assert_eq!(trainer.dispatches_per_step(), 7);
    trainer.run_epoch().unwrap();
    // Plus the epoch's one shuffle of the training data into batches.
    assert_eq!(
        trainer.dispatches_last_epoch(),
        7 * trainer.steps_per_epoch() + 1
    );
}

#[test]
fn bad_training_arguments_are_typed_errors() {
    let gpu = gpu();
    let p = prepared(&diabetes().unwrap());
    let new = |sizes: &[usize], c: TrainConfig, val: bool| {
        let model = Mlp::new(gpu, sizes, Task::Regression, 0).unwrap();
        Trainer::new(
            gpu,
            model,
            SgdConfig::default(),
            &p.train,
            val.then_some(&p.validation),
            c,
        )
    };
    assert!(matches!(
        new(
            &[10, 1],
            TrainConfig {
                batch_size: 0,
                ..config(1, 1)
            },
            false
        ),
        Err(Error::InvalidArgument { .. })
    ));
    assert!(matches!(
        new(&[10, 1], config(0, 32), false),
        Err(Error::InvalidArgument { .. })
    ));
    assert!(matches!(
        new(
            &[10, 1],
            TrainConfig {
                patience: Some(3),
                ..config(5, 32)
            },
            false
        ),
        Err(Error::InvalidArgument { .. })
    ));
    // Patience 0 would mean no early stopping at all: refused, not silently ignored.
    let err = new(
        &[10, 1],
        TrainConfig {
            patience: Some(0),
            ..config(5, 32)
        },
        true,
    )
    .unwrap_err();
    assert!(
        matches!(err, Error::InvalidArgument { .. }) && err.to_string().contains("patience"),
        "{err}"
    );
    let err = new(&[4, 1], config(1, 32), false).unwrap_err();
    assert!(err.to_string().contains("10 features"), "{err}");
    let classes = Mlp::new(gpu, &[10, 3], Task::Multiclass, 0).unwrap();
    assert!(matches!(
        Trainer::new(
            gpu,
            classes,
            SgdConfig::default(),
            &p.train,
            None,
            config(1, 32)
        ),
        Err(Error::ModelMismatch(_))
    ));
}
