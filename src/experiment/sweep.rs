//! A grid search as scikit-learn's `GridSearchCV` runs one: every candidate configuration
//! scored by k-fold cross-validation on the development rows (all rows but the test split),
//! all of them trained together on the GPU ([`ModelGrid`]); the candidates ranked by their
//! mean validation loss; the best refit on the whole development set and scored once on the
//! test split beside the baseline, with the diagnosis of its folds' curves.

use crate::data::{baseline_loss, Dataset, Fold, Preprocessing, SplitConfig, Targets};
use crate::error::{Error, Result};
use crate::gpu::{block_on, Gpu};
use crate::metrics::Metrics;
use crate::nn::{Activation, Init, LossWeights, Mlp};
use crate::optim::{LrSchedule, OptimizerConfig};
use crate::train::{
    Divergence, EpochRecord, GridConfig, GridModel, History, ModelGrid, TrainConfig, Trainer,
};

use super::class_weight::ClassWeight;
use super::progress::GridProgress;
use super::{diagnose, evaluate_async, Diagnosis, Evaluation};

/// What [`Sweep::run_async`] calls after each submission of its grid: the epochs done, and
/// every candidate's folds' mean curves so far.
pub type CurveWatcher<'a> = dyn FnMut(usize, &[History]) -> Result<()> + 'a;

/// One configuration of a sweep (a candidate, in `GridSearchCV`'s words).
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Widths of the hidden layers.
    pub hidden: Vec<usize>,
    /// The activation after every hidden layer.
    pub activation: Activation,
    /// `nn.Dropout(p)` after every hidden layer's activation (0: none).
    pub dropout: f32,
    /// How the initial weights are drawn.
    pub init: Init,
    /// The optimizer and its hyperparameters (L1 and L2 included).
    pub optimizer: OptimizerConfig,
    /// How the learning rate changes from epoch to epoch.
    pub lr_schedule: LrSchedule,
}

impl Candidate {
    /// A short description: optimizer (with SGD's momentum), rate, penalties, widths, and the
    /// activation, the dropout and the initialisation unless they are the defaults.
    pub fn describe(&self) -> String {
        let (name, lr, l1, l2) = match self.optimizer {
            OptimizerConfig::Sgd(c) => ("sgd", c.lr, c.l1, c.weight_decay),
            OptimizerConfig::Adam(c) if c.decoupled_weight_decay => {
                ("adamw", c.lr, c.l1, c.weight_decay)
            }
            OptimizerConfig::Adam(c) => ("adam", c.lr, c.l1, c.weight_decay),
        };
        let momentum = match self.optimizer {
            OptimizerConfig::Sgd(c) if c.nesterov => format!(" nesterov={}", c.momentum),
            OptimizerConfig::Sgd(c) if c.momentum != 0.0 => format!(" momentum={}", c.momentum),
            _ => String::new(),
        };
        let hidden: Vec<String> = self.hidden.iter().map(usize::to_string).collect();
        let activation = match self.activation {
            Activation::Relu => String::new(),
            other => format!(" activation={other}"),
        };
        let dropout = match self.dropout {
            0.0 => String::new(),
            p => format!(" dropout={p}"),
        };
        let init = match self.init {
            Init::Default => String::new(),
            other => format!(" init={other}"),
        };
        format!(
            "{name}{momentum} lr={lr} l1={l1} l2={l2} hidden={}{activation}{dropout}{init}",
            hidden.join("-")
        )
    }
}

/// A grid search: candidates × k folds. `Default`: no candidates, 5 folds, 15% of the rows
/// held out for the test, 100 epochs of batches of 32, seed 0.
#[derive(Debug, Clone, PartialEq)]
pub struct Sweep {
    /// The configurations to compare.
    pub candidates: Vec<Candidate>,
    /// Folds of the cross-validation (stratified for classes), at least 2 (default 5).
    pub folds: usize,
    /// The test split held out of the cross-validation (its `validation` fraction must be 0:
    /// the folds take that role).
    pub split: SplitConfig,
    /// Epochs, batch size and early stopping of every model.
    pub grid: GridConfig,
    /// Seed of every model's initial weights and shuffles, and of the folds (default 0).
    pub seed: u64,
    /// How each model's loss weighs the classes (default none): balanced weights are counted
    /// on each fold's training rows, as `GridSearchCV` fits an estimator with
    /// `class_weight="balanced"` on each fold, and on all the development rows for the refit.
    pub class_weight: ClassWeight,
    /// Draw a bar of model-epochs on stderr while the grid trains, if it is a terminal
    /// (default false; needs the `progress` feature).
    pub progress: bool,
}

impl Default for Sweep {
    fn default() -> Self {
        Self {
            candidates: Vec::new(),
            folds: 5,
            split: SplitConfig {
                validation: 0.0,
                ..SplitConfig::default()
            },
            grid: GridConfig::default(),
            seed: 0,
            class_weight: ClassWeight::None,
            progress: false,
        }
    }
}

impl Sweep {
    /// The diabetes example's and the web demo's cross-validation: the six configurations of
    /// [`Experiment::classic_six`](super::Experiment::classic_six), in its order, on 5 folds of
    /// the rows outside [`Experiment::classic`](super::Experiment::classic)'s test split, each
    /// model with its epochs, batch size and early stopping, seeded with its weight seed.
    pub fn classic() -> Self {
        let six = super::Experiment::classic_six();
        let classic = &six[0].1;
        Sweep {
            candidates: six
                .iter()
                .map(|(_, e)| Candidate {
                    hidden: e.hidden.clone(),
                    activation: Activation::Relu,
                    dropout: 0.0,
                    init: e.init,
                    optimizer: e.optimizer,
                    lr_schedule: e.train.lr_schedule,
                })
                .collect(),
            folds: 5,
            split: SplitConfig {
                validation: 0.0,
                ..classic.split
            },
            class_weight: ClassWeight::None,
            grid: GridConfig {
                epochs: classic.train.epochs,
                batch_size: classic.train.batch_size,
                patience: classic.train.patience,
                min_delta: classic.train.min_delta,
                ..GridConfig::default()
            },
            seed: classic.model_seed,
            progress: false,
        }
    }
}

/// One candidate's scores over its folds, as a row of `GridSearchCV.cv_results_`.
#[derive(Debug, Clone, PartialEq)]
pub struct CandidateResult {
    /// The configuration.
    pub candidate: Candidate,
    /// `(metric, mean over folds, standard deviation over folds)` on the validation folds, in
    /// the data's units (the population standard deviation, as scikit-learn's `std_test_*`).
    pub validation: Vec<(&'static str, f64, f64)>,
    /// The same on each fold's training rows.
    pub train: Vec<(&'static str, f64, f64)>,
    /// (mean, standard deviation) over folds of the loss (MSE, BCE or cross-entropy, in the
    /// data's units) on the validation folds, which ranks the candidates.
    pub validation_loss: (f64, f64),
    /// The same on each fold's training rows.
    pub train_loss: (f64, f64),
    /// 1 for the lowest mean validation loss (ties share a rank, as scikit-learn's `rank_*`).
    pub rank: usize,
    /// Folds on which the model diverged (and was rolled back to its last good epoch).
    pub diverged_folds: usize,
}

/// One trained model of a sweep: a candidate on a fold.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModelResult {
    /// Index into the candidates.
    pub candidate: usize,
    /// The fold.
    pub fold: usize,
    /// Its learning curves (losses in the standardised units it trained in).
    pub history: History,
    /// Whether and where it diverged.
    pub diverged: Option<Divergence>,
    /// Its scores on its fold's validation rows and on its training rows, in the data's units.
    pub validation: Metrics,
    /// See `validation`.
    pub train: Metrics,
}

/// What a sweep found.
#[derive(Debug)]
pub struct SweepOutcome {
    /// Every candidate's scores, in the order given.
    pub candidates: Vec<CandidateResult>,
    /// Every model, candidate by candidate, fold by fold.
    pub models: Vec<ModelResult>,
    /// The index of the best candidate (rank 1; the first of a tie).
    pub best: usize,
    /// The best candidate refit on all development rows (for as many epochs as its folds ran
    /// to their best epoch on average with early stopping, else all epochs).
    pub refit: Mlp,
    /// The epochs the refit ran.
    pub refit_epochs: usize,
    /// The standardisation fitted on the development rows, which the refit model takes.
    pub preprocessing: Preprocessing,
    /// The refit model on the test split beside the baseline (scored once).
    pub test: Evaluation,
    /// The best candidate's folds' mean curves, read.
    pub diagnosis: Diagnosis,
}

impl Sweep {
    /// Runs the sweep on `data`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for no candidates, a validation fraction in `split`, or fewer
    /// than 2 folds; data, hyperparameter and device errors.
    pub fn run(&self, gpu: &Gpu, data: &Dataset) -> Result<SweepOutcome> {
        block_on("Sweep::run", self.run_async(gpu, data, None))
    }

    /// Async variant of [`Sweep::run`], the one to call in a browser. With `watch`, every
    /// candidate's folds' mean curves ([`History`], in the candidates' order) are read back
    /// after each submission of the grid and given to it with the epochs done, for curves
    /// drawn as they grow.
    ///
    /// # Errors
    /// As [`Sweep::run`], and whatever `watch` returns.
    pub async fn run_async(
        &self,
        gpu: &Gpu,
        data: &Dataset,
        watch: Option<&mut CurveWatcher<'_>>,
    ) -> Result<SweepOutcome> {
        let prepared = self.prepare(data)?;
        let models = self
            .train_models(gpu, data, &prepared, |_| true, watch)
            .await?;
        self.finish(gpu, data, &prepared, models).await
    }

    /// The test split, the folds of the development rows and their stacked copies.
    pub(super) fn prepare(&self, data: &Dataset) -> Result<Prepared> {
        let invalid = |detail: String| Error::InvalidArgument {
            op: "Sweep",
            detail,
        };
        if self.candidates.is_empty() {
            return Err(invalid("no candidates to compare".into()));
        }
        if self.split.validation != 0.0 {
            return Err(invalid(
                "split.validation must be 0: the folds hold out the validation rows".into(),
            ));
        }
        let split = data.split(&self.split)?;
        let folds = split.train.k_fold(self.folds, self.seed)?;
        // Each fold standardised with its own training rows' statistics (as a scikit-learn
        // Pipeline in GridSearchCV), the k copies side by side in one dataset.
        let (stacked, stacked_folds, fold_preprocessing) = stack_folds(&split.train, &folds)?;
        Ok(Prepared {
            development: split.train,
            test: split.test,
            folds,
            stacked,
            stacked_folds,
            fold_preprocessing,
        })
    }

    /// Trains the models `wanted(index)` picks (model `candidate × folds + fold`) together and
    /// scores each on its fold.
    pub(super) async fn train_models(
        &self,
        gpu: &Gpu,
        data: &Dataset,
        prepared: &Prepared,
        wanted: impl Fn(usize) -> bool,
        watch: Option<&mut CurveWatcher<'_>>,
    ) -> Result<Vec<ModelResult>> {
        let indices: Vec<usize> = (0..self.candidates.len() * self.folds)
            .filter(|&i| wanted(i))
            .collect();
        if indices.is_empty() {
            // A shard of a sweep with fewer models than shards: nothing to train.
            return Ok(Vec::new());
        }
        let fold_weights = (0..self.folds)
            .map(|f| {
                let train = prepared.development.subset(&prepared.folds[f].train);
                Ok(self.class_weight.resolve(&train)?.unwrap_or_default())
            })
            .collect::<Result<Vec<LossWeights>>>()?;
        let models: Vec<GridModel> = indices
            .iter()
            .map(|&i| GridModel {
                loss_weights: fold_weights[i % self.folds].clone(),
                hidden: self.candidates[i / self.folds].hidden.clone(),
                activations: vec![self.candidates[i / self.folds].activation],
                dropout: vec![self.candidates[i / self.folds].dropout],
                init: self.candidates[i / self.folds].init,
                optimizer: self.candidates[i / self.folds].optimizer,
                lr_schedule: self.candidates[i / self.folds].lr_schedule,
                seed: self.seed,
                fold: i % self.folds,
            })
            .collect();
        let results = {
            // Cleared when the grid is done, before anything else is printed.
            let bar = GridProgress::new(self.progress, models.len(), self.grid.epochs);
            let mut grid = ModelGrid::new(
                gpu,
                &prepared.stacked,
                &prepared.stacked_folds,
                models,
                self.grid.clone(),
            )?;
            match watch {
                Some(watch) => {
                    grid.fit_watching_async(|done, histories| {
                        bar.epochs_done(done);
                        watch(done, &self.candidate_curves(&indices, histories))
                    })
                    .await?
                }
                None => {
                    grid.fit_async(|done, _| {
                        bar.epochs_done(done);
                        Ok(())
                    })
                    .await?
                }
            }
        };
        let mut scored = Vec::with_capacity(results.len());
        for (&i, result) in indices.iter().zip(results) {
            let (candidate, fold) = (i / self.folds, i % self.folds);
            let init = self.candidates[candidate].init;
            let mlp = Mlp::new_with_init(gpu, &result.sizes, data.task(), init, self.seed)?
                .with_activations(&[self.candidates[candidate].activation])?
                .with_dropout(&[self.candidates[candidate].dropout])?;
            mlp.load_state_dict(gpu, &result.weights)?;
            let p = &prepared.fold_preprocessing[fold];
            let development = &prepared.development;
            let validation = development.subset(&prepared.folds[fold].validation);
            let train = development.subset(&prepared.folds[fold].train);
            scored.push(ModelResult {
                candidate,
                fold,
                validation: evaluate_async(gpu, &mlp, p, &validation).await?.model,
                train: evaluate_async(gpu, &mlp, p, &train).await?.model,
                history: result.history,
                diverged: result.diverged,
            });
        }
        Ok(scored)
    }

    /// Ranks the candidates by their models (all of them, candidate by candidate, fold by
    /// fold), refits the best and scores it on the test split.
    pub(super) async fn finish(
        &self,
        gpu: &Gpu,
        data: &Dataset,
        prepared: &Prepared,
        scored: Vec<ModelResult>,
    ) -> Result<SweepOutcome> {
        let development = &prepared.development;
        let candidates = rank(&self.candidates, &scored, self.folds);
        let best = candidates
            .iter()
            .position(|c| c.rank == 1)
            .unwrap_or_default();
        let best_models: Vec<&ModelResult> =
            scored.iter().filter(|m| m.candidate == best).collect();
        let refit_epochs = match self.grid.patience {
            Some(_) => {
                let epochs: Vec<f64> = best_models
                    .iter()
                    .map(|m| m.history.best_epoch.unwrap_or(m.history.epochs.len()) as f64)
                    .collect();
                (mean(&epochs).round() as usize).max(1)
            }
            None => self.grid.epochs,
        };
        let preprocessing = Preprocessing::fit(development);
        let scaled = preprocessing.apply(development)?;
        let best_candidate = &self.candidates[best];
        let mut sizes = vec![data.n_features()];
        sizes.extend(&best_candidate.hidden);
        sizes.push(data.n_outputs());
        let init = best_candidate.init;
        let model = Mlp::new_with_init(gpu, &sizes, data.task(), init, self.seed)?
            .with_activations(&[best_candidate.activation])?
            .with_dropout(&[best_candidate.dropout])?
            .with_loss_weights(self.class_weight.resolve(development)?.unwrap_or_default())?;
        let config = TrainConfig {
            epochs: refit_epochs,
            batch_size: self.grid.batch_size,
            seed: self.seed,
            lr_schedule: best_candidate.lr_schedule,
            clip_grad_norm: self.grid.clip_grad_norm,
            ..TrainConfig::default()
        };
        let mut trainer =
            Trainer::new(gpu, model, best_candidate.optimizer, &scaled, None, config)?;
        trainer.fit_async().await?;
        let refit = trainer.into_model();
        let test = evaluate_async(gpu, &refit, &preprocessing, &prepared.test).await?;
        let best_curves: Vec<&History> = best_models.iter().map(|m| &m.history).collect();
        let curves = mean_curves(&best_curves);
        let diagnosis = diagnose(&curves, baseline_loss(&scaled));
        Ok(SweepOutcome {
            candidates,
            models: scored,
            best,
            refit,
            refit_epochs,
            preprocessing,
            test,
            diagnosis,
        })
    }
}

impl Sweep {
    /// Each candidate's folds' mean curves, from the curves of the models `indices` names.
    fn candidate_curves(&self, indices: &[usize], histories: &[History]) -> Vec<History> {
        (0..self.candidates.len())
            .map(|c| {
                let folds: Vec<&History> = indices
                    .iter()
                    .zip(histories)
                    .filter(|(&i, _)| i / self.folds == c)
                    .map(|(_, h)| h)
                    .collect();
                mean_curves(&folds)
            })
            .collect()
    }
}

/// What every part of a sweep works from: the split, the folds, their stacked copies.
pub(super) struct Prepared {
    development: Dataset,
    test: Dataset,
    folds: Vec<Fold>,
    stacked: Dataset,
    stacked_folds: Vec<Fold>,
    fold_preprocessing: Vec<Preprocessing>,
}

impl SweepOutcome {
    /// Every model's learning curves as CSV: `candidate,fold,epoch,train_loss,validation_loss`
    /// (losses in the standardised units the models trained in).
    pub fn curves_csv(&self) -> String {
        let mut out = String::from("candidate,fold,epoch,train_loss,validation_loss\n");
        for m in &self.models {
            for r in &m.history.epochs {
                let validation = r.validation_loss.map(|v| v.to_string()).unwrap_or_default();
                out += &format!(
                    "{},{},{},{},{validation}\n",
                    m.candidate, m.fold, r.epoch, r.train_loss
                );
            }
        }
        out
    }
}

/// The development rows once per fold, each copy standardised with its fold's training rows'
/// statistics, in one dataset; the folds as row indices into it; each fold's preprocessing.
fn stack_folds(
    development: &Dataset,
    folds: &[Fold],
) -> Result<(Dataset, Vec<Fold>, Vec<Preprocessing>)> {
    let n = development.len();
    let mut features = Vec::with_capacity(n * development.n_features() * folds.len());
    let mut values = Vec::new();
    let mut classes = Vec::new();
    let mut preprocessing = Vec::with_capacity(folds.len());
    let mut stacked_folds = Vec::with_capacity(folds.len());
    for (f, fold) in folds.iter().enumerate() {
        let p = Preprocessing::fit(&development.subset(&fold.train));
        let scaled = p.apply(development)?;
        features.extend_from_slice(scaled.features());
        match scaled.targets() {
            Targets::Values(v) => values.extend_from_slice(v),
            Targets::Classes(c) => classes.extend_from_slice(c),
        }
        let offset = |rows: &[usize]| rows.iter().map(|r| r + f * n).collect();
        stacked_folds.push(Fold {
            train: offset(&fold.train),
            validation: offset(&fold.validation),
        });
        preprocessing.push(p);
    }
    let nf = development.n_features();
    let stacked = match development.targets() {
        Targets::Values(_) => Dataset::regression(features, nf, values)?,
        Targets::Classes(_) => {
            Dataset::classification(features, nf, classes, development.class_names().to_vec())?
        }
    };
    Ok((stacked, stacked_folds, preprocessing))
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

/// The population standard deviation (NumPy's `std`, which `GridSearchCV` reports).
fn std(values: &[f64]) -> f64 {
    let m = mean(values);
    (values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / values.len().max(1) as f64).sqrt()
}

/// `(name, mean, std)` of each metric over `metrics`.
fn summary(metrics: &[&Metrics]) -> Vec<(&'static str, f64, f64)> {
    let names = metrics[0].named_values();
    names
        .iter()
        .enumerate()
        .map(|(i, (name, _))| {
            let values: Vec<f64> = metrics.iter().map(|m| m.named_values()[i].1).collect();
            (*name, mean(&values), std(&values))
        })
        .collect()
}

/// Each candidate's summary, ranked by mean validation loss (lowest first; equal means share
/// a rank and the next rank skips, as scikit-learn's `rankdata(method="min")`).
fn rank(candidates: &[Candidate], models: &[ModelResult], folds: usize) -> Vec<CandidateResult> {
    let mut out: Vec<CandidateResult> = candidates
        .iter()
        .enumerate()
        .map(|(c, candidate)| {
            let mine: Vec<&ModelResult> = models.iter().filter(|m| m.candidate == c).collect();
            debug_assert_eq!(mine.len(), folds);
            let validation: Vec<&Metrics> = mine.iter().map(|m| &m.validation).collect();
            let train: Vec<&Metrics> = mine.iter().map(|m| &m.train).collect();
            let losses = |metrics: &[&Metrics]| {
                let values: Vec<f64> = metrics.iter().map(|m| m.loss()).collect();
                (mean(&values), std(&values))
            };
            CandidateResult {
                candidate: candidate.clone(),
                validation_loss: losses(&validation),
                train_loss: losses(&train),
                validation: summary(&validation),
                train: summary(&train),
                rank: 0,
                diverged_folds: mine.iter().filter(|m| m.diverged.is_some()).count(),
            }
        })
        .collect();
    // A NaN mean (a fold's loss NaN) ranks last.
    let losses: Vec<f64> = out
        .iter()
        .map(|c| match c.validation_loss.0 {
            m if m.is_nan() => f64::INFINITY,
            m => m,
        })
        .collect();
    for (c, result) in out.iter_mut().enumerate() {
        result.rank = 1 + losses.iter().filter(|&&l| l < losses[c]).count();
    }
    out
}

/// The mean over folds of each epoch's training and validation loss (over the folds that ran
/// that epoch), with the best epoch where the mean validation loss is lowest.
pub(super) fn mean_curves(models: &[&History]) -> History {
    let epochs = models.iter().map(|m| m.epochs.len()).max().unwrap_or(0);
    let mut history = History::default();
    for e in 0..epochs {
        let ran: Vec<&EpochRecord> = models.iter().filter_map(|m| m.epochs.get(e)).collect();
        let train: Vec<f64> = ran.iter().map(|r| r.train_loss).collect();
        let validation: Vec<f64> = ran.iter().filter_map(|r| r.validation_loss).collect();
        history.epochs.push(EpochRecord {
            epoch: e + 1,
            train_loss: mean(&train),
            validation_loss: (!validation.is_empty()).then(|| mean(&validation)),
            step_losses: Vec::new(),
        });
    }
    history.best_epoch = history
        .epochs
        .iter()
        .filter_map(|r| r.validation_loss.map(|v| (r.epoch, v)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(e, _)| e);
    history.stopped_early = models.iter().any(|m| m.stopped_early);
    history
}

/// Each epoch's mean validation loss ± its standard deviation over the folds that ran it.
#[cfg_attr(not(feature = "plots"), allow(dead_code))]
pub(super) fn fold_spread(models: &[&ModelResult]) -> Vec<(usize, f64, f64)> {
    let epochs = models.iter().map(|m| m.history.epochs.len()).max();
    (0..epochs.unwrap_or(0))
        .filter_map(|e| {
            let losses: Vec<f64> = models
                .iter()
                .filter_map(|m| m.history.epochs.get(e)?.validation_loss)
                .collect();
            (!losses.is_empty()).then(|| {
                let (m, s) = (mean(&losses), std(&losses));
                (e + 1, m - s, m + s)
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_candidate_is_described_by_what_sets_it_apart() {
        use crate::optim::{AdamConfig, SgdConfig};
        let candidate = |optimizer: OptimizerConfig| Candidate {
            hidden: vec![8, 4],
            activation: Activation::Relu,
            dropout: 0.0,
            init: Init::Default,
            optimizer,
            lr_schedule: LrSchedule::Constant,
        };
        let sgd = SgdConfig {
            lr: 0.01,
            momentum: 0.9,
            ..SgdConfig::default()
        };
        assert_eq!(
            candidate(sgd.into()).describe(),
            "sgd momentum=0.9 lr=0.01 l1=0 l2=0 hidden=8-4"
        );
        let nesterov = SgdConfig {
            nesterov: true,
            ..sgd
        };
        assert!(candidate(nesterov.into())
            .describe()
            .starts_with("sgd nesterov=0.9 lr=0.01"));
        let adamw = AdamConfig {
            l1: 1e-3,
            weight_decay: 0.01,
            ..AdamConfig::adamw()
        };
        assert_eq!(
            candidate(adamw.into()).describe(),
            "adamw lr=0.001 l1=0.001 l2=0.01 hidden=8-4"
        );
        let leaky = Candidate {
            activation: Activation::LeakyRelu {
                negative_slope: 0.2,
            },
            ..candidate(adamw.into())
        };
        assert!(leaky
            .describe()
            .ends_with("hidden=8-4 activation=leaky_relu:0.2"));
        let dropped = Candidate {
            dropout: 0.25,
            ..leaky
        };
        assert!(dropped
            .describe()
            .ends_with("activation=leaky_relu:0.2 dropout=0.25"));
    }

    #[test]
    fn the_standard_deviation_is_numpys() {
        assert!((std(&[1.0, 2.0, 3.0, 4.0]) - 1.118_033_988_749_895).abs() < 1e-15);
        assert_eq!(mean(&[1.0, 2.0, 3.0, 4.0]), 2.5);
    }
}
