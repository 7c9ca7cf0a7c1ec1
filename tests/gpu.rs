//! The host layer: tensors, batches, downloads, and the errors a caller can provoke.

mod common;

use common::gpu;
use wgsl_train::kernels::activation::activation_launch;
use wgsl_train::kernels::matmul::{matmul, MatmulOptions};
use wgsl_train::nn::Activation;
use wgsl_train::{DType, Error, Gpu, GpuOptions, Tensor};

#[test]
fn tensors_round_trip_both_element_types() {
    let gpu = gpu();
    let f = Tensor::from_slice(gpu, &[2, 3], &[1.5f32, -2.0, 0.0, 4.0, 5.0, f32::MAX]).unwrap();
    assert_eq!(f.shape(), &[2, 3]);
    assert_eq!(f.dtype(), DType::F32);
    assert_eq!(
        f.to_vec::<f32>(gpu).unwrap(),
        vec![1.5, -2.0, 0.0, 4.0, 5.0, f32::MAX]
    );
    let u = Tensor::from_slice(gpu, &[3], &[0u32, 7, u32::MAX]).unwrap();
    assert_eq!(u.to_vec::<u32>(gpu).unwrap(), vec![0, 7, u32::MAX]);
    let z = Tensor::zeros(gpu, &[5], DType::F32).unwrap();
    assert_eq!(z.to_vec::<f32>(gpu).unwrap(), vec![0.0; 5]);
    z.write(gpu, &[1.0f32, 2.0, 3.0, 4.0, 5.0]).unwrap();
    assert_eq!(z.to_vec::<f32>(gpu).unwrap(), vec![1.0, 2.0, 3.0, 4.0, 5.0]);
    let r = f.reshape(&[3, 2]).unwrap();
    assert_eq!(r.shape(), &[3, 2]);
}

#[test]
fn async_download_matches_blocking_download() {
    let gpu = gpu();
    let data: Vec<f32> = (0..10_000).map(|i| i as f32 * 0.5).collect();
    let t = Tensor::from_slice(gpu, &[100, 100], &data).unwrap();
    let got = pollster::block_on(t.to_vec_async::<f32>(gpu)).unwrap();
    assert_eq!(got, data);
}

#[test]
fn a_batch_records_many_launches_into_one_submission() {
    let gpu = gpu();
    let x = Tensor::from_slice(gpu, &[4], &[-1.0f32, 2.0, -3.0, 4.0]).unwrap();
    let y = Tensor::zeros(gpu, &[4], DType::F32).unwrap();
    let z = Tensor::zeros(gpu, &[4], DType::F32).unwrap();
    let first = activation_launch(gpu, Activation::Relu, &x, &y).unwrap();
    let mut batch = gpu.batch();
    batch.record(&first);
    batch.copy(&y, &z).unwrap();
    batch.record(&first);
    assert_eq!(batch.dispatch_count(), 2);
    gpu.submit(batch).unwrap();
    assert_eq!(z.to_vec::<f32>(gpu).unwrap(), vec![0.0, 2.0, 0.0, 4.0]);
}

#[test]
fn bad_tensor_arguments_are_typed_errors() {
    let gpu = gpu();
    let err = Tensor::from_slice(gpu, &[2, 3], &[1.0f32; 5]).unwrap_err();
    assert!(
        matches!(err, Error::ShapeMismatch { op: "upload", .. }),
        "{err}"
    );
    assert!(matches!(
        Tensor::zeros(gpu, &[3, 0], DType::F32),
        Err(Error::InvalidArgument { .. })
    ));
    assert!(matches!(
        Tensor::zeros(gpu, &[usize::MAX, 4], DType::F32),
        Err(Error::InvalidArgument { .. })
    ));
    let t = Tensor::zeros(gpu, &[4], DType::F32).unwrap();
    assert!(matches!(t.to_vec::<u32>(gpu), Err(Error::DType { .. })));
    assert!(matches!(t.write(gpu, &[1u32; 4]), Err(Error::DType { .. })));
    assert!(matches!(
        t.write(gpu, &[1f32; 3]),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        t.reshape(&[3]),
        Err(Error::ShapeMismatch { op: "reshape", .. })
    ));
    let small = Tensor::zeros(gpu, &[2], DType::F32).unwrap();
    let big = Tensor::zeros(gpu, &[3], DType::F32).unwrap();
    assert!(matches!(
        gpu.batch().copy(&big, &small),
        Err(Error::ShapeMismatch { op: "copy", .. })
    ));
}

#[test]
fn binding_past_the_storage_limit_is_a_typed_error() {
    // A device whose largest storage binding is capped at 1 KiB.
    let gpu = Gpu::with_options(GpuOptions {
        max_storage_buffer_binding_size: Some(1024),
        ..GpuOptions::default()
    })
    .unwrap();
    let a = Tensor::zeros(&gpu, &[16, 32], DType::F32).unwrap(); // 2 KiB
    let b = Tensor::zeros(&gpu, &[32, 2], DType::F32).unwrap();
    let err = matmul(&gpu, &a, &b, &MatmulOptions::default()).unwrap_err();
    match &err {
        Error::TooLarge { size, limit, .. } => assert_eq!((*size, *limit), (2048, 1024)),
        other => panic!("expected TooLarge, got {other}"),
    }
    assert!(
        err.to_string().contains("max_storage_buffer_binding_size"),
        "{err}"
    );
}

#[test]
fn gpu_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Gpu>();
    assert_send_sync::<Tensor>();
}

/// A user's own kernel through the re-exported wgpu, on the crate's device and queue: the
/// types `Gpu::device` returns are `wgsl_train::wgpu`'s, whatever wgpu the user depends on.
#[test]
fn the_reexported_wgpu_drives_the_crates_device() {
    use wgsl_train::wgpu;
    let gpu = gpu();
    let device: &wgpu::Device = gpu.device();
    let buffer = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("user buffer"),
        size: 16,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    gpu.queue()
        .write_buffer(&buffer, 0, bytemuck::cast_slice(&[1.0f32, 2.0, 3.0, 4.0]));
    gpu.queue().submit([]);
    assert_eq!(buffer.size(), 16);
}
