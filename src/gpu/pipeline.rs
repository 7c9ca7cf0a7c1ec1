//! Shader modules, bind-group layouts and compute pipelines, each built once and cached.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::Gpu;
use crate::error::Result;

/// What a kernel binds at one slot of bind group 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Binding {
    /// `var<storage, read>`
    ReadOnly,
    /// `var<storage, read_write>`
    ReadWrite,
    /// `var<uniform>`: the kernel's params struct.
    Uniform,
    /// `var<uniform>` bound with a dynamic offset: one entry of a table of per-step values,
    /// chosen when the dispatch is recorded.
    DynamicUniform,
}

impl Binding {
    /// Whether the binding takes a tensor (a storage buffer). A storage binding takes a
    /// dynamic offset when its tensor is a block view ([`Tensor::blocks`](super::Tensor::blocks)).
    pub fn is_storage(self) -> bool {
        matches!(self, Binding::ReadOnly | Binding::ReadWrite)
    }
}

/// Whose a shader is: the crate's own and a user's live in separate namespaces of the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Owner {
    Crate,
    User,
}

/// A WGSL module: its name and source. Compiled modules are cached by owner and name, so a
/// kernel of your own never collides with one of the crate's, whatever you call it.
#[derive(Debug, Clone, Copy)]
pub struct ShaderCode {
    owner: Owner,
    name: &'static str,
    source: &'static str,
}

impl ShaderCode {
    /// A shader of your own, for kernels you add; `name` must be unique among yours.
    pub const fn user(name: &'static str, source: &'static str) -> Self {
        Self {
            owner: Owner::User,
            name,
            source,
        }
    }

    /// One of the crate's shaders (see `kernels::Shader`).
    pub(crate) const fn of_crate(name: &'static str, source: &'static str) -> Self {
        Self {
            owner: Owner::Crate,
            name,
            source,
        }
    }

    /// The shader's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The WGSL source.
    pub fn source(&self) -> &'static str {
        self.source
    }
}

/// One entry point of one WGSL module, specialised by override constants.
#[derive(Debug, Clone)]
pub struct KernelSpec {
    /// The module.
    pub shader: ShaderCode,
    /// The entry point.
    pub entry: &'static str,
    /// `(binding number, kind)` for each binding the entry point uses: read-only inputs
    /// first, then outputs, then the params uniform.
    pub bindings: &'static [(u32, Binding)],
    /// Values for the shader's `override` constants.
    pub constants: Vec<(&'static str, f64)>,
}

/// A compiled pipeline and the layout its bind groups must follow.
#[derive(Debug)]
pub(crate) struct Pipeline {
    pub pipeline: wgpu::ComputePipeline,
    pub layout: Arc<wgpu::BindGroupLayout>,
}

/// Shader, entry point, layout, and the override constants (as bits, so they hash).
type PipelineKey = (ModuleKey, &'static str, LayoutKey, Vec<(&'static str, u64)>);
type ModuleKey = (Owner, &'static str);
/// The bindings a layout was built for, and which of them take a dynamic offset (a bit per
/// entry of the bindings, for the storage bindings that bind block views).
type LayoutKey = (&'static [(u32, Binding)], u64);

#[derive(Default)]
pub(crate) struct PipelineCache {
    modules: Mutex<HashMap<ModuleKey, wgpu::ShaderModule>>,
    layouts: Mutex<HashMap<LayoutKey, Arc<wgpu::BindGroupLayout>>>,
    pipelines: Mutex<HashMap<PipelineKey, Arc<Pipeline>>>,
}

impl Gpu {
    /// The pipeline for `spec`, with the storage bindings flagged in `dynamic` (a bit per
    /// entry of `spec.bindings`) taking dynamic offsets, compiled on first use.
    pub(crate) fn pipeline(&self, spec: &KernelSpec, dynamic: u64) -> Result<Arc<Pipeline>> {
        let key: PipelineKey = (
            (spec.shader.owner, spec.shader.name),
            spec.entry,
            (spec.bindings, dynamic),
            spec.constants
                .iter()
                .map(|(k, v)| (*k, v.to_bits()))
                .collect(),
        );
        let cache = self.pipelines();
        if let Some(found) = lock(&cache.pipelines).get(&key) {
            return Ok(Arc::clone(found));
        }
        let module = self.shader_module(spec)?;
        let layout = self.bind_group_layout((spec.bindings, dynamic))?;
        let pipeline = self.scoped("compile pipeline", || {
            let pipeline_layout =
                self.device()
                    .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                        label: Some(spec.entry),
                        bind_group_layouts: &[Some(&layout)],
                        immediate_size: 0,
                    });
            self.device()
                .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(spec.entry),
                    layout: Some(&pipeline_layout),
                    module: &module,
                    entry_point: Some(spec.entry),
                    compilation_options: wgpu::PipelineCompilationOptions {
                        constants: &spec.constants,
                        // Our kernels write workgroup memory before reading it.
                        zero_initialize_workgroup_memory: false,
                    },
                    cache: None,
                })
        })?;
        let pipeline = Arc::new(Pipeline { pipeline, layout });
        // Two threads may compile the same pipeline at once; both results are equal, keep one.
        let mut pipelines = lock(&cache.pipelines);
        Ok(Arc::clone(pipelines.entry(key).or_insert(pipeline)))
    }

    fn shader_module(&self, spec: &KernelSpec) -> Result<wgpu::ShaderModule> {
        let cache = self.pipelines();
        let key = (spec.shader.owner, spec.shader.name);
        if let Some(found) = lock(&cache.modules).get(&key) {
            return Ok(found.clone());
        }
        let module = self.scoped("compile shader", || {
            self.device()
                .create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(spec.shader.name),
                    source: wgpu::ShaderSource::Wgsl(spec.shader.source.into()),
                })
        })?;
        lock(&cache.modules).insert(key, module.clone());
        Ok(module)
    }

    fn bind_group_layout(&self, key: LayoutKey) -> Result<Arc<wgpu::BindGroupLayout>> {
        let cache = self.pipelines();
        if let Some(found) = lock(&cache.layouts).get(&key) {
            return Ok(Arc::clone(found));
        }
        let (bindings, dynamic) = key;
        let entries: Vec<wgpu::BindGroupLayoutEntry> = bindings
            .iter()
            .enumerate()
            .map(|(i, &(binding, kind))| wgpu::BindGroupLayoutEntry {
                binding,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: match kind {
                        Binding::ReadOnly => wgpu::BufferBindingType::Storage { read_only: true },
                        Binding::ReadWrite => wgpu::BufferBindingType::Storage { read_only: false },
                        Binding::Uniform | Binding::DynamicUniform => {
                            wgpu::BufferBindingType::Uniform
                        }
                    },
                    has_dynamic_offset: kind == Binding::DynamicUniform || dynamic >> i & 1 == 1,
                    min_binding_size: None,
                },
                count: None,
            })
            .collect();
        let layout = self.scoped("create bind group layout", || {
            self.device()
                .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                    label: None,
                    entries: &entries,
                })
        })?;
        let layout = Arc::new(layout);
        lock(&cache.layouts).insert(key, Arc::clone(&layout));
        Ok(layout)
    }
}

/// Locks a cache; a panic elsewhere while holding it leaves the map itself intact.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
