//! The one place in the crate that maps buffers and polls the device.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

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

    /// Copies `size` bytes of `buffer` from `offset` to a mappable buffer and reads them,
    /// blocking.
    pub(crate) fn read_bytes(
        &self,
        buffer: &wgpu::Buffer,
        offset: u64,
        size: u64,
    ) -> Result<Vec<u8>> {
        let (staging, receiver) = self.start_read(buffer, offset, size)?;
        self.wait()?;
        let mapped = pollster::block_on(receiver.receive());
        self.finish_read(&staging, mapped)
    }

    /// As [`Gpu::read_bytes`], polling without blocking and yielding between polls.
    pub(crate) async fn read_bytes_async(
        &self,
        buffer: &wgpu::Buffer,
        offset: u64,
        size: u64,
    ) -> Result<Vec<u8>> {
        let (staging, receiver) = self.start_read(buffer, offset, size)?;
        let mapped = PollUntilMapped {
            gpu: self,
            receive: Box::pin(receiver.receive()),
        }
        .await?;
        self.finish_read(&staging, mapped)
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
    pub(crate) fn read<T: Element>(&self, gpu: &Gpu) -> Result<Vec<T>> {
        gpu.check_fault()?;
        let receiver = map_read(&self.buffer);
        gpu.wait()?;
        let mapped = pollster::block_on(receiver.receive());
        let bytes = gpu.finish_read(&self.buffer, mapped)?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }
}

/// Polls the device once per wake-up until the map callback has fired.
struct PollUntilMapped<'a, F> {
    gpu: &'a Gpu,
    receive: Pin<Box<F>>,
}

impl<F: Future<Output = Option<MapResult>>> Future for PollUntilMapped<'_, F> {
    type Output = Result<Option<MapResult>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Err(e) = self.gpu.device().poll(wgpu::PollType::Poll) {
            return Poll::Ready(Err(self.gpu.poll_error(e)));
        }
        match self.receive.as_mut().poll(cx) {
            Poll::Ready(mapped) => Poll::Ready(Ok(mapped)),
            Poll::Pending => {
                // Nothing else will wake us: the device must be polled again.
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
    }
}
