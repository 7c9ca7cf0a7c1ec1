//! The blocking API is the async API run to completion, here.

use std::future::Future;

use crate::error::Result;

/// Runs `future` to completion. Natively the crate's futures finish once the driver's wait
/// returns, so this blocks no longer than a blocking call would.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn block_on<T>(_op: &'static str, future: impl Future<Output = Result<T>>) -> Result<T> {
    pollster::block_on(future)
}

/// In a browser nothing may block: a future that is not ready at once (any that waits for
/// the GPU) is [`crate::Error::WouldBlock`], naming `op`, whose async variant is the one to call.
#[cfg(target_arch = "wasm32")]
pub(crate) fn block_on<T>(op: &'static str, future: impl Future<Output = Result<T>>) -> Result<T> {
    let mut future = std::pin::pin!(future);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut context) {
        std::task::Poll::Ready(result) => result,
        std::task::Poll::Pending => Err(crate::error::Error::WouldBlock { op }),
    }
}
