//! One complete experiment: split and standardise, build the MLP, train with validation,
//! evaluate on every split beside the baseline, and diagnose.

use crate::data::{Dataset, SplitConfig};
use crate::error::Result;
use crate::gpu::Gpu;
use crate::nn::Mlp;
use crate::optim::OptimizerConfig;

use super::{
    baseline_loss, diagnose, evaluate, Diagnosis, Evaluation, History, Metrics, Prepared,
    TrainConfig, Trainer,
};

/// What to train and how. `hidden` are the hidden layer sizes; inputs and outputs come from
/// the data.
#[derive(Debug, Clone, PartialEq)]
pub struct Experiment {
    /// Hidden layer sizes, e.g. `[5]` for the classic 10→5→1.
    pub hidden: Vec<usize>,
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
    /// Runs the experiment on `data`.
    ///
    /// # Errors
    /// Data, hyperparameter and device errors, and [`crate::Error::NonFinite`] if training
    /// diverges.
    pub fn run(&self, gpu: &Gpu, data: &Dataset) -> Result<Outcome> {
        let prepared = Prepared::new(data, &self.split)?;
        let mut sizes = vec![data.n_features()];
        sizes.extend(&self.hidden);
        sizes.push(data.n_outputs());
        let model = Mlp::new(gpu, &sizes, data.task(), self.model_seed)?;
        let mut trainer = Trainer::new(
            gpu,
            model,
            self.optimizer,
            &prepared.train,
            Some(&prepared.validation),
            self.train.clone(),
        )?;
        let history = trainer.fit()?.clone();
        let model = trainer.into_model();
        let (o, p) = (&prepared.original, &prepared.preprocessing);
        let scores = [
            evaluate(gpu, &model, p, &o.train)?,
            evaluate(gpu, &model, p, &o.validation)?,
            evaluate(gpu, &model, p, &o.test)?,
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
