//! wgsl-train in a web page (`web/index.html`): the classic 10→5→1 network trained on the
//! diabetes data through the browser's WebGPU, and the self-test on the visitor's GPU.
//!
//! Both calls open the adapter themselves and return JSON for the page; the page draws. Build
//! with `bash scripts/web/build.sh`.

mod bench;

pub use bench::bench;

use serde::Serialize;
use wasm_bindgen::prelude::*;
use wgsl_train::data::diabetes;
use wgsl_train::experiment::{Evaluation, Experiment};
use wgsl_train::optim::{AdamConfig, OptimizerConfig, SgdConfig};
use wgsl_train::selftest::{self, Check};
use wgsl_train::train::History;
use wgsl_train::{Gpu, GpuOptions};

/// The adapter, as the page shows it (a browser may not tell its name).
fn adapter(gpu: &Gpu) -> String {
    let info = gpu.adapter_info();
    match info.name.as_str() {
        "" => format!("{:?} (the browser does not tell its name)", info.backend),
        name => format!("{name} ({:?})", info.backend),
    }
}

fn js_error(e: wgsl_train::Error) -> JsError {
    JsError::new(&e.to_string())
}

/// The optimizer of the diabetes example's configurations: `"sgd"` (momentum 0.9) or
/// `"adam"`, with the rate and the L1 and L2 penalties given.
fn optimizer(name: &str, lr: f64, l1: f64, l2: f64) -> Result<OptimizerConfig, JsError> {
    Ok(match name {
        "sgd" => SgdConfig {
            lr,
            momentum: 0.9,
            l1,
            weight_decay: l2,
            ..SgdConfig::default()
        }
        .into(),
        "adam" => AdamConfig {
            lr,
            l1,
            weight_decay: l2,
            ..AdamConfig::default()
        }
        .into(),
        other => return Err(JsError::new(&format!("unknown optimizer {other:?}"))),
    })
}

#[derive(Serialize)]
struct Trained {
    adapter: String,
    rows: [usize; 3],
    history: History,
    /// Train, validation and test, each the model's scores beside the baseline's.
    scores: [Evaluation; 3],
    report: String,
    diagnosis: String,
}

/// Trains [`Experiment::classic`] on the diabetes data with the given optimizer, calling
/// `on_epoch(epoch, train_loss, validation_loss)` after every epoch, and returns the run as
/// JSON: adapter, split sizes, history, scores, the report table and the diagnosis.
///
/// # Errors
/// No WebGPU adapter, bad settings, or a diverged run, in words.
#[wasm_bindgen]
pub async fn train(
    optimizer_name: String,
    lr: f64,
    l1: f64,
    l2: f64,
    epochs: usize,
    on_epoch: js_sys::Function,
) -> Result<String, JsError> {
    let mut experiment = Experiment::classic(optimizer(&optimizer_name, lr, l1, l2)?);
    experiment.train.epochs = epochs;
    experiment.validate().map_err(js_error)?;
    let gpu = Gpu::new_async(GpuOptions::default())
        .await
        .map_err(js_error)?;
    let data = diabetes().map_err(js_error)?;
    let mut run = experiment.start(&gpu, &data).map_err(js_error)?;
    run.fit_async(|trainer, _| {
        if let Some(e) = trainer.history().last() {
            let validation = e.validation_loss.map_or(JsValue::NULL, JsValue::from);
            // A failing callback is the page's problem, not the training's.
            let _ = on_epoch.call3(
                &JsValue::NULL,
                &JsValue::from(e.epoch as u32),
                &JsValue::from(e.train_loss),
                &validation,
            );
        }
        Ok(())
    })
    .await
    .map_err(js_error)?;
    let outcome = run.finish_async().await.map_err(js_error)?;
    let p = &outcome.prepared;
    let trained = Trained {
        adapter: adapter(&gpu),
        rows: [p.train.len(), p.validation.len(), p.test.len()],
        history: outcome.history.clone(),
        report: outcome.report(),
        diagnosis: outcome.diagnosis.to_string(),
        scores: outcome.scores,
    };
    serde_json::to_string(&trained).map_err(|e| JsError::new(&e.to_string()))
}

#[derive(Serialize)]
struct SelfTest {
    adapter: String,
    checks: Vec<CheckResult>,
}

#[derive(Serialize)]
struct CheckResult {
    #[serde(flatten)]
    check: Check,
    passed: bool,
}

/// Runs every kernel against the CPU reference on this browser's GPU, as
/// `wgsl-train selftest` does natively; returns JSON: the adapter and each check's error,
/// tolerance and verdict.
///
/// # Errors
/// No WebGPU adapter, or a device error, in words.
#[wasm_bindgen]
pub async fn self_test(seed: u32) -> Result<String, JsError> {
    let gpu = Gpu::new_async(GpuOptions::default())
        .await
        .map_err(js_error)?;
    let checks = selftest::run_async(&gpu, u64::from(seed))
        .await
        .map_err(js_error)?;
    let result = SelfTest {
        adapter: adapter(&gpu),
        checks: checks
            .into_iter()
            .map(|check| CheckResult {
                passed: check.passed(),
                check,
            })
            .collect(),
    };
    serde_json::to_string(&result).map_err(|e| JsError::new(&e.to_string()))
}
