//! The crate in a real browser: headless Chromium's WebGPU, with Tint compiling the WGSL
//! (`scripts/web/test.sh` builds and runs these). No test skips without WebGPU: opening the
//! adapter is the first thing each does, and its error fails it.

#![cfg(target_arch = "wasm32")]

use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use wgsl_train::data::{diabetes, Prepared, SplitConfig};
use wgsl_train::nn::Mlp;
use wgsl_train::optim::{AdamConfig, OptimizerConfig, SgdConfig};
use wgsl_train::train::{epoch_order, TrainConfig, Trainer};
use wgsl_train::{reference, selftest, Error, Gpu, GpuOptions, Tensor};

wasm_bindgen_test_configure!(run_in_browser);

async fn gpu() -> Gpu {
    Gpu::new_async(GpuOptions::default())
        .await
        .expect("the browser offers a WebGPU adapter")
}

/// Every kernel, in every layout and variant that applies on this adapter (ReLU, the losses,
/// the reductions, the optimizers, the one-dispatch epoch), against the CPU reference: the
/// self-test, as the native tests and `wgsl-train selftest` run it.
#[wasm_bindgen_test]
async fn every_selftest_check_passes_in_the_browser() {
    let gpu = gpu().await;
    let checks = selftest::run_async(&gpu, 7).await.unwrap();
    let failed: Vec<String> = checks
        .iter()
        .filter(|c| !c.passed())
        .map(|c| format!("{} ({:e} of its tolerance)", c.name, c.max_error))
        .collect();
    assert!(
        failed.is_empty(),
        "failed on {:?}: {failed:?}",
        gpu.adapter_info()
    );
    // Matmul in three layouts, five shapes and every variant that applies, and the rest.
    assert!(checks.len() >= 40, "only {} checks ran", checks.len());
    assert!(checks.iter().any(|c| c.name.starts_with("optimizer Adam")));
}

/// Training in the browser follows the CPU reference step by step, as natively
/// (tests/training.rs, the same tolerance): the 10→5→1 network on diabetes with SGD + momentum
/// + L2 and with Adam + L1.
#[wasm_bindgen_test]
async fn training_matches_the_cpu_reference_in_the_browser() {
    let gpu = gpu().await;
    let data = diabetes().unwrap();
    let split = SplitConfig {
        seed: 3,
        ..SplitConfig::default()
    };
    let p = Prepared::new(&data, &split).unwrap();
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
    for optimizer in [OptimizerConfig::from(sgd), adam.into()] {
        check_against_reference(&gpu, &p, optimizer).await;
    }
}

async fn check_against_reference(gpu: &Gpu, p: &Prepared, optimizer: OptimizerConfig) {
    let (sizes, epochs, batch, seed) = ([10, 5, 1], 12, 32, 11);
    let model = Mlp::new(gpu, &sizes, p.train.task(), 5).unwrap();
    let slots = model.params().slots().to_vec();
    let flat = model
        .params()
        .values()
        .to_vec_async::<f32>(gpu)
        .await
        .unwrap();
    let init: Vec<Vec<f32>> = slots
        .iter()
        .map(|s| flat[s.offset..s.offset + s.len()].to_vec())
        .collect();
    let mut cpu = reference::mlp::ReferenceMlp::new(&sizes, init, model.loss_kind(), optimizer);
    let config = TrainConfig {
        epochs,
        batch_size: batch,
        seed,
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(gpu, model, optimizer, &p.train, None, config).unwrap();
    let history = trainer.fit_async().await.unwrap().clone();

    let targets = p.train.target_values();
    let mut steps = 0;
    for record in &history.epochs {
        let order = epoch_order(seed, record.epoch, p.train.len());
        for (s, rows) in order.chunks(batch).enumerate() {
            let x: Vec<f32> = rows
                .iter()
                .flat_map(|&r| p.train.row(r as usize).to_vec())
                .collect();
            let y: Vec<f32> = rows.iter().map(|&r| targets[r as usize]).collect();
            let want = cpu.step(&x, &y, rows.len());
            let got = f64::from(record.step_losses[s]);
            steps += 1;
            assert!(
                (got - want).abs() <= 1e-3 * want.abs().max(1e-3),
                "{optimizer:?} step {steps}: browser loss {got} vs reference {want}"
            );
        }
    }
    assert!(steps >= 100, "only {steps} steps compared");
    let flat = trainer
        .model()
        .params()
        .values()
        .to_vec_async::<f32>(gpu)
        .await
        .unwrap();
    for (slot, want) in slots.iter().zip(cpu.params()) {
        let got = &flat[slot.offset..slot.offset + slot.len()];
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            assert!(
                (g - w).abs() <= 1e-3 * (1.0 + w.abs()),
                "{}[{i}]: browser {g} vs reference {w}",
                slot.name
            );
        }
    }
}

/// A browser cannot block: the blocking API says so and names the async call, instead of
/// hanging the page.
#[wasm_bindgen_test]
async fn a_blocking_call_is_an_error_naming_its_async_variant() {
    let gpu = gpu().await;
    let t = Tensor::from_slice(&gpu, &[3], &[1.0f32, 2.0, 3.0]).unwrap();
    let err = t.to_vec::<f32>(&gpu).unwrap_err();
    assert!(
        matches!(
            err,
            Error::WouldBlock {
                op: "Tensor::to_vec"
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("Tensor::to_vec_async"), "{err}");
    assert_eq!(
        t.to_vec_async::<f32>(&gpu).await.unwrap(),
        vec![1.0, 2.0, 3.0]
    );
}
