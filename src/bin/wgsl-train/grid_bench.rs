//! The grid rows of `wgsl-train bench`: many 10→5→1 models trained together (`ModelGrid`),
//! beside the same models trained one at a time, and a grid of 10,000 models.

use std::time::Instant;

use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use wgsl_train::data::{Dataset, Fold};
use wgsl_train::nn::{Activation, Init, Mlp};
use wgsl_train::optim::{AdamConfig, OptimizerConfig, SgdConfig};
use wgsl_train::train::{
    GridConfig, GridModel, KernelForm, LrSchedule, ModelGrid, TrainConfig, Trainer,
};
use wgsl_train::{Gpu, Result};

const ROWS: usize = 442;
const FEATURES: usize = 10;
const FOLDS: usize = 5;
const EPOCHS: usize = 20;
const BATCH: usize = 32;

/// Data shaped as `../shared/peers/jax_grid.py` makes it: 442 rows of 10 features, a linear
/// target with a little noise (uniform here, normal there: the speed is the same).
fn data() -> Result<Dataset> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let x: Vec<f32> = (0..ROWS * FEATURES)
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    let w: Vec<f32> = (0..FEATURES).map(|_| rng.random_range(-1.0..1.0)).collect();
    let y = x
        .chunks(FEATURES)
        .map(|row| {
            row.iter().zip(&w).map(|(a, b)| a * b).sum::<f32>() + rng.random_range(-0.1..0.1)
        })
        .collect();
    Dataset::regression(x, FEATURES, y)
}

/// jax_grid.py's folds: row i is held out by fold i mod 5.
fn folds() -> Vec<Fold> {
    (0..FOLDS)
        .map(|f| Fold {
            train: (0..ROWS).filter(|i| i % FOLDS != f).collect(),
            validation: (0..ROWS).filter(|i| i % FOLDS == f).collect(),
        })
        .collect()
}

/// jax_grid.py's grid, `copies` times over: SGD (momentum 0.9) and Adam × lr {1e-3, 3e-3,
/// 1e-2} × L1 {0, 1e-3} × L2 {0, 1e-3} × 5 folds (120 models a copy), one seed per copy.
fn models(copies: usize) -> Vec<GridModel> {
    let mut out = Vec::new();
    for copy in 0..copies {
        for adam in [false, true] {
            for lr in [1e-3, 3e-3, 1e-2] {
                for l1 in [0.0, 1e-3] {
                    for l2 in [0.0, 1e-3] {
                        for fold in 0..FOLDS {
                            let optimizer: OptimizerConfig = if adam {
                                AdamConfig {
                                    lr,
                                    l1,
                                    weight_decay: l2,
                                    ..AdamConfig::default()
                                }
                                .into()
                            } else {
                                SgdConfig {
                                    lr,
                                    momentum: 0.9,
                                    l1,
                                    weight_decay: l2,
                                    ..SgdConfig::default()
                                }
                                .into()
                            };
                            out.push(GridModel {
                                hidden: vec![5],
                                activations: vec![Activation::Relu],
                                dropout: vec![],
                                loss_weights: Default::default(),
                                init: Init::Default,
                                optimizer,
                                lr_schedule: LrSchedule::Constant,
                                seed: copy as u64,
                                fold,
                            });
                        }
                    }
                }
            }
        }
    }
    out
}

/// Model-steps of batch 32 in a run of `models` (a fold's 353 or 354 training rows are 11.03
/// steps' worth an epoch; jax_grid.py drops the last partial batch and counts 11).
fn model_steps(models: usize) -> f64 {
    let rows_per_model = (ROWS - ROWS / FOLDS) as f64;
    models as f64 * EPOCHS as f64 * rows_per_model / BATCH as f64
}

/// Seconds to build and fit the grid of `models`, and of those the building (`ModelGrid::new`:
/// initial weights drawn on the host, tables, uploads), with its kernels written as `form` (the
/// adapter's choice when `None`).
fn grid_seconds(
    gpu: &Gpu,
    (data, folds): (&Dataset, &[Fold]),
    models: &[GridModel],
    form: Option<KernelForm>,
) -> Result<(f64, f64)> {
    let start = Instant::now();
    let config = GridConfig {
        epochs: EPOCHS,
        batch_size: BATCH,
        kernel_form: form,
        ..GridConfig::default()
    };
    let mut grid = ModelGrid::new(gpu, data, folds, models.to_vec(), config)?;
    let building = start.elapsed().as_secs_f64();
    grid.fit()?;
    Ok((start.elapsed().as_secs_f64(), building))
}

/// The rows: the 120-model grid (median of three runs after a warm-up, each building its grid
/// and reading every result back), the same models one at a time with the `Trainer` (a tenth
/// of them; the rate is per model-step), and 10,000 models once; the grids' kernels written as
/// `form` (the adapter's choice when `None`).
pub fn grid(gpu: &Gpu, form: Option<KernelForm>) -> Result<Value> {
    let used = form.unwrap_or_else(|| KernelForm::for_adapter(gpu));
    let form_name = format!("{used:?}").to_lowercase();
    let chosen_by = if form.is_some() {
        "--grid-form"
    } else {
        "the adapter"
    };
    say!("\nmany models at once: 10→5→1, MSE, batch 32, {EPOCHS} epochs, validation each epoch (wall clock; {form_name} kernel form, chosen by {chosen_by})");
    let data = data()?;
    let folds = folds();
    let grid = models(1);
    let on = (&data, &folds[..]);
    // The first run compiles the kernel (unless a driver's shader cache holds it).
    let (first_seconds, _) = grid_seconds(gpu, on, &grid, form)?;
    let mut runs = (0..3)
        .map(|_| grid_seconds(gpu, on, &grid, form))
        .collect::<Result<Vec<(f64, f64)>>>()?;
    runs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (median, median_building) = runs[1];
    let grid_rate = model_steps(grid.len()) / median;
    // What Dropout 0.2 costs the same grid: each hidden unit of each row draws its mask.
    let dropped: Vec<GridModel> = grid
        .iter()
        .map(|m| GridModel {
            dropout: vec![0.2],
            ..m.clone()
        })
        .collect();
    grid_seconds(gpu, on, &dropped, form)?; // compiles its kernel
    let mut dropped_runs = (0..3)
        .map(|_| grid_seconds(gpu, on, &dropped, form).map(|(seconds, _)| seconds))
        .collect::<Result<Vec<f64>>>()?;
    dropped_runs.sort_by(f64::total_cmp);
    let dropout_rate = model_steps(dropped.len()) / dropped_runs[1];
    let alone: Vec<&GridModel> = grid.iter().step_by(10).collect();
    let start = Instant::now();
    for model in &alone {
        let fold = &folds[model.fold];
        let mlp = Mlp::new(gpu, &[FEATURES, 5, 1], data.task(), model.seed)?;
        let config = TrainConfig {
            epochs: EPOCHS,
            batch_size: BATCH,
            seed: model.seed,
            ..TrainConfig::default()
        };
        let (train, validation) = (data.subset(&fold.train), data.subset(&fold.validation));
        Trainer::new(gpu, mlp, model.optimizer, &train, Some(&validation), config)?.fit()?;
    }
    let alone_rate = model_steps(alone.len()) / start.elapsed().as_secs_f64();
    let many = models(84); // 10,080 models
    let before = crate::stream_bench::peak_host_bytes();
    let (many_seconds, many_building) = grid_seconds(gpu, on, &many, form)?;
    let peak = crate::stream_bench::peak_host_bytes();
    say!("{:<44} {:>16}", "", "model-steps/s");
    say!(
        "{:<44} {grid_rate:>16.0}   ({median:.3} s, {median_building:.3} s of it building the grid; the first run, compiling its kernel: {first_seconds:.2} s)",
        format!("grid of {} models together", grid.len())
    );
    say!(
        "{:<44} {dropout_rate:>16.0}",
        "the same grid with Dropout 0.2"
    );
    say!(
        "{:<44} {alone_rate:>16.0}",
        "the same models one at a time (Trainer)"
    );
    say!(
        "{:<44} {:>16.0}   ({many_seconds:.2} s, {many_building:.2} s of it building the grid; peak host memory {} MiB, before it {} MiB)",
        format!("grid of {} models together", many.len()),
        model_steps(many.len()) / many_seconds,
        peak.map_or("?".into(), |b| (b >> 20).to_string()),
        before.map_or("?".into(), |b| (b >> 20).to_string()),
    );
    Ok(json!({
        "network": "10→5→1, MSE, batch 32, 20 epochs, validation each epoch",
        "kernel_form": form_name,
        "kernel_form_chosen_by": chosen_by,
        "grid_models": grid.len(),
        "grid_model_steps_per_s": grid_rate,
        "grid_seconds_runs": runs.iter().map(|r| r.0).collect::<Vec<_>>(),
        "grid_building_seconds_runs": runs.iter().map(|r| r.1).collect::<Vec<_>>(),
        "grid_first_run_seconds": first_seconds,
        "grid_dropout_model_steps_per_s": dropout_rate,
        "one_at_a_time_model_steps_per_s": alone_rate,
        "speedup_over_one_at_a_time": grid_rate / alone_rate,
        "many_models": many.len(),
        "many_seconds": many_seconds,
        "many_building_seconds": many_building,
        "many_model_steps_per_s": model_steps(many.len()) / many_seconds,
        "peak_host_bytes": peak,
    }))
}
