//! Fuzzers that reach past the parsers' first checks: each case starts from a valid file and
//! breaks one thing in it — a safetensors model's tensor dtype, shape, offsets or name, its
//! header length, its data, or a field of its metadata; a CSV's cell, row or header — and the
//! loaders must answer with the typed error that names what broke (or load the file, where the
//! change leaves it valid); a Parquet table's cell made null, NaN, infinite, too large for f32
//! or text, which must be refused naming its column and row. Each run reports how many cases
//! it tried and how they ended.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::{cli, gpu};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{json, Value};
use wgsl_train::checkpoint::{load_model, load_preprocessing, load_split, read_tensors};
use wgsl_train::data::{load_csv_from_reader, CsvOptions};
use wgsl_train::Error;

/// Cases per fuzzer: 300, or `PROPTEST_CASES`.
fn case_count() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

/// One thing broken in a valid model file.
#[derive(Debug, Clone)]
enum ModelFault {
    /// A tensor's dtype replaced.
    DType(usize, &'static str),
    /// A tensor's shape replaced.
    Shape(usize, Vec<u64>),
    /// A tensor's data offsets replaced.
    Offsets(usize, u64, u64),
    /// A tensor renamed.
    Name(usize, String),
    /// A tensor left out of the header.
    Dropped(usize),
    /// The header's length prefix replaced.
    HeaderLength(u64),
    /// The data cut short by this many bytes.
    Truncated(usize),
    /// A field of the crate's metadata replaced (`None`: removed).
    Metadata(&'static str, Option<Value>),
    /// The crate's metadata entry replaced by this text.
    MetadataText(String),
}

fn model_fault() -> impl Strategy<Value = ModelFault> {
    let tensor = 0..4usize;
    let dtype = prop::sample::select(vec![
        "F64", "F16", "BF16", "I32", "I64", "U8", "BOOL", "F8_E4M3", "f32", "", "F32 ",
    ]);
    let dim = prop_oneof![0..12u64, Just(1u64 << 40), Just(u64::MAX)];
    let offset = prop_oneof![0..300u64, Just(u64::MAX), Just(1u64 << 40)];
    let name = prop_oneof![
        Just(String::new()),
        Just("1.weight".to_string()),
        Just("0.weight ".to_string()),
        Just("x".repeat(5000)),
        "[a-z0-9.]{1,12}",
    ];
    let field = prop::sample::select(vec![
        "format_version",
        "task",
        "layers",
        "preprocessing",
        "split",
        "optimizer",
        "step",
    ]);
    let value = prop_oneof![
        Just(None),
        Just(Some(json!(null))),
        Just(Some(json!(-1))),
        Just(Some(json!(99))),
        Just(Some(json!(1e300))),
        Just(Some(json!("multiclass"))),
        Just(Some(json!("nonsense"))),
        Just(Some(json!([]))),
        Just(Some(json!({}))),
        Just(Some(
            json!([{"type": "Linear", "in_features": 7, "out_features": 5}])
        )),
        Just(Some(
            json!({"feature_names": ["a"], "feature_mean": [0.0, 1.0]})
        )),
    ];
    prop_oneof![
        (tensor.clone(), dtype).prop_map(|(t, d)| ModelFault::DType(t, d)),
        (tensor.clone(), prop::collection::vec(dim, 0..4))
            .prop_map(|(t, s)| ModelFault::Shape(t, s)),
        (tensor.clone(), offset.clone(), offset).prop_map(|(t, a, b)| ModelFault::Offsets(t, a, b)),
        (tensor.clone(), name).prop_map(|(t, n)| ModelFault::Name(t, n)),
        tensor.prop_map(ModelFault::Dropped),
        prop_oneof![0..2000u64, Just(u64::MAX), Just(1u64 << 40)]
            .prop_map(ModelFault::HeaderLength),
        (1..300usize).prop_map(ModelFault::Truncated),
        (field, value).prop_map(|(f, v)| ModelFault::Metadata(f, v)),
        prop_oneof![
            Just(String::new()),
            Just("{".to_string()),
            Just("[]".to_string()),
            "[ -~]{0,40}"
        ]
        .prop_map(ModelFault::MetadataText),
    ]
}

/// A valid model file's header (tensors and metadata) and data.
struct ModelFile {
    header: serde_json::Map<String, Value>,
    data: Vec<u8>,
}

impl ModelFile {
    fn read(path: &Path) -> Self {
        let bytes = std::fs::read(path).unwrap();
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let header: Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
        Self {
            header: header.as_object().unwrap().clone(),
            data: bytes[8 + n..].to_vec(),
        }
    }

    fn tensor_names(&self) -> Vec<String> {
        self.header
            .keys()
            .filter(|k| *k != "__metadata__")
            .cloned()
            .collect()
    }

    /// The file with `fault`, as bytes.
    fn broken(&self, fault: &ModelFault) -> Vec<u8> {
        let mut header = self.header.clone();
        let mut data = self.data.clone();
        let names = self.tensor_names();
        let mut length = None;
        match fault {
            ModelFault::DType(t, d) => header[&names[*t]]["dtype"] = json!(d),
            ModelFault::Shape(t, s) => header[&names[*t]]["shape"] = json!(s),
            ModelFault::Offsets(t, a, b) => header[&names[*t]]["data_offsets"] = json!([a, b]),
            ModelFault::Name(t, n) => {
                let entry = header.remove(&names[*t]).unwrap();
                header.insert(n.clone(), entry);
            }
            ModelFault::Dropped(t) => {
                header.remove(&names[*t]);
            }
            ModelFault::HeaderLength(n) => length = Some(*n),
            ModelFault::Truncated(n) => data.truncate(data.len().saturating_sub(*n)),
            ModelFault::Metadata(field, value) => {
                let text = header["__metadata__"]["wgsl-train"].as_str().unwrap();
                let mut ours: serde_json::Map<String, Value> = serde_json::from_str(text).unwrap();
                match value {
                    Some(v) => ours.insert(field.to_string(), v.clone()),
                    None => ours.remove(*field),
                };
                header["__metadata__"]["wgsl-train"] = json!(Value::Object(ours).to_string());
            }
            ModelFault::MetadataText(text) => header["__metadata__"]["wgsl-train"] = json!(text),
        }
        let text = Value::Object(header).to_string().into_bytes();
        let mut bytes = length.unwrap_or(text.len() as u64).to_le_bytes().to_vec();
        bytes.extend(text);
        bytes.extend(data);
        bytes
    }
}

/// What an error must say for each kind of fault: one of these words.
fn names_the_fault(fault: &ModelFault, detail: &str, tensor_names: &[String]) -> bool {
    let any = |words: &[&str]| words.iter().any(|w| detail.contains(w));
    let tensor = |t: &usize| {
        detail.contains(&format!("{:?}", tensor_names[*t])) || detail.contains(&tensor_names[*t])
    };
    match fault {
        // The broken tensor by name (safetensors' own message names none).
        ModelFault::DType(t, _) | ModelFault::Shape(t, _) | ModelFault::Offsets(t, _, _) => {
            tensor(t)
        }
        ModelFault::Name(t, n) => tensor(t) || detail.contains(n.as_str()),
        // Its bytes stay in the data, so the next tensor's offsets no longer line up.
        ModelFault::Dropped(t) => tensor(t) || any(&["offset", "not fully covered"]),
        ModelFault::HeaderLength(_) | ModelFault::Truncated(_) => any(&["safetensors", "header"]),
        ModelFault::Metadata(field, value) => {
            let value = value.as_ref().and_then(Value::as_str).unwrap_or("\0");
            detail.contains(field)
                || detail.contains(&field.replace('_', " "))
                || detail.contains(value)
                || any(&["metadata"])
        }
        ModelFault::MetadataText(_) => any(&["metadata", "wgsl-train"]),
    }
}

/// `case_count()` values drawn from `strategy`, from the seed `common::rng(test)` prints (and
/// `WGSL_TRAIN_SEED` replays).
fn cases<S: Strategy>(test: &str, strategy: S) -> Vec<S::Value> {
    let (_, seed) = common::rng(test);
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &bytes);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    (0..case_count())
        .map(|_| strategy.new_tree(&mut runner).unwrap().current())
        .collect()
}

/// A fault's description, cut to 200 characters (a name may be 5,000).
fn short(fault: &impl std::fmt::Debug) -> String {
    format!("{fault:?}").chars().take(200).collect()
}

fn scratch(name: &str) -> PathBuf {
    let dir = common::scratch_dir().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_broken_model_file_is_a_checkpoint_error_naming_the_fault() {
    let dir = scratch("fuzz-model");
    let valid = dir.join("valid.safetensors");
    let out = cli()
        .args([
            "train", "--data", "diabetes", "--epochs", "1", "--quiet", "--save",
        ])
        .arg(&valid)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let base = ModelFile::read(&valid);
    let tensor_names = base.tensor_names();
    let path = dir.join("case.safetensors");
    let mut outcomes = BTreeMap::<String, usize>::new();
    let mut wrong = Vec::new();
    for fault in cases(
        "a_broken_model_file_is_a_checkpoint_error_naming_the_fault",
        model_fault(),
    ) {
        std::fs::write(&path, base.broken(&fault)).unwrap();
        let results: [(&str, Result<(), Error>); 4] = [
            ("read_tensors", read_tensors(&path).map(|_| ())),
            ("load_model", load_model(gpu(), &path, None).map(|_| ())),
            ("load_preprocessing", load_preprocessing(&path).map(|_| ())),
            ("load_split", load_split(&path).map(|_| ())),
        ];
        let mut failed = false;
        for (call, result) in results {
            let Err(e) = result else { continue };
            failed = true;
            match &e {
                Error::Checkpoint {
                    path: named,
                    detail,
                } if *named == path.display().to_string()
                    && names_the_fault(&fault, detail, &tensor_names) => {}
                _ => wrong.push(format!("{}: {call} says {e}", short(&fault))),
            }
        }
        let kind = format!("{fault:?}").split('(').next().unwrap().to_string();
        let ended = if failed { "refused" } else { "loaded" };
        *outcomes.entry(format!("{kind} {ended}")).or_default() += 1;
    }
    eprintln!("{} broken model files: {outcomes:?}", case_count());
    assert!(
        wrong.is_empty(),
        "errors that do not name their fault:\n{}",
        wrong.join("\n")
    );
}

/// One thing broken in a valid CSV file of a header `a,b,y` and `CSV_ROWS` numeric rows.
#[derive(Debug, Clone)]
enum CsvFault {
    /// A cell (row, column) replaced by this text (quoted where it holds a comma or a quote).
    Cell(usize, usize, String),
    /// A row with a cell more.
    ExtraCell(usize),
    /// A row with a cell less.
    MissingCell(usize),
    /// A header name replaced.
    HeaderName(usize, String),
}

const CSV_ROWS: usize = 12;

fn csv_fault() -> impl Strategy<Value = CsvFault> {
    let cell = prop_oneof![
        prop::sample::select(vec![
            "",
            " ",
            "NaN",
            "nan",
            "inf",
            "-inf",
            "1e999",
            "-1e999",
            "-",
            "+",
            ".",
            "1,5",
            "\"",
            "abc",
            "0x10",
            "1_000",
            "\u{663}",
            "\u{feff}1",
            " 1 ",
            "1e-45",
            "1e",
            "\u{0}",
            "--1",
            "1..2",
        ])
        .prop_map(String::from),
        "[ -~]{0,8}",
    ];
    let name = prop_oneof![
        prop::sample::select(vec!["", "a", "b", "y", " y", "a,b"]).prop_map(String::from),
        "[a-z]{0,4}",
    ];
    prop_oneof![
        (0..CSV_ROWS, 0..3usize, cell).prop_map(|(r, c, t)| CsvFault::Cell(r, c, t)),
        (0..CSV_ROWS).prop_map(CsvFault::ExtraCell),
        (0..CSV_ROWS).prop_map(CsvFault::MissingCell),
        (0..3usize, name).prop_map(|(c, n)| CsvFault::HeaderName(c, n)),
    ]
}

fn quoted(cell: &str) -> String {
    if cell.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell.to_string()
    }
}

/// The CSV with `fault`, and the 1-based line it is on.
fn broken_csv(fault: &CsvFault) -> (String, u64) {
    let mut header = ["a", "b", "y"].map(String::from);
    let mut rows: Vec<Vec<String>> = (0..CSV_ROWS)
        .map(|r| {
            (0..3)
                .map(|c| format!("{}", (r * 3 + c) as f32 / 7.0))
                .collect()
        })
        .collect();
    let line = match fault {
        CsvFault::Cell(r, c, text) => {
            rows[*r][*c] = quoted(text);
            *r as u64 + 2
        }
        CsvFault::ExtraCell(r) => {
            rows[*r].push("1".into());
            *r as u64 + 2
        }
        CsvFault::MissingCell(r) => {
            rows[*r].pop();
            *r as u64 + 2
        }
        CsvFault::HeaderName(c, name) => {
            header[*c] = quoted(name);
            1
        }
    };
    let mut text = header.join(",") + "\n";
    for row in rows {
        text += &(row.join(",") + "\n");
    }
    (text, line)
}

/// Each broken CSV loads (where the change leaves a valid file: a number written otherwise, a
/// label turning the target into classes) or is an `Error::Csv` on the broken line (the
/// header's faults on line 1), or, where the problem is the whole file's (too few rows of a
/// class, two columns of one name), says so naming the column.
#[test]
fn a_broken_csv_is_a_csv_error_on_the_broken_line() {
    let mut outcomes = BTreeMap::<String, usize>::new();
    let mut wrong = Vec::new();
    for fault in cases(
        "a_broken_csv_is_a_csv_error_on_the_broken_line",
        csv_fault(),
    ) {
        let (text, line) = broken_csv(&fault);
        let result = load_csv_from_reader(text.as_bytes(), "fuzz.csv", &CsvOptions::default());
        let kind = format!("{fault:?}").split('(').next().unwrap().to_string();
        match &result {
            Ok(_) => *outcomes.entry(format!("{kind} loaded")).or_default() += 1,
            Err(Error::Csv {
                path,
                line: at,
                detail,
            }) if path == "fuzz.csv" => {
                *outcomes.entry(format!("{kind} refused")).or_default() += 1;
                if *at != line && !(*at == 0 && names_a_column(detail)) {
                    wrong.push(format!("{fault:?} (line {line}): line {at}: {detail}"));
                }
            }
            Err(e) => wrong.push(format!("{fault:?}: {e:?}, not a CSV error")),
        }
    }
    eprintln!("{} broken CSV files: {outcomes:?}", case_count());
    assert!(
        wrong.is_empty(),
        "errors not on the broken line:\n{}",
        wrong.join("\n")
    );
}

fn names_a_column(detail: &str) -> bool {
    ["\"a\"", "\"b\"", "\"y\"", "column"]
        .iter()
        .any(|c| detail.contains(c))
}

/// The Parquet loader's fuzzer (feature `parquet`).
#[cfg(feature = "parquet")]
mod parquet_cells {
    use super::*;
    use wgsl_train::data::{load_parquet, ParquetOptions};

    /// One hostile cell in a Parquet table of `PARQUET_ROWS` rows (row groups of 7) with columns
    /// `a` (f64), `b` (f32) and the target `y` (f64).
    #[derive(Debug, Clone)]
    enum ParquetCell {
        Null,
        NaN,
        Infinite,
        /// Finite in f64, infinite as the f32 the crate trains on.
        Huge,
        /// The column written as text, this cell not a number.
        Text(String),
    }

    const PARQUET_ROWS: usize = 30;

    fn parquet_fault() -> impl Strategy<Value = (usize, usize, ParquetCell)> {
        let cell = prop_oneof![
            Just(ParquetCell::Null),
            Just(ParquetCell::NaN),
            Just(ParquetCell::Infinite),
            Just(ParquetCell::Huge),
            prop::sample::select(vec!["", "x", "1,5", "NaN", "inf", "--1", "\u{0}"])
                .prop_map(|t| ParquetCell::Text(t.to_string())),
        ];
        (0..PARQUET_ROWS, 0..3usize, cell)
    }

    fn write_parquet(path: &Path, (row, col, cell): &(usize, usize, ParquetCell)) {
        use arrow_array::{ArrayRef, Float32Array, Float64Array, RecordBatch, StringArray};
        use parquet::arrow::ArrowWriter;
        use parquet::file::properties::WriterProperties;
        use std::sync::Arc;
        let mut values: Vec<Vec<Option<f64>>> = (0..3)
            .map(|c| {
                (0..PARQUET_ROWS)
                    .map(|r| Some((r * 3 + c) as f64 / 7.0))
                    .collect()
            })
            .collect();
        values[*col][*row] = match cell {
            ParquetCell::Null => None,
            ParquetCell::NaN => Some(f64::NAN),
            ParquetCell::Infinite => Some(f64::INFINITY),
            ParquetCell::Huge => Some(1e300),
            ParquetCell::Text(_) => Some(0.0),
        };
        let columns: Vec<(&str, ArrayRef)> = ["a", "b", "y"]
            .iter()
            .enumerate()
            .map(|(c, &name)| {
                let column: ArrayRef = match cell {
                    ParquetCell::Text(text) if c == *col => {
                        let mut cells: Vec<Option<String>> =
                            values[c].iter().map(|v| v.map(|v| v.to_string())).collect();
                        cells[*row] = Some(text.clone());
                        Arc::new(StringArray::from(cells))
                    }
                    _ if c == 1 => Arc::new(Float32Array::from(
                        values[c]
                            .iter()
                            .map(|v| v.map(|v| v as f32))
                            .collect::<Vec<_>>(),
                    )),
                    _ => Arc::new(Float64Array::from(values[c].clone())),
                };
                (name, column)
            })
            .collect();
        let batch = RecordBatch::try_from_iter(columns).unwrap();
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(7))
            .build();
        let file = std::fs::File::create(path).unwrap();
        let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(props)).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
    }

    /// Each hostile cell is an `Error::Parquet` naming its column and its row (counted across row
    /// groups), or loads where it leaves a valid table (a target turned to text is a label).
    #[test]
    fn a_hostile_parquet_cell_is_an_error_naming_its_column_and_row() {
        let dir = scratch("fuzz-parquet");
        let path = dir.join("case.parquet");
        let mut outcomes = BTreeMap::<String, usize>::new();
        let mut wrong = Vec::new();
        for fault in cases(
            "a_hostile_parquet_cell_is_an_error_naming_its_column_and_row",
            parquet_fault(),
        ) {
            write_parquet(&path, &fault);
            let (row, col, cell) = &fault;
            let kind = format!("{cell:?}").split('(').next().unwrap().to_string();
            let column = ["a", "b", "y"][*col];
            match load_parquet(&path, &ParquetOptions::default()) {
                Ok(_) => {
                    *outcomes
                        .entry(format!("{kind} in {column} loaded"))
                        .or_default() += 1
                }
                Err(Error::Parquet {
                    path: named,
                    detail,
                }) if named == path.display().to_string() => {
                    *outcomes
                        .entry(format!("{kind} in {column} refused"))
                        .or_default() += 1;
                    let row = format!("row {}", row + 1);
                    let column = format!("{column:?}");
                    if !(detail.contains(&row) && detail.contains(&column)) {
                        wrong.push(format!("{fault:?}: {detail}"));
                    }
                }
                Err(e) => wrong.push(format!("{fault:?}: {e:?}, not a Parquet error")),
            }
        }
        eprintln!("{} hostile Parquet cells: {outcomes:?}", case_count());
        assert!(
            wrong.is_empty(),
            "errors that do not name the cell:\n{}",
            wrong.join("\n")
        );
    }
}
