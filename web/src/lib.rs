//! wgsl-train in a web page (`web/index.html`): the classic 10→5→1 network trained on the
//! diabetes data through the browser's WebGPU, the six classic configurations compared by
//! 5-fold cross-validation as one grid, and the self-test on the visitor's GPU.
//!
//! Both calls open the adapter themselves and return JSON for the page; the page draws. Build
//! with `bash scripts/web/build.sh`.

mod bench;

pub use bench::bench;

use serde::Serialize;
use wasm_bindgen::prelude::*;
use wgsl_train::data::diabetes;
use wgsl_train::experiment::{Evaluation, Experiment, Sweep};
use wgsl_train::nn::{Activation, Init};
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

/// Trains [`Experiment::classic`] on the diabetes data with the given optimizer, hidden
/// activation and initialisation (`--activation`'s and `--init`'s words), Dropout
/// probability (0: none) and clip_grad_norm_'s max_norm (0: no clipping), calling
/// `on_epoch(epoch, train_loss, validation_loss)` after every epoch, and returns the run as
/// JSON: adapter, split sizes, history, scores, the report table and the diagnosis.
///
/// # Errors
/// No WebGPU adapter, bad settings, or a diverged run, in words.
#[wasm_bindgen]
#[allow(clippy::too_many_arguments)] // the page's form, field by field
pub async fn train(
    optimizer_name: String,
    lr: f64,
    l1: f64,
    l2: f64,
    activation: String,
    init: String,
    dropout: f32,
    clip_grad_norm: f64,
    epochs: usize,
    on_epoch: js_sys::Function,
) -> Result<String, JsError> {
    let mut experiment = Experiment::classic(optimizer(&optimizer_name, lr, l1, l2)?);
    experiment.activations = vec![activation.parse::<Activation>().map_err(js_error)?];
    experiment.init = init.parse::<Init>().map_err(js_error)?;
    experiment.dropout = vec![dropout];
    experiment.train.clip_grad_norm = (clip_grad_norm != 0.0).then_some(clip_grad_norm);
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
struct Compared {
    adapter: String,
    /// Per configuration, in [`Experiment::classic_six`]'s order.
    candidates: Vec<ComparedCandidate>,
    /// The index of the chosen configuration.
    best: usize,
    refit_epochs: usize,
    /// The chosen configuration, refit, on the test split beside the baseline.
    test: Evaluation,
    diagnosis: String,
}

#[derive(Serialize)]
struct ComparedCandidate {
    name: &'static str,
    /// Mean and standard deviation over the folds of the validation MSE, in the data's units.
    validation_mse: (f64, f64),
    /// The same of R².
    validation_r2: (f64, f64),
    rank: usize,
    diverged_folds: usize,
}

/// Compares [`Experiment::classic_six`]'s configurations by 5-fold cross-validation
/// ([`Sweep::classic`], the diabetes example's): 30 models trained together as one grid.
/// After each submission it calls `on_curves(epochs_done, curves)`, `curves` a JSON array of
/// each configuration's folds' mean `[train, validation]` loss per epoch so far (standardised
/// MSE); it returns JSON: the adapter, each configuration's mean ± std validation MSE and R²
/// and rank, the chosen one, its test scores beside the baseline and the diagnosis.
///
/// # Errors
/// No WebGPU adapter, or a device error, in words.
#[wasm_bindgen]
pub async fn compare(on_curves: js_sys::Function) -> Result<String, JsError> {
    let gpu = Gpu::new_async(GpuOptions::default())
        .await
        .map_err(js_error)?;
    let data = diabetes().map_err(js_error)?;
    let mut watch = |done: usize, curves: &[History]| {
        let curves: Vec<Vec<[Option<f64>; 2]>> = curves
            .iter()
            .map(|h| {
                h.epochs
                    .iter()
                    .map(|e| [Some(e.train_loss), e.validation_loss])
                    .collect()
            })
            .collect();
        let json = serde_json::to_string(&curves).unwrap_or_default();
        // A failing callback is the page's problem, not the training's.
        let _ = on_curves.call2(&JsValue::NULL, &JsValue::from(done as u32), &json.into());
        Ok(())
    };
    let outcome = Sweep::classic()
        .run_async(&gpu, &data, Some(&mut watch))
        .await
        .map_err(js_error)?;
    let names = Experiment::classic_six().into_iter().map(|(name, _)| name);
    let candidates = names
        .zip(&outcome.candidates)
        .map(|(name, c)| {
            let r2 = c.validation.iter().find(|(n, _, _)| *n == "R²");
            ComparedCandidate {
                name,
                validation_mse: c.validation_loss,
                validation_r2: r2.map_or((f64::NAN, f64::NAN), |&(_, m, s)| (m, s)),
                rank: c.rank,
                diverged_folds: c.diverged_folds,
            }
        })
        .collect();
    let compared = Compared {
        adapter: adapter(&gpu),
        candidates,
        best: outcome.best,
        refit_epochs: outcome.refit_epochs,
        test: outcome.test,
        diagnosis: outcome.diagnosis.to_string(),
    };
    serde_json::to_string(&compared).map_err(|e| JsError::new(&e.to_string()))
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
