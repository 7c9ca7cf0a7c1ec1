//! The crate in a real browser: headless Chromium's WebGPU, with Tint compiling the WGSL
//! (`scripts/web/test.sh` builds and runs these). No test skips without WebGPU: opening the
//! adapter is the first thing each does, and its error fails it.

#![cfg(target_arch = "wasm32")]

#[path = "../../tests/common/replay.rs"]
mod replay;

use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use wgsl_train::data::{diabetes, Dataset, Prepared, SplitConfig};
use wgsl_train::nn::{LossWeights, Mlp};
use wgsl_train::optim::OptimizerConfig;
use wgsl_train::train::{TrainConfig, Trainer};
use wgsl_train::{selftest, Error, Gpu, GpuOptions, Tensor};

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
/// (tests/training.rs: the same replay, the same tolerance, the same optimizers): the 10→5→1
/// network on diabetes with SGD + momentum + L2 and with Adam + L1.
#[wasm_bindgen_test]
async fn training_matches_the_cpu_reference_in_the_browser() {
    let gpu = gpu().await;
    let split = SplitConfig {
        seed: 3,
        ..SplitConfig::default()
    };
    let p = Prepared::new(&diabetes().unwrap(), &split).unwrap();
    for optimizer in replay::diabetes_optimizers() {
        let (sizes, seed, batch) = ([10, 5, 1], 11, 32);
        let model = Mlp::new(&gpu, &sizes, p.train.task(), 5).unwrap();
        let config = TrainConfig {
            epochs: 12,
            batch_size: batch,
            seed,
            ..TrainConfig::default()
        };
        train_and_replay(&gpu, model, optimizer, &p.train, config).await;
    }
}

/// Dropout in the browser draws the masks the host draws (Philox4x32-10 compiled by Tint):
/// 10→8→4→1 with Dropout 0.3 then 0.1 after GELU and ReLU, replayed on the reference as
/// natively (tests/dropout.rs).
#[wasm_bindgen_test]
async fn dropout_training_matches_the_cpu_reference_in_the_browser() {
    use wgsl_train::nn::Activation;
    let gpu = gpu().await;
    let p = Prepared::new(&diabetes().unwrap(), &SplitConfig::default()).unwrap();
    let (sizes, seed, batch) = ([10, 8, 4, 1], 0x1_0000_0005, 32);
    let (activations, dropout) = ([Activation::Gelu, Activation::Relu], [0.3, 0.1]);
    let model = Mlp::new(&gpu, &sizes, p.train.task(), 5)
        .unwrap()
        .with_activations(&activations)
        .unwrap()
        .with_dropout(&dropout)
        .unwrap();
    let config = TrainConfig {
        epochs: 12,
        batch_size: batch,
        seed,
        ..TrainConfig::default()
    };
    let optimizer = replay::diabetes_optimizers()[1];
    train_and_replay(&gpu, model, optimizer, &p.train, config).await;
}

/// Class weights and clip_grad_norm_ with L1's term in the norm, in the browser, on the
/// one-dispatch path (which goes backward twice a step) and the general path: 150 rows of 4
/// features in 3 classes (made here: the builtin iris is the native `datasets` feature's)
/// through 4→8→3 with `CrossEntropyLoss(weight=[0.4, 1, 2.5])` and Adam + L1, the norm
/// clipped at 0.3, replayed on the reference as natively (tests/loss_weights.rs,
/// tests/clip_grad_norm.rs).
#[wasm_bindgen_test]
async fn weighted_clipped_training_matches_the_cpu_reference_in_the_browser() {
    use wgsl_train::optim::AdamConfig;
    use wgsl_train::train::SingleDispatch;
    let gpu = gpu().await;
    let split = SplitConfig {
        seed: 3,
        ..SplitConfig::default()
    };
    let rows = 150;
    let features: Vec<f32> = (0..rows * 4).map(|i| (i as f32 * 0.37).sin()).collect();
    let labels = features
        .chunks(4)
        .map(|x| u32::from(x[0] + x[1] > 0.0) + u32::from(x[2] > 0.5))
        .collect();
    let classes = ["a", "b", "c"].map(String::from).to_vec();
    let data = Dataset::classification(features, 4, labels, classes).unwrap();
    let p = Prepared::new(&data, &split).unwrap();
    let (sizes, seed, batch) = ([4, 8, 3], 11, 16);
    let optimizer = AdamConfig {
        lr: 0.01,
        l1: 1e-3,
        ..AdamConfig::default()
    };
    for (one_dispatch, choice) in [
        (true, SingleDispatch::Always),
        (false, SingleDispatch::Never),
    ] {
        let model = Mlp::new(&gpu, &sizes, p.train.task(), 5)
            .unwrap()
            .with_loss_weights(LossWeights::Class(vec![0.4, 1.0, 2.5]))
            .unwrap();
        let config = TrainConfig {
            epochs: 15,
            batch_size: batch,
            seed,
            clip_grad_norm: Some(0.3),
            single_dispatch_epochs: choice,
            ..TrainConfig::default()
        };
        let trainer = train_and_replay(&gpu, model, optimizer, &p.train, config).await;
        assert_eq!(trainer.single_dispatch_epochs(), one_dispatch);
    }
}

/// Trains `model` on `data` and replays the run on the CPU reference from its initial
/// weights (`replay::check_trainer`, as natively); returns the trainer.
async fn train_and_replay<'g>(
    gpu: &'g Gpu,
    model: Mlp,
    optimizer: impl Into<OptimizerConfig>,
    data: &Dataset,
    config: TrainConfig,
) -> Trainer<'g> {
    let initial = weights(gpu, &model).await;
    let mut trainer = Trainer::new(gpu, model, optimizer, data, None, config).unwrap();
    let history = trainer.fit_async().await.unwrap().clone();
    let trained = weights(gpu, trainer.model()).await;
    replay::check_trainer(&trainer, data, initial, trained, &history);
    trainer
}

/// The model's parameters, one `Vec` per parameter in slot order.
async fn weights(gpu: &Gpu, model: &Mlp) -> Vec<Vec<f32>> {
    let mut weights = Vec::new();
    for slot in model.params().slots() {
        weights.push(model.params().read_async(gpu, &slot.name).await.unwrap());
    }
    weights
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
