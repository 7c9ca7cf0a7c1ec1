//! GPU tensors: a storage buffer with a shape and an element type.

use wgpu::util::DeviceExt;

use super::Gpu;
pub use crate::dtype::DType;
use crate::error::{Error, Result};

/// A type a [`Tensor`] can hold: `f32` or `u32`.
pub trait Element: bytemuck::Pod + private::Sealed {
    /// The matching [`DType`].
    const DTYPE: DType;
}

impl Element for f32 {
    const DTYPE: DType = DType::F32;
}

impl Element for u32 {
    const DTYPE: DType = DType::U32;
}

mod private {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for u32 {}
}

/// A row-major array of `f32` or `u32` in a GPU storage buffer, or a view of part of one
/// (see [`Tensor::view`]).
///
/// ```no_run
/// # use wgsl_train::{Gpu, Tensor};
/// # fn main() -> wgsl_train::Result<()> {
/// let gpu = Gpu::new()?;
/// let t = Tensor::from_slice(&gpu, &[2, 3], &[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0])?;
/// assert_eq!(t.shape(), &[2, 3]);
/// assert_eq!(t.to_vec::<f32>(&gpu)?, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Tensor {
    buffer: wgpu::Buffer,
    /// Where the data starts in `buffer`, in bytes (0 unless this is a view).
    offset: u64,
    shape: Vec<usize>,
    dtype: DType,
    /// For a view made by [`Tensor::blocks`]: the bytes between consecutive blocks. Kernels
    /// bind such a view with a dynamic offset, and each recording picks the block.
    block_stride: Option<u32>,
}

impl Tensor {
    /// Uploads `data` as a tensor of the given shape.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] when `data.len()` is not the product of `shape`;
    /// [`Error::InvalidArgument`] for an empty shape; [`Error::TooLarge`] past the device's
    /// largest buffer.
    pub fn from_slice<T: Element>(gpu: &Gpu, shape: &[usize], data: &[T]) -> Result<Self> {
        let len = checked_len("upload", shape)?;
        if len != data.len() {
            return Err(Error::ShapeMismatch {
                op: "upload",
                detail: format!("{} values do not fill the shape", data.len()),
                lhs: vec![data.len()],
                rhs: shape.to_vec(),
            });
        }
        byte_size(gpu, "upload", shape)?;
        let buffer = gpu.scoped("upload", || {
            gpu.device()
                .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some("tensor"),
                    contents: bytemuck::cast_slice(data),
                    usage: usage(),
                })
        })?;
        Ok(Self {
            buffer,
            offset: 0,
            shape: shape.to_vec(),
            dtype: T::DTYPE,
            block_stride: None,
        })
    }

    /// A tensor of zeros.
    ///
    /// # Errors
    /// As [`Tensor::from_slice`].
    pub fn zeros(gpu: &Gpu, shape: &[usize], dtype: DType) -> Result<Self> {
        let size = byte_size(gpu, "zeros", shape)?;
        // wgpu zero-initialises new buffers.
        let buffer = gpu.scoped("zeros", || {
            gpu.device().create_buffer(&wgpu::BufferDescriptor {
                label: Some("tensor"),
                size,
                usage: usage(),
                mapped_at_creation: false,
            })
        })?;
        Ok(Self {
            buffer,
            offset: 0,
            shape: shape.to_vec(),
            dtype,
            block_stride: None,
        })
    }

    /// Overwrites the tensor's contents with `data` (queued before the next submission).
    ///
    /// # Errors
    /// [`Error::DType`] or [`Error::ShapeMismatch`] when `data` does not match the tensor.
    pub fn write<T: Element>(&self, gpu: &Gpu, data: &[T]) -> Result<()> {
        self.expect_dtype("write", "data", T::DTYPE)?;
        if data.len() != self.len() {
            return Err(Error::ShapeMismatch {
                op: "write",
                detail: format!("{} values do not fill the tensor", data.len()),
                lhs: vec![data.len()],
                rhs: self.shape.clone(),
            });
        }
        gpu.queue()
            .write_buffer(&self.buffer, self.offset, bytemuck::cast_slice(data));
        Ok(())
    }

    /// Waits for the work queued so far and downloads the tensor.
    ///
    /// # Errors
    /// [`Error::DType`] when `T` is not the tensor's element type; [`Error::Readback`] or
    /// [`Error::DeviceLost`] when the device fails.
    pub fn to_vec<T: Element>(&self, gpu: &Gpu) -> Result<Vec<T>> {
        super::block_on("Tensor::to_vec", self.to_vec_async(gpu))
    }

    /// Async variant of [`Tensor::to_vec`], the one to call in a browser, where it yields to
    /// the event loop while the GPU works (natively it waits for the GPU as `to_vec` does).
    ///
    /// # Errors
    /// As [`Tensor::to_vec`].
    pub async fn to_vec_async<T: Element>(&self, gpu: &Gpu) -> Result<Vec<T>> {
        self.expect_dtype("download", "the result", T::DTYPE)?;
        let bytes = gpu
            .read_bytes_async(&self.buffer, self.offset, self.size_bytes())
            .await?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }

    /// A view of `shape` starting `offset` elements into this tensor, sharing its buffer:
    /// kernels that write the view write the tensor.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the view does not fit inside the tensor, or its start is
    /// not a multiple of the device's storage-binding alignment
    /// (`min_storage_buffer_offset_alignment`, usually 256 bytes = 64 elements).
    pub fn view(&self, gpu: &Gpu, offset: usize, shape: &[usize]) -> Result<Tensor> {
        let len = checked_len("view", shape)?;
        if offset.checked_add(len).is_none_or(|end| end > self.len()) {
            return Err(Error::InvalidArgument {
                op: "view",
                detail: format!(
                    "a {shape:?} view at element {offset} does not fit in a {:?} tensor",
                    self.shape
                ),
            });
        }
        let byte_offset = self.offset + offset as u64 * 4;
        let align = u64::from(gpu.limits().min_storage_buffer_offset_alignment);
        if !byte_offset.is_multiple_of(align) {
            return Err(Error::InvalidArgument {
                op: "view",
                detail: format!(
                    "a view must start at a multiple of {align} bytes; element {offset} is at byte {byte_offset}"
                ),
            });
        }
        Ok(Tensor {
            buffer: self.buffer.clone(),
            offset: byte_offset,
            shape: shape.to_vec(),
            dtype: self.dtype,
            block_stride: None,
        })
    }

    /// One block of `shape` out of consecutive blocks `stride` elements apart that fill this
    /// tensor, the block chosen each time a launch is recorded
    /// ([`Batch::record_block`](super::Batch::record_block)) rather than when it is prepared: a
    /// training step's mini-batch in an epoch's shuffled copy of the data. Kernels bind such a
    /// view with a dynamic offset; [`Batch::record`](super::Batch::record) binds block 0.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when a block does not fit in `stride`, `stride` is not a
    /// multiple of [`Gpu::binding_alignment`], or the tensor is not a whole number of blocks
    /// within 4 GiB (dynamic offsets are 32-bit).
    pub fn blocks(&self, gpu: &Gpu, shape: &[usize], stride: usize) -> Result<Tensor> {
        let len = checked_len("blocks", shape)?;
        let problem = if len > stride {
            Some(format!(
                "a {shape:?} block does not fit in a stride of {stride} elements"
            ))
        } else if !stride.is_multiple_of(gpu.binding_alignment()) {
            Some(format!(
                "the stride {stride} is not a multiple of the binding alignment ({} elements)",
                gpu.binding_alignment()
            ))
        } else if !self.len().is_multiple_of(stride) || self.size_bytes() > u64::from(u32::MAX) {
            Some(format!(
                "a {:?} tensor is not a whole number of {stride}-element blocks within 4 GiB",
                self.shape
            ))
        } else {
            None
        };
        if let Some(detail) = problem {
            return Err(Error::InvalidArgument {
                op: "blocks",
                detail,
            });
        }
        let mut view = self.view(gpu, 0, shape)?;
        view.block_stride = Some(stride as u32 * 4);
        Ok(view)
    }

    /// The bytes between blocks, for a view made by [`Tensor::blocks`].
    pub fn block_stride_bytes(&self) -> Option<u32> {
        self.block_stride
    }

    /// The same buffer seen with another shape of the same number of elements.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] when the element counts differ.
    pub fn reshape(self, shape: &[usize]) -> Result<Self> {
        if checked_len("reshape", shape)? != self.len() {
            return Err(Error::ShapeMismatch {
                op: "reshape",
                detail: "the element count must not change".into(),
                lhs: self.shape,
                rhs: shape.to_vec(),
            });
        }
        Ok(Self {
            shape: shape.to_vec(),
            ..self
        })
    }

    /// The shape, outermost dimension first.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Always false: empty tensors are refused at creation.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The underlying buffer, which a view shares with the tensor it was made from.
    pub fn buffer(&self) -> &wgpu::Buffer {
        &self.buffer
    }

    /// Where this tensor's data starts in [`Tensor::buffer`], in bytes.
    pub fn offset_bytes(&self) -> u64 {
        self.offset
    }

    /// The size of the data in bytes: 4 an element.
    pub fn size_bytes(&self) -> u64 {
        self.len() as u64 * 4
    }

    /// The buffer range of this tensor, for a bind group.
    pub fn binding(&self) -> wgpu::BindingResource<'_> {
        wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer: &self.buffer,
            offset: self.offset,
            size: wgpu::BufferSize::new(self.size_bytes()),
        })
    }

    /// [`Error::DType`] unless the tensor holds `expected`.
    pub(crate) fn expect_dtype(
        &self,
        op: &'static str,
        what: &'static str,
        expected: DType,
    ) -> Result<()> {
        if self.dtype == expected {
            Ok(())
        } else {
            Err(Error::DType {
                op,
                what,
                expected,
                got: self.dtype,
            })
        }
    }
}

fn usage() -> wgpu::BufferUsages {
    wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST
}

fn checked_len(op: &'static str, shape: &[usize]) -> Result<usize> {
    let len = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| Error::InvalidArgument {
            op,
            detail: format!("shape {shape:?} has more elements than fit in memory"),
        })?;
    if len == 0 {
        return Err(Error::InvalidArgument {
            op,
            detail: format!("shape {shape:?} is empty; tensors need at least one element"),
        });
    }
    Ok(len)
}

/// The buffer size for `shape`: 4 bytes an element, checked against the device's limit.
fn byte_size(gpu: &Gpu, op: &'static str, shape: &[usize]) -> Result<u64> {
    let size = (checked_len(op, shape)? as u64).saturating_mul(4);
    let limit = gpu.limits().max_buffer_size;
    if size > limit {
        return Err(Error::TooLarge {
            what: format!("a tensor of shape {shape:?}"),
            size,
            limit,
            limit_name: "max_buffer_size",
        });
    }
    Ok(size)
}
