//! The use case this crate grew from: the classic 10→5→1 MLP with ReLU and MSE on the diabetes
//! data (442 patients, 10 features: see `wgsl_train::data::diabetes`), trained with
//! SGD and with Adam, each with no regularization, L1 and L2, and judged honestly on
//! train/validation/test splits.
//!
//! Run with `cargo run --release --example diabetes`. It prints one table, picks the
//! configuration by validation loss, reports that one's test score, and writes the learning
//! curves to `target/examples-output/diabetes/`. Then it judges the same six configurations as
//! a grid search would — 5-fold cross-validation of the rows outside the test split, all 30
//! models trained together on the GPU — and prints each one's mean ± spread over the folds:
//! how far one validation split's verdict can be trusted.

use std::time::Instant;

use wgsl_train::data::diabetes;
use wgsl_train::experiment::{plot_curves, Experiment, Outcome, Sweep};
use wgsl_train::metrics::Metrics;
use wgsl_train::train::History;
use wgsl_train::Gpu;

/// The six configurations: SGD and Adam, each plain, with L1 and with L2, all in
/// [`Experiment::classic`]'s setting (the same split and initial weights; the web demo's too).
pub fn experiments() -> Vec<(&'static str, Experiment)> {
    Experiment::classic_six()
}

/// MSE and R² of one score.
pub fn mse_r2(m: &Metrics) -> (f64, f64) {
    match m {
        Metrics::Regression(r) => (r.mse, r.r2),
        _ => (f64::NAN, f64::NAN),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let gpu = Gpu::new()?;
    let data = diabetes()?;
    let mut runs: Vec<(&str, Outcome, f64)> = Vec::new();
    for (name, experiment) in experiments() {
        let start = Instant::now();
        let outcome = experiment.run(&gpu, &data)?;
        runs.push((name, outcome, start.elapsed().as_secs_f64()));
    }
    let p = &runs[0].1.prepared;
    println!(
        "10→5→1 MLP, ReLU, MSE, on the diabetes data: {} patients, {} train / {} validation / {} test",
        data.len(),
        p.train.len(),
        p.validation.len(),
        p.test.len()
    );
    println!(
        "adapter: {} ({:?})\n",
        gpu.adapter_info().name,
        gpu.adapter_info().backend
    );

    println!(
        "{:<16} {:>10} {:>7} {:>10} {:>7} {:>10} {:>7} {:>7} {:>6}",
        "configuration", "train MSE", "R²", "val MSE", "R²", "test MSE", "R²", "epochs", "time"
    );
    let baseline: Vec<(f64, f64)> = runs[0]
        .1
        .scores
        .iter()
        .map(|e| mse_r2(&e.baseline))
        .collect();
    print!("{:<16}", "baseline (mean)");
    for (mse, r2) in &baseline {
        print!(" {mse:>10.1} {r2:>7.3}");
    }
    println!(" {:>7} {:>6}", "-", "-");
    for (name, outcome, seconds) in &runs {
        print!("{name:<16}");
        for score in &outcome.scores {
            let (mse, r2) = mse_r2(&score.model);
            print!(" {mse:>10.1} {r2:>7.3}");
        }
        let h = &outcome.history;
        let epochs = format!(
            "{}{}",
            h.epochs.len(),
            if h.stopped_early { "*" } else { "" }
        );
        println!(" {epochs:>7} {seconds:>5.1}s");
    }
    println!("(baseline: always predict the training mean; * stopped early, keeping the best validation epoch's weights)\n");

    let (name, chosen, _) = runs
        .iter()
        .min_by(|a, b| {
            a.1.scores[1]
                .model
                .loss()
                .total_cmp(&b.1.scores[1].model.loss())
        })
        .expect("six configurations");
    let (mse, r2) = mse_r2(&chosen.scores[2].model);
    println!("chosen by validation MSE: {name} — test MSE {mse:.1}, test R² {r2:.3}");
    println!("diagnosis: {}\n", chosen.diagnosis);

    let out = std::path::Path::new("target/examples-output/diabetes");
    std::fs::create_dir_all(out)?;
    let mut csv = String::from("configuration,epoch,train_loss,validation_loss\n");
    for (name, outcome, _) in &runs {
        for line in outcome.history.to_csv().lines().skip(1) {
            csv.push_str(&format!("{name},{line}\n"));
        }
    }
    std::fs::write(out.join("curves.csv"), csv)?;
    let curves: Vec<(String, &History)> = runs
        .iter()
        .map(|(n, o, _)| (n.to_string(), &o.history))
        .collect();
    plot_curves(
        &out.join("curves.svg"),
        "diabetes, 10→5→1: MSE on standardised targets",
        &curves,
    )?;
    println!(
        "learning curves: {0}/curves.csv and {0}/curves.svg",
        out.display()
    );
    cross_validate(&gpu, &data)
}

/// The six configurations scored over 5 folds as `GridSearchCV` would, all trained together.
fn cross_validate(
    gpu: &Gpu,
    data: &wgsl_train::data::Dataset,
) -> Result<(), Box<dyn std::error::Error>> {
    let experiments = experiments();
    let sweep = Sweep {
        progress: true,
        ..Sweep::classic()
    };
    let start = Instant::now();
    let outcome = sweep.run(gpu, data)?;
    println!(
        "\n5-fold cross-validation of the same six (30 models trained together, {:.1} s):",
        start.elapsed().as_secs_f64()
    );
    println!(
        "{:<16} {:>22} {:>16} {:>5}",
        "configuration", "validation MSE", "R²", "rank"
    );
    for ((name, _), result) in experiments.iter().zip(&outcome.candidates) {
        let (mse, mse_std) = result.validation_loss;
        let r2 = result.validation.iter().find(|(n, _, _)| *n == "R²");
        let (r2, r2_std) = r2.map_or((f64::NAN, f64::NAN), |&(_, m, s)| (m, s));
        println!(
            "{name:<16} {:>22} {:>16} {:>5}",
            format!("{mse:.1} ± {mse_std:.1}"),
            format!("{r2:.3} ± {r2_std:.3}"),
            result.rank
        );
    }
    let (mse, r2) = mse_r2(&outcome.test.model);
    println!(
        "chosen by cross-validation: {} — refit on all {} development rows, test MSE {mse:.1}, test R² {r2:.3}",
        experiments[outcome.best].0,
        data.len() - data.split(&sweep.split)?.test.len()
    );
    let means: Vec<f64> = outcome
        .candidates
        .iter()
        .map(|c| c.validation_loss.0)
        .collect();
    let range = means.iter().cloned().fold(f64::MIN, f64::max)
        - means.iter().cloned().fold(f64::MAX, f64::min);
    let spread = outcome
        .candidates
        .iter()
        .map(|c| c.validation_loss.1)
        .sum::<f64>()
        / means.len() as f64;
    println!(
        "(± is the standard deviation over the folds; the means span {range:.1}, the folds' spread averages {spread:.1}: {})",
        if range < spread { "the ranking is within the folds' noise" } else { "the best stands out of the folds' noise" }
    );
    Ok(())
}
