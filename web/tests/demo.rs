//! The demo page's two calls, as the page makes them, in headless Chromium's WebGPU.

#![cfg(target_arch = "wasm32")]

use wasm_bindgen::JsValue;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

fn parse(json: &str) -> serde_json::Value {
    serde_json::from_str(json).expect("the call returns JSON")
}

/// `train` reports every epoch to the page's callback, and returns the history, the three
/// splits' scores beside the baseline, the report and the diagnosis.
#[wasm_bindgen_test]
async fn train_calls_back_every_epoch_and_returns_the_outcome() {
    // The page's callback, here one that keeps what it is given.
    js_sys::eval("globalThis.epochs = []").unwrap();
    let on_epoch = js_sys::Function::new_with_args("e, t, v", "globalThis.epochs.push([e, t, v])");
    let json = wgsl_train_web::train(
        "adam".into(),
        0.003,
        0.0,
        0.01,
        "relu".into(),
        "default".into(),
        0.0,
        0.0,
        6,
        on_epoch,
    )
    .await
    .map_err(JsValue::from)
    .unwrap();
    let result = parse(&json);
    let seen = js_sys::Array::from(&js_sys::eval("globalThis.epochs").unwrap());
    assert_eq!(seen.length(), 6);
    let epochs = result["history"]["epochs"].as_array().unwrap();
    assert_eq!(epochs.len(), 6);
    for (i, epoch) in epochs.iter().enumerate() {
        let called = js_sys::Array::from(&seen.get(i as u32));
        assert_eq!(called.get(0).as_f64(), Some((i + 1) as f64));
        assert_eq!(called.get(1).as_f64(), epoch["train_loss"].as_f64());
        assert_eq!(called.get(2).as_f64(), epoch["validation_loss"].as_f64());
    }
    // The classic split of the 442 patients, as the native example makes it.
    let split = wgsl_train::experiment::Experiment::classic(
        wgsl_train::optim::AdamConfig::default().into(),
    )
    .split;
    let p =
        wgsl_train::data::Prepared::new(&wgsl_train::data::diabetes().unwrap(), &split).unwrap();
    let rows = [p.train.len(), p.validation.len(), p.test.len()];
    assert_eq!(result["rows"], serde_json::json!(rows));
    assert_eq!(rows.iter().sum::<usize>(), 442);
    for split in result["scores"].as_array().unwrap() {
        let mse = split["model"]["mse"].as_f64().unwrap();
        assert!(mse.is_finite() && mse > 0.0, "{split}");
    }
    assert!(result["report"].as_str().unwrap().contains("MSE"));
    assert!(!result["diagnosis"].as_str().unwrap().is_empty());
}

/// Bad settings come back as an error the page shows, before any GPU work.
#[wasm_bindgen_test]
async fn train_refuses_bad_settings_in_words() {
    let on_epoch = js_sys::Function::new_no_args("");
    let refused = |optimizer: &str, lr: f64, layers: (&str, &str, f32), clip: f64| {
        let (activation, init, dropout) = layers;
        let call = wgsl_train_web::train(
            optimizer.into(),
            lr,
            0.0,
            0.0,
            activation.into(),
            init.into(),
            dropout,
            clip,
            5,
            on_epoch.clone(),
        );
        async move {
            let err = call.await.map_err(JsValue::from).unwrap_err();
            String::from(js_sys::Error::from(err).message())
        }
    };
    let plain = ("relu", "default", 0.0);
    let message = refused("adam", -1.0, plain, 0.0).await;
    assert!(
        message.contains("lr"),
        "lr -1 was refused without naming it"
    );
    let message = refused("rmsprop", 0.01, plain, 0.0).await;
    assert!(message.contains("rmsprop"), "{message}");
    let message = refused("adam", 0.01, ("swish", "default", 0.0), 0.0).await;
    assert!(message.contains("swish"), "{message}");
    let message = refused("adam", 0.01, ("relu", "glorot", 0.0), 0.0).await;
    assert!(message.contains("glorot"), "{message}");
    let message = refused("adam", 0.01, ("relu", "default", 1.0), 0.0).await;
    assert!(message.contains("dropout probability 1"), "{message}");
    let message = refused("adam", 0.01, plain, -1.0).await;
    assert!(message.contains("clip_grad_norm -1"), "{message}");
}

/// The page's activation, initialisation, dropout and gradient clipping reach the model:
/// `train` with Tanh, Xavier's draw, Dropout 0.2 and clip_grad_norm 0.05 gives, epoch for
/// epoch, the losses the library gives the same experiment here, and otherwise than without
/// the clipping.
#[wasm_bindgen_test]
async fn train_takes_the_activation_initialisation_dropout_and_clipping() {
    use wgsl_train::experiment::Experiment;
    use wgsl_train::nn::{Activation, Init};
    use wgsl_train::optim::AdamConfig;
    let on_epoch = js_sys::Function::new_no_args("");
    let json = wgsl_train_web::train(
        "adam".into(),
        0.003,
        0.0,
        0.0,
        "tanh".into(),
        "xavier_uniform".into(),
        0.2,
        0.05,
        4,
        on_epoch,
    )
    .await
    .map_err(JsValue::from)
    .unwrap();
    let page: Vec<f64> = parse(&json)["history"]["epochs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["train_loss"].as_f64().unwrap())
        .collect();
    let mut experiment = Experiment::classic(
        AdamConfig {
            lr: 0.003,
            ..AdamConfig::default()
        }
        .into(),
    );
    experiment.train.epochs = 4;
    experiment.activations = vec![Activation::Tanh];
    experiment.init = Init::XavierUniform { gain: 1.0 };
    experiment.dropout = vec![0.2];
    experiment.train.clip_grad_norm = Some(0.05);
    let gpu = wgsl_train::Gpu::new_async(wgsl_train::GpuOptions::default())
        .await
        .unwrap();
    let mut run = experiment
        .start(&gpu, &wgsl_train::data::diabetes().unwrap())
        .unwrap();
    run.fit_async(|_, _| Ok(())).await.unwrap();
    let library: Vec<f64> = run
        .trainer()
        .history()
        .epochs
        .iter()
        .map(|e| e.train_loss)
        .collect();
    assert_eq!(page, library);
    let mut unclipped = experiment.clone();
    unclipped.train.clip_grad_norm = None;
    let mut unclipped = unclipped
        .start(&gpu, &wgsl_train::data::diabetes().unwrap())
        .unwrap();
    unclipped.fit_async(|_, _| Ok(())).await.unwrap();
    assert_ne!(unclipped.trainer().history().epochs[1].train_loss, page[1]);
    experiment.activations = vec![Activation::Relu];
    experiment.init = Init::Default;
    let mut relu = experiment
        .start(&gpu, &wgsl_train::data::diabetes().unwrap())
        .unwrap();
    relu.fit_async(|_, _| Ok(())).await.unwrap();
    assert_ne!(relu.trainer().history().epochs[0].train_loss, page[0]);
}

/// `compare` trains the six classic configurations as one grid, hands the page each one's
/// curves as they grow, and returns their cross-validated scores, ranked, with the choice.
#[wasm_bindgen_test]
async fn compare_draws_six_growing_curves_and_ranks_the_six() {
    js_sys::eval("globalThis.curves = []").unwrap();
    let on_curves =
        js_sys::Function::new_with_args("done, json", "globalThis.curves.push([done, json])");
    let result = parse(
        &wgsl_train_web::compare(on_curves)
            .await
            .map_err(JsValue::from)
            .unwrap(),
    );
    let seen = js_sys::Array::from(&js_sys::eval("globalThis.curves").unwrap());
    assert!(seen.length() >= 1);
    let mut last_done = 0.0;
    for call in seen.iter() {
        let call = js_sys::Array::from(&call);
        let done = call.get(0).as_f64().unwrap();
        assert!(
            done > last_done,
            "epochs done went from {last_done} to {done}"
        );
        last_done = done;
        let curves = parse(&call.get(1).as_string().unwrap());
        let curves = curves.as_array().unwrap();
        assert_eq!(curves.len(), 6);
        for curve in curves {
            // A configuration whose folds all stopped early has fewer epochs than were run.
            let epochs = curve.as_array().unwrap();
            assert!(!epochs.is_empty() && epochs.len() as f64 <= done);
            assert!(epochs.iter().all(|e| e[0].as_f64().unwrap().is_finite()));
        }
    }
    let classic = wgsl_train::experiment::Sweep::classic();
    assert_eq!(last_done, classic.grid.epochs as f64);
    let candidates = result["candidates"].as_array().unwrap();
    let names: Vec<&str> = candidates
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "SGD",
            "SGD + L1",
            "SGD + L2",
            "Adam",
            "Adam + L1",
            "Adam + L2"
        ]
    );
    let mse: Vec<f64> = candidates
        .iter()
        .map(|c| c["validation_mse"][0].as_f64().unwrap())
        .collect();
    for (c, candidate) in candidates.iter().enumerate() {
        let below = mse.iter().filter(|&&m| m < mse[c]).count();
        assert_eq!(candidate["rank"].as_u64().unwrap() as usize, 1 + below);
    }
    let best = result["best"].as_u64().unwrap() as usize;
    assert_eq!(candidates[best]["rank"], 1);
    assert!(result["test"]["model"]["mse"].as_f64().unwrap() > 0.0);
    assert!(!result["diagnosis"].as_str().unwrap().is_empty());
}

/// `self_test` runs every check and says which passed.
#[wasm_bindgen_test]
async fn self_test_reports_every_check() {
    let result = parse(
        &wgsl_train_web::self_test(3)
            .await
            .map_err(JsValue::from)
            .unwrap(),
    );
    let checks = result["checks"].as_array().unwrap();
    assert!(checks.len() >= 40, "{} checks", checks.len());
    for check in checks {
        assert_eq!(check["passed"], true, "{check}");
        assert!(check["max_error"].as_f64().unwrap() <= check["tolerance"].as_f64().unwrap());
    }
}
