//! Learning-rate schedules against PyTorch's `StepLR` and `CosineAnnealingLR`, step by step,
//! and the trainer applying them through `Optimizer::set_lr`.

mod common;

use common::{epoch_path, gpu, param_bits};
use wgsl_train::data::{diabetes, Prepared, SplitConfig};
use wgsl_train::nn::Mlp;
use wgsl_train::optim::{Optimizer, ParamStore, SgdConfig};
use wgsl_train::train::{LrSchedule, TrainConfig, Trainer};
use wgsl_train::Error;

/// PyTorch's schedulers as `torch/optim/lr_scheduler.py` writes them (a fresh scheduler, one
/// `step()` per epoch): `get_lr()` computes the next rate from the group's current one.
struct TorchScheduler {
    kind: LrSchedule,
    base_lr: f64,
    group_lr: f64,
    last_epoch: i64,
}

impl TorchScheduler {
    fn new(kind: LrSchedule, lr: f64) -> Self {
        Self {
            kind,
            base_lr: lr,
            group_lr: lr,
            last_epoch: 0,
        }
    }

    fn step(&mut self) {
        self.last_epoch += 1;
        let e = self.last_epoch;
        self.group_lr = match self.kind {
            LrSchedule::Constant => self.group_lr,
            // if (last_epoch == 0) or (last_epoch % step_size != 0): group["lr"]
            // else: group["lr"] * gamma
            LrSchedule::Step { step_size, gamma } => {
                if e % step_size as i64 != 0 {
                    self.group_lr
                } else {
                    self.group_lr * gamma
                }
            }
            // elif (last_epoch - 1 - T_max) % (2 * T_max) == 0:
            //     group["lr"] + (base_lr - eta_min) * (1 - math.cos(math.pi / T_max)) / 2
            // else: (1 + cos(pi * last_epoch / T_max)) / (1 + cos(pi * (last_epoch - 1) / T_max))
            //       * (group["lr"] - eta_min) + eta_min
            LrSchedule::Cosine { t_max, eta_min } => {
                let pi = std::f64::consts::PI;
                let t = t_max as i64;
                if (e - 1 - t).rem_euclid(2 * t) == 0 {
                    self.group_lr
                        + (self.base_lr - eta_min) * (1.0 - (pi / t_max as f64).cos()) / 2.0
                } else {
                    (1.0 + (pi * e as f64 / t_max as f64).cos())
                        / (1.0 + (pi * (e - 1) as f64 / t_max as f64).cos())
                        * (self.group_lr - eta_min)
                        + eta_min
                }
            }
        };
    }
}

#[test]
fn schedules_follow_pytorch_step_by_step_to_the_last_bit() {
    let schedules = [
        LrSchedule::Step {
            step_size: 30,
            gamma: 0.1,
        },
        LrSchedule::Step {
            step_size: 3,
            gamma: 0.7,
        },
        LrSchedule::Cosine {
            t_max: 10,
            eta_min: 0.0,
        },
        LrSchedule::Cosine {
            t_max: 7,
            eta_min: 1e-4,
        },
        LrSchedule::Constant,
    ];
    for kind in schedules {
        for base in [0.05, 3e-3, 1.0] {
            let mut torch = TorchScheduler::new(kind, base);
            for steps in 0..100 {
                let ours = kind.lr(base, steps);
                assert_eq!(
                    ours.to_bits(),
                    torch.group_lr.to_bits(),
                    "{kind:?} base {base} after {steps} steps: ours {ours}, PyTorch {}",
                    torch.group_lr
                );
                torch.step();
            }
        }
    }
}

/// The documented shapes: StepLR's example in PyTorch's docs (lr 0.05 for epochs 0–29, 0.005
/// for 30–59, 0.0005 for 60–89), and the cosine's ends and middle.
#[test]
fn schedules_have_the_documented_values() {
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * b.abs().max(1e-300);
    let step = LrSchedule::Step {
        step_size: 30,
        gamma: 0.1,
    };
    for (steps, want) in [
        (0, 0.05),
        (29, 0.05),
        (30, 0.005),
        (59, 0.005),
        (60, 0.0005),
    ] {
        assert!(close(step.lr(0.05, steps), want), "StepLR after {steps}");
    }
    let cosine = LrSchedule::Cosine {
        t_max: 10,
        eta_min: 0.001,
    };
    assert_eq!(cosine.lr(0.1, 0), 0.1);
    assert!(close(cosine.lr(0.1, 5), (0.1 + 0.001) / 2.0));
    assert!(close(cosine.lr(0.1, 10), 0.001));
    // Past T_max it rises again, as PyTorch's does.
    assert!(close(cosine.lr(0.1, 20), 0.1));
}

#[test]
fn bad_schedules_are_refused() {
    let gpu = gpu();
    let data = Prepared::new(&diabetes().unwrap(), &SplitConfig::default()).unwrap();
    for bad in [
        LrSchedule::Step {
            step_size: 0,
            gamma: 0.1,
        },
        LrSchedule::Step {
            step_size: 2,
            gamma: f64::NAN,
        },
        LrSchedule::Cosine {
            t_max: 0,
            eta_min: 0.0,
        },
        LrSchedule::Cosine {
            t_max: 5,
            eta_min: -1.0,
        },
    ] {
        let model = Mlp::new(gpu, &[10, 5, 1], data.train.task(), 0).unwrap();
        let config = TrainConfig {
            lr_schedule: bad,
            ..TrainConfig::default()
        };
        let err =
            Trainer::new(gpu, model, SgdConfig::default(), &data.train, None, config).unwrap_err();
        assert!(
            matches!(err, Error::InvalidArgument { .. }),
            "{bad:?}: {err}"
        );
    }
}

#[test]
fn set_lr_changes_the_next_steps_and_is_validated() {
    let gpu = gpu();
    let params = ParamStore::new(gpu, &[("w", &[7])]).unwrap();
    params.write(gpu, "w", &[1.0; 7]).unwrap();
    params
        .grads()
        .write(gpu, &vec![0.5f32; params.flat_len()])
        .unwrap();
    let mut sgd = Optimizer::new(
        gpu,
        &params,
        SgdConfig {
            lr: 0.1,
            ..SgdConfig::default()
        },
    )
    .unwrap();
    sgd.set_lr(0, 0.0).unwrap();
    sgd.step(gpu).unwrap();
    assert_eq!(
        params.read(gpu, "w").unwrap(),
        vec![1.0; 7],
        "lr 0 moves nothing"
    );
    sgd.set_lr(0, 0.5).unwrap();
    assert_eq!(sgd.lr(0).unwrap(), 0.5);
    sgd.step(gpu).unwrap();
    assert_eq!(params.read(gpu, "w").unwrap(), vec![0.75; 7], "θ − 0.5·0.5");
    assert!(matches!(
        sgd.set_lr(0, -1.0),
        Err(Error::InvalidHyperparameter { name: "lr", .. })
    ));
    assert!(matches!(
        sgd.set_lr(1, 0.1),
        Err(Error::InvalidArgument { .. })
    ));
    assert_eq!(sgd.lr(0).unwrap(), 0.5, "a refused rate changes nothing");
}

/// The trainer's schedule gives exactly the run of a constant-rate trainer whose rate is set
/// by hand before each epoch, on both paths.
#[test]
fn the_trainer_applies_the_schedule_each_epoch() {
    let gpu = gpu();
    let data = Prepared::new(&diabetes().unwrap(), &SplitConfig::default()).unwrap();
    let schedule = LrSchedule::Cosine {
        t_max: 3,
        eta_min: 1e-3,
    };
    let base = SgdConfig {
        lr: 0.05,
        momentum: 0.9,
        ..SgdConfig::default()
    };
    for single in [false, true] {
        let config = |lr_schedule| TrainConfig {
            epochs: 5,
            seed: 3,
            lr_schedule,
            single_dispatch_epochs: epoch_path(single),
            ..TrainConfig::default()
        };
        let trainer = |lr_schedule| {
            let model = Mlp::new(gpu, &[10, 5, 1], data.train.task(), 1).unwrap();
            Trainer::new(gpu, model, base, &data.train, None, config(lr_schedule)).unwrap()
        };
        let mut scheduled = trainer(schedule);
        let mut by_hand = trainer(LrSchedule::Constant);
        for epoch in 1..=5 {
            let a = scheduled.run_epoch().unwrap();
            by_hand
                .optimizer_mut()
                .set_lr(0, schedule.lr(base.lr, epoch - 1))
                .unwrap();
            let b = by_hand.run_epoch().unwrap();
            assert_eq!(
                a.train_loss.to_bits(),
                b.train_loss.to_bits(),
                "epoch {epoch}"
            );
            assert_eq!(
                scheduled.optimizer().lr(0).unwrap(),
                schedule.lr(base.lr, epoch - 1)
            );
        }
        assert_eq!(
            param_bits(scheduled.model().params()),
            param_bits(by_hand.model().params())
        );
        // And it did change something: a constant rate ends elsewhere.
        let mut constant = trainer(LrSchedule::Constant);
        constant.fit().unwrap();
        assert_ne!(
            param_bits(scheduled.model().params()),
            param_bits(constant.model().params())
        );
    }
}
