//! Burn's Adam step (weight decay 0.01) on the default wgpu adapter (lavapipe here), timed like
//! wgsl-train's criterion bench: each iteration records the step, submits it and waits.
use burn::module::Param;
use burn::optim::{decay::WeightDecayConfig, AdamConfig, GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::Distribution;
use std::time::Instant;

#[derive(Module, Debug)]
struct Weights {
    weight: Param<Tensor<1>>,
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().unwrap())
        .unwrap_or(1 << 24);
    let steps: usize = std::env::args()
        .nth(2)
        .map(|s| s.parse().unwrap())
        .unwrap_or(15);
    let device = Device::wgpu(Default::default()).autodiff();
    let mut model = Weights {
        weight: Param::from_tensor(Tensor::random([n], Distribution::Normal(0.0, 1.0), &device)),
    };
    let grad = Tensor::<1>::random([n], Distribution::Normal(0.0, 1.0), &device).inner();
    let mut optim = AdamConfig::new()
        .with_weight_decay(Some(WeightDecayConfig::new(0.01)))
        .init();
    let mut times = Vec::new();
    for i in 0..steps + 3 {
        let mut grads = GradientsParams::new();
        grads.register(model.weight.id, grad.clone());
        let t = Instant::now();
        model = optim.step(1e-3, model, grads);
        let _ = model.weight.val().inner();
        device.sync().unwrap();
        if i >= 3 {
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "burn adam n={n} median {:.2} ms (min {:.2}, max {:.2}) over {steps} steps",
        times[steps / 2],
        times[0],
        times[steps - 1]
    );
}
