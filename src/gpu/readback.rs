//! The one place in the crate that maps buffers and polls the device.
//!
//! Every read is async, and the blocking reads are those futures run to completion. Natively
//! wgpu runs a map callback inside `device.poll`, so a read waits for the queue there first
//! and its future is then ready at once (async callers are blocked as long as blocking ones,
//! no longer). In a browser the callback comes from the event loop, and the future yields to
//! it.

use futures_intrusive::channel::shared::{oneshot_channel, OneshotReceiver};

use super::{Batch, Element, Gpu, Tensor};
use crate::error::{Error, Result};

type MapResult = std::result::Result<(), wgpu::BufferAsyncError>;

impl Gpu {
    /// Blocks until all submitted work has finished.
    ///
    /// # Errors
    /// [`Error::DeviceLost`] or [`Error::Readback`] when the device fails, or an error that
    /// wgpu reported outside a call of ours.
    pub fn wait(&self) -> Result<()> {
        self.check_fault()?;
        self.device()
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| self.poll_error(e))?;
        self.check_fault()
    }

    /// Blocks until the submission `index` has finished (later ones may still run). In a
    /// browser, where nothing can block, it returns at once.
    ///
    /// # Errors
    /// As [`Gpu::wait`].
    pub(crate) fn wait_for(&self, index: wgpu::SubmissionIndex) -> Result<()> {
        self.check_fault()?;
        #[cfg(not(target_arch = "wasm32"))]
        self.device()
            .poll(wgpu::PollType::Wait {
                submission_index: Some(index),
                timeout: None,
            })
            .map_err(|e| self.poll_error(e))?;
        #[cfg(target_arch = "wasm32")]
        let _ = index;
        self.check_fault()
    }

    /// Copies `size` bytes of `buffer` from `offset` to a mappable buffer and reads them.
    pub(crate) async fn read_bytes_async(
        &self,
        buffer: &wgpu::Buffer,
        offset: u64,
        size: u64,
    ) -> Result<Vec<u8>> {
        let (staging, receiver) = self.start_read(buffer, offset, size)?;
        let mapped = self.mapped(receiver).await?;
        self.finish_read(&staging, mapped)
    }

    /// The outcome of a mapping asked for with [`map_read`], once the callback has run.
    async fn mapped(&self, receiver: OneshotReceiver<MapResult>) -> Result<Option<MapResult>> {
        #[cfg(not(target_arch = "wasm32"))]
        self.wait()?;
        Ok(receiver.receive().await)
    }

    fn create_staging(&self, size: u64) -> wgpu::Buffer {
        self.device().create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    fn start_read(
        &self,
        buffer: &wgpu::Buffer,
        offset: u64,
        size: u64,
    ) -> Result<(wgpu::Buffer, OneshotReceiver<MapResult>)> {
        self.check_fault()?;
        let staging = self.scoped("download", || {
            let staging = self.create_staging(size);
            let mut encoder =
                self.device()
                    .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                        label: Some("readback"),
                    });
            encoder.copy_buffer_to_buffer(buffer, offset, &staging, 0, size);
            self.queue().submit([encoder.finish()]);
            staging
        })?;
        let receiver = map_read(&staging);
        Ok((staging, receiver))
    }

    fn finish_read(&self, staging: &wgpu::Buffer, mapped: Option<MapResult>) -> Result<Vec<u8>> {
        match mapped {
            Some(Ok(())) => {}
            Some(Err(e)) => {
                self.check_fault()?;
                return Err(Error::Readback(e.to_string()));
            }
            None => return Err(Error::Readback("the mapping callback was dropped".into())),
        }
        let bytes = staging
            .get_mapped_range(..)
            .map_err(|e| Error::Readback(e.to_string()))?
            .to_vec();
        staging.unmap();
        Ok(bytes)
    }

    fn poll_error(&self, error: wgpu::PollError) -> Error {
        match self.check_fault() {
            Err(fault) => fault,
            Ok(()) => Error::Readback(error.to_string()),
        }
    }
}

/// Asks for `staging` to be mapped for reading; the receiver gets the outcome.
fn map_read(staging: &wgpu::Buffer) -> OneshotReceiver<MapResult> {
    let (sender, receiver) = oneshot_channel();
    staging.map_async(wgpu::MapMode::Read, .., move |result| {
        // The receiver is only gone if the caller gave up waiting; nothing to do then.
        let _ = sender.send(result);
    });
    receiver
}

/// A mappable copy of one tensor, kept to read it back again and again (a trainer's results,
/// every epoch): the copy is recorded into the caller's batch, so a read needs no submission
/// and no buffer of its own.
pub(crate) struct Staging {
    buffer: wgpu::Buffer,
    size: u64,
}

impl Staging {
    /// A staging buffer the size of `tensor`.
    pub(crate) fn new(gpu: &Gpu, tensor: &Tensor) -> Result<Self> {
        let size = tensor.size_bytes();
        let buffer = gpu.scoped("download", || gpu.create_staging(size))?;
        Ok(Self { buffer, size })
    }

    /// Records the copy of `tensor` (the size it was made for) into `batch`.
    pub(crate) fn record_copy(&self, batch: &mut Batch, tensor: &Tensor) {
        batch.copy_to_buffer(tensor, &self.buffer, self.size);
    }

    /// Waits for the work submitted so far and reads what the last recorded copy wrote.
    pub(crate) async fn read_async<T: Element>(&self, gpu: &Gpu) -> Result<Vec<T>> {
        gpu.check_fault()?;
        let receiver = map_read(&self.buffer);
        let mapped = gpu.mapped(receiver).await?;
        let bytes = gpu.finish_read(&self.buffer, mapped)?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }
}
