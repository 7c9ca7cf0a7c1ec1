//! `wgsl-train bench`: kernels, optimizers and training on this adapter, in one table and JSON.

use std::path::PathBuf;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use wgsl_train::data::Prepared;
use wgsl_train::data::{diabetes, Dataset, SplitConfig, Task};
use wgsl_train::kernels::loss::{loss_launch, LossKind};
use wgsl_train::kernels::matmul::{matmul_launch, MatmulLayout, MatmulOptions, MatmulVariant};
use wgsl_train::nn::{Activation, Mlp};
use wgsl_train::optim::{AdamConfig, Optimizer, OptimizerConfig, ParamStore, SgdConfig};
use wgsl_train::train::{KernelForm, SingleDispatch, TrainConfig, Trainer};
use wgsl_train::{DType, Gpu, GpuOptions, Result, Tensor};

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Where to write the figures as JSON; `-` prints the JSON document alone to standard
    /// output instead of the tables.
    #[arg(long, default_value = "bench.json")]
    json: PathBuf,
    /// Skip the largest sizes (2048³ matmul, 16M-parameter optimizers) and the wide network
    /// with each activation other than ReLU.
    #[arg(long)]
    quick: bool,
    /// Let the training runs use the matmul autotuner (cached per adapter).
    #[arg(long)]
    autotune: bool,
    /// Measure streaming instead: one epoch on a generated dataset of this many gigabytes,
    /// kept in host memory (so it needs that much free) and streamed to the device, beside
    /// the same network on a dataset that fits; with the peak host memory.
    #[arg(long, value_name = "GB")]
    stream_gb: Option<f64>,
    /// Measure the grid rows alone (many models at once), skipping the kernels and training.
    #[arg(long)]
    grid_only: bool,
    /// How the grid's kernels are written; default: the form chosen for this adapter.
    #[arg(long, value_enum)]
    grid_form: Option<GridForm>,
}

/// `KernelForm`'s words on the command line.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum GridForm {
    /// Straight-line code, every parameter a named register.
    Unrolled,
    /// Loops over units and parameters, which live in private arrays.
    Looped,
    /// A model per subgroup (adapters with subgroups of one fixed size).
    Subgroup,
}

impl From<GridForm> for KernelForm {
    fn from(form: GridForm) -> Self {
        match form {
            GridForm::Unrolled => KernelForm::Unrolled,
            GridForm::Looped => KernelForm::Looped,
            GridForm::Subgroup => KernelForm::Subgroup,
        }
    }
}

fn random(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..n).map(|_| rng.random_range(-1.0..1.0)).collect()
}

/// Median seconds of `runs` runs of `f`.
fn median_seconds(runs: usize, mut f: impl FnMut()) -> f64 {
    let mut samples: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64()
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

pub fn run(args: &BenchArgs) -> Result<()> {
    // The JSON file's place proven writable (and kept from a second bench) before the minutes
    // of benchmarking whose figures it will hold.
    let _lock = if args.json.as_os_str() == "-" {
        crate::output::text_off();
        None
    } else {
        Some(wgsl_train::fs::WriteLock::acquire(&args.json)?)
    };
    let gpu = Gpu::with_options(GpuOptions {
        autotune: args.autotune,
        ..GpuOptions::default()
    })?;
    let info = gpu.adapter_info();
    let timer = if gpu.has_timestamps() {
        "GPU timestamps"
    } else {
        "wall clock (submit + wait)"
    };
    say!(
        "adapter: {} ({:?}, {} {}); kernels timed with {timer}",
        info.name,
        info.backend,
        info.driver,
        info.driver_info
    );
    let mut report = json!({
        "adapter": { "name": info.name, "backend": format!("{:?}", info.backend), "driver": info.driver, "driver_info": info.driver_info },
        "kernel_timer": timer,
    });
    let grid_form = args.grid_form.map(KernelForm::from);
    if let Some(gb) = args.stream_gb {
        report["streaming"] = crate::stream_bench::streaming(&gpu, gb)?;
    } else if args.grid_only {
        report["grid"] = crate::grid_bench::grid(&gpu, grid_form)?;
    } else {
        report["matmul"] = matmul(&gpu, args.quick)?;
        report["losses"] = losses(&gpu)?;
        report["optimizers"] = optimizers(&gpu, args.quick)?;
        report["training"] = training(&gpu, args.quick)?;
        report["grid"] = crate::grid_bench::grid(&gpu, grid_form)?;
        report["cold_start_seconds"] = json!(cold_start()?);
    }
    if args.json.as_os_str() == "-" {
        crate::output::json(&report);
    } else {
        let text = serde_json::to_string_pretty(&report).unwrap_or_default();
        wgsl_train::fs::write_atomic(&args.json, text.as_bytes())?;
        say!("\nfigures written to {}", args.json.display());
    }
    Ok(())
}

fn matmul(gpu: &Gpu, quick: bool) -> Result<Value> {
    say!("\nmatmul, GFLOP/s (2·M·N·K per product; median of 3 runs)");
    let mut header = format!("{:<26}", "M×N×K");
    for variant in MatmulVariant::ALL {
        header += &format!(" {:>12}", format!("{variant:?}"));
    }
    say!("{header} {:>12}", "CPU sgemm");
    let mut shapes: Vec<(usize, usize, usize, MatmulLayout, &str)> = [256, 512, 1024]
        .iter()
        .map(|&s| (s, s, s, MatmulLayout::AB, "A·B"))
        .collect();
    if !quick {
        shapes.push((2048, 2048, 2048, MatmulLayout::AB, "A·B"));
    }
    // The forward pass of a 784→256 layer at batch 128: X·Wᵀ.
    shapes.push((128, 256, 784, MatmulLayout::ABt, "X·Wᵀ"));
    let mut rows = Vec::new();
    for (m, n, k, layout, label) in shapes {
        let b_shape = if layout == MatmulLayout::ABt {
            [n, k]
        } else {
            [k, n]
        };
        let (a, b) = (random(m * k, 1), random(k * n, 2));
        let (ga, gb) = (
            Tensor::from_slice(gpu, &[m, k], &a)?,
            Tensor::from_slice(gpu, &b_shape, &b)?,
        );
        let c = Tensor::zeros(gpu, &[m, n], DType::F32)?;
        let flops = 2.0 * (m * n * k) as f64;
        // GFLOP/s per variant; None where the variant does not apply (it would fall back
        // to another, measured in that one's column).
        let mut gflops = Vec::new();
        for variant in MatmulVariant::ALL {
            if !variant.applies(gpu, layout, (m, n, k)) {
                gflops.push(None);
                continue;
            }
            let options = MatmulOptions {
                layout,
                variant,
                ..MatmulOptions::default()
            };
            let launch = matmul_launch(gpu, &ga, &gb, &c, &options)?;
            gflops.push(Some(
                flops / gpu.time_launches(&[&launch], 3)?.seconds / 1e9,
            ));
        }
        // matrixmultiply's sgemm on the host, for context; B is used transposed via strides.
        let mut out = vec![0.0f32; m * n];
        let (rsb, csb) = if layout == MatmulLayout::ABt {
            (1, k as isize)
        } else {
            (n as isize, 1)
        };
        let cpu = median_seconds(3, || unsafe {
            matrixmultiply::sgemm(
                m,
                k,
                n,
                1.0,
                a.as_ptr(),
                k as isize,
                1,
                b.as_ptr(),
                rsb,
                csb,
                0.0,
                out.as_mut_ptr(),
                n as isize,
                1,
            );
        });
        let cpu_gflops = flops / cpu / 1e9;
        let shape = format!("{m}×{n}×{k} {label}");
        let mut line = format!("{shape:<26}");
        let mut row = json!({ "shape": shape, "gflops_cpu_sgemm": cpu_gflops });
        for (variant, g) in MatmulVariant::ALL.iter().zip(&gflops) {
            match g {
                Some(g) => line += &format!(" {g:>12.2}"),
                None => line += &format!(" {:>12}", "n/a"),
            }
            row[format!("gflops_{}", variant.name())] = json!(g);
        }
        say!("{line} {cpu_gflops:>12.2}");
        rows.push(row);
    }
    Ok(Value::Array(rows))
}

fn losses(gpu: &Gpu) -> Result<Value> {
    say!("\nlosses with their gradient and mean, GB/s (bytes read + written; median of 5)");
    let n = 1 << 20;
    let pred = Tensor::from_slice(gpu, &[n], &random(n, 3))?;
    let target = Tensor::from_slice(gpu, &[n], &random(n, 4))?;
    let loss = Tensor::zeros(gpu, &[1], DType::F32)?;
    let grad = Tensor::zeros(gpu, &[n], DType::F32)?;
    let mut rows = Vec::new();
    for kind in [LossKind::Mse, LossKind::BceWithLogits] {
        let launch = loss_launch(gpu, kind, &pred, &target, None, &loss, &grad)?;
        // Read predictions and targets, write the gradient.
        let seconds = gpu.time_launches(&[&launch], 5)?.seconds;
        let gbs = 12.0 * n as f64 / seconds / 1e9;
        say!("{:<26} {gbs:>9.2}", format!("{kind:?}, {n}"));
        rows.push(json!({ "loss": format!("{kind:?}"), "elements": n, "gb_per_s": gbs }));
    }
    let (r, classes) = (n / 16, 16);
    let labels: Vec<u32> = (0..r as u32).map(|i| i % 16).collect();
    let labels = Tensor::from_slice(gpu, &[r], &labels)?;
    let (logits, grad) = (pred.reshape(&[r, classes])?, grad.reshape(&[r, classes])?);
    let launch = loss_launch(
        gpu,
        LossKind::SoftmaxCrossEntropy,
        &logits,
        &labels,
        None,
        &loss,
        &grad,
    )?;
    let seconds = gpu.time_launches(&[&launch], 5)?.seconds;
    let gbs = (8.0 * n as f64 + 4.0 * r as f64) / seconds / 1e9;
    say!(
        "{:<26} {gbs:>9.2}",
        format!("SoftmaxCrossEntropy, {r}×{classes}")
    );
    rows.push(json!({ "loss": "SoftmaxCrossEntropy", "elements": n, "gb_per_s": gbs }));
    Ok(Value::Array(rows))
}

/// Copies and optimizer steps timed back to back, one wait at the end: on an H200 a submission
/// and its wait took about as long as a 16M-parameter Adam step (0.36 ms for one step and its
/// wait), so one step a wait measured the round trip, not the bandwidth.
const REPEATS: usize = 10;

fn optimizers(gpu: &Gpu, quick: bool) -> Result<Value> {
    let n: usize = if quick { 1 << 20 } else { 1 << 24 };
    say!("\noptimizers over {n} parameters, GB/s (bytes read + written; median of 5, wall clock over {REPEATS} back to back)");
    let src = Tensor::from_slice(gpu, &[n], &random(n, 5))?;
    let dst = Tensor::zeros(gpu, &[n], DType::F32)?;
    let copy = median_seconds(5, || {
        let mut batch = gpu.batch();
        for _ in 0..REPEATS {
            let _ = batch.copy(&src, &dst);
        }
        let _ = gpu.submit(batch).and_then(|()| gpu.wait());
    }) / REPEATS as f64;
    let copy_gbs = 8.0 * n as f64 / copy / 1e9;
    say!(
        "{:<26} {copy_gbs:>9.2}   (the ceiling: copy_buffer_to_buffer)",
        "buffer copy"
    );
    let store = ParamStore::new(gpu, &[("w", &[n])])?;
    store.write(gpu, "w", &random(n, 6))?;
    store.grads().write(gpu, &random(n, 7))?;
    let mut rows = vec![json!({ "name": "buffer copy", "parameters": n, "gb_per_s": copy_gbs })];
    let configs: [(&str, OptimizerConfig, f64); 2] = [
        ("Adam (fused)", AdamConfig::default().into(), 28.0),
        (
            "SGD + momentum (fused)",
            SgdConfig {
                momentum: 0.9,
                ..SgdConfig::default()
            }
            .into(),
            20.0,
        ),
    ];
    for (name, config, bytes) in configs {
        let mut optimizer = Optimizer::new(gpu, &store, config)?;
        let seconds = median_seconds(5, || {
            for _ in 0..REPEATS {
                let _ = optimizer.step(gpu);
            }
            let _ = gpu.wait();
        }) / REPEATS as f64;
        let gbs = bytes * n as f64 / seconds / 1e9;
        say!(
            "{name:<26} {gbs:>9.2}   {:.0}% of the copy",
            100.0 * gbs / copy_gbs
        );
        rows.push(json!({ "name": name, "parameters": n, "gb_per_s": gbs, "fraction_of_copy": gbs / copy_gbs }));
    }
    Ok(Value::Array(rows))
}

/// Steps per second of whole epochs (submission and readback included): `epochs` epochs one
/// per submission, then as many again with the trainer's own number of epochs per submission
/// (the default, as `fit` runs them). Returns both rates and the dispatches per step.
fn steps_per_second(
    gpu: &Gpu,
    model: Mlp,
    train: &Dataset,
    batch_size: usize,
    epochs: usize,
    (one_dispatch, clip_grad_norm): (bool, Option<f64>),
) -> Result<(f64, f64, usize)> {
    let config = TrainConfig {
        epochs: 1 + 2 * epochs,
        batch_size,
        clip_grad_norm,
        // Each row measures the path it names.
        single_dispatch_epochs: if one_dispatch {
            SingleDispatch::Always
        } else {
            SingleDispatch::Never
        },
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(gpu, model, AdamConfig::default(), train, None, config)?;
    trainer.run_epoch()?; // warm-up: compiles the pipelines
    let steps = (epochs * trainer.steps_per_epoch()) as f64;
    let start = Instant::now();
    for _ in 0..epochs {
        trainer.run_epoch()?;
    }
    let one_per_submission = steps / start.elapsed().as_secs_f64();
    let start = Instant::now();
    trainer.fit()?;
    let many_per_submission = steps / start.elapsed().as_secs_f64();
    Ok((
        many_per_submission,
        one_per_submission,
        trainer.dispatches_per_step(),
    ))
}

fn training(gpu: &Gpu, quick: bool) -> Result<Value> {
    say!("\ntraining with Adam, whole epochs (wall clock): many epochs per submission as `fit` runs them, and one");
    say!(
        "{:<34} {:>11} {:>13} {:>16} {:>18}",
        "network, batch",
        "steps/s",
        "samples/s",
        "steps/s (1/sub)",
        "dispatches/step"
    );
    let diabetes = Prepared::new(&diabetes()?, &SplitConfig::default())?;
    let n = diabetes.train.len();
    // A synthetic 784-feature, 10-class problem of 4096 rows.
    let rows = 4096;
    let labels: Vec<u32> = (0..rows as u32).map(|i| i % 10).collect();
    let classes = (0..10).map(|c| c.to_string()).collect();
    let wide = Dataset::classification(random(rows * 784, 8), 784, labels, classes)?;
    struct Case<'a> {
        name: String,
        activation: Activation,
        /// After every hidden layer (0: none).
        dropout: f32,
        clip_grad_norm: Option<f64>,
        sizes: Vec<usize>,
        data: &'a Dataset,
        task: Task,
        batch: usize,
        epochs: usize,
        single: bool,
    }
    let mut cases = vec![
        Case {
            name: "10→5→1, batch 32".into(),
            activation: Activation::Relu,
            dropout: 0.0,
            clip_grad_norm: None,
            sizes: vec![10, 5, 1],
            data: &diabetes.train,
            task: Task::Regression,
            batch: 32,
            epochs: 40,
            single: false,
        },
        Case {
            name: "10→5→1, batch 32, one dispatch/epoch".into(),
            activation: Activation::Relu,
            dropout: 0.0,
            clip_grad_norm: None,
            sizes: vec![10, 5, 1],
            data: &diabetes.train,
            task: Task::Regression,
            batch: 32,
            epochs: 150,
            single: true,
        },
        Case {
            name: "10→5→1, full batch".into(),
            activation: Activation::Relu,
            dropout: 0.0,
            clip_grad_norm: None,
            sizes: vec![10, 5, 1],
            data: &diabetes.train,
            task: Task::Regression,
            batch: n,
            epochs: 150,
            single: false,
        },
        Case {
            name: "10→5→1, full batch, one dispatch/epoch".into(),
            activation: Activation::Relu,
            dropout: 0.0,
            clip_grad_norm: None,
            sizes: vec![10, 5, 1],
            data: &diabetes.train,
            task: Task::Regression,
            batch: n,
            epochs: 600,
            single: true,
        },
        Case {
            name: "784→256→256→10, batch 128".into(),
            activation: Activation::Relu,
            dropout: 0.0,
            clip_grad_norm: None,
            sizes: vec![784, 256, 256, 10],
            data: &wide,
            task: Task::Multiclass,
            batch: 128,
            epochs: 2,
            single: false,
        },
    ];
    // What each other activation costs: on the one-dispatch path (its formula chosen at run
    // time) and, unless --quick, the general path (compiled into the matmul epilogues).
    for activation in Activation::ALL.into_iter().skip(1) {
        cases.push(Case {
            name: format!("10→5→1, batch 32, one dispatch/epoch, {activation}"),
            activation,
            dropout: 0.0,
            clip_grad_norm: None,
            sizes: vec![10, 5, 1],
            data: &diabetes.train,
            task: Task::Regression,
            batch: 32,
            epochs: 150,
            single: true,
        });
        if quick {
            continue;
        }
        cases.push(Case {
            name: format!("784→256→256→10, batch 128, {activation}"),
            activation,
            dropout: 0.0,
            clip_grad_norm: None,
            sizes: vec![784, 256, 256, 10],
            data: &wide,
            task: Task::Multiclass,
            batch: 128,
            epochs: 2,
            single: false,
        });
    }
    // What Dropout costs: its masks drawn (Philox, forward and backward) on both paths.
    for (name, sizes, data, task, batch, epochs, single) in [
        (
            "10→5→1, batch 32, dropout 0.2",
            vec![10, 5, 1],
            &diabetes.train,
            Task::Regression,
            32,
            40,
            false,
        ),
        (
            "10→5→1, batch 32, one dispatch/epoch, dropout 0.2",
            vec![10, 5, 1],
            &diabetes.train,
            Task::Regression,
            32,
            150,
            true,
        ),
        (
            "784→256→256→10, batch 128, dropout 0.2",
            vec![784, 256, 256, 10],
            &wide,
            Task::Multiclass,
            128,
            2,
            false,
        ),
    ] {
        cases.push(Case {
            name: name.into(),
            activation: Activation::Relu,
            dropout: 0.2,
            clip_grad_norm: None,
            sizes,
            data,
            task,
            batch,
            epochs,
            single,
        });
    }
    // What clip_grad_norm_ costs: a norm dispatch a step on the general path, a second
    // backward pass a step on the one-dispatch path. 0.5 clips these steps (their norms
    // reach ~1).
    for (name, epochs, single) in [
        ("10→5→1, batch 32, clip_grad_norm 0.5", 40, false),
        (
            "10→5→1, batch 32, one dispatch/epoch, clip_grad_norm 0.5",
            150,
            true,
        ),
    ] {
        cases.push(Case {
            name: name.into(),
            activation: Activation::Relu,
            dropout: 0.0,
            clip_grad_norm: Some(0.5),
            sizes: vec![10, 5, 1],
            data: &diabetes.train,
            task: Task::Regression,
            batch: 32,
            epochs,
            single,
        });
    }
    let mut out = Vec::new();
    for case in cases {
        let model = Mlp::new(gpu, &case.sizes, case.task, 0)?
            .with_activations(&[case.activation])?
            .with_dropout(&[case.dropout])?;
        let (steps, one_per_submission, dispatches) = steps_per_second(
            gpu,
            model,
            case.data,
            case.batch,
            case.epochs,
            (case.single, case.clip_grad_norm),
        )?;
        let samples = steps * case.batch.min(case.data.len()) as f64;
        // The small-model path has one dispatch an epoch, not per step.
        let per_step = if case.single {
            "1/epoch".to_string()
        } else {
            dispatches.to_string()
        };
        say!(
            "{:<38} {steps:>11.1} {samples:>13.0} {one_per_submission:>16.1} {per_step:>18}",
            case.name
        );
        let mut row = json!({
            "network": case.name,
            "activation": case.activation,
            "dropout": case.dropout,
            "clip_grad_norm": case.clip_grad_norm,
            "steps_per_s": steps,
            "samples_per_s": samples,
            "steps_per_s_one_epoch_per_submission": one_per_submission,
        });
        if case.single {
            row["dispatches_per_epoch"] = json!(1);
        } else {
            row["dispatches_per_step"] = json!(dispatches);
        }
        out.push(row);
    }
    Ok(Value::Array(out))
}

/// Seconds from opening a fresh device to the end of the first epoch of the 10→5→1 network,
/// with no pipeline compiled yet: what a user waits before training starts.
fn cold_start() -> Result<f64> {
    let data = Prepared::new(&diabetes()?, &SplitConfig::default())?;
    let start = Instant::now();
    let gpu = Gpu::new()?;
    let opened = start.elapsed().as_secs_f64();
    let model = Mlp::new(&gpu, &[10, 5, 1], Task::Regression, 0)?;
    let config = TrainConfig {
        epochs: 1,
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(
        &gpu,
        model,
        AdamConfig::default(),
        &data.train,
        Some(&data.validation),
        config,
    )?;
    trainer.run_epoch()?;
    let total = start.elapsed().as_secs_f64();
    say!("\ncold start, 10→5→1: device opened in {:.3} s; first epoch done {total:.3} s after opening began", opened);
    Ok(total)
}
