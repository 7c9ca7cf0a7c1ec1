//! Seeded train/validation/test splits and k-fold cross-validation, stratified by class for
//! classification so every split keeps the class proportions.

use super::{Dataset, Targets};
use crate::error::{Error, Result};
use crate::rng::SeededRng;

/// How to split a dataset. `Default`: 70% train, 15% validation, 15% test, seed 0, stratified.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SplitConfig {
    /// Fraction of rows for validation (default 0.15).
    pub validation: f64,
    /// Fraction of rows for the test split (default 0.15).
    pub test: f64,
    /// Seed of the shuffle (default 0).
    pub seed: u64,
    /// Keep class proportions in every split (default true; ignored for regression).
    pub stratify: bool,
}

impl Default for SplitConfig {
    fn default() -> Self {
        Self {
            validation: 0.15,
            test: 0.15,
            seed: 0,
            stratify: true,
        }
    }
}

/// A dataset split three ways, with the row indices of each part in the original dataset.
#[derive(Debug, Clone)]
pub struct Split {
    /// Rows to train on.
    pub train: Dataset,
    /// Rows to choose hyperparameters and stop early on.
    pub validation: Dataset,
    /// Rows to report the final score on, used once.
    pub test: Dataset,
    /// Original row indices of `train`, `validation` and `test`.
    pub indices: [Vec<usize>; 3],
}

/// One fold of k-fold cross-validation: row indices in the original dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fold {
    /// Rows to train on.
    pub train: Vec<usize>,
    /// Rows held out in this fold.
    pub validation: Vec<usize>,
}

impl SplitConfig {
    /// Checks the fractions: each in [0, 1), together leaving rows for training.
    ///
    /// # Errors
    /// [`Error::Data`] naming both fractions.
    pub fn validate(&self) -> Result<()> {
        let (v, t) = (self.validation, self.test);
        if !(0.0..1.0).contains(&v) || !(0.0..1.0).contains(&t) || v + t >= 1.0 {
            return Err(Error::Data(format!(
                "split fractions must be in [0, 1) and leave rows for training (validation {v}, test {t})"
            )));
        }
        Ok(())
    }
}

impl Dataset {
    /// Splits the rows into train, validation and test, shuffled with `config.seed`.
    ///
    /// # Errors
    /// [`Error::Data`] when a fraction is outside [0, 1), they sum to 1 or more, or a part
    /// asked for (a fraction above 0, and training) would get no rows.
    pub fn split(&self, config: &SplitConfig) -> Result<Split> {
        config.validate()?;
        let (v, t) = (config.validation, config.test);
        let mut parts: [Vec<usize>; 3] = Default::default();
        for stratum in self.strata(config.stratify, config.seed) {
            let n = stratum.len() as f64;
            let n_test = (n * t).round() as usize;
            let n_val = (n * v).round() as usize;
            let (test, rest) = stratum.split_at(n_test.min(stratum.len()));
            let (val, train) = rest.split_at(n_val.min(rest.len()));
            parts[0].extend_from_slice(train);
            parts[1].extend_from_slice(val);
            parts[2].extend_from_slice(test);
        }
        // A part asked for (training always) must get rows; a fraction of 0 asks for none.
        let wanted = [1.0, v, t];
        for ((part, name), fraction) in parts
            .iter_mut()
            .zip(["training", "validation", "test"])
            .zip(wanted)
        {
            if part.is_empty() && fraction > 0.0 {
                return Err(Error::Data(format!(
                    "the {name} split is empty: {fraction} of {} rounds to none; use larger fractions or more data",
                    super::rows(self.len())
                )));
            }
            part.sort_unstable();
        }
        Ok(Split {
            train: self.subset(&parts[0]),
            validation: self.subset(&parts[1]),
            test: self.subset(&parts[2]),
            indices: parts,
        })
    }

    /// `k` folds whose validation parts partition the rows (stratified for classification).
    ///
    /// # Errors
    /// [`Error::Data`] for k < 2 or more folds than rows.
    pub fn k_fold(&self, k: usize, seed: u64) -> Result<Vec<Fold>> {
        if k < 2 || k > self.len() {
            return Err(Error::Data(format!(
                "k-fold needs 2 ≤ k ≤ {} rows, got k = {k}",
                self.len()
            )));
        }
        let mut held_out: Vec<Vec<usize>> = vec![Vec::new(); k];
        // Deal each stratum's shuffled rows round-robin, continuing where the last left off,
        // so fold sizes differ by at most one.
        let mut next = 0;
        for stratum in self.strata(true, seed) {
            for row in stratum {
                held_out[next % k].push(row);
                next += 1;
            }
        }
        Ok(held_out
            .into_iter()
            .map(|mut validation| {
                validation.sort_unstable();
                let train = (0..self.len())
                    .filter(|i| validation.binary_search(i).is_err())
                    .collect();
                Fold { train, validation }
            })
            .collect())
    }

    /// Shuffled row indices, one group per class when stratifying a classification dataset.
    fn strata(&self, stratify: bool, seed: u64) -> Vec<Vec<usize>> {
        let mut rng = SeededRng::new(seed);
        let mut groups = match (&self.targets, stratify) {
            (Targets::Classes(labels), true) => {
                let mut groups = vec![Vec::new(); self.class_names.len()];
                for (row, &label) in labels.iter().enumerate() {
                    groups[label as usize].push(row);
                }
                groups
            }
            _ => vec![(0..self.len()).collect()],
        };
        for group in &mut groups {
            rng.shuffle(group);
        }
        groups
    }
}
