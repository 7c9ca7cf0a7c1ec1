//! `wgsl-train sweep`: a grid search with k-fold cross-validation, every model trained together
//! on the GPU; comma lists make the grid.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use wgsl_train::checkpoint::{lock_for_saving, save_model};
use wgsl_train::data::SplitConfig;
use wgsl_train::experiment::{
    plot_sweep, Candidate, ClassWeight, Shard, Sweep, SweepOutcome, SweepShard,
};
use wgsl_train::fs::{refuse_input_as_output, write_atomic, WriteLock};
use wgsl_train::nn::{Activation, Init};
use wgsl_train::optim::{AdamConfig, OptimizerConfig, SgdConfig};
use wgsl_train::train::{GridConfig, LrSchedule};
use wgsl_train::{Error, Gpu, Result};

use crate::{load_data, DataArgs, OptimizerArg};

/// Every combination of the lists is a candidate, scored on `--folds` folds of the rows left
/// after the test split; the best is refit on all of them and scored once on the test split.
#[derive(clap::Args)]
#[command(allow_negative_numbers = true)]
pub struct SweepArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Optimizers to compare.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "adam")]
    optimizer: Vec<OptimizerArg>,
    /// Learning rates to compare.
    #[arg(long, value_delimiter = ',', default_value = "0.001")]
    lr: Vec<f64>,
    /// L1 penalties to compare.
    #[arg(long, value_delimiter = ',', default_value = "0")]
    l1: Vec<f64>,
    /// L2 penalties (PyTorch's weight_decay; AdamW's decoupled decay) to compare.
    #[arg(long, value_delimiter = ',', default_value = "0")]
    l2: Vec<f64>,
    /// Hidden layers to compare: each item a width, or widths joined by `-` for several layers
    /// (`5,16,8-4`).
    #[arg(long, value_delimiter = ',', default_value = "5")]
    hidden: Vec<String>,
    /// Activations to compare, each after every hidden layer: relu, leaky_relu (slope 0.01) or
    /// leaky_relu:SLOPE, tanh, sigmoid, gelu, gelu_tanh, silu.
    #[arg(long, value_delimiter = ',', default_value = "relu")]
    activation: Vec<Activation>,
    /// Dropout probabilities to compare, each as nn.Dropout(P) after every hidden layer's
    /// activation (as train's --dropout; 0: none).
    #[arg(long, value_delimiter = ',', default_value = "0", value_name = "P")]
    dropout: Vec<f32>,
    /// Weigh every model's loss by class, as train's --class-weight: balanced (scikit-learn's,
    /// counted on each fold's training rows, and on all the development rows for the refit) or
    /// one weight per class.
    #[arg(long, default_value = "none", conflicts_with = "pos_weight")]
    class_weight: ClassWeight,
    /// BCEWithLogitsLoss's pos_weight (binary) for every model, as train's --pos-weight.
    #[arg(long, value_name = "P")]
    pos_weight: Option<f32>,
    /// Initialisations to compare, one per --init (as train's --init; a value's own settings
    /// are comma-separated, so several are given as --init A --init B).
    #[arg(long, default_value = "default")]
    init: Vec<Init>,
    /// Clip each gradient element to ±C before each step, for every candidate (as train's
    /// --clip-grad-value) [default: off].
    #[arg(long, value_name = "C")]
    clip_grad_value: Option<f64>,
    /// Scale each model's gradients so their norm (2, over all its parameters) is at most N
    /// before each step, for every candidate (as train's --clip-grad-norm, L1 term included)
    /// [default: off].
    #[arg(long, value_name = "N")]
    clip_grad_norm: Option<f64>,
    /// SGD's momentum, for every SGD candidate [default: 0, PyTorch's].
    #[arg(long, default_value_t = 0.0, hide_default_value = true)]
    momentum: f64,
    /// Folds of the cross-validation (stratified for classes).
    #[arg(long, default_value_t = 5)]
    folds: usize,
    /// Epochs of every model.
    #[arg(long, default_value_t = 100)]
    epochs: usize,
    /// Rows per step.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Stop each model after this many epochs without a validation improvement, keeping its
    /// best weights; the refit then runs its folds' mean best epoch.
    #[arg(long)]
    patience: Option<usize>,
    /// Fraction of the rows held out as the test split.
    #[arg(long, default_value_t = 0.15)]
    test: f64,
    /// Seed of the split, the folds, the initial weights and the shuffles.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write every candidate's and every model's results as JSON (`-`: the JSON alone to
    /// standard output).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the candidates' table as CSV.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Save the refit model (with its standardisation) for `predict` and `eval`.
    #[arg(long)]
    save: Option<PathBuf>,
    /// Write every model's learning curves (curves.csv) and a panel per candidate with its
    /// folds' mean curves and spread (curves.svg) into this directory.
    #[arg(long, value_name = "DIR")]
    curves: Option<PathBuf>,
    /// Train only shard I of N (1-based: model i is shard i mod N + 1) and write its models to
    /// `--json`, for `--merge` to combine; the other arguments must be the whole sweep's.
    #[arg(long, value_name = "I/N", requires = "json", conflicts_with_all = ["csv", "save", "curves"])]
    shard: Option<Shard>,
    /// Combine the shard files of a sweep run with `--shard` (same arguments otherwise) into
    /// the whole sweep's table, choice, refit and outputs, without training the models again.
    #[arg(long, value_name = "FILES", num_args = 1.., conflicts_with = "shard")]
    merge: Vec<PathBuf>,
}

/// The grid the lists make, optimizer outermost, as GridSearchCV's `ParameterGrid` orders
/// its keys' combinations.
fn candidates(args: &SweepArgs) -> Result<Vec<Candidate>> {
    let mut hidden = Vec::new();
    for item in &args.hidden {
        let widths = item
            .split('-')
            .map(|w| w.trim().parse::<usize>())
            .collect::<std::result::Result<Vec<usize>, _>>()
            .map_err(|_| Error::InvalidArgument {
                op: "--hidden",
                detail: format!("{item:?} is not a width or widths joined by '-' (e.g. 5 or 8-4)"),
            })?;
        hidden.push(widths);
    }
    let mut out = Vec::new();
    for &optimizer in &args.optimizer {
        for &lr in &args.lr {
            for &l1 in &args.l1 {
                for &l2 in &args.l2 {
                    for (widths, &activation, &dropout, &init) in hidden.iter().flat_map(|w| {
                        args.activation.iter().flat_map(move |a| {
                            args.dropout
                                .iter()
                                .flat_map(move |d| args.init.iter().map(move |i| (w, a, d, i)))
                        })
                    }) {
                        let optimizer: OptimizerConfig = match optimizer {
                            OptimizerArg::Sgd => SgdConfig {
                                lr,
                                l1,
                                weight_decay: l2,
                                clip_grad_value: args.clip_grad_value,
                                momentum: args.momentum,
                                ..SgdConfig::default()
                            }
                            .into(),
                            OptimizerArg::Adam => AdamConfig {
                                lr,
                                l1,
                                weight_decay: l2,
                                clip_grad_value: args.clip_grad_value,
                                ..AdamConfig::default()
                            }
                            .into(),
                            OptimizerArg::Adamw => AdamConfig {
                                lr,
                                l1,
                                weight_decay: l2,
                                clip_grad_value: args.clip_grad_value,
                                ..AdamConfig::adamw()
                            }
                            .into(),
                        };
                        out.push(Candidate {
                            hidden: widths.clone(),
                            activation,
                            dropout,
                            init,
                            optimizer,
                            lr_schedule: LrSchedule::Constant,
                        });
                    }
                }
            }
        }
    }
    Ok(out)
}

pub fn run(args: &SweepArgs) -> Result<()> {
    let mut inputs = vec![("--data", Path::new(&args.data.data))];
    inputs.extend(args.merge.iter().map(|p| ("--merge", p.as_path())));
    for (flag, path) in [
        ("--json", &args.json),
        ("--csv", &args.csv),
        ("--save", &args.save),
    ] {
        if let Some(path) = path {
            refuse_input_as_output(flag, path, &inputs)?;
        }
    }
    if let Some(path) = &args.save {
        crate::refuse_replacing_a_resumable_run(
            path,
            "the refit model would replace its model and leave its training state behind; save it to another path (or remove the run's two files first)",
        )?;
    }
    // Every output's place proven writable (and kept from a second run) before the work.
    let _locks: Vec<WriteLock> = [&args.json, &args.csv]
        .into_iter()
        .flatten()
        .filter(|p| p.as_os_str() != "-")
        .map(|p| WriteLock::acquire(p))
        .chain(args.save.as_deref().map(lock_for_saving))
        .collect::<Result<_>>()?;
    if args.json.as_deref().is_some_and(|p| p.as_os_str() == "-") {
        crate::output::text_off();
    }
    let _curves = args.curves.as_deref().map(crate::lock_curves).transpose()?;
    if args.momentum != 0.0 && !args.optimizer.contains(&OptimizerArg::Sgd) {
        return Err(Error::InvalidArgument {
            op: "--momentum",
            detail: "is SGD's, and no SGD candidate is in the sweep".into(),
        });
    }
    let sweep = Sweep {
        candidates: candidates(args)?,
        folds: args.folds,
        split: SplitConfig {
            validation: 0.0,
            test: args.test,
            seed: args.seed,
            ..SplitConfig::default()
        },
        grid: GridConfig {
            epochs: args.epochs,
            batch_size: args.batch_size,
            patience: args.patience,
            clip_grad_norm: args.clip_grad_norm,
            ..GridConfig::default()
        },
        seed: args.seed,
        class_weight: crate::class_weight(&args.class_weight, args.pos_weight),
        progress: true,
    };
    // The shard files read (and found to be shards) before anything is trained or loaded.
    let shards = args
        .merge
        .iter()
        .map(|path| read_shard(path))
        .collect::<Result<Vec<SweepShard>>>()?;
    let data = load_data(&args.data, None)?;
    let gpu = Gpu::new()?;
    let models = sweep.candidates.len() * sweep.folds;
    if let Some(shard) = args.shard {
        say!(
            "sweep shard {shard}: its share of {} candidates × {} folds = {models} models, trained together on {}",
            sweep.candidates.len(),
            sweep.folds,
            gpu.adapter_info().name
        );
        let part = sweep.run_shard(&gpu, &data, shard)?;
        let document = serde_json::to_value(&part).unwrap_or_default();
        write_output(args.json.as_deref(), &document, "the shard's models")?;
        return Ok(());
    }
    let outcome = if shards.is_empty() {
        say!(
            "sweep: {} candidates × {} folds = {models} models, trained together on {}",
            sweep.candidates.len(),
            sweep.folds,
            gpu.adapter_info().name
        );
        sweep.run(&gpu, &data)?
    } else {
        say!(
            "sweep: merging {} shard files of {models} models",
            shards.len()
        );
        sweep.merge(&gpu, &data, shards)?
    };
    print_table(&outcome);
    if let Some(path) = &args.save {
        save_model(&gpu, path, &outcome.refit, Some(&outcome.preprocessing))?;
        say!("refit model saved to {}", path.display());
    }
    write_output(args.json.as_deref(), &report(&outcome), "results")?;
    if let Some(path) = &args.csv {
        write_atomic(path, csv(&outcome).as_bytes())?;
        say!("table written to {}", path.display());
    }
    if let Some(dir) = &args.curves {
        let (csv, svg) = (dir.join("curves.csv"), dir.join("curves.svg"));
        write_atomic(&csv, outcome.curves_csv().as_bytes())?;
        let title = format!("{}: each candidate's folds", args.data.data);
        plot_sweep(&svg, &title, &outcome)?;
        say!("learning curves: {} and {}", csv.display(), svg.display());
    }
    Ok(())
}

/// Writes `document` to `path` (`-`: standard output alone), if a path was given.
fn write_output(path: Option<&std::path::Path>, document: &Value, what: &str) -> Result<()> {
    match path {
        Some(path) if path.as_os_str() == "-" => crate::output::json(document),
        Some(path) => {
            let text = serde_json::to_string_pretty(document).unwrap_or_default();
            write_atomic(path, text.as_bytes())?;
            say!("{what} written to {}", path.display());
        }
        None => {}
    }
    Ok(())
}

/// A file `sweep --shard` wrote.
fn read_shard(path: &std::path::Path) -> Result<SweepShard> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| Error::InvalidArgument {
        op: "--merge",
        detail: format!(
            "{} is not a file `sweep --shard` wrote: {e}",
            path.display()
        ),
    })
}

fn print_table(outcome: &SweepOutcome) {
    let first = &outcome.candidates[0];
    let names: Vec<&str> = first.validation.iter().map(|(n, _, _)| *n).collect();
    say_part!("{:>4}  {:<52}", "rank", "candidate");
    for name in &names {
        say_part!(" {:>22}", format!("validation {name}"));
    }
    say!(" {:>18}", "train loss");
    let mut order: Vec<usize> = (0..outcome.candidates.len()).collect();
    order.sort_by_key(|&c| outcome.candidates[c].rank);
    for c in order {
        let result = &outcome.candidates[c];
        say_part!("{:>4}  {:<52}", result.rank, result.candidate.describe());
        for (_, mean, std) in &result.validation {
            say_part!(" {:>22}", format!("{mean:.4} ± {std:.4}"));
        }
        let (mean, std) = result.train_loss;
        say_part!(" {:>18}", format!("{mean:.4} ± {std:.4}"));
        if result.diverged_folds > 0 {
            say_part!("  (diverged on {} folds)", result.diverged_folds);
        }
        say!();
    }
    let best = &outcome.candidates[outcome.best];
    say!(
        "\nbest: {} — refit on all the development rows for {} epochs",
        best.candidate.describe(),
        outcome.refit_epochs
    );
    say!("{:<16} {:>12} {:>12}", "test", "model", "baseline");
    for ((name, model), (_, baseline)) in outcome
        .test
        .model
        .named_values()
        .into_iter()
        .zip(outcome.test.baseline.named_values())
    {
        say!("{name:<16} {model:>12.4} {baseline:>12.4}");
    }
    say!(
        "diagnosis (the best candidate's folds): {}",
        outcome.diagnosis
    );
}

fn summary(values: &[(&'static str, f64, f64)], split: &str) -> serde_json::Map<String, Value> {
    let mut out = serde_json::Map::new();
    for (name, mean, std) in values {
        out.insert(format!("mean_{split}_{name}"), json!(mean));
        out.insert(format!("std_{split}_{name}"), json!(std));
    }
    out
}

/// The results as `cv_results_` shapes them: a row per candidate with its params, the mean and
/// standard deviation over folds of every metric, and its rank; then every model.
fn report(outcome: &SweepOutcome) -> Value {
    let candidates: Vec<Value> = outcome
        .candidates
        .iter()
        .map(|c| {
            let mut row = serde_json::Map::new();
            row.insert(
                "params".into(),
                json!({
                    "optimizer": c.candidate.optimizer,
                    "hidden": c.candidate.hidden,
                    "activation": c.candidate.activation,
                    "dropout": c.candidate.dropout,
                    "init": c.candidate.init,
                }),
            );
            row.extend(summary(&c.validation, "validation"));
            row.extend(summary(&c.train, "train"));
            row.insert("mean_validation_loss".into(), json!(c.validation_loss.0));
            row.insert("std_validation_loss".into(), json!(c.validation_loss.1));
            row.insert("mean_train_loss".into(), json!(c.train_loss.0));
            row.insert("std_train_loss".into(), json!(c.train_loss.1));
            row.insert("rank_validation_loss".into(), json!(c.rank));
            row.insert("diverged_folds".into(), json!(c.diverged_folds));
            Value::Object(row)
        })
        .collect();
    let models: Vec<Value> = outcome
        .models
        .iter()
        .map(|m| {
            json!({
                "candidate": m.candidate,
                "fold": m.fold,
                "epochs": m.history.epochs.len(),
                "best_epoch": m.history.best_epoch,
                "stopped_early": m.history.stopped_early,
                "diverged_at_epoch": m.diverged.map(|d| d.epoch),
                "validation": m.validation,
                "train": m.train,
                "history": m.history,
            })
        })
        .collect();
    json!({
        "candidates": candidates,
        "models": models,
        "best": outcome.best,
        "refit_epochs": outcome.refit_epochs,
        "test": outcome.test,
        "diagnosis": outcome.diagnosis.to_string(),
    })
}

/// The candidates' table: a row each, its params and every mean and standard deviation.
fn csv(outcome: &SweepOutcome) -> String {
    let first = &outcome.candidates[0];
    let mut header = vec!["rank".to_string(), "candidate".to_string()];
    for (split, values) in [("validation", &first.validation), ("train", &first.train)] {
        for (name, _, _) in values.iter() {
            header.push(format!("mean_{split}_{name}"));
            header.push(format!("std_{split}_{name}"));
        }
    }
    let mut out = header.join(",") + "\n";
    for c in &outcome.candidates {
        let mut row = vec![
            c.rank.to_string(),
            format!("\"{}\"", c.candidate.describe()),
        ];
        for values in [&c.validation, &c.train] {
            for (_, mean, std) in values.iter() {
                row.push(mean.to_string());
                row.push(std.to_string());
            }
        }
        out += &(row.join(",") + "\n");
    }
    out
}
