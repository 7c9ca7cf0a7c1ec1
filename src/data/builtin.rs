//! Real datasets shipped with the crate (diabetes in `data/`, iris and wine inside the
//! `linfa-datasets` crate), so examples and tests run with no download.

use super::Dataset;
use crate::error::{Error, Result};

/// The diabetes data (Efron et al., 2004): 442 patients, 10 baseline features (age, sex, body
/// mass index, blood pressure, six blood serum measurements; mean-centred and scaled) and a
/// quantitative measure of disease progression one year later (25–346). Regression.
///
/// The files are in the repository's `data/diabetes/` (copies of those in `linfa-datasets`,
/// whose own loader reads them as if they had a header row and so loses the first patient).
///
/// # Errors
/// Only if the shipped data were corrupt.
pub fn diabetes() -> Result<Dataset> {
    let features = read_gz_csv(include_bytes!("../../data/diabetes/diabetes_data.csv.gz"))?;
    let targets = read_gz_csv(include_bytes!("../../data/diabetes/diabetes_target.csv.gz"))?;
    let names = [
        "age",
        "sex",
        "body mass index",
        "average blood pressure",
        "s1 tc (total serum cholesterol)",
        "s2 ldl (low-density lipoproteins)",
        "s3 hdl (high-density lipoproteins)",
        "s4 tch (total cholesterol / HDL)",
        "s5 ltg (log of serum triglycerides)",
        "s6 glu (blood sugar level)",
    ];
    Dataset::regression(features, names.len(), targets)?
        .with_feature_names(names.map(String::from).to_vec())
}

/// Every value of a gzip-compressed, header-less CSV file of numbers, row by row.
fn read_gz_csv(compressed: &[u8]) -> Result<Vec<f32>> {
    let corrupt = |detail: String| Error::InvalidArgument {
        op: "built-in dataset",
        detail,
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(flate2::read::GzDecoder::new(compressed));
    let mut values = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| corrupt(e.to_string()))?;
        for field in &record {
            let value = field
                .trim()
                .parse::<f32>()
                .map_err(|e| corrupt(format!("{field:?}: {e}")))?;
            values.push(value);
        }
    }
    Ok(values)
}

/// Fisher's iris data: 150 flowers, 4 measurements, 3 species. Multiclass.
///
/// # Errors
/// Only if the shipped data were corrupt.
#[cfg(feature = "datasets")]
pub fn iris() -> Result<Dataset> {
    let ds = linfa_datasets::iris();
    let features = ds.records.iter().map(|&v| v as f32).collect();
    let labels = ds.targets.iter().map(|&c| c as u32).collect();
    let classes = ["setosa", "versicolor", "virginica"]
        .map(String::from)
        .to_vec();
    Dataset::classification(features, ds.records.ncols(), labels, classes)?
        .with_feature_names(ds.feature_names().to_vec())
}

/// Red wine quality (Cortez et al., 2009): 1,599 wines, 11 physico-chemical measurements, and
/// a quality score 3–8 made binary: "good" (≥ 6) or not. Binary classification.
///
/// # Errors
/// Only if the shipped data were corrupt.
#[cfg(feature = "datasets")]
pub fn wine_quality() -> Result<Dataset> {
    let ds = linfa_datasets::winequality();
    let features = ds.records.iter().map(|&v| v as f32).collect();
    let labels = ds.targets.iter().map(|&q| u32::from(q >= 6)).collect();
    let classes = ["not good (< 6)", "good (≥ 6)"].map(String::from).to_vec();
    Dataset::classification(features, ds.records.ncols(), labels, classes)?
        .with_feature_names(ds.feature_names().to_vec())
}
