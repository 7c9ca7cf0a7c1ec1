//! Datasets, splits, k-fold, standardisation, CSV loading and metrics, against values worked
//! out by hand. No GPU needed for these.

mod common;

use wgsl_train::data::{
    diabetes, load_csv, load_csv_from_reader, CsvOptions, Dataset, SplitConfig, Standardizer,
    TargetColumn, TargetScaler, Targets, Task,
};
use wgsl_train::metrics::{binary, multiclass, regression, roc_auc};
use wgsl_train::Error;

fn classes(n: usize, k: u32) -> Dataset {
    let features: Vec<f32> = (0..n * 2).map(|i| i as f32).collect();
    let labels: Vec<u32> = (0..n as u32).map(|i| i % k).collect();
    let names = (0..k).map(|c| format!("c{c}")).collect();
    Dataset::classification(features, 2, labels, names).unwrap()
}

#[test]
fn splits_partition_the_rows_and_keep_class_proportions() {
    let data = classes(300, 3);
    let split = data
        .split(&SplitConfig {
            validation: 0.2,
            test: 0.1,
            seed: 5,
            stratify: true,
        })
        .unwrap();
    let mut all: Vec<usize> = split.indices.iter().flatten().copied().collect();
    all.sort_unstable();
    assert_eq!(
        all,
        (0..300).collect::<Vec<_>>(),
        "every row in exactly one split"
    );
    assert_eq!(
        [split.train.len(), split.validation.len(), split.test.len()],
        [210, 60, 30]
    );
    for part in [&split.train, &split.validation, &split.test] {
        let Targets::Classes(labels) = part.targets() else {
            panic!()
        };
        for c in 0..3 {
            assert_eq!(
                labels.iter().filter(|&&l| l == c).count() * 3,
                part.len(),
                "class {c} share in a split"
            );
        }
    }
    // The split rows are the original rows.
    assert_eq!(split.test.row(0), data.row(split.indices[2][0]));
    // Seeded: the same seed gives the same split, another seed another.
    let again = data
        .split(&SplitConfig {
            validation: 0.2,
            test: 0.1,
            seed: 5,
            stratify: true,
        })
        .unwrap();
    assert_eq!(again.indices, split.indices);
    let other = data
        .split(&SplitConfig {
            validation: 0.2,
            test: 0.1,
            seed: 6,
            stratify: true,
        })
        .unwrap();
    assert_ne!(other.indices, split.indices);
}

#[test]
fn k_fold_validation_parts_partition_the_rows_without_leakage() {
    let data = classes(103, 2);
    let folds = data.k_fold(5, 1).unwrap();
    assert_eq!(folds.len(), 5);
    let mut held_out: Vec<usize> = folds.iter().flat_map(|f| f.validation.clone()).collect();
    held_out.sort_unstable();
    assert_eq!(
        held_out,
        (0..103).collect::<Vec<_>>(),
        "each row held out exactly once"
    );
    for fold in &folds {
        assert!(fold.validation.len() == 20 || fold.validation.len() == 21);
        assert!(
            fold.train
                .iter()
                .all(|r| fold.validation.binary_search(r).is_err()),
            "a training row is held out"
        );
        assert_eq!(fold.train.len() + fold.validation.len(), 103);
    }
    assert!(matches!(data.k_fold(1, 0), Err(Error::Data(_))));
    assert!(matches!(data.k_fold(104, 0), Err(Error::Data(_))));
}

#[test]
fn standardisation_uses_training_statistics_only() {
    // Feature 0: train values 1, 2, 3 (mean 2, population std √(2/3)); feature 1 constant.
    let train = Dataset::regression(
        vec![1.0, 5.0, 2.0, 5.0, 3.0, 5.0],
        2,
        vec![10.0, 20.0, 30.0],
    )
    .unwrap();
    let test = Dataset::regression(vec![100.0, 7.0], 2, vec![0.0]).unwrap();
    let s = Standardizer::fit(&train);
    assert_eq!(s.mean, vec![2.0, 5.0]);
    assert!((s.std[0] - (2.0f64 / 3.0).sqrt()).abs() < 1e-12);
    assert_eq!(s.std[1], 1.0, "a constant feature keeps std 1");
    let t = s.apply(&test).unwrap();
    // (100 − 2)/√(2/3) with the training statistics, not the test row's own.
    assert!((f64::from(t.features()[0]) - 98.0 / (2.0f64 / 3.0).sqrt()).abs() < 1e-3);
    assert_eq!(t.features()[1], 2.0);
    let y = TargetScaler::fit(&train).unwrap();
    assert_eq!(y.mean, 20.0);
    assert!((f64::from(y.inverse(y.apply(&test).target_values()[0])) - 0.0).abs() < 1e-4);
}

#[test]
fn metrics_match_hand_worked_values() {
    // Regression: errors 1, −1, 2, 0 → MSE (1+1+4+0)/4 = 1.5, MAE 1, RMSE √1.5;
    // targets 1, 2, 3, 4 (mean 2.5, SS_tot 5) → R² = 1 − 6/5 = −0.2.
    let r = regression(&[2.0, 1.0, 5.0, 4.0], &[1.0, 2.0, 3.0, 4.0]);
    assert_eq!((r.mse, r.mae, r.r2), (1.5, 1.0, 1.0 - 6.0 / 5.0));
    assert!((r.rmse - 1.5f64.sqrt()).abs() < 1e-15);

    // Binary at threshold 0.5: predictions 1, 1, 0, 0, 1 against labels 1, 0, 0, 1, 1:
    // TP 2, FP 1, TN 1, FN 1 → accuracy 3/5, precision 2/3, recall 2/3, F1 2/3.
    let prob = [0.9f32, 0.6, 0.2, 0.4, 0.7];
    let labels = [1u32, 0, 0, 1, 1];
    let b = binary(&prob, &labels);
    assert_eq!(b.accuracy, 0.6);
    assert!((b.precision - 2.0 / 3.0).abs() < 1e-12 && (b.recall - 2.0 / 3.0).abs() < 1e-12);
    assert!((b.f1 - 2.0 / 3.0).abs() < 1e-12);
    // AUC: positives score 0.9, 0.4, 0.7; negatives 0.6, 0.2. Pairs won: 0.9 beats both, 0.7
    // beats both, 0.4 beats 0.2 only → 5 of 6.
    assert!((b.roc_auc - 5.0 / 6.0).abs() < 1e-12);
    // Ties count half: all scores equal → 0.5.
    assert_eq!(roc_auc(&[0.3, 0.3, 0.3], &[1, 0, 1]), 0.5);
    // BCE = −(ln .9 + ln .4 + ln .8 + ln .4 + ln .7)/5.
    let want = -(0.9f64.ln() + 0.4f64.ln() + 0.8f64.ln() + 0.4f64.ln() + 0.7f64.ln()) / 5.0;
    assert!((b.bce - want).abs() < 1e-6);

    // Multiclass: argmax classes 0, 1, 1, 2 against labels 0, 1, 2, 2.
    let prob = [
        0.7f32, 0.2, 0.1, 0.1, 0.8, 0.1, 0.2, 0.5, 0.3, 0.1, 0.1, 0.8,
    ];
    let m = multiclass(&prob, &[0, 1, 2, 2], 3);
    assert_eq!(m.accuracy, 0.75);
    assert_eq!(
        m.confusion,
        vec![vec![1, 0, 0], vec![0, 1, 0], vec![0, 1, 1]]
    );
    // F1: class 0 = 1; class 1: P 1/2, R 1 → 2/3; class 2: P 1, R 1/2 → 2/3. Macro (1 + 4/3)/3.
    assert!((m.macro_f1 - (1.0 + 4.0 / 3.0) / 3.0).abs() < 1e-12);
    let ce = -(0.7f64.ln() + 0.8f64.ln() + 0.3f64.ln() + 0.8f64.ln()) / 4.0;
    assert!((m.cross_entropy - ce).abs() < 1e-6);
}

/// Edge cases where scikit-learn's answer is documented: `r2_score` with constant targets is
/// 1.0 for perfect predictions and 0.0 otherwise (`force_finite=True`); `f1_score(average=
/// "macro")` averages over the classes present in the labels or the predictions, so a class in
/// neither changes nothing.
#[test]
fn metric_edge_cases_agree_with_scikit_learn() {
    assert_eq!(regression(&[3.0, 3.0, 3.0], &[3.0, 3.0, 3.0]).r2, 1.0);
    assert_eq!(regression(&[2.0, 3.0, 3.0], &[3.0, 3.0, 3.0]).r2, 0.0);
    // Labels 0, 1, 0, 1 and predictions 0, 1, 1, 1 among 3 classes (class 2 in neither):
    // class 0: P 1, R 1/2 → F1 2/3; class 1: P 2/3, R 1 → F1 4/5; sklearn: (2/3 + 4/5) / 2.
    let prob = [
        0.8f32, 0.1, 0.1, 0.1, 0.8, 0.1, 0.3, 0.6, 0.1, 0.2, 0.7, 0.1,
    ];
    let m = multiclass(&prob, &[0, 1, 0, 1], 3);
    assert!(
        (m.macro_f1 - (2.0 / 3.0 + 4.0 / 5.0) / 2.0).abs() < 1e-12,
        "{}",
        m.macro_f1
    );
}

fn write(name: &str, text: &str) -> std::path::PathBuf {
    let path = common::scratch_dir().join(format!("{name}.csv"));
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn csv_loads_regression_and_string_labelled_classification() {
    let path = write("reg", "a,b,y\n1,2,3.5\n4,5,6.5\n\n7,8,9\n");
    let data = load_csv(&path, &CsvOptions::default()).unwrap();
    assert_eq!(
        (data.task(), data.len(), data.n_features()),
        (Task::Regression, 3, 2)
    );
    assert_eq!(data.features(), &[1.0, 2.0, 4.0, 5.0, 7.0, 8.0]);
    assert_eq!(data.target_values(), vec![3.5, 6.5, 9.0]);
    assert_eq!(data.feature_names(), &["a", "b"]);

    let path = write("cls", "kind,x\nspam,1\nham,2\nspam,3\neggs,4\n");
    let options = CsvOptions {
        target: TargetColumn::Name("kind".into()),
        ..CsvOptions::default()
    };
    let data = load_csv(&path, &options).unwrap();
    assert_eq!(data.task(), Task::Multiclass);
    assert_eq!(data.class_names(), &["eggs", "ham", "spam"]);
    assert_eq!(data.targets(), &Targets::Classes(vec![2, 1, 2, 0]));

    // Integer labels forced to binary classification; classes sorted numerically.
    let path = write("bin", "x,label\n1,10\n2,9\n3,10\n");
    let options = CsvOptions {
        task: Some(Task::Binary),
        ..CsvOptions::default()
    };
    let data = load_csv(&path, &options).unwrap();
    assert_eq!(data.class_names(), &["9", "10"]);
    assert_eq!(data.targets(), &Targets::Classes(vec![1, 0, 1]));
}

#[test]
fn bad_csv_files_are_errors_naming_the_line() {
    let cases: [(&str, &str, CsvOptions, &str); 6] = [
        (
            "ragged",
            "a,b,y\n1,2,3\n4,5\n",
            CsvOptions::default(),
            "line 3",
        ),
        (
            "text",
            "a,b,y\n1,2,3\n4,five,6\n",
            CsvOptions::default(),
            "line 3",
        ),
        ("header", "1,2,3\n4,5,6\n", CsvOptions::default(), "line 1"),
        (
            "target",
            "a,b,y\n1,2,3\n",
            CsvOptions {
                target: TargetColumn::Name("z".into()),
                ..CsvOptions::default()
            },
            "\"z\"",
        ),
        (
            "binary",
            "a,y\n1,x\n2,y\n3,z\n",
            CsvOptions {
                task: Some(Task::Binary),
                ..CsvOptions::default()
            },
            "exactly 2",
        ),
        (
            "regression",
            "a,y\n1,2\n2,x\n",
            CsvOptions {
                task: Some(Task::Regression),
                ..CsvOptions::default()
            },
            "line 3",
        ),
    ];
    for (name, text, options, needle) in cases {
        let err = load_csv(write(name, text), &options).unwrap_err();
        assert!(matches!(err, Error::Csv { .. }), "{name}: {err}");
        assert!(
            err.to_string().contains(needle),
            "{name}: {err} should mention {needle}"
        );
    }
    assert!(matches!(
        load_csv(write("empty", "a,y\n"), &CsvOptions::default()),
        Err(Error::Data(_))
    ));
    assert!(matches!(
        load_csv("/nonexistent/file.csv", &CsvOptions::default()),
        Err(Error::Io { .. })
    ));
}

#[test]
fn csv_targets_with_many_distinct_values_are_regression_not_classes() {
    // 70,000 distinct numbers: more than the loader keeps as class labels (65,536). Detected
    // as regression, every value kept; forced to classification, refused by name.
    let rows = 70_000;
    let text: String = std::iter::once("x,y\n".to_string())
        .chain((0..rows).map(|i| format!("{i},{}.25\n", i * 2)))
        .collect();
    let data = load_csv_from_reader(text.as_bytes(), "many", &CsvOptions::default()).unwrap();
    assert_eq!((data.task(), data.len()), (Task::Regression, rows));
    assert_eq!(
        data.target_values()[rows - 1],
        (2 * (rows - 1)) as f32 + 0.25
    );
    let options = CsvOptions {
        task: Some(Task::Multiclass),
        ..CsvOptions::default()
    };
    let err = load_csv_from_reader(text.as_bytes(), "many", &options).unwrap_err();
    assert!(
        err.to_string().contains("more than 65536 distinct labels"),
        "{err}"
    );
    // Numeric labels that tie as numbers sort by their text: "1" before "1.0".
    let text = "x,y\n1,1.0\n2,1\n3,0\n";
    let data = load_csv_from_reader(text.as_bytes(), "ties", &options).unwrap();
    assert_eq!(data.class_names(), &["0", "1", "1.0"]);
    assert_eq!(data.targets(), &Targets::Classes(vec![2, 1, 0]));
}

#[test]
fn bad_datasets_are_errors_naming_row_and_column() {
    let err = Dataset::regression(vec![1.0, f32::NAN, 3.0, 4.0], 2, vec![0.0, 1.0]).unwrap_err();
    assert!(err.to_string().contains("row 0, column 1"), "{err}");
    let err = Dataset::regression(vec![1.0, 2.0], 2, vec![f32::INFINITY]).unwrap_err();
    assert!(err.to_string().contains("row 0"), "{err}");
    assert!(matches!(
        Dataset::regression(vec![], 2, vec![]),
        Err(Error::Data(_))
    ));
    let err = Dataset::classification(vec![1.0, 2.0], 1, vec![0, 5], vec!["a".into(), "b".into()])
        .unwrap_err();
    assert!(err.to_string().contains("row 1"), "{err}");
    assert!(Dataset::classification(vec![1.0], 1, vec![0], vec!["only".into()]).is_err());
}

/// All 442 patients of Efron et al.'s diabetes data, the first one included: its published
/// values (scikit-learn's `load_diabetes()`, row 0) are age 0.0380759064, sex 0.0506801187,
/// s6 −0.0176461252 and a progression of 151; the last patient's is 57.
#[test]
fn the_diabetes_data_has_every_patient() {
    let data = diabetes().unwrap();
    assert_eq!((data.len(), data.n_features()), (442, 10));
    let first = data.row(0);
    for (got, want) in [
        (first[0], 0.038_075_906_4),
        (first[1], 0.050_680_118_7),
        (first[9], -0.017_646_125_2),
    ] {
        assert!((f64::from(got) - want).abs() < 1e-8, "{first:?}");
    }
    let targets = data.target_values();
    assert_eq!((targets[0], targets[441]), (151.0, 57.0));
}

/// A missing label (an empty or NaN cell) among classes is an error naming its line, never a
/// class of its own; two classes asked for as multiclass are refused with the reason; an error
/// about the whole file names no line (no "line 0").
#[test]
fn missing_labels_are_named_and_the_task_asked_for_is_honoured_or_refused() {
    let load = |text: &str, task: Option<Task>| {
        let options = CsvOptions {
            task,
            ..CsvOptions::default()
        };
        load_csv_from_reader(text.as_bytes(), "pets.csv", &options)
    };
    let message = |r: wgsl_train::Result<Dataset>| r.unwrap_err().to_string();
    let empty = message(load("x,y\n1,cat\n2,\n3,dog\n", None));
    assert!(
        empty.contains("line 3") && empty.contains("empty"),
        "{empty}"
    );
    let nan = message(load("x,y\n1,cat\n2,dog\n3,NaN\n", None));
    assert!(nan.contains("line 4") && nan.contains("\"NaN\""), "{nan}");
    let numeric = message(load("x,y\n1,0\n2,1\n3,nan\n4,2\n", Some(Task::Multiclass)));
    assert!(numeric.contains("line 4"), "{numeric}");
    let two = message(load("x,y\n1,cat\n2,dog\n3,cat\n", Some(Task::Multiclass)));
    assert!(
        two.contains("2 classes") && two.contains("binary") && !two.contains("line 0"),
        "{two}"
    );
    let data = load("x,y\n1,cat\n2,dog\n3,cat\n", Some(Task::Binary)).unwrap();
    assert_eq!(data.class_names(), &["cat", "dog"]);
    // A missing value in a regression target is still named as no number.
    let regression = message(load("x,y\n1,0.5\n2,\n3,1.5\n", None));
    assert!(regression.contains("line 3"), "{regression}");
}

/// A file separated by semicolons is not reported as a bare "one column": the message says
/// what the header holds. A split of a tiny file says its rows in words ("1 row").
#[test]
fn a_semicolon_file_and_a_tiny_split_are_explained() {
    let semi = load_csv_from_reader(
        "a;b;y\n1;2;3\n4;5;6\n".as_bytes(),
        "semi.csv",
        &CsvOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        semi.contains("found one column") && semi.contains("';'") && semi.contains("delimiter"),
        "{semi}"
    );
    let plain = load_csv_from_reader("y\n1\n2\n".as_bytes(), "plain.csv", &CsvOptions::default())
        .unwrap_err()
        .to_string();
    assert!(!plain.contains("delimiter"), "{plain}");
    let one = Dataset::regression(vec![1.0], 1, vec![2.0]).unwrap();
    let tiny = one.split(&SplitConfig::default()).unwrap_err().to_string();
    assert!(tiny.contains("of 1 row rounds to none"), "{tiny}");
}
