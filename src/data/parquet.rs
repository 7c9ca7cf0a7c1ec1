//! Loading a dataset from a Parquet file, a record batch at a time (feature `parquet`).

use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::Float32Type;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::labels::LabelColumn;
use super::{Dataset, TargetColumn, Task};
use crate::error::{Error, Result};

/// How to read a Parquet file. `Default`: target in the last column, task detected (a
/// numeric target is regression, anything else classification).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ParquetOptions {
    /// The target column (default the last).
    pub target: TargetColumn,
    /// The task (default: regression if every target is a number, classification with the
    /// distinct labels as classes if none is; a column mixing numbers and text is refused,
    /// naming its first text cell, unless the task is given).
    pub task: Option<Task>,
}

/// Reads a Parquet file, one record batch at a time: every column but the target must hold
/// numbers (any integer or float type; booleans count as 0 and 1) with no nulls; the target
/// may be numbers or text (class labels), as in [`load_csv`](super::load_csv), whose rules
/// for the task and the classes' order it follows. Columns are named by the file's schema.
///
/// ```no_run
/// use wgsl_train::data::{load_parquet, ParquetOptions, TargetColumn};
/// let options = ParquetOptions {
///     target: TargetColumn::Name("price".into()),
///     ..ParquetOptions::default()
/// };
/// let data = load_parquet("houses.parquet", &options)?;
/// println!("{} rows of {} features", data.len(), data.n_features());
/// # Ok::<(), wgsl_train::Error>(())
/// ```
///
/// # Errors
/// [`Error::Io`] when the file cannot be opened; [`Error::Parquet`] for a file that is not
/// Parquet or cannot be decoded, a missing target column, a feature column of another type
/// or with a null (naming the row), or labels that do not fit the task; [`Error::Data`] for
/// a file with no rows.
pub fn load_parquet(path: impl AsRef<Path>, options: &ParquetOptions) -> Result<Dataset> {
    let (file, batches) = ParquetFile::open(path.as_ref())?;
    let columns = &file.columns;
    if columns.len() < 2 {
        return Err(file.error(
            0,
            format!(
                "need at least one feature and a target column, found {} column",
                columns.len()
            ),
        ));
    }
    let target = options
        .target
        .position(columns)
        .map_err(|e| file.error(0, e))?;
    let picks: Vec<usize> = (0..columns.len()).filter(|&c| c != target).collect();
    let mut features = Vec::new();
    let mut labels = LabelColumn::default();
    file.for_each_batch(batches, |batch, first_row| {
        file.append_features(batch, &picks, first_row, &mut features)?;
        let targets = file.cast(batch, target, &DataType::Utf8, "numbers or labels")?;
        let targets = targets.as_string::<i32>();
        for r in 0..batch.num_rows() {
            let text = if targets.is_null(r) {
                ""
            } else {
                targets.value(r)
            };
            labels.push(first_row + r as u64, text);
        }
        Ok(())
    })?;
    if labels.len() == 0 {
        return Err(Error::Data(format!("{}: no data rows", file.name)));
    }
    let feature_names = picks.iter().map(|&c| columns[c].clone()).collect();
    let err = |row, detail| file.error(row, detail);
    labels
        .into_dataset(features, picks.len(), &columns[target], options.task, &err)?
        .with_feature_names(feature_names)
}

/// Reads the rows of a Parquet file to predict from, as
/// [`read_features`](super::read_features) does a CSV file's: the columns named `features`
/// (in any order, other columns ignored), row-major in the order of `features`; returns the
/// values and the number of rows.
///
/// # Errors
/// As [`load_parquet`], and [`Error::Parquet`] for a missing column.
pub fn read_parquet_features(
    path: impl AsRef<Path>,
    features: &[String],
) -> Result<(Vec<f32>, usize)> {
    let (file, batches) = ParquetFile::open(path.as_ref())?;
    let picks = features
        .iter()
        .map(|f| {
            file.columns.iter().position(|c| c == f).ok_or_else(|| {
                file.error(
                    0,
                    format!("no column {f:?}; the model's features are {features:?}"),
                )
            })
        })
        .collect::<Result<Vec<usize>>>()?;
    let mut values = Vec::new();
    let mut rows = 0;
    file.for_each_batch(batches, |batch, first_row| {
        rows += batch.num_rows();
        file.append_features(batch, &picks, first_row, &mut values)
    })?;
    if rows == 0 {
        return Err(Error::Data(format!("{}: no data rows", file.name)));
    }
    Ok((values, rows))
}

/// The reader of an open file's record batches.
type Batches = ParquetRecordBatchReaderBuilder<std::fs::File>;

/// An open Parquet file's name (for messages) and column names.
struct ParquetFile {
    name: String,
    columns: Vec<String>,
}

impl ParquetFile {
    fn open(path: &Path) -> Result<(Self, Batches)> {
        let name = path.display().to_string();
        let builder =
            ParquetRecordBatchReaderBuilder::try_new(crate::fs::open(path)?).map_err(|e| {
                Error::Parquet {
                    path: name.clone(),
                    detail: e.to_string(),
                }
            })?;
        let columns = builder
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        Ok((Self { name, columns }, builder))
    }

    /// The error naming this file and, unless 0, the 1-based row.
    fn error(&self, row: u64, detail: String) -> Error {
        Error::Parquet {
            path: self.name.clone(),
            detail: match row {
                0 => detail,
                row => format!("row {row}: {detail}"),
            },
        }
    }

    /// Calls `f` with each record batch and the 1-based row of the file it starts at.
    fn for_each_batch(
        &self,
        batches: Batches,
        mut f: impl FnMut(&RecordBatch, u64) -> Result<()>,
    ) -> Result<()> {
        let reader = batches.build().map_err(|e| self.error(0, e.to_string()))?;
        let mut first_row = 1;
        for batch in reader {
            let batch = batch.map_err(|e| self.error(0, e.to_string()))?;
            f(&batch, first_row)?;
            first_row += batch.num_rows() as u64;
        }
        Ok(())
    }

    /// Column `c` of `batch` cast to `to`, or an error saying it holds no `wanted`.
    fn cast(&self, batch: &RecordBatch, c: usize, to: &DataType, wanted: &str) -> Result<ArrayRef> {
        let column = batch.column(c);
        arrow_cast::cast(column, to).map_err(|_| {
            let found = column.data_type();
            self.error(
                0,
                format!("column {:?} holds {found}, not {wanted}", self.columns[c]),
            )
        })
    }

    /// Appends the columns `picks` of `batch`, row-major, to `features`; the batch starts at
    /// row `first_row` of the file. Every cell must be a finite number.
    fn append_features(
        &self,
        batch: &RecordBatch,
        picks: &[usize],
        first_row: u64,
        features: &mut Vec<f32>,
    ) -> Result<()> {
        let mut arrays = Vec::with_capacity(picks.len());
        for &c in picks {
            let column = self.cast(batch, c, &DataType::Float32, "numbers")?;
            // A text cell that is no number casts to null: named apart from the file's nulls.
            if let Some(r) = (0..column.len()).find(|&r| column.is_null(r)) {
                let detail = if batch.column(c).is_null(r) {
                    format!("column {:?} is empty (null)", self.columns[c])
                } else {
                    format!("column {:?} holds no number", self.columns[c])
                };
                return Err(self.error(first_row + r as u64, detail));
            }
            arrays.push((c, column));
        }
        let arrays: Vec<_> = arrays
            .iter()
            .map(|(c, a)| (*c, a.as_primitive::<Float32Type>()))
            .collect();
        features.reserve(batch.num_rows() * arrays.len());
        for r in 0..batch.num_rows() {
            for (c, array) in &arrays {
                let value = array.value(r);
                if !value.is_finite() {
                    return Err(self.error(
                        first_row + r as u64,
                        format!(
                            "column {:?} holds {value}, not a finite f32",
                            self.columns[*c]
                        ),
                    ));
                }
                features.push(value);
            }
        }
        Ok(())
    }
}
