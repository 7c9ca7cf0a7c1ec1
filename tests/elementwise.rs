//! The benches' element-wise kernels (the unfused baseline of `benches/optim.rs`, bound as a
//! user kernel) against their reference at awkward sizes.

mod common;
#[path = "../benches/support/elementwise.rs"]
mod elementwise;

use common::{assert_close, gpu, rel_tol, rng, uniform};
use elementwise::{elementwise_launch, ElementwiseOp};
use wgsl_train::{DType, Error, Tensor};

#[test]
fn elementwise_ops_match_reference() {
    let (mut rng, seed) = rng("elementwise_ops_match_reference");
    let gpu = gpu();
    let ops = [
        ElementwiseOp::Axpby { a: 0.3, b: -1.7 },
        ElementwiseOp::AxpbySquare { a: 0.001, b: 0.999 },
        ElementwiseOp::SqrtAffine { a: 1.3, b: 1e-8 },
        ElementwiseOp::Addcdiv { a: -0.01 },
    ];
    for n in [1, 7, 63, 65, 129, 1000, 70_001] {
        for op in ops {
            let x = uniform(&mut rng, n, 0.0, 2.0); // ≥ 0 for the square root
            let z = uniform(&mut rng, n, 0.5, 2.0); // away from 0 for the division
            let y0 = uniform(&mut rng, n, -1.0, 1.0);
            let (gx, gz, gy) = (
                Tensor::from_slice(gpu, &[n], &x).unwrap(),
                Tensor::from_slice(gpu, &[n], &z).unwrap(),
                Tensor::from_slice(gpu, &[n], &y0).unwrap(),
            );
            let z_arg = matches!(op, ElementwiseOp::Addcdiv { .. }).then_some(&gz);
            gpu.run(&elementwise_launch(gpu, op, &gx, z_arg, &gy).unwrap())
                .unwrap();
            let mut want = y0.clone();
            elementwise::reference(op, &x, &z, &mut want);
            let got = gy.to_vec::<f32>(gpu).unwrap();
            // Two or three roundings of O(1) values.
            assert_close(
                &format!("{op:?} n={n}"),
                seed,
                &got,
                &want,
                rel_tol(&want, 4e-7, 4e-7),
            );
        }
    }
}

#[test]
fn elementwise_rejects_bad_operands() {
    let gpu = gpu();
    let x = Tensor::zeros(gpu, &[4], DType::F32).unwrap();
    let y = Tensor::zeros(gpu, &[5], DType::F32).unwrap();
    let op = ElementwiseOp::Axpby { a: 1.0, b: 1.0 };
    assert!(matches!(
        elementwise_launch(gpu, op, &x, None, &y),
        Err(Error::ShapeMismatch { .. })
    ));
    let y = Tensor::zeros(gpu, &[4], DType::F32).unwrap();
    assert!(matches!(
        elementwise_launch(gpu, op, &x, Some(&x), &y),
        Err(Error::InvalidArgument { .. })
    ));
    let div = ElementwiseOp::Addcdiv { a: 1.0 };
    assert!(matches!(
        elementwise_launch(gpu, div, &x, None, &y),
        Err(Error::InvalidArgument { .. })
    ));
}
