//! The initialisations against PyTorch's own numbers (`tests/golden/init.json`, written by
//! `scripts/golden/generate.py`): `calculate_gain` exactly, and each `torch.nn.init` draw's
//! spread and range. Our generator is not torch's, so the draws are compared as samples of
//! the same distribution, with bounds derived from their sampling error.

mod common;

use common::{fixture, rng, F32_U};
use serde::Deserialize;
use wgsl_train::nn::{initial_values, FanMode, Init, Kaiming, Nonlinearity};

#[derive(Deserialize)]
struct Inits {
    gains: Vec<Gain>,
    draws: Vec<Draw>,
}

#[derive(Deserialize)]
struct Gain {
    nonlinearity: String,
    param: Option<f64>,
    gain: f64,
}

#[derive(Deserialize)]
struct Draw {
    /// As `--init` writes it.
    init: String,
    /// `[out, in]`.
    shape: [usize; 2],
    /// torch's sample standard deviation (n − 1 in the denominator) and largest magnitude.
    std: f64,
    max_abs: f64,
}

/// `calculate_gain(nonlinearity, param)` to the last bit or one (`**` against `*`).
#[test]
fn gains_are_pytorchs() {
    let torch: Inits = fixture("init.json");
    for g in &torch.gains {
        let nonlinearity = match g.nonlinearity.as_str() {
            "linear" => Nonlinearity::Linear,
            "sigmoid" => Nonlinearity::Sigmoid,
            "tanh" => Nonlinearity::Tanh,
            "relu" => Nonlinearity::Relu,
            "leaky_relu" => Nonlinearity::LeakyRelu,
            "selu" => Nonlinearity::Selu,
            other => panic!("the fixture names {other:?}"),
        };
        let ours = nonlinearity.gain(g.param);
        assert!(
            (ours - g.gain).abs() <= 2.0 * f64::EPSILON * g.gain,
            "{} {:?}: ours {ours}, torch's {}",
            g.nonlinearity,
            g.param,
            g.gain
        );
    }
}

/// Each initialisation draws as torch's does, over the same 300×500 weight (n = 150,000):
/// - the sample standard deviations differ by at most 6 standard errors of the difference of
///   two independent ones, σ/√n for normal draws (each has variance σ²/2n) and less for
///   uniform ones (0.2·σ²/n each): a gain, fan or √3 wrong by 2% fails;
/// - a uniform draw's largest magnitude is within 1e-4 of torch's (each falls short of the
///   bound by more than 1e-4 of it with probability (1 − 1e-4)ⁿ ≈ 3e-7), within the bound;
/// - a normal draw's largest magnitude passes 3σ, which a uniform one never does (√3σ);
/// - biases are `nn.Linear`'s, uniform within ±1/√fan_in, the largest of 300 above 0.95 of
///   it (missed with probability 0.95³⁰⁰ ≈ 2e-7).
#[test]
fn draws_spread_as_pytorchs() {
    let torch: Inits = fixture("init.json");
    let (_, seed) = rng("draws_spread_as_pytorchs");
    for d in &torch.draws {
        let init: Init = d.init.parse().unwrap();
        let [fan_out, fan_in] = d.shape;
        let layers = initial_values(&[fan_in, fan_out], init, seed);
        let [weight, bias] = &layers[0];
        let n = weight.len() as f64;
        let mean = weight.iter().map(|&w| f64::from(w)).sum::<f64>() / n;
        let var = weight
            .iter()
            .map(|&w| (f64::from(w) - mean).powi(2))
            .sum::<f64>()
            / (n - 1.0);
        let std = var.sqrt();
        let max = weight
            .iter()
            .fold(0.0f64, |m, &w| m.max(f64::from(w.abs())));
        let name = &d.init;
        let tolerance = 6.0 * d.std / n.sqrt();
        assert!(
            (std - d.std).abs() <= tolerance,
            "{name}: our weights' std {std}, torch's {} (±{tolerance})",
            d.std
        );
        assert!(
            (init.weight_std(fan_in, fan_out) - d.std).abs() <= tolerance,
            "{name}: weight_std says {}, torch drew {}",
            init.weight_std(fan_in, fan_out),
            d.std
        );
        match init.weight_bound(fan_in, fan_out) {
            Some(bound) => {
                assert!(
                    (max - d.max_abs).abs() <= 1e-4 * d.max_abs && max <= bound * (1.0 + F32_U),
                    "{name}: our largest |w| {max}, torch's {}, the bound {bound}",
                    d.max_abs
                );
            }
            None => assert!(
                max > 3.0 * d.std,
                "{name}: our largest |w| {max} is not normal"
            ),
        }
        let bound = 1.0 / (fan_in as f64).sqrt();
        let bias_max = bias.iter().fold(0.0f64, |m, &b| m.max(f64::from(b.abs())));
        assert!(
            bias_max <= bound * (1.0 + F32_U) && bias_max > 0.95 * bound,
            "{name}: the largest |bias| {bias_max}, nn.Linear's bound {bound}"
        );
    }
}

/// The same seed draws the same weights; another initialisation from that seed draws others;
/// the default is `nn.Linear`'s uniform, drawn as before `Init` existed (`tests/rng.rs` pins
/// it), and PyTorch's defaults are the `Default`s.
#[test]
fn draws_are_seeded_and_defaults_are_pytorchs() {
    let sizes = [7, 13, 3];
    let normal: Init = "kaiming_normal".parse().unwrap();
    assert_eq!(
        initial_values(&sizes, normal, 5),
        initial_values(&sizes, normal, 5)
    );
    assert_ne!(
        initial_values(&sizes, normal, 5),
        initial_values(&sizes, normal, 6)
    );
    assert_ne!(
        initial_values(&sizes, normal, 5),
        initial_values(&sizes, Init::Default, 5)
    );
    assert_eq!(Init::default(), Init::Default);
    assert_eq!(
        Kaiming::default(),
        Kaiming {
            a: 0.0,
            mode: FanMode::FanIn,
            nonlinearity: Nonlinearity::LeakyRelu
        }
    );
    assert_eq!(
        "xavier_normal".parse::<Init>().unwrap(),
        Init::XavierNormal { gain: 1.0 }
    );
}

/// An experiment's `init` reaches its model: the run starts from `initial_values` of its
/// sizes, initialisation and weight seed, and the model says how it was drawn.
#[test]
fn an_experiment_starts_from_its_initialisation() {
    use wgsl_train::experiment::Experiment;
    use wgsl_train::optim::AdamConfig;
    let gpu = common::gpu();
    let data = wgsl_train::data::diabetes().unwrap();
    let experiment = Experiment {
        init: "xavier_normal:gain=0.5".parse().unwrap(),
        ..Experiment::classic(AdamConfig::default().into())
    };
    let run = experiment.start(gpu, &data).unwrap();
    let model = run.trainer().model();
    assert_eq!(model.init(), experiment.init);
    let want = initial_values(
        &experiment.sizes(&data),
        experiment.init,
        experiment.model_seed,
    );
    let got = model.state_dict(gpu).unwrap();
    for (tensor, want) in got.iter().zip(want.iter().flatten()) {
        assert_eq!(&tensor.data, want, "{}", tensor.name);
    }
}
