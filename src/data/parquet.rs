//! Loading a dataset from a Parquet file, a record batch at a time (feature `parquet`).

use std::path::Path;
use std::sync::Arc;

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
    /// The task (default: regression if every target is a number, else classification with
    /// the distinct labels as classes).
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
    let path = path.as_ref();
    let name = path.display().to_string();
    let file = crate::fs::open(path)?;
    let err = |row: u64, detail: String| Error::Parquet {
        path: name.clone(),
        detail: match row {
            0 => detail,
            row => format!("row {row}: {detail}"),
        },
    };
    let decode = |e: parquet::errors::ParquetError| err(0, e.to_string());
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(decode)?;
    let columns: Vec<String> = builder
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    if columns.len() < 2 {
        return Err(err(
            0,
            format!(
                "need at least one feature and a target column, found {} column",
                columns.len()
            ),
        ));
    }
    let target = options.target.position(&columns).map_err(|e| err(0, e))?;
    let reader = builder.build().map_err(decode)?;
    let mut features = Vec::new();
    let mut labels = LabelColumn::default();
    for batch in reader {
        let batch = batch.map_err(|e| err(0, e.to_string()))?;
        let first_row = labels.len() as u64 + 1;
        read_batch(
            &batch,
            &columns,
            target,
            first_row,
            &mut features,
            &mut labels,
            &err,
        )?;
    }
    if labels.len() == 0 {
        return Err(Error::Data(format!("{name}: no data rows")));
    }
    let n_features = columns.len() - 1;
    let feature_names = columns
        .iter()
        .enumerate()
        .filter(|(c, _)| *c != target)
        .map(|(_, n)| n.clone())
        .collect();
    labels
        .into_dataset(features, n_features, &columns[target], options.task, &err)?
        .with_feature_names(feature_names)
}

/// Appends a record batch's features (row-major) and targets; its first row is `first_row`
/// (1-based) of the file.
fn read_batch(
    batch: &RecordBatch,
    columns: &[String],
    target: usize,
    first_row: u64,
    features: &mut Vec<f32>,
    labels: &mut LabelColumn,
    err: &impl Fn(u64, String) -> Error,
) -> Result<()> {
    let cast = |c: usize, to: &DataType, wanted: &str| -> Result<ArrayRef> {
        let column = batch.column(c);
        arrow_cast::cast(column, to).map_err(|_| {
            let found = column.data_type();
            err(
                0,
                format!("column {:?} holds {found}, not {wanted}", columns[c]),
            )
        })
    };
    let mut feature_columns = Vec::with_capacity(columns.len() - 1);
    for c in (0..columns.len()).filter(|&c| c != target) {
        let column = cast(c, &DataType::Float32, "numbers")?;
        // A text cell that is no number casts to null: named with the original's nulls.
        if let Some(r) = (0..column.len()).find(|&r| column.is_null(r)) {
            let detail = if batch.column(c).is_null(r) {
                format!("column {:?} is empty (null)", columns[c])
            } else {
                format!("column {:?} holds no number", columns[c])
            };
            return Err(err(first_row + r as u64, detail));
        }
        feature_columns.push((c, column));
    }
    let arrays: Vec<_> = feature_columns
        .iter()
        .map(|(c, a)| (*c, a.as_primitive::<Float32Type>()))
        .collect();
    features.reserve(batch.num_rows() * arrays.len());
    for r in 0..batch.num_rows() {
        for (c, array) in &arrays {
            let value = array.value(r);
            if !value.is_finite() {
                return Err(err(
                    first_row + r as u64,
                    format!("column {:?} holds {value}, not a finite f32", columns[*c]),
                ));
            }
            features.push(value);
        }
    }
    let targets: Arc<dyn Array> = cast(target, &DataType::Utf8, "numbers or labels")?;
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
}
