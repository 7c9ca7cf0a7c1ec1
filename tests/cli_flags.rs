//! Every flag of `train` (and `eval`'s, `predict`'s, and `bench`'s `--stream-gb`, `--grid-only`
//! and `--grid-form`) reaches the library as given: a table from each flag to what the library
//! received, read back from what the run saved — the model file's optimizer groups, split and
//! layers, and the training state's settings (the `TrainConfig` the trainer ran with) — or to
//! its observable effect. A flag that is parsed but not passed on, or passed to the wrong
//! field, fails its row.

mod common;

use std::path::{Path, PathBuf};

use common::run_cli;
use serde_json::{json, Value};
use wgsl_train::checkpoint::{read_tensors, training_state_path};

/// A fresh directory for one test, under the binary's scratch directory.
fn scratch(name: &str) -> PathBuf {
    let dir = common::scratch_dir().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The `"wgsl-train"` metadata of a safetensors file.
fn metadata(path: &Path) -> Value {
    let (_, metadata) = read_tensors(path).unwrap();
    serde_json::from_str(&metadata["wgsl-train"]).unwrap()
}

/// Trains on `data` for 2 epochs (unless `flags` say otherwise) with `flags`, saving to a
/// fresh file; returns (the model's metadata, the training state's settings).
fn train(dir: &Path, data: &str, flags: &[&str]) -> (Value, Value) {
    let path = dir.join("model.safetensors");
    std::fs::remove_file(&path).ok();
    std::fs::remove_file(training_state_path(&path)).ok();
    let save = path.display().to_string();
    let mut args = vec!["train", "--data", data, "--quiet", "--save", &save];
    if !flags.contains(&"--epochs") {
        args.extend(["--epochs", "2"]);
    }
    args.extend(flags);
    let out = run_cli(&args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let settings = metadata(&training_state_path(&path))["settings"].clone();
    (metadata(&path), settings)
}

/// Where a row looks: the one optimizer group's config, the split, or a training setting.
enum Saved {
    Optimizer(&'static str),
    Split(&'static str),
    Setting(&'static str),
    Model(&'static str),
}

#[test]
fn every_train_flag_reaches_the_library() {
    let scratch = scratch("flags");
    use Saved::*;
    let rows: Vec<(&[&str], Saved, Value)> = vec![
        (&["--optimizer", "sgd"], Optimizer("kind"), json!("sgd")),
        (&["--optimizer", "adam"], Optimizer("kind"), json!("adam")),
        (&["--lr", "0.05"], Optimizer("lr"), json!(0.05)),
        (
            &["--optimizer", "sgd", "--momentum", "0.5"],
            Optimizer("momentum"),
            json!(0.5),
        ),
        (
            &[
                "--optimizer",
                "sgd",
                "--momentum",
                "0.5",
                "--dampening",
                "0.25",
            ],
            Optimizer("dampening"),
            json!(0.25),
        ),
        (
            &["--optimizer", "sgd", "--momentum", "0.5", "--nesterov"],
            Optimizer("nesterov"),
            json!(true),
        ),
        (&["--beta1", "0.8"], Optimizer("betas"), json!([0.8, 0.999])),
        (&["--beta2", "0.95"], Optimizer("betas"), json!([0.9, 0.95])),
        (&["--eps", "1e-6"], Optimizer("eps"), json!(1e-6)),
        (&["--amsgrad"], Optimizer("amsgrad"), json!(true)),
        (&["--l2", "0.01"], Optimizer("weight_decay"), json!(0.01)),
        (
            &["--l2", "0.01"],
            Optimizer("decoupled_weight_decay"),
            json!(false),
        ),
        (
            &["--optimizer", "sgd", "--l2", "0.02"],
            Optimizer("weight_decay"),
            json!(0.02),
        ),
        (&["--l1", "0.002"], Optimizer("l1"), json!(0.002)),
        (
            &["--optimizer", "sgd", "--l1", "0.003"],
            Optimizer("l1"),
            json!(0.003),
        ),
        // AdamW: Adam with decoupled weight decay, PyTorch's default 0.01 unless --l2.
        (
            &["--optimizer", "adamw"],
            Optimizer("decoupled_weight_decay"),
            json!(true),
        ),
        (
            &["--optimizer", "adamw"],
            Optimizer("weight_decay"),
            json!(0.01),
        ),
        (
            &["--optimizer", "adamw", "--l2", "0.05"],
            Optimizer("weight_decay"),
            json!(0.05),
        ),
        (&["--test", "0.2"], Split("test"), json!(0.2)),
        (&["--validation", "0.3"], Split("validation"), json!(0.3)),
        (&["--seed", "7"], Split("seed"), json!(7)),
        (&["--seed", "7"], Setting("shuffle seed"), json!("7")),
        (
            &["--hidden", "4,3"],
            Setting("layer sizes"),
            json!("10→4→3→1"),
        ),
        (&["--epochs", "3"], Setting("epochs"), json!("3")),
        (&["--batch-size", "16"], Setting("batch size"), json!("16")),
        (&["--patience", "3"], Setting("patience"), json!("Some(3)")),
        (
            &["--min-delta", "0.01"],
            Setting("min_delta"),
            json!("0.01"),
        ),
        (
            &["--lr-schedule", "step"],
            Setting("learning-rate schedule"),
            json!("Step { step_size: 30, gamma: 0.1 }"),
        ),
        (
            &[
                "--lr-schedule",
                "step",
                "--lr-step-size",
                "4",
                "--lr-gamma",
                "0.5",
            ],
            Setting("learning-rate schedule"),
            json!("Step { step_size: 4, gamma: 0.5 }"),
        ),
        // --lr-t-max defaults to --epochs.
        (
            &["--lr-schedule", "cosine"],
            Setting("learning-rate schedule"),
            json!("Cosine { t_max: 2, eta_min: 0.0 }"),
        ),
        (
            &[
                "--lr-schedule",
                "cosine",
                "--lr-t-max",
                "7",
                "--lr-eta-min",
                "0.0001",
            ],
            Setting("learning-rate schedule"),
            json!("Cosine { t_max: 7, eta_min: 0.0001 }"),
        ),
        (
            &["--single-dispatch-epochs", "never"],
            Setting("single-dispatch epochs"),
            json!("false"),
        ),
        (
            &["--single-dispatch-epochs"],
            Setting("single-dispatch epochs"),
            json!("true"),
        ),
        (
            &["--hidden", "6"],
            Model("layers"),
            json!([
                {"type": "Linear", "in_features": 10, "out_features": 6},
                {"type": "ReLU"},
                {"type": "Linear", "in_features": 6, "out_features": 1},
            ]),
        ),
        (
            &[
                "--hidden",
                "4,3",
                "--activation",
                "gelu_tanh,leaky_relu:0.5",
            ],
            Model("layers"),
            json!([
                {"type": "Linear", "in_features": 10, "out_features": 4},
                {"type": "GELU", "approximate": "tanh"},
                {"type": "Linear", "in_features": 4, "out_features": 3},
                {"type": "LeakyReLU", "negative_slope": 0.5},
                {"type": "Linear", "in_features": 3, "out_features": 1},
            ]),
        ),
        (
            &["--hidden", "4,3", "--activation", "silu"],
            Setting("activations"),
            json!("silu,silu"),
        ),
        (
            &["--hidden", "4,3", "--dropout", "0.25"],
            Setting("dropout"),
            json!("0.25,0.25"),
        ),
        (&["--hidden", "4,3"], Setting("dropout"), json!("0,0")),
        (
            &[
                "--hidden",
                "4,3",
                "--activation",
                "tanh",
                "--dropout",
                "0,0.5",
            ],
            Model("layers"),
            json!([
                {"type": "Linear", "in_features": 10, "out_features": 4},
                {"type": "Tanh"},
                {"type": "Linear", "in_features": 4, "out_features": 3},
                {"type": "Tanh"},
                {"type": "Dropout", "p": 0.5},
                {"type": "Linear", "in_features": 3, "out_features": 1},
            ]),
        ),
        (&["--epochs", "1"], Model("init"), json!("default")),
        (
            &["--clip-grad-value", "0.25"],
            Optimizer("clip_grad_value"),
            json!(0.25),
        ),
        (
            &["--optimizer", "sgd", "--clip-grad-value", "2"],
            Optimizer("clip_grad_value"),
            json!(2.0),
        ),
        (
            &["--clip-grad-norm", "0.5"],
            Setting("clip_grad_norm"),
            json!("Some(0.5)"),
        ),
        (&["--epochs", "1"], Setting("clip_grad_norm"), json!("None")),
        // L1 and clip_grad_norm together (the norm then holds L1's term).
        (
            &["--l1", "0.001", "--clip-grad-norm", "0.5"],
            Setting("clip_grad_norm"),
            json!("Some(0.5)"),
        ),
        (
            &["--l1", "0.001", "--clip-grad-norm", "0.5"],
            Optimizer("l1"),
            json!(0.001),
        ),
        (
            &["--init", "kaiming_normal:mode=fan_out,nonlinearity=relu"],
            Model("init"),
            json!("kaiming_normal:mode=fan_out,nonlinearity=relu"),
        ),
        (
            &["--init", "xavier_uniform:gain=tanh"],
            Model("init"),
            json!("xavier_uniform:gain=1.6666666666666667"),
        ),
    ];
    for (flags, saved, want) in rows {
        let (model, settings) = train(&scratch, "diabetes", flags);
        let got = match saved {
            Optimizer(field) => {
                let groups = model["optimizer"].as_array().unwrap();
                assert_eq!(groups.len(), 1, "{flags:?}: one parameter group");
                groups[0]["config"][field].clone()
            }
            Split(field) => model["split"][field].clone(),
            Setting(key) => settings[key].clone(),
            Model(key) => model[key].clone(),
        };
        assert_eq!(got, want, "{flags:?}");
    }
}

/// `--target` by name and by index and `--task`, for `train` and `eval`: which columns became
/// the features, and the task.
#[test]
fn target_and_task_flags_choose_the_column_and_the_task() {
    let scratch = scratch("target-flags");
    let csv = scratch.join("data.csv");
    let mut text = String::from("a,b,y,c\n");
    for i in 0..40 {
        let x = i as f32 / 40.0;
        text += &format!("{x},{},{},{}\n", 1.0 - x, i % 2, (x * 7.0).sin());
    }
    std::fs::write(&csv, text).unwrap();
    let csv = csv.display().to_string();
    let features = |model: &Value| model["preprocessing"]["feature_names"].clone();
    let (model, _) = train(&scratch, &csv, &[]);
    assert_eq!(
        features(&model),
        json!(["a", "b", "y"]),
        "the last column by default"
    );
    let (model, _) = train(&scratch, &csv, &["--target", "y"]);
    assert_eq!(features(&model), json!(["a", "b", "c"]), "--target y");
    assert_eq!(model["task"], json!("regression"), "--target y");
    let (model, _) = train(&scratch, &csv, &["--target", "1"]);
    assert_eq!(features(&model), json!(["a", "y", "c"]), "--target 1");
    let (model, _) = train(&scratch, &csv, &["--target", "y", "--task", "binary"]);
    assert_eq!(model["task"], json!("binary"), "--task binary");

    // eval finds the target the model was trained on only where --target names it.
    let checkpoint = scratch.join("model.safetensors").display().to_string();
    let eval = |extra: &[&str]| {
        let mut args = vec![
            "eval",
            "--checkpoint",
            &checkpoint,
            "--data",
            &csv,
            "--json",
        ];
        args.extend(extra);
        run_cli(&args)
    };
    let out = eval(&["--target", "y"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["rows"], json!(40), "eval --target y");
    let out = eval(&[]);
    assert!(
        !out.status.success(),
        "eval took c as the target of a model trained on y"
    );
    // A regression model read as binary is refused: --task reaches eval.
    let (_, _) = train(&scratch, &csv, &["--target", "y"]);
    let out = eval(&["--target", "y", "--task", "binary"]);
    assert!(
        !out.status.success(),
        "eval --task binary of a regression model"
    );
}

/// `--autotune` times the matmul kernels and caches the choice per adapter (in
/// `$XDG_CACHE_HOME/wgsl-train/`); without it nothing is timed or cached.
#[test]
fn autotune_flag_runs_the_autotuner() {
    let scratch = scratch("autotune-flag");
    for (flags, cached) in [(&[][..], false), (&["--autotune"][..], true)] {
        let cache = scratch.join(format!("cache-{cached}"));
        let path = scratch.join(format!("model-{cached}.safetensors"));
        let save = path.display().to_string();
        let mut args = vec!["train", "--data", "diabetes", "--epochs", "2", "--quiet"];
        args.extend(["--single-dispatch-epochs", "never", "--save", &save]);
        args.extend(flags);
        let out = common::cli()
            .args(&args)
            .env("XDG_CACHE_HOME", &cache)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let files: Vec<_> = std::fs::read_dir(cache.join("wgsl-train"))
            .map(|d| d.map(|e| e.unwrap().file_name()).collect())
            .unwrap_or_default();
        assert_eq!(
            files
                .iter()
                .any(|f| f.to_string_lossy().starts_with("autotune-")),
            cached,
            "{flags:?}: cache {files:?}"
        );
    }
}

/// `bench --stream-gb N` streams a generated dataset of N gigabytes (to within a row).
#[test]
fn stream_gb_flag_sizes_the_streamed_dataset() {
    let out = run_cli(&["bench", "--stream-gb", "0.02", "--json", "-"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let bytes = report["streaming"]["large"]["bytes"].as_f64().unwrap();
    assert!(
        (0.02e9 * 0.999..=0.02e9).contains(&bytes),
        "--stream-gb 0.02 streamed {bytes} bytes"
    );
}

/// `bench --grid-only --grid-form F` measures the grid rows alone, their kernels written as F.
#[test]
fn grid_bench_flags_choose_the_rows_and_the_kernel_form() {
    use wgsl_train::train::KernelForm;
    if KernelForm::for_adapter(common::gpu()) == KernelForm::Looped {
        // Unrolled code is not compiled here (SwiftShader's compiler does not finish it).
        eprintln!("the unrolled form is not compiled on this adapter: checked where it is");
        return;
    }
    let out = run_cli(&[
        "bench",
        "--grid-only",
        "--grid-form",
        "unrolled",
        "--json",
        "-",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["grid"]["kernel_form"], "unrolled", "{report}");
    assert_eq!(report["grid"]["kernel_form_chosen_by"], "--grid-form");
    assert!(report["grid"]["grid_model_steps_per_s"].as_f64().unwrap() > 0.0);
    assert!(
        report.get("matmul").is_none(),
        "not the grid alone: {report}"
    );
}

/// `--class-weight` and `--pos-weight` reach the model's loss weights (read back from the
/// saved model): scikit-learn's balanced weights n / (k · count_c), worked here from the
/// training split's class counts (binary: their ratio count₀/count₁ as pos_weight), weights
/// as given, and refusals that name the way out.
#[test]
fn class_weight_flags_reach_the_loss() {
    let scratch = scratch("class_weight");
    let split = wgsl_train::data::SplitConfig {
        seed: 3,
        ..Default::default()
    };
    let counts = |data: wgsl_train::data::Dataset, classes: usize| {
        let prepared = wgsl_train::data::Prepared::new(&data, &split).unwrap();
        let mut counts = vec![0.0f64; classes];
        for y in prepared.train.target_values() {
            counts[y as usize] += 1.0;
        }
        counts
    };
    let loss_weights = |data: &str, flags: &[&str], key: &str| -> Vec<f64> {
        let mut all = vec!["--seed", "3"];
        all.extend(flags);
        let (model, _) = train(&scratch, data, &all);
        let values = model["loss_weights"][key].as_array().cloned();
        let values = values.unwrap_or_else(|| panic!("{flags:?}: {}", model["loss_weights"]));
        values.iter().map(|v| v.as_f64().unwrap()).collect()
    };
    let assert_near = |what: &str, got: &[f64], want: &[f64]| {
        assert_eq!(got.len(), want.len(), "{what}: {got:?} vs {want:?}");
        for (g, w) in got.iter().zip(want) {
            assert!(
                (g - w).abs() <= 1e-6 * w.abs(),
                "{what}: {got:?} vs {want:?}"
            );
        }
    };

    let iris = counts(wgsl_train::data::iris().unwrap(), 3);
    let n: f64 = iris.iter().sum();
    let balanced: Vec<f64> = iris.iter().map(|c| n / (3.0 * c)).collect();
    let got = loss_weights("iris", &["--class-weight", "balanced"], "weight");
    assert_near("iris balanced", &got, &balanced);
    let got = loss_weights("iris", &["--class-weight", "0.5,1,2"], "weight");
    assert_near("iris given", &got, &[0.5, 1.0, 2.0]);

    let wine = counts(wgsl_train::data::wine_quality().unwrap(), 2);
    let got = loss_weights("wine", &["--class-weight", "balanced"], "pos_weight");
    assert_near("wine balanced", &got, &[wine[0] / wine[1]]);
    let got = loss_weights("wine", &["--pos-weight", "2.5"], "pos_weight");
    assert_near("wine pos_weight", &got, &[2.5]);

    // The report's first line names the weighted loss, as the README says.
    let out = run_cli(&[
        "train",
        "--data",
        "iris",
        "--epochs",
        "1",
        "--class-weight",
        "0.5,1,2",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let first = stdout.lines().next().unwrap_or_default();
    let names = "MLP 4→5→3; loss CrossEntropyLoss(weight=[0.5, 1.0, 2.0]) on";
    assert!(out.status.success() && first.contains(names), "{first}");

    for (data, flags, says) in [
        (
            "diabetes",
            &["--class-weight", "balanced"][..],
            "classification",
        ),
        ("wine", &["--class-weight", "1,2"][..], "pos_weight"),
        ("iris", &["--pos-weight", "2"][..], "class weights"),
    ] {
        let mut args = vec!["train", "--data", data, "--epochs", "1"];
        args.extend(flags);
        let out = run_cli(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains(says),
            "{args:?}: {stderr}"
        );
    }
}
