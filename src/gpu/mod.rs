//! The device, its buffers and pipelines, and the recording of kernels into one submission.

mod batch;
mod block;
mod pipeline;
mod readback;
mod tensor;
mod timing;
mod tuning;

pub(crate) use block::block_on;

pub use batch::{Batch, Dispatch, Launch};
pub use pipeline::{Binding, KernelSpec, ShaderCode};
pub use tensor::{DType, Element, Tensor};
pub use timing::{Timing, TimingSource};

pub(crate) use readback::Staging;
pub(crate) use tuning::TuningCache;

use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};
use pipeline::PipelineCache;

/// Options for opening a [`Gpu`]. `Default` picks the default adapter with its own limits.
#[derive(Debug, Clone, Default)]
pub struct GpuOptions {
    /// Cap on the largest storage binding, in bytes (default: the adapter's own limit).
    ///
    /// Lower it to exercise the paths that split work larger than one binding.
    pub max_storage_buffer_binding_size: Option<u64>,
    /// Let kernels that come in variants (matmul's `MatmulVariant::Auto`) time the candidates
    /// on this adapter at the first use of each shape class and keep the fastest, in memory and
    /// in a file under `$XDG_CACHE_HOME/wgsl-train/` (or `~/.cache/wgsl-train/`) keyed by
    /// adapter and driver (default false: a fixed choice per kind of adapter). Every variant
    /// gives the same result within the kernel tolerance, but not bit for bit: pin one for
    /// bitwise reproducibility across machines.
    pub autotune: bool,
    /// Kernel variants fixed by name as `(family, variant)` pairs, e.g. `("matmul", "tiled")`,
    /// overriding the automatic choice and the autotuner (default none). Opening a device also
    /// reads `WGSL_TRAIN_MATMUL=blocked|tiled|blocked_vec4|subgroup` once, which overrides
    /// the `"matmul"` entry here.
    pub pinned_variants: Vec<(String, String)>,
}

/// A GPU device and queue, with the crate's pipeline cache.
///
/// Open one with [`Gpu::new`] and share it (`Gpu` is `Send + Sync`); every tensor and kernel
/// is tied to the `Gpu` that created it.
///
/// The adapter is chosen the way wgpu's own helpers do: `WGPU_BACKEND` restricts the backends
/// (e.g. `vulkan`), `WGPU_ADAPTER_NAME` picks an adapter whose name contains the given text,
/// `WGSL_TRAIN_ADAPTER=N` the N-th (from 0) of those it matches (of all, without a name: one
/// of several identical GPUs), and `WGPU_POWER_PREF` (`low` or `high`) steers the default
/// choice.
pub struct Gpu {
    device: wgpu::Device,
    queue: wgpu::Queue,
    info: wgpu::AdapterInfo,
    limits: wgpu::Limits,
    pipelines: PipelineCache,
    tuning: Option<TuningCache>,
    pinned_variants: Vec<(String, String)>,
    /// Set by wgpu's callbacks; reported by the next call that talks to the device.
    faults: Arc<Faults>,
    /// See [`Gpu::unused_output`].
    unused_output: std::sync::OnceLock<Tensor>,
}

impl std::fmt::Debug for Gpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gpu")
            .field("adapter", &self.info.name)
            .field("backend", &self.info.backend)
            .field("driver", &self.info.driver)
            .finish_non_exhaustive()
    }
}

impl Gpu {
    /// Opens the default adapter (see the type's docs for the environment variables).
    ///
    /// # Errors
    /// [`Error::NoAdapter`] when no adapter is found, with the command that installs a
    /// software one; [`Error::AdapterNotFound`] when `WGPU_ADAPTER_NAME` matches none.
    pub fn new() -> Result<Self> {
        Self::with_options(GpuOptions::default())
    }

    /// Opens the default adapter with the given options.
    ///
    /// # Errors
    /// As [`Gpu::new`].
    pub fn with_options(options: GpuOptions) -> Result<Self> {
        block_on("Gpu::with_options", Self::new_async(options))
    }

    /// Async variant of [`Gpu::with_options`] for callers that have an executor.
    ///
    /// # Errors
    /// As [`Gpu::new`].
    pub async fn new_async(options: GpuOptions) -> Result<Self> {
        check_adapter_variables()?;
        let instance =
            wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let adapter = pick_adapter(&instance).await?;
        let info = adapter.get_info();
        // Ask for everything the adapter offers, not wgpu's conservative defaults, so real
        // GPUs can bind large buffers.
        let mut limits = adapter.limits();
        if let Some(cap) = options.max_storage_buffer_binding_size {
            limits.max_storage_buffer_binding_size =
                limits.max_storage_buffer_binding_size.min(cap);
        }
        // GPU timestamps where the adapter has them (lavapipe does): the bench tool's timer.
        // Subgroup operations where it has them: the `Subgroup` matmul kernel's shuffles.
        let wanted = wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::SUBGROUP;
        let features = adapter.features() & wanted;
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("wgsl-train"),
                required_features: features,
                required_limits: limits.clone(),
                memory_hints: wgpu::MemoryHints::Performance,
                ..Default::default()
            })
            .await
            .map_err(|e| Error::RequestDevice {
                adapter: info.name.clone(),
                detail: e.to_string(),
            })?;

        let mut pinned_variants = options.pinned_variants;
        if let Ok(name) = std::env::var("WGSL_TRAIN_MATMUL") {
            pinned_variants.retain(|(family, _)| family != "matmul");
            pinned_variants.push(("matmul".into(), name.trim().to_string()));
        }

        let faults = Arc::new(Faults::default());
        let on_lost = Arc::clone(&faults);
        device.set_device_lost_callback(move |reason, message| {
            let mut lost = on_lost.lost.lock().unwrap_or_else(|e| e.into_inner());
            lost.get_or_insert(format!("{reason:?}: {message}"));
        });
        // Errors outside our error scopes must not abort the process (wgpu's default).
        let on_error = Arc::clone(&faults);
        device.on_uncaptured_error(Arc::new(move |error: wgpu::Error| {
            let mut slot = on_error
                .uncaptured
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            slot.get_or_insert(scope_error("an earlier call", error));
        }));

        Ok(Self {
            pipelines: PipelineCache::default(),
            tuning: options.autotune.then(|| TuningCache::load(&info)),
            pinned_variants,
            device,
            queue,
            info,
            limits,
            faults,
            unused_output: std::sync::OnceLock::new(),
        })
    }

    /// The adapter this device runs on: name, backend, driver, device type.
    pub fn adapter_info(&self) -> &wgpu::AdapterInfo {
        &self.info
    }

    /// The limits the device was opened with (the adapter's own, unless capped by options).
    pub fn limits(&self) -> &wgpu::Limits {
        &self.limits
    }

    /// True for CPU-like adapters (lavapipe, WARP, SwiftShader), which want different kernels.
    pub fn is_cpu_adapter(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
    }

    /// The subgroup size when the device has subgroup operations and every subgroup has the
    /// same size (8 on lavapipe with 256-bit vectors, 32 on NVIDIA GPUs); else `None`.
    pub fn subgroup_size(&self) -> Option<u32> {
        let fixed = self.info.subgroup_min_size == self.info.subgroup_max_size;
        (fixed && self.device.features().contains(wgpu::Features::SUBGROUP))
            .then_some(self.info.subgroup_min_size)
    }

    /// The storage-binding alignment in f32 elements (64 for the usual 256 bytes), at least 4
    /// (a `vec4`): where a view of a buffer may start, so a block or parameter starting at a
    /// multiple of it can be bound on its own.
    pub fn binding_alignment(&self) -> usize {
        (self.limits.min_storage_buffer_offset_alignment as usize / 4).max(4)
    }

    /// The variant pinned for a kernel family (see [`GpuOptions::pinned_variants`]).
    pub(crate) fn pinned_variant(&self, family: &str) -> Option<&str> {
        self.pinned_variants
            .iter()
            .find(|(f, _)| f == family)
            .map(|(_, name)| name.as_str())
    }

    /// The autotuner's cache, when the device was opened with [`GpuOptions::autotune`].
    pub(crate) fn tuning(&self) -> Option<&TuningCache> {
        self.tuning.as_ref()
    }

    /// The underlying wgpu device, for callers who want to add their own kernels.
    pub fn device(&self) -> &wgpu::Device {
        &self.device
    }

    /// The underlying wgpu queue.
    pub fn queue(&self) -> &wgpu::Queue {
        &self.queue
    }

    /// A new, empty batch: record kernels into it, then [`Gpu::submit`] it.
    pub fn batch(&self) -> Batch {
        Batch::new(self)
    }

    /// Submits a recorded batch as one queue submission. It runs asynchronously; reading a
    /// tensor back (or [`Gpu::wait`]) waits for it.
    ///
    /// # Errors
    /// A lost device, or a validation error in what was recorded.
    pub fn submit(&self, batch: Batch) -> Result<()> {
        self.submit_indexed(batch).map(|_| ())
    }

    /// As [`Gpu::submit`], returning the submission's index for [`Gpu::wait_for`].
    pub(crate) fn submit_indexed(&self, batch: Batch) -> Result<wgpu::SubmissionIndex> {
        let commands = batch.finish();
        self.scoped("submit", || self.queue.submit([commands]))
    }

    /// Records one launch in a batch of its own and submits it, without waiting.
    ///
    /// # Errors
    /// As [`Gpu::submit`].
    pub fn run(&self, launch: &Launch) -> Result<()> {
        let mut batch = self.batch();
        batch.record(launch);
        self.submit(batch)
    }

    /// Reports an error recorded by a wgpu callback (device lost, uncaptured error).
    pub(crate) fn check_fault(&self) -> Result<()> {
        // A lost device stays lost, so that is reported every time; other errors once.
        if let Some(message) = self
            .faults
            .lost
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            return Err(Error::DeviceLost(message));
        }
        match self
            .faults
            .uncaptured
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// In a browser: runs `f`. A browser cannot wait for an error scope's verdict in a
    /// blocking call, so an error `f` causes reaches the uncaptured-error handler instead, and
    /// the next call reports it.
    #[cfg(target_arch = "wasm32")]
    pub(crate) fn scoped<T>(&self, _op: &'static str, f: impl FnOnce() -> T) -> Result<T> {
        self.check_fault()?;
        Ok(f())
    }

    /// Runs `f` inside validation and out-of-memory error scopes and turns what they catch
    /// into the crate's error.
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn scoped<T>(&self, op: &'static str, f: impl FnOnce() -> T) -> Result<T> {
        self.check_fault()?;
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let value = f();
        let validation = pollster::block_on(validation.pop());
        let oom = pollster::block_on(oom.pop());
        match oom.or(validation) {
            Some(error) => Err(scope_error(op, error)),
            None => Ok(value),
        }
    }

    /// A small writable tensor to bind where a kernel has an output it does not write this
    /// time (matmul's row sums): WebGPU refuses a dispatch that binds one buffer range to two
    /// writable bindings, even one the kernel never touches.
    pub(crate) fn unused_output(&self) -> Result<&Tensor> {
        if let Some(t) = self.unused_output.get() {
            return Ok(t);
        }
        let t = Tensor::zeros(self, &[4], DType::F32)?;
        Ok(self.unused_output.get_or_init(|| t))
    }

    pub(crate) fn pipelines(&self) -> &PipelineCache {
        &self.pipelines
    }
}

/// What wgpu's callbacks report outside any call of ours.
#[derive(Default)]
struct Faults {
    lost: Mutex<Option<String>>,
    uncaptured: Mutex<Option<Error>>,
}

fn scope_error(op: &'static str, error: wgpu::Error) -> Error {
    match error {
        wgpu::Error::OutOfMemory { .. } => Error::OutOfMemory { op },
        other => Error::Validation {
            op,
            message: other.to_string(),
        },
    }
}

/// The backends this build has, by the names (and wgpu's aliases) `WGPU_BACKEND` takes.
const BUILT_BACKENDS: [&str; 6] = ["vulkan", "vk", "metal", "mtl", "dx12", "d3d12"];

/// Checks the variables that choose the adapter, so a typo is named rather than ignored or
/// reported as a missing driver.
fn check_adapter_variables() -> Result<()> {
    let bad = |variable: &'static str, detail: String| Error::InvalidArgument {
        op: variable,
        detail,
    };
    if let Ok(value) = std::env::var("WGPU_BACKEND") {
        for name in value.split(',').map(|n| n.trim().to_lowercase()) {
            if !BUILT_BACKENDS.contains(&name.as_str()) {
                return Err(bad(
                    "WGPU_BACKEND",
                    format!(
                        "{value:?} names {name:?}; this build has the backends vulkan, metal and dx12"
                    ),
                ));
            }
        }
    }
    if let Ok(value) = std::env::var("WGPU_POWER_PREF") {
        if wgpu::PowerPreference::from_env().is_none() {
            return Err(bad(
                "WGPU_POWER_PREF",
                format!("{value:?} is not one of low, high, none"),
            ));
        }
    }
    Ok(())
}

/// Chooses the adapter: by `WGPU_ADAPTER_NAME` and `WGSL_TRAIN_ADAPTER` if either is set,
/// else wgpu's default choice.
///
/// wgpu's `initialize_adapter_from_env` panics when the name matches nothing, so the name is
/// matched here, the same way (case-insensitive substring), with an error instead. Several
/// identical GPUs share a name; `WGSL_TRAIN_ADAPTER=N` takes the N-th (from 0) of the adapters
/// the name matches (of all adapters without a name), in the order the drivers list them.
async fn pick_adapter(instance: &wgpu::Instance) -> Result<wgpu::Adapter> {
    let wanted = std::env::var("WGPU_ADAPTER_NAME").ok();
    let index = match std::env::var("WGSL_TRAIN_ADAPTER") {
        Ok(value) => Some(
            value
                .trim()
                .parse::<usize>()
                .map_err(|_| Error::InvalidArgument {
                    op: "WGSL_TRAIN_ADAPTER",
                    detail: format!("{value:?} is not an adapter's number (0, 1, …)"),
                })?,
        ),
        Err(_) => None,
    };
    if wanted.is_some() || index.is_some() {
        let adapters = instance.enumerate_adapters(wgpu::Backends::all()).await;
        let needle = wanted.as_deref().unwrap_or_default().to_lowercase();
        let names: Vec<String> = adapters.iter().map(|a| a.get_info().name).collect();
        let mut matching: Vec<wgpu::Adapter> = adapters
            .into_iter()
            .filter(|a| a.get_info().name.to_lowercase().contains(&needle))
            .collect();
        let at = index.unwrap_or(0);
        if names.is_empty() {
            return Err(Error::NoAdapter {
                detail: "no adapters at all while looking for the one the environment names".into(),
            });
        }
        if at < matching.len() {
            return Ok(matching.swap_remove(at));
        }
        return Err(match wanted {
            Some(wanted) if matching.is_empty() => Error::AdapterNotFound {
                wanted,
                available: names.join(", "),
            },
            _ => Error::InvalidArgument {
                op: "WGSL_TRAIN_ADAPTER",
                detail: format!(
                    "adapter {at} asked for, but {} adapters{} were found: {}",
                    matching.len(),
                    if wanted.is_some() {
                        " of that name"
                    } else {
                        ""
                    },
                    names.join(", ")
                ),
            },
        });
    }
    instance
        .request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::from_env()
                .unwrap_or(wgpu::PowerPreference::HighPerformance),
            ..Default::default()
        })
        .await
        .map_err(|e| {
            let detail = e.to_string();
            if cfg!(target_arch = "wasm32") {
                Error::NoWebGpu { detail }
            } else {
                Error::NoAdapter { detail }
            }
        })
}

#[cfg(test)]
mod tests {
    // No adapter here can be driven out of memory safely (lavapipe allocates lazily from host
    // memory), so the conversion that every allocation's error scope relies on is checked
    // directly.
    #[test]
    fn out_of_memory_becomes_the_crates_error_not_an_abort() {
        let oom = wgpu::Error::OutOfMemory {
            source: Box::new(std::io::Error::other("no memory left")),
        };
        assert!(matches!(
            super::scope_error("upload", oom),
            crate::Error::OutOfMemory { op: "upload" }
        ));
    }
}
