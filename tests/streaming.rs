//! A training split streamed from the host a chunk at a time — because it does not fit one
//! storage binding, or because `TrainConfig::chunk_rows` asks for it — trains exactly as the
//! same split uploaded whole: the same history, weights and optimizer state, bit for bit, so
//! every epoch visited every row once in the same seeded order across the chunks.

mod common;

use common::outcome::{outcome, Outcome};
use common::{gpu, rng, uniform};
use rand::Rng;
use wgsl_train::data::{Dataset, Task};
use wgsl_train::nn::Mlp;
use wgsl_train::optim::{AdamConfig, OptimizerConfig, SgdConfig};
use wgsl_train::train::{SingleDispatch, TrainConfig, Trainer};
use wgsl_train::{Error, Gpu, GpuOptions};

/// `rows` random rows of `features` in [-1, 1) with targets that depend on them: a noisy
/// linear value, or the class of the larger of two sums (`classes` ≥ 2).
fn random_data(seed_name: &str, rows: usize, features: usize, classes: usize) -> Dataset {
    let (mut rng, _) = rng(seed_name);
    let x = uniform(&mut rng, rows * features, -1.0, 1.0);
    let row = |i: usize| &x[i * features..(i + 1) * features];
    if classes == 0 {
        let y = (0..rows)
            .map(|i| row(i).iter().sum::<f32>() + rng.random_range(-0.1..0.1))
            .collect();
        return Dataset::regression(x.clone(), features, y).unwrap();
    }
    let labels = (0..rows)
        .map(|i| {
            let s: f32 = row(i).iter().enumerate().map(|(c, v)| v * c as f32).sum();
            ((s.abs() * 3.0) as u32).min(classes as u32 - 1)
        })
        .collect();
    let names = (0..classes).map(|c| format!("c{c}")).collect();
    Dataset::classification(x.clone(), features, labels, names).unwrap()
}

/// Trains a network with one hidden layer of `hidden` on `data` (training, validation) on the
/// general path (the one a streamed split takes) and returns what the run left, and the
/// trainer's chunk size when it streamed.
fn train(
    gpu: &Gpu,
    data: (&Dataset, Option<&Dataset>),
    hidden: usize,
    optimizer: OptimizerConfig,
    config: TrainConfig,
) -> (Outcome, Option<usize>) {
    let config = TrainConfig {
        single_dispatch_epochs: SingleDispatch::Never,
        ..config
    };
    let (train, validation) = data;
    let sizes = [train.n_features(), hidden, train.n_outputs()];
    let model = Mlp::new(gpu, &sizes, train.task(), 11).unwrap();
    let mut trainer = Trainer::new(gpu, model, optimizer, train, validation, config).unwrap();
    let error = trainer.fit().err();
    (outcome(gpu, &trainer, error), trainer.chunk_steps())
}

fn small_binding_gpu(bytes: u64) -> Gpu {
    Gpu::with_options(GpuOptions {
        max_storage_buffer_binding_size: Some(bytes),
        ..GpuOptions::default()
    })
    .unwrap()
}

#[test]
fn a_split_larger_than_a_binding_is_streamed_and_trains_as_if_uploaded() {
    // 1,000 rows × 7 features = 28,000 bytes; a binding of 4 KiB holds 4 of the 32 batches
    // (the last one 8 rows), so an epoch runs in 8 chunks.
    let train_data = random_data("stream-binding-train", 1000, 7, 0);
    let validation = random_data("stream-binding-val", 60, 7, 0);
    let small = small_binding_gpu(4096);
    // Early stopping on, but with patience that 6 epochs cannot use up: on random data a
    // shorter patience stopped some runs early (at random), and both runs must go all 6.
    let config = TrainConfig {
        epochs: 6,
        seed: 5,
        patience: Some(6),
        ..TrainConfig::default()
    };
    let data = (&train_data, Some(&validation));
    let adam = OptimizerConfig::from(AdamConfig {
        lr: 0.01,
        ..AdamConfig::default()
    });
    let (uploaded, uploaded_chunks) = train(gpu(), data, 6, adam, config.clone());
    let (streamed, streamed_chunks) = train(&small, data, 6, adam, config);
    assert_eq!((uploaded_chunks, streamed_chunks), (None, Some(4)));
    assert_eq!(streamed.epochs.len(), 6);
    assert_eq!(streamed, uploaded);
}

#[test]
fn chunk_rows_streams_at_any_chunk_size_with_the_same_results() {
    // 333 rows, batches of 16: 21 steps, the last of 13 rows. Chunks of 1 step (fewer rows
    // than a batch), 4 steps (the last chunk one step), 6 steps, and all of them. 8 features
    // (the uploaded split is shuffled four at a time) and 5 (one at a time).
    let cases = [
        ("multiclass", random_data("stream-chunks-multi", 333, 8, 4)),
        ("binary", random_data("stream-chunks-binary", 333, 5, 2)),
    ];
    for (name, data) in &cases {
        let sgd = OptimizerConfig::from(SgdConfig {
            lr: 0.05,
            momentum: 0.9,
            nesterov: true,
            weight_decay: 1e-3,
            l1: 1e-4,
            ..SgdConfig::default()
        });
        let config = |chunk_rows| TrainConfig {
            epochs: 4,
            batch_size: 16,
            seed: 9,
            chunk_rows,
            ..TrainConfig::default()
        };
        let (uploaded, _) = train(gpu(), (data, None), 7, sgd, config(None));
        for (chunk_rows, chunk_steps) in [(1, 1), (64, 4), (100, 6), (10_000, 21)] {
            let (streamed, chunks) = train(gpu(), (data, None), 7, sgd, config(Some(chunk_rows)));
            assert_eq!(chunks, Some(chunk_steps));
            assert_eq!(streamed, uploaded, "{name}, chunk_rows {chunk_rows}");
        }
    }
}

#[test]
fn a_divergence_while_streaming_is_rolled_back_as_when_uploaded() {
    let data = random_data("stream-diverge", 200, 4, 0);
    let sgd = OptimizerConfig::from(SgdConfig {
        lr: 40.0,
        ..SgdConfig::default()
    });
    let config = |chunk_rows| TrainConfig {
        epochs: 5,
        batch_size: 8,
        chunk_rows,
        ..TrainConfig::default()
    };
    let (uploaded, _) = train(gpu(), (&data, None), 8, sgd, config(None));
    assert!(uploaded.error.is_some(), "lr 40 must diverge: {uploaded:?}");
    let (streamed, chunks) = train(gpu(), (&data, None), 8, sgd, config(Some(24)));
    assert_eq!(chunks, Some(3));
    assert_eq!(streamed, uploaded);
}

#[test]
fn single_dispatch_epochs_refuse_a_streamed_split() {
    let data = random_data("stream-single", 64, 10, 0);
    let model = Mlp::new(gpu(), &[10, 5, 1], Task::Regression, 0).unwrap();
    let config = TrainConfig {
        single_dispatch_epochs: SingleDispatch::Always,
        chunk_rows: Some(32),
        ..TrainConfig::default()
    };
    let err = Trainer::new(gpu(), model, SgdConfig::default(), &data, None, config).unwrap_err();
    assert!(
        matches!(err, Error::InvalidArgument { .. }) && err.to_string().contains("streamed"),
        "{err}"
    );
}

#[test]
fn a_batch_larger_than_a_binding_is_refused_naming_the_limit() {
    // One batch of 64 rows × 100 features is 25,600 bytes; the binding allows 8 KiB.
    let data = random_data("stream-big-batch", 200, 100, 0);
    let small = small_binding_gpu(8192);
    let model = Mlp::new(&small, &[100, 4, 1], Task::Regression, 0).unwrap();
    let config = TrainConfig {
        batch_size: 64,
        ..TrainConfig::default()
    };
    let err = Trainer::new(&small, model, SgdConfig::default(), &data, None, config).unwrap_err();
    match &err {
        Error::TooLarge {
            size,
            limit,
            limit_name,
            ..
        } => assert_eq!(
            (*size, *limit, *limit_name),
            (25_600, 8192, "max_storage_buffer_binding_size")
        ),
        other => panic!("expected TooLarge, got {other}"),
    }
    assert!(err.to_string().contains("mini-batch"), "{err}");
}

#[test]
fn chunk_rows_zero_is_refused() {
    let config = TrainConfig {
        chunk_rows: Some(0),
        ..TrainConfig::default()
    };
    assert!(matches!(
        config.validate(),
        Err(Error::InvalidArgument { .. })
    ));
}

#[test]
fn the_classic_experiment_streams_and_scores_splits_larger_than_a_binding() {
    // The diabetes training split (310 rows × 10 features, 12,400 bytes) against a 4 KiB
    // binding: the small-model path would need it whole, so the experiment trains it streamed
    // on the general path, and scores it in chunks of 102 rows. The same experiment on the
    // general path with the split uploaded trains bit for bit alike; its scores agree within
    // the rounding of chunked predictions.
    let small = small_binding_gpu(4096);
    let data = wgsl_train::data::diabetes().unwrap();
    let classic = wgsl_train::experiment::Experiment::classic(AdamConfig::default().into());
    let classic = wgsl_train::experiment::Experiment {
        train: TrainConfig {
            epochs: 8,
            ..classic.train
        },
        ..classic
    };
    let run = classic.start(&small, &data).unwrap();
    assert!(!run.trainer().single_dispatch_epochs());
    assert!(run.trainer().chunk_steps().is_some());
    let streamed = classic.run(&small, &data).unwrap();
    let general = wgsl_train::experiment::Experiment {
        train: TrainConfig {
            single_dispatch_epochs: SingleDispatch::Never,
            ..classic.train.clone()
        },
        ..classic
    };
    let uploaded = general.run(gpu(), &data).unwrap();
    assert_eq!(streamed.history, uploaded.history);
    for (s, u) in streamed.scores.iter().zip(&uploaded.scores) {
        for ((name, s), (_, u)) in s.model.named_values().iter().zip(u.model.named_values()) {
            assert!(
                (s - u).abs() <= 1e-5 * u.abs() + 1e-6,
                "{name}: {s} against {u}"
            );
        }
    }
}

#[test]
fn a_validation_split_larger_than_a_binding_is_measured_in_chunks() {
    // 300 validation rows × 7 features = 8,400 bytes against a 4 KiB binding: chunks of
    // 146 rows (4,096 / (4 × 7), the widest layer being the 7 inputs), three of them.
    let train_data = random_data("stream-val-train", 400, 7, 0);
    let validation = random_data("stream-val-val", 300, 7, 0);
    let small = small_binding_gpu(4096);
    let config = TrainConfig {
        epochs: 6,
        seed: 2,
        patience: Some(2),
        ..TrainConfig::default()
    };
    let sgd = OptimizerConfig::from(SgdConfig {
        lr: 0.02,
        momentum: 0.5,
        ..SgdConfig::default()
    });
    let data = (&train_data, Some(&validation));
    let (whole, _) = train(gpu(), data, 6, sgd, config.clone());
    let (chunked, _) = train(&small, data, 6, sgd, config);
    // One mean over 300 rows against three chunk means combined by their rows: equal within
    // rounding, not bit for bit.
    assert_eq!(whole.epochs.len(), chunked.epochs.len());
    for (w, c) in whole.epochs.iter().zip(&chunked.epochs) {
        let (w, c) = (f64::from_bits(w.2.unwrap()), f64::from_bits(c.2.unwrap()));
        assert!(
            (w - c).abs() <= 1e-6 * w.abs(),
            "validation loss {c} against {w}"
        );
    }
    // Training itself does not depend on how the validation split is held.
    let without_validation = |o: &Outcome| {
        let epochs: Vec<_> = o.epochs.iter().map(|e| (e.0, e.1, e.3.clone())).collect();
        (epochs, o.params.clone(), o.state.clone(), o.best_epoch)
    };
    assert_eq!(without_validation(&chunked), without_validation(&whole));
}

#[test]
fn predictions_of_more_rows_than_a_binding_holds_come_in_chunks() {
    let data = random_data("stream-predict", 1000, 7, 0);
    let small = small_binding_gpu(4096);
    let sizes = [7, 6, 1];
    let on = |gpu: &Gpu| {
        let model = Mlp::new(gpu, &sizes, Task::Regression, 4).unwrap();
        model.predict(gpu, data.features(), data.len()).unwrap()
    };
    let (whole, chunked) = (on(gpu()), on(&small));
    assert_eq!(chunked.len(), 1000);
    for (i, (w, c)) in whole.iter().zip(&chunked).enumerate() {
        assert!(
            (w - c).abs() <= 1e-5 * w.abs() + 1e-6,
            "row {i}: {c} against {w}"
        );
    }
}
