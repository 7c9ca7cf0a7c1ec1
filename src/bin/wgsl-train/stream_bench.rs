//! `wgsl-train bench --stream-gb N`: training throughput on a generated dataset of N gigabytes,
//! streamed from host memory, beside the same network on a dataset that fits the device, with
//! the process's peak host memory.

use std::time::Instant;

use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use wgsl_train::data::{Dataset, Task};
use wgsl_train::nn::Mlp;
use wgsl_train::optim::SgdConfig;
use wgsl_train::train::{SingleDispatch, TrainConfig, Trainer};
use wgsl_train::{Gpu, Result};

const FEATURES: usize = 100;
const HIDDEN: usize = 32;
const BATCH: usize = 1024;
/// Rows of the dataset that fits: 105 MB of features, within lavapipe's 128 MiB binding.
const FITTING_ROWS: usize = 262_144;
/// Rows of a chunk when the fitting dataset is streamed on purpose: about the 32 MiB the
/// trainer aims for when it streams by itself.
const CHUNK_ROWS: usize = 81 * BATCH;

/// `rows` rows of `FEATURES` uniform features with a noisy linear target.
fn generated(rows: usize, seed: u64) -> Result<Dataset> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut x = vec![0f32; rows * FEATURES];
    rng.fill(&mut x[..]);
    let y = x
        .chunks(FEATURES)
        .map(|row| row.iter().sum::<f32>() / FEATURES as f32 + rng.random_range(-0.05..0.05))
        .collect();
    Dataset::regression(x, FEATURES, y)
}

/// The process's peak resident memory so far (Linux's VmHWM), in bytes.
pub(crate) fn peak_host_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Samples per second of one timed epoch (after `warm_up` untimed ones) of SGD on `data`,
/// and the trainer's chunk size in steps when it streamed.
fn samples_per_second(
    gpu: &Gpu,
    data: &Dataset,
    chunk_rows: Option<usize>,
    warm_up: usize,
) -> Result<(f64, Option<usize>)> {
    let model = Mlp::new(gpu, &[FEATURES, HIDDEN, 1], Task::Regression, 0)?;
    let config = TrainConfig {
        epochs: warm_up + 1,
        batch_size: BATCH,
        chunk_rows,
        // The uploaded split on the path the streamed one takes.
        single_dispatch_epochs: SingleDispatch::Never,
        ..TrainConfig::default()
    };
    let sgd = SgdConfig {
        lr: 1e-3,
        ..SgdConfig::default()
    };
    let mut trainer = Trainer::new(gpu, model, sgd, data, None, config)?;
    for _ in 0..warm_up {
        trainer.run_epoch()?;
    }
    let start = Instant::now();
    trainer.run_epoch()?;
    Ok((
        data.len() as f64 / start.elapsed().as_secs_f64(),
        trainer.chunk_steps(),
    ))
}

pub fn streaming(gpu: &Gpu, gb: f64) -> Result<Value> {
    let megabytes = |rows: usize| (rows * (FEATURES + 1) * 4) as f64 / 1e6;
    let big_rows = (gb * 1e9 / ((FEATURES + 1) * 4) as f64) as usize;
    say!(
        "\nstreaming: {FEATURES}→{HIDDEN}→1, SGD, batch {BATCH}, one epoch (wall clock; the fitting data after a warm-up epoch)"
    );
    say!(
        "{:<44} {:>12} {:>12} {:>12}",
        "data",
        "samples/s",
        "vs uploaded",
        "chunk steps"
    );
    // The large dataset first, so that the peak host memory it shows is its own: lavapipe's
    // device memory is host memory, and the fitting dataset's uploaded copies would set the
    // peak. Pipelines are compiled beforehand on a few rows, both ways.
    let warm = generated(4 * BATCH, 3)?;
    samples_per_second(gpu, &warm, None, 0)?;
    samples_per_second(gpu, &warm, Some(BATCH), 0)?;
    drop(warm);
    let before_big = peak_host_bytes();
    let big = generated(big_rows, 2)?;
    let data_bytes = (big.features().len() + big.len()) * 4;
    let with_data = peak_host_bytes();
    // Streamed by itself where the data does not fit a binding; on a device whose bindings
    // hold it, streamed in chunks the size the trainer would pick.
    let (big_rate, big_chunk, forced) = match samples_per_second(gpu, &big, None, 0)? {
        (rate, Some(chunk)) => (rate, Some(chunk), false),
        (_, None) => {
            let (rate, chunk) = samples_per_second(gpu, &big, Some(CHUNK_ROWS), 0)?;
            (rate, chunk, true)
        }
    };
    let after = peak_host_bytes();
    drop(big);
    let fitting = generated(FITTING_ROWS, 1)?;
    let (uploaded, none) = samples_per_second(gpu, &fitting, None, 1)?;
    let (streamed, chunk) = samples_per_second(gpu, &fitting, Some(CHUNK_ROWS), 1)?;
    let show = |name: String, rate: f64, chunk: Option<usize>| {
        let steps = chunk.map_or("uploaded".to_string(), |c| c.to_string());
        say!(
            "{name:<44} {rate:>12.0} {:>11.2}× {steps:>12}",
            rate / uploaded
        );
    };
    show(
        format!(
            "{FITTING_ROWS} rows ({:.0} MB), uploaded",
            megabytes(FITTING_ROWS)
        ),
        uploaded,
        none,
    );
    show(
        format!("the same rows, streamed ({CHUNK_ROWS}-row chunks)"),
        streamed,
        chunk,
    );
    let how = if forced { " (chunk_rows)" } else { "" };
    show(
        format!(
            "{big_rows} rows ({:.0} MB), streamed{how}",
            megabytes(big_rows)
        ),
        big_rate,
        big_chunk,
    );
    let mb = |b: Option<u64>| b.map(|b| b as f64 / 1e6);
    if let (Some(before), Some(with_data), Some(after)) = (before_big, with_data, after) {
        say!(
            "peak host memory: {:.0} MB before the large dataset, {:.0} MB with it ({:.0} MB of rows and targets), {:.0} MB after training on it",
            before as f64 / 1e6,
            with_data as f64 / 1e6,
            data_bytes as f64 / 1e6,
            after as f64 / 1e6
        );
    }
    Ok(json!({
        "network": format!("{FEATURES}→{HIDDEN}→1"),
        "batch": BATCH,
        "fitting": { "rows": FITTING_ROWS, "uploaded_samples_per_s": uploaded, "streamed_samples_per_s": streamed, "streamed_chunk_steps": chunk },
        "large": { "rows": big_rows, "bytes": data_bytes, "samples_per_s": big_rate, "chunk_steps": big_chunk, "forced_by_chunk_rows": forced, "ratio_to_uploaded": big_rate / uploaded },
        "peak_host_mb": { "before_large": mb(before_big), "with_large_data": mb(with_data), "after_training": mb(after) },
    }))
}
