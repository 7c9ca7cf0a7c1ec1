//! Real datasets shipped inside the `linfa-datasets` crate, so examples and tests run with no
//! download.

use super::Dataset;
use crate::error::Result;

/// The diabetes data (Efron et al., 2004): 10 baseline features (age, sex, body mass index,
/// blood pressure, six blood serum measurements; mean-centred and scaled) and a quantitative
/// measure of disease progression one year later (25–346). Regression.
///
/// 441 rows, not the original 442: `linfa-datasets` 0.8 reads its header-less data files as if
/// they had a header, so the first patient is lost (features and target alike, so the rows
/// stay aligned).
///
/// # Errors
/// Only if the shipped data were corrupt.
pub fn diabetes() -> Result<Dataset> {
    let ds = linfa_datasets::diabetes();
    // ndarray's iter() walks in logical (row-major) order.
    let features = ds.records.iter().map(|&v| v as f32).collect();
    let targets = ds.targets.iter().map(|&v| v as f32).collect();
    Dataset::regression(features, ds.records.ncols(), targets)?
        .with_feature_names(ds.feature_names().to_vec())
}

/// Fisher's iris data: 150 flowers, 4 measurements, 3 species. Multiclass.
///
/// # Errors
/// Only if the shipped data were corrupt.
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
pub fn wine_quality() -> Result<Dataset> {
    let ds = linfa_datasets::winequality();
    let features = ds.records.iter().map(|&v| v as f32).collect();
    let labels = ds.targets.iter().map(|&q| u32::from(q >= 6)).collect();
    let classes = ["not good (< 6)", "good (≥ 6)"].map(String::from).to_vec();
    Dataset::classification(features, ds.records.ncols(), labels, classes)?
        .with_feature_names(ds.feature_names().to_vec())
}
