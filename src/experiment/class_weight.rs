//! How an experiment weighs its classes: not at all, scikit-learn's "balanced" weights fitted
//! on the training split, or weights given.

use std::fmt;
use std::str::FromStr;

use crate::data::{Dataset, Targets, Task};
use crate::error::{Error, Result};
use crate::nn::LossWeights;

/// How an [`Experiment`](super::Experiment) weighs the loss's classes (classification only).
///
/// Parsed from `--class-weight`'s words: `none`, `balanced`, or one weight per class
/// (`0.5,1,3`: multiclass only); `pos_weight=P` is `--pos-weight P` (binary). Printed the same
/// way, so the words read back.
///
/// ```
/// use wgsl_train::experiment::ClassWeight;
/// use wgsl_train::nn::LossWeights;
/// assert_eq!("balanced".parse::<ClassWeight>()?, ClassWeight::Balanced);
/// assert_eq!(
///     "0.5,1,3".parse::<ClassWeight>()?,
///     ClassWeight::Given(LossWeights::Class(vec![0.5, 1.0, 3.0]))
/// );
/// # Ok::<(), wgsl_train::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub enum ClassWeight {
    /// Every row counts once (default); a model's own [`LossWeights`] stay as they are.
    #[default]
    None,
    /// scikit-learn's `class_weight="balanced"` on the training split: class c weighs
    /// `n_samples / (n_classes · count_c)`. Multiclass takes them as `CrossEntropyLoss`'s
    /// `weight`; binary as `BCEWithLogitsLoss`'s `pos_weight = w₁/w₀ = count₀/count₁`, the
    /// ratio of the two (BCE has no weight per class, and the ratio is what tilts it).
    Balanced,
    /// These weights, as they are.
    Given(LossWeights),
}

impl ClassWeight {
    /// The loss weights for a model trained on `train`: `None` for [`ClassWeight::None`].
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for balanced weights on regression data or on a training
    /// split missing a class (its weight would be infinite).
    pub fn resolve(&self, train: &Dataset) -> Result<Option<LossWeights>> {
        let invalid = |detail: String| Error::InvalidArgument {
            op: "class_weight",
            detail,
        };
        match self {
            ClassWeight::None => Ok(None),
            ClassWeight::Given(weights) => Ok(Some(weights.clone())),
            ClassWeight::Balanced => {
                let Targets::Classes(labels) = train.targets() else {
                    return Err(invalid("balanced weights are for classification".into()));
                };
                let mut counts = vec![0usize; train.n_outputs().max(2)];
                for &label in labels {
                    counts[label as usize] += 1;
                }
                if let Some(c) = counts.iter().position(|&n| n == 0) {
                    let name = &train.class_names()[c];
                    return Err(invalid(format!(
                        "class {c} ({name}) has no training rows, so no balanced weight"
                    )));
                }
                Ok(Some(balanced(train.task(), &counts)))
            }
        }
    }
}

/// scikit-learn's balanced weights from the class counts, as the task's loss takes them.
fn balanced(task: Task, counts: &[usize]) -> LossWeights {
    let n: usize = counts.iter().sum();
    let weight = |count: usize| n as f64 / (counts.len() * count) as f64;
    match task {
        Task::Binary => LossWeights::Positive(vec![(weight(counts[1]) / weight(counts[0])) as f32]),
        _ => LossWeights::Class(counts.iter().map(|&c| weight(c) as f32).collect()),
    }
}

impl FromStr for ClassWeight {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim() {
            "none" => Ok(ClassWeight::None),
            "balanced" => Ok(ClassWeight::Balanced),
            words => {
                let (list, positive) = match words.strip_prefix("pos_weight=") {
                    Some(p) => (p, true),
                    None => (words, false),
                };
                let weights = list
                    .split(',')
                    .map(|w| w.trim().parse::<f32>())
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(|_| Error::InvalidArgument {
                        op: "class_weight",
                        detail: format!(
                            "{s:?}: expected none, balanced, one weight per class (0.5,1,3) \
                             or pos_weight=P"
                        ),
                    })?;
                Ok(ClassWeight::Given(if positive {
                    LossWeights::Positive(weights)
                } else {
                    LossWeights::Class(weights)
                }))
            }
        }
    }
}

impl fmt::Display for ClassWeight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClassWeight::None => f.write_str("none"),
            ClassWeight::Balanced => f.write_str("balanced"),
            ClassWeight::Given(weights) => {
                let list = |w: &[f32]| w.iter().map(f32::to_string).collect::<Vec<_>>().join(",");
                match weights {
                    LossWeights::None => f.write_str("none"),
                    LossWeights::Class(w) => f.write_str(&list(w)),
                    LossWeights::Positive(w) => write!(f, "pos_weight={}", list(w)),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// scikit-learn's formula worked by hand: labels 0,0,0,1 give w = 4/(2·3), 4/(2·1) =
    /// 2/3, 2 (pos_weight 3); labels 0,0,1,2,2,2 give 6/(3·2), 6/(3·1), 6/(3·3) = 1, 2, 2/3.
    #[test]
    fn balanced_weights_follow_scikit_learns_formula() {
        assert_eq!(
            balanced(Task::Binary, &[3, 1]),
            LossWeights::Positive(vec![3.0])
        );
        assert_eq!(
            balanced(Task::Multiclass, &[2, 1, 3]),
            LossWeights::Class(vec![1.0, 2.0, 2.0 / 3.0])
        );
    }

    #[test]
    fn resolve_counts_the_training_rows_and_names_a_missing_class() {
        let names = ["a", "b", "c"].map(String::from).to_vec();
        let data = |labels: Vec<u32>| {
            let features = vec![0.0; labels.len()];
            Dataset::classification(features, 1, labels, names.clone()).unwrap()
        };
        let weights = ClassWeight::Balanced.resolve(&data(vec![2, 0, 2, 1, 2, 0]));
        assert_eq!(
            weights.unwrap(),
            Some(LossWeights::Class(vec![1.0, 2.0, 2.0 / 3.0]))
        );
        let err = ClassWeight::Balanced
            .resolve(&data(vec![0, 2, 2]))
            .unwrap_err();
        assert!(
            err.to_string().contains("class 1 (b) has no training rows"),
            "{err}"
        );
        let regression = Dataset::regression(vec![0.0; 2], 1, vec![1.0, 2.0]).unwrap();
        assert!(ClassWeight::Balanced.resolve(&regression).is_err());
        assert_eq!(ClassWeight::None.resolve(&regression).unwrap(), None);
    }

    #[test]
    fn words_parse_and_print_back() {
        for words in ["none", "balanced", "0.5,1,3", "pos_weight=2.5"] {
            let parsed: ClassWeight = words.parse().unwrap();
            assert_eq!(parsed.to_string(), words);
        }
        let positive = ClassWeight::Given(LossWeights::Positive(vec![2.5]));
        assert_eq!("pos_weight=2.5".parse::<ClassWeight>().unwrap(), positive);
        let empty = ClassWeight::Given(LossWeights::None).to_string();
        assert_eq!(empty.parse::<ClassWeight>().unwrap(), ClassWeight::None);
        let err = "balance".parse::<ClassWeight>().unwrap_err().to_string();
        assert!(err.contains("expected none, balanced"), "{err}");
    }
}
