//! Where each model of a grid lives and what its kernel reads: the generated kernels and their
//! slots, the row groups, the optimizer entries, and each dispatch's tables.

use std::collections::HashMap;

use super::{alone, GridConfig, GridModel};
use crate::data::{Dataset, Fold, Targets, Task};
use crate::error::Result;
use crate::gpu::Gpu;
use crate::kernels::dim;
use crate::kernels::grid::{
    models_per_workgroup, row_lanes, subgroup_form_width, GridAlgorithm, GridSettings, GridShape,
    KernelForm, ModelControl, ROW_GROUP_WORDS, UPDATE_ADAM, UPDATE_SGD,
};
use crate::kernels::loss::LossKind;
use crate::kernels::optim::GroupParams;
use crate::nn::{dropout_per_hidden_layer, initial_values, loss_for, per_hidden_layer};
use crate::optim::OptimizerConfig;
use crate::train::control::DIVERGENCE_GROWTH;
use crate::train::epoch_order;

/// Rows read the same way: models on the same fold with the same seed see the same rows in
/// the same order every epoch, so they sit side by side and share their row loads.
pub(super) struct RowGroup {
    fold: usize,
    seed: u64,
}

/// An optimizer configuration with its schedule, as one entry of the kernels' tables: the
/// models that share it read the same step vectors.
struct HyperEntry {
    model: GridModel,
    /// Steps per epoch of the row group's training rows.
    steps: usize,
}

/// The models of one generated kernel, in slots: a row group's models fill whole workgroups
/// (`None`: an idle slot).
pub(super) struct KernelPlan {
    pub shape: GridShape,
    pub slots: Vec<Option<usize>>,
    /// (row group, optimizer entry, update, loss weights' start) of each slot.
    members: Vec<[u32; 4]>,
    /// The row group of each workgroup's slots (one per workgroup, never two).
    workgroup_groups: Vec<u32>,
    /// Each slot's record, as the kernel starts it (the initial weights, zero state).
    pub records: Vec<f32>,
    pub controls: Vec<ModelControl>,
}

pub(super) struct Plan {
    pub models: Vec<GridModel>,
    pub kernels: Vec<KernelPlan>,
    /// Features then targets, as the kernels read them (f32 bits, or class indices).
    pub data: Vec<u32>,
    targets_at: usize,
    row_groups: Vec<RowGroup>,
    pub folds: Vec<Fold>,
    hyper: Vec<HyperEntry>,
    /// Every weighted model's loss weights, one after another (f32 bits); a model's start in
    /// its member's w.
    weights: Vec<u32>,
    batch: usize,
}

impl Plan {
    pub fn new(
        gpu: &Gpu,
        data: &Dataset,
        folds: &[Fold],
        models: Vec<GridModel>,
        config: &GridConfig,
    ) -> Result<Self> {
        let loss = loss_for(data.task());
        let steps_of = |fold: usize| folds[fold].train.len().div_ceil(config.batch_size);
        // Row groups and optimizer entries, each in the order first met.
        let mut row_groups: Vec<RowGroup> = Vec::new();
        let mut group_of: Vec<usize> = Vec::with_capacity(models.len());
        let mut hyper: Vec<HyperEntry> = Vec::new();
        let mut hyper_index: HashMap<String, usize> = HashMap::new();
        let mut hyper_of: Vec<usize> = Vec::with_capacity(models.len());
        for model in &models {
            let group = row_groups
                .iter()
                .position(|g| g.fold == model.fold && g.seed == model.seed)
                .unwrap_or_else(|| {
                    row_groups.push(RowGroup {
                        fold: model.fold,
                        seed: model.seed,
                    });
                    row_groups.len() - 1
                });
            group_of.push(group);
            let steps = steps_of(model.fold);
            let key = format!("{:?} {:?} {steps}", model.optimizer, model.lr_schedule);
            let entry = *hyper_index.entry(key).or_insert_with(|| {
                hyper.push(HyperEntry {
                    model: model.clone(),
                    steps,
                });
                hyper.len() - 1
            });
            hyper_of.push(entry);
        }
        let mut weights: Vec<u32> = Vec::new();
        let weights_of: Vec<usize> = models
            .iter()
            .map(|model| {
                let at = weights.len();
                let values = model.loss_weights.values().unwrap_or(&[]);
                weights.extend(values.iter().map(|w| w.to_bits()));
                at
            })
            .collect();
        let form = config
            .kernel_form
            .unwrap_or_else(|| KernelForm::for_adapter(gpu));
        let lanes = row_lanes(gpu, form);
        // Kernels by shape, in the order first met; within a kernel, models by row group.
        let mut shapes: Vec<GridShape> = Vec::new();
        let mut by_kernel: Vec<Vec<usize>> = Vec::new();
        for (i, model) in models.iter().enumerate() {
            let shape = shape_of(data, model, loss, (form, lanes))?;
            match shapes.iter().position(|s| *s == shape) {
                Some(k) => by_kernel[k].push(i),
                None => {
                    shapes.push(shape);
                    by_kernel.push(vec![i]);
                }
            }
        }
        if form == KernelForm::Subgroup {
            subgroup_form_width(gpu)?;
        }
        let per_workgroup = models_per_workgroup(gpu, form);
        let kernels = shapes
            .into_iter()
            .zip(by_kernel)
            .map(|(shape, mut members)| {
                // By row group, and within one by update, so SIMD vectors mostly take one branch.
                members.sort_by_key(|&i| (group_of[i], update_code(&models[i])));
                let mut slots = Vec::new();
                for (n, &i) in members.iter().enumerate() {
                    let new_group = n > 0 && group_of[members[n - 1]] != group_of[i];
                    if new_group {
                        while slots.len() % per_workgroup != 0 {
                            slots.push(None);
                        }
                    }
                    slots.push(Some(i));
                }
                let tables_of = (&group_of[..], &hyper_of[..], &weights_of[..]);
                KernelPlan::new(shape, slots, &models, tables_of, per_workgroup)
            })
            .collect::<Result<Vec<_>>>()?;
        let (features, targets_at) = data_words(data);
        Ok(Self {
            models,
            kernels,
            data: features,
            targets_at,
            row_groups,
            folds: folds.to_vec(),
            hyper,
            weights,
            batch: config.batch_size,
        })
    }

    /// Model-row visits in one epoch (training and validation rows of every model), to size
    /// dispatches.
    pub fn visits_per_epoch(&self) -> usize {
        self.models
            .iter()
            .map(|m| self.folds[m.fold].train.len() + self.folds[m.fold].validation.len())
            .sum()
    }

    /// The tables for `epochs` epochs from epoch index `first` (0-based): the row groups, the
    /// validation rows, the orders of those epochs, then each kernel's members.
    pub fn tables(&self, first: usize, epochs: usize) -> Vec<u32> {
        let (row_groups_at, validation_at, orders_at) = self.table_offsets();
        let mut tables = vec![0u32; orders_at];
        let weights_at = self.weights_at();
        tables[weights_at..weights_at + self.weights.len()].copy_from_slice(&self.weights);
        let mut next_validation = validation_at;
        for (g, group) in self.row_groups.iter().enumerate() {
            let fold = &self.folds[group.fold];
            let at = row_groups_at + ROW_GROUP_WORDS * g;
            tables[at] = fold.train.len() as u32;
            tables[at + 1] = next_validation as u32;
            tables[at + 2] = fold.validation.len() as u32;
            tables[at + 3] = group.seed as u32;
            tables[at + 4] = (group.seed >> 32) as u32;
            for (i, &row) in fold.validation.iter().enumerate() {
                tables[next_validation + i] = row as u32;
            }
            next_validation += fold.validation.len();
        }
        let stride = self.order_stride();
        for group in &self.row_groups {
            let fold = &self.folds[group.fold];
            for e in 0..epochs {
                // The order a trainer gives its epoch first + e + 1 (1-based), over this fold's rows.
                let order = epoch_order(group.seed, first + e + 1, fold.train.len());
                let mut rows: Vec<u32> = order
                    .iter()
                    .map(|&i| fold.train[i as usize] as u32)
                    .collect();
                rows.resize(stride, 0);
                tables.extend(rows);
            }
        }
        for kernel in &self.kernels {
            tables.extend(kernel.members.iter().flatten());
            tables.extend(&kernel.workgroup_groups);
        }
        tables
    }

    /// (row groups, validation rows, orders) offsets in the tables; the loss weights lie
    /// between the validation rows and the orders.
    fn table_offsets(&self) -> (usize, usize, usize) {
        let row_groups_at = 0;
        let validation_at = ROW_GROUP_WORDS * self.row_groups.len();
        let orders_at = self.weights_at() + self.weights.len();
        (row_groups_at, validation_at, orders_at)
    }

    /// Where the loss weights start in the tables: after the row groups and validation rows.
    fn weights_at(&self) -> usize {
        let validation: usize = self
            .row_groups
            .iter()
            .map(|g| self.folds[g.fold].validation.len())
            .sum();
        ROW_GROUP_WORDS * self.row_groups.len() + validation
    }

    fn order_stride(&self) -> usize {
        self.row_groups
            .iter()
            .map(|g| self.folds[g.fold].train.len())
            .max()
            .unwrap_or(0)
    }

    fn steps_stride(&self, epochs: usize) -> usize {
        epochs * self.hyper.iter().map(|h| h.steps).max().unwrap_or(0)
    }

    /// Each optimizer entry's step vectors for `epochs` epochs from epoch index `first`, with
    /// the entry's schedule (the learning rate of epoch e is the schedule's after e − 1 steps,
    /// as [`Optimizer::begin_epoch`](crate::optim::Optimizer::begin_epoch) sets it).
    pub fn step_values(&self, first: usize, epochs: usize) -> Vec<f32> {
        let stride = self.steps_stride(epochs);
        let mut values = vec![0f32; 4 * stride * self.hyper.len()];
        for (h, entry) in self.hyper.iter().enumerate() {
            let base = entry.model.optimizer.lr();
            for e in 0..epochs {
                let epoch = first + e;
                let mut config = entry.model.optimizer;
                config.set_lr(entry.model.lr_schedule.lr(base, epoch));
                for s in 0..entry.steps {
                    let t = (epoch * entry.steps + s + 1) as u64;
                    let at = 4 * (h * stride + e * entry.steps + s);
                    values[at..at + 4].copy_from_slice(&config.step_vector(t));
                }
            }
        }
        values
    }

    /// The optimizer entries' hyperparameters, as words of `GroupParams`.
    pub fn hyper_words(&self) -> Vec<u32> {
        let params: Vec<GroupParams> = self
            .hyper
            .iter()
            .map(|h| h.model.optimizer.group_params())
            .collect();
        bytemuck::cast_slice(&params).to_vec()
    }

    /// Kernel `k`'s settings for `epochs` epochs from epoch index `first`.
    pub fn settings(
        &self,
        k: usize,
        first: usize,
        epochs: usize,
        config: &GridConfig,
    ) -> Result<GridSettings> {
        let op = "ModelGrid";
        let (row_groups_at, _, orders_at) = self.table_offsets();
        let stride = self.order_stride();
        let orders = self.row_groups.len() * epochs * stride;
        let earlier: usize = self.kernels[..k]
            .iter()
            .map(|k| 4 * k.members.len() + k.workgroup_groups.len())
            .sum();
        let members_at = orders_at + orders + earlier;
        Ok(GridSettings {
            models: dim(op, self.kernels[k].slots.len())?,
            epochs: dim(op, epochs)?,
            first_epoch: dim(op, first)?,
            total_epochs: dim(op, config.epochs)?,
            batch: dim(op, self.batch)?,
            members_at: dim(op, members_at)?,
            row_groups_at: dim(op, row_groups_at)?,
            orders_at: dim(op, orders_at)?,
            order_stride: dim(op, stride)?,
            targets_at: dim(op, self.targets_at)?,
            steps_stride: dim(op, self.steps_stride(epochs))?,
            patience: dim(op, config.patience.unwrap_or(0))?,
            growth: DIVERGENCE_GROWTH,
            min_delta: config.min_delta as f32,
            workgroup_groups_at: dim(op, members_at + 4 * self.kernels[k].members.len())?,
            clip_grad_norm: config.clip_grad_norm.map_or(0.0, |n| n as f32),
            weights_at: dim(op, self.weights_at())?,
        })
    }
}

impl KernelPlan {
    fn new(
        shape: GridShape,
        slots: Vec<Option<usize>>,
        models: &[GridModel],
        (group_of, hyper_of, weights_of): (&[usize], &[usize], &[usize]),
        per_workgroup: usize,
    ) -> Result<Self> {
        let workgroup_groups = slots
            .chunks(per_workgroup)
            .map(|chunk| {
                chunk
                    .iter()
                    .flatten()
                    .next()
                    .map_or(0, |&i| group_of[i] as u32)
            })
            .collect();
        let layout = shape.layout();
        let mut records = vec![0f32; 4 * layout.len * slots.len()];
        let mut members = Vec::with_capacity(slots.len());
        let mut controls = Vec::with_capacity(slots.len());
        for (slot, model) in slots.iter().enumerate() {
            let Some(i) = *model else {
                members.push([0; 4]);
                controls.push(ModelControl::default());
                continue;
            };
            members.push([
                group_of[i] as u32,
                hyper_of[i] as u32,
                update_code(&models[i]),
                weights_of[i] as u32,
            ]);
            controls.push(ModelControl {
                running: 1,
                ..ModelControl::default()
            });
            let flat: Vec<f32> = initial_values(&shape.sizes, models[i].init, models[i].seed)
                .into_iter()
                .flatten()
                .flatten()
                .collect();
            let at = 4 * layout.len * slot;
            records[at..at + flat.len()].copy_from_slice(&flat);
        }
        Ok(Self {
            shape,
            slots,
            members,
            workgroup_groups,
            records,
            controls,
        })
    }
}

/// Which update the kernel runs for `model` (its member table's third word).
fn update_code(model: &GridModel) -> u32 {
    match model.optimizer {
        OptimizerConfig::Sgd(_) => UPDATE_SGD,
        OptimizerConfig::Adam(_) => UPDATE_ADAM,
    }
}

/// The kernel shape that trains `model` on `data`.
///
/// # Errors
/// [`Error::InvalidArgument`] when its activations or Dropout do not fit its hidden layers.
fn shape_of(
    data: &Dataset,
    model: &GridModel,
    loss: LossKind,
    (form, row_lanes): (KernelForm, Option<usize>),
) -> Result<GridShape> {
    let sizes = alone::sizes(data, model);
    let algorithm = match model.optimizer {
        OptimizerConfig::Adam(c) if c.amsgrad => GridAlgorithm::AdamAmsgrad,
        _ => GridAlgorithm::SgdOrAdam,
    };
    let activations = per_hidden_layer("ModelGrid::new", &model.activations, &sizes)?;
    let dropout = dropout_per_hidden_layer("ModelGrid::new", &model.dropout, &sizes)?;
    Ok(GridShape {
        sizes,
        activations,
        // −0 is no Dropout too: one kernel for both.
        dropout: dropout
            .iter()
            .map(|&p| if p == 0.0 { 0 } else { p.to_bits() })
            .collect(),
        loss,
        weighted: model.loss_weights.values().is_some(),
        algorithm,
        form,
        row_lanes,
    })
}

/// The features as f32 bits, then the targets (f32 bits, or class indices with softmax
/// cross-entropy); and where the targets start.
fn data_words(data: &Dataset) -> (Vec<u32>, usize) {
    let mut words: Vec<u32> = data.features().iter().map(|v| v.to_bits()).collect();
    let targets_at = words.len();
    match (data.task(), data.targets()) {
        (Task::Multiclass, Targets::Classes(classes)) => words.extend(classes),
        // Regression values, and binary labels as the 0.0 or 1.0 that BCE takes.
        _ => words.extend(data.target_values().iter().map(|v| v.to_bits())),
    }
    (words, targets_at)
}
