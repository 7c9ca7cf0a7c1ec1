//! `wgsl-train predict`: new rows through a saved model, checked against the same model
//! computed on the CPU from the checkpoint file alone (its tensors and saved scaling), with
//! columns in another order and extra columns; bad rows named by line and column.

mod common;

use std::path::{Path, PathBuf};

use common::run_cli;
use wgsl_train::checkpoint::{load_preprocessing, read_tensors};

fn dir() -> PathBuf {
    let dir = common::scratch_dir().join("predict");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn ok(args: &[&str]) -> String {
    let out = run_cli(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The model's outputs for raw `rows` from the checkpoint file alone, in f64: standardise with
/// the saved mean and std, then `relu(x·W0ᵀ + b0)·W2ᵀ + b2` (one hidden layer).
fn cpu_outputs(checkpoint: &Path, rows: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let (tensors, _) = read_tensors(checkpoint).unwrap();
    let get = |name: &str| tensors.iter().find(|t| t.name == name).unwrap();
    let p = load_preprocessing(checkpoint).unwrap().unwrap();
    let linear = |x: &[f64], l: usize| -> Vec<f64> {
        let (w, b) = (get(&format!("{l}.weight")), get(&format!("{l}.bias")));
        (0..w.shape[0])
            .map(|o| {
                let dot: f64 = (0..w.shape[1])
                    .map(|i| f64::from(w.data[o * w.shape[1] + i]) * x[i])
                    .sum();
                dot + f64::from(b.data[o])
            })
            .collect()
    };
    rows.iter()
        .map(|row| {
            let x: Vec<f64> = row
                .iter()
                .enumerate()
                .map(|(i, v)| (v - p.scaler.mean[i]) / p.scaler.std[i])
                .collect();
            let hidden: Vec<f64> = linear(&x, 0).into_iter().map(|v| v.max(0.0)).collect();
            let out = linear(&hidden, 2);
            match p.target_scaler {
                Some(t) => out.iter().map(|v| v * t.std + t.mean).collect(),
                None => out,
            }
        })
        .collect()
}

fn parse(csv: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut lines = csv.lines();
    let header = lines.next().unwrap().split(',').map(String::from).collect();
    (
        header,
        lines
            .map(|l| l.split(',').map(String::from).collect())
            .collect(),
    )
}

#[test]
fn regression_predictions_match_the_checkpoint_computed_on_the_cpu() {
    let d = dir();
    let mut train = String::from("a,b,c,y\n");
    for i in 0..200 {
        let (a, b, c) = (
            i as f64 * 0.05,
            ((i * 7) % 13) as f64,
            ((i * 3) % 5) as f64 - 2.0,
        );
        train.push_str(&format!(
            "{a},{b},{c},{}\n",
            3.0 * a - b + 0.5 * c * c + 10.0
        ));
    }
    std::fs::write(d.join("train.csv"), train).unwrap();
    let model = d.join("reg.safetensors");
    let (train_path, model_path) = (d.join("train.csv"), model.to_str().unwrap().to_string());
    ok(&[
        "train",
        "--data",
        train_path.to_str().unwrap(),
        "--epochs",
        "20",
        "--quiet",
        "--save",
        &model_path,
    ]);

    // New rows: the columns in another order, an extra column, no target.
    let rows = vec![
        vec![1.5, 4.0, -1.0],
        vec![8.25, 12.0, 2.0],
        vec![0.0, 0.0, 0.0],
    ];
    let mut new = String::from("note,c,a,b\n");
    for r in &rows {
        new.push_str(&format!("x,{},{},{}\n", r[2], r[0], r[1]));
    }
    std::fs::write(d.join("new.csv"), new).unwrap();
    let out = d.join("preds.csv");
    ok(&[
        "predict",
        "--checkpoint",
        &model_path,
        "--data",
        d.join("new.csv").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let (header, got) = parse(&std::fs::read_to_string(&out).unwrap());
    assert_eq!(header, ["prediction"]);
    let want = cpu_outputs(&model, &rows);
    for (g, w) in got.iter().zip(&want) {
        let g: f64 = g[0].parse().unwrap();
        assert!(
            (g - w[0]).abs() <= 1e-5 * w[0].abs().max(1.0),
            "{g} vs {}",
            w[0]
        );
    }
    assert_eq!(got.len(), rows.len());
}

#[test]
fn class_predictions_give_labels_and_probabilities() {
    let d = dir();
    let mut train = String::from("x,y,kind\n");
    for i in 0..150 {
        let (cx, label) = [(-3.0, "left"), (0.0, "middle"), (3.0, "right")][i % 3];
        let jitter = (i as f64 * 0.37).sin();
        train.push_str(&format!("{},{},{label}\n", cx + jitter, jitter));
    }
    std::fs::write(d.join("classes.csv"), train).unwrap();
    let model = d.join("cls.safetensors");
    let model_path = model.to_str().unwrap().to_string();
    let data = d.join("classes.csv");
    ok(&[
        "train",
        "--data",
        data.to_str().unwrap(),
        "--epochs",
        "40",
        "--lr",
        "0.03",
        "--quiet",
        "--save",
        &model_path,
    ]);
    let rows = vec![vec![-3.1, 0.2], vec![0.1, -0.3], vec![2.9, 0.5]];
    let mut new = String::from("y,x\n");
    for r in &rows {
        new.push_str(&format!("{},{}\n", r[1], r[0]));
    }
    std::fs::write(d.join("new-classes.csv"), new).unwrap();
    let stdout = ok(&[
        "predict",
        "--checkpoint",
        &model_path,
        "--data",
        d.join("new-classes.csv").to_str().unwrap(),
    ]);
    let (header, got) = parse(&stdout);
    assert_eq!(header, ["label", "p(left)", "p(middle)", "p(right)"]);
    let logits = cpu_outputs(&model, &rows);
    for (row, z) in got.iter().zip(&logits) {
        let max = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = z.iter().map(|v| (v - max).exp()).sum();
        for (c, v) in z.iter().enumerate() {
            let p: f64 = row[c + 1].parse().unwrap();
            assert!((p - (v - max).exp() / sum).abs() < 1e-5, "{row:?} vs {z:?}");
        }
        let best = (0..3).max_by(|&a, &b| z[a].total_cmp(&z[b])).unwrap();
        assert_eq!(row[0], ["left", "middle", "right"][best]);
    }
    // Well-separated blobs: the model learned them.
    assert_eq!(
        got.iter().map(|r| r[0].as_str()).collect::<Vec<_>>(),
        ["left", "middle", "right"]
    );
}

#[test]
fn bad_rows_are_refused_by_line_and_column() {
    let d = dir();
    let mut train = String::from("a,b,c,y\n");
    for i in 0..60 {
        train.push_str(&format!("{i},{},{},{}\n", i % 7, i % 3, i * 2));
    }
    std::fs::write(d.join("small.csv"), train).unwrap();
    let model = d.join("small.safetensors");
    let model_path = model.to_str().unwrap().to_string();
    let data = d.join("small.csv");
    ok(&[
        "train",
        "--data",
        data.to_str().unwrap(),
        "--epochs",
        "2",
        "--quiet",
        "--save",
        &model_path,
    ]);
    for (name, text, needles) in [
        (
            "missing",
            "a,c,extra\n1,2,3\n",
            vec!["line 1", "no column \"b\""],
        ),
        (
            "nan",
            "a,b,c\n1,2,3\n4,nan,6\n",
            vec!["line 3", "\"b\"", "\"nan\""],
        ),
        (
            "text",
            "a,b,c\n1,2,3\n4,5,six\n",
            vec!["line 3", "\"c\"", "\"six\""],
        ),
        ("ragged", "a,b,c\n1,2,3,4\n", vec!["line 2", "4 fields"]),
    ] {
        let path = d.join(format!("{name}.csv"));
        std::fs::write(&path, text).unwrap();
        let out = run_cli(&[
            "predict",
            "--checkpoint",
            &model_path,
            "--data",
            path.to_str().unwrap(),
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name}: accepted");
        assert_eq!(
            stderr.lines().filter(|l| l.starts_with("error: ")).count(),
            1,
            "{stderr}"
        );
        for needle in needles {
            assert!(stderr.contains(needle), "{name}: no {needle:?} in {stderr}");
        }
    }
}
