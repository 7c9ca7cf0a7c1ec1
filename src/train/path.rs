//! Where the training rows live and how an epoch's steps run: the general path (a dispatch per
//! kernel and step) or the one-dispatch path (the small-model kernel runs the whole epoch).
//! Each path builds its own buffers and pipelines and records its own epochs.

use super::config::SingleDispatch;
use super::device_data::{DeviceSplit, EpochBatches};
use super::small::SmallEpoch;
use super::stream::{EpochParts, Stream};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::gpu::{Batch, DType, Gpu, Launch, Tensor};
use crate::kernels::control::EpochRow;
use crate::kernels::dropout::step_tick_launch;
use crate::kernels::small_mlp::refusal;
use crate::nn::graph::{backward, forward_with_loss, LossPass, Training};
use crate::nn::Mlp;
use crate::optim::{Optimizer, OptimizerConfig};
use crate::rng::SeededRng;

/// The row order of epoch `epoch` (1-based) for `n` rows: a shuffle seeded by `(seed, epoch)`,
/// so a resumed run sees the same batches as an uninterrupted one.
pub fn epoch_order(seed: u64, epoch: usize, n: usize) -> Vec<u32> {
    let mut order: Vec<u32> = (0..n as u32).collect();
    let mixed = seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    SeededRng::new(mixed).shuffle(&mut order);
    order
}

/// The training split: its rows, where they live, and each epoch's seeded order of them.
pub(super) struct TrainRows {
    /// Rows in the split.
    pub n: usize,
    /// Rows per step (the last step takes the rest).
    pub batch: usize,
    /// The shuffle's seed: epoch e's order depends on (seed, e) alone.
    pub seed: u64,
    pub place: Place,
}

/// Where the training rows live.
pub(super) enum Place {
    /// On the device, uploaded once; each epoch's shuffled row order is written to `orders`
    /// (one order a submission's epoch, `order_block` elements apart) and applied there.
    Device {
        split: DeviceSplit,
        orders: Tensor,
        order_block: usize,
    },
    /// On the host, uploaded a chunk of batches at a time, one epoch a submission.
    Host(Stream),
}

impl TrainRows {
    /// Uploads `train` for up to `epochs` epochs a submission, or keeps it on the host to
    /// stream in chunks of `chunk_steps` steps.
    pub fn new(
        gpu: &Gpu,
        model: &Mlp,
        train: &Dataset,
        (batch, seed): (usize, u64),
        chunk_steps: Option<usize>,
        epochs: usize,
    ) -> Result<Self> {
        let n = train.len();
        let place = match chunk_steps {
            Some(chunk_steps) => Place::Host(Stream::new(model, train, batch, chunk_steps)?),
            None => {
                let order_block = Self::order_block(gpu, n);
                Place::Device {
                    split: DeviceSplit::upload(gpu, model, train)?,
                    orders: Tensor::zeros(gpu, &[epochs * order_block], DType::U32)?,
                    order_block,
                }
            }
        };
        Ok(Self {
            n,
            batch,
            seed,
            place,
        })
    }

    /// Elements between two epochs' orders: a row index each, rounded up to a binding's
    /// alignment.
    pub fn order_block(gpu: &Gpu, n: usize) -> usize {
        let align = gpu.binding_alignment();
        n.div_ceil(align) * align
    }

    /// Steps per epoch.
    pub fn steps(&self) -> usize {
        self.n.div_ceil(self.batch)
    }

    /// Writes the row orders of `epochs` epochs from `first_epoch` on, for the shuffles on the
    /// device (streamed rows are gathered in order on the host instead).
    pub fn write_orders(&self, gpu: &Gpu, first_epoch: usize, epochs: usize) -> Result<()> {
        if let Place::Device {
            orders,
            order_block,
            ..
        } = &self.place
        {
            let orders_now: Vec<u32> = (0..epochs)
                .flat_map(|k| {
                    let mut order = epoch_order(self.seed, first_epoch + k, self.n);
                    order.resize(*order_block, 0);
                    order
                })
                .collect();
            let len = orders_now.len();
            orders.view(gpu, 0, &[len])?.write(gpu, &orders_now)?;
        }
        Ok(())
    }

    /// Steps per uploaded chunk when the rows are streamed.
    pub fn chunk_steps(&self) -> Option<usize> {
        match &self.place {
            Place::Host(stream) => Some(stream.chunk_steps),
            Place::Device { .. } => None,
        }
    }
}

/// One training step's buffers and launches, for one batch size. The step's features and
/// targets are block views of the epoch's batches: recording picks the step's block.
pub(super) struct StepGraph {
    pass: LossPass,
    backward: Launch,
}

impl StepGraph {
    fn new(
        gpu: &Gpu,
        model: &Mlp,
        batches: &EpochBatches,
        rows: usize,
        training: Training,
    ) -> Result<Self> {
        let (xb, yb) = batches.blocks(gpu, rows)?;
        let pass = forward_with_loss(gpu, model, &xb, &yb, Some(training))?;
        let backward = backward(
            gpu,
            model,
            &xb,
            (&pass.forward, &pass.dlogits),
            Some(training),
        )?;
        Ok(Self { pass, backward })
    }

    /// Dispatches one step records (the optimizer's comes on top).
    fn dispatch_count(&self) -> usize {
        self.pass.forward.launch.dispatch_count()
            + self.pass.loss_launch.dispatch_count()
            + self.backward.dispatch_count()
    }
}

/// Where an epoch's values go: its row of the results, and its place in the submission.
pub(super) struct EpochAt<'a> {
    pub results: &'a Tensor,
    pub layout: &'a EpochRow,
    /// The epoch's index within the submission (0 for the first).
    pub k: usize,
    /// The epoch's number in the run (1 for the first).
    pub epoch: usize,
}

impl EpochAt<'_> {
    /// The first element of the epoch's row.
    pub fn start(&self) -> usize {
        self.k * self.layout.stride()
    }
}

/// How an epoch's steps run.
#[allow(clippy::large_enum_variant)] // one per trainer: boxing would save nothing
pub(super) enum EpochPath {
    /// The general path: the epoch's shuffle into batch blocks (or, streaming, each chunk's
    /// upload), then per step its dispatches (the full-batch graph, and one for a smaller last
    /// batch) and the optimizer's.
    General {
        batches: EpochBatches,
        full: StepGraph,
        tail: Option<StepGraph>,
        /// The training step on the device, which Dropout's masks are keyed by, and the
        /// dispatch that advances it at the end of each step; `None` without Dropout.
        step: Option<(Tensor, Launch)>,
    },
    /// The small-model path: the whole epoch in one dispatch.
    OneDispatch(SmallEpoch),
}

impl EpochPath {
    /// The path `choice` asks for: the one-dispatch path for `model` over `rows`, updated by
    /// `optimizer`, where it can train the run, with up to `epochs` epochs a submission whose
    /// rows `results` holds; else the general path.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] saying why the one-dispatch path cannot train this run when
    /// `choice` is [`SingleDispatch::Always`]; device errors.
    pub fn new(
        gpu: &Gpu,
        model: &Mlp,
        optimizer: &Optimizer,
        rows: &TrainRows,
        (results, layout): (&Tensor, EpochRow),
        (epochs, choice): (usize, SingleDispatch),
    ) -> Result<Self> {
        let fit = match choice {
            SingleDispatch::Never => return Self::general(gpu, model, rows),
            SingleDispatch::Auto | SingleDispatch::Always => {
                one_dispatch_fit(gpu, model, optimizer, rows)
            }
        };
        let (group, split, orders, order_block) = match (fit, choice) {
            (Ok(fit), _) => fit,
            (Err(_), SingleDispatch::Auto) => return Self::general(gpu, model, rows),
            (Err(why), _) => {
                return Err(Error::InvalidArgument {
                    op: "Trainer::new",
                    detail: format!("single-dispatch epochs cannot train this run: {why}"),
                })
            }
        };
        let stride = layout.stride();
        let small = SmallEpoch::new(
            gpu,
            model,
            optimizer,
            group,
            split,
            &orders.blocks(gpu, &[rows.n], order_block)?,
            &results.blocks(gpu, &[stride], stride)?,
            layout,
            (rows.batch, rows.seed),
            epochs,
        )?;
        Ok(EpochPath::OneDispatch(small))
    }

    /// The general path for `model` over `rows`.
    fn general(gpu: &Gpu, model: &Mlp, rows: &TrainRows) -> Result<Self> {
        let batch = rows.batch;
        let batches = match &rows.place {
            Place::Device {
                split,
                orders,
                order_block,
            } => {
                let order = orders.blocks(gpu, &[rows.n], *order_block)?;
                EpochBatches::new(gpu, split, &order, batch)?
            }
            Place::Host(stream) => EpochBatches::blocks_for(
                gpu,
                (model.sizes()[0], 1),
                stream.target_dtype,
                batch,
                stream.chunk_steps,
            )?,
        };
        // Without Dropout the counter is never read: a spare keeps the graphs' one shape.
        let step = Tensor::zeros(gpu, &[1], DType::U32)?;
        let training = Training {
            seed: rows.seed,
            step: &step,
        };
        let full = StepGraph::new(gpu, model, &batches, batch, training)?;
        let tail = match rows.n % batch {
            0 => None,
            rest => Some(StepGraph::new(gpu, model, &batches, rest, training)?),
        };
        let step = if model.dropout().iter().any(|&p| p > 0.0) {
            let tick = step_tick_launch(gpu, &step)?;
            Some((step, tick))
        } else {
            None
        };
        Ok(EpochPath::General {
            batches,
            full,
            tail,
            step,
        })
    }

    /// Sets the device's step counter to `step` (the optimizer's count of steps taken), for
    /// the submission about to be recorded: Dropout's masks follow the run's steps across
    /// submissions, resumes and restored epochs.
    pub fn set_step(&self, gpu: &Gpu, step: u64) -> Result<()> {
        if let EpochPath::General {
            step: Some((counter, _)),
            ..
        } = self
        {
            counter.write(gpu, &[step as u32])?;
        }
        Ok(())
    }

    /// Dispatches one full training step records, the optimizer update included; on the
    /// one-dispatch path, 1: the whole epoch is one dispatch.
    pub fn dispatches_per_step(&self, optimizer: &Optimizer) -> usize {
        match self {
            EpochPath::General { full, step, .. } => {
                let tick = step.as_ref().map_or(0, |(_, tick)| tick.dispatch_count());
                full.dispatch_count() + optimizer.dispatches_per_step() + tick
            }
            EpochPath::OneDispatch(_) => 1,
        }
    }

    /// Records the epoch `at` says into `batch` (or, streaming, into the parts it submits):
    /// its steps, their losses and the optimizer's non-finite flag into its row, and the
    /// optimizer's updates, counted by its step count.
    pub fn record(
        &self,
        gpu: &Gpu,
        batch: &mut Batch,
        optimizer: &mut Optimizer,
        rows: &TrainRows,
        at: &EpochAt,
        parts: &mut EpochParts,
    ) -> Result<()> {
        let steps = rows.steps();
        let start = at.start();
        match self {
            EpochPath::OneDispatch(small) => {
                small.record(gpu, optimizer, batch, at.k)?;
            }
            EpochPath::General {
                batches,
                full,
                tail,
                step,
            } => {
                if let Some(shuffle) = &batches.shuffle {
                    batch.record_dispatch_block(shuffle, at.k);
                }
                let stream = match &rows.place {
                    Place::Host(stream) => Some((stream, epoch_order(rows.seed, at.epoch, rows.n))),
                    Place::Device { .. } => None,
                };
                for s in 0..steps {
                    let graph = match tail {
                        Some(tail) if s + 1 == steps => tail,
                        _ => full,
                    };
                    let block = match &stream {
                        Some((stream, order)) => {
                            stream.chunk_block(gpu, batch, batches, order, s, parts)?
                        }
                        None => s,
                    };
                    batch.record_block(&graph.pass.forward.launch, block);
                    batch.record_block(&graph.pass.loss_launch, block);
                    batch.record_block(&graph.backward, block);
                    if let Some((_, tick)) = step {
                        batch.record(tick);
                    }
                    batch.copy_range(&graph.pass.loss, 0, at.results, start + s, 1)?;
                    optimizer.record_step(gpu, batch)?;
                }
                // The small-model kernel writes its own flag into the results.
                let flag = optimizer.nonfinite_flag();
                let slot = start + at.layout.nonfinite as usize;
                batch.copy_range(flag, 0, at.results, slot, 1)?;
            }
        }
        Ok(())
    }
}

/// What the one-dispatch path needs to train `model` over `rows` — `optimizer`'s one group,
/// the split on the device, its epochs' orders and the elements between two of them — or why
/// it cannot: the optimizer has several groups, the split is streamed, or the model, its batch
/// or the device do not fit the kernel.
fn one_dispatch_fit<'a>(
    gpu: &Gpu,
    model: &Mlp,
    optimizer: &Optimizer,
    rows: &'a TrainRows,
) -> std::result::Result<(OptimizerConfig, &'a DeviceSplit, &'a Tensor, usize), String> {
    let group = match optimizer.param_groups() {
        [only] if only.params.len() == model.params().slots().len() => only.config,
        _ => return Err("it takes one optimizer group holding every parameter".into()),
    };
    let Place::Device {
        split,
        orders,
        order_block,
    } = &rows.place
    else {
        return Err(
            "it needs the whole training split on the device, and this one is \
                    streamed (it does not fit one storage binding, or chunk_rows is set)"
                .into(),
        );
    };
    let weights = model.loss_weights().values().map_or(0, <[f32]>::len);
    if let Some(why) = refusal(
        gpu,
        model.sizes(),
        model.activations(),
        (model.loss_kind(), weights),
        rows.batch,
    ) {
        return Err(why);
    }
    Ok((group, split, orders, *order_block))
}
