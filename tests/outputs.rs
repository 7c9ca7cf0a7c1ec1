//! Outputs go where their path points and never replace what is there: a symbolic link's
//! target is written (the link stays), a FIFO's reader gets the bytes (the FIFO stays), and a
//! checkpoint, which is two files, is refused on a path that is not a regular file. (Linux: the
//! FIFO's reader relies on its semantics.)
#![cfg(target_os = "linux")]

mod common;

use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

fn dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wgsl-train-out-{name}-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn cli(args: &[&str]) -> (bool, String) {
    let out = common::run_cli(args);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn mkfifo(path: &Path) {
    let made = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(made.success(), "mkfifo {path:?}");
}

/// A model of a small CSV saved in `dir`, and two rows to predict from.
fn model_and_rows(dir: &Path) -> (String, String) {
    let data = dir.join("data.csv");
    let lines: String = (0..40)
        .map(|i| format!("{},{},{}\n", i % 7, i % 3, i % 5))
        .collect();
    std::fs::write(&data, format!("a,b,y\n{lines}")).unwrap();
    let model = dir.join("model.safetensors").to_str().unwrap().to_string();
    let (ok, stderr) = cli(&[
        "train",
        "--data",
        data.to_str().unwrap(),
        "--epochs",
        "2",
        "--save",
        &model,
        "--quiet",
    ]);
    assert!(ok, "{stderr}");
    let rows = dir.join("rows.csv");
    std::fs::write(&rows, "a,b\n1,2\n3,0\n").unwrap();
    (model, rows.to_str().unwrap().to_string())
}

#[test]
fn a_symbolic_link_s_target_is_written_and_the_link_kept() {
    let d = dir("link");
    let (model, rows) = model_and_rows(&d);
    let target = d.join("real.csv");
    std::fs::write(&target, "old contents\n").unwrap();
    let link = d.join("link.csv");
    std::os::unix::fs::symlink("real.csv", &link).unwrap();
    let (ok, stderr) = cli(&[
        "predict",
        "--checkpoint",
        &model,
        "--data",
        &rows,
        "--out",
        link.to_str().unwrap(),
    ]);
    assert!(ok, "{stderr}");
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    let written = std::fs::read_to_string(&target).unwrap();
    assert_eq!(written.lines().count(), 3, "{written}");

    // The learning curves' SVG through a link too.
    let curves = d.join("curves");
    std::fs::create_dir_all(&curves).unwrap();
    let chart = d.join("chart.svg");
    std::os::unix::fs::symlink(&chart, curves.join("curves.svg")).unwrap();
    let (ok, stderr) = cli(&[
        "train",
        "--data",
        "diabetes",
        "--epochs",
        "2",
        "--curves",
        curves.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(ok, "{stderr}");
    assert!(std::fs::symlink_metadata(curves.join("curves.svg"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(std::fs::read_to_string(&chart).unwrap().contains("<svg"));
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn a_fifo_s_reader_gets_the_output_and_the_fifo_stays() {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let d = dir("fifo");
    let (model, rows) = model_and_rows(&d);
    let fifo = d.join("predictions");
    mkfifo(&fifo);
    // The reader: opened for reading and writing, which on Linux never waits for a writer,
    // and without blocking, so that a FIFO replaced instead of written reads as empty rather
    // than hanging the test. Two rows of predictions fit the pipe's buffer.
    let mut reader = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .unwrap();
    let (ok, stderr) = cli(&[
        "predict",
        "--checkpoint",
        &model,
        "--data",
        &rows,
        "--out",
        fifo.to_str().unwrap(),
    ]);
    assert!(ok, "{stderr}");
    let mut buffer = vec![0u8; 1 << 16];
    let n = reader.read(&mut buffer).unwrap_or(0);
    let read = String::from_utf8_lossy(&buffer[..n]);
    assert_eq!(read.lines().count(), 3, "{read}");
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn a_checkpoint_on_a_fifo_is_refused_before_training_and_nothing_is_made_beside_it() {
    let d = dir("save-fifo");
    let fifo = d.join("model.safetensors");
    mkfifo(&fifo);
    // A save that wrote to the FIFO would wait for a reader forever: the run gets a deadline.
    let mut child = common::cli()
        .args([
            "train", "--data", "diabetes", "--epochs", "2", "--quiet", "--save",
        ])
        .arg(&fifo)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("train --save <a FIFO> was still running after 60 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("is not a regular file"),
        "{stderr}"
    );
    let names: Vec<_> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["model.safetensors"]);
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
    std::fs::remove_dir_all(&d).ok();
}

/// An output that is one of the command's inputs is refused before any work, naming both, and
/// the input is left as it was — through a symbolic link and a hard link too.
#[test]
fn an_output_that_is_an_input_is_refused_and_the_input_kept() {
    let d = dir("input-as-output");
    let (model, rows) = model_and_rows(&d);
    let data = d.join("data.csv");
    let link = d.join("link.csv");
    std::os::unix::fs::symlink(&data, &link).unwrap();
    let hard = d.join("hard.safetensors");
    std::fs::hard_link(&model, &hard).unwrap();
    let bytes = |p: &str| std::fs::read(p).unwrap();
    let (data_before, model_before, rows_before) =
        (bytes(data.to_str().unwrap()), bytes(&model), bytes(&rows));
    let (data_s, link_s, hard_s) = (
        data.to_str().unwrap(),
        link.to_str().unwrap(),
        hard.to_str().unwrap(),
    );
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "train", "--data", data_s, "--epochs", "1", "--quiet", "--save", link_s,
            ],
            "--save: ",
        ),
        (
            vec![
                "predict",
                "--checkpoint",
                &model,
                "--data",
                &rows,
                "--out",
                &rows,
            ],
            "--data",
        ),
        (
            vec![
                "predict",
                "--checkpoint",
                &model,
                "--data",
                &rows,
                "--out",
                hard_s,
            ],
            "--checkpoint",
        ),
        (
            vec!["sweep", "--data", data_s, "--epochs", "1", "--json", data_s],
            "--json: ",
        ),
        (
            vec!["sweep", "--data", data_s, "--epochs", "1", "--csv", link_s],
            "--csv: ",
        ),
    ];
    for (args, flags) in cases {
        let (ok, stderr) = cli(&args);
        assert!(
            !ok && stderr.contains(flags) && stderr.contains("this command reads"),
            "{args:?}: {stderr}"
        );
    }
    assert_eq!(bytes(data_s), data_before);
    assert_eq!(bytes(&model), model_before);
    assert_eq!(bytes(&rows), rows_before);
    std::fs::remove_dir_all(&d).ok();
}

/// `train --save P` over a run that can be resumed is refused unless `--resume` continues it or
/// `--overwrite` starts over, and `sweep --save P` is refused; the saved run is left as it was.
#[test]
fn a_resumable_run_is_not_replaced_without_being_asked() {
    let d = dir("resumable");
    let (model, _) = model_and_rows(&d);
    let data = d.join("data.csv");
    let data = data.to_str().unwrap();
    let state = d.join("model.training.safetensors");
    assert!(state.is_file(), "train --save wrote no training state");
    let before = (
        std::fs::read(&model).unwrap(),
        std::fs::read(&state).unwrap(),
    );
    let train = |extra: &[&str]| {
        let mut args = vec![
            "train", "--data", data, "--epochs", "3", "--quiet", "--save", &model,
        ];
        args.extend(extra);
        cli(&args)
    };
    let (ok, stderr) = train(&[]);
    assert!(
        !ok && stderr.contains("--resume") && stderr.contains("--overwrite"),
        "{stderr}"
    );
    assert_eq!(
        (
            std::fs::read(&model).unwrap(),
            std::fs::read(&state).unwrap()
        ),
        before
    );
    // Nor does a sweep's refit model replace it (the training state would be left behind).
    let sweep = [
        "sweep",
        "--data",
        data,
        "--optimizer",
        "sgd",
        "--folds",
        "2",
        "--epochs",
        "2",
        "--save",
        &model,
    ];
    let (ok, stderr) = cli(&sweep);
    assert!(
        !ok && stderr.contains("can be resumed") && stderr.contains("another path"),
        "{stderr}"
    );
    assert_eq!(
        (
            std::fs::read(&model).unwrap(),
            std::fs::read(&state).unwrap()
        ),
        before
    );
    let (ok, stderr) = train(&["--resume"]);
    assert!(ok, "{stderr}");
    let (ok, stderr) = train(&["--overwrite"]);
    assert!(ok, "{stderr}");
    let (ok, stderr) = train(&["--overwrite", "--resume"]);
    assert!(!ok && stderr.contains("cannot be used with"), "{stderr}");
    // Autotuning may choose a kernel that rounds differently: not on a resume.
    let (ok, stderr) = train(&["--resume", "--autotune"]);
    assert!(!ok && stderr.contains("--autotune"), "{stderr}");
    std::fs::remove_dir_all(&d).ok();
}

/// A `--curves` directory that cannot be written is refused before the data is read, not
/// after the training. (/proc/self is a directory no one, root included, can make files in.)
#[test]
fn an_unwritable_curves_directory_is_refused_before_training() {
    for command in ["train", "sweep"] {
        let out = common::run_cli(&[
            command,
            "--data",
            "diabetes",
            "--epochs",
            "1",
            "--curves",
            "/proc/self",
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains("/proc/self/curves.csv"),
            "{command}: {stderr}"
        );
        assert!(
            out.stdout.is_empty(),
            "{command} began: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}
