//! Every bad input the reliability review found, given to the command line as a user would:
//! each is refused with one `error:` line that names what is wrong (and where), no panic; and
//! the diagnoses say what happened.

mod common;

use std::path::PathBuf;

fn dir() -> PathBuf {
    let dir = common::scratch_dir().join("messages");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs the CLI with `env` set and XDG_RUNTIME_DIR unset (the CLI makes its own).
fn cli(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let mut command = common::cli();
    command.args(args).env_remove("XDG_RUNTIME_DIR");
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_one_error(what: &str, (ok, _, stderr): (bool, String, String), needles: &[&str]) {
    assert!(!ok, "{what}: accepted");
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(errors.len(), 1, "{what}: {stderr}");
    for needle in needles {
        assert!(
            errors[0].contains(needle),
            "{what}: no {needle:?} in {stderr}"
        );
    }
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    assert!(
        stderr.len() < 1000,
        "{what}: {} bytes of error",
        stderr.len()
    );
}

/// A numeric CSV of 100 rows whose target cell on line `bad_line` is `bad`.
fn numeric_csv(name: &str, bad_line: usize, bad: &str) -> PathBuf {
    let mut text = String::from("a,b,y\n");
    for i in 0..100 {
        let y = if i + 2 == bad_line {
            bad.to_string()
        } else {
            format!("{}", i % 7)
        };
        text.push_str(&format!("{},{},{y}\n", i as f32 * 0.1, (i * 3 % 11) as f32,));
    }
    let path = dir().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// A bad cell in a column of numbers is named, whether the task is given as regression or
/// left to detect: a stray word too, rather than every distinct number becoming a class; with
/// the task given as multiclass the word is a label like the others.
#[test]
fn bad_targets_are_named_by_line_and_column_whatever_the_task() {
    for (n, word) in ["abc", "12a"].into_iter().enumerate() {
        let path = numeric_csv(&format!("word{n}.csv"), 17, word);
        let path = path.to_str().unwrap();
        let args = ["train", "--data", path, "--epochs", "1", "--quiet"];
        assert_one_error(
            &format!("target {word:?}, task detected"),
            cli(&args, &[]),
            &[
                "line 17",
                "\"y\"",
                &format!("{word:?}"),
                "holds numbers",
                "give the task",
            ],
        );
        let (ok, stdout, stderr) = cli(&[&args[..], &["--task", "multiclass"]].concat(), &[]);
        assert!(ok, "{word:?} as a label: {stderr}");
        assert!(stdout.contains("multiclass"), "{stdout}");
    }
    for (n, bad) in ["nan", "inf", "", "1e40", "abc"].into_iter().enumerate() {
        let path = numeric_csv(&format!("bad{n}.csv"), 17, bad);
        let path = path.to_str().unwrap();
        for task in [None, Some("regression")] {
            let mut args = vec!["train", "--data", path, "--epochs", "1", "--quiet"];
            if let Some(t) = task {
                args.extend(["--task", t]);
            }
            assert_one_error(
                &format!("target {bad:?}, task {task:?}"),
                cli(&args, &[]),
                &["line 17", "\"y\"", &format!("{bad:?}")],
            );
        }
    }
}

#[test]
fn long_class_lists_are_cut_short() {
    let mut text = String::from("x,label\n");
    for i in 0..5000 {
        text.push_str(&format!("{i},class{i}\n"));
    }
    let path = dir().join("many.csv");
    std::fs::write(&path, text).unwrap();
    assert_one_error(
        "5000 labels as binary",
        cli(
            &[
                "train",
                "--data",
                path.to_str().unwrap(),
                "--task",
                "binary",
                "--quiet",
            ],
            &[],
        ),
        &["exactly 2", "5000", "and 4990 more"],
    );
}

#[test]
fn duplicate_column_names_are_refused() {
    let path = dir().join("dup.csv");
    std::fs::write(&path, "a,b,a,y\n1,2,3,4\n5,6,7,8\n").unwrap();
    assert_one_error(
        "duplicate header",
        cli(&["train", "--data", path.to_str().unwrap(), "--quiet"], &[]),
        &["line 1", "repeats the name \"a\""],
    );
}

#[test]
fn adapter_variables_are_validated_and_named() {
    let train = ["train", "--data", "diabetes", "--epochs", "1", "--quiet"];
    for (var, value) in [
        ("WGPU_BACKEND", "gl"),
        ("WGPU_BACKEND", "bogus"),
        ("WGPU_POWER_PREF", "bogus"),
    ] {
        assert_one_error(
            &format!("{var}={value}"),
            cli(&train, &[(var, value)]),
            &[var, value],
        );
    }
}

/// Settings are checked before the data is read or the adapter opened: with an adapter name
/// that matches nothing, the setting is still what is reported.
#[test]
fn bad_settings_are_refused_before_the_adapter_opens() {
    let no_adapter = [("WGPU_ADAPTER_NAME", "no such adapter")];
    for (flags, needle) in [
        (vec!["--min-delta", "nan"], "min_delta"),
        (vec!["--min-delta", "-1"], "min_delta"),
        (
            vec!["--checkpoint-every", "0", "--save", "/tmp/x.safetensors"],
            "--checkpoint-every",
        ),
        (vec!["--lr", "-1"], "lr"),
        (vec!["--validation", "0.9"], "split fractions"),
        (
            vec!["--lr-schedule", "step", "--lr-step-size", "0"],
            "step_size",
        ),
    ] {
        let mut args = vec!["train", "--data", "diabetes", "--quiet"];
        args.extend(&flags);
        assert_one_error(&format!("{flags:?}"), cli(&args, &no_adapter), &[needle]);
    }
}

#[test]
fn a_checkpoint_with_a_zero_standard_deviation_is_refused() {
    let path = dir().join("std0.safetensors");
    let (ok, _, stderr) = cli(
        &[
            "train",
            "--data",
            "diabetes",
            "--epochs",
            "1",
            "--quiet",
            "--save",
            path.to_str().unwrap(),
        ],
        &[],
    );
    assert!(ok, "{stderr}");
    // Rewrite the file with one stored standard deviation set to 0.
    common::edit_metadata_entry(&path, |entry| {
        entry["preprocessing"]["feature_std"][3] = 0.0.into();
    });
    assert_one_error(
        "std 0",
        cli(
            &[
                "eval",
                "--checkpoint",
                path.to_str().unwrap(),
                "--data",
                "diabetes",
            ],
            &[],
        ),
        &["feature_std"],
    );
}

/// A loss that grows by orders of magnitude is divergence, reported and not saved as a good
/// model; a rate of 0 learns nothing and the diagnosis says so.
#[test]
fn divergence_and_not_learning_are_called_what_they_are() {
    let path = dir().join("huge-lr.safetensors");
    let (ok, _, stderr) = cli(
        &[
            "train",
            "--data",
            "diabetes",
            "--lr",
            "1e6",
            "--epochs",
            "30",
            "--quiet",
            "--save",
            path.to_str().unwrap(),
        ],
        &[],
    );
    assert!(!ok, "Adam at lr 1e6 was accepted");
    // No NaN: the loss grew past 10⁴ times the untrained model's (Error::Diverged).
    assert!(
        stderr.contains("over 10⁴ times") && stderr.contains("before it diverged"),
        "{stderr}"
    );

    let (ok, stdout, stderr) = cli(
        &[
            "train", "--data", "diabetes", "--lr", "0", "--epochs", "3", "--quiet",
        ],
        &[],
    );
    assert!(ok, "{stderr}");
    assert!(stdout.contains("Not learning"), "{stdout}");
    // And a successful run, with XDG_RUNTIME_DIR unset, says nothing on stderr.
    assert!(stderr.is_empty(), "{stderr}");
}

/// A target that is the same in every row: the report says what its R² means there (1 for a
/// perfect prediction, else 0, as scikit-learn), in the text and in the JSON; a varied target
/// gets no such note.
#[test]
fn a_constant_target_says_what_its_r2_means() {
    let path = dir().join("constant.csv");
    let mut text = String::from("a,b,y\n");
    for i in 0..60 {
        text += &format!("{},{},5\n", i % 7, i % 3);
    }
    std::fs::write(&path, text).unwrap();
    let data = path.display().to_string();
    let train = ["train", "--data", &data, "--epochs", "3", "--quiet"];
    let (ok, stdout, stderr) = cli(&train, &[]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("R² on train, validation, test: the targets are all equal there, so R² is 1 for a perfect prediction and 0 otherwise (scikit-learn's r2_score)"),
        "{stdout}"
    );
    let (ok, stdout, stderr) = cli(&[&train[..], &["--json"]].concat(), &[]);
    assert!(ok, "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["scores"]["test"]["model"]["constant_targets"], true);
    assert_eq!(json["scores"]["test"]["baseline"]["r2"], 1.0);
    let (ok, stdout, stderr) = cli(
        &["train", "--data", "diabetes", "--epochs", "2", "--quiet"],
        &[],
    );
    assert!(ok, "{stderr}");
    assert!(!stdout.contains("targets are all equal"), "{stdout}");
}
