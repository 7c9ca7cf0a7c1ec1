//! The `wgsl-train` command line: train on a CSV, save, evaluate the checkpoint; errors are
//! one line and a non-zero exit, never a backtrace.

mod common;

fn wgsl_train(args: &[&str]) -> (bool, String, String) {
    let out = common::run_cli(args);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn train_save_and_eval_a_csv_classification() {
    let dir = std::env::temp_dir().join(format!("wgsl-train-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Two well-separated blobs with string labels.
    let mut csv = String::from("x,y,kind\n");
    for i in 0..120 {
        let (cx, label) = if i % 2 == 0 {
            (-2.0, "left")
        } else {
            (2.0, "right")
        };
        let jitter = (i as f64 * 0.37).sin();
        csv.push_str(&format!("{},{},{label}\n", cx + jitter, jitter * 0.5));
    }
    let data = dir.join("blobs.csv");
    std::fs::write(&data, csv).unwrap();
    let model = dir.join("model.safetensors");
    let (ok, stdout, stderr) = wgsl_train(&[
        "train",
        "--data",
        data.to_str().unwrap(),
        "--task",
        "binary",
        "--hidden",
        "4",
        "--lr",
        "0.05",
        "--epochs",
        "30",
        "--quiet",
        "--save",
        model.to_str().unwrap(),
        "--curves",
        dir.to_str().unwrap(),
    ]);
    assert!(ok, "train failed: {stderr}");
    assert!(
        stdout.contains("accuracy") && stdout.contains("diagnosis"),
        "{stdout}"
    );
    assert!(model.exists() && dir.join("model.training.safetensors").exists());
    assert!(dir.join("curves.csv").exists() && dir.join("curves.svg").exists());

    let (ok, stdout, stderr) = wgsl_train(&[
        "eval",
        "--checkpoint",
        model.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ]);
    assert!(ok, "eval failed: {stderr}");
    let accuracy: f64 = stdout
        .lines()
        .find(|l| l.starts_with("accuracy"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no accuracy in {stdout}"));
    assert!(
        accuracy > 0.95,
        "separable blobs should be learned: {stdout}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_arguments_and_data_are_one_line_errors() {
    for (args, needle) in [
        (
            vec!["train", "--data", "/no/such/file.csv"],
            "/no/such/file.csv",
        ),
        (
            vec!["train", "--data", "diabetes", "--lr", "-1", "--quiet"],
            "lr",
        ),
        (
            vec!["train", "--data", "diabetes", "--init", "glorot", "--quiet"],
            "\"glorot\" is not an initialisation: default, xavier_uniform",
        ),
        (
            vec![
                "sweep",
                "--data",
                "diabetes",
                "--init",
                "kaiming_normal:mode=fan",
            ],
            "mode is fan_in or fan_out",
        ),
        (
            vec![
                "train",
                "--data",
                "diabetes",
                "--batch-size",
                "0",
                "--quiet",
            ],
            "batch_size",
        ),
        (
            vec![
                "train",
                "--data",
                "diabetes",
                "--optimizer",
                "sgd",
                "--nesterov",
                "--quiet",
            ],
            "Nesterov",
        ),
        // A flag of the other optimizer is refused by name, not ignored (Adam is the default).
        (
            vec![
                "train",
                "--data",
                "diabetes",
                "--momentum",
                "0.9",
                "--quiet",
            ],
            "--momentum does not apply to --optimizer adam",
        ),
        (
            vec![
                "train",
                "--data",
                "diabetes",
                "--optimizer",
                "sgd",
                "--beta1",
                "0.8",
                "--amsgrad",
                "--quiet",
            ],
            "--beta1, --amsgrad does not apply to --optimizer sgd",
        ),
        (
            vec!["train", "--data", "diabetes", "--patience", "0", "--quiet"],
            "patience must be at least 1",
        ),
        (
            vec![
                "train",
                "--data",
                "diabetes",
                "--clip-grad-value",
                "0",
                "--quiet",
            ],
            "clip_grad_value",
        ),
        (
            vec![
                "eval",
                "--checkpoint",
                "/no/such/model.safetensors",
                "--data",
                "iris",
            ],
            "model.safetensors",
        ),
    ] {
        let (ok, _, stderr) = wgsl_train(&args);
        assert!(!ok, "{args:?} should fail");
        let errors: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with("error: "))
            .collect();
        assert_eq!(errors.len(), 1, "{args:?}: {stderr}");
        assert!(errors[0].contains(needle), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("panicked") && !stderr.contains("backtrace"),
            "{args:?}: {stderr}"
        );
    }
}

/// `wgsl-train ... | head -1`: output to a closed pipe ends the program as it ends `cat`
/// (SIGPIPE), not with a panic message.
#[cfg(unix)]
#[test]
fn a_closed_stdout_pipe_ends_the_program_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader); // every write now fails with EPIPE
    let output = common::cli()
        .arg("--help")
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        output.status.signal(),
        Some(libc::SIGPIPE),
        "{:?}",
        output.status
    );
}

/// Every subcommand's `--help` states each default once: a doc comment that says its own
/// `[default: …]` hides clap's, which would repeat it.
#[test]
fn help_states_each_default_once() {
    for command in ["train", "sweep", "eval", "predict", "bench", "selftest"] {
        let (ok, help, _) = wgsl_train(&[command, "--help"]);
        assert!(ok, "{command} --help failed");
        for line in help.lines() {
            assert!(
                line.matches("[default: ").count() <= 1,
                "{command} --help: {line}"
            );
        }
    }
}

/// `train` is the library's `Experiment` with flags on top: for the same settings, the command
/// line prints the very report and diagnosis the library computes (training is bitwise
/// reproducible on one adapter), schedule included.
#[test]
fn the_cli_prints_the_report_the_library_computes() {
    use wgsl_train::data::{iris, SplitConfig};
    use wgsl_train::experiment::Experiment;
    use wgsl_train::optim::SgdConfig;
    use wgsl_train::train::{LrSchedule, TrainConfig};

    let (ok, stdout, stderr) = wgsl_train(&[
        "train",
        "--data",
        "iris",
        "--hidden",
        "6",
        "--optimizer",
        "sgd",
        "--lr",
        "0.05",
        "--momentum",
        "0.9",
        "--l2",
        "0.001",
        "--epochs",
        "20",
        "--lr-schedule",
        "cosine",
        "--seed",
        "3",
        "--quiet",
    ]);
    assert!(ok, "train failed: {stderr}");
    let experiment = Experiment {
        hidden: vec![6],
        activations: Vec::new(),
        dropout: Vec::new(),
        init: Default::default(),
        class_weight: Default::default(),
        optimizer: SgdConfig {
            lr: 0.05,
            momentum: 0.9,
            weight_decay: 0.001,
            ..SgdConfig::default()
        }
        .into(),
        train: TrainConfig {
            epochs: 20,
            seed: 3,
            lr_schedule: LrSchedule::Cosine {
                t_max: 20,
                eta_min: 0.0,
            },
            ..TrainConfig::default()
        },
        split: SplitConfig {
            seed: 3,
            ..SplitConfig::default()
        },
        model_seed: 3,
    };
    let outcome = experiment.run(common::gpu(), &iris().unwrap()).unwrap();
    let report = outcome.report();
    assert!(report.contains("macro-F1"), "{report}");
    assert!(
        stdout.contains(&report),
        "the CLI printed\n{stdout}\nthe library's report is\n{report}"
    );
    assert!(
        stdout.contains(&format!("diagnosis: {}", outcome.diagnosis)),
        "{stdout}"
    );
}

/// `eval --split S` reproduces exactly the figures `train` printed for split S: the checkpoint
/// records the split's seed and fractions and the data's fingerprint. Other data is refused.
#[test]
fn eval_of_a_split_reproduces_the_figures_train_printed() {
    let dir = std::env::temp_dir().join(format!("wgsl-train-eval-split-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for data in ["iris", "diabetes"] {
        let model = dir.join(format!("{data}.safetensors"));
        let model = model.to_str().unwrap();
        let (ok, report, stderr) = wgsl_train(&[
            "train", "--data", data, "--epochs", "15", "--seed", "2", "--quiet", "--save", model,
        ]);
        assert!(ok, "{stderr}");
        // The report's rows: metric, then model and baseline on train, validation and test.
        let table: Vec<Vec<&str>> = report
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .filter(|f| f.len() == 7 && f[1].parse::<f64>().is_ok())
            .collect();
        assert!(table.len() >= 3, "{report}");
        for (split, column) in [("train", 1), ("validation", 3), ("test", 5)] {
            let (ok, out, stderr) = wgsl_train(&[
                "eval",
                "--checkpoint",
                model,
                "--data",
                data,
                "--split",
                split,
            ]);
            assert!(ok, "{stderr}");
            for row in &table {
                let line = out
                    .lines()
                    .find(|l| l.split_whitespace().next() == Some(row[0]))
                    .unwrap_or_else(|| panic!("no {} in {out}", row[0]));
                let fields: Vec<&str> = line.split_whitespace().collect();
                assert_eq!(
                    (fields[1], fields[2]),
                    (row[column], row[column + 1]),
                    "{data} {split} {}: eval printed {line:?}, train {row:?}",
                    row[0]
                );
            }
        }
    }
    // Another dataset than the model's is refused, naming both fingerprints.
    let model = dir.join("iris.safetensors");
    let other = dir.join("other.csv");
    let mut csv = String::from("a,b,c,d,species\n");
    for i in 0..30 {
        csv.push_str(&format!("{i},1,2,3,{}\n", ["x", "y", "z"][i % 3]));
    }
    std::fs::write(&other, csv).unwrap();
    let (ok, _, stderr) = wgsl_train(&[
        "eval",
        "--checkpoint",
        model.to_str().unwrap(),
        "--data",
        other.to_str().unwrap(),
        "--split",
        "test",
    ]);
    assert!(
        !ok && stderr.contains("not the data the model was trained on"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// `--json` prints one document that parses, with the schema the README gives, and the same
/// figures as the text; the text is left out.
#[test]
fn json_output_parses_and_carries_the_figures() {
    use serde_json::Value;
    let dir = std::env::temp_dir().join(format!("wgsl-train-json-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let model = dir.join("m.safetensors");
    let model = model.to_str().unwrap();
    let parse = |args: &[&str]| -> Value {
        let (ok, stdout, stderr) = wgsl_train(args);
        assert!(ok, "{args:?}: {stderr}");
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {stdout}"))
    };
    let train = parse(&[
        "train", "--data", "iris", "--epochs", "4", "--save", model, "--json",
    ]);
    assert_eq!(train["format"], "wgsl-train.train.v1");
    assert_eq!(train["history"]["epochs"].as_array().unwrap().len(), 4);
    assert_eq!(train["layer_sizes"], serde_json::json!([4, 5, 3]));
    assert_eq!(train["scores"]["test"]["model"]["task"], "multiclass");
    assert!(train["diagnosis"]["text"].as_str().unwrap().len() > 20);

    let eval = parse(&[
        "eval",
        "--checkpoint",
        model,
        "--data",
        "iris",
        "--split",
        "test",
        "--json",
    ]);
    assert_eq!(eval["format"], "wgsl-train.eval.v1");
    // The same figures as train's test scores, to the bit.
    assert_eq!(eval["model"], train["scores"]["test"]["model"]);
    assert_eq!(eval["baseline"], train["scores"]["test"]["baseline"]);

    let rows = dir.join("rows.csv");
    std::fs::write(
        &rows,
        "sepal length,sepal width,petal length,petal width\n5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n",
    )
    .unwrap();
    let predict = parse(&[
        "predict",
        "--checkpoint",
        model,
        "--data",
        rows.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(predict["format"], "wgsl-train.predict.v1");
    assert_eq!(predict["rows"], 2);
    let classes = &predict["predictions"]["classes"];
    assert_eq!(classes["probabilities"].as_array().unwrap().len(), 6);
    assert_eq!(classes["predicted"].as_array().unwrap().len(), 2);
    std::fs::remove_dir_all(&dir).ok();
}

/// `--single-dispatch-epochs` reaches the trainer: `auto` (the default) and `always` train the
/// 10→5→1 network an epoch a dispatch, `never` on the general path; `always` refuses a network
/// too wide for the kernel, saying why; a resume on the other path is refused, naming the flag.
#[test]
fn single_dispatch_epochs_choose_the_epoch_path() {
    let dir = std::env::temp_dir().join(format!("wgsl-train-cli-path-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let model = dir.join("m.safetensors");
    let model = model.to_str().unwrap();
    let train = |extra: &[&str]| {
        let mut args = vec!["train", "--data", "diabetes", "--quiet"];
        args.extend_from_slice(extra);
        wgsl_train(&args)
    };
    let one_dispatch = "each epoch one dispatch";
    for (extra, small) in [
        (&[][..], true),
        (&["--single-dispatch-epochs", "auto"][..], true),
        (&["--single-dispatch-epochs", "always"][..], true),
        (&["--single-dispatch-epochs"][..], true),
        (&["--single-dispatch-epochs", "never"][..], false),
        (&["--hidden", "64"][..], false),
    ] {
        let (ok, stdout, stderr) = train(&[&["--epochs", "1"], extra].concat());
        assert!(ok, "{extra:?}: {stderr}");
        assert_eq!(stdout.contains(one_dispatch), small, "{extra:?}: {stdout}");
    }
    let (ok, _, stderr) = train(&[
        "--epochs",
        "1",
        "--hidden",
        "64",
        "--single-dispatch-epochs",
        "always",
    ]);
    assert!(!ok && stderr.contains("workgroup memory"), "{stderr}");

    let (ok, _, stderr) = train(&[
        "--epochs",
        "1",
        "--single-dispatch-epochs",
        "never",
        "--save",
        model,
    ]);
    assert!(ok, "{stderr}");
    let (ok, _, stderr) = train(&["--epochs", "2", "--save", model, "--resume"]);
    assert!(
        !ok && stderr.contains("single-dispatch epochs false")
            && stderr.contains("--single-dispatch-epochs never"),
        "{stderr}"
    );
    let (ok, stdout, stderr) = train(&[
        "--epochs",
        "2",
        "--save",
        model,
        "--resume",
        "--single-dispatch-epochs",
        "never",
    ]);
    assert!(ok && stdout.contains("resumed"), "{stderr}");
    std::fs::remove_dir_all(&dir).ok();
}

/// `bench --json` where the file cannot be written is refused before the benchmark runs (it
/// takes minutes), naming the path: a directory, a directory that does not exist.
#[test]
fn an_unwritable_bench_json_is_refused_before_benchmarking() {
    let dir = std::env::temp_dir().join(format!("wgsl-train-cli-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let missing = dir.join("no-such-dir").join("bench.json");
    for path in [dir.to_str().unwrap(), missing.to_str().unwrap()] {
        let started = std::time::Instant::now();
        let (ok, stdout, stderr) = wgsl_train(&["bench", "--quick", "--json", path]);
        assert!(!ok && stderr.contains(path), "{path}: {stderr}");
        assert!(
            !stdout.contains("adapter"),
            "{path}: it benchmarked first: {stdout}"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// `eval` takes the model's features by name, as `predict` does: the same rows with the
/// columns in another order (and one the model never saw) score exactly the same; a file
/// without the model's columns is refused, naming the first one missing.
#[test]
fn eval_matches_the_features_by_name() {
    let dir = std::env::temp_dir().join(format!("wgsl-train-cli-names-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rows: Vec<[f32; 3]> = (0..150)
        .map(|i| {
            let t = i as f32;
            [(t * 0.37).sin(), (t * 0.11).cos(), (t * 0.05) % 1.3]
        })
        .collect();
    let y = |r: &[f32; 3]| r[0] - 2.0 * r[1] + 0.5 * r[2];
    let write = |name: &str, header: &str, line: &dyn Fn(&[f32; 3]) -> String| {
        let mut text = format!("{header}\n");
        for r in &rows {
            text.push_str(&line(r));
            text.push('\n');
        }
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    let data = write("data.csv", "a,b,c,y", &|r| {
        format!("{},{},{},{}", r[0], r[1], r[2], y(r))
    });
    let reordered = write("reordered.csv", "c,extra,a,b,y", &|r| {
        format!("{},7,{},{},{}", r[2], r[0], r[1], y(r))
    });
    let renamed = write("renamed.csv", "f0,f1,f2,y", &|r| {
        format!("{},{},{},{}", r[0], r[1], r[2], y(r))
    });
    let model = dir.join("m.safetensors");
    let model = model.to_str().unwrap();
    let (ok, _, stderr) = wgsl_train(&[
        "train", "--data", &data, "--epochs", "5", "--save", model, "--quiet",
    ]);
    assert!(ok, "{stderr}");
    let eval = |data: &str| wgsl_train(&["eval", "--checkpoint", model, "--data", data]);
    let figures = |stdout: &str| stdout.lines().skip(1).map(String::from).collect::<Vec<_>>();
    let (ok, want, stderr) = eval(&data);
    assert!(ok && want.contains("MSE"), "{stderr}");
    let (ok, got, stderr) = eval(&reordered);
    assert!(ok, "{stderr}");
    assert_eq!(figures(&got), figures(&want));
    let (ok, _, stderr) = eval(&renamed);
    assert!(!ok && stderr.contains("no feature \"a\""), "{stderr}");
    std::fs::remove_dir_all(&dir).ok();
}
