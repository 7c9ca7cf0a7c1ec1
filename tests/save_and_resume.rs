//! What the README promises of `--save`, tried as a user would: a run killed after a checkpoint
//! resumes and ends bitwise where an uninterrupted run ends; a diverged run keeps its last
//! finite model; no output failure loses the model; bad paths and a second run on the same
//! path are refused before training; a resume with other settings is refused by name.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use common::cli;
use std::time::{Duration, Instant};

use rand::Rng;
use wgsl_train::checkpoint::{read_tensors, training_state_path};

fn dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wgsl-train-{name}-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The training command of these tests, saving to `path`: diabetes, 40 epochs, seed 4, with
/// `extra` flags added or (for `--data`, `--epochs`, `--seed`) replacing the base's.
fn train_args(path: &Path, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["train".to_string()];
    for (flag, value) in [("--data", "diabetes"), ("--epochs", "40"), ("--seed", "4")] {
        if !extra.contains(&flag) {
            args.extend([flag.to_string(), value.to_string()]);
        }
    }
    args.extend(["--quiet".to_string(), "--save".to_string()]);
    args.push(path.display().to_string());
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn run(args: &[String]) -> (bool, String, String) {
    let out = cli().args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The weights of a model file, bit for bit.
fn weight_bits(path: &Path) -> Vec<(String, Vec<u32>)> {
    let (tensors, _) = read_tensors(path).unwrap();
    tensors
        .into_iter()
        .map(|t| (t.name, t.data.iter().map(|v| v.to_bits()).collect()))
        .collect()
}

fn temporaries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect()
}

/// `kill -9` at a random instant after a run that saves every epoch has written its first
/// checkpoint, then `--resume`: every resume succeeds, the model ends bit for bit where the
/// uninterrupted run's does, and most kills land mid-run (the saved epoch before the last),
/// so the test cannot pass on fresh starts or finished runs alone. Each kill waits for the
/// training state to appear, then up to half the time the uninterrupted run trained after its
/// first checkpoint (not its whole time: its start, compiling the shaders into a cold cache,
/// can take longer than all its epochs, and later runs start warm).
#[test]
fn a_run_killed_after_a_checkpoint_resumes_to_the_uninterrupted_result() {
    const EPOCHS: usize = 200;
    const TRIALS: usize = 10;
    let (mut rng, seed) =
        common::rng("a_run_killed_after_a_checkpoint_resumes_to_the_uninterrupted_result");
    let base = dir("kill");
    let reference = base.join("reference.safetensors");
    let epochs = ["--epochs", "200", "--checkpoint-every", "1"];
    let mut child = started_until_checkpoint(&reference, &epochs, "the uninterrupted run");
    let checkpointed = Instant::now();
    assert!(
        child.wait().unwrap().success(),
        "the uninterrupted run failed"
    );
    let training = checkpointed.elapsed();
    let want = weight_bits(&reference);

    let mut mid_run = 0;
    for kill in 0..TRIALS {
        let work = base.join(format!("run{kill}"));
        std::fs::create_dir_all(&work).unwrap();
        let path = work.join("model.safetensors");
        let state = training_state_path(&path);
        let mut child = started_until_checkpoint(&path, &epochs, &format!("kill {kill}"));
        let after = training.mul_f64(rng.random_range(0.0..0.5));
        std::thread::sleep(after);
        child.kill().ok(); // SIGKILL; the run may have finished already
        child.wait().unwrap();
        assert!(
            state.exists(),
            "kill {kill}: killed before the first checkpoint"
        );
        let saved = saved_epochs(&state);
        assert!(
            (1..=EPOCHS).contains(&saved),
            "kill {kill}: the state holds {saved} epochs"
        );
        if saved < EPOCHS {
            mid_run += 1;
        }
        let resume = ["--epochs", "200", "--checkpoint-every", "1", "--resume"];
        let (ok, stdout, stderr) = run(&train_args(&path, &resume));
        assert!(
            ok,
            "kill {kill} {after:?} after the first checkpoint, at epoch {saved} (seed {seed}): the resume failed:\n{stdout}\n{stderr}"
        );
        // It went on from the saved epoch: a fresh start would end bitwise where it should too.
        let resumed = format!("resumed {} after epoch {saved}\n", path.display());
        assert!(
            stdout.contains(&resumed),
            "kill {kill}: the resume did not say {resumed:?}:\n{stdout}"
        );
        assert_eq!(
            weight_bits(&path),
            want,
            "kill {kill} {after:?} after the first checkpoint, at epoch {saved} (seed {seed}): the resumed run ended elsewhere"
        );
        assert!(
            temporaries(&work).is_empty(),
            "stale temporary files: {:?}",
            temporaries(&work)
        );
    }
    eprintln!("{mid_run} of {TRIALS} kills resumed mid-run (the run trained {training:?} after its first checkpoint)");
    assert!(
        mid_run >= TRIALS * 7 / 10,
        "only {mid_run} of {TRIALS} kills landed mid-run (seed {seed}; the run trained {training:?} after its first checkpoint)"
    );
    std::fs::remove_dir_all(&base).ok();
}

/// Starts `train` saving to `path` with `flags` and returns once its training state exists
/// (its first checkpoint is written).
fn started_until_checkpoint(path: &Path, flags: &[&str], what: &str) -> std::process::Child {
    let state = training_state_path(path);
    let child = cli()
        .args(train_args(path, flags))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !state.exists() {
        assert!(
            Instant::now() < deadline,
            "{what}: no checkpoint after 120 s"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    child
}

/// The epochs a training-state file holds: the rows of its history.
fn saved_epochs(state: &Path) -> usize {
    let (_, metadata) = read_tensors(state).unwrap();
    let record: serde_json::Value = serde_json::from_str(&metadata["wgsl-train"]).unwrap();
    let history = record["history"].as_str().unwrap();
    history.lines().skip(1).filter(|l| !l.is_empty()).count()
}

#[test]
fn a_diverged_run_saves_its_last_finite_model() {
    let base = dir("diverged");
    let path = base.join("model.safetensors");
    let (ok, _, stderr) = run(&train_args(&path, &["--optimizer", "sgd", "--lr", "5"]));
    assert!(!ok, "SGD at lr 5 should diverge on diabetes");
    assert!(stderr.contains("diverged"), "{stderr}");
    assert!(stderr.contains("before it diverged"), "{stderr}");
    // What was saved is finite (read_tensors refuses NaN and ∞) and evaluates.
    read_tensors(&path).unwrap();
    read_tensors(&training_state_path(&path)).unwrap();
    let eval = [
        "eval",
        "--checkpoint",
        path.to_str().unwrap(),
        "--data",
        "diabetes",
    ];
    let out = cli().args(eval).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_dir_all(&base).ok();
}

/// `wgsl-train train --save p | head -1`: the pipe closes while the report prints; the model
/// is saved before that.
#[test]
fn a_closed_pipe_does_not_lose_the_model() {
    use std::io::BufRead;
    let base = dir("pipe");
    let path = base.join("model.safetensors");
    let mut child = cli()
        .args(train_args(&path, &[]))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("diabetes:"), "{first}");
    // The reader is gone now, as `head -1` is after its line.
    child.wait().unwrap();
    read_tensors(&path).unwrap();
    std::fs::remove_dir_all(&base).ok();
}

/// `> /dev/full`: one line on stderr naming standard output, no panic, and the model saved.
#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_on_stdout_is_an_error_and_the_model_is_saved() {
    let base = dir("full");
    let path = base.join("model.safetensors");
    let out = cli()
        .args(train_args(&path, &[]))
        .stdout(std::fs::File::create("/dev/full").unwrap())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("error: standard output") && !stderr.contains("panicked"),
        "{stderr}"
    );
    read_tensors(&path).unwrap();
    std::fs::remove_dir_all(&base).ok();
}

/// A path that cannot be written is refused before anything trains (nothing on stdout), naming
/// the path the user gave.
#[test]
fn an_unwritable_save_path_is_refused_before_training() {
    let base = dir("unwritable");
    let missing_dir = base.join("no/such/dir/model.safetensors");
    let read_only = Path::new("/proc/wgsl-train-model.safetensors");
    for path in [missing_dir.as_path(), base.as_path(), read_only] {
        let started = Instant::now();
        let (ok, stdout, stderr) = run(&train_args(path, &["--epochs", "100000"]));
        assert!(!ok, "{path:?} was accepted");
        assert!(stdout.is_empty(), "{path:?}: training started: {stdout}");
        assert!(
            stderr.contains(&format!("error: {}", path.display())),
            "{path:?}: {stderr}"
        );
        assert!(started.elapsed() < Duration::from_secs(20));
    }
    std::fs::remove_dir_all(&base).ok();
}

#[test]
fn a_second_run_saving_to_the_same_path_is_refused() {
    let base = dir("lock");
    let path = base.join("model.safetensors");
    let mut first = cli()
        .args(train_args(&path, &["--epochs", "100000"]))
        .stdout(Stdio::piped()) // its header line says it holds the lock and is training
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut header = String::new();
    {
        use std::io::BufRead;
        let mut reader = std::io::BufReader::new(first.stdout.as_mut().unwrap());
        reader.read_line(&mut header).unwrap();
    }
    let (ok, stdout, stderr) = run(&train_args(&path, &[]));
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(header.starts_with("diabetes:"), "{header}");
    assert!(!ok && stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("another run is saving"), "{stderr}");
    // Once the first run is gone (even killed), the path is free again.
    let (ok, _, stderr) = run(&train_args(&path, &["--epochs", "2"]));
    assert!(ok, "{stderr}");
    std::fs::remove_dir_all(&base).ok();
}

/// A resume repeats the saved run: other data, split seed, architecture or hyperparameters are
/// refused by name with both values (an optimizer's by the hyperparameter and its flag, not a
/// dump of its configuration); more epochs are allowed and said.
#[test]
fn a_resume_with_other_settings_is_refused_by_name() {
    let base = dir("mismatch");
    let path = base.join("model.safetensors");
    let (ok, _, stderr) = run(&train_args(&path, &["--epochs", "3"]));
    assert!(ok, "{stderr}");
    for (flags, setting) in [
        (["--seed", "5"], "shuffle seed"),
        (["--hidden", "50"], "layer sizes"),
        (
            ["--activation", "tanh"],
            "activations relu, but this one has tanh",
        ),
        (
            ["--lr", "0.01"],
            "the optimizer's lr (--lr) 0.001, but this one has 0.01",
        ),
        (
            ["--l2", "0.1"],
            "the optimizer's weight_decay (--l2) 0.0, but this one has 0.1",
        ),
        (
            ["--optimizer", "sgd"],
            "the optimizer's kind (--optimizer) adam, but this one has sgd",
        ),
        (["--batch-size", "16"], "batch size"),
        (
            ["--validation", "0.2"],
            "the split's validation (--validation) 0.15, but this one has 0.2",
        ),
        (["--data", "wine"], "layer sizes"),
    ] {
        let mut extra = vec!["--epochs", "5", "--resume"];
        extra.extend(flags);
        let (ok, _, stderr) = run(&train_args(&path, &extra));
        assert!(!ok, "{flags:?} was accepted");
        assert!(
            stderr.contains(&format!("saved with {setting}")) && stderr.len() < 300,
            "{flags:?}: {stderr}"
        );
    }
    // A training state from before the activations were recorded: its run had ReLU.
    common::edit_metadata_entry(&training_state_path(&path), |entry| {
        entry["settings"]
            .as_object_mut()
            .unwrap()
            .remove("activations");
    });
    let gelu = ["--epochs", "5", "--resume", "--activation", "gelu"];
    let (ok, _, stderr) = run(&train_args(&path, &gelu));
    assert!(
        !ok && stderr.contains("saved with activations relu, but this one has gelu"),
        "{stderr}"
    );
    let (ok, stdout, stderr) = run(&train_args(&path, &["--epochs", "5", "--resume"]));
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("resumed") && stdout.contains("epochs: 3 when saved, 5 now"),
        "{stdout}"
    );
    std::fs::remove_dir_all(&base).ok();
}

/// A resume with other loss weights is refused by name: the weights change what each step
/// computes.
#[test]
fn a_resume_with_other_loss_weights_is_refused() {
    let base = dir("loss_weights");
    let path = base.join("model.safetensors");
    let saved = [
        "--data",
        "iris",
        "--epochs",
        "3",
        "--class-weight",
        "0.5,1,2",
    ];
    let (ok, _, stderr) = run(&train_args(&path, &saved));
    assert!(ok, "{stderr}");
    let mut other = vec!["--resume", "--data", "iris", "--epochs", "5"];
    other.extend(["--class-weight", "0.5,1,3"]);
    let (ok, _, stderr) = run(&train_args(&path, &other));
    let said = "saved with loss weights CrossEntropyLoss(weight=[0.5, 1.0, 2.0]), but this one \
                has CrossEntropyLoss(weight=[0.5, 1.0, 3.0])";
    assert!(!ok && stderr.contains(said), "{stderr}");
    let same = [
        "--resume",
        "--data",
        "iris",
        "--epochs",
        "5",
        "--class-weight",
        "0.5,1,2",
    ];
    let (ok, _, stderr) = run(&train_args(&path, &same));
    assert!(ok, "{stderr}");
    std::fs::remove_dir_all(&base).ok();
}

/// What a writer killed mid-write leaves beside the model file or its training state is
/// removed when the next run takes the lock (the kill test meets this only by chance).
#[test]
fn taking_the_save_lock_removes_leftovers_of_both_files() {
    let base = dir("leftovers");
    let path = base.join("model.safetensors");
    let state = training_state_path(&path);
    let leftovers = [
        base.join(".model.safetensors.tmp-999999"),
        base.join(".model.training.safetensors.tmp-999999"),
    ];
    for leftover in &leftovers {
        std::fs::write(leftover, b"half a file").unwrap();
    }
    // An unrelated file with a similar name is not touched.
    let other = base.join(".other.safetensors.tmp-999999");
    std::fs::write(&other, b"not ours").unwrap();
    let lock = wgsl_train::checkpoint::lock_for_saving(&path).unwrap();
    assert_eq!(
        temporaries(&base),
        vec![".other.safetensors.tmp-999999".to_string()]
    );
    assert!(!state.exists());
    drop(lock);
    std::fs::remove_dir_all(&base).ok();
}

/// The file names in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The save lock lives only as long as its holder: a second one is refused while the first is
/// held, and nothing but the model and its training state is left after a run.
#[test]
fn the_save_lock_is_exclusive_and_leaves_no_file_behind() {
    let base = dir("lock-file");
    let path = base.join("model.safetensors");
    let first = wgsl_train::checkpoint::lock_for_saving(&path).unwrap();
    let second = wgsl_train::checkpoint::lock_for_saving(&path);
    assert!(
        matches!(second, Err(wgsl_train::Error::Locked { .. })),
        "{second:?}"
    );
    drop(first);
    assert_eq!(listing(&base), Vec::<String>::new());
    let (ok, _, stderr) = run(&train_args(&path, &["--epochs", "2"]));
    assert!(ok, "{stderr}");
    assert_eq!(
        listing(&base),
        ["model.safetensors", "model.training.safetensors"]
    );
    std::fs::remove_dir_all(&base).ok();
}

/// A run with Dropout saved after 3 epochs and resumed to 7 ends bit for bit where the run of
/// 7 does: the masks are keyed by the step, which the resume restores. A resume with another
/// `--dropout` is refused, naming it.
#[test]
fn a_resumed_run_with_dropout_draws_the_masks_it_would_have() {
    let base = dir("dropout-resume");
    let whole = base.join("whole.safetensors");
    let parts = base.join("parts.safetensors");
    let dropout = ["--hidden", "8,4", "--dropout", "0.3,0.1"];
    fn with<'a>(dropout: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
        [dropout, extra].concat()
    }
    let (ok, _, stderr) = run(&train_args(&whole, &with(&dropout, &["--epochs", "7"])));
    assert!(ok, "{stderr}");
    let (ok, _, stderr) = run(&train_args(&parts, &with(&dropout, &["--epochs", "3"])));
    assert!(ok, "{stderr}");
    let (ok, stdout, stderr) = run(&train_args(
        &parts,
        &with(&dropout, &["--epochs", "7", "--resume"]),
    ));
    assert!(ok, "{stderr}");
    assert!(stdout.contains("resumed"), "{stdout}");
    assert_eq!(weight_bits(&parts), weight_bits(&whole));
    let other = [
        "--hidden",
        "8,4",
        "--dropout",
        "0.2",
        "--epochs",
        "9",
        "--resume",
    ];
    let (ok, _, stderr) = run(&train_args(&parts, &other));
    assert!(!ok);
    assert!(
        stderr.contains("dropout") && stderr.contains("0.3,0.1"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&base).ok();
}
