//! A GPU training run replayed on the CPU reference, step by step: shared by the native tests
//! (tests/training.rs) and the browser's (web/tests/browser.rs, through `#[path]`), which read
//! the GPU's results back each in their own way and hand them over here.

use wgsl_train::data::Dataset;
use wgsl_train::kernels::loss::{LossKind, LossWeights};
use wgsl_train::nn::Activation;
use wgsl_train::optim::{AdamConfig, OptimizerConfig, SgdConfig};
use wgsl_train::reference::mlp::ReferenceMlp;
use wgsl_train::train::{epoch_order, History, Trainer};

/// What a GPU run started from and how it went.
pub struct Run<'a> {
    pub train: &'a Dataset,
    pub sizes: &'a [usize],
    pub loss: LossKind,
    pub loss_weights: LossWeights,
    /// `TrainConfig::clip_grad_norm`.
    pub clip_grad_norm: Option<f64>,
    /// `Mlp::activations` (empty: ReLU).
    pub activations: &'a [Activation],
    /// `Mlp::dropout` (empty: none), its masks keyed by `seed`.
    pub dropout: &'a [f32],
    pub optimizer: OptimizerConfig,
    /// The shuffle seed and the batch size.
    pub seed: u64,
    pub batch: usize,
    /// The initial and the trained parameters, one `Vec` per parameter in slot order.
    pub initial: Vec<Vec<f32>>,
    pub trained: Vec<Vec<f32>>,
    pub history: &'a History,
}

/// Trains the reference from the same weights on the same batches and checks that the GPU
/// took each epoch's steps (one per batch), every step's loss and the final weights, naming
/// the first difference; at least 100 steps must have been compared.
///
/// Bounds, from the f32 arithmetic of the GPU (the reference is f64): a step sums the batch's
/// rows and dot products as long as the widest layer's fan-in, so its loss and gradient carry
/// at most (batch + fan-in + 8)·u of relative rounding, u = 2⁻²⁴; a difference once made is
/// carried from step to step, so after t steps the loss is within t times that of itself, and
/// a weight, whose step moves at most lr times its gradient's error, within
/// t·(batch + fan-in + 8)·u·(|w| + 10·lr) (10: a step's largest term within 10× of the step).
pub fn check_against_reference(run: &Run) -> f64 {
    let mut cpu = ReferenceMlp::new(run.sizes, run.initial.clone(), run.loss, run.optimizer)
        .with_loss_weights(run.loss_weights.clone())
        .with_clip_grad_norm(run.clip_grad_norm);
    if !run.activations.is_empty() {
        cpu = cpu.with_activations(run.activations);
    }
    if !run.dropout.is_empty() {
        cpu = cpu.with_dropout(run.dropout, run.seed);
    }
    let targets = run.train.target_values();
    let fan_in = run.sizes[..run.sizes.len() - 1].iter().max().unwrap();
    let per_step = (run.batch + fan_in + 8) as f64 / 16_777_216.0;
    let mut worst = 0.0f64;
    let mut step = 0;
    for record in &run.history.epochs {
        let order = epoch_order(run.seed, record.epoch, run.train.len());
        let batches = order.chunks(run.batch);
        assert_eq!(
            record.step_losses.len(),
            batches.len(),
            "{:?} epoch {}: the GPU took {} steps, the epoch has {} batches",
            run.optimizer,
            record.epoch,
            record.step_losses.len(),
            batches.len()
        );
        for (s, rows) in batches.enumerate() {
            let x: Vec<f32> = rows
                .iter()
                .flat_map(|&r| run.train.row(r as usize).to_vec())
                .collect();
            let y: Vec<f32> = rows.iter().map(|&r| targets[r as usize]).collect();
            let want = cpu.step(&x, &y, rows.len());
            let got = f64::from(record.step_losses[s]);
            step += 1;
            let bound = step as f64 * per_step * want.abs();
            worst = worst.max((got - want).abs() / bound);
            assert!(
                (got - want).abs() <= bound,
                "{:?} step {step}: gpu loss {got} vs reference {want} (bound {bound:e})",
                run.optimizer
            );
        }
    }
    assert!(step >= 100, "only {step} steps compared");
    let lr = run.optimizer.lr();
    for (p, (got, want)) in run.trained.iter().zip(cpu.params()).enumerate() {
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            let bound = step as f64 * per_step * (f64::from(w.abs()) + 10.0 * lr);
            let diff = f64::from((g - w).abs());
            worst = worst.max(diff / bound);
            assert!(
                diff <= bound,
                "parameter {p}[{i}] after {step} steps: gpu {g} vs reference {w} (bound {bound:e})"
            );
        }
    }
    worst
}

/// [`check_against_reference`] for `trainer`'s run on `train`: its model, loss, weights,
/// activations, Dropout, clipping, optimizer (one group), seed and batch, from `initial` to
/// `trained` (the caller reads those back in its own way) through `history`.
pub fn check_trainer(
    trainer: &Trainer,
    train: &Dataset,
    initial: Vec<Vec<f32>>,
    trained: Vec<Vec<f32>>,
    history: &History,
) -> f64 {
    let (model, config) = (trainer.model(), trainer.config());
    let [group] = trainer.param_groups() else {
        panic!("the replay takes one parameter group");
    };
    check_against_reference(&Run {
        train,
        sizes: model.sizes(),
        loss: model.loss_kind(),
        loss_weights: model.loss_weights().clone(),
        clip_grad_norm: config.clip_grad_norm,
        activations: model.activations(),
        dropout: model.dropout(),
        optimizer: group.config,
        seed: config.seed,
        batch: config.batch_size,
        initial,
        trained,
        history,
    })
}

/// The optimizers both suites train the 10→5→1 diabetes network with: SGD with momentum and
/// L2, and Adam with L1.
pub fn diabetes_optimizers() -> [OptimizerConfig; 2] {
    let sgd = SgdConfig {
        lr: 0.01,
        momentum: 0.9,
        weight_decay: 1e-3,
        ..SgdConfig::default()
    };
    let adam = AdamConfig {
        lr: 0.003,
        l1: 1e-3,
        ..AdamConfig::default()
    };
    [sgd.into(), adam.into()]
}
