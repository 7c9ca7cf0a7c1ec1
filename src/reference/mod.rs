//! The kernels as obviously-correct loops on the CPU, accumulating in f64. The tests hold the
//! GPU to these; they are public so users can check their own adapters the same way.
//!
//! Matrices are row-major slices with their dimensions passed alongside.

pub mod activation;
mod compare;
pub mod loss;
pub mod matmul;
pub mod mlp;
pub mod optim;
pub mod reduce;

pub use compare::{compare, Comparison, Mismatch};
