//! The application layer, above training: one complete experiment (split and standardise,
//! build the MLP, train with validation, evaluate on every split beside the baseline,
//! diagnose), its report, learning-curve files and progress bar. The command line calls it,
//! and so do the examples, so both print the same tables.

mod class_weight;
mod diagnosis;
mod evaluation;
#[cfg(feature = "plots")]
mod plot;
mod predict;
mod progress;
mod shard;
mod sweep;

pub use class_weight::ClassWeight;
pub use diagnosis::{diagnose, Diagnosis};
pub use evaluation::{evaluate, evaluate_async, Evaluation};
#[cfg(feature = "plots")]
pub use plot::{plot_curves, plot_sweep};
pub use predict::{predict, Predictions};
pub use shard::{Shard, SweepShard};
pub use sweep::{Candidate, CandidateResult, CurveWatcher, ModelResult, Sweep, SweepOutcome};

use std::path::{Path, PathBuf};

use crate::checkpoint::{restore_training, save, Restored, RunInfo, SplitRecord};
use crate::data::{baseline_loss, Dataset, Prepared, SplitConfig};
use crate::error::{Error, Result};
use crate::gpu::{block_on, Gpu};
use crate::metrics::Metrics;
use crate::nn::{dropout_per_hidden_layer, per_hidden_layer, Activation, Init, Mlp};
use crate::optim::{AdamConfig, OptimizerConfig, SgdConfig};
use crate::train::{History, TrainConfig, Trainer};
use progress::Progress;

/// What to train and how. `hidden` are the hidden layer sizes; inputs and outputs come from
/// the data.
#[derive(Debug, Clone, PartialEq)]
pub struct Experiment {
    /// Hidden layer sizes, e.g. `[5]` for the classic 10→5→1.
    pub hidden: Vec<usize>,
    /// The activation after each hidden layer: one for all of them, or one each (empty:
    /// ReLU everywhere, the default).
    pub activations: Vec<Activation>,
    /// `nn.Dropout(p)` after each hidden layer's activation: one probability for all of them,
    /// or one each (empty, or 0: none, the default). See [`Mlp::with_dropout`].
    pub dropout: Vec<f32>,
    /// How the initial weights are drawn (`Init::Default`: `nn.Linear`'s).
    pub init: Init,
    /// How the loss weighs the classes (default none; [`ClassWeight::Balanced`]: scikit-learn's
    /// balanced weights from the training split).
    pub class_weight: ClassWeight,
    /// The optimizer and its hyperparameters (L1 and L2 included).
    pub optimizer: OptimizerConfig,
    /// Epochs, batch size, shuffle seed, early stopping.
    pub train: TrainConfig,
    /// The train/validation/test split.
    pub split: SplitConfig,
    /// Seed of the weight initialisation.
    pub model_seed: u64,
}

/// What an experiment produced.
#[derive(Debug)]
pub struct Outcome {
    /// The trained model (the best validation epoch's weights if early stopping was on).
    pub model: Mlp,
    /// The splits, standardised, with their scalers.
    pub prepared: Prepared,
    /// The learning curves.
    pub history: History,
    /// Scores on train, validation and test, each beside the baseline.
    pub scores: [Evaluation; 3],
    /// The plain-words reading of the curves.
    pub diagnosis: Diagnosis,
}

impl Experiment {
    /// The classic 10→5→1 setting this crate grew from, with `optimizer`: one hidden layer of
    /// 5, batches of 32, up to 500 epochs with early stopping (patience 50, `min_delta` 1e-4),
    /// the 70/15/15 split with seed 2024, shuffle seed 1 and weight seed 7 (on the small-model
    /// path where the device allows it, as every run by default). The diabetes example and the
    /// web demo both run it, so their figures agree.
    pub fn classic(optimizer: OptimizerConfig) -> Self {
        Self {
            hidden: vec![5],
            activations: Vec::new(),
            dropout: Vec::new(),
            init: Init::Default,
            class_weight: ClassWeight::None,
            optimizer,
            train: TrainConfig {
                epochs: 500,
                batch_size: 32,
                seed: 1,
                patience: Some(50),
                min_delta: 1e-4,
                ..TrainConfig::default()
            },
            split: SplitConfig {
                seed: 2024,
                ..SplitConfig::default()
            },
            model_seed: 7,
        }
    }

    /// The six configurations the diabetes example and the web demo compare, each in
    /// [`Experiment::classic`]'s setting: SGD (lr 0.01, momentum 0.9) and Adam (lr 0.003),
    /// each plain, with L1 (1e-3) and with L2 (weight decay 1e-2), named.
    pub fn classic_six() -> Vec<(&'static str, Experiment)> {
        let sgd = SgdConfig {
            lr: 0.01,
            momentum: 0.9,
            ..SgdConfig::default()
        };
        let adam = AdamConfig {
            lr: 0.003,
            ..AdamConfig::default()
        };
        let l2 = 1e-2;
        [
            ("SGD", sgd.into()),
            ("SGD + L1", SgdConfig { l1: 1e-3, ..sgd }.into()),
            (
                "SGD + L2",
                SgdConfig {
                    weight_decay: l2,
                    ..sgd
                }
                .into(),
            ),
            ("Adam", adam.into()),
            ("Adam + L1", AdamConfig { l1: 1e-3, ..adam }.into()),
            (
                "Adam + L2",
                AdamConfig {
                    weight_decay: l2,
                    ..adam
                }
                .into(),
            ),
        ]
        .into_iter()
        .map(|(name, optimizer)| (name, Experiment::classic(optimizer)))
        .collect()
    }

    /// Runs the experiment on `data`: [`Experiment::start`], [`Run::fit`], [`Run::finish`].
    /// Shows a progress bar while training when stderr is a terminal.
    ///
    /// # Errors
    /// Data, hyperparameter and device errors, and [`crate::Error::NonFinite`] if training
    /// diverges.
    pub fn run(&self, gpu: &Gpu, data: &Dataset) -> Result<Outcome> {
        block_on("Experiment::run", self.run_async(gpu, data))
    }

    /// Async variant of [`Experiment::run`], the one to call in a browser.
    ///
    /// # Errors
    /// As [`Experiment::run`].
    pub async fn run_async(&self, gpu: &Gpu, data: &Dataset) -> Result<Outcome> {
        let mut run = self.start(gpu, data)?;
        run.fit_async(|_, _| Ok(())).await?;
        run.finish_async().await
    }

    /// Checks every setting (optimizer, training, split) without data or a device, so a
    /// mistake is reported before anything slow happens.
    ///
    /// # Errors
    /// [`Error::InvalidHyperparameter`], [`Error::InvalidArgument`] or [`Error::Data`] naming
    /// the first value out of range.
    pub fn validate(&self) -> Result<()> {
        if self.hidden.contains(&0) {
            return Err(Error::InvalidArgument {
                op: "Experiment",
                detail: format!(
                    "hidden layer sizes must be at least 1, got {:?}",
                    self.hidden
                ),
            });
        }
        let mut sizes = vec![1];
        sizes.extend(&self.hidden);
        sizes.push(1);
        per_hidden_layer("Experiment", &self.activations, &sizes)?;
        dropout_per_hidden_layer("Experiment", &self.dropout, &sizes)?;
        self.init.validate()?;
        self.optimizer.validate()?;
        self.train.validate()?;
        self.split.validate()
    }

    /// The layer sizes for `data`: its features, the hidden layers, its outputs.
    pub fn sizes(&self, data: &Dataset) -> Vec<usize> {
        let mut sizes = vec![data.n_features()];
        sizes.extend(&self.hidden);
        sizes.push(data.n_outputs());
        sizes
    }

    /// Splits and standardises `data` and builds a new model and its trainer, ready to
    /// [`Run::fit`].
    ///
    /// # Errors
    /// As [`Experiment::run`], before any training.
    pub fn start<'g>(&self, gpu: &'g Gpu, data: &Dataset) -> Result<Run<'g>> {
        let model = Mlp::new_with_init(
            gpu,
            &self.sizes(data),
            data.task(),
            self.init,
            self.model_seed,
        )?
        .with_activations(&self.activations)?
        .with_dropout(&self.dropout)?;
        self.start_with(gpu, data, model)
    }

    /// As [`Experiment::start`], training `model` of your own (pretrained weights, say). To
    /// resume a saved run, [`Experiment::start`] and then [`Run::restore`]. A
    /// [`class_weight`](Experiment::class_weight) other than `None` replaces the model's loss
    /// weights.
    ///
    /// # Errors
    /// As [`Experiment::start`]; [`Error::ModelMismatch`] when the model does not fit the data.
    pub fn start_with<'g>(&self, gpu: &'g Gpu, data: &Dataset, model: Mlp) -> Result<Run<'g>> {
        self.validate()?;
        let prepared = Prepared::new(data, &self.split)?;
        let model = match self.class_weight.resolve(&prepared.train)? {
            Some(weights) => model.with_loss_weights(weights)?,
            None => model,
        };
        let trainer = Trainer::new(
            gpu,
            model,
            self.optimizer,
            &prepared.train,
            Some(&prepared.validation),
            self.train.clone(),
        )?;
        let split = SplitRecord::of(data, &self.split);
        Ok(Run {
            gpu,
            prepared,
            trainer,
            split,
            progress: true,
        })
    }
}

/// An experiment under way: the prepared splits and the trainer.
pub struct Run<'g> {
    gpu: &'g Gpu,
    prepared: Prepared,
    trainer: Trainer<'g>,
    /// Which data was split how, for checkpoints.
    split: SplitRecord,
    progress: bool,
}

impl std::fmt::Debug for Run<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Run")
            .field("trainer", &self.trainer)
            .finish_non_exhaustive()
    }
}

impl<'g> Run<'g> {
    /// The splits, standardised, with their scalers.
    pub fn prepared(&self) -> &Prepared {
        &self.prepared
    }

    /// The trainer.
    pub fn trainer(&self) -> &Trainer<'g> {
        &self.trainer
    }

    /// The trainer, e.g. to set a learning rate by hand between epochs.
    pub fn trainer_mut(&mut self) -> &mut Trainer<'g> {
        &mut self.trainer
    }

    /// What a checkpoint of this run records besides the trainer: the preprocessing, the
    /// data's fingerprint and the split.
    pub fn info(&self) -> RunInfo<'_> {
        run_info(&self.prepared, self.split)
    }

    /// Saves the model to `path` and the training state beside it ([`crate::checkpoint::save`]).
    ///
    /// # Errors
    /// [`Error::Io`] when a file cannot be written (the previous files stay intact).
    pub fn save(&self, path: &Path) -> Result<()> {
        save(self.gpu, path, &self.trainer, &self.info())
    }

    /// Continues the run saved at `path`: its weights, optimizer state, best weights and
    /// history. The data, split, architecture and every hyperparameter must be the saved
    /// run's; more epochs, another patience or min_delta are allowed and returned.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] naming the setting that differs, with both values, or the file
    /// that is missing or damaged; the run is unchanged then.
    pub fn restore(&mut self, path: &Path) -> Result<Restored> {
        let info = run_info(&self.prepared, self.split);
        restore_training(self.gpu, path, &mut self.trainer, &info)
    }

    /// Whether [`Run::fit`] shows a progress bar (default true; it is drawn only when stderr is
    /// a terminal, and only with the `progress` feature).
    pub fn set_progress(&mut self, on: bool) {
        self.progress = on;
    }

    /// Trains on to the configured epochs (or early stopping), calling `after_epoch` with the
    /// trainer and the run's [`RunInfo`] after every epoch, e.g. to save a checkpoint with
    /// [`crate::checkpoint::save`].
    ///
    /// # Errors
    /// As [`Trainer::fit_with`]. After a divergence the trainer is back at the last finite
    /// epoch, and [`Run::save`] saves that.
    pub fn fit(&mut self, after_epoch: impl FnMut(&Trainer, &RunInfo) -> Result<()>) -> Result<()> {
        block_on("Run::fit", self.fit_async(after_epoch))
    }

    /// Async variant of [`Run::fit`], the one to call in a browser (`after_epoch` is where a
    /// page draws its curves).
    ///
    /// # Errors
    /// As [`Run::fit`].
    pub async fn fit_async(
        &mut self,
        mut after_epoch: impl FnMut(&Trainer, &RunInfo) -> Result<()>,
    ) -> Result<()> {
        let bar = Progress::new(self.progress, &self.trainer);
        let info = run_info(&self.prepared, self.split);
        self.trainer
            .fit_with_async(|trainer| {
                bar.epoch_done(trainer);
                after_epoch(trainer, &info)
            })
            .await?;
        Ok(())
    }

    /// Scores the trained model on every split beside the baseline, and diagnoses the curves.
    ///
    /// # Errors
    /// Device errors.
    pub fn finish(self) -> Result<Outcome> {
        block_on("Run::finish", self.finish_async())
    }

    /// Async variant of [`Run::finish`], the one to call in a browser.
    ///
    /// # Errors
    /// As [`Run::finish`].
    pub async fn finish_async(self) -> Result<Outcome> {
        let gpu = self.gpu;
        let prepared = self.prepared;
        let history = self.trainer.history().clone();
        let model = self.trainer.into_model();
        let (o, p) = (&prepared.original, &prepared.preprocessing);
        let scores = [
            evaluate_async(gpu, &model, p, &o.train).await?,
            evaluate_async(gpu, &model, p, &o.validation).await?,
            evaluate_async(gpu, &model, p, &o.test).await?,
        ];
        let diagnosis = diagnose(&history, baseline_loss(&prepared.train));
        Ok(Outcome {
            model,
            prepared,
            history,
            scores,
            diagnosis,
        })
    }
}

/// The [`RunInfo`] of a run from its parts (a function of the fields, so a method can borrow
/// the trainer mutably beside it).
fn run_info(prepared: &Prepared, split: SplitRecord) -> RunInfo<'_> {
    RunInfo {
        preprocessing: Some(&prepared.preprocessing),
        split: Some(split),
    }
}

/// Writes `history` as `curves.csv` (and, with the `plots` feature, `curves.svg` titled
/// `title`) into `dir`, creating it; returns the files written.
///
/// # Errors
/// [`Error::Io`] naming the path that could not be written.
pub fn write_curves(dir: &Path, title: &str, history: &History) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.display().to_string(),
        source,
    })?;
    let csv = dir.join("curves.csv");
    crate::fs::write_atomic(&csv, history.to_csv().as_bytes())?;
    #[allow(unused_mut)] // without the plots feature only the CSV is written
    let mut written = vec![csv];
    #[cfg(feature = "plots")]
    {
        let svg = dir.join("curves.svg");
        plot_curves(&svg, title, &[(String::new(), history)])?;
        written.push(svg);
    }
    #[cfg(not(feature = "plots"))]
    let _ = title;
    Ok(written)
}

impl Outcome {
    /// The scores as a table: one row per metric, model and baseline on each split.
    pub fn report(&self) -> String {
        let names = ["train", "validation", "test"];
        let mut out = format!("{:<14}", "metric");
        for n in names {
            out.push_str(&format!(" {:>11} {:>10}", n, "baseline"));
        }
        out.push('\n');
        // Model and baseline on each split, side by side: six columns of the same metrics.
        let columns: Vec<Vec<(&str, f64)>> = self
            .scores
            .iter()
            .flat_map(|e| [e.model.named_values(), e.baseline.named_values()])
            .collect();
        for (row, (name, _)) in columns[0].iter().enumerate() {
            out.push_str(&format!("{name:<14}"));
            for column in &columns {
                out.push_str(&format!(" {:>11.4}", column[row].1));
            }
            out.push('\n');
        }
        let constant: Vec<&str> = names
            .iter()
            .zip(&self.scores)
            .filter(|(_, e)| matches!(e.model, Metrics::Regression(r) if r.constant_targets))
            .map(|(name, _)| *name)
            .collect();
        if let Some(note) = crate::metrics::constant_target_note(&constant) {
            out.push_str(&note);
            out.push('\n');
        }
        if let Metrics::Multiclass(m) = &self.scores[2].model {
            out.push_str("test confusion matrix (rows: actual, columns: predicted)\n");
            for row in &m.confusion {
                out.push_str(&row.iter().map(|c| format!("{c:>6}")).collect::<String>());
                out.push('\n');
            }
        }
        out
    }
}
