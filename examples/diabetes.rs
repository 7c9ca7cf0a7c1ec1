//! The use case this crate grew from: the classic 10→5→1 MLP with ReLU and MSE on the diabetes
//! data (441 of its 442 patients, 10 features: see `wgsl_train::data::diabetes`), trained with SGD and with Adam, each with no
//! regularization, L1 and L2, judged honestly on train/validation/test splits.
//!
//! Run with `cargo run --release --example diabetes`. It prints one table, picks the
//! configuration by validation loss, reports that one's test score, and writes the learning
//! curves to `target/examples-output/diabetes/`.

use std::time::Instant;

use wgsl_train::data::{diabetes, SplitConfig};
use wgsl_train::nn::Mlp;
use wgsl_train::optim::{AdamConfig, OptimizerConfig, SgdConfig};
use wgsl_train::train::{
    baseline_loss, diagnose, evaluate, plot_curves, Evaluation, History, Metrics, Prepared,
    TrainConfig, Trainer,
};
use wgsl_train::Gpu;

/// The split, model and training seeds: the test split is fixed by `SPLIT_SEED`.
pub const SPLIT_SEED: u64 = 2024;
pub const MODEL_SEED: u64 = 7;

/// The six configurations: SGD and Adam, each plain, with L1 and with L2.
pub fn configurations() -> Vec<(&'static str, OptimizerConfig)> {
    let sgd = SgdConfig {
        lr: 0.01,
        momentum: 0.9,
        ..SgdConfig::default()
    };
    let adam = AdamConfig {
        lr: 0.003,
        ..AdamConfig::default()
    };
    vec![
        ("SGD", sgd.into()),
        ("SGD + L1", SgdConfig { l1: 1e-3, ..sgd }.into()),
        (
            "SGD + L2",
            SgdConfig {
                weight_decay: 1e-2,
                ..sgd
            }
            .into(),
        ),
        ("Adam", adam.into()),
        ("Adam + L1", AdamConfig { l1: 1e-3, ..adam }.into()),
        (
            "Adam + L2",
            AdamConfig {
                weight_decay: 1e-2,
                ..adam
            }
            .into(),
        ),
    ]
}

/// Training settings shared by every configuration.
pub fn train_config() -> TrainConfig {
    TrainConfig {
        epochs: 500,
        batch_size: 32,
        seed: 1,
        patience: Some(50),
        min_delta: 1e-4,
        progress: false,
    }
}

struct Row {
    name: &'static str,
    scores: [Evaluation; 3],
    history: History,
    seconds: f64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let gpu = Gpu::new()?;
    let info = gpu.adapter_info();
    let data = diabetes()?;
    let prepared = Prepared::new(
        &data,
        &SplitConfig {
            seed: SPLIT_SEED,
            ..SplitConfig::default()
        },
    )?;
    println!(
        "10→5→1 MLP, ReLU, MSE, on the diabetes data: {} patients, {} train / {} validation / {} test",
        data.len(),
        prepared.train.len(),
        prepared.validation.len(),
        prepared.test.len()
    );
    println!("adapter: {} ({:?})\n", info.name, info.backend);

    let mut rows = Vec::new();
    for (name, optimizer) in configurations() {
        let start = Instant::now();
        let model = Mlp::new(&gpu, &[10, 5, 1], data.task(), MODEL_SEED)?;
        let mut trainer = Trainer::new(
            &gpu,
            model,
            optimizer,
            &prepared.train,
            Some(&prepared.validation),
            train_config(),
        )?;
        let history = trainer.fit()?.clone();
        let model = trainer.into_model();
        let o = &prepared.original;
        let scores = [
            evaluate(&gpu, &model, &prepared, &prepared.train, &o.train)?,
            evaluate(&gpu, &model, &prepared, &prepared.validation, &o.validation)?,
            evaluate(&gpu, &model, &prepared, &prepared.test, &o.test)?,
        ];
        rows.push(Row {
            name,
            scores,
            history,
            seconds: start.elapsed().as_secs_f64(),
        });
    }

    println!(
        "{:<18} {:>10} {:>8} {:>10} {:>8} {:>10} {:>8} {:>7} {:>6}",
        "configuration", "train MSE", "R²", "val MSE", "R²", "test MSE", "R²", "epochs", "time"
    );
    let regression = |m: &Metrics| match m {
        Metrics::Regression(r) => (r.mse, r.r2),
        _ => unreachable!("diabetes is a regression task"),
    };
    let baseline: Vec<(f64, f64)> = rows[0]
        .scores
        .iter()
        .map(|e| regression(&e.baseline))
        .collect();
    println!(
        "{:<18} {:>10.1} {:>8.3} {:>10.1} {:>8.3} {:>10.1} {:>8.3} {:>7} {:>6}",
        "baseline (mean)",
        baseline[0].0,
        baseline[0].1,
        baseline[1].0,
        baseline[1].1,
        baseline[2].0,
        baseline[2].1,
        "-",
        "-"
    );
    for row in &rows {
        let s: Vec<(f64, f64)> = row.scores.iter().map(|e| regression(&e.model)).collect();
        let epochs = format!(
            "{}{}",
            row.history.epochs.len(),
            if row.history.stopped_early { "*" } else { "" }
        );
        println!(
            "{:<18} {:>10.1} {:>8.3} {:>10.1} {:>8.3} {:>10.1} {:>8.3} {:>7} {:>5.1}s",
            row.name, s[0].0, s[0].1, s[1].0, s[1].1, s[2].0, s[2].1, epochs, row.seconds
        );
    }
    println!("(* stopped early; the weights are those of the best validation epoch)\n");

    let chosen = rows
        .iter()
        .min_by(|a, b| {
            a.scores[1]
                .model
                .loss()
                .total_cmp(&b.scores[1].model.loss())
        })
        .expect("six configurations");
    let (test_mse, test_r2) = regression(&chosen.scores[2].model);
    println!(
        "chosen by validation MSE: {} — test MSE {test_mse:.1}, test R² {test_r2:.3}",
        chosen.name
    );
    println!(
        "diagnosis: {}\n",
        diagnose(&chosen.history, baseline_loss(&prepared.train))
    );

    let out = std::path::Path::new("target/examples-output/diabetes");
    std::fs::create_dir_all(out)?;
    let mut csv = String::from("configuration,epoch,train_loss,validation_loss\n");
    for row in &rows {
        for line in row.history.to_csv().lines().skip(1) {
            csv.push_str(&format!("{},{line}\n", row.name));
        }
    }
    std::fs::write(out.join("curves.csv"), csv)?;
    let runs: Vec<(String, &History)> = rows
        .iter()
        .map(|r| (r.name.to_string(), &r.history))
        .collect();
    plot_curves(
        &out.join("curves.svg"),
        "diabetes, 10→5→1: MSE of standardised targets",
        &runs,
    )?;
    println!(
        "learning curves: {0}/curves.csv and {0}/curves.svg",
        out.display()
    );
    Ok(())
}
