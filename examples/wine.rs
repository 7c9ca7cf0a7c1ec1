//! Binary classification with BCE on logits: red wine quality (1,599 wines, 11 measurements),
//! "good" meaning a quality of 6 or more; an 11→16→8→1 MLP trained with SGD and L2.
//!
//! Run with `cargo run --release --example wine`.

use wgsl_train::data::{wine_quality, SplitConfig};
use wgsl_train::experiment::Experiment;
use wgsl_train::optim::SgdConfig;
use wgsl_train::train::TrainConfig;
use wgsl_train::Gpu;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let gpu = Gpu::new()?;
    let data = wine_quality()?;
    let experiment = Experiment {
        hidden: vec![16, 8],
        activations: Vec::new(),
        dropout: Vec::new(),
        init: Default::default(),
        class_weight: Default::default(),
        optimizer: SgdConfig {
            lr: 0.02,
            momentum: 0.9,
            weight_decay: 1e-3,
            ..SgdConfig::default()
        }
        .into(),
        train: TrainConfig {
            epochs: 200,
            batch_size: 32,
            patience: Some(20),
            ..TrainConfig::default()
        },
        split: SplitConfig {
            seed: 1,
            ..SplitConfig::default()
        },
        model_seed: 1,
    };
    let outcome = experiment.run(&gpu, &data)?;
    let h = &outcome.history;
    println!(
        "red wine quality (good ≥ 6), 11→16→8→1, BCE with logits, SGD + L2: {} epochs{}\n",
        h.epochs.len(),
        if h.stopped_early {
            " (stopped early)"
        } else {
            ""
        }
    );
    print!("{}", outcome.report());
    println!("\n(baseline: always predict the training positive rate)");
    println!("diagnosis: {}", outcome.diagnosis);
    Ok(())
}
