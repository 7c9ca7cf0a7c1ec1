//! Prepared kernel launches and the batch that records them into one submission.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use wgpu::util::DeviceExt;

use super::pipeline::{Binding, KernelSpec, Pipeline};
use super::{Gpu, Tensor};
use crate::error::{Error, Result};

/// The most block views ([`Tensor::blocks`]) one dispatch binds (WebGPU's default limit on
/// dynamic storage bindings is 4).
const MAX_BLOCK_VIEWS: usize = 8;

/// One kernel dispatch with everything bound: pipeline, bind group (tensors and params),
/// and the workgroup counts. Building it validates and allocates; recording it is cheap,
/// so a training step prepares its dispatches once and records them every step.
#[derive(Debug)]
pub struct Dispatch {
    pipeline: Arc<Pipeline>,
    bind_group: wgpu::BindGroup,
    workgroups: [u32; 3],
    /// The block stride in bytes of each storage binding bound to a block view, in binding
    /// order (the order wgpu takes dynamic offsets in).
    block_strides: Vec<u32>,
}

impl Dispatch {
    /// Binds `tensors` (in the order of the spec's storage bindings) and `params` (the
    /// uniform, last) to the kernel of `spec`.
    ///
    /// # Errors
    /// [`Error::TooLarge`] when a tensor exceeds the device's largest storage binding or the
    /// grid exceeds the workgroup-count limit; [`Error::Validation`] for a binding that does
    /// not fit the kernel.
    pub fn new<P: bytemuck::Pod>(
        gpu: &Gpu,
        spec: &KernelSpec,
        tensors: &[&Tensor],
        params: &P,
        workgroups: [u32; 3],
    ) -> Result<Self> {
        Self::build(
            gpu,
            spec,
            tensors,
            bytemuck::bytes_of(params),
            None,
            workgroups,
        )
    }

    /// As [`Dispatch::new`], with the spec's [`Binding::DynamicUniform`] bound to `entry_size`
    /// bytes of `table`; [`Batch::record_at`] picks the entry.
    pub(crate) fn with_table<P: bytemuck::Pod>(
        gpu: &Gpu,
        spec: &KernelSpec,
        tensors: &[&Tensor],
        params: &P,
        table: (&wgpu::Buffer, u64),
        workgroups: [u32; 3],
    ) -> Result<Self> {
        Self::build(
            gpu,
            spec,
            tensors,
            bytemuck::bytes_of(params),
            Some(table),
            workgroups,
        )
    }

    fn build(
        gpu: &Gpu,
        spec: &KernelSpec,
        tensors: &[&Tensor],
        params: &[u8],
        table: Option<(&wgpu::Buffer, u64)>,
        workgroups: [u32; 3],
    ) -> Result<Self> {
        let limits = gpu.limits();
        let max_groups = limits.max_compute_workgroups_per_dimension;
        if let Some(&count) = workgroups.iter().find(|&&w| w > max_groups) {
            return Err(Error::TooLarge {
                what: format!("{} grid of {count} workgroups", spec.entry),
                size: u64::from(count),
                limit: u64::from(max_groups),
                limit_name: "max_compute_workgroups_per_dimension (workgroups, not bytes)",
            });
        }
        for tensor in tensors {
            let size = tensor.size_bytes();
            if size > limits.max_storage_buffer_binding_size {
                return Err(Error::TooLarge {
                    what: format!("binding a {:?} tensor to {}", tensor.shape(), spec.entry),
                    size,
                    limit: limits.max_storage_buffer_binding_size,
                    limit_name: "max_storage_buffer_binding_size",
                });
            }
        }
        let storage_slots = spec.bindings.iter().filter(|(_, k)| k.is_storage()).count();
        if storage_slots != tensors.len() {
            return Err(Error::InvalidArgument {
                op: spec.entry,
                detail: format!("expects {storage_slots} tensors, got {}", tensors.len()),
            });
        }
        // Which storage bindings take block views, as a bit per entry of the spec's bindings,
        // and the strides of those blocks in binding order.
        let mut dynamic = 0u64;
        let mut blocks: Vec<(u32, u32)> = Vec::new();
        let storage = spec
            .bindings
            .iter()
            .enumerate()
            .filter(|(_, (_, k))| k.is_storage());
        for ((i, &(binding, _)), tensor) in storage.zip(tensors) {
            if let Some(stride) = tensor.block_stride_bytes() {
                dynamic |= 1 << i;
                blocks.push((binding, stride));
            }
        }
        if blocks.len() > MAX_BLOCK_VIEWS {
            return Err(Error::InvalidArgument {
                op: spec.entry,
                detail: format!(
                    "{} block views bound; a dispatch takes at most {MAX_BLOCK_VIEWS}",
                    blocks.len()
                ),
            });
        }
        blocks.sort_unstable();
        let pipeline = gpu.pipeline(spec, dynamic)?;
        let bind_group = gpu.scoped(spec.entry, || {
            let params = gpu
                .device()
                .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some(spec.entry),
                    contents: params,
                    usage: wgpu::BufferUsages::UNIFORM,
                });
            let mut tensors = tensors.iter();
            let entries: Vec<wgpu::BindGroupEntry> = spec
                .bindings
                .iter()
                .filter_map(|&(binding, kind)| {
                    let resource = match kind {
                        Binding::ReadOnly | Binding::ReadWrite => tensors.next()?.binding(),
                        Binding::Uniform => params.as_entire_binding(),
                        Binding::DynamicUniform => {
                            let (buffer, size) = table?;
                            wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                                buffer,
                                offset: 0,
                                size: wgpu::BufferSize::new(size),
                            })
                        }
                    };
                    Some(wgpu::BindGroupEntry { binding, resource })
                })
                .collect();
            // A missing entry (no table for a DynamicUniform) is a validation error here.
            gpu.device().create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(spec.entry),
                layout: &pipeline.layout,
                entries: &entries,
            })
        })?;
        Ok(Self {
            pipeline,
            bind_group,
            workgroups,
            block_strides: blocks.into_iter().map(|(_, stride)| stride).collect(),
        })
    }
}

/// The dispatches of one operation, in order (a loss is its kernel plus the reduction passes).
#[derive(Debug, Default)]
pub struct Launch {
    dispatches: Vec<Dispatch>,
}

impl Launch {
    /// A launch of the given dispatches, run in order.
    pub fn new(dispatches: Vec<Dispatch>) -> Self {
        Self { dispatches }
    }

    /// Appends the dispatches of `other` after this launch's own.
    pub fn then(mut self, other: Launch) -> Self {
        self.dispatches.extend(other.dispatches);
        self
    }

    /// How many dispatches recording this launch adds.
    pub fn dispatch_count(&self) -> usize {
        self.dispatches.len()
    }
}

/// A command encoder with one open compute pass: record any number of launches, then
/// [`Gpu::submit`] them as a single queue submission.
///
/// ```no_run
/// # use wgsl_train::{Gpu, Tensor, kernels::activation, nn::Activation};
/// # fn main() -> wgsl_train::Result<()> {
/// let gpu = Gpu::new()?;
/// let x = Tensor::from_slice(&gpu, &[2, 2], &[1.0f32, -2.0, 3.0, -4.0])?;
/// let y = Tensor::zeros(&gpu, &[2, 2], wgsl_train::DType::F32)?;
/// let relu = activation::activation_launch(&gpu, Activation::Relu, &x, &y)?;
/// let mut batch = gpu.batch();
/// batch.record(&relu);
/// batch.record(&relu); // the same prepared launch can be recorded again
/// gpu.submit(batch)?;
/// assert_eq!(y.to_vec::<f32>(&gpu)?, vec![1.0, 0.0, 3.0, 0.0]);
/// # Ok(()) }
/// ```
pub struct Batch {
    encoder: wgpu::CommandEncoder,
    pass: Option<wgpu::ComputePass<'static>>,
    /// Timestamps written at the start and end of the first compute pass, when timing.
    timestamps: Option<wgpu::QuerySet>,
    dispatches: usize,
    /// Unique per batch, so that per-step tables know when a new submission starts.
    id: u64,
}

impl Batch {
    pub(crate) fn new(gpu: &Gpu) -> Self {
        let encoder = gpu
            .device()
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("wgsl-train batch"),
            });
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        Self {
            encoder,
            pass: None,
            timestamps: None,
            dispatches: 0,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// Records every dispatch of `launch`, in order, into the open compute pass (block views
    /// bound to their first block).
    pub fn record(&mut self, launch: &Launch) {
        self.record_block(launch, 0);
    }

    /// Records every dispatch of `launch`, with every block view it binds
    /// ([`Tensor::blocks`]) bound to its block number `block`, each at its own stride.
    ///
    /// Block views check at creation that every block lies inside their tensor; a `block`
    /// past the last is a validation error of the submission.
    pub fn record_block(&mut self, launch: &Launch, block: usize) {
        for dispatch in &launch.dispatches {
            self.record_dispatch_block(dispatch, block);
        }
    }

    /// Records one dispatch with its block views bound to block number `block`.
    pub(crate) fn record_dispatch_block(&mut self, dispatch: &Dispatch, block: usize) {
        // Recorded every step: offsets on the stack, no allocation.
        let mut offsets = [0u32; MAX_BLOCK_VIEWS];
        let strides = &dispatch.block_strides;
        for (offset, &stride) in offsets.iter_mut().zip(strides) {
            *offset = u32::try_from(block as u64 * u64::from(stride)).unwrap_or(u32::MAX);
        }
        self.record_at(dispatch, &offsets[..strides.len()]);
    }

    /// Records one dispatch, with the dynamic offsets of its dynamic bindings.
    pub(crate) fn record_at(&mut self, dispatch: &Dispatch, dynamic_offsets: &[u32]) {
        let encoder = &mut self.encoder;
        let timestamps = self.timestamps.take();
        let pass = self.pass.get_or_insert_with(|| {
            let timestamp_writes =
                timestamps
                    .as_ref()
                    .map(|query_set| wgpu::ComputePassTimestampWrites {
                        query_set,
                        beginning_of_pass_write_index: Some(0),
                        end_of_pass_write_index: Some(1),
                    });
            encoder
                .begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("wgsl-train"),
                    timestamp_writes,
                })
                .forget_lifetime()
        });
        pass.set_pipeline(&dispatch.pipeline.pipeline);
        pass.set_bind_group(0, &dispatch.bind_group, dynamic_offsets);
        let [x, y, z] = dispatch.workgroups;
        pass.dispatch_workgroups(x, y, z);
        self.dispatches += 1;
    }

    /// Records a copy of all of `src` into the start of `dst` (ends the open compute pass).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] when `dst` is smaller than `src` or the element types differ.
    pub fn copy(&mut self, src: &Tensor, dst: &Tensor) -> Result<()> {
        self.copy_range(src, 0, dst, 0, src.len())
    }

    /// Records a copy of `len` elements of `src` from element `src_at` into `dst` from
    /// element `dst_at` (ends the open compute pass).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] when a range is out of its tensor or the element types differ.
    pub fn copy_range(
        &mut self,
        src: &Tensor,
        src_at: usize,
        dst: &Tensor,
        dst_at: usize,
        len: usize,
    ) -> Result<()> {
        let fits = |at: usize, t: &Tensor| at.checked_add(len).is_some_and(|end| end <= t.len());
        if src.dtype() != dst.dtype() || !fits(src_at, src) || !fits(dst_at, dst) {
            return Err(Error::ShapeMismatch {
                op: "copy",
                detail: format!(
                    "copying {len} elements from element {src_at} to element {dst_at} needs both ranges inside tensors of one element type"
                ),
                lhs: src.shape().to_vec(),
                rhs: dst.shape().to_vec(),
            });
        }
        self.pass = None;
        self.encoder.copy_buffer_to_buffer(
            src.buffer(),
            src.offset_bytes() + src_at as u64 * 4,
            dst.buffer(),
            dst.offset_bytes() + dst_at as u64 * 4,
            len as u64 * 4,
        );
        Ok(())
    }

    /// Records a copy of the first `size` bytes of `src` into a staging buffer (ends the open
    /// compute pass).
    pub(crate) fn copy_to_buffer(&mut self, src: &Tensor, dst: &wgpu::Buffer, size: u64) {
        self.pass = None;
        self.encoder
            .copy_buffer_to_buffer(src.buffer(), src.offset_bytes(), dst, 0, size);
    }

    /// Records setting every element of `tensor` to zero (ends the open compute pass).
    pub fn clear(&mut self, tensor: &Tensor) {
        self.pass = None;
        self.encoder.clear_buffer(
            tensor.buffer(),
            tensor.offset_bytes(),
            Some(tensor.size_bytes()),
        );
    }

    /// Makes the next compute pass write timestamps 0 and 1 of `query_set` at its start and end.
    pub(crate) fn time_next_pass(&mut self, query_set: wgpu::QuerySet) {
        self.pass = None;
        self.timestamps = Some(query_set);
    }

    /// Ends the open pass and records the resolve of `query_set`'s two timestamps into `buffer`.
    pub(crate) fn resolve_timestamps(&mut self, query_set: &wgpu::QuerySet, buffer: &wgpu::Buffer) {
        self.pass = None;
        self.encoder.resolve_query_set(query_set, 0..2, buffer, 0);
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// How many dispatches have been recorded so far.
    pub fn dispatch_count(&self) -> usize {
        self.dispatches
    }

    pub(crate) fn finish(mut self) -> wgpu::CommandBuffer {
        self.pass = None;
        self.encoder.finish()
    }
}
