//! The matmul autotuner and pinned variants. One test in its own binary: it sets environment
//! variables.

mod common;

use common::{assert_close, rng, uniform, F32_U};
use wgsl_train::kernels::matmul::{matmul, MatmulLayout, MatmulOptions, MatmulVariant};
use wgsl_train::{reference, Error, Gpu, GpuOptions, Tensor};

#[test]
fn the_autotuner_picks_a_variant_caches_it_and_stays_correct() {
    let cache = std::env::temp_dir().join(format!("wgsl-train-autotune-{}", std::process::id()));
    std::env::set_var("XDG_CACHE_HOME", &cache);
    std::env::remove_var("WGSL_TRAIN_MATMUL");
    let (mut rng, seed) = rng("the_autotuner_picks_a_variant_caches_it_and_stays_correct");
    let gpu = Gpu::with_options(GpuOptions {
        autotune: true,
        ..GpuOptions::default()
    })
    .unwrap();
    let (m, n, k) = (301, 132, 97);
    let (a, b) = (
        uniform(&mut rng, m * k, -1.0, 1.0),
        uniform(&mut rng, k * n, -1.0, 1.0),
    );
    let (ga, gb) = (
        Tensor::from_slice(&gpu, &[m, k], &a).unwrap(),
        Tensor::from_slice(&gpu, &[k, n], &b).unwrap(),
    );
    let want = reference::matmul::matmul(&a, &b, m, n, k, MatmulLayout::AB, None, None, None);
    let scale = reference::matmul::abs_product_sums(&a, &b, m, n, k, MatmulLayout::AB);
    let tol = |i: usize| (k as f64 + 2.0) * F32_U * scale[i] + 1e-30;

    let got = matmul(&gpu, &ga, &gb, &MatmulOptions::default())
        .unwrap()
        .to_vec::<f32>(&gpu)
        .unwrap();
    assert_close("autotuned matmul", seed, &got, &want, tol);
    // The choice is saved for this adapter and driver.
    let files: Vec<_> = std::fs::read_dir(cache.join("wgsl-train"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let saved = std::fs::read_to_string(&files[0]).unwrap();
    let line = saved
        .lines()
        .find(|l| l.starts_with("matmul/AB/9/8/7/true/false/false "))
        .unwrap_or_else(|| panic!("{saved}"));
    // Only a variant that applies to the shape is timed and chosen (M·K = 301·97 is odd, so
    // the Subgroup kernel does not apply).
    assert!(
        ["blocked", "tiled", "blocked_vec4"].contains(&line.split(' ').nth(1).unwrap()),
        "{line}"
    );

    // A pinned variant overrides the autotuner, and is still correct: pinned in the options,
    // or by WGSL_TRAIN_MATMUL, read once when the device opens.
    for (forced, by_env) in MatmulVariant::ALL
        .map(MatmulVariant::name)
        .into_iter()
        .flat_map(|v| [(v, false), (v, true)])
    {
        let mut options = GpuOptions {
            autotune: true,
            ..GpuOptions::default()
        };
        if by_env {
            std::env::set_var("WGSL_TRAIN_MATMUL", forced);
        } else {
            options.pinned_variants = vec![("matmul".into(), forced.into())];
        }
        let pinned = Gpu::with_options(options).unwrap();
        std::env::remove_var("WGSL_TRAIN_MATMUL");
        let (ga, gb) = (
            Tensor::from_slice(&pinned, &[m, k], &a).unwrap(),
            Tensor::from_slice(&pinned, &[k, n], &b).unwrap(),
        );
        let got = matmul(&pinned, &ga, &gb, &MatmulOptions::default())
            .unwrap()
            .to_vec::<f32>(&pinned)
            .unwrap();
        assert_close(
            &format!("matmul pinned to {forced} (by the environment: {by_env})"),
            seed,
            &got,
            &want,
            tol,
        );
    }
    // A name that is no variant is refused by name, not ignored.
    std::env::set_var("WGSL_TRAIN_MATMUL", "fastest");
    let bogus = Gpu::with_options(GpuOptions::default()).unwrap();
    std::env::remove_var("WGSL_TRAIN_MATMUL");
    let (ga, gb) = (
        Tensor::from_slice(&bogus, &[m, k], &a).unwrap(),
        Tensor::from_slice(&bogus, &[k, n], &b).unwrap(),
    );
    let err = matmul(&bogus, &ga, &gb, &MatmulOptions::default()).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidArgument { detail, .. } if detail.contains("\"fastest\"") && detail.contains("blocked_vec4")),
        "{err}"
    );
    std::fs::remove_dir_all(&cache).ok();
}
