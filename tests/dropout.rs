//! Dropout: the generator against its published vectors, the GPU's masks against the host's
//! bit for bit, training with Dropout replayed on the f64 reference on every path, and the
//! identity it is outside training. PyTorch's own runs, given the same masks, are in golden.rs
//! (`dropout_training_follows_pytorch`).

mod common;

use common::{gpu, rng, uniform};
use wgsl_train::data::{diabetes, Prepared, SplitConfig, Task};
use wgsl_train::kernels::dropout::{dropout, philox4x32_10, DropoutKey};
use wgsl_train::nn::{Activation, Mlp};
use wgsl_train::optim::{AdamConfig, OptimizerConfig};
use wgsl_train::train::{SingleDispatch, TrainConfig, Trainer};
use wgsl_train::Tensor;

/// Random123's known-answer vectors for Philox4x32-10 (its `kat_vectors`; the same three are
/// in TensorFlow's and many others' tests): zeros, all ones, and the digits of π.
#[test]
fn philox_gives_random123s_known_answers() {
    let cases = [
        (
            [0; 4],
            [0; 2],
            [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8],
        ),
        (
            [u32::MAX; 4],
            [u32::MAX; 2],
            [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd],
        ),
        (
            [0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344],
            [0xa409_3822, 0x299f_31d0],
            [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1],
        ),
    ];
    for (counter, key, want) in cases {
        assert_eq!(philox4x32_10(counter, key), want, "{counter:x?} {key:x?}");
    }
}

/// The GPU multiplies each element by the host's multiplier exactly (one rounding on each
/// side, of the same product), on awkward sizes (one element, a partial workgroup, more than
/// one row of the 2-D grid's 65 535 workgroups is not needed: 70 001 spans 274 workgroups),
/// keys with every word in use (a seed past 2³², a late step, a model, a layer), and at
/// ordinary and extreme rates.
#[test]
fn the_gpu_draws_the_hosts_masks() {
    let (mut rng, seed) = rng("the_gpu_draws_the_hosts_masks");
    let gpu = gpu();
    let keys = [
        DropoutKey {
            seed: 0,
            model: 0,
            step: 0,
            layer: 0,
        },
        DropoutKey {
            seed: 0x0123_4567_89ab_cdef,
            model: 7,
            step: 4_000_000_001,
            layer: 2,
        },
    ];
    for n in [1, 257, 70_001] {
        for key in keys {
            for p in [0.1f32, 0.5, 0.97] {
                let data = uniform(&mut rng, n, -3.0, 3.0);
                let tensor = Tensor::from_slice(gpu, &[n], &data).unwrap();
                dropout(gpu, &tensor, key, p).unwrap();
                let got = tensor.to_vec::<f32>(gpu).unwrap();
                let want: Vec<f32> = data
                    .iter()
                    .zip(key.multipliers(n, p))
                    .map(|(x, m)| x * m)
                    .collect();
                let first = got
                    .iter()
                    .zip(&want)
                    .position(|(g, w)| g.to_bits() != w.to_bits());
                assert_eq!(
                    first, None,
                    "seed {seed}, n {n}, {key:?}, p {p}: element {first:?} differs"
                );
            }
        }
    }
}

/// The kept share is 1 − p (within five standard deviations over 200 000 elements), and the
/// masks of neighbouring keys — each of the four counter words and the seed changed by one —
/// share no more than chance with each other (agreement p² + (1 − p)² for independent masks).
#[test]
fn masks_keep_one_minus_p_and_differ_from_key_to_key() {
    let n = 200_000;
    let p = 0.3f32;
    let base = DropoutKey {
        seed: 42,
        model: 1,
        step: 10,
        layer: 1,
    };
    let kept = |key: DropoutKey| (0..n as u32).filter(|&i| key.keeps(i, p)).count();
    let share = kept(base) as f64 / n as f64;
    let sd = (f64::from(p) * (1.0 - f64::from(p)) / n as f64).sqrt();
    assert!(
        (share - (1.0 - f64::from(p))).abs() < 5.0 * sd,
        "kept {share}, want {}",
        1.0 - p
    );
    let neighbours = [
        DropoutKey { seed: 43, ..base },
        DropoutKey { model: 2, ..base },
        DropoutKey { step: 11, ..base },
        DropoutKey { layer: 2, ..base },
    ];
    let chance = f64::from(p * p + (1.0 - p) * (1.0 - p));
    for other in neighbours {
        let same = (0..n as u32)
            .filter(|&i| base.keeps(i, p) == other.keeps(i, p))
            .count() as f64
            / n as f64;
        let sd = (chance * (1.0 - chance) / n as f64).sqrt();
        assert!(
            (same - chance).abs() < 5.0 * sd,
            "{other:?}: agrees with {base:?} on {same} of elements, chance is {chance}"
        );
    }
    // And neighbouring elements of one key are not alike either.
    let runs = (1..n as u32)
        .filter(|&i| base.keeps(i, p) == base.keeps(i - 1, p))
        .count() as f64
        / (n - 1) as f64;
    assert!((runs - chance).abs() < 5.0 * sd.max(0.001), "{runs}");
}

/// Mini-batches of diabetes through 10→16→8→1 with Dropout after both hidden layers (0.3 and
/// 0.1; GELU then ReLU, so that both backward forms meet a mask), replayed step by step on the
/// f64 reference drawing the same masks, on each path: the general path, the streamed split
/// and the one-dispatch path, three epochs a submission, and the general path one epoch a
/// submission. The streamed run and the one-epoch submissions match the uploaded three-epoch
/// run bit for bit: the masks follow the step, not the schedule.
#[test]
fn dropout_training_matches_the_cpu_reference() {
    let gpu = gpu();
    let data = diabetes().unwrap();
    let split = SplitConfig {
        seed: 3,
        ..SplitConfig::default()
    };
    let p = Prepared::new(&data, &split).unwrap();
    let optimizer = OptimizerConfig::Adam(AdamConfig {
        lr: 0.003,
        ..AdamConfig::default()
    });
    let sizes = [10, 16, 8, 1];
    let batch = 29;
    let mut finals = Vec::new();
    for (path, chunk_rows, submission_epochs) in [
        (SingleDispatch::Never, None, 3),
        (SingleDispatch::Never, Some(3 * batch), 3),
        (SingleDispatch::Always, None, 3),
        (SingleDispatch::Never, None, 1),
    ] {
        let model = Mlp::new(gpu, &sizes, data.task(), 5)
            .unwrap()
            .with_activations(&[Activation::Gelu, Activation::Relu])
            .unwrap()
            .with_dropout(&[0.3, 0.1])
            .unwrap();
        let initial = common::weights(gpu, &model);
        let config = TrainConfig {
            epochs: 10,
            batch_size: batch,
            seed: 0x1_0000_0011,
            chunk_rows,
            submission_epochs: Some(submission_epochs),
            single_dispatch_epochs: path,
            ..TrainConfig::default()
        };
        let mut trainer = Trainer::new(gpu, model, optimizer, &p.train, None, config).unwrap();
        assert_eq!(
            trainer.single_dispatch_epochs(),
            path == SingleDispatch::Always
        );
        let history = trainer.fit().unwrap().clone();
        let worst = common::replay_trainer(gpu, &trainer, &p.train, initial, &history);
        eprintln!(
            "{path:?}, chunks {chunk_rows:?}: the largest difference is {worst:.3} of its bound"
        );
        finals.push(common::weights(gpu, trainer.model()));
    }
    assert_eq!(
        common::bits(&finals[0].concat()),
        common::bits(&finals[1].concat()),
        "the streamed run differs from the uploaded one"
    );
    assert_eq!(
        common::bits(&finals[0].concat()),
        common::bits(&finals[3].concat()),
        "one epoch a submission differs from three"
    );
}

/// Outside training Dropout is the identity: a model with Dropout predicts exactly as the same
/// weights without it, and its validation loss is that of those weights.
#[test]
fn prediction_and_validation_ignore_dropout() {
    let gpu = gpu();
    let (mut rng, _) = rng("prediction_and_validation_ignore_dropout");
    let sizes = [6, 9, 4, 1];
    let plain = Mlp::new(gpu, &sizes, Task::Regression, 1).unwrap();
    let dropped = Mlp::new(gpu, &sizes, Task::Regression, 1)
        .unwrap()
        .with_dropout(&[0.5])
        .unwrap();
    assert_eq!(dropped.dropout(), [0.5, 0.5]);
    let rows = 37;
    let x = uniform(&mut rng, rows * 6, -2.0, 2.0);
    assert_eq!(
        common::bits(&plain.predict(gpu, &x, rows).unwrap()),
        common::bits(&dropped.predict(gpu, &x, rows).unwrap())
    );
    // Each epoch's validation loss is the MSE of the epoch's weights' predictions (f32 sums
    // of 67 rows: within 1e-5 of the f64 mean; Dropout 0.5 in it would move it by far more),
    // on both paths.
    let data = diabetes().unwrap();
    let p = Prepared::new(&data, &SplitConfig::default()).unwrap();
    for path in [SingleDispatch::Never, SingleDispatch::Always] {
        let model = Mlp::new(gpu, &[10, 8, 1], data.task(), 2)
            .unwrap()
            .with_dropout(&[0.5])
            .unwrap();
        let config = TrainConfig {
            epochs: 3,
            single_dispatch_epochs: path,
            ..TrainConfig::default()
        };
        let adam = AdamConfig::default();
        let mut trainer =
            Trainer::new(gpu, model, adam, &p.train, Some(&p.validation), config).unwrap();
        let history = trainer.fit().unwrap().clone();
        let got = history.epochs[2].validation_loss.unwrap();
        let v = &p.validation;
        let predicted = trainer.model().predict(gpu, v.features(), v.len()).unwrap();
        let want = predicted
            .iter()
            .zip(v.target_values())
            .map(|(&y, t)| (f64::from(y) - f64::from(t)).powi(2))
            .sum::<f64>()
            / v.len() as f64;
        assert!(
            (got - want).abs() <= 1e-5 * want,
            "{path:?}: validation loss {got}, the predictions' MSE {want}"
        );
    }
}

/// Probabilities outside [0, 1) and counts that fit no layer are refused, naming them; Dropout
/// layers shift the names of the Linear layers after them as PyTorch's `nn.Sequential` does.
#[test]
fn with_dropout_checks_and_renames() {
    let gpu = gpu();
    let mlp = || Mlp::new(gpu, &[4, 5, 6, 1], Task::Regression, 0).unwrap();
    for bad in [vec![1.0], vec![-0.1], vec![f32::NAN], vec![0.1, 0.2, 0.3]] {
        let err = mlp().with_dropout(&bad).unwrap_err().to_string();
        assert!(
            err.contains("[0, 1)") || err.contains("3 dropout probabilities"),
            "{bad:?}: {err}"
        );
    }
    let experiment = wgsl_train::experiment::Experiment {
        hidden: vec![5, 4],
        dropout: vec![0.1, 0.2, 0.3],
        ..wgsl_train::experiment::Experiment::classic(AdamConfig::default().into())
    };
    let err = experiment.validate().unwrap_err().to_string();
    assert!(
        err.contains("3 dropout probabilities for 2 hidden layers"),
        "{err}"
    );
    let names = mlp().with_dropout(&[0.0, 0.4]).unwrap().param_names();
    assert_eq!(
        names,
        ["0.weight", "0.bias", "2.weight", "2.bias", "5.weight", "5.bias"]
    );
    let model = mlp().with_dropout(&[0.1, 0.4]).unwrap();
    assert_eq!(model.params().slots()[4].name, "6.weight");
}
