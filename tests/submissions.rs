//! Many epochs per submission, with the end-of-epoch decisions (early stopping, the best
//! weights, divergence and its rollback) made on the GPU: the same run bit for bit whatever
//! the number of epochs a submission holds, on the general path and the small-model path.

mod common;

use common::outcome::{outcome, Outcome};
use common::{epoch_path, gpu, param_bits};
use wgsl_train::data::{diabetes, Prepared, SplitConfig};
use wgsl_train::nn::Mlp;
use wgsl_train::optim::{AdamConfig, OptimizerConfig, SgdConfig};
use wgsl_train::train::{LrSchedule, TrainConfig, Trainer};
use wgsl_train::Error;

fn prepared() -> Prepared {
    Prepared::new(&diabetes().unwrap(), &SplitConfig::default()).unwrap()
}

fn run(
    optimizer: OptimizerConfig,
    config: TrainConfig,
    submission_epochs: Option<usize>,
) -> Outcome {
    let p = prepared();
    let gpu = gpu();
    let model = Mlp::new(gpu, &[10, 5, 1], p.train.task(), 3).unwrap();
    let config = TrainConfig {
        submission_epochs,
        ..config
    };
    let mut trainer =
        Trainer::new(gpu, model, optimizer, &p.train, Some(&p.validation), config).unwrap();
    let error = trainer.fit().err();
    outcome(gpu, &trainer, error)
}

/// Early stopping that fires in the middle of a submission: the epochs after it are no-ops
/// (the optimizer state and step count show it; the weights are the best epoch's either way).
fn stopping_run(single_dispatch_epochs: bool) -> TrainConfig {
    TrainConfig {
        epochs: 60,
        batch_size: 32,
        seed: 9,
        patience: Some(4),
        min_delta: 0.01,
        lr_schedule: LrSchedule::Step {
            step_size: 5,
            gamma: 0.7,
        },
        single_dispatch_epochs: epoch_path(single_dispatch_epochs),
        ..TrainConfig::default()
    }
}

#[test]
fn early_stopping_is_the_same_whatever_the_epochs_per_submission() {
    let adam = AdamConfig {
        lr: 0.01,
        weight_decay: 0.01,
        ..AdamConfig::default()
    };
    for single in [false, true] {
        let one = run(adam.into(), stopping_run(single), Some(1));
        assert!(
            one.stopped_early,
            "the run should stop early: {:?}",
            one.epochs.len()
        );
        assert!(
            one.epochs.len() < 50,
            "stopped after {} epochs",
            one.epochs.len()
        );
        // Each epoch's training loss is the mean of its step losses weighted by their rows
        // (batches of 32, the last one short), summed in f32 on the GPU.
        let n = prepared().train.len();
        for (epoch, train, _, steps) in &one.epochs {
            let weighted: f64 = steps
                .iter()
                .enumerate()
                .map(|(s, &b)| f64::from(f32::from_bits(b)) * (32.min(n - 32 * s)) as f64)
                .sum::<f64>()
                / n as f64;
            let train = f64::from_bits(*train);
            assert!(
                (train - weighted).abs() <= 1e-6 * weighted,
                "epoch {epoch}: training loss {train} vs {weighted}"
            );
        }
        // The rule as documented, replayed on the recorded validation losses: an improvement
        // is a loss below the best by more than min_delta (in f32), and 4 epochs without one
        // stop the run.
        let (mut best, mut since) = ((0, f32::INFINITY), 0);
        for (epoch, _, validation, _) in &one.epochs {
            let loss = f64::from_bits(validation.unwrap()) as f32;
            if loss < best.1 - 0.01 {
                (best, since) = ((*epoch, loss), 0);
            } else {
                since += 1;
            }
        }
        assert_eq!(one.best_epoch, Some(best.0));
        assert_eq!(
            since, 4,
            "the run stops after patience epochs without improvement"
        );
        assert!(
            !one.epochs.len().is_multiple_of(7),
            "the stop should fall inside a submission of 7"
        );
        for k in [Some(7), Some(32), None] {
            let many = run(adam.into(), stopping_run(single), k);
            assert!(
                many == one,
                "single dispatch {single}, {k:?} epochs per submission: differs from one"
            );
        }
    }
}

/// SGD with a rate that makes the loss explode in epoch 3 (a NaN at step 6).
fn diverging_sgd() -> OptimizerConfig {
    SgdConfig {
        lr: 0.3,
        momentum: 0.9,
        ..SgdConfig::default()
    }
    .into()
}

#[test]
fn a_divergence_inside_a_submission_rolls_back_as_one_epoch_per_submission_does() {
    for single in [false, true] {
        let config = TrainConfig {
            epochs: 40,
            seed: 2,
            single_dispatch_epochs: epoch_path(single),
            ..TrainConfig::default()
        };
        let one = run(diverging_sgd(), config.clone(), Some(1));
        let error = one.error.as_deref().unwrap_or("no error");
        assert!(
            error.starts_with("NonFinite") || error.starts_with("Diverged"),
            "expected a divergence, got {error}"
        );
        assert!(
            one.epochs.len() >= 2,
            "the divergence should come after a few epochs, not in epoch {}",
            one.epochs.len() + 1
        );
        let many = run(diverging_sgd(), config, Some(16));
        assert!(
            many == one,
            "single dispatch {single}: 16 epochs per submission differ from one:\n{many:?}\n{one:?}"
        );
    }
}

#[test]
fn submissions_end_at_every_multiple_of_submission_epochs() {
    let p = prepared();
    let gpu = gpu();
    let model = Mlp::new(gpu, &[10, 5, 1], p.train.task(), 3).unwrap();
    let config = TrainConfig {
        epochs: 10,
        submission_epochs: Some(4),
        ..TrainConfig::default()
    };
    let mut trainer =
        Trainer::new(gpu, model, AdamConfig::default(), &p.train, None, config).unwrap();
    // What the callback sees of the weights at each epoch: they change only where a
    // submission ends (epochs 4, 8 and 10).
    let mut seen = Vec::new();
    trainer
        .fit_with(|t| {
            seen.push((t.history().epochs.len(), param_bits(t.model().params())));
            Ok(())
        })
        .unwrap();
    let epochs: Vec<usize> = seen.iter().map(|(e, _)| *e).collect();
    assert_eq!(epochs, (1..=10).collect::<Vec<_>>());
    for pair in seen.windows(2) {
        let changed = pair[0].1 != pair[1].1;
        let ended = [4, 8].contains(&pair[0].0);
        assert_eq!(
            changed, ended,
            "weights seen after epochs {} and {}",
            pair[0].0, pair[1].0
        );
    }
    let bad = TrainConfig {
        submission_epochs: Some(0),
        ..TrainConfig::default()
    };
    assert!(matches!(bad.validate(), Err(Error::InvalidArgument { .. })));
}
