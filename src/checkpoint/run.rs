//! What a checkpoint records about the run besides the trainer: the preprocessing, and which
//! data was split how.

use super::format;
use crate::data::{Dataset, Preprocessing, SplitConfig};
use crate::error::{Error, Result};

/// What a checkpoint records about the run besides the trainer: the preprocessing, and which
/// data was split how. `Default`: neither.
#[derive(Debug, Clone, Default)]
pub struct RunInfo<'a> {
    /// The standardisation fitted on the training split, saved in the model file's metadata.
    pub preprocessing: Option<&'a Preprocessing>,
    /// The data and its split: a resume must repeat them, and `eval --split` reproduces a
    /// split's scores from them.
    pub split: Option<SplitRecord>,
}

/// Which data a model was trained on (its row count and [`Dataset::fingerprint`]) and how it
/// was split. In JSON: the [`SplitConfig`]'s fields, `rows`, and the `fingerprint` as 16
/// hexadecimal digits.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SplitRecord {
    /// The split's fractions, seed and stratification.
    #[serde(flatten)]
    pub config: SplitConfig,
    /// Rows of the whole dataset.
    pub rows: usize,
    /// The whole dataset's fingerprint.
    #[serde(with = "format::hex_u64")]
    pub fingerprint: u64,
}

impl SplitRecord {
    /// The record of splitting `data` with `config`.
    pub fn of(data: &Dataset, config: &SplitConfig) -> Self {
        Self {
            config: *config,
            rows: data.len(),
            fingerprint: data.fingerprint(),
        }
    }

    /// Checks that `data` is the data this record was made from.
    ///
    /// # Errors
    /// [`Error::Data`] naming both row counts and fingerprints.
    pub fn check(&self, data: &Dataset) -> Result<()> {
        let now = Self::of(data, &self.config);
        if (now.rows, now.fingerprint) == (self.rows, self.fingerprint) {
            return Ok(());
        }
        Err(Error::Data(format!(
            "this is not the data the model was trained on: {} rows with fingerprint {:016x}, the model's had {} rows with fingerprint {:016x}",
            now.rows, now.fingerprint, self.rows, self.fingerprint
        )))
    }

    pub(super) fn data_setting(&self) -> String {
        format!("{} rows, fingerprint {:016x}", self.rows, self.fingerprint)
    }
}
