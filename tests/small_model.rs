//! The small-model path (a whole epoch in one dispatch) against the general path: the same
//! losses and weights within the kernel tolerance, one dispatch an epoch, clear refusals.

mod common;

use common::{epoch_path, gpu, param_bits};
use wgsl_train::data::{diabetes, iris, wine_quality, Dataset, Prepared, SplitConfig};
use wgsl_train::nn::Mlp;
use wgsl_train::optim::{AdamConfig, OptimizerConfig, ParamGroup, SgdConfig};
use wgsl_train::train::{SingleDispatch, TrainConfig, Trainer};
use wgsl_train::{Error, Gpu};

fn config(epochs: usize, batch_size: usize, single: bool) -> TrainConfig {
    TrainConfig {
        epochs,
        batch_size,
        seed: 5,
        single_dispatch_epochs: epoch_path(single),
        ..TrainConfig::default()
    }
}

fn trainer<'g>(
    gpu: &'g Gpu,
    data: &Prepared,
    sizes: &[usize],
    optimizer: OptimizerConfig,
    c: TrainConfig,
) -> Trainer<'g> {
    let model = Mlp::new(gpu, sizes, data.train.task(), 3).unwrap();
    Trainer::new(
        gpu,
        model,
        optimizer,
        &data.train,
        Some(&data.validation),
        c,
    )
    .unwrap()
}

fn check_same_as_general(
    data: &Dataset,
    sizes: &[usize],
    optimizer: OptimizerConfig,
    epochs: usize,
    batch: usize,
) {
    let gpu = gpu();
    let p = Prepared::new(data, &SplitConfig::default()).unwrap();
    let mut general = trainer(gpu, &p, sizes, optimizer, config(epochs, batch, false));
    let mut single = trainer(gpu, &p, sizes, optimizer, config(epochs, batch, true));
    general.fit().unwrap();
    single.fit().unwrap();
    for (g, s) in general
        .history()
        .epochs
        .iter()
        .zip(&single.history().epochs)
    {
        for (i, (&a, &b)) in g.step_losses.iter().zip(&s.step_losses).enumerate() {
            let tol = 1e-3 * f64::from(a.abs()).max(1e-3);
            assert!(
                (f64::from(a) - f64::from(b)).abs() <= tol,
                "{sizes:?} epoch {} step {i}: general {a} vs single {b}",
                g.epoch
            );
        }
        let (gv, sv) = (g.validation_loss.unwrap(), s.validation_loss.unwrap());
        assert!(
            (gv - sv).abs() <= 1e-3 * gv.abs().max(1e-3),
            "validation {gv} vs {sv}"
        );
    }
    let weights = |t: &Trainer| t.model().params().values().to_vec::<f32>(gpu).unwrap();
    for (i, (a, b)) in weights(&general).iter().zip(weights(&single)).enumerate() {
        assert!(
            (a - b).abs() <= 1e-3 * (1.0 + a.abs()),
            "{sizes:?} weight {i}: general {a} vs single {b}"
        );
    }
    assert_eq!(
        general.optimizer().step_count(),
        single.optimizer().step_count()
    );
}

#[test]
fn single_dispatch_epochs_match_the_general_path() {
    let adam = AdamConfig {
        lr: 0.003,
        weight_decay: 1e-2,
        l1: 1e-3,
        amsgrad: true,
        ..AdamConfig::default()
    };
    check_same_as_general(&diabetes().unwrap(), &[10, 5, 1], adam.into(), 12, 32);
    // Full batch: the 310 training rows in one step (4,960 activations, 1,860 gradients).
    check_same_as_general(&diabetes().unwrap(), &[10, 5, 1], adam.into(), 12, 310);
    let sgd = SgdConfig {
        lr: 0.01,
        momentum: 0.9,
        nesterov: true,
        weight_decay: 1e-3,
        ..SgdConfig::default()
    };
    check_same_as_general(&diabetes().unwrap(), &[10, 8, 4, 1], sgd.into(), 12, 32);
    let adamw = AdamConfig {
        lr: 0.01,
        ..AdamConfig::adamw()
    };
    check_same_as_general(&iris().unwrap(), &[4, 8, 3], adamw.into(), 15, 16);
    let sgd = SgdConfig {
        lr: 0.05,
        momentum: 0.5,
        dampening: 0.1,
        l1: 1e-4,
        ..SgdConfig::default()
    };
    check_same_as_general(&wine_quality().unwrap(), &[11, 6, 1], sgd.into(), 2, 16);
}

#[test]
fn an_epoch_is_one_dispatch_and_reproducible() {
    let gpu = gpu();
    let p = Prepared::new(&diabetes().unwrap(), &SplitConfig::default()).unwrap();
    let run = || {
        let model = Mlp::new(gpu, &[10, 5, 1], p.train.task(), 3).unwrap();
        let mut t = Trainer::new(
            gpu,
            model,
            AdamConfig::default(),
            &p.train,
            None,
            config(3, 32, true),
        )
        .unwrap();
        t.fit().unwrap();
        assert_eq!(t.dispatches_last_epoch(), 1);
        param_bits(t.model().params())
    };
    assert!(run() == run(), "two single-dispatch runs differ");
}

#[test]
fn models_that_do_not_fit_are_refused_with_the_reason() {
    let gpu = gpu();
    let p = Prepared::new(&diabetes().unwrap(), &SplitConfig::default()).unwrap();
    let model = Mlp::new(gpu, &[10, 256, 1], p.train.task(), 0).unwrap();
    let err = Trainer::new(
        gpu,
        model,
        AdamConfig::default(),
        &p.train,
        None,
        config(1, 128, true),
    )
    .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
    assert!(err.to_string().contains("workgroup memory"), "{err}");
}

#[test]
fn a_diverging_single_dispatch_epoch_is_rolled_back() {
    let gpu = gpu();
    let p = Prepared::new(&diabetes().unwrap(), &SplitConfig::default()).unwrap();
    let model = Mlp::new(gpu, &[10, 5, 1], p.train.task(), 2).unwrap();
    let mut t = Trainer::new(
        gpu,
        model,
        SgdConfig {
            lr: 1e6,
            ..SgdConfig::default()
        },
        &p.train,
        None,
        config(5, 32, true),
    )
    .unwrap();
    let before = t.model().params().values().to_vec::<f32>(gpu).unwrap();
    assert!(matches!(
        t.run_epoch(),
        Err(Error::NonFinite { epoch: 1, .. })
    ));
    assert_eq!(
        t.model().params().values().to_vec::<f32>(gpu).unwrap(),
        before
    );
    assert_eq!(t.optimizer().step_count(), 0);
}

/// One check that data fits the model, on both paths: a 4-class dataset (class indices 0–3)
/// on a 3-output network is the same typed error whichever path would train it, before any
/// kernel could see class index 3.
#[test]
fn data_that_does_not_fit_the_model_is_the_same_error_on_both_paths() {
    let gpu = gpu();
    let rows = 40;
    let features: Vec<f32> = (0..rows * 2).map(|i| (i as f32 * 0.37).sin()).collect();
    let labels: Vec<u32> = (0..rows as u32).map(|i| i % 4).collect();
    let names = ["a", "b", "c", "d"].map(String::from).to_vec();
    let four_classes = Dataset::classification(features, 2, labels, names).unwrap();
    let mut messages = Vec::new();
    for single in [false, true] {
        let model = Mlp::new(gpu, &[2, 5, 3], four_classes.task(), 0).unwrap();
        let err = Trainer::new(
            gpu,
            model,
            SgdConfig::default(),
            &four_classes,
            None,
            config(1, 8, single),
        )
        .unwrap_err();
        assert!(matches!(err, Error::ModelMismatch(_)), "{err}");
        messages.push(err.to_string());
    }
    assert_eq!(messages[0], messages[1]);
    assert!(
        messages[0].contains("4 classes") && messages[0].contains("3 outputs"),
        "{}",
        messages[0]
    );
}

#[test]
fn the_classic_experiment_takes_the_small_model_path_where_it_fits() {
    let gpu = gpu();
    let data = diabetes().unwrap();
    let classic = wgsl_train::experiment::Experiment::classic(AdamConfig::default().into());
    let run = classic.start(gpu, &data).unwrap();
    assert!(run.trainer().single_dispatch_epochs());
    assert_eq!(run.trainer().dispatches_per_step(), 1);
    // 64 hidden units: a batch's hidden gradients (32 × 64) exceed the kernel's workgroup
    // memory, so the same experiment trains on the general path instead of failing.
    let wide = wgsl_train::experiment::Experiment {
        hidden: vec![64],
        ..classic.clone()
    };
    let run = wide.start(gpu, &data).unwrap();
    assert!(!run.trainer().single_dispatch_epochs());
    assert!(run.trainer().dispatches_per_step() > 1);
    // GELU keeps its pre-activations in workgroup memory too: 10→5→1 still fits; five
    // hidden layers of GELU (more than the kernel's four layers) fall back without fault.
    let gelu = wgsl_train::experiment::Experiment {
        activations: vec![wgsl_train::nn::Activation::Gelu],
        init: Default::default(),
        ..classic.clone()
    };
    assert!(gelu
        .start(gpu, &data)
        .unwrap()
        .trainer()
        .single_dispatch_epochs());
    let deep = wgsl_train::experiment::Experiment {
        hidden: vec![4; 5],
        ..gelu
    };
    assert!(!deep
        .start(gpu, &data)
        .unwrap()
        .trainer()
        .single_dispatch_epochs());
}

/// `Auto` (the default) takes the one-dispatch path where it can and the general path where
/// it cannot; `Always` refuses, saying why; `Never` takes the general path.
#[test]
fn the_trainer_chooses_its_epoch_path_as_the_config_says() {
    let gpu = gpu();
    let p = Prepared::new(&diabetes().unwrap(), &SplitConfig::default()).unwrap();
    let build = |sizes: &[usize], groups: bool, choice| {
        let model = Mlp::new(gpu, sizes, p.train.task(), 3).unwrap();
        let sgd = OptimizerConfig::from(SgdConfig::default());
        let names: Vec<String> = model
            .params()
            .slots()
            .iter()
            .map(|s| s.name.clone())
            .collect();
        let groups = if groups {
            // Weights and biases in two groups: the kernel takes one.
            let (weights, biases) = names.into_iter().partition(|n| n.ends_with("weight"));
            vec![ParamGroup::new(weights, sgd), ParamGroup::new(biases, sgd)]
        } else {
            vec![ParamGroup::new(names, sgd)]
        };
        let config = TrainConfig {
            epochs: 1,
            single_dispatch_epochs: choice,
            ..TrainConfig::default()
        };
        Trainer::with_groups(gpu, model, groups, &p.train, None, config)
    };
    let path = |t: Trainer| t.single_dispatch_epochs();
    assert_eq!(
        TrainConfig::default().single_dispatch_epochs,
        SingleDispatch::Auto
    );
    assert!(path(
        build(&[10, 5, 1], false, SingleDispatch::Auto).unwrap()
    ));
    assert!(path(
        build(&[10, 5, 1], false, SingleDispatch::Always).unwrap()
    ));
    assert!(!path(
        build(&[10, 5, 1], false, SingleDispatch::Never).unwrap()
    ));
    for (sizes, groups, why) in [
        (&[10, 64, 1][..], false, "workgroup memory"),
        (&[10, 5, 1][..], true, "one optimizer group"),
    ] {
        assert!(!path(build(sizes, groups, SingleDispatch::Auto).unwrap()));
        let err = build(sizes, groups, SingleDispatch::Always).err().unwrap();
        assert!(
            matches!(err, Error::InvalidArgument { .. }) && err.to_string().contains(why),
            "{err}"
        );
    }
}
