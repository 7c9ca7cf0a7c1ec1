//! Evaluation metrics, each with the score of a constant predictor beside it (the mean, or the
//! majority class, of the training targets), so a model's score always has a reference.
//!
//! Conventions: precision, recall and F1 are 0 when undefined (no predicted or no actual
//! positives), as scikit-learn's `zero_division=0`; ROC-AUC is 0.5 when one class is absent.

/// Regression scores.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RegressionMetrics {
    /// Mean squared error.
    pub mse: f64,
    /// Root mean squared error.
    pub rmse: f64,
    /// Mean absolute error.
    pub mae: f64,
    /// Coefficient of determination, `1 − SS_res / SS_tot` (about the targets' own mean). With
    /// constant targets (SS_tot = 0) it is 1 for perfect predictions and 0 otherwise, as
    /// scikit-learn's `r2_score` gives.
    pub r2: f64,
    /// Whether the targets are all equal (SS_tot = 0), where `r2` is that 1 or 0 rather than
    /// a fraction of explained variance.
    #[serde(default)]
    pub constant_targets: bool,
}

/// Scores of predictions `pred` against targets `y`.
pub fn regression(pred: &[f32], y: &[f32]) -> RegressionMetrics {
    let n = y.len() as f64;
    let mean = y.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let (mut ss_res, mut abs, mut ss_tot) = (0.0, 0.0, 0.0);
    for (&p, &t) in pred.iter().zip(y) {
        let d = f64::from(p) - f64::from(t);
        ss_res += d * d;
        abs += d.abs();
        ss_tot += (f64::from(t) - mean).powi(2);
    }
    let mse = ss_res / n;
    RegressionMetrics {
        mse,
        rmse: mse.sqrt(),
        mae: abs / n,
        r2: if ss_tot > 0.0 {
            1.0 - ss_res / ss_tot
        } else if ss_res == 0.0 {
            1.0
        } else {
            0.0
        },
        constant_targets: ss_tot == 0.0,
    }
}

/// The report's note on R² where a split's targets are all equal (`splits` names them), or
/// `None` when none is.
pub fn constant_target_note(splits: &[&str]) -> Option<String> {
    (!splits.is_empty()).then(|| {
        format!(
            "R² on {}: the targets are all equal there, so R² is 1 for a perfect prediction and 0 otherwise (scikit-learn's r2_score), not a share of explained variance",
            splits.join(", ")
        )
    })
}

/// The scores of always predicting `train_mean`.
pub fn regression_baseline(train_mean: f32, y: &[f32]) -> RegressionMetrics {
    regression(&vec![train_mean; y.len()], y)
}

/// Binary classification scores, at the decision threshold p = 0.5.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BinaryMetrics {
    /// Fraction of rows classified correctly.
    pub accuracy: f64,
    /// TP / (TP + FP).
    pub precision: f64,
    /// TP / (TP + FN).
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// Area under the ROC curve: the probability that a random positive scores above a random
    /// negative (ties count half).
    pub roc_auc: f64,
    /// Mean binary cross-entropy.
    pub bce: f64,
}

/// Scores of probabilities of class 1 `prob` against labels 0/1.
pub fn binary(prob: &[f32], labels: &[u32]) -> BinaryMetrics {
    let n = labels.len() as f64;
    let (mut tp, mut fp, mut tn, mut fn_) = (0.0, 0.0, 0.0, 0.0);
    let mut bce = 0.0;
    for (&p, &l) in prob.iter().zip(labels) {
        let predicted = p >= 0.5;
        match (predicted, l == 1) {
            (true, true) => tp += 1.0,
            (true, false) => fp += 1.0,
            (false, false) => tn += 1.0,
            (false, true) => fn_ += 1.0,
        }
        let p = f64::from(p);
        bce -= if l == 1 {
            clamped_ln(p)
        } else {
            clamped_ln(1.0 - p)
        };
    }
    let precision = ratio(tp, tp + fp);
    let recall = ratio(tp, tp + fn_);
    BinaryMetrics {
        accuracy: (tp + tn) / n,
        precision,
        recall,
        f1: ratio(2.0 * precision * recall, precision + recall),
        roc_auc: roc_auc(prob, labels),
        bce: bce / n,
    }
}

/// The scores of always predicting the training set's positive rate `train_positive_rate` as
/// the probability (so the majority class as the label).
pub fn binary_baseline(train_positive_rate: f64, labels: &[u32]) -> BinaryMetrics {
    binary(&vec![train_positive_rate as f32; labels.len()], labels)
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        0.0
    }
}

/// ROC-AUC by the rank-sum (Mann–Whitney) formula, with tied scores given their mean rank.
pub fn roc_auc(scores: &[f32], labels: &[u32]) -> f64 {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut ranks = vec![0.0f64; scores.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let mean_rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            ranks[k] = mean_rank;
        }
        i = j + 1;
    }
    let positives = labels.iter().filter(|&&l| l == 1).count() as f64;
    let negatives = labels.len() as f64 - positives;
    if positives == 0.0 || negatives == 0.0 {
        return 0.5;
    }
    let rank_sum: f64 = ranks
        .iter()
        .zip(labels)
        .filter(|(_, &l)| l == 1)
        .map(|(r, _)| r)
        .sum();
    (rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives)
}

/// Multiclass scores.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MulticlassMetrics {
    /// Fraction of rows whose highest-scoring class is the label.
    pub accuracy: f64,
    /// The unweighted mean of the F1 of each class that occurs among the labels or the
    /// predictions (a class in neither has no F1; scikit-learn's `f1_score(average="macro")`
    /// leaves it out the same way).
    pub macro_f1: f64,
    /// `confusion[actual][predicted]` counts.
    pub confusion: Vec<Vec<usize>>,
    /// Mean cross-entropy `−ln p(label)`.
    pub cross_entropy: f64,
}

/// Scores of class probabilities `prob` (`rows × classes`, rows summing to 1) against labels.
pub fn multiclass(prob: &[f32], labels: &[u32], classes: usize) -> MulticlassMetrics {
    let predicted: Vec<usize> = prob
        .chunks(classes)
        .map(|row| (0..classes).fold(0, |best, c| if row[c] > row[best] { c } else { best }))
        .collect();
    let mut confusion = vec![vec![0usize; classes]; classes];
    let mut cross_entropy = 0.0;
    for ((row, &p), &l) in prob.chunks(classes).zip(&predicted).zip(labels) {
        confusion[l as usize][p] += 1;
        cross_entropy -= clamped_ln(f64::from(row[l as usize]));
    }
    let n = labels.len() as f64;
    let correct: usize = (0..classes).map(|c| confusion[c][c]).sum();
    let f1s: Vec<f64> = (0..classes)
        .filter_map(|c| {
            let tp = confusion[c][c] as f64;
            let predicted_c: usize = (0..classes).map(|a| confusion[a][c]).sum();
            let actual_c: usize = confusion[c].iter().sum();
            if predicted_c + actual_c == 0 {
                return None;
            }
            let (precision, recall) = (ratio(tp, predicted_c as f64), ratio(tp, actual_c as f64));
            Some(ratio(2.0 * precision * recall, precision + recall))
        })
        .collect();
    let macro_f1 = f1s.iter().sum::<f64>() / f1s.len().max(1) as f64;
    MulticlassMetrics {
        accuracy: correct as f64 / n,
        macro_f1,
        confusion,
        cross_entropy: cross_entropy / n,
    }
}

/// The scores of always predicting the training class frequencies `train_frequencies`.
pub fn multiclass_baseline(train_frequencies: &[f64], labels: &[u32]) -> MulticlassMetrics {
    let row: Vec<f32> = train_frequencies.iter().map(|&f| f as f32).collect();
    let prob: Vec<f32> = labels.iter().flat_map(|_| row.iter().copied()).collect();
    multiclass(&prob, labels, train_frequencies.len())
}

/// Scores of one kind of task.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "task", rename_all = "lowercase")]
pub enum Metrics {
    /// MSE, RMSE, MAE, R².
    Regression(RegressionMetrics),
    /// Accuracy, precision, recall, F1, ROC-AUC, BCE.
    Binary(BinaryMetrics),
    /// Accuracy, macro-F1, confusion matrix, cross-entropy.
    Multiclass(MulticlassMetrics),
}

impl Metrics {
    /// Every score with its name, in a fixed order for the kind of task.
    pub fn named_values(&self) -> Vec<(&'static str, f64)> {
        match self {
            Metrics::Regression(r) => vec![
                ("MSE", r.mse),
                ("RMSE", r.rmse),
                ("MAE", r.mae),
                ("R²", r.r2),
            ],
            Metrics::Binary(b) => vec![
                ("accuracy", b.accuracy),
                ("precision", b.precision),
                ("recall", b.recall),
                ("F1", b.f1),
                ("ROC-AUC", b.roc_auc),
                ("BCE", b.bce),
            ],
            Metrics::Multiclass(m) => {
                vec![
                    ("accuracy", m.accuracy),
                    ("macro-F1", m.macro_f1),
                    ("cross-entropy", m.cross_entropy),
                ]
            }
        }
    }

    /// The loss the model was trained on, in the data's units: MSE, BCE or cross-entropy.
    pub fn loss(&self) -> f64 {
        match self {
            Metrics::Regression(m) => m.mse,
            Metrics::Binary(m) => m.bce,
            Metrics::Multiclass(m) => m.cross_entropy,
        }
    }
}

/// ln p clamped at −100, PyTorch's `BCELoss` clamp (the multiclass cross-entropy of
/// probabilities takes it too), so a probability of 0 costs 100 rather than infinity.
fn clamped_ln(p: f64) -> f64 {
    p.ln().max(-100.0)
}
