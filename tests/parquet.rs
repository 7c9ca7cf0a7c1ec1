//! Parquet files load as the same dataset as the same table written as CSV: features, targets,
//! classes and names; across row groups and record batches; with each compression; and bad
//! files are errors naming the column and row.
#![cfg(feature = "parquet")]

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::{ArrayRef, BinaryArray, BooleanArray, Float32Array, Float64Array, Int32Array};
use arrow_array::{RecordBatch, StringArray};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use rand::Rng;
use wgsl_train::data::{load_csv_from_reader, load_parquet, read_parquet_features};
use wgsl_train::data::{CsvOptions, ParquetOptions};
use wgsl_train::data::{TargetColumn, Task};
use wgsl_train::Error;

/// Named columns of one table.
type Columns = Vec<(&'static str, ArrayRef)>;

fn path(name: &str) -> PathBuf {
    common::scratch_dir().join(format!("{name}.parquet"))
}

/// Writes `columns` as a Parquet file of row groups of 100 rows.
fn write(name: &str, columns: Columns, compression: Compression) -> PathBuf {
    let batch = RecordBatch::try_from_iter(columns).unwrap();
    let path = path(name);
    let props = WriterProperties::builder()
        .set_compression(compression)
        .set_max_row_group_row_count(Some(100))
        .build();
    let file = std::fs::File::create(&path).unwrap();
    let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(props)).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    path
}

/// The same table as CSV text: numbers as Rust prints them (which parse back exactly).
fn csv_text(names: &[&str], rows: &[Vec<String>]) -> String {
    let mut text = names.join(",") + "\n";
    for row in rows {
        text += &(row.join(",") + "\n");
    }
    text
}

#[test]
fn parquet_loads_as_the_same_table_in_csv_does() {
    let (mut rng, _) = common::rng("parquet-table");
    let n = 2500; // 25 row groups; read back in record batches of 1,024 rows
    let a: Vec<f64> = (0..n)
        .map(|_| f64::from(rng.random_range(-3.0f32..3.0)))
        .collect();
    let b: Vec<i32> = (0..n).map(|_| rng.random_range(-50..50)).collect();
    let c: Vec<f32> = (0..n).map(|_| rng.random_range(0.0f32..1.0)).collect();
    let flag: Vec<bool> = (0..n).map(|_| rng.random_bool(0.5)).collect();
    let kinds = ["spam", "ham", "eggs"];
    let kind: Vec<&str> = (0..n).map(|_| kinds[rng.random_range(0..3)]).collect();
    let y: Vec<f64> = (0..n)
        .map(|_| f64::from(rng.random_range(-10.0f32..10.0)))
        .collect();
    let rows: Vec<Vec<String>> = (0..n)
        .map(|i| {
            vec![
                (a[i] as f32).to_string(),
                b[i].to_string(),
                c[i].to_string(),
                u8::from(flag[i]).to_string(),
                kind[i].to_string(),
                (y[i] as f32).to_string(),
            ]
        })
        .collect();
    let names = ["a", "b", "c", "flag", "kind", "y"];
    let columns = || -> Columns {
        vec![
            ("a", Arc::new(Float64Array::from(a.clone()))),
            ("b", Arc::new(Int32Array::from(b.clone()))),
            ("c", Arc::new(Float32Array::from(c.clone()))),
            ("flag", Arc::new(BooleanArray::from(flag.clone()))),
            ("kind", Arc::new(StringArray::from(kind.clone()))),
            ("y", Arc::new(Float64Array::from(y.clone()))),
        ]
    };
    let compressions = [
        ("plain", Compression::UNCOMPRESSED),
        ("snappy", Compression::SNAPPY),
        ("zstd", Compression::ZSTD(ZstdLevel::default())),
    ];
    for (name, compression) in compressions {
        let file = write(name, columns(), compression);
        // Classification on the text column, the numeric `y` a feature.
        let target = TargetColumn::Name("kind".into());
        let parquet = ParquetOptions {
            target: target.clone(),
            task: None,
        };
        let csv = CsvOptions {
            target,
            ..CsvOptions::default()
        };
        let text = csv_text(&names, &rows);
        let got = load_parquet(&file, &parquet).unwrap();
        let want = load_csv_from_reader(text.as_bytes(), "table", &csv).unwrap();
        assert_eq!(got.task(), Task::Multiclass);
        assert_eq!(got.class_names(), &["eggs", "ham", "spam"]);
        assert_eq!(got, want, "{name}");
    }
    // Regression on the numeric columns, the target in the middle, named by index.
    let numeric = |row: &Vec<String>| vec![row[0].clone(), row[5].clone(), row[1].clone()];
    let text = csv_text(
        &["a", "y", "b"],
        &rows.iter().map(numeric).collect::<Vec<_>>(),
    );
    let file = write(
        "regression",
        vec![
            ("a", Arc::new(Float64Array::from(a.clone())) as ArrayRef),
            ("y", Arc::new(Float64Array::from(y.clone()))),
            ("b", Arc::new(Int32Array::from(b.clone()))),
        ],
        Compression::SNAPPY,
    );
    let got = load_parquet(
        &file,
        &ParquetOptions {
            target: TargetColumn::Index(1),
            task: None,
        },
    )
    .unwrap();
    let csv = CsvOptions {
        target: TargetColumn::Index(1),
        ..CsvOptions::default()
    };
    let want = load_csv_from_reader(text.as_bytes(), "numeric", &csv).unwrap();
    assert_eq!(got.task(), Task::Regression);
    assert_eq!(got.feature_names(), &["a", "b"]);
    assert_eq!(got, want);
}

#[test]
fn bad_parquet_files_are_errors_naming_the_column_and_row() {
    let numbers = |v: Vec<Option<f64>>| Arc::new(Float64Array::from(v)) as ArrayRef;
    let target = || numbers((0..5).map(|i| Some(f64::from(i))).collect());
    let cases: Vec<(&str, Columns, &str)> = vec![
        (
            "null",
            vec![
                (
                    "x",
                    numbers(vec![Some(1.0), Some(2.0), None, Some(4.0), Some(5.0)]),
                ),
                ("y", target()),
            ],
            "row 3: column \"x\" is empty (null)",
        ),
        (
            "text",
            vec![
                (
                    "x",
                    Arc::new(StringArray::from(vec!["1", "2", "3", "four", "5"])),
                ),
                ("y", target()),
            ],
            "row 4: column \"x\" holds no number",
        ),
        (
            "binary",
            vec![
                (
                    "x",
                    Arc::new(BinaryArray::from_vec(vec![b"a", b"b", b"c", b"d", b"e"])),
                ),
                ("y", target()),
            ],
            "column \"x\" holds Binary, not numbers",
        ),
        (
            "infinite",
            vec![
                (
                    "x",
                    numbers(vec![
                        Some(1.0),
                        Some(1e300),
                        Some(3.0),
                        Some(4.0),
                        Some(5.0),
                    ]),
                ),
                ("y", target()),
            ],
            "row 2: column \"x\" holds inf, not a finite f32",
        ),
        (
            "one-column",
            vec![("y", target())],
            "need at least one feature and a target column",
        ),
    ];
    for (name, columns, needle) in cases {
        let file = write(name, columns, Compression::UNCOMPRESSED);
        let err = load_parquet(&file, &ParquetOptions::default()).unwrap_err();
        assert!(matches!(err, Error::Parquet { .. }), "{name}: {err}");
        assert!(
            err.to_string().contains(needle),
            "{name}: {err} should say {needle}"
        );
    }
    let file = write(
        "target",
        vec![("x", target()), ("y", target())],
        Compression::SNAPPY,
    );
    let options = ParquetOptions {
        target: TargetColumn::Name("z".into()),
        task: None,
    };
    let err = load_parquet(&file, &options).unwrap_err();
    assert!(err.to_string().contains("no target column \"z\""), "{err}");
    let options = ParquetOptions {
        task: Some(Task::Binary),
        ..ParquetOptions::default()
    };
    let err = load_parquet(&file, &options).unwrap_err();
    assert!(err.to_string().contains("exactly 2 classes"), "{err}");
    let empty = write(
        "empty",
        vec![("x", numbers(vec![])), ("y", numbers(vec![]))],
        Compression::SNAPPY,
    );
    let err = load_parquet(&empty, &ParquetOptions::default()).unwrap_err();
    assert!(matches!(err, Error::Data(_)), "{err}");
    let garbage = path("garbage");
    std::fs::write(&garbage, b"a,b\n1,2\n").unwrap();
    let err = load_parquet(&garbage, &ParquetOptions::default()).unwrap_err();
    assert!(matches!(err, Error::Parquet { .. }), "{err}");
    let err = load_parquet("/nonexistent/file.parquet", &ParquetOptions::default()).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
}

#[test]
fn the_cli_trains_on_a_parquet_file_as_on_the_same_csv() {
    let data = wgsl_train::data::diabetes().unwrap();
    let names: Vec<&str> = data
        .feature_names()
        .iter()
        .map(String::as_str)
        .chain(["progression"])
        .collect();
    let d = data.n_features();
    let mut columns: Columns = Vec::new();
    for (c, name) in names.iter().take(d).enumerate() {
        let values: Vec<f32> = (0..data.len()).map(|r| data.row(r)[c]).collect();
        let name: &'static str = Box::leak(name.to_string().into_boxed_str());
        columns.push((name, Arc::new(Float32Array::from(values))));
    }
    columns.push((
        "progression",
        Arc::new(Float32Array::from(data.target_values())),
    ));
    let parquet = write("cli", columns, Compression::SNAPPY);
    let rows: Vec<Vec<String>> = (0..data.len())
        .map(|r| {
            let mut row: Vec<String> = data.row(r).iter().map(f32::to_string).collect();
            row.push(data.target_values()[r].to_string());
            row
        })
        .collect();
    let csv = parquet.with_extension("csv");
    std::fs::write(&csv, csv_text(&names, &rows)).unwrap();
    let model = parquet.with_extension("safetensors");
    let cli = |args: &[&str], file: &PathBuf| {
        let out = common::run_cli(args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).replace(file.to_str().unwrap(), "DATA")
    };
    let train = |file: &PathBuf| {
        let data = file.to_str().unwrap();
        let save = model.to_str().unwrap();
        // The second run replaces the first's model: the same path, asked for.
        let args = [
            "train",
            "--data",
            data,
            "--epochs",
            "5",
            "--quiet",
            "--save",
            save,
            "--overwrite",
        ];
        cli(&args, file)
    };
    let from_parquet = train(&parquet);
    assert!(from_parquet.contains("test"), "{from_parquet}");
    assert_eq!(from_parquet, train(&csv));
    // Predictions from either file, with the model the CSV run saved.
    let predict = |file: &PathBuf| {
        let args = [
            "predict",
            "--checkpoint",
            model.to_str().unwrap(),
            "--data",
            file.to_str().unwrap(),
        ];
        cli(&args, file)
    };
    let from_parquet = predict(&parquet);
    assert_eq!(
        from_parquet.lines().count(),
        data.len() + 1,
        "{from_parquet}"
    );
    assert_eq!(from_parquet, predict(&csv));
}

#[test]
fn read_parquet_features_picks_the_named_columns_in_order() {
    let file = write(
        "features",
        vec![
            ("b", Arc::new(Int32Array::from(vec![1, 2, 3])) as ArrayRef),
            ("label", Arc::new(StringArray::from(vec!["x", "y", "z"]))),
            ("a", Arc::new(Float64Array::from(vec![0.5, 1.5, 2.5]))),
        ],
        Compression::SNAPPY,
    );
    let names = ["a".to_string(), "b".to_string()];
    let (values, rows) = read_parquet_features(&file, &names).unwrap();
    assert_eq!(rows, 3);
    assert_eq!(values, vec![0.5, 1.0, 1.5, 2.0, 2.5, 3.0]);
    let err = read_parquet_features(&file, &["c".to_string()]).unwrap_err();
    assert!(err.to_string().contains("no column \"c\""), "{err}");
}

/// Files written by pyarrow, pandas (its label a category: a dictionary column) and polars
/// (strings as large strings), each with its defaults (`scripts/golden/parquet.py`, versions in
/// versions.json), load as the same table written as CSV beside them: the classification on
/// the label, and the numeric columns by name (as `predict` reads them).
#[test]
fn files_written_by_pyarrow_pandas_and_polars_load_as_their_csv() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/parquet");
    let csv = std::fs::read_to_string(dir.join("table.csv")).unwrap();
    let want = load_csv_from_reader(csv.as_bytes(), "table.csv", &CsvOptions::default()).unwrap();
    assert_eq!(want.task(), Task::Multiclass);
    assert_eq!(want.class_names(), &["high", "low", "mid"]);
    // The regression: every column but the label, `age` the target.
    let numeric: String = csv
        .lines()
        .map(|line| line.rsplit_once(',').unwrap().0.to_string() + "\n")
        .collect();
    let by_age = |target| CsvOptions {
        target,
        ..CsvOptions::default()
    };
    let age = TargetColumn::Name("age".into());
    let want_age = load_csv_from_reader(numeric.as_bytes(), "table.csv", &by_age(age)).unwrap();
    for writer in ["pyarrow", "pandas", "polars"] {
        let file = dir.join(format!("{writer}.parquet"));
        let got = load_parquet(&file, &ParquetOptions::default()).unwrap();
        assert_eq!(got, want, "{writer}");
        let columns = |names: &[&str]| {
            let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
            let (values, rows) = read_parquet_features(&file, &names).unwrap();
            assert_eq!(rows, want.len(), "{writer}");
            values
        };
        let x = columns(&["dose", "visits", "smoker"]);
        assert_eq!(columns(&["age"]), want_age.target_values(), "{writer}");
        assert_eq!(x, want_age.features(), "{writer}: read_parquet_features");
    }
}
