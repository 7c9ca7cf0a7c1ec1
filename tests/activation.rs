//! ReLU forward and backward against the reference, including exact zeros.

mod common;

use common::{assert_close, gpu, rng, uniform};
use wgsl_train::kernels::activation::{relu, relu_backward};
use wgsl_train::{reference, DType, Error, Tensor};

const SIZES: [usize; 9] = [1, 7, 63, 65, 129, 1000, 1031, 4096, 70_001];

#[test]
fn relu_matches_reference() {
    let (mut rng, seed) = rng("relu_matches_reference");
    let gpu = gpu();
    for n in SIZES {
        let mut x = uniform(&mut rng, n, -1.0, 1.0);
        x[0] = 0.0;
        x[n / 2] = -0.0;
        let got = relu(gpu, &Tensor::from_slice(gpu, &[n], &x).unwrap())
            .unwrap()
            .to_vec::<f32>(gpu)
            .unwrap();
        // Exact: the kernel only selects values.
        assert_close(
            &format!("relu n={n}"),
            seed,
            &got,
            &reference::activation::relu(&x),
            |_| 0.0,
        );
    }
}

#[test]
fn relu_backward_matches_reference_and_is_zero_at_zero() {
    let (mut rng, seed) = rng("relu_backward_matches_reference_and_is_zero_at_zero");
    let gpu = gpu();
    for n in SIZES {
        let mut pre = uniform(&mut rng, n, -1.0, 1.0);
        let grad_out = uniform(&mut rng, n, -1.0, 1.0);
        pre[n - 1] = 0.0; // the gradient at exactly 0 is 0
        let got = relu_backward(
            gpu,
            &Tensor::from_slice(gpu, &[n], &grad_out).unwrap(),
            &Tensor::from_slice(gpu, &[n], &pre).unwrap(),
        )
        .unwrap()
        .to_vec::<f32>(gpu)
        .unwrap();
        assert_eq!(got[n - 1], 0.0, "relu'(0) must be 0");
        let want = reference::activation::relu_backward(&grad_out, &pre);
        assert_close(&format!("relu_backward n={n}"), seed, &got, &want, |_| 0.0);
    }
}

#[test]
fn relu_rejects_mismatched_shapes() {
    let gpu = gpu();
    let g = Tensor::zeros(gpu, &[4, 3], DType::F32).unwrap();
    let pre = Tensor::zeros(gpu, &[3, 4], DType::F32).unwrap();
    let err = relu_backward(gpu, &g, &pre).unwrap_err();
    assert!(
        matches!(
            err,
            Error::ShapeMismatch {
                op: "relu_backward",
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("[4, 3]") && err.to_string().contains("[3, 4]"),
        "{err}"
    );
    let ints = Tensor::zeros(gpu, &[4], DType::U32).unwrap();
    assert!(matches!(relu(gpu, &ints), Err(Error::DType { .. })));
}
