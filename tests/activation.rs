//! Every activation's forward and backward kernel against the f64 reference, including exact
//! zeros and the tails where the formulas overflow or cancel.

mod common;

use common::{assert_close, gpu, rng, uniform};
use wgsl_train::kernels::activation::{activate, activate_backward, relu, relu_backward};
use wgsl_train::nn::Activation;
use wgsl_train::reference::activation::{derivative, error_bound};
use wgsl_train::{reference, DType, Error, Tensor};

const SIZES: [usize; 9] = [1, 7, 63, 65, 129, 1000, 1031, 4096, 70_001];

/// Every kind, and LeakyReLU with a negative slope too.
fn activations() -> Vec<Activation> {
    let mut all = Activation::ALL.to_vec();
    all.push(Activation::LeakyRelu {
        negative_slope: -0.25,
    });
    all
}

/// Inputs over the range where each formula changes branch (tanh's at 0.4, erfc's tail, the
/// overflow of e^{−z}), with exact zeros and a few extremes.
fn inputs(rng: &mut rand::rngs::StdRng, n: usize) -> Vec<f32> {
    let mut z = uniform(rng, n, -12.0, 12.0);
    for (i, v) in z.iter_mut().enumerate().take(n.min(64)) {
        *v = [
            0.0, -0.0, 0.39, 0.41, -0.4, 1e-30, -1e-6, 95.0, -95.0, 3e38, -3e38,
        ][i % 11];
    }
    z
}

#[test]
fn every_activation_matches_the_reference() {
    let (mut rng, seed) = rng("every_activation_matches_the_reference");
    let gpu = gpu();
    for f in activations() {
        for n in SIZES {
            let z = inputs(&mut rng, n);
            let got = activate(gpu, f, &Tensor::from_slice(gpu, &[n], &z).unwrap())
                .unwrap()
                .to_vec::<f32>(gpu)
                .unwrap();
            let want = reference::activation::activate(f, &z);
            assert_close(&format!("{f} n={n}"), seed, &got, &want, |i| {
                error_bound(f64::from(z[i]), f64::from(want[i]))
            });
        }
    }
}

#[test]
fn every_activation_backward_matches_the_reference() {
    let (mut rng, seed) = rng("every_activation_backward_matches_the_reference");
    let gpu = gpu();
    for f in activations() {
        for n in SIZES {
            let z = inputs(&mut rng, n);
            let upstream = uniform(&mut rng, n, -1.0, 1.0);
            let got = activate_backward(
                gpu,
                f,
                &Tensor::from_slice(gpu, &[n], &upstream).unwrap(),
                &Tensor::from_slice(gpu, &[n], &z).unwrap(),
            )
            .unwrap()
            .to_vec::<f32>(gpu)
            .unwrap();
            let want = reference::activation::activate_backward(f, &upstream, &z);
            assert_close(&format!("{f}' n={n}"), seed, &got, &want, |i| {
                let zi = f64::from(z[i]);
                f64::from(upstream[i]).abs() * error_bound(zi, derivative(f, zi))
            });
        }
    }
}

#[test]
fn relu_and_leaky_relu_take_the_negative_sides_gradient_at_zero() {
    let gpu = gpu();
    let z = Tensor::from_slice(gpu, &[2], &[0.0f32, -0.0]).unwrap();
    let up = Tensor::from_slice(gpu, &[2], &[3.0f32, 3.0]).unwrap();
    let relu_grad = relu_backward(gpu, &up, &z)
        .unwrap()
        .to_vec::<f32>(gpu)
        .unwrap();
    assert_eq!(relu_grad, [0.0, 0.0]);
    let leaky = Activation::LeakyRelu {
        negative_slope: 0.5,
    };
    let leaky_grad = activate_backward(gpu, leaky, &up, &z)
        .unwrap()
        .to_vec::<f32>(gpu)
        .unwrap();
    assert_eq!(leaky_grad, [1.5, 1.5]);
    let y = relu(gpu, &z).unwrap().to_vec::<f32>(gpu).unwrap();
    assert_eq!(y, [0.0, 0.0]);
}

#[test]
fn activations_reject_mismatched_shapes() {
    let gpu = gpu();
    let g = Tensor::zeros(gpu, &[4, 3], DType::F32).unwrap();
    let pre = Tensor::zeros(gpu, &[3, 4], DType::F32).unwrap();
    let err = activate_backward(gpu, Activation::Tanh, &g, &pre).unwrap_err();
    assert!(
        matches!(
            err,
            Error::ShapeMismatch {
                op: "activation_backward",
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
