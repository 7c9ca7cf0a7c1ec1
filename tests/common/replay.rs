//! A GPU training run replayed on the CPU reference, step by step: shared by the native tests
//! (tests/training.rs) and the browser's (web/tests/browser.rs, through `#[path]`), which read
//! the GPU's results back each in their own way and hand them over here.

use wgsl_train::data::Dataset;
use wgsl_train::kernels::loss::LossKind;
use wgsl_train::optim::{AdamConfig, OptimizerConfig, SgdConfig};
use wgsl_train::reference::mlp::ReferenceMlp;
use wgsl_train::train::{epoch_order, History};

/// What a GPU run started from and how it went.
pub struct Run<'a> {
    pub train: &'a Dataset,
    pub sizes: &'a [usize],
    pub loss: LossKind,
    pub optimizer: OptimizerConfig,
    /// The shuffle seed and the batch size.
    pub seed: u64,
    pub batch: usize,
    /// The initial and the trained parameters, one `Vec` per parameter in slot order.
    pub initial: Vec<Vec<f32>>,
    pub trained: Vec<Vec<f32>>,
    pub history: &'a History,
}

/// Trains the reference from the same weights on the same batches and checks every step's
/// loss and the final weights within 1e-3 relative, naming the first difference; at least 100
/// steps must have been compared.
pub fn check_against_reference(run: &Run) {
    let mut cpu = ReferenceMlp::new(run.sizes, run.initial.clone(), run.loss, run.optimizer);
    let targets = run.train.target_values();
    let mut step = 0;
    for record in &run.history.epochs {
        let order = epoch_order(run.seed, record.epoch, run.train.len());
        for (s, rows) in order.chunks(run.batch).enumerate() {
            let x: Vec<f32> = rows
                .iter()
                .flat_map(|&r| run.train.row(r as usize).to_vec())
                .collect();
            let y: Vec<f32> = rows.iter().map(|&r| targets[r as usize]).collect();
            let want = cpu.step(&x, &y, rows.len());
            let got = f64::from(record.step_losses[s]);
            step += 1;
            assert!(
                (got - want).abs() <= 1e-3 * want.abs().max(1e-3),
                "{:?} step {step}: gpu loss {got} vs reference {want}",
                run.optimizer
            );
        }
    }
    assert!(step >= 100, "only {step} steps compared");
    for (p, (got, want)) in run.trained.iter().zip(cpu.params()).enumerate() {
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            assert!(
                (g - w).abs() <= 1e-3 * (1.0 + w.abs()),
                "parameter {p}[{i}]: gpu {g} vs reference {w}"
            );
        }
    }
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
