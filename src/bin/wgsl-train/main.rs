//! `wgsl-train`: train an MLP on a CSV file or a built-in dataset, evaluate a checkpoint,
//! benchmark this adapter, or check every kernel on it against the CPU reference.
//!
//! `wgsl-train <command> --help` lists each command's options.

mod bench;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use wgsl_train::checkpoint::{load_model, load_preprocessing, restore_training, save};
use wgsl_train::data::{
    diabetes, iris, load_csv, wine_quality, CsvOptions, Dataset, SplitConfig, TargetColumn, Task,
};
use wgsl_train::nn::Mlp;
use wgsl_train::optim::{AdamConfig, OptimizerConfig, SgdConfig};
use wgsl_train::train::{
    baseline_loss, diagnose, evaluate, plot_curves, Prepared, Preprocessing, TrainConfig, Trainer,
};
use wgsl_train::{Gpu, GpuOptions, Result};

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
    /// Evaluate a saved model on a dataset.
    Eval(EvalArgs),
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
}

#[derive(clap::Args)]
struct DataArgs {
    /// A built-in dataset (diabetes, iris, wine) or the path of a CSV file with a header line.
    #[arg(long)]
    data: String,
    /// CSV: the target column, by name or 0-based index [default: the last column].
    #[arg(long)]
    target: Option<String>,
    /// CSV: the task [default: regression for a numeric target, else multiclass].
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

#[derive(clap::Args)]
#[command(allow_negative_numbers = true)]
struct TrainArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Hidden layer sizes, comma-separated (e.g. 64,32).
    #[arg(long, value_delimiter = ',', default_value = "5")]
    hidden: Vec<usize>,
    /// The optimizer.
    #[arg(long, value_enum, default_value = "adam")]
    optimizer: OptimizerArg,
    /// Learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// SGD momentum.
    #[arg(long, default_value_t = 0.0)]
    momentum: f64,
    /// SGD dampening.
    #[arg(long, default_value_t = 0.0)]
    dampening: f64,
    /// SGD Nesterov momentum (needs --momentum > 0).
    #[arg(long)]
    nesterov: bool,
    /// Adam β₁.
    #[arg(long, default_value_t = 0.9)]
    beta1: f64,
    /// Adam β₂.
    #[arg(long, default_value_t = 0.999)]
    beta2: f64,
    /// Adam ε.
    #[arg(long, default_value_t = 1e-8)]
    eps: f64,
    /// Adam AMSGrad.
    #[arg(long)]
    amsgrad: bool,
    /// L2 penalty: PyTorch's weight_decay (decoupled for adamw) [default: 0; adamw 0.01].
    #[arg(long)]
    l2: Option<f64>,
    /// L1 penalty λ₁ (adds λ₁·sign(θ) to the gradient).
    #[arg(long, default_value_t = 0.0)]
    l1: f64,
    /// Passes over the training data.
    #[arg(long, default_value_t = 100)]
    epochs: usize,
    /// Rows per step.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Stop after this many epochs without a validation improvement, keeping the best weights.
    #[arg(long)]
    patience: Option<usize>,
    /// The least validation-loss decrease that counts as an improvement.
    #[arg(long, default_value_t = 0.0)]
    min_delta: f64,
    /// Seed of the split, the initial weights and the shuffles.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Fraction of rows for validation.
    #[arg(long, default_value_t = 0.15)]
    validation: f64,
    /// Fraction of rows for the test split.
    #[arg(long, default_value_t = 0.15)]
    test: f64,
    /// Save the model here (safetensors, PyTorch names), with the training state beside it.
    #[arg(long)]
    save: Option<PathBuf>,
    /// With --save: also save every N epochs, so a killed run can resume.
    #[arg(long, requires = "save")]
    checkpoint_every: Option<usize>,
    /// Resume from the checkpoint at --save (same data, seed and settings) and train on to --epochs.
    #[arg(long, requires = "save")]
    resume: bool,
    /// Write the learning curves (curves.csv, curves.svg) into this directory.
    #[arg(long)]
    curves: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// Time the matmul kernels on this adapter and use the fastest (cached per adapter).
    #[arg(long)]
    autotune: bool,
    /// Run each epoch as one dispatch (the small-model path, for small networks and batches).
    #[arg(long)]
    single_dispatch_epochs: bool,
}

#[derive(clap::Args)]
struct EvalArgs {
    /// A model saved by `wgsl-train train --save` (or a PyTorch nn.Sequential state_dict).
    #[arg(long)]
    checkpoint: PathBuf,
    #[command(flatten)]
    data: DataArgs,
}

fn main() -> ExitCode {
    // Rust ignores SIGPIPE, so printing to a closed pipe (`wgsl-train selftest | head -1`)
    // would panic; end quietly as other command-line tools do.
    #[cfg(unix)]
    // SAFETY: called before any other thread exists; SIG_DFL is a valid action for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Train(args) => train(&args),
        Command::Eval(args) => eval(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Selftest(args) => match selftest(&args) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::FAILURE,
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
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

fn optimizer(args: &TrainArgs) -> OptimizerConfig {
    let l2 = args.l2.unwrap_or(if args.optimizer == OptimizerArg::Adamw {
        1e-2
    } else {
        0.0
    });
    match args.optimizer {
        OptimizerArg::Sgd => SgdConfig {
            lr: args.lr,
            momentum: args.momentum,
            dampening: args.dampening,
            weight_decay: l2,
            l1: args.l1,
            nesterov: args.nesterov,
            maximize: false,
        }
        .into(),
        OptimizerArg::Adam | OptimizerArg::Adamw => AdamConfig {
            lr: args.lr,
            betas: (args.beta1, args.beta2),
            eps: args.eps,
            weight_decay: l2,
            decoupled_weight_decay: args.optimizer == OptimizerArg::Adamw,
            l1: args.l1,
            amsgrad: args.amsgrad,
            maximize: false,
        }
        .into(),
    }
}

fn train(args: &TrainArgs) -> Result<()> {
    let data = load_data(&args.data, None)?;
    let gpu = Gpu::with_options(GpuOptions {
        autotune: args.autotune,
        ..GpuOptions::default()
    })?;
    let split = SplitConfig {
        validation: args.validation,
        test: args.test,
        seed: args.seed,
        stratify: true,
    };
    let prepared = Prepared::new(&data, &split)?;
    let mut sizes = vec![data.n_features()];
    sizes.extend(&args.hidden);
    sizes.push(data.n_outputs());
    let model = match (&args.save, args.resume) {
        (Some(path), true) => load_model(&gpu, path, Some(data.task()))?,
        _ => Mlp::new(&gpu, &sizes, data.task(), args.seed)?,
    };
    let config = TrainConfig {
        epochs: args.epochs,
        batch_size: args.batch_size,
        seed: args.seed,
        patience: args.patience,
        min_delta: args.min_delta,
        progress: !args.quiet,
        single_dispatch_epochs: args.single_dispatch_epochs,
    };
    let arrows: Vec<String> = sizes.iter().map(usize::to_string).collect();
    println!(
        "{}: {} rows, {}; {} train / {} validation / {} test; MLP {} on {}",
        args.data.data,
        data.len(),
        data.task(),
        prepared.train.len(),
        prepared.validation.len(),
        prepared.test.len(),
        arrows.join("→"),
        gpu.adapter_info().name
    );
    let mut trainer = Trainer::new(
        &gpu,
        model,
        optimizer(args),
        &prepared.train,
        Some(&prepared.validation),
        config,
    )?;
    let p = &prepared.preprocessing;
    if let (Some(path), true) = (&args.save, args.resume) {
        restore_training(&gpu, path, &mut trainer)?;
        println!(
            "resumed {} after epoch {}",
            path.display(),
            trainer.history().epochs.len()
        );
    }
    let history = trainer
        .fit_with(|t| match (&args.save, args.checkpoint_every) {
            (Some(path), Some(every)) if every > 0 && t.history().epochs.len() % every == 0 => {
                save(&gpu, path, t, Some(p))
            }
            _ => Ok(()),
        })?
        .clone();
    println!(
        "{} epochs{}",
        history.epochs.len(),
        match history.best_epoch {
            Some(best) if history.stopped_early => format!(" (stopped early; kept epoch {best})"),
            _ => String::new(),
        }
    );
    let o = &prepared.original;
    let model = trainer.model();
    let scores = [
        evaluate(&gpu, model, p, &o.train)?,
        evaluate(&gpu, model, p, &o.validation)?,
        evaluate(&gpu, model, p, &o.test)?,
    ];
    println!(
        "\n{:<14} {:>11} {:>11} {:>11} {:>11}",
        "metric", "train", "validation", "test", "baseline"
    );
    for (row, (name, _)) in scores[0].model.named_values().iter().enumerate() {
        print!("{name:<14}");
        for s in &scores {
            print!(" {:>11.4}", s.model.named_values()[row].1);
        }
        println!(" {:>11.4}", scores[2].baseline.named_values()[row].1);
    }
    println!("(baseline: the constant predictor on the test split)");
    println!(
        "\ndiagnosis: {}",
        diagnose(&history, baseline_loss(&prepared.train))
    );
    if let Some(path) = &args.save {
        save(&gpu, path, &trainer, Some(p))?;
        println!("saved {}", path.display());
    }
    if let Some(dir) = &args.curves {
        std::fs::create_dir_all(dir).map_err(|source| wgsl_train::Error::Io {
            path: dir.display().to_string(),
            source,
        })?;
        let csv = dir.join("curves.csv");
        wgsl_train::checkpoint::write_atomic(&csv, history.to_csv().as_bytes())?;
        plot_curves(
            &dir.join("curves.svg"),
            &format!("{}: learning curves", args.data.data),
            &[("".into(), &history)],
        )?;
        println!(
            "learning curves: {} and {}",
            csv.display(),
            dir.join("curves.svg").display()
        );
    }
    Ok(())
}

fn eval(args: &EvalArgs) -> Result<()> {
    let gpu = Gpu::new()?;
    let task = args.data.task.map(task);
    let model = load_model(&gpu, &args.checkpoint, task)?;
    let mut data = load_data(&args.data, Some(model.task()))?;
    let preprocessing = match load_preprocessing(&args.checkpoint)? {
        Some(p) => p,
        None => {
            eprintln!(
                "note: the checkpoint holds no preprocessing: the features are used as they are, and the \
                 baseline is this data's own mean or class frequencies"
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
    if !preprocessing.class_names.is_empty() {
        data = data.with_class_order(&preprocessing.class_names)?;
    }
    let scores = evaluate(&gpu, &model, &preprocessing, &data)?;
    println!("{}: {} rows, {}", args.data.data, data.len(), model.task());
    println!("{:<14} {:>11} {:>11}", "metric", "model", "baseline");
    for ((name, m), (_, b)) in scores
        .model
        .named_values()
        .iter()
        .zip(scores.baseline.named_values())
    {
        println!("{name:<14} {m:>11.4} {b:>11.4}");
    }
    Ok(())
}

/// Prints one line per check; `Ok(false)` when any failed.
fn selftest(args: &SelftestArgs) -> Result<bool> {
    let gpu = Gpu::new()?;
    let info = gpu.adapter_info();
    println!(
        "adapter: {} ({:?}, {} {})",
        info.name, info.backend, info.driver, info.driver_info
    );
    let checks = wgsl_train::selftest::run(&gpu, args.seed)?;
    println!(
        "{:<64} {:>10} {:>10}  result",
        "check (error and tolerance relative to the bound)", "max error", "tolerance"
    );
    for c in &checks {
        let result = if c.passed() { "pass" } else { "FAIL" };
        println!(
            "{:<64} {:>10.3e} {:>10.1}  {result}",
            c.name, c.max_error, c.tolerance
        );
    }
    let failed = checks.iter().filter(|c| !c.passed()).count();
    if failed == 0 {
        println!("all {} checks passed on {}", checks.len(), info.name);
    } else {
        eprintln!(
            "error: {failed} of {} checks FAILED on {}: this driver computes wrong results",
            checks.len(),
            info.name
        );
    }
    Ok(failed == 0)
}
