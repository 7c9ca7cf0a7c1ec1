//! `wgsl-train`: train an MLP on a CSV file or a built-in dataset, evaluate a checkpoint,
//! benchmark this adapter, or check every kernel on it against the CPU reference.
//!
//! `wgsl-train <command> --help` lists each command's options.

#[macro_use]
mod output;
mod bench;
mod grid_bench;
mod stream_bench;
mod sweep;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use wgsl_train::checkpoint::{
    load_model, load_preprocessing, load_split, lock_for_saving, save, training_state_path,
};
use wgsl_train::data::{
    diabetes, iris, load_csv, load_parquet, read_features, read_parquet_features, wine_quality,
    CsvOptions, Dataset, ParquetOptions, Preprocessing, SplitConfig, TargetColumn, Task,
};
use wgsl_train::experiment::{evaluate, write_curves, ClassWeight, Experiment};
use wgsl_train::fs::refuse_input_as_output;
use wgsl_train::nn::{Activation, Init, LossWeights};
use wgsl_train::optim::{AdamConfig, OptimizerConfig, SgdConfig};
use wgsl_train::train::{LrSchedule, SingleDispatch, TrainConfig};
use wgsl_train::{Error, Gpu, GpuOptions, Result};

#[derive(Parser)]
#[command(name = "wgsl-train", version, about = "Train neural networks on any GPU wgpu reaches", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train an MLP and report train/validation/test scores beside a constant-predictor baseline.
    Train(Box<TrainArgs>),
    /// Compare configurations by k-fold cross-validation, every model trained together on the
    /// GPU (comma lists make the grid); refit the best and score it on the test split.
    Sweep(Box<sweep::SweepArgs>),
    /// Evaluate a saved model on a dataset.
    Eval(EvalArgs),
    /// Predict for new rows with a saved model: values in the target's units, or class labels
    /// and probabilities, as CSV.
    Predict(PredictArgs),
    /// Measure kernels, optimizers and training on this adapter; print a table and write JSON.
    Bench(bench::BenchArgs),
    /// Check every kernel and variant against the CPU reference on this adapter.
    Selftest(SelftestArgs),
}

#[derive(clap::Args)]
struct SelftestArgs {
    /// Seed of the random inputs.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print one JSON document (schema in the README, "JSON output") instead of the text.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct DataArgs {
    /// A built-in dataset (diabetes, iris, wine), the path of a CSV file with a header line,
    /// or of a Parquet file (its name ending in .parquet).
    #[arg(long)]
    data: String,
    /// A file's target column, by name or 0-based index [default: the last column].
    #[arg(long)]
    target: Option<String>,
    /// A file's task [default: regression for a numeric target, multiclass for text labels; a target mixing numbers and text needs it].
    #[arg(long, value_enum)]
    task: Option<TaskArg>,
}

#[derive(Clone, Copy, ValueEnum)]
enum TaskArg {
    Regression,
    Binary,
    Multiclass,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum OptimizerArg {
    Sgd,
    Adam,
    Adamw,
}

/// Every hyperparameter that is not given keeps the library's default (PyTorch's, for the
/// optimizers): the flags overlay `SgdConfig`/`AdamConfig`, `TrainConfig` and `SplitConfig`.
#[derive(clap::Args)]
#[command(allow_negative_numbers = true)]
struct TrainArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Hidden layer sizes, comma-separated (e.g. 64,32).
    #[arg(long, value_delimiter = ',', default_value = "5")]
    hidden: Vec<usize>,
    /// The activation after each hidden layer, one for all or one per layer, comma-separated:
    /// relu, leaky_relu (slope 0.01) or leaky_relu:SLOPE, tanh, sigmoid, gelu, gelu_tanh, silu
    /// [default: relu].
    #[arg(long, value_delimiter = ',')]
    activation: Vec<Activation>,
    /// nn.Dropout(P) after each hidden layer's activation, one for all or one per layer,
    /// comma-separated (0: none): in training each output is zeroed with probability P and the
    /// rest scaled by 1/(1 − P); predictions and validation use the whole network
    /// [default: 0].
    #[arg(long, value_delimiter = ',', value_name = "P")]
    dropout: Vec<f32>,
    /// How the weights start, as torch.nn.init draws them: default (nn.Linear's),
    /// xavier_uniform, xavier_normal (settings: gain=G or gain=NONLINEARITY), kaiming_uniform,
    /// kaiming_normal (settings: a=A, mode=fan_in|fan_out, nonlinearity=NAME), e.g.
    /// kaiming_normal:mode=fan_out,nonlinearity=relu. Biases start as nn.Linear's.
    #[arg(long, default_value = "default")]
    init: Init,
    /// Weigh the loss's classes: balanced (scikit-learn's n_samples / (n_classes · count),
    /// from the training split; binary takes their ratio count₀/count₁ as BCE's pos_weight),
    /// or one weight per class, comma-separated, as CrossEntropyLoss(weight=…) (multiclass).
    #[arg(long, default_value = "none", conflicts_with = "pos_weight")]
    class_weight: ClassWeight,
    /// BCEWithLogitsLoss's pos_weight (binary): the positive class's part of the loss times P.
    #[arg(long, value_name = "P")]
    pos_weight: Option<f32>,
    /// The optimizer.
    #[arg(long, value_enum, default_value = "adam")]
    optimizer: OptimizerArg,
    /// Learning rate [default: the optimizer's, 1e-3].
    #[arg(long)]
    lr: Option<f64>,
    /// SGD momentum [default: 0].
    #[arg(long)]
    momentum: Option<f64>,
    /// SGD dampening [default: 0].
    #[arg(long)]
    dampening: Option<f64>,
    /// SGD Nesterov momentum (needs --momentum > 0).
    #[arg(long)]
    nesterov: bool,
    /// Adam β₁ [default: 0.9].
    #[arg(long)]
    beta1: Option<f64>,
    /// Adam β₂ [default: 0.999].
    #[arg(long)]
    beta2: Option<f64>,
    /// Adam ε [default: 1e-8].
    #[arg(long)]
    eps: Option<f64>,
    /// Adam AMSGrad.
    #[arg(long)]
    amsgrad: bool,
    /// L2 penalty: PyTorch's weight_decay, decoupled for adamw [default: 0; adamw 0.01].
    #[arg(long)]
    l2: Option<f64>,
    /// L1 penalty λ₁ (adds λ₁·sign(θ) to the gradient) [default: 0].
    #[arg(long)]
    l1: Option<f64>,
    /// Clip each gradient element to ±C before each step, as torch.nn.utils.clip_grad_value_
    /// (on the gradient with L1's term, before L2's), fused into the update [default: off].
    #[arg(long, value_name = "C")]
    clip_grad_value: Option<f64>,
    /// Scale the gradients to a global norm of at most N before each step, as
    /// torch.nn.utils.clip_grad_norm_(model.parameters(), N) (norm 2, over every parameter,
    /// on the GPU; with --l1, of the gradient with L1's term); takes the general path
    /// [default: off].
    #[arg(long, value_name = "N")]
    clip_grad_norm: Option<f64>,
    /// How the learning rate changes per epoch: PyTorch's StepLR (--lr-step-size, --lr-gamma)
    /// or CosineAnnealingLR (--lr-t-max, --lr-eta-min) [default: constant].
    #[arg(long, value_enum)]
    lr_schedule: Option<ScheduleArg>,
    /// StepLR: epochs between decays [default: 30, as PyTorch's examples].
    #[arg(long, default_value_t = 30, hide_default_value = true)]
    lr_step_size: usize,
    /// StepLR: the factor of each decay [default: 0.1, PyTorch's].
    #[arg(long, default_value_t = 0.1, hide_default_value = true)]
    lr_gamma: f64,
    /// CosineAnnealingLR: the half period in epochs [default: --epochs].
    #[arg(long)]
    lr_t_max: Option<usize>,
    /// CosineAnnealingLR: the least learning rate [default: 0, PyTorch's].
    #[arg(long, default_value_t = 0.0, hide_default_value = true)]
    lr_eta_min: f64,
    /// Passes over the training data [default: 100].
    #[arg(long)]
    epochs: Option<usize>,
    /// Rows per step [default: 32].
    #[arg(long)]
    batch_size: Option<usize>,
    /// Stop after this many epochs (at least 1) without a validation improvement, keeping the
    /// best weights [default: no early stopping].
    #[arg(long)]
    patience: Option<usize>,
    /// The least validation-loss decrease that counts as an improvement [default: 0].
    #[arg(long)]
    min_delta: Option<f64>,
    /// Seed of the split, the initial weights and the shuffles.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Fraction of rows for validation [default: 0.15].
    #[arg(long)]
    validation: Option<f64>,
    /// Fraction of rows for the test split [default: 0.15].
    #[arg(long)]
    test: Option<f64>,
    /// Save the model here (safetensors, PyTorch names), with the training state beside it.
    #[arg(long)]
    save: Option<PathBuf>,
    /// With --save: also save every N epochs, so a killed run can resume (every N-th epoch then
    /// ends a GPU submission, so each save holds that epoch's model).
    #[arg(long, requires = "save")]
    checkpoint_every: Option<usize>,
    /// Resume from the checkpoint at --save (same data, seed and settings) and train on to --epochs.
    #[arg(long, requires = "save")]
    resume: bool,
    /// Start over at --save even though a resumable run is saved there (without it, that run
    /// is refused to be replaced: --resume continues it).
    #[arg(long, requires = "save", conflicts_with = "resume")]
    overwrite: bool,
    /// Write the learning curves (curves.csv, curves.svg) into this directory.
    #[arg(long)]
    curves: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// Time the matmul kernels on this adapter and use the fastest (cached per adapter). Not
    /// with --resume: another kernel may round differently, and a resumed run repeats the
    /// saved one bit for bit.
    #[arg(long, conflicts_with = "resume")]
    autotune: bool,
    /// Run each epoch as one dispatch (the small-model path, for small networks and batches):
    /// auto (where the model, data and device allow), always (an error saying why not) or
    /// never. The bare flag means always.
    #[arg(long, value_enum, default_value = "auto", num_args = 0..=1, default_missing_value = "always")]
    single_dispatch_epochs: SingleDispatchArg,
    /// Print one JSON document (schema in the README, "JSON output") instead of the text.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum SingleDispatchArg {
    Auto,
    Always,
    Never,
}

#[derive(Clone, Copy, ValueEnum)]
enum ScheduleArg {
    Step,
    Cosine,
}

#[derive(clap::Args)]
struct PredictArgs {
    /// A model saved by `wgsl-train train --save` (it holds the scaling and the class names).
    #[arg(long)]
    checkpoint: PathBuf,
    /// A CSV file with a header naming (at least) the model's feature columns, or a Parquet
    /// file (its name ending in .parquet) holding them.
    #[arg(long)]
    data: PathBuf,
    /// Write the predictions here instead of to standard output.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print one JSON document (schema in the README, "JSON output") instead of the text.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct EvalArgs {
    /// A model saved by `wgsl-train train --save` (or a PyTorch nn.Sequential state_dict).
    #[arg(long)]
    checkpoint: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    /// Which rows: one split of the training run (as the checkpoint records it, on the same
    /// data), reproducing the figures `train` printed for it, or all rows.
    #[arg(long, value_enum, default_value = "all")]
    split: SplitArg,
    /// Print one JSON document (schema in the README, "JSON output") instead of the text.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum SplitArg {
    Train,
    Validation,
    Test,
    All,
}

fn main() -> ExitCode {
    // Rust ignores SIGPIPE, so printing to a closed pipe (`wgsl-train selftest | head -1`)
    // would panic; end quietly as other command-line tools do.
    #[cfg(unix)]
    // SAFETY: called before any other thread exists; SIG_DFL is a valid action for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    private_runtime_dir();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Train(args) => train(&args),
        Command::Sweep(args) => sweep::run(&args),
        Command::Eval(args) => eval(&args),
        Command::Predict(args) => predict(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Selftest(args) => match selftest(&args) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::FAILURE,
            Err(e) => Err(e),
        },
    };
    let result = result.and_then(|()| match output::failure() {
        Some(source) => Err(wgsl_train::Error::Io {
            path: "standard output".into(),
            source,
        }),
        None => Ok(()),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Mesa's Vulkan drivers print `error: XDG_RUNTIME_DIR is invalid or not set` (twice) when the
/// variable is unset, though computing needs no window system; beside our own `error:` lines
/// that reads as a failure. Where it is unset or not a directory, point it at a private one.
fn private_runtime_dir() {
    let usable =
        std::env::var_os("XDG_RUNTIME_DIR").is_some_and(|d| std::path::Path::new(&d).is_dir());
    if usable {
        return;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, MetadataExt};
        // SAFETY: getuid has no preconditions and cannot fail.
        let uid = unsafe { libc::getuid() };
        let dir = std::env::temp_dir().join(format!("wgsl-train-runtime-{uid}"));
        let _ = std::fs::DirBuilder::new().mode(0o700).create(&dir);
        // Only a directory of our own, as the variable's specification asks.
        if std::fs::metadata(&dir)
            .is_ok_and(|m| m.is_dir() && m.uid() == uid && m.mode() & 0o077 == 0)
        {
            // SAFETY: called first thing in main, before any other thread exists.
            unsafe { std::env::set_var("XDG_RUNTIME_DIR", &dir) };
        }
    }
}

fn task(arg: TaskArg) -> Task {
    match arg {
        TaskArg::Regression => Task::Regression,
        TaskArg::Binary => Task::Binary,
        TaskArg::Multiclass => Task::Multiclass,
    }
}

/// Whether a data path names a Parquet file (by its extension); other paths are CSV.
fn is_parquet(path: &str) -> bool {
    path.to_ascii_lowercase().ends_with(".parquet")
}

fn load_data(args: &DataArgs, task_override: Option<Task>) -> Result<Dataset> {
    match args.data.as_str() {
        "diabetes" => diabetes(),
        "iris" => iris(),
        "wine" => wine_quality(),
        path => {
            let target = match &args.target {
                None => TargetColumn::Last,
                Some(t) => t
                    .parse()
                    .map(TargetColumn::Index)
                    .unwrap_or_else(|_| TargetColumn::Name(t.clone())),
            };
            let task = task_override.or(args.task.map(task));
            if is_parquet(path) {
                return load_parquet(Path::new(path), &ParquetOptions { target, task });
            }
            load_csv(
                Path::new(path),
                &CsvOptions {
                    target,
                    task,
                    delimiter: b',',
                },
            )
        }
    }
}

/// The optimizer flags given that `--optimizer` does not take (SGD's to Adam, Adam's to SGD),
/// refused by name rather than ignored.
fn check_optimizer_flags(args: &TrainArgs) -> Result<()> {
    let sgd_only = [
        ("--momentum", args.momentum.is_some()),
        ("--dampening", args.dampening.is_some()),
        ("--nesterov", args.nesterov),
    ];
    let adam_only = [
        ("--beta1", args.beta1.is_some()),
        ("--beta2", args.beta2.is_some()),
        ("--eps", args.eps.is_some()),
        ("--amsgrad", args.amsgrad),
    ];
    let (name, foreign) = match args.optimizer {
        OptimizerArg::Sgd => ("sgd", &adam_only[..]),
        OptimizerArg::Adam => ("adam", &sgd_only[..]),
        OptimizerArg::Adamw => ("adamw", &sgd_only[..]),
    };
    let given: Vec<&str> = foreign
        .iter()
        .filter(|(_, g)| *g)
        .map(|(f, _)| *f)
        .collect();
    if given.is_empty() {
        return Ok(());
    }
    Err(Error::InvalidArgument {
        op: "--optimizer",
        detail: format!("{} does not apply to --optimizer {name}", given.join(", ")),
    })
}

fn optimizer(args: &TrainArgs) -> OptimizerConfig {
    let set = |slot: &mut f64, flag: Option<f64>| {
        if let Some(v) = flag {
            *slot = v;
        }
    };
    match args.optimizer {
        OptimizerArg::Sgd => {
            let mut c = SgdConfig::default();
            set(&mut c.lr, args.lr);
            set(&mut c.momentum, args.momentum);
            set(&mut c.dampening, args.dampening);
            set(&mut c.weight_decay, args.l2);
            set(&mut c.l1, args.l1);
            c.clip_grad_value = args.clip_grad_value;
            c.nesterov = args.nesterov;
            c.into()
        }
        OptimizerArg::Adam | OptimizerArg::Adamw => {
            let mut c = match args.optimizer {
                OptimizerArg::Adamw => AdamConfig::adamw(),
                _ => AdamConfig::default(),
            };
            set(&mut c.lr, args.lr);
            set(&mut c.betas.0, args.beta1);
            set(&mut c.betas.1, args.beta2);
            set(&mut c.eps, args.eps);
            set(&mut c.weight_decay, args.l2);
            set(&mut c.l1, args.l1);
            c.clip_grad_value = args.clip_grad_value;
            c.amsgrad = args.amsgrad;
            c.into()
        }
    }
}

/// The experiment the flags describe: each flag given overlays the library's default.
fn experiment(args: &TrainArgs) -> Experiment {
    let mut train = TrainConfig {
        seed: args.seed,
        patience: args.patience,
        single_dispatch_epochs: match args.single_dispatch_epochs {
            SingleDispatchArg::Auto => SingleDispatch::Auto,
            SingleDispatchArg::Always => SingleDispatch::Always,
            SingleDispatchArg::Never => SingleDispatch::Never,
        },
        // A checkpoint's epoch must end a submission, for the saved model to be that epoch's.
        submission_epochs: args.checkpoint_every.filter(|&every| every > 0),
        clip_grad_norm: args.clip_grad_norm,
        ..TrainConfig::default()
    };
    train.epochs = args.epochs.unwrap_or(train.epochs);
    train.batch_size = args.batch_size.unwrap_or(train.batch_size);
    train.min_delta = args.min_delta.unwrap_or(train.min_delta);
    train.lr_schedule = match args.lr_schedule {
        None => LrSchedule::Constant,
        Some(ScheduleArg::Step) => LrSchedule::Step {
            step_size: args.lr_step_size,
            gamma: args.lr_gamma,
        },
        Some(ScheduleArg::Cosine) => LrSchedule::Cosine {
            t_max: args.lr_t_max.unwrap_or(train.epochs),
            eta_min: args.lr_eta_min,
        },
    };
    let mut split = SplitConfig {
        seed: args.seed,
        ..SplitConfig::default()
    };
    split.validation = args.validation.unwrap_or(split.validation);
    split.test = args.test.unwrap_or(split.test);
    Experiment {
        hidden: args.hidden.clone(),
        activations: args.activation.clone(),
        dropout: args.dropout.clone(),
        init: args.init,
        class_weight: class_weight(&args.class_weight, args.pos_weight),
        optimizer: optimizer(args),
        train,
        split,
        model_seed: args.seed,
    }
}

/// `--class-weight`, or `--pos-weight P` (they conflict) as BCE's pos_weight.
fn class_weight(class_weight: &ClassWeight, pos_weight: Option<f32>) -> ClassWeight {
    match pos_weight {
        Some(p) => ClassWeight::Given(LossWeights::Positive(vec![p])),
        None => class_weight.clone(),
    }
}

/// Makes the `--curves` directory and locks its two files: a directory that cannot be written
/// is an error before any work, not after the training.
fn lock_curves(dir: &Path) -> Result<[wgsl_train::fs::WriteLock; 2]> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.display().to_string(),
        source,
    })?;
    Ok([
        wgsl_train::fs::WriteLock::acquire(&dir.join("curves.csv"))?,
        wgsl_train::fs::WriteLock::acquire(&dir.join("curves.svg"))?,
    ])
}

/// Refuses `--save P` where a resumable run is saved (its training state beside P), which
/// would silently throw that run away; the error says the `ways_forward`.
fn refuse_replacing_a_resumable_run(path: &Path, ways_forward: &str) -> Result<()> {
    let state = training_state_path(path);
    if !state.is_file() {
        return Ok(());
    }
    Err(Error::InvalidArgument {
        op: "--save",
        detail: format!(
            "{} holds a run that can be resumed (its training state is {}): {ways_forward}",
            path.display(),
            state.display()
        ),
    })
}

/// `train`: the library's [`Experiment`] with the command line's checkpoint and resume hooks,
/// printing the same report as `Outcome::report`. Every setting is checked, and the save path
/// locked, before the data is read or the adapter opened; the model is saved before the report
/// is printed, so no output failure can lose it.
fn train(args: &TrainArgs) -> Result<()> {
    check_optimizer_flags(args)?;
    let experiment = experiment(args);
    experiment.validate()?;
    if args.checkpoint_every == Some(0) {
        return Err(Error::InvalidArgument {
            op: "--checkpoint-every",
            detail: "must be at least 1 (epochs between saves)".into(),
        });
    }
    if let Some(path) = &args.save {
        let data = [("--data", Path::new(&args.data.data))];
        refuse_input_as_output("--save", path, &data)?;
        refuse_input_as_output("--save", &training_state_path(path), &data)?;
        if !(args.resume || args.overwrite) {
            refuse_replacing_a_resumable_run(
                path,
                "add --resume to continue it, or --overwrite (or another --save path) to start over",
            )?;
        }
    }
    // Held until the command ends: a second run saving to the same path is refused.
    let _lock = args.save.as_deref().map(lock_for_saving).transpose()?;
    let _curves = args.curves.as_deref().map(lock_curves).transpose()?;
    let data = load_data(&args.data, None)?;
    let gpu = Gpu::with_options(GpuOptions {
        autotune: args.autotune,
        ..GpuOptions::default()
    })?;
    let mut run = experiment.start(&gpu, &data)?;
    run.set_progress(!args.quiet && !args.json);
    if args.json {
        output::text_off();
    }
    let prepared = run.prepared();
    let arrows: Vec<String> = experiment
        .sizes(&data)
        .iter()
        .map(usize::to_string)
        .collect();
    // One line before training: a reader that takes only the first (`| head -1`) must not end
    // the run before its model is saved.
    let weights = match run.trainer().model().loss_weights() {
        LossWeights::None => String::new(),
        weights => format!("; loss {weights}"),
    };
    say!(
        "{}: {} rows, {}; {} train / {} validation / {} test; MLP {}{weights} on {}{}",
        args.data.data,
        data.len(),
        data.task(),
        prepared.train.len(),
        prepared.validation.len(),
        prepared.test.len(),
        arrows.join("→"),
        gpu.adapter_info().name,
        if run.trainer().single_dispatch_epochs() {
            "; each epoch one dispatch (the small-model path)"
        } else {
            ""
        }
    );
    if let Some(steps) = run.trainer().chunk_steps() {
        say!(
            "the training split does not fit one storage binding: streamed from host memory, {steps} batches at a time"
        );
    }
    let mut resumed_after = None;
    if let (Some(path), true) = (&args.save, args.resume) {
        let restored = run.restore(path)?;
        resumed_after = Some(restored.epochs);
        say!("resumed {} after epoch {}", path.display(), restored.epochs);
        for (setting, saved, now) in restored.changed {
            say!("{setting}: {saved} when saved, {now} now");
        }
    }
    let fitted = run.fit(|trainer, info| match (&args.save, args.checkpoint_every) {
        (Some(path), Some(every)) if trainer.history().epochs.len() % every == 0 => {
            save(&gpu, path, trainer, info)
        }
        _ => Ok(()),
    });
    if let Err(error) = fitted {
        // A diverged run is back at its last good epoch: keep that, not nothing.
        let restored = match &error {
            Error::NonFinite { restored_epoch, .. } | Error::Diverged { restored_epoch, .. } => {
                Some(*restored_epoch)
            }
            _ => None,
        };
        if let (Some(restored_epoch), Some(path)) = (restored, &args.save) {
            run.save(path)?;
            eprintln!(
                "note: saved the model as it was after epoch {restored_epoch}, the last before it diverged, to {}",
                path.display()
            );
        }
        return Err(error);
    }
    if let Some(path) = &args.save {
        run.save(path)?;
    }
    let outcome = run.finish()?;
    let history = &outcome.history;
    let epochs = history.epochs.len();
    say!(
        "{epochs} epoch{}{}\n",
        if epochs == 1 { "" } else { "s" },
        match history.best_epoch {
            Some(best) if history.stopped_early => format!(" (stopped early; kept epoch {best})"),
            _ => String::new(),
        }
    );
    say_part!("{}", outcome.report());
    say!("\ndiagnosis: {}", outcome.diagnosis);
    if let Some(path) = &args.save {
        say!("saved {}", path.display());
    }
    let mut curves = Vec::new();
    if let Some(dir) = &args.curves {
        let title = format!("{}: learning curves", args.data.data);
        let files = write_curves(dir, &title, history)?;
        curves = files.iter().map(|f| f.display().to_string()).collect();
        say!("learning curves: {}", curves.join(" and "));
    }
    if args.json {
        let [train, validation, test] = &outcome.scores;
        output::json(&serde_json::json!({
            "format": "wgsl-train.train.v1",
            "data": args.data.data,
            "rows": data.len(),
            "task": data.task().to_string(),
            "layer_sizes": experiment.sizes(&data),
            "adapter": gpu.adapter_info().name,
            "resumed_after_epoch": resumed_after,
            "history": history,
            "scores": { "train": train, "validation": validation, "test": test },
            "diagnosis": { "finding": &outcome.diagnosis, "text": outcome.diagnosis.to_string() },
            "saved": args.save,
            "curves": curves,
        }));
    }
    Ok(())
}

/// `predict`: the checkpoint's model on the rows of a CSV file, with the checkpoint's scaling.
fn predict(args: &PredictArgs) -> Result<()> {
    if let Some(out) = &args.out {
        let inputs = [
            ("--data", args.data.as_path()),
            ("--checkpoint", &args.checkpoint),
        ];
        refuse_input_as_output("--out", out, &inputs)?;
    }
    let preprocessing = load_preprocessing(&args.checkpoint)?
        .filter(|p| !p.feature_names.is_empty())
        .ok_or_else(|| Error::Checkpoint {
            path: args.checkpoint.display().to_string(),
            detail: "holds no feature names and scaling; predict needs a model saved by `wgsl-train train --save`".into(),
        })?;
    let name = args.data.display().to_string();
    let (features, rows) = if is_parquet(&name) {
        read_parquet_features(&args.data, &preprocessing.feature_names)?
    } else {
        let file = wgsl_train::fs::open(&args.data)?;
        read_features(file, &name, &preprocessing.feature_names)?
    };
    let gpu = Gpu::new()?;
    let model = load_model(&gpu, &args.checkpoint, None)?;
    let predictions =
        wgsl_train::experiment::predict(&gpu, &model, &preprocessing, &features, rows)?;
    match &args.out {
        Some(path) => {
            wgsl_train::fs::write_atomic(path, predictions.to_csv().as_bytes())?;
            if !args.json {
                eprintln!("{rows} predictions written to {}", path.display());
            }
        }
        None if args.json => {}
        None => say_part!("{}", predictions.to_csv()),
    }
    if args.json {
        output::json(&serde_json::json!({
            "format": "wgsl-train.predict.v1",
            "rows": rows,
            "task": model.task().to_string(),
            "out": args.out,
            // The predictions themselves when they are not written to a file.
            "predictions": if args.out.is_none() { Some(&predictions) } else { None },
        }));
    }
    Ok(())
}

fn eval(args: &EvalArgs) -> Result<()> {
    if args.json {
        output::text_off();
    }
    let gpu = Gpu::new()?;
    let task = args.data.task.map(task);
    let model = load_model(&gpu, &args.checkpoint, task)?;
    let mut data = load_data(&args.data, Some(model.task()))?;
    if args.split != SplitArg::All {
        // The training run's split of the same data, by its recorded seed and fractions.
        let record = load_split(&args.checkpoint)?.ok_or_else(|| Error::Checkpoint {
            path: args.checkpoint.display().to_string(),
            detail: "records no split; `--split` needs a model saved by `wgsl-train train --save`"
                .into(),
        })?;
        record.check(&data)?;
        let split = data.split(&record.config)?;
        data = match args.split {
            SplitArg::Train => split.train,
            SplitArg::Validation => split.validation,
            _ => split.test,
        };
    }
    let preprocessing = match load_preprocessing(&args.checkpoint)? {
        Some(p) => p,
        None => {
            eprintln!(
                "note: the checkpoint holds no preprocessing: the features are used as they are, in \
                 their order (no names to match), and the baseline is this data's own mean or \
                 class frequencies"
            );
            let f = model.sizes()[0];
            let mut p = Preprocessing::fit(&data);
            p.scaler = wgsl_train::data::Standardizer {
                mean: vec![0.0; f],
                std: vec![1.0; f],
            };
            p.target_scaler = None;
            p
        }
    };
    if !preprocessing.feature_names.is_empty() {
        // The model's features by name, in any order, as predict reads them.
        data = data.with_feature_order(&preprocessing.feature_names)?;
    }
    if !preprocessing.class_names.is_empty() {
        data = data.with_class_order(&preprocessing.class_names)?;
    }
    let scores = evaluate(&gpu, &model, &preprocessing, &data)?;
    let part = match args.split {
        SplitArg::Train => "the training split",
        SplitArg::Validation => "the validation split",
        SplitArg::Test => "the test split",
        SplitArg::All => "all rows",
    };
    say!(
        "{}: {} rows ({part}), {}",
        args.data.data,
        data.len(),
        model.task()
    );
    say!("{:<14} {:>11} {:>11}", "metric", "model", "baseline");
    for ((name, m), (_, b)) in scores
        .model
        .named_values()
        .iter()
        .zip(scores.baseline.named_values())
    {
        say!("{name:<14} {m:>11.4} {b:>11.4}");
    }
    if matches!(scores.model, wgsl_train::metrics::Metrics::Regression(r) if r.constant_targets) {
        if let Some(note) = wgsl_train::metrics::constant_target_note(&[part]) {
            say!("{note}");
        }
    }
    if let wgsl_train::metrics::Metrics::Multiclass(m) = &scores.model {
        say!("confusion matrix (rows: actual, columns: predicted)");
        for row in &m.confusion {
            say!(
                "{}",
                row.iter().map(|c| format!("{c:>6}")).collect::<String>()
            );
        }
    }
    if args.json {
        output::json(&serde_json::json!({
            "format": "wgsl-train.eval.v1",
            "data": args.data.data,
            "split": part,
            "rows": data.len(),
            "task": model.task().to_string(),
            "model": scores.model,
            "baseline": scores.baseline,
        }));
    }
    Ok(())
}

/// Prints one line per check; `Ok(false)` when any failed.
fn selftest(args: &SelftestArgs) -> Result<bool> {
    if args.json {
        output::text_off();
    }
    let gpu = Gpu::new()?;
    let info = gpu.adapter_info();
    say!(
        "adapter: {} ({:?}, {} {})",
        info.name,
        info.backend,
        info.driver,
        info.driver_info
    );
    let checks = wgsl_train::selftest::run(&gpu, args.seed)?;
    say!(
        "{:<64} {:>10} {:>10}  result",
        "check (error and tolerance relative to the bound)",
        "max error",
        "tolerance"
    );
    for c in &checks {
        let result = if c.passed() { "pass" } else { "FAIL" };
        say!(
            "{:<64} {:>10.3e} {:>10.1}  {result}",
            c.name,
            c.max_error,
            c.tolerance
        );
    }
    let failed = checks.iter().filter(|c| !c.passed()).count();
    if failed == 0 {
        say!("all {} checks passed on {}", checks.len(), info.name);
    } else {
        eprintln!(
            "error: {failed} of {} checks FAILED on {}: this driver computes wrong results",
            checks.len(),
            info.name
        );
    }
    if args.json {
        let checks: Vec<serde_json::Value> = checks
            .iter()
            .map(|c| {
                let mut check = serde_json::json!(c);
                check["passed"] = serde_json::json!(c.passed());
                check
            })
            .collect();
        output::json(&serde_json::json!({
            "format": "wgsl-train.selftest.v1",
            "adapter": {
                "name": info.name,
                "backend": format!("{:?}", info.backend),
                "driver": format!("{} {}", info.driver, info.driver_info),
            },
            "checks": checks,
            "passed": failed == 0,
        }));
    }
    Ok(failed == 0)
}
