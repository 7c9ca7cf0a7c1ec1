//! A target column read cell by cell, for the file loaders (CSV, Parquet): each cell is kept as
//! a number and a class index, not as text, so a file of millions of rows costs 8 bytes a row
//! here, and the task (regression or classification) is decided once every cell is in.

use std::collections::HashMap;

use super::{Dataset, Task};
use crate::error::{Error, Result};

/// The most distinct labels a classification target may have; past it the column is taken
/// for numbers (and refused as classes).
const MAX_CLASSES: usize = 65_536;

/// The target cells read so far.
#[derive(Default)]
pub(crate) struct LabelColumn {
    /// Each cell as a finite f32, NaN where it is none.
    values: Vec<f32>,
    /// The first cell that is no finite f32, with its line (or row).
    first_non_number: Option<(u64, String)>,
    /// The first cell that is neither empty nor a number (as f64: `1e40`, `NaN` are numbers),
    /// with its line (or row).
    first_text: Option<(u64, String)>,
    /// Whether some cell is a finite number.
    some_number: bool,
    /// The first empty or NaN cell, with its line (or row): no label, for classes.
    first_missing: Option<(u64, String)>,
    /// Each cell's index into `names`, while there are at most `MAX_CLASSES`.
    classes: Vec<u32>,
    index: HashMap<String, u32>,
    names: Vec<String>,
    too_many: bool,
}

impl LabelColumn {
    /// Adds the cell `text` of line (or row) `line`.
    pub fn push(&mut self, line: u64, text: &str) {
        let text = text.trim();
        let number = text.parse::<f32>().ok().filter(|v| v.is_finite());
        self.values.push(number.unwrap_or(f32::NAN));
        if number.is_none() && self.first_non_number.is_none() {
            self.first_non_number = Some((line, text.to_string()));
        }
        self.some_number |= number.is_some();
        let is_text = !(text.is_empty() || text.parse::<f64>().is_ok());
        if is_text && self.first_text.is_none() {
            self.first_text = Some((line, text.to_string()));
        }
        let missing = text.is_empty() || text.parse::<f64>().is_ok_and(f64::is_nan);
        if missing && self.first_missing.is_none() {
            self.first_missing = Some((line, text.to_string()));
        }
        if self.too_many {
            return;
        }
        let class = match self.index.get(text) {
            Some(&class) => class,
            None if self.names.len() == MAX_CLASSES => {
                self.too_many = true;
                self.classes = Vec::new();
                self.index = HashMap::new();
                return;
            }
            None => {
                let class = self.names.len() as u32;
                self.names.push(text.to_string());
                self.index.insert(text.to_string(), class);
                class
            }
        };
        self.classes.push(class);
    }

    /// Cells read.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// The dataset of `features` (`n_features` a row) with these targets: regression values
    /// or classes, the task given or detected — regression when every cell is a number or
    /// empty (a few bad cells in a column of numbers are named as such, not taken for
    /// thousands of classes). Classes are the distinct labels, sorted (numerically when they
    /// are all numbers). `err(line, detail)` makes the errors that name a line or row.
    ///
    /// # Errors
    /// From `err`: a regression target that is no finite number, or a class count that does
    /// not fit the task; the dataset's own checks.
    pub fn into_dataset(
        self,
        features: Vec<f32>,
        n_features: usize,
        target_name: &str,
        task: Option<Task>,
        err: &impl Fn(u64, String) -> Error,
    ) -> Result<Dataset> {
        let task_given = task;
        if let (None, Some((line, text)), true) = (task, &self.first_text, self.some_number) {
            // Numbers with a stray word are more often a regression target with a bad cell
            // than labels: turning every distinct number into a class would be a surprise.
            return Err(err(
                *line,
                format!(
                    "target {target_name:?} holds numbers, and {text:?} here: fix the cell for regression, or give the task (multiclass or binary) to take every cell as a class label"
                ),
            ));
        }
        let task = task.unwrap_or(if self.first_text.is_some() {
            Task::Multiclass
        } else {
            Task::Regression
        });
        if task == Task::Regression {
            if let Some((line, text)) = self.first_non_number {
                return Err(err(
                    line,
                    format!(
                        "target {target_name:?} holds {text:?}, not a finite number, but the task is regression"
                    ),
                ));
            }
            return Dataset::regression(features, n_features, self.values);
        }
        if let Some((line, text)) = self.first_missing {
            let what = if text.is_empty() {
                "empty".to_string()
            } else {
                format!("{text:?}")
            };
            return Err(err(
                line,
                format!(
                    "target {target_name:?} is {what} here: a missing label is no class for {task}; fill it in or leave the row out"
                ),
            ));
        }
        let binary = task == Task::Binary;
        let needs = if binary { "exactly 2" } else { "at least 2" };
        if self.too_many {
            return Err(err(
                0,
                format!(
                    "{task} needs {needs} classes, but target {target_name:?} has more than {MAX_CLASSES} distinct labels"
                ),
            ));
        }
        // Sorted names, and each first-seen index's place among them.
        let mut order: Vec<usize> = (0..self.names.len()).collect();
        let number = |i: usize| self.names[i].parse::<f64>().unwrap_or(0.0);
        if self.first_non_number.is_none() {
            let name = |i: usize| &self.names[i];
            order.sort_by(|&a, &b| number(a).total_cmp(&number(b)).then(name(a).cmp(name(b))));
        } else {
            order.sort_by(|&a, &b| self.names[a].cmp(&self.names[b]));
        }
        let mut place = vec![0u32; order.len()];
        for (sorted, &first_seen) in order.iter().enumerate() {
            place[first_seen] = sorted as u32;
        }
        let mut names = self.names;
        let classes: Vec<String> = order
            .iter()
            .map(|&i| std::mem::take(&mut names[i]))
            .collect();
        if (binary && classes.len() != 2) || classes.len() < 2 {
            // Name a few classes, not thousands.
            let shown: Vec<&String> = classes.iter().take(10).collect();
            let more = match classes.len().saturating_sub(shown.len()) {
                0 => String::new(),
                n => format!(" and {n} more"),
            };
            return Err(err(
                0,
                format!(
                    "{task} needs {needs} classes, but target {target_name:?} has {}: {shown:?}{more}",
                    classes.len()
                ),
            ));
        }
        if task_given == Some(Task::Multiclass) && classes.len() == 2 {
            return Err(err(
                0,
                format!(
                    "the task multiclass was asked for, but target {target_name:?} has 2 classes {classes:?}: two classes train as binary (one sigmoid output and BCE, the same model as a 2-way softmax up to its parametrisation); ask for binary (--task binary) or let the task be detected"
                ),
            ));
        }
        let labels = self.classes.iter().map(|&c| place[c as usize]).collect();
        Dataset::classification(features, n_features, labels, classes)
    }
}
