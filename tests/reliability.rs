//! Reliability: a lost device, non-finite updates, two trainers on one GPU,
//! periodic checkpoints after a killed run, and malformed files that must never panic.

mod common;

use common::{bits, gpu, param_bits};
use proptest::prelude::*;
use wgsl_train::checkpoint::{load_model, read_tensors, restore_training, save, RunInfo};
use wgsl_train::data::Prepared;
use wgsl_train::data::{diabetes, load_csv_from_reader, CsvOptions, SplitConfig, Task};
use wgsl_train::nn::Mlp;
use wgsl_train::optim::{AdamConfig, Optimizer, ParamStore, SgdConfig};
use wgsl_train::train::{TrainConfig, Trainer};
use wgsl_train::{DType, Error, Gpu, Tensor};

fn prepared() -> Prepared {
    Prepared::new(&diabetes().unwrap(), &SplitConfig::default()).unwrap()
}

fn config(epochs: usize) -> TrainConfig {
    TrainConfig {
        epochs,
        seed: 4,
        ..TrainConfig::default()
    }
}

#[test]
fn a_lost_device_is_an_error_from_the_next_call() {
    let gpu = Gpu::new().unwrap();
    let t = Tensor::from_slice(&gpu, &[2], &[1.0f32, 2.0]).unwrap();
    gpu.device().destroy();
    let _ = gpu.wait(); // lets wgpu deliver the lost-device callback
    assert!(matches!(t.to_vec::<f32>(&gpu), Err(Error::DeviceLost(_))));
    assert!(matches!(
        Tensor::zeros(&gpu, &[4], DType::F32),
        Err(Error::DeviceLost(_))
    ));
    assert!(matches!(gpu.submit(gpu.batch()), Err(Error::DeviceLost(_))));
}

#[test]
fn a_non_finite_gradient_sets_the_optimizer_flag() {
    let gpu = gpu();
    let store = ParamStore::new(gpu, &[("w", &[70]), ("b", &[3])]).unwrap();
    let mut adam = Optimizer::new(gpu, &store, AdamConfig::default()).unwrap();
    store
        .grads()
        .write(gpu, &vec![0.5f32; store.flat_len()])
        .unwrap();
    adam.step(gpu).unwrap();
    assert_eq!(adam.nonfinite_flag().to_vec::<f32>(gpu).unwrap(), vec![0.0]);
    let mut grads = vec![0.5f32; store.flat_len()];
    grads[66] = f32::NAN; // inside "w"
    store.grads().write(gpu, &grads).unwrap();
    adam.step(gpu).unwrap();
    assert_eq!(adam.nonfinite_flag().to_vec::<f32>(gpu).unwrap(), vec![1.0]);
}

fn train_alone(gpu: &Gpu, p: &Prepared, seed: u64) -> Vec<f32> {
    let model = Mlp::new(gpu, &[10, 8, 1], Task::Regression, seed).unwrap();
    let mut trainer = Trainer::new(
        gpu,
        model,
        AdamConfig::default(),
        &p.train,
        Some(&p.validation),
        config(6),
    )
    .unwrap();
    trainer.fit().unwrap();
    trainer.model().params().values().to_vec(gpu).unwrap()
}

#[test]
fn two_trainers_sharing_one_gpu_from_two_threads_match_running_alone() {
    let gpu = gpu();
    let p = prepared();
    let alone = [train_alone(gpu, &p, 1), train_alone(gpu, &p, 2)];
    let p = &p;
    let together: Vec<Vec<f32>> = std::thread::scope(|s| {
        let handles: Vec<_> = [1, 2]
            .map(|seed| s.spawn(move || train_alone(gpu, p, seed)))
            .into_iter()
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(bits(&alone[0]) == bits(&together[0]) && bits(&alone[1]) == bits(&together[1]));
}

#[test]
fn periodic_checkpoints_let_a_killed_run_resume_where_it_was() {
    let gpu = gpu();
    let p = prepared();
    let dir = std::env::temp_dir().join(format!("wgsl-train-periodic-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("run.safetensors");
    let optimizer = SgdConfig {
        lr: 0.01,
        momentum: 0.9,
        ..SgdConfig::default()
    };
    let new_trainer = |model, submission_epochs| {
        let config = TrainConfig {
            submission_epochs,
            ..config(9)
        };
        Trainer::new(gpu, model, optimizer, &p.train, Some(&p.validation), config).unwrap()
    };
    let model = || Mlp::new(gpu, &[10, 5, 1], Task::Regression, 3).unwrap();

    // Epochs per submission as the trainer sees fit.
    let mut uninterrupted = new_trainer(model(), None);
    uninterrupted.fit().unwrap();

    // Checkpoint every 3 epochs (so every third epoch ends a submission); the process "dies"
    // during epoch 5 (after the epoch-3 save).
    let mut doomed = new_trainer(model(), Some(3));
    let killed = doomed.fit_with(|t| {
        let epoch = t.history().epochs.len();
        if epoch % 3 == 0 {
            save(gpu, &path, t, &RunInfo::default())?;
        }
        if epoch == 5 {
            return Err(Error::Data("killed".into()));
        }
        Ok(())
    });
    assert!(killed.is_err());

    let mut resumed = new_trainer(load_model(gpu, &path, None).unwrap(), None);
    restore_training(gpu, &path, &mut resumed, &RunInfo::default()).unwrap();
    assert_eq!(resumed.history().epochs.len(), 3);
    resumed.fit().unwrap();
    assert!(
        param_bits(uninterrupted.model().params()) == param_bits(resumed.model().params()),
        "the resumed run differs from the uninterrupted one"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// Bytes that look like CSV often enough to reach past the header.
fn csv_like() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop::sample::select(b"0123456789,,,\n\n-.eE ab\"x\r".to_vec()),
        0..200,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn the_csv_loader_never_panics(bytes in prop_oneof![csv_like(), prop::collection::vec(any::<u8>(), 0..200)]) {
        let mut text = b"a,b,y\n".to_vec();
        text.extend(&bytes);
        for input in [&bytes, &text] {
            // Any outcome but a panic: a dataset, or an error.
            let _ = load_csv_from_reader(&input[..], "fuzz.csv", &CsvOptions::default());
        }
    }

    #[test]
    fn the_checkpoint_loader_never_panics(header in prop::collection::vec(any::<u8>(), 0..64), tail in prop::collection::vec(any::<u8>(), 0..64)) {
        // Random bytes, and random bytes behind a plausible length prefix and JSON start.
        let dir = common::scratch_dir().join("fuzz");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("f{}.safetensors", header.len() * 1000 + tail.len()));
        let mut framed = (header.len() as u64 + 2).to_le_bytes().to_vec();
        framed.push(b'{');
        framed.extend(&header);
        framed.push(b'}');
        framed.extend(&tail);
        for bytes in [&header, &framed] {
            std::fs::write(&path, bytes).unwrap();
            let _ = read_tensors(&path);
            let _ = load_model(gpu(), &path, Some(Task::Regression));
        }
        std::fs::remove_file(&path).ok();
    }
}
