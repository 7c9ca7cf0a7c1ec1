//! Multiclass classification with softmax cross-entropy: Fisher's iris data (150 flowers, 4
//! measurements, 3 species), a 4→16→3 MLP trained with Adam and early stopping.
//!
//! Run with `cargo run --release --example iris`.

use wgsl_train::data::{iris, SplitConfig};
use wgsl_train::experiment::Experiment;
use wgsl_train::optim::AdamConfig;
use wgsl_train::train::TrainConfig;
use wgsl_train::Gpu;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let gpu = Gpu::new()?;
    let data = iris()?;
    let experiment = Experiment {
        hidden: vec![16],
        activations: Vec::new(),
        dropout: Vec::new(),
        init: Default::default(),
        class_weight: Default::default(),
        optimizer: AdamConfig {
            lr: 0.01,
            weight_decay: 1e-4,
            ..AdamConfig::default()
        }
        .into(),
        train: TrainConfig {
            epochs: 300,
            batch_size: 16,
            patience: Some(30),
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
        "iris, 4→16→3, softmax cross-entropy, Adam: {} epochs{}",
        h.epochs.len(),
        if h.stopped_early {
            " (stopped early)"
        } else {
            ""
        }
    );
    println!("classes: {}\n", data.class_names().join(", "));
    print!("{}", outcome.report());
    println!("\ndiagnosis: {}", outcome.diagnosis);
    Ok(())
}
