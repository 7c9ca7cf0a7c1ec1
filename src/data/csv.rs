//! Loading a dataset from a CSV file with a header row, a record at a time: neither the text
//! nor the target cells are kept, only the numbers.

use std::path::Path;

use super::labels::LabelColumn;
use super::{Dataset, Task};
use crate::error::{Error, Result};

/// Which column holds the target.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TargetColumn {
    /// The last column (default).
    #[default]
    Last,
    /// The column with this header.
    Name(String),
    /// The column at this 0-based index.
    Index(usize),
}

impl TargetColumn {
    /// The target's index among the file's `columns`, or what is wrong.
    pub(crate) fn position(&self, columns: &[String]) -> std::result::Result<usize, String> {
        match self {
            TargetColumn::Last => Ok(columns.len() - 1),
            TargetColumn::Name(n) => columns
                .iter()
                .position(|c| c == n)
                .ok_or_else(|| format!("no target column {n:?}; the columns are {columns:?}")),
            TargetColumn::Index(i) if *i < columns.len() => Ok(*i),
            TargetColumn::Index(i) => Err(format!(
                "target column index {i} is past the {} columns",
                columns.len()
            )),
        }
    }
}

/// How to read a CSV file. `Default`: comma-separated, target in the last column, task
/// detected (a numeric target is regression, anything else classification).
#[derive(Debug, Clone, PartialEq)]
pub struct CsvOptions {
    /// The target column (default the last).
    pub target: TargetColumn,
    /// The task (default: regression if every target parses as a number, classification with
    /// the distinct labels as classes if none does; a column mixing numbers and text is
    /// refused, naming its first text cell, unless the task is given).
    pub task: Option<Task>,
    /// Field delimiter (default `b','`).
    pub delimiter: u8,
}

impl Default for CsvOptions {
    fn default() -> Self {
        Self {
            target: TargetColumn::Last,
            task: None,
            delimiter: b',',
        }
    }
}

/// Reads a CSV file whose first line names the columns; every column but the target must be
/// numeric. Class labels may be integers or strings; classes are their distinct values, sorted
/// (numerically when they are all numbers).
///
/// # Errors
/// [`Error::Io`] when the file cannot be read; [`Error::Csv`] naming the line for a missing
/// header, ragged rows, a non-numeric or missing feature, a missing target column, or labels
/// that do not fit the task; [`Error::Data`] for a file with no rows.
pub fn load_csv(path: impl AsRef<Path>, options: &CsvOptions) -> Result<Dataset> {
    let path = path.as_ref();
    let name = path.display().to_string();
    load_csv_from_reader(crate::fs::open(path)?, &name, options)
}

/// [`load_csv`] on any reader; `name` is used in error messages.
///
/// # Errors
/// As [`load_csv`].
pub fn load_csv_from_reader(
    reader: impl std::io::Read,
    name: &str,
    options: &CsvOptions,
) -> Result<Dataset> {
    let err = |line: u64, detail: String| Error::Csv {
        path: name.to_string(),
        line,
        detail,
    };
    let mut csv = csv_reader(reader, options.delimiter);
    let mut records = csv.records();
    let header = read_header(&mut records, &options.target, &err)?;
    let (features, labels) = read_rows(records, &header, &err)?;
    if labels.len() == 0 {
        return Err(Error::Data(format!(
            "{name}: no data rows after the header"
        )));
    }
    let n_features = header.columns.len() - 1;
    let feature_names = header
        .columns
        .iter()
        .enumerate()
        .filter(|(c, _)| *c != header.target)
        .map(|(_, n)| n.clone())
        .collect();
    let target_name = &header.columns[header.target];
    let dataset = labels.into_dataset(features, n_features, target_name, options.task, &err)?;
    dataset.with_feature_names(feature_names)
}

/// A reader of every line as a record: the header is checked by us, and ragged rows are
/// reported by line rather than by the csv crate's message.
fn csv_reader<R: std::io::Read>(reader: R, delimiter: u8) -> ::csv::Reader<R> {
    ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(reader)
}

/// The header line.
fn first_record<R: std::io::Read>(
    records: &mut ::csv::StringRecordsIter<'_, R>,
    err: &impl Fn(u64, String) -> Error,
) -> Result<::csv::StringRecord> {
    match records.next() {
        Some(Ok(h)) => Ok(h),
        Some(Err(e)) => Err(err(e.position().map_or(1, |p| p.line()), e.to_string())),
        None => Err(err(
            0,
            "the file is empty; it needs a header and rows".into(),
        )),
    }
}

/// The column names and which of them is the target.
struct Header {
    columns: Vec<String>,
    target: usize,
}

/// Reads and checks the header line and finds the target column in it.
fn read_header<R: std::io::Read>(
    records: &mut ::csv::StringRecordsIter<'_, R>,
    target: &TargetColumn,
    err: &impl Fn(u64, String) -> Error,
) -> Result<Header> {
    let header = first_record(records, err)?;
    if header.iter().all(|f| f.trim().parse::<f64>().is_ok()) {
        return Err(err(
            1,
            "the first line looks like data; the file needs a header line naming the columns"
                .into(),
        ));
    }
    let columns: Vec<String> = header.iter().map(|h| h.trim().to_string()).collect();
    if let Some((c, name)) = columns
        .iter()
        .enumerate()
        .find(|(c, name)| columns[..*c].contains(name))
    {
        return Err(err(
            1,
            format!(
                "column {} repeats the name {name:?}; every column needs its own name",
                c + 1
            ),
        ));
    }
    if columns.len() < 2 {
        // One column whose name holds another common separator: say so.
        let separator = columns
            .first()
            .and_then(|name| [';', '\t', '|'].into_iter().find(|&c| name.contains(c)));
        let hint = match separator {
            Some(c) => format!(
                "; the header holds {c:?}: if that separates the columns, the file is not \
                 comma-separated (from Rust, CsvOptions::delimiter reads it; the command line \
                 reads commas)"
            ),
            None => String::new(),
        };
        return Err(err(
            1,
            format!("need at least one feature and a target column, found one column{hint}"),
        ));
    }
    let target = target.position(&columns).map_err(|e| err(1, e))?;
    Ok(Header { columns, target })
}

/// A feature cell: a finite f32, or an error naming the line, the column and the text.
fn feature(
    field: &str,
    column: &str,
    line: u64,
    err: &impl Fn(u64, String) -> Error,
) -> Result<f32> {
    match field.trim().parse::<f32>() {
        Ok(value) if value.is_finite() => Ok(value),
        Ok(_) => Err(err(
            line,
            format!("column {column:?} holds {field:?}, not a finite f32"),
        )),
        Err(_) => Err(err(
            line,
            format!("column {column:?} holds {field:?}, not a number"),
        )),
    }
}

/// Reads the rows of a CSV file to predict from: the columns named `features` (its header
/// names them; in any order, other columns ignored), row-major in the order of `features`;
/// returns the values and the number of rows.
///
/// # Errors
/// [`Error::Csv`] naming the line (and column) for a missing header or column, a ragged row,
/// or a cell that is not a finite number; [`Error::Data`] for a file with no rows.
pub fn read_features(
    reader: impl std::io::Read,
    name: &str,
    features: &[String],
) -> Result<(Vec<f32>, usize)> {
    let err = |line: u64, detail: String| Error::Csv {
        path: name.to_string(),
        line,
        detail,
    };
    let mut csv = csv_reader(reader, b',');
    let mut records = csv.records();
    let header = first_record(&mut records, &err)?;
    let columns: Vec<&str> = header.iter().map(str::trim).collect();
    let picks = features
        .iter()
        .map(|f| {
            columns.iter().position(|c| c == f).ok_or_else(|| {
                err(
                    1,
                    format!("no column {f:?}; the model's features are {features:?}"),
                )
            })
        })
        .collect::<Result<Vec<usize>>>()?;
    let mut values = Vec::new();
    let mut rows = 0;
    for row in records {
        let Some((line, record)) = data_row(row, columns.len(), &err)? else {
            continue;
        };
        for (&c, f) in picks.iter().zip(features) {
            values.push(feature(&record[c], f, line, &err)?);
        }
        rows += 1;
    }
    if rows == 0 {
        return Err(Error::Data(format!(
            "{name}: no data rows after the header"
        )));
    }
    Ok((values, rows))
}

/// A data row with its line, checked to have `columns` fields; `None` for a blank line.
fn data_row(
    row: ::csv::Result<::csv::StringRecord>,
    columns: usize,
    err: &impl Fn(u64, String) -> Error,
) -> Result<Option<(u64, ::csv::StringRecord)>> {
    let record = row.map_err(|e| err(e.position().map_or(0, |p| p.line()), e.to_string()))?;
    let line = record.position().map_or(0, |p| p.line());
    if record.len() == 1 && record.get(0).is_some_and(|f| f.trim().is_empty()) {
        return Ok(None);
    }
    if record.len() != columns {
        return Err(err(
            line,
            format!("{} fields, but the header has {columns}", record.len()),
        ));
    }
    Ok(Some((line, record)))
}

/// Reads the data rows: the features, row-major, and the target column.
fn read_rows<R: std::io::Read>(
    records: ::csv::StringRecordsIter<'_, R>,
    header: &Header,
    err: &impl Fn(u64, String) -> Error,
) -> Result<(Vec<f32>, LabelColumn)> {
    let columns = &header.columns;
    let mut features = Vec::new();
    let mut labels = LabelColumn::default();
    for row in records {
        let Some((line, record)) = data_row(row, columns.len(), err)? else {
            continue;
        };
        for (c, field) in record.iter().enumerate() {
            if c == header.target {
                labels.push(line, field);
                continue;
            }
            features.push(feature(field, &columns[c], line, err)?);
        }
    }
    Ok((features, labels))
}
