//! Shared test helpers: one GPU for the whole test binary, seeded random data, and
//! comparisons whose failure names the index, both values and the tolerance.
#![allow(dead_code)] // each test binary uses a different subset

pub mod outcome;
pub mod replay;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use wgsl_train::Gpu;

/// The GPU every test runs on. With no adapter the tests fail (never skip) with the message
/// of `Error::NoAdapter`, which says how to install lavapipe.
pub fn gpu() -> &'static Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| match Gpu::new() {
        Ok(gpu) => gpu,
        Err(e) => panic!("these tests need a GPU adapter: {e}"),
    })
}

static SCRATCH: OnceLock<PathBuf> = OnceLock::new();

extern "C" {
    /// The C library's exit hook: the test harness ends by returning from `main` or by
    /// `process::exit`, both of which run it (Rust drops no statics).
    fn atexit(hook: extern "C" fn()) -> std::ffi::c_int;
}

extern "C" fn remove_scratch() {
    if let Some(dir) = SCRATCH.get() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// A directory for this test binary's files, removed when the binary exits, whether its tests
/// passed or failed (only a killed run leaves it).
pub fn scratch_dir() -> &'static Path {
    SCRATCH.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("wgsl-train-tests-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // SAFETY: registers a plain function; it only removes the directory.
        unsafe { atexit(remove_scratch) };
        dir
    })
}

/// The epoch path a test names: the one-dispatch path (`Trainer::new` refuses a run it cannot
/// take) or the general path.
pub fn epoch_path(one_dispatch: bool) -> wgsl_train::train::SingleDispatch {
    use wgsl_train::train::SingleDispatch;
    if one_dispatch {
        SingleDispatch::Always
    } else {
        SingleDispatch::Never
    }
}

/// A random generator for the draw named `test`, with a fresh seed, printed with the name so
/// that a failure can be replayed: `WGSL_TRAIN_SEED=<seed>` gives every draw that seed, and
/// `WGSL_TRAIN_SEED='<name>=<seed>,<name>=<seed>'` gives each named draw its own (a test that
/// draws several seeds replays from all of them).
pub fn rng(test: &str) -> (StdRng, u64) {
    let seed = seed_from(std::env::var("WGSL_TRAIN_SEED").ok().as_deref(), test);
    eprintln!("{test}: seed {seed} (replay: WGSL_TRAIN_SEED='{test}={seed}')");
    (StdRng::seed_from_u64(seed), seed)
}

/// The seed `WGSL_TRAIN_SEED` gives the draw named `test`: the one seed, the seed listed for
/// `test`, or a fresh one when unset or `test` is not listed; a value that is not a seed or a
/// list of `name=seed` stops the test rather than silently becoming a random seed.
pub fn seed_from(variable: Option<&str>, test: &str) -> u64 {
    let parse = |text: &str| -> u64 {
        text.trim().parse().unwrap_or_else(|_| {
            panic!(
                "WGSL_TRAIN_SEED={:?} is not a seed: give a whole number below 2^64, or name=seed pairs separated by commas",
                variable.unwrap_or_default()
            )
        })
    };
    let Some(text) = variable else {
        return rand::random();
    };
    if !text.contains('=') {
        return parse(text);
    }
    let mut listed = None;
    for pair in text.split(',') {
        let Some((name, seed)) = pair.split_once('=') else {
            parse(pair); // not name=seed: refused
            unreachable!()
        };
        let seed = parse(seed);
        if name.trim() == test {
            listed = Some(seed);
        }
    }
    listed.unwrap_or_else(rand::random)
}

/// `n` values uniform in `[lo, hi)`.
pub fn uniform(rng: &mut StdRng, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(lo..hi)).collect()
}

/// Asserts `|got[i] − want[i]| ≤ tol(i)` for every i (and that NaN appears nowhere), naming
/// the first bad index, both values and the tolerance.
pub fn assert_close(what: &str, seed: u64, got: &[f32], want: &[f32], tol: impl Fn(usize) -> f64) {
    assert_eq!(
        got.len(),
        want.len(),
        "{what}: lengths differ (seed {seed})"
    );
    if let Some(bad) = wgsl_train::reference::compare(got, want, tol).first_bad {
        let (i, g, w, t) = (bad.index, bad.got, bad.want, bad.bound);
        let diff = (f64::from(g) - f64::from(w)).abs();
        panic!(
            "{what}: first bad index {i}: gpu {g:e} vs reference {w:e}, |diff| {diff:e} > tolerance {t:e} (seed {seed})"
        );
    }
}

/// Relative-plus-absolute tolerance: `abs + rel·|want[i]|`.
pub fn rel_tol(want: &[f32], rel: f64, abs: f64) -> impl Fn(usize) -> f64 + '_ {
    move |i| abs + rel * f64::from(want[i]).abs()
}

/// A fixture of PyTorch's numbers under `tests/golden/` (written by
/// `scripts/golden/generate.py`).
pub fn fixture<T: serde::de::DeserializeOwned>(name: &str) -> T {
    let path = format!("{}/tests/golden/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The parameters of `model`, one `Vec` per parameter in slot order.
pub fn weights(gpu: &Gpu, model: &wgsl_train::nn::Mlp) -> Vec<Vec<f32>> {
    let dict = model.state_dict(gpu).unwrap();
    dict.into_iter().map(|t| t.data).collect()
}

/// Replays a finished native run on the reference (`replay::check_against_reference`), its
/// model (activations and Dropout too), loss, batch size, seed and gradient clipping read from `trainer`, from `initial`
/// weights on `train`; returns the largest difference as a share of its bound.
pub fn replay_trainer(
    gpu: &Gpu,
    trainer: &wgsl_train::train::Trainer,
    train: &wgsl_train::data::Dataset,
    initial: Vec<Vec<f32>>,
    history: &wgsl_train::train::History,
) -> f64 {
    let trained = weights(gpu, trainer.model());
    replay::check_trainer(trainer, train, initial, trained, history)
}

/// A fixture's nested JSON arrays of numbers, flattened row-major into f32s.
pub fn flat(value: &serde_json::Value) -> Vec<f32> {
    match value {
        serde_json::Value::Array(items) => items.iter().flat_map(flat).collect(),
        v => vec![v.as_f64().unwrap() as f32],
    }
}

/// The unit roundoff of f32, 2⁻²⁴.
pub const F32_U: f64 = 1.0 / 16_777_216.0;

/// The bit patterns of `values`, for bitwise comparisons.
pub fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

/// The bit patterns of a model's flat parameter buffer.
pub fn param_bits(params: &wgsl_train::optim::ParamStore) -> Vec<u32> {
    bits(&params.values().to_vec::<f32>(gpu()).unwrap())
}

/// The `wgsl-train` binary as a command (it keeps Mesa's runtime-directory warning off stderr
/// itself).
///
/// Under CI's validation-layer pass (`WGSL_TRAIN_CHILD_VALIDATION_LOGS` names a directory), each
/// child logs the layer's errors and warnings to a file of its own there, which CI then reads:
/// a child's output is captured by its test, where nothing else would see them.
pub fn cli() -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_wgsl-train"));
    if let Some(logs) = std::env::var_os("WGSL_TRAIN_CHILD_VALIDATION_LOGS") {
        static CHILDREN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = CHILDREN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::path::Path::new(&logs).join(format!("{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let settings = format!(
            "khronos_validation.debug_action = VK_DBG_LAYER_ACTION_LOG_MSG\n\
             khronos_validation.report_flags = error,warn,info\n\
             khronos_validation.log_filename = {}\n",
            dir.join("validation.log").display()
        );
        std::fs::write(dir.join("vk_layer_settings.txt"), settings).unwrap();
        command.env("VK_LAYER_SETTINGS_PATH", &dir);
    }
    command
}

/// Runs the `wgsl-train` binary with `args`.
pub fn run_cli(args: &[&str]) -> std::process::Output {
    cli().args(args).output().unwrap()
}

/// Rewrites the `"wgsl-train"` JSON metadata entry of the safetensors file at `path` with
/// `edit`, keeping its tensors: how a file from another version, or a damaged one, is made.
pub fn edit_metadata_entry(path: &std::path::Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let bytes = std::fs::read(path).unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let mut metadata = header.metadata().clone().unwrap();
    let mut entry: serde_json::Value = serde_json::from_str(&metadata["wgsl-train"]).unwrap();
    edit(&mut entry);
    metadata.insert("wgsl-train".into(), entry.to_string());
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let rewritten = safetensors::serialize(file.tensors(), Some(metadata)).unwrap();
    std::fs::write(path, rewritten).unwrap();
}
