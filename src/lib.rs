//! # wgsl-train
//!
//! Train neural networks on any GPU that [wgpu] reaches — Vulkan, Metal, DX12, and software
//! Vulkan such as Mesa's lavapipe. WGSL compute shaders do the work; a plain-Rust CPU
//! reference of every kernel ([`reference`](mod@reference)) holds them to account in the tests.
//!
//! - [`train`] trains an [`nn::Mlp`] many epochs per GPU submission ([`train::Trainer`]),
//!   with validation, early stopping and learning-rate schedules decided on the GPU; each epoch
//!   one dispatch where the network is small enough, a dispatch per kernel and step elsewhere
//!   (the trainer chooses: [`train::SingleDispatch`]);
//! - [`experiment`] runs a whole experiment — split, standardise, train, score every split
//!   beside a baseline, diagnose ([`experiment::Experiment`]) — as the command line does;
//! - [`data`] loads datasets (slices, CSV, built-in) and splits them; [`metrics`] scores
//!   predictions; [`checkpoint`] saves and loads PyTorch-compatible safetensors;
//! - [`selftest`] checks every kernel against the reference on the current adapter;
//! - [`Gpu`] owns the device, the queue and the pipeline cache (their types are those of the
//!   re-exported [`wgpu`], for kernels of your own);
//! - [`Tensor`] is an f32 (or u32) GPU buffer with a shape;
//! - [`kernels`] has matmul in the three layouts training needs with a fused epilogue (bias,
//!   ReLU, the ReLU backward's mask, row sums for bias gradients), ReLU forward and backward, column sums (bias gradients), fixed-order sums and
//!   means, and the losses (MSE, BCE with logits, BCE, softmax cross-entropy), each with its
//!   gradient in one pass;
//! - [`optim`] has the fused optimizers (SGD, Adam, AdamW with L1 and L2) over flat parameter
//!   storage ([`optim::ParamStore`]), one dispatch per step for a whole model; the optimizer
//!   owns the learning rate, its schedule ([`optim::LrSchedule`]) and the step count;
//! - a [`Batch`] records many kernels into one queue submission.
//!
//! Numerics follow PyTorch: see the formulas in `shaders/formulas.wgsl` (the losses and
//! optimizer updates, written once for every kernel; each shader family has one entry point,
//! the loss or algorithm an override constant) and in [`reference`](mod@reference). Reductions use a fixed
//! order, so the same inputs give bitwise-identical results from run to run on the same adapter.
//!
//! ## Features
//!
//! `cli`, `datasets`, `plots` and `progress` are on by default. With
//! `default-features = false` the library builds only its core (wgpu, bytemuck, pollster,
//! futures-intrusive, rand, thiserror, csv, safetensors, serde): kernels, optimizers, the MLP,
//! the trainer, checkpoints and experiments, without the built-in datasets, SVG charts, the
//! progress bar or the command line. `diabetes` is that dataset alone; `webgpu` builds for
//! browsers (`wasm32-unknown-unknown`), where the `*_async` calls are the ones to use: a
//! browser cannot block, and a blocking call there returns [`Error::WouldBlock`].
//!
//! ## Example
//!
//! Training from Rust is shown in the README (`experiment::Experiment`); here, one forward step of a linear layer with its activation, and an MSE loss with its gradient:
//!
//! ```no_run
//! use wgsl_train::kernels::{loss::{loss, LossKind}, matmul::{matmul, MatmulLayout, MatmulOptions}};
//! use wgsl_train::{nn::Activation, Gpu, Tensor};
//!
//! # fn main() -> wgsl_train::Result<()> {
//! let gpu = Gpu::new()?; // fails with a clear message if there is no adapter
//! let x = Tensor::from_slice(&gpu, &[2, 3], &[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0])?;
//! let w = Tensor::from_slice(&gpu, &[1, 3], &[0.5f32, -0.25, 0.1])?; // [out, in]
//! let b = Tensor::from_slice(&gpu, &[1], &[0.2f32])?;
//! // y = relu(x·wᵀ + b)
//! let relu = Some(Activation::Relu);
//! let options = MatmulOptions { layout: MatmulLayout::ABt, bias: Some(&b), activation: relu, ..Default::default() };
//! let y = matmul(&gpu, &x, &w, &options)?;
//! let target = Tensor::from_slice(&gpu, &[2, 1], &[0.5f32, 1.0])?;
//! let out = loss(&gpu, LossKind::Mse, &y, &target)?;
//! println!("loss {:?}, dL/dy {:?}", out.loss.to_vec::<f32>(&gpu)?, out.grad.to_vec::<f32>(&gpu)?);
//! # Ok(()) }
//! ```
//!
//! [wgpu]: https://wgpu.rs

#![deny(missing_docs)]

pub mod checkpoint;
pub mod data;
mod dtype;
mod error;
pub mod experiment;
pub mod fs;
pub mod gpu;
pub mod kernels;
pub mod metrics;
pub mod nn;
pub mod optim;
pub mod reference;
mod rng;
pub mod selftest;
pub mod train;

pub use error::{Error, Result};
pub use gpu::{Batch, DType, Dispatch, Element, Gpu, GpuOptions, Launch, Tensor};
/// The wgpu the crate is built with (pinned to one version): the types that
/// [`Gpu::device`] and [`Gpu::queue`] return, for adding kernels of your own.
pub use wgpu;

/// The README's Rust examples, compiled as doc tests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
