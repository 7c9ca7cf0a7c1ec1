//! Training speed in the browser, measured as `web/bench.html` asks: the networks and batch
//! sizes of the TensorFlow.js peer benchmark (`shared/peers/tfjs`), Adam, on random data of
//! the same shapes. One epoch is one submission and one read of its losses.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wgsl_train::data::Dataset;
use wgsl_train::nn::Mlp;
use wgsl_train::optim::AdamConfig;
use wgsl_train::train::{SingleDispatch, TrainConfig, Trainer};
use wgsl_train::{Gpu, GpuOptions};

/// Milliseconds since the page's navigation started (`performance.now()`).
fn now_ms() -> f64 {
    let performance = js_sys::Reflect::get(&js_sys::global(), &"performance".into())
        .expect("a browser has performance");
    let now = js_sys::Reflect::get(&performance, &"now".into()).expect("performance.now");
    js_sys::Function::from(now)
        .call0(&performance)
        .ok()
        .and_then(|v| v.as_f64())
        .unwrap_or(f64::NAN)
}

#[derive(Serialize)]
struct Measured {
    case: String,
    adapter: String,
    steps: usize,
    seconds: f64,
    steps_per_s: f64,
    /// Steps per submission (and per read of the losses).
    steps_per_read: usize,
    /// `performance.now()` when the first epoch (its steps and its read) was done: from
    /// navigation start, so the first case of a fresh page measures page load → first step.
    first_epoch_done_ms: f64,
    final_loss: f64,
}

fn err(e: wgsl_train::Error) -> JsError {
    JsError::new(&e.to_string())
}

/// Trains one case for `warm` epochs, then times `epochs` more. Cases: `small32` and
/// `small32_one_dispatch` (10→5→1 on 310 rows, batch 32, the latter with the one-dispatch
/// epoch), `small_full` (the same, full batch), `big128` (784→256→256→10 on 512 rows,
/// softmax cross-entropy, batch 128). `matmul` pins a matmul variant by name.
///
/// # Errors
/// An unknown case, no WebGPU, or a device error, in words.
#[wasm_bindgen]
pub async fn bench(
    case: String,
    warm: usize,
    epochs: usize,
    matmul: Option<String>,
) -> Result<String, JsError> {
    let mut rng = StdRng::seed_from_u64(42);
    let mut uniform =
        |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-1.7..1.7)).collect() };
    let (data, sizes, batch_size, lr) = match case.as_str() {
        "small32" | "small32_one_dispatch" | "small_full" => {
            let data = Dataset::regression(uniform(310 * 10), 10, uniform(310)).map_err(err)?;
            let batch = if case == "small_full" { 310 } else { 32 };
            (data, vec![10, 5, 1], batch, 0.003)
        }
        "big128" => {
            let features = uniform(512 * 784);
            let labels = (0..512).map(|i| (i * 7 % 10) as u32).collect();
            let classes = (0..10).map(|c| c.to_string()).collect();
            let data = Dataset::classification(features, 784, labels, classes).map_err(err)?;
            (data, vec![784, 256, 256, 10], 128, 0.001)
        }
        other => return Err(JsError::new(&format!("unknown case {other:?}"))),
    };
    let options = GpuOptions {
        pinned_variants: matmul.map(|v| ("matmul".into(), v)).into_iter().collect(),
        ..GpuOptions::default()
    };
    let gpu = Gpu::new_async(options).await.map_err(err)?;
    let info = gpu.adapter_info();
    let adapter = format!(
        "{:?} {:?} {:?} {:?}",
        info.backend, info.device_type, info.name, info.driver
    );
    let model = Mlp::new(&gpu, &sizes, data.task(), 1).map_err(err)?;
    let config = TrainConfig {
        epochs: warm + epochs,
        batch_size,
        // Each case measures the path it names.
        single_dispatch_epochs: if case == "small32_one_dispatch" {
            SingleDispatch::Always
        } else {
            SingleDispatch::Never
        },
        ..TrainConfig::default()
    };
    let adam = AdamConfig {
        lr,
        ..AdamConfig::default()
    };
    let mut trainer = Trainer::new(&gpu, model, adam, &data, None, config).map_err(err)?;
    let mut first_epoch_done_ms = f64::NAN;
    for epoch in 0..warm.max(1) {
        trainer.run_epoch_async().await.map_err(err)?;
        if epoch == 0 {
            first_epoch_done_ms = now_ms();
        }
    }
    let start = now_ms();
    let mut last = None;
    for _ in 0..epochs {
        last = Some(trainer.run_epoch_async().await.map_err(err)?);
    }
    let seconds = (now_ms() - start) / 1000.0;
    let steps = epochs * trainer.steps_per_epoch();
    let measured = Measured {
        case,
        adapter,
        steps,
        seconds,
        steps_per_s: steps as f64 / seconds,
        steps_per_read: trainer.steps_per_epoch(),
        first_epoch_done_ms,
        final_loss: last.map_or(f64::NAN, |r| r.train_loss),
    };
    serde_json::to_string(&measured).map_err(|e| JsError::new(&e.to_string()))
}
