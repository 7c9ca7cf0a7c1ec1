//! The same inputs give bitwise-identical outputs from run to run: reductions have a fixed
//! order and no float atomics.

mod common;

use common::{bits, gpu, rng, uniform};
use rand::Rng;
use wgsl_train::kernels::loss::{loss, LossKind};
use wgsl_train::kernels::matmul::{matmul, MatmulLayout, MatmulOptions, MatmulVariant};
use wgsl_train::kernels::reduce::{column_sums, sum};
use wgsl_train::Tensor;

#[test]
fn same_inputs_give_bitwise_identical_outputs() {
    let (mut rng, _) = rng("same_inputs_give_bitwise_identical_outputs");
    let gpu = gpu();
    let (m, n, k) = (129, 65, 300);
    let a = Tensor::from_slice(gpu, &[k, m], &uniform(&mut rng, k * m, -1.0, 1.0)).unwrap();
    let b = Tensor::from_slice(gpu, &[k, n], &uniform(&mut rng, k * n, -1.0, 1.0)).unwrap();
    let big = Tensor::from_slice(gpu, &[300_007], &uniform(&mut rng, 300_007, -1.0, 1.0)).unwrap();
    let logits =
        Tensor::from_slice(gpu, &[1000, 10], &uniform(&mut rng, 10_000, -4.0, 4.0)).unwrap();
    let classes: Vec<u32> = (0..1000).map(|_| rng.random_range(0..10)).collect();
    let classes = Tensor::from_slice(gpu, &[1000], &classes).unwrap();
    let targets =
        Tensor::from_slice(gpu, &[300_007], &uniform(&mut rng, 300_007, 0.0, 1.0)).unwrap();

    let run = || {
        let mut out = Vec::new();
        for variant in MatmulVariant::ALL {
            let options = MatmulOptions {
                layout: MatmulLayout::AtB,
                variant,
                ..Default::default()
            };
            out.push(bits(
                &matmul(gpu, &a, &b, &options)
                    .unwrap()
                    .to_vec::<f32>(gpu)
                    .unwrap(),
            ));
        }
        out.push(bits(&sum(gpu, &big).unwrap().to_vec::<f32>(gpu).unwrap()));
        out.push(bits(
            &column_sums(gpu, &a).unwrap().to_vec::<f32>(gpu).unwrap(),
        ));
        let ce = loss(gpu, LossKind::SoftmaxCrossEntropy, &logits, &classes).unwrap();
        out.push(bits(&ce.loss.to_vec::<f32>(gpu).unwrap()));
        out.push(bits(&ce.grad.to_vec::<f32>(gpu).unwrap()));
        let bce = loss(gpu, LossKind::BceWithLogits, &big, &targets).unwrap();
        out.push(bits(&bce.loss.to_vec::<f32>(gpu).unwrap()));
        out
    };
    let first = run();
    for _ in 0..2 {
        assert!(first == run(), "a second run differed from the first");
    }
}
