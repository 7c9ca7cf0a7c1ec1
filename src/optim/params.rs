//! Flat parameter storage: every parameter tensor of a model is a view into one buffer, and the
//! gradients and the optimizer's state share that layout, so one dispatch updates them all.

use crate::error::{Error, Result};
use crate::gpu::{DType, Gpu, Tensor};

/// A parameter of one [`ParamStore`], by position: looked up once by name
/// ([`ParamStore::id`]), then used without names on every step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ParamId(usize);

/// Where one parameter tensor lives in the flat buffers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamSlot {
    /// The parameter's name, e.g. `0.weight`.
    pub name: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Its first element in the flat buffers, a multiple of the binding alignment.
    pub offset: usize,
}

impl ParamSlot {
    /// The number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Always false: empty parameters are refused.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A model's parameters and their gradients in two flat GPU buffers of the same layout.
///
/// Each parameter starts at a multiple of the device's storage-binding alignment, so each can
/// be bound on its own as a [`Tensor`] view; the padding between them stays zero.
///
/// ```no_run
/// # use wgsl_train::{Gpu, optim::ParamStore};
/// # fn main() -> wgsl_train::Result<()> {
/// let gpu = Gpu::new()?;
/// let params = ParamStore::new(&gpu, &[("0.weight", &[5, 10]), ("0.bias", &[5])])?;
/// params.write(&gpu, "0.bias", &[0.0f32; 5])?;
/// let weight = params.value("0.weight")?; // a [5, 10] view of the flat buffer
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ParamStore {
    slots: Vec<ParamSlot>,
    values: Tensor,
    grads: Tensor,
    value_views: Vec<Tensor>,
    grad_views: Vec<Tensor>,
}

impl ParamStore {
    /// Zero-filled storage for the named shapes, in order.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for no parameters, an empty shape or a repeated name;
    /// [`Error::TooLarge`] past the device's largest buffer.
    pub fn new(gpu: &Gpu, params: &[(&str, &[usize])]) -> Result<Self> {
        let op = "ParamStore::new";
        if params.is_empty() {
            return Err(Error::InvalidArgument {
                op,
                detail: "a model needs at least one parameter".into(),
            });
        }
        let align = gpu.binding_alignment();
        let mut slots: Vec<ParamSlot> = Vec::with_capacity(params.len());
        let mut end = 0usize;
        for &(name, shape) in params {
            if slots.iter().any(|s| s.name == name) {
                return Err(Error::InvalidArgument {
                    op,
                    detail: format!("parameter name {name:?} is used twice"),
                });
            }
            let offset = end.div_ceil(align) * align;
            let slot = ParamSlot {
                name: name.to_string(),
                shape: shape.to_vec(),
                offset,
            };
            if slot.is_empty() {
                return Err(Error::InvalidArgument {
                    op,
                    detail: format!("parameter {name:?} has the empty shape {shape:?}"),
                });
            }
            end = offset + slot.len();
            slots.push(slot);
        }
        // The flat length is a whole number of alignment units too, so the buffers split into
        // aligned chunks and the update kernel can work four elements at a time.
        let flat_len = end.div_ceil(align) * align;
        let values = Tensor::zeros(gpu, &[flat_len], DType::F32)?;
        let grads = Tensor::zeros(gpu, &[flat_len], DType::F32)?;
        let views = |flat: &Tensor| -> Result<Vec<Tensor>> {
            slots
                .iter()
                .map(|s| flat.view(gpu, s.offset, &s.shape))
                .collect()
        };
        Ok(Self {
            value_views: views(&values)?,
            grad_views: views(&grads)?,
            slots,
            values,
            grads,
        })
    }

    /// Gives the parameters these names, in order (a model whose layers' indices changed).
    pub(crate) fn rename(&mut self, names: &[String]) {
        debug_assert_eq!(names.len(), self.slots.len());
        for (slot, name) in self.slots.iter_mut().zip(names) {
            slot.name.clone_from(name);
        }
    }

    /// The parameters in order, with their offsets.
    pub fn slots(&self) -> &[ParamSlot] {
        &self.slots
    }

    /// The index of the parameter called `name`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the parameters that exist.
    pub fn index(&self, name: &str) -> Result<usize> {
        self.slots
            .iter()
            .position(|s| s.name == name)
            .ok_or_else(|| Error::InvalidArgument {
                op: "parameter lookup",
                detail: format!(
                    "no parameter {name:?}; the parameters are {:?}",
                    self.slots
                        .iter()
                        .map(|s| s.name.as_str())
                        .collect::<Vec<_>>()
                ),
            })
    }

    /// The id of the parameter called `name`.
    ///
    /// # Errors
    /// As [`ParamStore::index`].
    pub fn id(&self, name: &str) -> Result<ParamId> {
        self.index(name).map(ParamId)
    }

    /// Where the parameter `id` lives.
    pub fn slot(&self, id: ParamId) -> &ParamSlot {
        &self.slots[id.0]
    }

    /// The parameter `id`, as a view of the flat buffer.
    pub fn value_of(&self, id: ParamId) -> &Tensor {
        &self.value_views[id.0]
    }

    /// The gradient of the parameter `id`, as a view of the flat gradient buffer.
    pub fn grad_of(&self, id: ParamId) -> &Tensor {
        &self.grad_views[id.0]
    }

    /// The parameter called `name`, as a view of the flat buffer.
    ///
    /// # Errors
    /// As [`ParamStore::index`].
    pub fn value(&self, name: &str) -> Result<&Tensor> {
        Ok(&self.value_views[self.index(name)?])
    }

    /// The gradient of the parameter called `name`, as a view of the flat gradient buffer.
    ///
    /// # Errors
    /// As [`ParamStore::index`].
    pub fn grad(&self, name: &str) -> Result<&Tensor> {
        Ok(&self.grad_views[self.index(name)?])
    }

    /// Overwrites the parameter called `name`.
    ///
    /// # Errors
    /// As [`ParamStore::index`], or [`Error::ShapeMismatch`] when `data` does not fill it.
    pub fn write(&self, gpu: &Gpu, name: &str, data: &[f32]) -> Result<()> {
        self.value(name)?.write(gpu, data)
    }

    /// Downloads the parameter called `name`.
    ///
    /// # Errors
    /// As [`ParamStore::index`] and [`Tensor::to_vec`].
    pub fn read(&self, gpu: &Gpu, name: &str) -> Result<Vec<f32>> {
        self.value(name)?.to_vec(gpu)
    }

    /// Async variant of [`ParamStore::read`], the one to call in a browser.
    ///
    /// # Errors
    /// As [`ParamStore::read`].
    pub async fn read_async(&self, gpu: &Gpu, name: &str) -> Result<Vec<f32>> {
        self.value(name)?.to_vec_async(gpu).await
    }

    /// The flat parameter buffer (padding included).
    pub fn values(&self) -> &Tensor {
        &self.values
    }

    /// The flat gradient buffer, laid out as [`ParamStore::values`].
    pub fn grads(&self) -> &Tensor {
        &self.grads
    }

    /// Elements in each flat buffer, padding included.
    pub fn flat_len(&self) -> usize {
        self.values.len()
    }
}
