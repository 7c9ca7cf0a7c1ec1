//! Sums, means and column sums against the reference, including multi-pass sizes.

mod common;

use common::{assert_close, gpu, rng, uniform, F32_U};
use wgsl_train::kernels::reduce::{column_sums, column_sums_launch, mean, sum};
use wgsl_train::{reference, DType, Error, Tensor};

/// Rounding bound for summing `n` values in any order: n·u·Σ|x|.
fn sum_tol(x: &[f32]) -> f64 {
    let abs: f64 = x.iter().map(|v| f64::from(v.abs())).sum();
    x.len() as f64 * F32_U * abs + 1e-30
}

#[test]
fn sum_and_mean_match_reference() {
    let (mut rng, seed) = rng("sum_and_mean_match_reference");
    let gpu = gpu();
    // 4096 per workgroup: 4097 needs two passes and 16_777_217 three.
    for n in [
        1, 7, 63, 65, 129, 1000, 1024, 4096, 4097, 100_003, 16_777_217,
    ] {
        let x = uniform(&mut rng, n, -1.0, 1.0);
        let t = Tensor::from_slice(gpu, &[n], &x).unwrap();
        let got_sum = sum(gpu, &t).unwrap().to_vec::<f32>(gpu).unwrap();
        let want_sum = reference::reduce::sum(&x) as f32;
        assert_close(&format!("sum n={n}"), seed, &got_sum, &[want_sum], |_| {
            sum_tol(&x)
        });
        let got_mean = mean(gpu, &t).unwrap().to_vec::<f32>(gpu).unwrap();
        let want_mean = reference::reduce::mean(&x) as f32;
        assert_close(
            &format!("mean n={n}"),
            seed,
            &got_mean,
            &[want_mean],
            |_| sum_tol(&x) / n as f64 + F32_U * f64::from(want_mean.abs()),
        );
    }
}

#[test]
fn column_sums_match_reference() {
    let (mut rng, seed) = rng("column_sums_match_reference");
    let gpu = gpu();
    for (rows, cols) in [
        (1, 1),
        (7, 63),
        (65, 1),
        (129, 7),
        (1031, 5),
        (3, 1000),
        (64, 256),
    ] {
        let x = uniform(&mut rng, rows * cols, -1.0, 1.0);
        let got = column_sums(gpu, &Tensor::from_slice(gpu, &[rows, cols], &x).unwrap())
            .unwrap()
            .to_vec::<f32>(gpu)
            .unwrap();
        let want = reference::reduce::column_sums(&x, rows, cols);
        let column: Vec<Vec<f32>> = (0..cols)
            .map(|j| (0..rows).map(|i| x[i * cols + j]).collect())
            .collect();
        assert_close(
            &format!("column_sums {rows}x{cols}"),
            seed,
            &got,
            &want,
            |j| sum_tol(&column[j]),
        );
    }
}

#[test]
fn column_sums_accumulate_into_the_output() {
    let gpu = gpu();
    let x = Tensor::from_slice(gpu, &[2, 3], &[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
    let out = Tensor::from_slice(gpu, &[3], &[10.0f32, 20.0, 30.0]).unwrap();
    gpu.run(&column_sums_launch(gpu, &x, &out, true).unwrap())
        .unwrap();
    // [1+4, 2+5, 3+6] added to [10, 20, 30].
    assert_eq!(out.to_vec::<f32>(gpu).unwrap(), vec![15.0, 27.0, 39.0]);
}

#[test]
fn reductions_reject_bad_shapes() {
    let gpu = gpu();
    let v = Tensor::zeros(gpu, &[4], DType::F32).unwrap();
    assert!(matches!(
        column_sums(gpu, &v),
        Err(Error::ShapeMismatch {
            op: "column_sums",
            ..
        })
    ));
    let x = Tensor::zeros(gpu, &[4, 3], DType::F32).unwrap();
    let wrong = Tensor::zeros(gpu, &[4], DType::F32).unwrap();
    let err = column_sums_launch(gpu, &x, &wrong, false).unwrap_err();
    assert!(
        err.to_string().contains("[4, 3]") && err.to_string().contains("[4]"),
        "{err}"
    );
}

#[test]
fn sums_of_small_integers_are_exact() {
    // Every partial sum of integers below 2²⁴ in magnitude is exact in f32, in any order, so a
    // dropped or repeated element shows even where the rounding bound above is loose.
    let (mut rng, seed) = rng("sums_of_small_integers_are_exact");
    let gpu = gpu();
    for n in [1, 4097, 1_000_003, 16_777_217] {
        let x: Vec<f32> = (0..n)
            .map(|_| f32::from(rand::Rng::random_range(&mut rng, -3i8..=3)))
            .collect();
        let want = x.iter().map(|&v| f64::from(v)).sum::<f64>() as f32;
        let got = sum(gpu, &Tensor::from_slice(gpu, &[n], &x).unwrap())
            .unwrap()
            .to_vec::<f32>(gpu)
            .unwrap();
        assert_eq!(got, vec![want], "sum of {n} small integers (seed {seed})");
    }
    let (rows, cols) = (4099, 33);
    let x: Vec<f32> = (0..rows * cols)
        .map(|i| ((i * 7919) % 7) as f32 - 3.0)
        .collect();
    let got = column_sums(gpu, &Tensor::from_slice(gpu, &[rows, cols], &x).unwrap())
        .unwrap()
        .to_vec::<f32>(gpu)
        .unwrap();
    assert_eq!(got, reference::reduce::column_sums(&x, rows, cols));
}
