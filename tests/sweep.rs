//! The grid search (`Sweep`): each fold's model is the one a `Trainer` trains on that fold's
//! rows standardised with that fold's statistics; the table is the folds' mean and standard
//! deviation, ranked; the refit model and the CLI's files are what they say.

mod common;

use common::gpu;
use wgsl_train::data::{diabetes, iris, Preprocessing, SplitConfig};
use wgsl_train::experiment::{evaluate, Candidate, Sweep};
use wgsl_train::nn::Mlp;
use wgsl_train::optim::{AdamConfig, SgdConfig};
use wgsl_train::train::{GridConfig, LrSchedule, TrainConfig, Trainer};

fn sweep(candidates: Vec<Candidate>) -> Sweep {
    Sweep {
        candidates,
        folds: 3,
        split: SplitConfig {
            validation: 0.0,
            test: 0.2,
            seed: 5,
            ..SplitConfig::default()
        },
        grid: GridConfig {
            epochs: 6,
            batch_size: 16,
            ..GridConfig::default()
        },
        seed: 5,
        class_weight: Default::default(),
        progress: false,
    }
}

fn candidate(
    hidden: &[usize],
    optimizer: impl Into<wgsl_train::optim::OptimizerConfig>,
) -> Candidate {
    Candidate {
        hidden: hidden.to_vec(),
        activation: wgsl_train::nn::Activation::Relu,
        dropout: 0.0,
        init: wgsl_train::nn::Init::Default,
        optimizer: optimizer.into(),
        lr_schedule: LrSchedule::Constant,
    }
}

#[test]
fn each_fold_model_is_the_trainer_on_that_folds_standardised_rows() {
    let data = diabetes().unwrap();
    let s = sweep(vec![
        candidate(
            &[5],
            SgdConfig {
                lr: 0.01,
                momentum: 0.9,
                ..SgdConfig::default()
            },
        ),
        candidate(
            &[4, 3],
            AdamConfig {
                lr: 0.01,
                l1: 1e-3,
                ..AdamConfig::default()
            },
        ),
    ]);
    let outcome = s.run(gpu(), &data).unwrap();
    assert_eq!(outcome.models.len(), 6);
    // Rebuilt by hand for every model: the split, the folds, each fold's own standardisation,
    // a Trainer on its rows, its scores on the validation fold in the data's units.
    let development = data.split(&s.split).unwrap().train;
    let folds = development.k_fold(s.folds, s.seed).unwrap();
    for model in &outcome.models {
        let c = &s.candidates[model.candidate];
        let fold = &folds[model.fold];
        let (train, validation) = (
            development.subset(&fold.train),
            development.subset(&fold.validation),
        );
        let p = Preprocessing::fit(&train);
        let mut sizes = vec![10];
        sizes.extend(&c.hidden);
        sizes.push(1);
        let mlp = Mlp::new(gpu(), &sizes, data.task(), s.seed).unwrap();
        let config = TrainConfig {
            epochs: s.grid.epochs,
            batch_size: s.grid.batch_size,
            seed: s.seed,
            ..TrainConfig::default()
        };
        let (scaled_train, scaled_validation) =
            (p.apply(&train).unwrap(), p.apply(&validation).unwrap());
        let mut trainer = Trainer::new(
            gpu(),
            mlp,
            c.optimizer,
            &scaled_train,
            Some(&scaled_validation),
            config,
        )
        .unwrap();
        trainer.fit().unwrap();
        let want = evaluate(gpu(), trainer.model(), &p, &validation)
            .unwrap()
            .model
            .loss();
        let got = model.validation.loss();
        // The grid and the trainer add in different orders (tests/grid.rs bounds the
        // trajectory at 1e-4); the MSE in the data's units inherits that.
        assert!(
            (got - want).abs() <= 1e-3 * want,
            "candidate {} fold {}: sweep {got}, by hand {want}",
            model.candidate,
            model.fold
        );
    }
}

#[test]
fn the_table_is_the_folds_mean_and_standard_deviation_ranked_by_loss() {
    let data = iris().unwrap();
    let s = sweep(vec![
        candidate(
            &[4],
            SgdConfig {
                lr: 0.001,
                ..SgdConfig::default()
            },
        ),
        candidate(
            &[8],
            AdamConfig {
                lr: 0.03,
                ..AdamConfig::default()
            },
        ),
        candidate(
            &[8],
            AdamConfig {
                lr: 0.003,
                ..AdamConfig::default()
            },
        ),
    ]);
    let outcome = s.run(gpu(), &data).unwrap();
    for (c, result) in outcome.candidates.iter().enumerate() {
        let losses: Vec<f64> = outcome
            .models
            .iter()
            .filter(|m| m.candidate == c)
            .map(|m| m.validation.loss())
            .collect();
        assert_eq!(losses.len(), 3);
        let mean = losses.iter().sum::<f64>() / 3.0;
        // NumPy's std (population), as cv_results_'s std_test_*.
        let std = (losses.iter().map(|l| (l - mean) * (l - mean)).sum::<f64>() / 3.0).sqrt();
        assert!(
            (result.validation_loss.0 - mean).abs() < 1e-12,
            "{c}: {:?} vs {mean}",
            result.validation_loss
        );
        assert!((result.validation_loss.1 - std).abs() < 1e-12);
        let (_, accuracy_mean, _) = result.validation[0];
        let accuracies: Vec<f64> = outcome
            .models
            .iter()
            .filter(|m| m.candidate == c)
            .map(|m| m.validation.named_values()[0].1)
            .collect();
        assert!((accuracy_mean - accuracies.iter().sum::<f64>() / 3.0).abs() < 1e-12);
    }
    // Ranked by mean validation loss, lowest first; the best is rank 1.
    let mut by_loss: Vec<usize> = (0..3).collect();
    by_loss.sort_by(|&a, &b| {
        outcome.candidates[a]
            .validation_loss
            .0
            .total_cmp(&outcome.candidates[b].validation_loss.0)
    });
    let ranks: Vec<usize> = by_loss
        .iter()
        .map(|&c| outcome.candidates[c].rank)
        .collect();
    assert_eq!(ranks, [1, 2, 3]);
    assert_eq!(outcome.best, by_loss[0]);
    // The refit model is the best candidate's network, scored on the test split it never saw.
    let test = data.split(&s.split).unwrap().test;
    assert_eq!(
        outcome.test,
        evaluate(gpu(), &outcome.refit, &outcome.preprocessing, &test).unwrap()
    );
    assert_eq!(
        outcome.refit.sizes()[1..outcome.refit.sizes().len() - 1],
        s.candidates[outcome.best].hidden[..]
    );
}

fn wgsl_train(args: &[&str]) -> (bool, String, String) {
    let out = common::run_cli(args);
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

#[test]
fn the_sweep_command_writes_the_table_the_results_and_a_model_eval_reads() {
    let dir = std::env::temp_dir().join(format!("wgsl-train-sweep-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (json, csv, model, curves) = (
        dir.join("r.json"),
        dir.join("r.csv"),
        dir.join("m.safetensors"),
        dir.join("curves"),
    );
    let path = |p: &std::path::Path| p.to_str().unwrap().to_string();
    let (ok, stdout, stderr) = wgsl_train(&[
        "sweep",
        "--data",
        "diabetes",
        "--optimizer",
        "sgd,adam",
        "--lr",
        "0.01,0.03",
        "--hidden",
        "5,4-3",
        "--momentum",
        "0.9",
        "--folds",
        "3",
        "--epochs",
        "5",
        "--json",
        &path(&json),
        "--csv",
        &path(&csv),
        "--save",
        &path(&model),
        "--curves",
        &path(&curves),
    ]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("8 candidates × 3 folds = 24 models"),
        "{stdout}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let candidates = report["candidates"].as_array().unwrap();
    assert_eq!(candidates.len(), 8);
    assert_eq!(report["models"].as_array().unwrap().len(), 24);
    // The lists' combinations, optimizer outermost: sgd 0.01 (5, 4-3), sgd 0.03 …, adam ….
    let param = |c: usize, key: &str| candidates[c]["params"]["optimizer"][key].clone();
    assert_eq!(param(0, "kind"), "sgd");
    assert_eq!(param(0, "momentum"), 0.9);
    assert_eq!(param(2, "lr"), 0.03);
    assert_eq!(param(4, "kind"), "adam");
    assert_eq!(candidates[1]["params"]["hidden"], serde_json::json!([4, 3]));
    // Rank 1 has the lowest mean validation loss, and the best is rank 1.
    let losses: Vec<f64> = candidates
        .iter()
        .map(|c| c["mean_validation_loss"].as_f64().unwrap())
        .collect();
    let best = report["best"].as_u64().unwrap() as usize;
    assert_eq!(candidates[best]["rank_validation_loss"], 1);
    assert!(losses.iter().all(|&l| l >= losses[best]));
    assert!(
        candidates[0]["mean_validation_MSE"].is_f64() && candidates[0]["std_train_R²"].is_f64()
    );
    let table = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(table.lines().count(), 9);
    // Every model's every epoch in curves.csv, and a panel per candidate, ranked, in the SVG.
    let epochs: u64 = report["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["epochs"].as_u64().unwrap())
        .sum();
    let curves_csv = std::fs::read_to_string(curves.join("curves.csv")).unwrap();
    assert_eq!(curves_csv.lines().count() as u64, 1 + epochs);
    assert!(curves_csv.starts_with("candidate,fold,epoch,train_loss,validation_loss\n"));
    let svg = std::fs::read_to_string(curves.join("curves.svg")).unwrap();
    for row in table.lines().skip(1) {
        let mut cells = row.split(',');
        let (rank, name) = (
            cells.next().unwrap(),
            cells.next().unwrap().trim_matches('"'),
        );
        assert!(
            svg.contains(&format!("{rank}. {name}")),
            "no panel {rank}. {name}"
        );
    }
    assert!(svg.contains("validation ± std over folds"));
    // The saved refit model is what eval reads, with the best candidate's widths.
    let (ok, stdout, stderr) =
        wgsl_train(&["eval", "--data", "diabetes", "--checkpoint", &path(&model)]);
    assert!(ok && stdout.contains("MSE"), "{stdout}{stderr}");
    let hidden = candidates[best]["params"]["hidden"]
        .as_array()
        .unwrap()
        .len();
    let text = std::fs::read(&model).unwrap();
    let header_len = u64::from_le_bytes(text[..8].try_into().unwrap()) as usize;
    let header = String::from_utf8_lossy(&text[8..8 + header_len]);
    assert_eq!(header.matches(".weight").count(), hidden + 1, "{header}");
    // SGD's momentum with no SGD candidate is refused, not ignored.
    let (ok, _, stderr) = wgsl_train(&[
        "sweep",
        "--data",
        "diabetes",
        "--momentum",
        "0.9",
        "--epochs",
        "1",
    ]);
    assert!(!ok && stderr.contains("--momentum"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn three_shards_merged_are_the_unsharded_sweep_exactly() {
    let dir = std::env::temp_dir().join(format!("wgsl-train-shards-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = |name: &str| dir.join(name).to_str().unwrap().to_string();
    // Two widths, early stopping, and SGD at lr 3 diverging on every fold: models that stop,
    // roll back and differ in shape, spread over the shards.
    let sweep_args = |lr: &str, extra: &[&str]| {
        let mut args = vec![
            "sweep",
            "--data",
            "diabetes",
            "--optimizer",
            "sgd,adam",
            "--hidden",
            "5,4-3",
            "--folds",
            "3",
            "--epochs",
            "8",
            "--patience",
            "3",
            "--seed",
            "2",
            "--lr",
        ];
        args.push(lr);
        let mut args: Vec<String> = args.into_iter().map(String::from).collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        wgsl_train(&args)
    };
    let (ok, whole_table, stderr) = run(sweep_args("0.01,3", &["--json", &file("whole.json")]));
    assert!(ok, "{stderr}");
    assert!(whole_table.contains("diverged on 3 folds"), "{whole_table}");
    for i in 1..=3 {
        let shard = format!("{i}/3");
        let out = file(&format!("shard{i}.json"));
        let (ok, _, stderr) = run(sweep_args("0.01,3", &["--shard", &shard, "--json", &out]));
        assert!(ok, "{stderr}");
    }
    let (ok, merged_table, stderr) = run(sweep_args(
        "0.01,3",
        &[
            "--json",
            &file("merged.json"),
            "--merge",
            &file("shard3.json"),
            &file("shard1.json"),
            &file("shard2.json"),
        ],
    ));
    assert!(ok, "{stderr}");
    let whole = std::fs::read_to_string(dir.join("whole.json")).unwrap();
    let merged = std::fs::read_to_string(dir.join("merged.json")).unwrap();
    assert_eq!(
        whole, merged,
        "the merged results differ from the unsharded run's"
    );
    // The printed table, choice and test scores too (all but the first and last lines).
    fn table(text: &str) -> Vec<&str> {
        let lines: Vec<&str> = text.lines().collect();
        lines[1..lines.len() - 1].to_vec()
    }
    assert_eq!(table(&whole_table), table(&merged_table));
    // A missing shard, a shard given twice and a shard of another sweep are refused by name.
    let refused = |extra: &[&str], lr: &str, expected: &str| {
        let (ok, _, stderr) = run(sweep_args(lr, extra));
        assert!(
            !ok && stderr.contains(expected),
            "{expected:?} not in {stderr}"
        );
    };
    let (s1, s2) = (file("shard1.json"), file("shard2.json"));
    refused(&["--merge", &s1, &s2], "0.01,3", "shard 3 of 3 missing");
    refused(
        &["--merge", &s1, &s2, &s2],
        "0.01,3",
        "shard 2/3 given twice",
    );
    refused(&["--merge", &s1], "0.01,2", "its candidates");
    // A shard of the same grid with another activation, initialisation, dropout or clipping is
    // another sweep.
    let all = [&s1, &s2, &file("shard3.json")].map(|s| s.to_string());
    for (other, differs) in [
        (["--activation", "tanh"], "its candidates"),
        (["--init", "xavier_normal"], "its candidates"),
        (["--dropout", "0.2"], "its candidates"),
        (["--clip-grad-norm", "0.5"], "its clip_grad_norm"),
    ] {
        let mut extra = vec!["--merge"];
        extra.extend(all.iter().map(String::as_str));
        extra.extend(other);
        refused(&extra, "0.01,3", differs);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The curves a watcher sees after each submission grow epoch by epoch, and the last ones are
/// the folds' mean of the finished models' curves.
#[test]
fn a_watcher_sees_each_candidates_mean_curves_grow_to_the_final_ones() {
    let data = diabetes().unwrap();
    let mut s = sweep(vec![
        candidate(&[5], SgdConfig::default()),
        candidate(
            &[4],
            AdamConfig {
                lr: 0.01,
                ..AdamConfig::default()
            },
        ),
    ]);
    s.grid.epochs = 9;
    s.grid.epochs_per_dispatch = Some(4);
    let mut seen: Vec<(usize, Vec<wgsl_train::train::History>)> = Vec::new();
    let mut watch = |done: usize, curves: &[wgsl_train::train::History]| {
        seen.push((done, curves.to_vec()));
        Ok(())
    };
    let outcome = pollster::block_on(s.run_async(gpu(), &data, Some(&mut watch))).unwrap();
    let done: Vec<usize> = seen.iter().map(|(d, _)| *d).collect();
    assert_eq!(done, [4, 8, 9]);
    for (done, curves) in &seen {
        assert_eq!(curves.len(), 2);
        assert!(curves.iter().all(|h| h.epochs.len() == *done));
    }
    let (_, last) = seen.last().unwrap();
    for (c, curves) in last.iter().enumerate() {
        let folds: Vec<_> = outcome.models.iter().filter(|m| m.candidate == c).collect();
        for (e, record) in curves.epochs.iter().enumerate() {
            let mean = |f: &dyn Fn(&wgsl_train::train::EpochRecord) -> f64| {
                folds.iter().map(|m| f(&m.history.epochs[e])).sum::<f64>() / folds.len() as f64
            };
            assert_eq!(record.train_loss, mean(&|r| r.train_loss));
            assert_eq!(
                record.validation_loss,
                Some(mean(&|r| r.validation_loss.unwrap()))
            );
        }
    }
}

/// More shards than models: the shards without a model are empty and merge as well, and the
/// merge is the unsharded run's outcome.
#[test]
fn shards_beyond_the_models_are_empty_and_the_merge_is_the_run() {
    let data = diabetes().unwrap();
    let mut s = sweep(vec![candidate(&[5], SgdConfig::default())]);
    s.folds = 2;
    let shards: Vec<_> = (1..=3)
        .map(|n| {
            let shard = wgsl_train::experiment::Shard::new(n, 3).unwrap();
            s.run_shard(gpu(), &data, shard).unwrap()
        })
        .collect();
    assert_eq!(
        shards.iter().map(|p| p.models.len()).collect::<Vec<_>>(),
        [1, 1, 0]
    );
    let merged = s.merge(gpu(), &data, shards).unwrap();
    let whole = s.run(gpu(), &data).unwrap();
    assert_eq!(merged.models, whole.models);
    assert_eq!(merged.candidates, whole.candidates);
    assert_eq!(merged.test, whole.test);
}

/// Runs `sweep` on diabetes with 2 folds and `flags`, writing the JSON results and the refit
/// model into a fresh directory `name`; returns the results and the model's metadata entry.
fn sweep_on_diabetes(name: &str, flags: &[&str]) -> (serde_json::Value, serde_json::Value) {
    sweep_on(name, "diabetes", flags)
}

/// As [`sweep_on_diabetes`], on `data`.
fn sweep_on(name: &str, data: &str, flags: &[&str]) -> (serde_json::Value, serde_json::Value) {
    let dir = common::scratch_dir().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let (json, model) = (dir.join("r.json"), dir.join("m.safetensors"));
    let (json_path, model_path) = (json.display().to_string(), model.display().to_string());
    let mut args = vec!["sweep", "--data", data, "--folds", "2"];
    args.extend(["--json", &json_path, "--save", &model_path]);
    args.extend(flags);
    let (ok, _, stderr) = wgsl_train(&args);
    assert!(ok, "{args:?}: {stderr}");
    let report = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let (_, metadata) = wgsl_train::checkpoint::read_tensors(&model).unwrap();
    let entry = serde_json::from_str(&metadata["wgsl-train"]).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    (report, entry)
}

/// `--activation` is a grid axis: one candidate per activation (innermost, after the widths),
/// each trained with it (their scores differ), and the refit model saved with the winner's.
#[test]
fn the_sweep_command_compares_activations_and_saves_the_winners() {
    let (report, entry) = sweep_on_diabetes(
        "sweep-activations",
        &[
            "--hidden",
            "5,4-3",
            "--activation",
            "relu,tanh,leaky_relu:0.2",
            "--epochs",
            "3",
        ],
    );
    let candidates = report["candidates"].as_array().unwrap();
    let params: Vec<(String, usize)> = candidates
        .iter()
        .map(|c| {
            let p = &c["params"];
            (
                p["activation"].as_str().unwrap().to_string(),
                p["hidden"].as_array().unwrap().len(),
            )
        })
        .collect();
    let want: Vec<(String, usize)> = [1, 2]
        .into_iter()
        .flat_map(|depth| ["relu", "tanh", "leaky_relu:0.2"].map(|a| (a.to_string(), depth)))
        .collect();
    assert_eq!(params, want);
    let losses: Vec<f64> = candidates
        .iter()
        .map(|c| c["mean_validation_loss"].as_f64().unwrap())
        .collect();
    assert!(
        losses[0] != losses[1] && losses[1] != losses[2],
        "the activations trained alike: {losses:?}"
    );
    let best = report["best"].as_u64().unwrap() as usize;
    let torch_name = match params[best].0.as_str() {
        "relu" => "ReLU",
        "tanh" => "Tanh",
        _ => "LeakyReLU",
    };
    let layers = entry["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2 * params[best].1 + 1);
    assert!(
        layers
            .iter()
            .skip(1)
            .step_by(2)
            .all(|l| l["type"] == torch_name),
        "{layers:?}: the best is {}",
        params[best].0
    );
}

/// `--init`, once per value, is a grid axis: one candidate per initialisation, each drawn with
/// it (their scores differ), the JSON naming it and the refit model recording the winner's.
#[test]
fn the_sweep_command_compares_initialisations() {
    let inits = ["default", "kaiming_normal:mode=fan_out,nonlinearity=relu"];
    let (report, entry) = sweep_on_diabetes(
        "sweep-inits",
        &["--init", inits[0], "--init", inits[1], "--epochs", "2"],
    );
    let candidates = report["candidates"].as_array().unwrap();
    let named: Vec<&str> = candidates
        .iter()
        .map(|c| c["params"]["init"].as_str().unwrap())
        .collect();
    assert_eq!(named, inits);
    let losses: Vec<f64> = candidates
        .iter()
        .map(|c| c["mean_validation_loss"].as_f64().unwrap())
        .collect();
    assert_ne!(losses[0], losses[1], "the initialisations trained alike");
    let best = report["best"].as_u64().unwrap() as usize;
    assert_eq!(entry["init"], inits[best]);
}

/// `--dropout`, comma-separated, is a grid axis (after the activations): one candidate per
/// probability, each trained with it (their scores differ), the JSON naming it and the refit
/// model recording the winner's as `nn.Dropout` after its activation.
#[test]
fn the_sweep_command_compares_dropout() {
    let (report, entry) = sweep_on_diabetes(
        "sweep-dropout",
        &["--hidden", "8", "--dropout", "0.2,0.6", "--epochs", "3"],
    );
    let candidates = report["candidates"].as_array().unwrap();
    let named: Vec<f64> = candidates
        .iter()
        .map(|c| c["params"]["dropout"].as_f64().unwrap())
        .collect();
    assert_eq!(named, [0.2f32, 0.6].map(f64::from));
    let losses: Vec<f64> = candidates
        .iter()
        .map(|c| c["mean_validation_loss"].as_f64().unwrap())
        .collect();
    assert_ne!(
        losses[0], losses[1],
        "the dropout probabilities trained alike"
    );
    let best = report["best"].as_u64().unwrap() as usize;
    let layers = entry["layers"].as_array().unwrap();
    let kinds: Vec<&str> = layers.iter().map(|l| l["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["Linear", "ReLU", "Dropout", "Linear"]);
    assert_eq!(layers[2]["p"].as_f64(), Some(named[best]));
}

/// `--class-weight` reaches every model of the grid and the refit: iris with weights per
/// class trains otherwise than without them, and the refit model records them; wine (binary)
/// with balanced weights records a pos_weight other than 1 (the ratio of its class counts);
/// `--pos-weight P` records P.
#[test]
fn the_sweep_command_weighs_classes() {
    let flags = ["--epochs", "2"];
    let train_losses = |report: &serde_json::Value| -> Vec<f64> {
        let models = report["models"].as_array().unwrap();
        models
            .iter()
            .map(|m| m["history"]["epochs"][1]["train_loss"].as_f64().unwrap())
            .collect()
    };
    let (plain, _) = sweep_on("sweep-iris-plain", "iris", &flags);
    let given = [&flags[..], &["--class-weight", "0.5,1,3"]].concat();
    let (weighted, entry) = sweep_on("sweep-iris-weighted", "iris", &given);
    let (plain, weighted) = (train_losses(&plain), train_losses(&weighted));
    assert!(
        plain.iter().zip(&weighted).all(|(p, w)| p != w),
        "{plain:?} {weighted:?}"
    );
    assert_eq!(
        entry["loss_weights"],
        serde_json::json!({"weight": [0.5, 1.0, 3.0]})
    );
    let balanced = [&flags[..], &["--class-weight", "balanced"]].concat();
    let (_, entry) = sweep_on("sweep-wine-balanced", "wine", &balanced);
    let pos_weight = entry["loss_weights"]["pos_weight"][0].as_f64().unwrap();
    assert!(pos_weight > 0.0 && pos_weight != 1.0, "{entry}");
    let given = [&flags[..], &["--pos-weight", "2.5"]].concat();
    let (_, entry) = sweep_on("sweep-wine-pos-weight", "wine", &given);
    assert_eq!(
        entry["loss_weights"],
        serde_json::json!({"pos_weight": [2.5]})
    );
}

/// `--clip-grad-norm N` reaches every model of the grid and the refit: with N = 1e-9, SGD's
/// steps shrink to nothing, so each model's training loss stays where it began and the refit
/// model scores on the test split as an untrained one; without it, both learn.
#[test]
fn the_sweep_command_clips_every_model_and_the_refit() {
    let flags = ["--optimizer", "sgd", "--lr", "0.05", "--epochs", "3"];
    let run = |name: &str, extra: &[&str]| {
        let all: Vec<&str> = flags.iter().chain(extra).copied().collect();
        sweep_on_diabetes(name, &all).0
    };
    let clipped = run("sweep-clipped", &["--clip-grad-norm", "1e-9"]);
    let free = run("sweep-unclipped", &[]);
    let losses = |report: &serde_json::Value| -> Vec<Vec<f64>> {
        let models = report["models"].as_array().unwrap();
        models
            .iter()
            .map(|m| {
                let epochs = m["history"]["epochs"].as_array().unwrap();
                epochs
                    .iter()
                    .map(|e| e["train_loss"].as_f64().unwrap())
                    .collect()
            })
            .collect()
    };
    for history in losses(&clipped) {
        let (first, last) = (history[0], history[history.len() - 1]);
        assert!(
            (first - last).abs() <= 1e-5 * first,
            "clipped, yet it learned: {history:?}"
        );
    }
    for history in losses(&free) {
        assert!(
            history[2] < 0.95 * history[0],
            "unclipped, yet it did not learn: {history:?}"
        );
    }
    let r2 = |report: &serde_json::Value| report["test"]["model"]["r2"].as_f64().unwrap();
    assert!(
        r2(&clipped) < r2(&free) - 0.2,
        "the refit: R² {} clipped against {} unclipped",
        r2(&clipped),
        r2(&free)
    );
}
