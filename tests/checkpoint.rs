//! Checkpoints: PyTorch names and shapes, files from another safetensors writer, atomic
//! writes, and clear errors for files that do not fit.

mod common;

use common::gpu;
use wgsl_train::checkpoint::{load_model, read_tensors, save_model, training_state_path};
use wgsl_train::data::Task;
use wgsl_train::fs::write_atomic;
use wgsl_train::nn::{Activation, LossWeights, Mlp};
use wgsl_train::Error;

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("wgsl-train-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn checkpoint_names_and_shapes_follow_pytorch_sequential() {
    let gpu = gpu();
    let dir = temp_dir("names");
    let path = dir.join("model.safetensors");
    let model = Mlp::new(gpu, &[10, 5, 3, 1], Task::Regression, 1).unwrap();
    save_model(gpu, &path, &model, None).unwrap();
    let (tensors, metadata) = read_tensors(&path).unwrap();
    let shapes: Vec<(&str, &[usize])> = tensors
        .iter()
        .map(|t| (t.name.as_str(), t.shape.as_slice()))
        .collect();
    // nn.Sequential(Linear(10,5), ReLU(), Linear(5,3), ReLU(), Linear(3,1)).state_dict(), sorted by name.
    assert_eq!(
        shapes,
        vec![
            ("0.bias", &[5][..]),
            ("0.weight", &[5, 10][..]),
            ("2.bias", &[3][..]),
            ("2.weight", &[3, 5][..]),
            ("4.bias", &[1][..]),
            ("4.weight", &[1, 3][..]),
        ]
    );
    assert_eq!(metadata.get("format").map(String::as_str), Some("pt"));
    // And they round-trip exactly.
    let loaded = load_model(gpu, &path, None).unwrap();
    assert_eq!(loaded.sizes(), &[10, 5, 3, 1]);
    assert_eq!(
        loaded.state_dict(gpu).unwrap(),
        model.state_dict(gpu).unwrap()
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// A safetensors file built by hand from the format's specification (8-byte little-endian
/// header length, a JSON header, then the raw little-endian data), as PyTorch's
/// `safetensors.torch.save_file` writes it: no crate code involved in writing it.
fn hand_written_safetensors(tensors: &[(&str, &[usize], &[f32])]) -> Vec<u8> {
    hand_written_as("F32", tensors)
}

/// `v` as `dtype` stores it, little-endian, encoded by hand for the few values these tests use
/// (all exact in every width): f16 by its bit patterns, bf16 as the top half of f32's.
fn encoded(dtype: &str, v: f32) -> Vec<u8> {
    match dtype {
        "F32" => v.to_le_bytes().to_vec(),
        "F64" => f64::from(v).to_le_bytes().to_vec(),
        "BF16" => ((v.to_bits() >> 16) as u16).to_le_bytes().to_vec(),
        "F16" => {
            // sign | exponent (bias 15) << 10 | mantissa
            let bits: u16 = match v {
                0.0 => 0x0000,
                0.5 => 0x3800,
                1.0 => 0x3c00,
                -1.0 => 0xbc00,
                2.0 => 0x4000,
                -3.0 => 0xc200,
                4.0 => 0x4400,
                _ => panic!("no f16 pattern for {v} here"),
            };
            bits.to_le_bytes().to_vec()
        }
        "I32" => (v as i32).to_le_bytes().to_vec(),
        _ => panic!("{dtype}"),
    }
}

/// As [`hand_written_safetensors`], every tensor stored as `dtype`.
fn hand_written_as(dtype: &str, tensors: &[(&str, &[usize], &[f32])]) -> Vec<u8> {
    let mut header = String::from("{\"__metadata__\":{\"format\":\"pt\"}");
    let mut data = Vec::new();
    for (name, shape, values) in tensors {
        let start = data.len();
        for v in *values {
            data.extend_from_slice(&encoded(dtype, *v));
        }
        let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
        header.push_str(&format!(
            ",\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":[{}],\"data_offsets\":[{start},{}]}}",
            dims.join(","),
            data.len()
        ));
    }
    header.push('}');
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(&data);
    bytes
}

#[test]
fn a_file_from_another_safetensors_writer_loads() {
    let gpu = gpu();
    let dir = temp_dir("foreign");
    let path = dir.join("torch.safetensors");
    // Linear(2, 2) → ReLU → Linear(2, 1), with the output layer written first.
    let bytes = hand_written_safetensors(&[
        ("2.weight", &[1, 2], &[1.0, -1.0]),
        ("2.bias", &[1], &[0.5]),
        ("0.weight", &[2, 2], &[1.0, 2.0, -3.0, 4.0]),
        ("0.bias", &[2], &[0.0, 1.0]),
    ]);
    std::fs::write(&path, bytes).unwrap();
    // No task in a PyTorch file: loading needs one.
    assert!(matches!(
        load_model(gpu, &path, None),
        Err(Error::Checkpoint { .. })
    ));
    let model = load_model(gpu, &path, Some(Task::Regression)).unwrap();
    assert_eq!(model.sizes(), &[2, 2, 1]);
    // x = (1, 1): hidden = relu([1+2+0, −3+4+1]) = [3, 2]; out = 3 − 2 + 0.5 = 1.5.
    // x = (1, −1): hidden = relu([1−2, −3−4+1]) = [0, 0]; out = 0.5.
    let out = model.predict(gpu, &[1.0, 1.0, 1.0, -1.0], 2).unwrap();
    assert_eq!(out, vec![1.5, 0.5]);
    std::fs::remove_dir_all(&dir).ok();
}

/// PyTorch users save f16, bf16 and f64 state dicts too: they load as f32, and compute the
/// same; integer tensors are refused by name.
#[test]
fn other_float_widths_are_converted_and_integers_refused() {
    let gpu = gpu();
    let dir = temp_dir("widths");
    let tensors: [(&str, &[usize], &[f32]); 4] = [
        ("0.weight", &[2, 2], &[1.0, 2.0, -3.0, 4.0]),
        ("0.bias", &[2], &[0.0, 1.0]),
        ("2.weight", &[1, 2], &[1.0, -1.0]),
        ("2.bias", &[1], &[0.5]),
    ];
    for dtype in ["F16", "BF16", "F64"] {
        let path = dir.join(format!("{dtype}.safetensors"));
        std::fs::write(&path, hand_written_as(dtype, &tensors)).unwrap();
        let model = load_model(gpu, &path, Some(Task::Regression)).unwrap();
        // As in a_file_from_another_safetensors_writer_loads: 1.5 and 0.5.
        let out = model.predict(gpu, &[1.0, 1.0, 1.0, -1.0], 2).unwrap();
        assert_eq!(out, vec![1.5, 0.5], "{dtype}");
    }
    let path = dir.join("ints.safetensors");
    std::fs::write(&path, hand_written_as("I32", &tensors)).unwrap();
    let err = load_model(gpu, &path, Some(Task::Regression)).unwrap_err();
    assert!(err.to_string().contains("must be floats"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn checkpoints_that_do_not_fit_are_clear_errors() {
    let gpu = gpu();
    let dir = temp_dir("misfit");
    let path = dir.join("bad.safetensors");
    // Layers that do not chain: 0.weight gives 3 outputs, 2.weight takes 4 inputs.
    std::fs::write(
        &path,
        hand_written_safetensors(&[
            ("0.weight", &[3, 2], &[0.0; 6]),
            ("0.bias", &[3], &[0.0; 3]),
            ("2.weight", &[1, 4], &[0.0; 4]),
            ("2.bias", &[1], &[0.0]),
        ]),
    )
    .unwrap();
    let err = load_model(gpu, &path, Some(Task::Regression)).unwrap_err();
    assert!(err.to_string().contains("2.weight"), "{err}");
    // A missing bias.
    std::fs::write(
        &path,
        hand_written_safetensors(&[("0.weight", &[1, 2], &[0.0; 2])]),
    )
    .unwrap();
    let err = load_model(gpu, &path, Some(Task::Regression)).unwrap_err();
    assert!(err.to_string().contains("0.bias"), "{err}");
    // Truncated and garbage files.
    let good =
        hand_written_safetensors(&[("0.weight", &[1, 2], &[1.0, 2.0]), ("0.bias", &[1], &[0.0])]);
    for bytes in [
        &good[..good.len() - 3],
        &good[..5],
        b"not a checkpoint at all".as_slice(),
    ] {
        std::fs::write(&path, bytes).unwrap();
        assert!(matches!(
            load_model(gpu, &path, Some(Task::Regression)),
            Err(Error::Checkpoint { .. })
        ));
    }
    assert!(matches!(
        load_model(gpu, &dir.join("missing.safetensors"), None),
        Err(Error::Io { .. })
    ));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn an_atomic_write_that_fails_leaves_the_previous_file_intact() {
    let dir = temp_dir("atomic");
    let path = dir.join("model.safetensors");
    write_atomic(&path, b"first version").unwrap();
    // Make the rename fail by putting a directory where the temporary file would be created.
    let blocker = dir.join(format!(".model.safetensors.tmp-{}", std::process::id()));
    std::fs::create_dir(&blocker).unwrap();
    assert!(matches!(
        write_atomic(&path, b"second version"),
        Err(Error::Io { .. })
    ));
    assert_eq!(std::fs::read(&path).unwrap(), b"first version");
    std::fs::remove_dir(&blocker).unwrap();
    write_atomic(&path, b"second version").unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"second version");
    assert_eq!(
        training_state_path(&path),
        dir.join("model.training.safetensors")
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// One diabetes run of one epoch, saved to `path` (model file and training state).
fn saved_run(gpu: &wgsl_train::Gpu, path: &std::path::Path) {
    let data = wgsl_train::data::diabetes().unwrap();
    let experiment = wgsl_train::experiment::Experiment {
        hidden: vec![5],
        activations: Vec::new(),
        dropout: Vec::new(),
        init: Default::default(),
        class_weight: Default::default(),
        optimizer: wgsl_train::optim::AdamConfig::default().into(),
        train: wgsl_train::train::TrainConfig {
            epochs: 1,
            ..Default::default()
        },
        split: wgsl_train::data::SplitConfig::default(),
        model_seed: 0,
    };
    let mut run = experiment.start(gpu, &data).unwrap();
    run.fit(|_, _| Ok(())).unwrap();
    run.save(path).unwrap();
}

fn metadata_entry(path: &std::path::Path) -> serde_json::Value {
    let (_, metadata) = read_tensors(path).unwrap();
    let keys: Vec<&String> = metadata.keys().collect();
    assert_eq!(
        metadata.len(),
        2,
        "{keys:?}: only `format` and `wgsl-train`"
    );
    assert_eq!(metadata["format"], "pt");
    serde_json::from_str(&metadata["wgsl-train"]).unwrap()
}

/// The model file and the training state each carry one JSON entry with the fields
/// docs/checkpoint-format.md lists.
#[test]
fn the_metadata_is_one_versioned_json_entry_per_file() {
    let gpu = gpu();
    let dir = temp_dir("format");
    let path = dir.join("model.safetensors");
    saved_run(gpu, &path);

    let model = metadata_entry(&path);
    assert_eq!(model["format_version"], 4);
    assert_eq!(model["crate_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(model["task"], "regression");
    assert_eq!(
        model["layers"],
        serde_json::json!([
            {"type": "Linear", "in_features": 10, "out_features": 5},
            {"type": "ReLU"},
            {"type": "Linear", "in_features": 5, "out_features": 1},
        ])
    );
    let step = model["step"].as_u64().unwrap();
    assert!(step > 0);
    let p = &model["preprocessing"];
    assert_eq!(p["feature_names"].as_array().unwrap().len(), 10);
    assert_eq!(p["feature_mean"].as_array().unwrap().len(), 10);
    assert_eq!(p["feature_std"].as_array().unwrap().len(), 10);
    assert!(p["target_scaling"]["std"].as_f64().unwrap() > 0.0);
    let split = &model["split"];
    assert_eq!(split["rows"], 442);
    assert_eq!(split["validation"], 0.15);
    let fingerprint = split["fingerprint"].as_str().unwrap();
    assert_eq!(fingerprint.len(), 16);
    assert!(
        u64::from_str_radix(fingerprint, 16).is_ok(),
        "{fingerprint}"
    );
    let group = &model["optimizer"][0];
    assert_eq!(group["config"]["kind"], "adam");
    assert_eq!(group["config"]["betas"], serde_json::json!([0.9, 0.999]));
    assert_eq!(
        group["params"],
        serde_json::json!(["0.weight", "0.bias", "2.weight", "2.bias"])
    );

    let state = metadata_entry(&training_state_path(&path));
    assert_eq!(state["format_version"], 4);
    assert_eq!(state["step"].as_u64(), Some(step));
    assert!(state["history"]
        .as_str()
        .unwrap()
        .starts_with("epoch,train_loss,validation_loss\n1,"));
    assert!(state["settings"]["batch size"].is_string());
    std::fs::remove_dir_all(&dir).ok();
}

/// Each activation is written as PyTorch's module (with LeakyReLU's slope and GELU's form)
/// and read back into the same model, whose predictions are the saved model's bit for bit.
#[test]
fn activations_are_saved_as_torch_modules_and_load_back() {
    let gpu = gpu();
    let dir = temp_dir("activations");
    let path = dir.join("model.safetensors");
    let x: Vec<f32> = (0..12).map(|i| (i as f32 - 5.5) / 2.0).collect();
    let leaky = Activation::LeakyRelu {
        negative_slope: 0.2,
    };
    for (pair, layers) in [
        (
            [Activation::Gelu, Activation::Tanh],
            serde_json::json!([{"type": "GELU", "approximate": "none"}, {"type": "Tanh"}]),
        ),
        (
            [leaky, Activation::GeluTanh],
            serde_json::json!([{"type": "LeakyReLU", "negative_slope": 0.2_f32 as f64}, {"type": "GELU", "approximate": "tanh"}]),
        ),
        (
            [Activation::Sigmoid, Activation::Silu],
            serde_json::json!([{"type": "Sigmoid"}, {"type": "SiLU"}]),
        ),
    ] {
        let model = Mlp::new(gpu, &[3, 4, 4, 1], Task::Regression, 5)
            .unwrap()
            .with_activations(&pair)
            .unwrap();
        save_model(gpu, &path, &model, None).unwrap();
        let entry = metadata_entry(&path);
        assert_eq!(entry["layers"][1], layers[0], "{pair:?}");
        assert_eq!(entry["layers"][3], layers[1], "{pair:?}");
        let loaded = load_model(gpu, &path, None).unwrap();
        assert_eq!(loaded.activations(), pair);
        assert_eq!(
            common::bits(&loaded.predict(gpu, &x, 4).unwrap()),
            common::bits(&model.predict(gpu, &x, 4).unwrap())
        );
    }
    // PyTorch's default slope when a file leaves it out; a GELU form PyTorch lacks is named.
    common::edit_metadata_entry(&path, |entry| {
        entry["layers"][1] = serde_json::json!({"type": "LeakyReLU"});
        entry["layers"][3] = serde_json::json!({"type": "GELU", "approximate": "sigmoid"});
    });
    let err = load_model(gpu, &path, None).unwrap_err().to_string();
    assert!(
        err.contains("layer 3") && err.contains("\"sigmoid\""),
        "{err}"
    );
    common::edit_metadata_entry(&path, |entry| {
        entry["layers"][3] = serde_json::json!({"type": "GELU"});
    });
    let loaded = load_model(gpu, &path, None).unwrap();
    assert_eq!(
        loaded.activations(),
        [
            Activation::LeakyRelu {
                negative_slope: 0.01
            },
            Activation::Gelu
        ]
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// A version-1 file (ReLU between the Linear layers: what wgsl-train wrote before the other
/// activations) still loads.
#[test]
fn a_format_version_1_file_still_loads() {
    let gpu = gpu();
    let dir = temp_dir("version1");
    let path = dir.join("model.safetensors");
    let model = Mlp::new(gpu, &[3, 2, 1], Task::Regression, 1).unwrap();
    save_model(gpu, &path, &model, None).unwrap();
    common::edit_metadata_entry(&path, |entry| {
        entry["format_version"] = 1.into();
        entry["crate_version"] = "0.1.0".into();
    });
    let loaded = load_model(gpu, &path, None).unwrap();
    assert_eq!(loaded.activations(), [Activation::Relu]);
    std::fs::remove_dir_all(&dir).ok();
}

/// A file of a newer format version is refused, naming both versions; so is an entry that
/// says no version, and a file of the development versions before the entry existed.
#[test]
fn a_file_of_another_format_version_is_refused_by_version() {
    let gpu = gpu();
    let dir = temp_dir("version");
    let path = dir.join("model.safetensors");
    let model = Mlp::new(gpu, &[3, 2, 1], Task::Regression, 1).unwrap();
    save_model(gpu, &path, &model, None).unwrap();
    common::edit_metadata_entry(&path, |entry| {
        entry["format_version"] = 5.into();
        entry["crate_version"] = "9.0.0".into();
    });
    let err = load_model(gpu, &path, None).unwrap_err().to_string();
    for part in [
        "format version 5",
        "9.0.0",
        "reads format versions 1 to 4",
        "upgrade",
    ] {
        assert!(err.contains(part), "{part:?} in {err}");
    }
    let err = wgsl_train::checkpoint::load_preprocessing(&path).unwrap_err();
    assert!(err.to_string().contains("format version 5"), "{err}");

    common::edit_metadata_entry(&path, |entry| {
        entry.as_object_mut().unwrap().remove("format_version");
    });
    let err = load_model(gpu, &path, None).unwrap_err().to_string();
    assert!(err.contains("no format_version"), "{err}");

    // Before the entry: `wgsl-train.*` keys of their own.
    let (tensors, _) = read_tensors(&path).unwrap();
    let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
        .iter()
        .map(|t| {
            let view = safetensors::tensor::TensorView::new(
                safetensors::Dtype::F32,
                t.shape.clone(),
                bytemuck::cast_slice(&t.data),
            )
            .unwrap();
            (t.name.clone(), view)
        })
        .collect();
    let legacy = std::collections::HashMap::from([
        ("format".to_string(), "pt".to_string()),
        ("wgsl-train.task".to_string(), "regression".to_string()),
    ]);
    std::fs::write(&path, safetensors::serialize(views, Some(legacy)).unwrap()).unwrap();
    let err = load_model(gpu, &path, None).unwrap_err().to_string();
    assert!(
        err.contains("before the checkpoint format was versioned"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// Layers the crate does not have are refused by name: in our metadata (a Softplus between the
/// Linear layers), and in a bare PyTorch state dict, where a Dropout shifts the second Linear
/// to index 3.
#[test]
fn foreign_layers_are_refused_by_name() {
    let gpu = gpu();
    let dir = temp_dir("foreign-layers");
    let path = dir.join("model.safetensors");
    let model = Mlp::new(gpu, &[3, 2, 1], Task::Regression, 1).unwrap();
    save_model(gpu, &path, &model, None).unwrap();
    common::edit_metadata_entry(&path, |entry| {
        entry["layers"][1]["type"] = "Softplus".into();
    });
    let err = load_model(gpu, &path, None).unwrap_err().to_string();
    assert!(
        err.contains("layer 1 is Softplus, which wgsl-train does not have")
            && err.contains("ReLU, LeakyReLU, Tanh, Sigmoid, GELU or SiLU"),
        "{err}"
    );
    common::edit_metadata_entry(&path, |entry| {
        entry["layers"][1]["type"] = "ReLU".into();
        entry["layers"][2]["out_features"] = 7.into();
    });
    let err = load_model(gpu, &path, None).unwrap_err().to_string();
    assert!(
        err.contains("[3, 2, 7]") && err.contains("[3, 2, 1]"),
        "{err}"
    );

    // nn.Sequential(Linear(2, 2), ReLU(), Dropout(), Linear(2, 1)).state_dict()
    std::fs::write(
        &path,
        hand_written_safetensors(&[
            ("0.weight", &[2, 2], &[1.0, 2.0, -3.0, 4.0]),
            ("0.bias", &[2], &[0.0, 1.0]),
            ("3.weight", &[1, 2], &[1.0, -1.0]),
            ("3.bias", &[1], &[0.5]),
        ]),
    )
    .unwrap();
    let err = load_model(gpu, &path, Some(Task::Regression))
        .unwrap_err()
        .to_string();
    assert!(err.contains("\"3.") && err.contains("index 3"), "{err}");
    // A normalisation layer's buffers, and a module that is not an nn.Sequential.
    for name in ["1.running_mean", "fc1.weight"] {
        std::fs::write(
            &path,
            hand_written_safetensors(&[
                ("0.weight", &[1, 2], &[1.0, 2.0]),
                ("0.bias", &[1], &[0.0]),
                (name, &[1], &[0.0]),
            ]),
        )
        .unwrap();
        let err = load_model(gpu, &path, Some(Task::Regression))
            .unwrap_err()
            .to_string();
        assert!(err.contains(name), "{err}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// The loss's weights go into the model file under PyTorch's names and come back on load;
/// a version-2 file (no `loss_weights`) loads unweighted, and weights that do not fit the
/// model are refused by name.
#[test]
fn loss_weights_are_saved_and_loaded() {
    let gpu = gpu();
    let dir = temp_dir("loss_weights");
    let cases = [
        (
            Task::Multiclass,
            vec![4, 3],
            LossWeights::Class(vec![0.5, 1.0, 3.25]),
        ),
        (Task::Binary, vec![4, 1], LossWeights::Positive(vec![2.75])),
    ];
    for (task, sizes, weights) in cases {
        let path = dir.join(format!("{task}.safetensors"));
        let model = Mlp::new(gpu, &sizes, task, 1)
            .unwrap()
            .with_loss_weights(weights.clone())
            .unwrap();
        save_model(gpu, &path, &model, None).unwrap();
        let entry = metadata_entry(&path);
        let (key, values) = match &weights {
            LossWeights::Class(w) => ("weight", w),
            LossWeights::Positive(w) => ("pos_weight", w),
            LossWeights::None => unreachable!(),
        };
        assert_eq!(entry["loss_weights"], serde_json::json!({ key: values }));
        assert_eq!(
            load_model(gpu, &path, None).unwrap().loss_weights(),
            &weights
        );

        common::edit_metadata_entry(&path, |entry| {
            entry["loss_weights"] = serde_json::json!({ key: vec![1.0; 5] });
        });
        let err = load_model(gpu, &path, None).unwrap_err().to_string();
        assert!(err.contains("5 weights given"), "{err}");
        common::edit_metadata_entry(&path, |entry| {
            entry.as_object_mut().unwrap().remove("loss_weights");
            entry["format_version"] = 2.into();
        });
        let old = load_model(gpu, &path, None).unwrap();
        assert_eq!(old.loss_weights(), &LossWeights::None);
    }
}

/// Dropout is saved as PyTorch's `nn.Dropout(p)` after its activation, the tensors named by
/// their index in that `nn.Sequential`, and loads back; a Dropout where wgsl-train has none
/// (before an activation, first, with p = 0 or 1) is refused naming the layer.
#[test]
fn dropout_is_saved_as_a_torch_module_and_loads_back() {
    let gpu = gpu();
    let dir = temp_dir("dropout");
    let path = dir.join("model.safetensors");
    let x: Vec<f32> = (0..12).map(|i| (i as f32 - 5.5) / 2.0).collect();
    let model = Mlp::new(gpu, &[3, 4, 5, 1], Task::Regression, 5)
        .unwrap()
        .with_activations(&[Activation::Tanh])
        .unwrap()
        .with_dropout(&[0.2, 0.0])
        .unwrap();
    save_model(gpu, &path, &model, None).unwrap();
    let entry = metadata_entry(&path);
    let kinds: Vec<&str> = entry["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["Linear", "Tanh", "Dropout", "Linear", "Tanh", "Linear"]
    );
    assert_eq!(entry["layers"][2]["p"], f64::from(0.2f32));
    let (tensors, _) = read_tensors(&path).unwrap();
    let names: Vec<&str> = tensors.iter().map(|t| t.name.as_str()).collect();
    for name in ["0.weight", "3.weight", "3.bias", "5.weight"] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
    let loaded = load_model(gpu, &path, None).unwrap();
    assert_eq!(loaded.dropout(), [0.2, 0.0]);
    assert_eq!(loaded.param_names(), model.param_names());
    assert_eq!(
        common::bits(&loaded.predict(gpu, &x, 4).unwrap()),
        common::bits(&model.predict(gpu, &x, 4).unwrap())
    );
    let dropout = serde_json::json!({"type": "Dropout", "p": 0.2});
    type Edit<'a> = &'a dyn Fn(&mut serde_json::Value);
    let refusals: [(Edit, &str); 3] = [
        (
            &|e| {
                let layers = e["layers"].as_array_mut().unwrap();
                layers.swap(1, 2);
            },
            "layer 1 is Dropout after Linear",
        ),
        (&|e| e["layers"][2]["p"] = 0.0.into(), "Dropout(p=0)"),
        (
            &|e| {
                e["layers"]
                    .as_array_mut()
                    .unwrap()
                    .insert(0, dropout.clone())
            },
            "layer 0 is Dropout after nothing",
        ),
    ];
    for (edit, part) in refusals {
        save_model(gpu, &path, &model, None).unwrap();
        common::edit_metadata_entry(&path, edit);
        let err = load_model(gpu, &path, None).unwrap_err().to_string();
        assert!(err.contains(part), "{part:?} in {err}");
    }
    std::fs::remove_dir_all(&dir).ok();
}
