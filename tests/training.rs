//! End-to-end training on the GPU against the CPU reference, reproducibility, resuming from a
//! checkpoint, early stopping, the divergence guard, and the dispatch count per step.

mod common;

use common::{gpu, param_bits};
use wgsl_train::checkpoint::{load_model, restore_training, save, RunInfo};
use wgsl_train::data::Prepared;
use wgsl_train::data::{diabetes, iris, wine_quality, Dataset, SplitConfig, Task};
use wgsl_train::nn::Mlp;
use wgsl_train::optim::{AdamConfig, OptimizerConfig, SgdConfig};
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

/// Trains on the GPU, then replays the run on the CPU reference from the same weights and
/// batch order (`common::replay`, shared with the browser's tests).
fn check_against_reference(
    data: &Dataset,
    sizes: &[usize],
    optimizer: OptimizerConfig,
    epochs: usize,
    batch: usize,
) {
    let gpu = gpu();
    let p = prepared(data);
    let model = Mlp::new(gpu, sizes, data.task(), 5).unwrap();
    let weights = |model: &Mlp| -> Vec<Vec<f32>> {
        let dict = model.state_dict(gpu).unwrap();
        dict.into_iter().map(|t| t.data).collect()
    };
    let initial = weights(&model);
    let loss = model.loss_kind();
    let mut trainer =
        Trainer::new(gpu, model, optimizer, &p.train, None, config(epochs, batch)).unwrap();
    let history = trainer.fit().unwrap().clone();
    common::replay::check_against_reference(&common::replay::Run {
        train: &p.train,
        sizes,
        loss,
        optimizer,
        seed: 11,
        batch,
        initial,
        trained: weights(trainer.model()),
        history: &history,
    });
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

#[test]
fn resuming_from_a_checkpoint_equals_an_uninterrupted_run() {
    let gpu = gpu();
    let p = prepared(&diabetes().unwrap());
    let dir = std::env::temp_dir().join(format!("wgsl-train-resume-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("model.safetensors");
    let train_config = TrainConfig {
        patience: Some(100),
        ..config(8, 32)
    };
    let optimizer = AdamConfig {
        lr: 0.01,
        amsgrad: true,
        ..AdamConfig::default()
    };

    let model = Mlp::new(gpu, &[10, 5, 1], Task::Regression, 9).unwrap();
    let mut uninterrupted = Trainer::new(
        gpu,
        model,
        optimizer,
        &p.train,
        Some(&p.validation),
        train_config.clone(),
    )
    .unwrap();
    for epoch in 1..=8 {
        uninterrupted.run_epoch().unwrap();
        if epoch == 4 {
            save(gpu, &path, &uninterrupted, &RunInfo::default()).unwrap();
        }
    }

    let model = load_model(gpu, &path, None).unwrap();
    let mut resumed = Trainer::new(
        gpu,
        model,
        optimizer,
        &p.train,
        Some(&p.validation),
        train_config,
    )
    .unwrap();
    restore_training(gpu, &path, &mut resumed, &RunInfo::default()).unwrap();
    assert_eq!(resumed.history().epochs.len(), 4);
    while resumed.history().epochs.len() < 8 {
        resumed.run_epoch().unwrap();
    }
    assert!(
        param_bits(uninterrupted.model().params()) == param_bits(resumed.model().params()),
        "the resumed run's weights differ"
    );
    assert_eq!(
        uninterrupted.optimizer().step_count(),
        resumed.optimizer().step_count()
    );
    let losses = |t: &Trainer| {
        t.history()
            .epochs
            .iter()
            .map(|r| (r.train_loss, r.validation_loss))
            .collect::<Vec<_>>()
    };
    assert_eq!(losses(&uninterrupted), losses(&resumed));
    assert_eq!(
        uninterrupted.history().best_epoch,
        resumed.history().best_epoch
    );
    std::fs::remove_dir_all(&dir).ok();
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
