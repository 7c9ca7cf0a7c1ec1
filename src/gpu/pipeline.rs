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
    /// `var<storage, read>` bound with a dynamic offset: one block of a larger buffer (a
    /// mini-batch of an epoch's shuffled data), chosen when the dispatch is recorded.
    DynamicReadOnly,
}

impl Binding {
    /// Whether the binding takes a tensor (a storage buffer).
    pub fn is_storage(self) -> bool {
        matches!(
            self,
            Binding::ReadOnly | Binding::ReadWrite | Binding::DynamicReadOnly
        )
    }
}

/// One entry point of one WGSL file, specialised by override constants.
#[derive(Debug, Clone)]
pub struct KernelSpec {
    /// The shader's name, unique per source (the cache key for the module).
    pub shader: &'static str,
    /// The WGSL source.
    pub source: &'static str,
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

/// Shader, entry point, bindings, and the override constants (as bits, so they hash).
type PipelineKey = (
    &'static str,
    &'static str,
    LayoutKey,
    Vec<(&'static str, u64)>,
);
/// The bindings a layout was built for.
type LayoutKey = &'static [(u32, Binding)];

#[derive(Default)]
pub(crate) struct PipelineCache {
    modules: Mutex<HashMap<&'static str, wgpu::ShaderModule>>,
    layouts: Mutex<HashMap<LayoutKey, Arc<wgpu::BindGroupLayout>>>,
    pipelines: Mutex<HashMap<PipelineKey, Arc<Pipeline>>>,
}

impl Gpu {
    /// The pipeline for `spec`, compiled on first use.
    pub(crate) fn pipeline(&self, spec: &KernelSpec) -> Result<Arc<Pipeline>> {
        let key: PipelineKey = (
            spec.shader,
            spec.entry,
            spec.bindings,
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
        let layout = self.bind_group_layout(spec.bindings)?;
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
        if let Some(found) = lock(&cache.modules).get(spec.shader) {
            return Ok(found.clone());
        }
        let module = self.scoped("compile shader", || {
            self.device()
                .create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(spec.shader),
                    source: wgpu::ShaderSource::Wgsl(spec.source.into()),
                })
        })?;
        lock(&cache.modules).insert(spec.shader, module.clone());
        Ok(module)
    }

    fn bind_group_layout(
        &self,
        bindings: &'static [(u32, Binding)],
    ) -> Result<Arc<wgpu::BindGroupLayout>> {
        let cache = self.pipelines();
        if let Some(found) = lock(&cache.layouts).get(bindings) {
            return Ok(Arc::clone(found));
        }
        let entries: Vec<wgpu::BindGroupLayoutEntry> = bindings
            .iter()
            .map(|&(binding, kind)| wgpu::BindGroupLayoutEntry {
                binding,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: match kind {
                        Binding::ReadOnly | Binding::DynamicReadOnly => {
                            wgpu::BufferBindingType::Storage { read_only: true }
                        }
                        Binding::ReadWrite => wgpu::BufferBindingType::Storage { read_only: false },
                        Binding::Uniform | Binding::DynamicUniform => {
                            wgpu::BufferBindingType::Uniform
                        }
                    },
                    has_dynamic_offset: matches!(
                        kind,
                        Binding::DynamicUniform | Binding::DynamicReadOnly
                    ),
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
        lock(&cache.layouts).insert(bindings, Arc::clone(&layout));
        Ok(layout)
    }
}

/// Locks a cache; a panic elsewhere while holding it leaves the map itself intact.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
