//! A sweep split across machines: each shard trains a deterministic share of the models and
//! keeps their results with what identifies the sweep; the merge checks that the shards are
//! of this sweep and hold every model once, then ranks, refits and tests exactly as
//! [`Sweep::run`] does. A model's results do not depend on the other models it trains with
//! ([`ModelGrid`](crate::train::ModelGrid)'s exactness), so the merged outcome is the
//! unsharded one, bit for bit.

use serde_json::{json, Value};

use crate::data::{Dataset, Targets};
use crate::error::{Error, Result};
use crate::gpu::{block_on, Gpu};

use super::sweep::{ModelResult, Sweep, SweepOutcome};

/// Which share of a sweep's models one machine trains: shard `number` of `count` (1-based, as
/// a Slurm array's `SLURM_ARRAY_TASK_ID`). Model `i` (candidate × folds + fold) belongs to
/// shard `i % count + 1`, so every shard takes a slice of every part of the grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    /// Which shard, from 1 to `count`.
    pub number: usize,
    /// How many shards the sweep is split into.
    pub count: usize,
}

impl Shard {
    /// Shard `number` of `count`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] unless `1 ≤ number ≤ count`.
    pub fn new(number: usize, count: usize) -> Result<Self> {
        if number == 0 || number > count {
            return Err(Error::InvalidArgument {
                op: "Shard",
                detail: format!("shard {number}/{count}: the number must be from 1 to {count}"),
            });
        }
        Ok(Self { number, count })
    }

    /// Whether model `index` is this shard's.
    pub fn owns(&self, index: usize) -> bool {
        index % self.count + 1 == self.number
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.number, self.count)
    }
}

impl std::str::FromStr for Shard {
    type Err = Error;

    /// `"I/N"`, e.g. `"2/3"`.
    fn from_str(text: &str) -> Result<Self> {
        let invalid = || Error::InvalidArgument {
            op: "Shard",
            detail: format!("{text:?} is not I/N (e.g. 2/3)"),
        };
        let (number, count) = text.split_once('/').ok_or_else(invalid)?;
        let parse = |s: &str| s.trim().parse::<usize>().map_err(|_| invalid());
        Shard::new(parse(number)?, parse(count)?)
    }
}

/// One shard's trained models, with the identity of the sweep they belong to.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SweepShard {
    /// The sweep's configuration and a fingerprint of its data; the merge refuses a shard
    /// whose identity differs from the sweep it merges into.
    pub sweep: Value,
    /// Which share this is.
    pub shard: Shard,
    /// Its models, in index order.
    pub models: Vec<ModelResult>,
}

impl Sweep {
    /// Trains shard `shard`'s models of the sweep on `data`.
    ///
    /// # Errors
    /// As [`Sweep::run`].
    pub fn run_shard(&self, gpu: &Gpu, data: &Dataset, shard: Shard) -> Result<SweepShard> {
        let prepared = self.prepare(data)?;
        let models = block_on(
            "Sweep::run_shard",
            self.train_models(gpu, data, &prepared, |i| shard.owns(i), None),
        )?;
        Ok(SweepShard {
            sweep: self.identity(data),
            shard,
            models,
        })
    }

    /// Combines shards (in any order) into the outcome [`Sweep::run`] gives: the same table,
    /// choice, refit and test scores.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for no shards, a shard of another sweep or data, shards of
    /// different counts, a model in two shards or a missing shard; as [`Sweep::run`].
    pub fn merge(
        &self,
        gpu: &Gpu,
        data: &Dataset,
        shards: Vec<SweepShard>,
    ) -> Result<SweepOutcome> {
        let invalid = |detail: String| Error::InvalidArgument {
            op: "Sweep::merge",
            detail,
        };
        let count = shards
            .first()
            .ok_or_else(|| invalid("no shards to merge".into()))?
            .shard
            .count;
        let identity = self.identity(data);
        let total = self.candidates.len() * self.folds;
        let mut models: Vec<Option<ModelResult>> = vec![None; total];
        for shard in shards {
            if let Some(key) = first_difference(&identity, &shard.sweep) {
                return Err(invalid(format!(
                    "shard {} is of another sweep: its {key} differs from this one's",
                    shard.shard
                )));
            }
            if shard.shard.count != count {
                return Err(invalid(format!(
                    "shard {} is one of {}, another one of {count}",
                    shard.shard, shard.shard.count
                )));
            }
            for model in shard.models {
                let index = model.candidate * self.folds + model.fold;
                if index >= total || !shard.shard.owns(index) {
                    return Err(invalid(format!(
                        "shard {} holds model {index}, which is not its own",
                        shard.shard
                    )));
                }
                if models[index].is_some() {
                    return Err(invalid(format!(
                        "model {index} (candidate {}, fold {}) is in two shard files: shard {} given twice?",
                        model.candidate, model.fold, shard.shard
                    )));
                }
                models[index] = Some(model);
            }
        }
        let missing: std::collections::BTreeSet<usize> = (0..total)
            .filter(|&i| models[i].is_none())
            .map(|i| i % count + 1)
            .collect();
        if !missing.is_empty() {
            let missing: Vec<String> = missing.iter().map(usize::to_string).collect();
            return Err(invalid(format!(
                "shard {} of {count} missing",
                missing.join(", ")
            )));
        }
        let prepared = self.prepare(data)?;
        let models = models.into_iter().flatten().collect();
        block_on("Sweep::merge", self.finish(gpu, data, &prepared, models))
    }

    /// What a shard must share with the sweep it merges into: every setting that changes a
    /// model's results (not how the grid is dispatched, which changes none), and the data.
    fn identity(&self, data: &Dataset) -> Value {
        let candidates: Vec<Value> = self
            .candidates
            .iter()
            .map(|c| {
                json!({
                    "hidden": c.hidden,
                    "activation": c.activation,
                    "dropout": c.dropout,
                    "init": c.init,
                    "optimizer": c.optimizer,
                    "lr_schedule": format!("{:?}", c.lr_schedule),
                })
            })
            .collect();
        json!({
            "candidates": candidates,
            "folds": self.folds,
            "split": self.split,
            "epochs": self.grid.epochs,
            "batch_size": self.grid.batch_size,
            "patience": self.grid.patience,
            "min_delta": self.grid.min_delta,
            "clip_grad_norm": self.grid.clip_grad_norm,
            "class_weight": self.class_weight.to_string(),
            "seed": self.seed,
            "data": {
                "rows": data.len(),
                "features": data.n_features(),
                "task": data.task(),
                "fingerprint": format!("{:016x}", fingerprint(data)),
            },
        })
    }
}

/// The first key (`data.rows`, `candidates`, …) where two identities differ.
fn first_difference(ours: &Value, theirs: &Value) -> Option<String> {
    match (ours, theirs) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                let Some(other) = b.get(key) else {
                    return Some(key.clone());
                };
                if let Some(inner) = first_difference(value, other) {
                    return Some(if inner.is_empty() {
                        key.clone()
                    } else {
                        format!("{key}.{inner}")
                    });
                }
            }
            (a.len() != b.len()).then(String::new)
        }
        (a, b) => (a != b).then(String::new),
    }
}

/// FNV-1a over the data's features and targets: the same on every machine and build.
fn fingerprint(data: &Dataset) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut add = |word: u32| {
        for byte in word.to_le_bytes() {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    data.features().iter().for_each(|v| add(v.to_bits()));
    match data.targets() {
        Targets::Values(values) => values.iter().for_each(|v| add(v.to_bits())),
        Targets::Classes(classes) => classes.iter().for_each(|&c| add(c)),
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_and_share_out_every_model_once() {
        let shard: Shard = "2/3".parse().unwrap();
        assert_eq!(
            shard,
            Shard {
                number: 2,
                count: 3
            }
        );
        assert_eq!(shard.to_string(), "2/3");
        for bad in ["0/3", "4/3", "2", "a/3", "1/0"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad} parsed");
        }
        let shards: Vec<Shard> = (1..=3).map(|n| Shard::new(n, 3).unwrap()).collect();
        for i in 0..10 {
            assert_eq!(shards.iter().filter(|s| s.owns(i)).count(), 1, "model {i}");
        }
        assert!(shards[0].owns(0) && shards[1].owns(1) && shards[2].owns(5));
    }

    #[test]
    fn the_first_difference_is_named_by_its_path() {
        let a = json!({"folds": 5, "data": {"rows": 10, "task": "regression"}});
        let b = json!({"folds": 5, "data": {"rows": 11, "task": "regression"}});
        assert_eq!(first_difference(&a, &b).as_deref(), Some("data.rows"));
        assert_eq!(first_difference(&a, &a), None);
    }
}
