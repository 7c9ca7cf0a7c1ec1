//! Datasets: loading (slices, CSV, Parquet, built-in), seeded splits (stratified for classification),
//! k-fold cross-validation, and standardisation fitted on the training split only.

#[cfg(feature = "diabetes")]
mod builtin;
mod csv;
mod labels;
#[cfg(feature = "parquet")]
mod parquet;
mod prepare;
mod split;
mod standardize;

pub use self::csv::{load_csv, load_csv_from_reader, read_features, CsvOptions, TargetColumn};
#[cfg(feature = "parquet")]
pub use self::parquet::{load_parquet, read_parquet_features, ParquetOptions};
#[cfg(feature = "diabetes")]
pub use builtin::diabetes;
#[cfg(feature = "datasets")]
pub use builtin::{iris, wine_quality};
pub use prepare::{baseline_loss, class_frequencies, Prepared, Preprocessing};
pub use split::{Fold, Split, SplitConfig};
pub use standardize::{Standardizer, TargetScaler};

use std::sync::Arc;

use crate::error::{Error, Result};

/// What a dataset's target is, and so which loss and metrics apply. In JSON: `"regression"`,
/// `"binary"` or `"multiclass"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// One real-valued target; MSE.
    Regression,
    /// Two classes; one logit, binary cross-entropy with logits.
    Binary,
    /// Three or more classes; one logit per class, softmax cross-entropy.
    Multiclass,
}

impl std::fmt::Display for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Task::Regression => "regression",
            Task::Binary => "binary classification",
            Task::Multiclass => "multiclass classification",
        })
    }
}

/// The targets of a dataset.
#[derive(Debug, Clone, PartialEq)]
pub enum Targets {
    /// One value per row (regression).
    Values(Vec<f32>),
    /// One class index per row, below the number of class names.
    Classes(Vec<u32>),
}

/// Rows of features with one target each, held on the host. Row-major f32.
///
/// Cloning shares the features (a reference count, not a copy), so a trainer that streams a
/// large training split from the host keeps no second copy of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    features: Arc<Vec<f32>>,
    n_features: usize,
    feature_names: Vec<String>,
    targets: Targets,
    class_names: Vec<String>,
}

impl Dataset {
    /// A regression dataset: `features` row-major with `n_features` per row, one target a row.
    ///
    /// # Errors
    /// [`Error::Data`] for no rows, a length that does not fit, or a NaN/infinite value
    /// (naming its row and column).
    pub fn regression(features: Vec<f32>, n_features: usize, targets: Vec<f32>) -> Result<Self> {
        check_features(&features, n_features, targets.len())?;
        if let Some(row) = targets.iter().position(|t| !t.is_finite()) {
            return Err(Error::Data(format!(
                "target of row {row} is {}",
                targets[row]
            )));
        }
        Ok(Self {
            feature_names: default_names(n_features),
            features: Arc::new(features),
            n_features,
            targets: Targets::Values(targets),
            class_names: Vec::new(),
        })
    }

    /// A classification dataset: class indices below `class_names.len()` (2: binary, more:
    /// multiclass).
    ///
    /// # Errors
    /// [`Error::Data`] as [`Dataset::regression`], for fewer than 2 classes, or for a label
    /// out of range (naming the row).
    pub fn classification(
        features: Vec<f32>,
        n_features: usize,
        labels: Vec<u32>,
        class_names: Vec<String>,
    ) -> Result<Self> {
        check_features(&features, n_features, labels.len())?;
        if class_names.len() < 2 {
            return Err(Error::Data(format!(
                "classification needs at least 2 classes, got {}",
                class_names.len()
            )));
        }
        if let Some(row) = labels.iter().position(|&l| l as usize >= class_names.len()) {
            return Err(Error::Data(format!(
                "row {row} has class index {}, but there are only {} classes",
                labels[row],
                class_names.len()
            )));
        }
        Ok(Self {
            feature_names: default_names(n_features),
            features: Arc::new(features),
            n_features,
            targets: Targets::Classes(labels),
            class_names,
        })
    }

    /// A 64-bit fingerprint of the whole dataset — every feature and target bit for bit, the
    /// feature count and the class names — the same on every machine and in every version (an
    /// FNV-1a hash). Checkpoints store it, so a resume on other data is refused.
    pub fn fingerprint(&self) -> u64 {
        const PRIME: u64 = 0x0000_0100_0000_01b3;
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |bytes: &[u8]| {
            for &b in bytes {
                hash = (hash ^ u64::from(b)).wrapping_mul(PRIME);
            }
        };
        eat(&(self.n_features as u64).to_le_bytes());
        for v in self.features.iter() {
            eat(&v.to_bits().to_le_bytes());
        }
        match &self.targets {
            Targets::Values(values) => values.iter().for_each(|v| eat(&v.to_bits().to_le_bytes())),
            Targets::Classes(labels) => labels.iter().for_each(|l| eat(&l.to_le_bytes())),
        }
        for name in &self.class_names {
            eat(name.as_bytes());
            eat(&[0]);
        }
        hash
    }

    /// Names the features (default `x0`, `x1`, …).
    ///
    /// # Errors
    /// [`Error::Data`] when the count differs from the number of features.
    pub fn with_feature_names(mut self, names: Vec<String>) -> Result<Self> {
        if names.len() != self.n_features {
            return Err(Error::Data(format!(
                "{} feature names for {} features",
                names.len(),
                self.n_features
            )));
        }
        self.feature_names = names;
        Ok(self)
    }

    /// The task the targets define.
    pub fn task(&self) -> Task {
        match self.targets {
            Targets::Values(_) => Task::Regression,
            Targets::Classes(_) if self.class_names.len() == 2 => Task::Binary,
            Targets::Classes(_) => Task::Multiclass,
        }
    }

    /// Rows.
    pub fn len(&self) -> usize {
        self.features.len() / self.n_features
    }

    /// Always false: empty datasets are refused.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Features per row.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Outputs a model needs: 1 for regression and binary, the class count for multiclass.
    pub fn n_outputs(&self) -> usize {
        match self.task() {
            Task::Multiclass => self.class_names.len(),
            _ => 1,
        }
    }

    /// All features, row-major.
    pub fn features(&self) -> &[f32] {
        &self.features
    }

    /// The features of row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.features[i * self.n_features..(i + 1) * self.n_features]
    }

    /// The targets.
    pub fn targets(&self) -> &Targets {
        &self.targets
    }

    /// The targets as f32, one per row: values, or class indices as numbers.
    pub fn target_values(&self) -> Vec<f32> {
        match &self.targets {
            Targets::Values(v) => v.clone(),
            Targets::Classes(c) => c.iter().map(|&c| c as f32).collect(),
        }
    }

    /// The feature names.
    pub fn feature_names(&self) -> &[String] {
        &self.feature_names
    }

    /// The class names (empty for regression); label `i` is `class_names()[i]`.
    pub fn class_names(&self) -> &[String] {
        &self.class_names
    }

    /// The rows at `indices`, in that order.
    ///
    /// # Panics
    /// If an index is out of range (indices come from this crate's splits).
    pub fn subset(&self, indices: &[usize]) -> Dataset {
        let features = indices
            .iter()
            .flat_map(|&i| self.row(i).iter().copied())
            .collect::<Vec<_>>()
            .into();
        let targets = match &self.targets {
            Targets::Values(v) => Targets::Values(indices.iter().map(|&i| v[i]).collect()),
            Targets::Classes(c) => Targets::Classes(indices.iter().map(|&i| c[i]).collect()),
        };
        Dataset {
            features,
            n_features: self.n_features,
            feature_names: self.feature_names.clone(),
            targets,
            class_names: self.class_names.clone(),
        }
    }

    /// The same rows with the classes renumbered to follow `class_names` (the order a model
    /// was trained with), so labels mean the same classes as in training.
    ///
    /// # Errors
    /// [`Error::Data`] for a regression dataset or a class `class_names` does not hold.
    pub fn with_class_order(&self, class_names: &[String]) -> Result<Dataset> {
        let Targets::Classes(labels) = &self.targets else {
            return Err(Error::Data("a regression dataset has no classes".into()));
        };
        let mut map = Vec::with_capacity(self.class_names.len());
        for name in &self.class_names {
            let position = class_names.iter().position(|c| c == name).ok_or_else(|| {
                Error::Data(format!(
                    "class {name:?} is not one of the model's classes {class_names:?}"
                ))
            })?;
            map.push(position as u32);
        }
        Ok(Dataset {
            features: self.features.clone(),
            targets: Targets::Classes(labels.iter().map(|&l| map[l as usize]).collect()),
            class_names: class_names.to_vec(),
            ..self.metadata()
        })
    }

    /// The same rows with their features picked by name in the order of `names` (a model's
    /// features): columns in any order are matched, columns the model does not take are left
    /// out.
    ///
    /// # Errors
    /// [`Error::Data`] naming the first of `names` this dataset has no feature of.
    pub fn with_feature_order(&self, names: &[String]) -> Result<Dataset> {
        let picks = names
            .iter()
            .map(|name| {
                self.feature_names
                    .iter()
                    .position(|f| f == name)
                    .ok_or_else(|| {
                        Error::Data(format!(
                        "no feature {name:?}; the model's features are {names:?}, the data's {:?}",
                        self.feature_names
                    ))
                    })
            })
            .collect::<Result<Vec<usize>>>()?;
        let features = self
            .features
            .chunks_exact(self.n_features)
            .flat_map(|row| picks.iter().map(|&c| row[c]))
            .collect();
        Ok(Dataset {
            features: Arc::new(features),
            n_features: picks.len(),
            feature_names: names.to_vec(),
            targets: self.targets.clone(),
            ..self.metadata()
        })
    }

    /// The same rows with `features` replaced (same shape), as a standardiser produces.
    pub(crate) fn with_features(&self, features: Vec<f32>) -> Dataset {
        Dataset {
            features: Arc::new(features),
            targets: self.targets.clone(),
            ..self.metadata()
        }
    }

    /// The same rows with regression targets replaced.
    pub(crate) fn with_values(&self, values: Vec<f32>) -> Dataset {
        Dataset {
            features: self.features.clone(),
            targets: Targets::Values(values),
            ..self.metadata()
        }
    }

    /// Everything but the rows (names and classes), with the rows left empty, so that the
    /// builders above clone only what they keep.
    fn metadata(&self) -> Dataset {
        Dataset {
            features: Arc::default(),
            n_features: self.n_features,
            feature_names: self.feature_names.clone(),
            targets: Targets::Values(Vec::new()),
            class_names: self.class_names.clone(),
        }
    }
}

fn default_names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("x{i}")).collect()
}

fn check_features(features: &[f32], n_features: usize, rows: usize) -> Result<()> {
    if rows == 0 || n_features == 0 {
        return Err(Error::Data(format!(
            "a dataset needs at least one row and one feature (got {} of {n_features} features)",
            self::rows(rows)
        )));
    }
    if features.len() != rows * n_features {
        return Err(Error::Data(format!(
            "{} feature values do not make {rows} rows of {n_features}",
            features.len()
        )));
    }
    if let Some(i) = features.iter().position(|v| !v.is_finite()) {
        return Err(Error::Data(format!(
            "feature value at row {}, column {} is {}",
            i / n_features,
            i % n_features,
            features[i]
        )));
    }
    Ok(())
}

/// `1 row`, `n rows`: a count of rows for a message.
pub(crate) fn rows(n: usize) -> String {
    match n {
        1 => "1 row".into(),
        n => format!("{n} rows"),
    }
}
