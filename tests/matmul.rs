//! matmul against its CPU reference in every layout, variant and epilogue, at awkward sizes.

mod common;

use common::{assert_close, gpu, rng, uniform, F32_U};
use proptest::prelude::*;
use rand::rngs::StdRng;
use wgsl_train::kernels::matmul::{
    matmul_launch, MatmulLayout, MatmulOptions, MatmulVariant, TileShape,
};
use wgsl_train::nn::Activation;
use wgsl_train::reference::activation::{derivative, error_bound, lipschitz};
use wgsl_train::{reference, DType, Error, Tensor};

const LAYOUTS: [MatmulLayout; 3] = [MatmulLayout::AB, MatmulLayout::ABt, MatmulLayout::AtB];

#[derive(Clone, Copy, Debug)]
struct Case {
    m: usize,
    n: usize,
    k: usize,
    layout: MatmulLayout,
    variant: MatmulVariant,
    bias: bool,
    /// The forward epilogue's activation, and whether it also writes the pre-activation.
    activation: Option<Activation>,
    pre: bool,
    accumulate: bool,
    /// The backward epilogue: the output times f'(z), z a random tensor.
    derivative: Option<Activation>,
    row_sums: bool,
    tile: TileShape,
}

impl Case {
    /// A plain product of this shape, layout and variant; the rest switched off.
    fn plain(m: usize, n: usize, k: usize, layout: MatmulLayout, variant: MatmulVariant) -> Self {
        Case {
            m,
            n,
            k,
            layout,
            variant,
            bias: false,
            activation: None,
            pre: false,
            accumulate: false,
            derivative: None,
            row_sums: false,
            tile: TileShape::default(),
        }
    }
}

/// Runs one case on the GPU and compares with the reference. The tolerance is the classic
/// bound for any summation order, |error| ≤ (k + 2)·u·Σ|terms| (u = 2⁻²⁴), so it holds for
/// every kernel variant yet is far below the size of a wrong or missing term; an activation
/// widens it by how far f can move that error (its Lipschitz bound) and by its own evaluation
/// error (`error_bound`).
fn check(case: Case, rng: &mut StdRng, seed: u64) {
    let Case {
        m, n, k, layout, ..
    } = case;
    let gpu = gpu();
    let a = uniform(rng, m * k, -1.0, 1.0);
    let b = uniform(rng, k * n, -1.0, 1.0);
    let bias = uniform(rng, n, -1.0, 1.0);
    let c_old = uniform(rng, m * n, -1.0, 1.0);
    let mut z = uniform(rng, m * n, -4.0, 4.0);
    z[0] = 0.0; // ReLU's derivative at exactly 0 is 0
    let (a_shape, b_shape) = match layout {
        MatmulLayout::AB => ([m, k], [k, n]),
        MatmulLayout::ABt => ([m, k], [n, k]),
        MatmulLayout::AtB => ([k, m], [k, n]),
    };
    let ga = Tensor::from_slice(gpu, &a_shape, &a).unwrap();
    let gb = Tensor::from_slice(gpu, &b_shape, &b).unwrap();
    let gbias = Tensor::from_slice(gpu, &[n], &bias).unwrap();
    let gz = Tensor::from_slice(gpu, &[m, n], &z).unwrap();
    let gsums = Tensor::zeros(gpu, &[m], DType::F32).unwrap();
    let gpre = Tensor::zeros(gpu, &[m, n], DType::F32).unwrap();
    let gc = if case.accumulate {
        Tensor::from_slice(gpu, &[m, n], &c_old).unwrap()
    } else {
        Tensor::zeros(gpu, &[m, n], DType::F32).unwrap()
    };
    let options = MatmulOptions {
        layout,
        bias: case.bias.then_some(&gbias),
        activation: case.activation,
        pre_activation: case.pre.then_some(&gpre),
        accumulate: case.accumulate,
        derivative: case.derivative.map(|f| (f, &gz)),
        row_sums: case.row_sums.then_some(&gsums),
        variant: case.variant,
        tile: case.tile,
    };
    gpu.run(&matmul_launch(gpu, &ga, &gb, &gc, &options).unwrap())
        .unwrap();
    let got = gc.to_vec::<f32>(gpu).unwrap();

    let plain = |activation| {
        reference::matmul::matmul(
            &a,
            &b,
            m,
            n,
            k,
            layout,
            case.bias.then_some(bias.as_slice()),
            activation,
            case.accumulate.then_some(c_old.as_slice()),
        )
    };
    let pre = plain(None);
    let mut want = plain(case.activation);
    if let Some(f) = case.derivative {
        for (v, &z) in want.iter_mut().zip(&z) {
            *v = (f64::from(*v) * derivative(f, f64::from(z))) as f32;
        }
    }
    if case.row_sums {
        let got_sums = gsums.to_vec::<f32>(gpu).unwrap();
        let want_sums = reference::matmul::row_sums(&a, m, k, layout);
        // The same summation bound as the products, over |op(A)[i, k]|.
        let abs_sums = reference::matmul::row_sums(
            &a.iter().map(|v| v.abs()).collect::<Vec<_>>(),
            m,
            k,
            layout,
        );
        assert_close(
            &format!("matmul row sums {case:?}"),
            seed,
            &got_sums,
            &want_sums,
            |i| (k as f64 + 2.0) * F32_U * f64::from(abs_sums[i]) + 1e-30,
        );
    }
    let scale = reference::matmul::abs_product_sums(&a, &b, m, n, k, layout);
    let tol = |i: usize| {
        let extra = if case.bias {
            f64::from(bias[i % n].abs())
        } else {
            0.0
        } + if case.accumulate {
            f64::from(c_old[i].abs())
        } else {
            0.0
        };
        (k as f64 + 2.0) * F32_U * (scale[i] + extra) + 1e-30
    };
    if case.pre {
        let got_pre = gpre.to_vec::<f32>(gpu).unwrap();
        assert_close(
            &format!("matmul pre-activation {case:?}"),
            seed,
            &got_pre,
            &pre,
            tol,
        );
    }
    let tol = |i: usize| match (case.activation, case.derivative) {
        (Some(f), _) => lipschitz(f) * tol(i) + error_bound(f64::from(pre[i]), f64::from(want[i])),
        (_, Some(f)) => {
            let (zi, d) = (f64::from(z[i]), derivative(f, f64::from(z[i])));
            let e = error_bound(zi, d);
            (d.abs() + e) * tol(i) + f64::from(pre[i]).abs() * e
        }
        (None, None) => tol(i),
    };
    assert_close(&format!("matmul {case:?}"), seed, &got, &want, tol);
}

#[test]
fn matmul_matches_reference_at_awkward_sizes() {
    let (mut rng, seed) = rng("matmul_matches_reference_at_awkward_sizes");
    // Each awkward size (1, 7, 63, 65, 129, 1000+) appears as M, N and K somewhere.
    let shapes = [
        (1, 1, 1),
        (7, 1, 63),
        (1, 7, 65),
        (63, 65, 7),
        (65, 129, 63),
        (129, 63, 65),
        (1031, 7, 65),
        (7, 1031, 63),
        (65, 7, 1031),
        (64, 64, 64),
        (128, 256, 32),
        // N a multiple of 4, where BlockedVec4 runs for A·B and Aᵀ·B; K one, for A·Bᵀ.
        (1031, 12, 65),
        (7, 1028, 63),
        (65, 4, 1031),
        (9, 20, 1),
        (1031, 7, 64),
        (33, 65, 1028),
        (5, 3, 4),
        // Every contiguous dimension a multiple of 4, where the Subgroup kernel runs in each
        // layout: K % 8 = 4 (its tail), M and N off its 16×32 blocks, M and N below them.
        (132, 260, 788),
        (4, 4, 4),
        (1028, 8, 44),
        (12, 36, 1032),
        // Where only B aligns and M·K is a multiple of 4: the Subgroup kernel reads A element
        // by element (A·B; and Aᵀ·B with M not a multiple of 4).
        (128, 256, 10),
        (10, 256, 130),
        (6, 36, 14),
    ];
    for (m, n, k) in shapes {
        for layout in LAYOUTS {
            for variant in MatmulVariant::ALL {
                check(Case::plain(m, n, k, layout, variant), &mut rng, seed);
            }
        }
    }
}

#[test]
fn matmul_epilogue_matches_reference() {
    let (mut rng, seed) = rng("matmul_epilogue_matches_reference");
    for (m, n, k) in [
        (65, 7, 129),
        (33, 130, 17),
        (37, 132, 19),
        (37, 13, 20),
        (36, 132, 20),
    ] {
        for layout in LAYOUTS {
            for variant in MatmulVariant::ALL {
                let relu = Some(Activation::Relu);
                for (bias, activation, pre, accumulate, derivative, row_sums) in [
                    (true, None, false, false, None, false),
                    (true, relu, false, false, None, false),
                    (false, relu, true, false, None, false),
                    (false, None, false, true, None, false),
                    (true, relu, true, true, None, false),
                    (false, None, false, false, relu, false),
                    (false, None, false, false, None, true),
                    (true, None, false, false, relu, true),
                ] {
                    let case = Case {
                        bias,
                        activation,
                        pre,
                        accumulate,
                        derivative,
                        row_sums,
                        ..Case::plain(m, n, k, layout, variant)
                    };
                    check(case, &mut rng, seed);
                }
            }
        }
    }
}

/// Every activation's forward (with the pre-activation written beside it) and backward in the
/// epilogue, LeakyReLU with PyTorch's slope and with a negative one: in every layout of the
/// two kernels the epilogue shares with the others, then one activation in every kernel (on
/// lavapipe a vec4 or Subgroup kernel with an epilogue takes about 12 s to compile cold).
#[test]
fn matmul_epilogue_applies_every_activation() {
    let (mut rng, seed) = rng("matmul_epilogue_applies_every_activation");
    let activations = Activation::ALL.into_iter().chain([Activation::LeakyRelu {
        negative_slope: -0.25,
    }]);
    let every_activation = activations.flat_map(|f| {
        LAYOUTS.into_iter().flat_map(move |layout| {
            [MatmulVariant::Blocked, MatmulVariant::Tiled].map(|variant| (f, layout, variant))
        })
    });
    let every_kernel =
        MatmulVariant::ALL.map(|variant| (Activation::Gelu, MatmulLayout::AB, variant));
    for (f, layout, variant) in every_activation.chain(every_kernel) {
        let (m, n, k) = (37, 132, 20);
        let forward = Case {
            bias: true,
            activation: Some(f),
            pre: true,
            ..Case::plain(m, n, k, layout, variant)
        };
        check(forward, &mut rng, seed);
        let backward = Case {
            derivative: Some(f),
            ..Case::plain(m, n, k, layout, variant)
        };
        check(backward, &mut rng, seed);
    }
}

/// The tile sizes are override constants: other shapes give the same products, in the scalar
/// and the vec4 kernel; shapes the kernel or the device cannot take are refused.
#[test]
fn tiled_kernel_takes_other_tile_shapes_and_refuses_bad_ones() {
    let (mut rng, seed) = rng("tiled_kernel_takes_other_tile_shapes_and_refuses_bad_ones");
    let tiles = [(32, 64, 8), (16, 16, 4), (64, 32, 32), (128, 32, 16)];
    for (tm, tn, tk) in tiles {
        // Unaligned (scalar loads) and aligned (vec4 loads) shapes.
        for (m, n, k) in [(65, 129, 63), (132, 260, 36)] {
            for layout in LAYOUTS {
                let case = Case {
                    bias: true,
                    row_sums: true,
                    tile: TileShape {
                        m: tm,
                        n: tn,
                        k: tk,
                    },
                    ..Case::plain(m, n, k, layout, MatmulVariant::Tiled)
                };
                check(case, &mut rng, seed);
            }
        }
    }
    let gpu = gpu();
    let a = Tensor::zeros(gpu, &[8, 8], DType::F32).unwrap();
    let c = Tensor::zeros(gpu, &[8, 8], DType::F32).unwrap();
    let too_many = gpu.limits().max_compute_invocations_per_workgroup * 16;
    for (bad, why) in [
        ((64, 62, 16), "multiple of 4"),
        ((0, 64, 16), "multiple of 4"),
        ((4, too_many, 4), "limits"),
        ((64, 64, 1 << 16), "workgroup memory"),
    ] {
        let options = MatmulOptions {
            variant: MatmulVariant::Tiled,
            tile: TileShape {
                m: bad.0,
                n: bad.1,
                k: bad.2,
            },
            ..MatmulOptions::default()
        };
        let err = matmul_launch(gpu, &a, &a, &c, &options).unwrap_err();
        assert!(
            matches!(err, Error::InvalidArgument { op: "matmul", .. })
                && err.to_string().contains(why),
            "{bad:?}: {err}"
        );
    }
}

/// The tests above hold whichever kernel runs to the reference; this one says which runs, so a
/// fallback cannot hide the Subgroup kernel from them.
#[test]
fn the_subgroup_kernel_runs_where_subgroups_are_8_wide_and_operands_align() {
    let gpu = gpu();
    let aligned = (132, 260, 788);
    // A·B and Aᵀ·B with only B aligned (K = 10, M = 10) and M·K a multiple of 4.
    let b_aligned = [
        (MatmulLayout::AB, (128, 256, 10)),
        (MatmulLayout::AtB, (10, 256, 128)),
    ];
    let cases = LAYOUTS
        .map(|layout| (layout, aligned))
        .into_iter()
        .chain(b_aligned);
    let adapter = &gpu.adapter_info().name;
    match gpu.subgroup_size() {
        Some(8) => eprintln!("{adapter}: 8-wide subgroups, the Subgroup matmul kernel runs"),
        size => eprintln!(
            "{adapter}: subgroup size {size:?}, not 8: the Subgroup matmul falls back (CI requires another pass to run it)"
        ),
    }
    for (layout, dims) in cases {
        let chosen = MatmulVariant::Subgroup.resolve(gpu, layout, dims);
        if gpu.subgroup_size() == Some(8) {
            assert_eq!(chosen, MatmulVariant::Subgroup, "{layout:?}");
            if gpu.is_cpu_adapter() {
                let auto = MatmulVariant::Auto.resolve(gpu, layout, dims);
                assert_eq!(auto, MatmulVariant::Subgroup, "{layout:?}");
            }
        } else {
            assert_ne!(chosen, MatmulVariant::Subgroup, "{layout:?}");
        }
        // B's contiguous dimension not a multiple of 4, or M·K not one, falls back everywhere.
        for unaligned in [(131, 259, 787), (131, 260, 787)] {
            let chosen = MatmulVariant::Subgroup.resolve(gpu, layout, unaligned);
            assert_ne!(chosen, MatmulVariant::Subgroup, "{layout:?} {unaligned:?}");
        }
    }
}

#[test]
fn matmul_auto_variant_matches_reference() {
    let (mut rng, seed) = rng("matmul_auto_variant_matches_reference");
    let case = Case {
        bias: true,
        activation: Some(Activation::Relu),
        row_sums: true,
        ..Case::plain(100, 70, 90, MatmulLayout::ABt, MatmulVariant::Auto)
    };
    check(case, &mut rng, seed);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]
    #[test]
    fn matmul_matches_reference_on_random_shapes(
        m in 1usize..160,
        n in 1usize..160,
        k in 1usize..200,
        layout in prop::sample::select(LAYOUTS.to_vec()),
        variant in prop::sample::select(MatmulVariant::ALL.to_vec()),
        bias: bool,
        activation in prop::option::of(prop::sample::select(Activation::ALL.to_vec())),
        pre: bool,
        accumulate: bool,
        derivative in prop::option::of(prop::sample::select(Activation::ALL.to_vec())),
        row_sums: bool,
        seed: u64,
    ) {
        use rand::SeedableRng;
        let mut rng = StdRng::seed_from_u64(seed);
        // One epilogue takes an activation or a derivative, and the pre-activation only with
        // an activation and without row sums (they share an output).
        let derivative = derivative.filter(|_| activation.is_none());
        let pre = pre && activation.is_some() && !row_sums;
        let case = Case { bias, activation, pre, accumulate, derivative, row_sums, ..Case::plain(m, n, k, layout, variant) };
        check(case, &mut rng, seed);
    }
}

#[test]
fn matmul_rejects_mismatched_shapes() {
    let gpu = gpu();
    let a = Tensor::zeros(gpu, &[3, 4], DType::F32).unwrap();
    let b = Tensor::zeros(gpu, &[5, 2], DType::F32).unwrap();
    let c = Tensor::zeros(gpu, &[3, 2], DType::F32).unwrap();
    let err = matmul_launch(gpu, &a, &b, &c, &MatmulOptions::default()).unwrap_err();
    assert!(
        matches!(err, Error::ShapeMismatch { op: "matmul", .. }),
        "{err}"
    );
    let message = err.to_string();
    assert!(
        message.contains("[3, 4]") && message.contains("[5, 2]"),
        "{message}"
    );

    // The output and the bias are checked too.
    let b = Tensor::zeros(gpu, &[4, 2], DType::F32).unwrap();
    let wrong_c = Tensor::zeros(gpu, &[2, 3], DType::F32).unwrap();
    let err = matmul_launch(gpu, &a, &b, &wrong_c, &MatmulOptions::default()).unwrap_err();
    assert!(err.to_string().contains("[2, 3]"), "{err}");
    let wrong_bias = Tensor::zeros(gpu, &[3], DType::F32).unwrap();
    let options = MatmulOptions {
        bias: Some(&wrong_bias),
        ..Default::default()
    };
    let err = matmul_launch(gpu, &a, &b, &c, &options).unwrap_err();
    assert!(err.to_string().contains("bias"), "{err}");

    // A 1-D operand and a u32 operand are refused, not misread.
    let v = Tensor::zeros(gpu, &[4], DType::F32).unwrap();
    assert!(matches!(
        matmul_launch(gpu, &v, &b, &c, &MatmulOptions::default()),
        Err(Error::ShapeMismatch { .. })
    ));
    let ints = Tensor::zeros(gpu, &[3, 4], DType::U32).unwrap();
    assert!(matches!(
        matmul_launch(gpu, &ints, &b, &c, &MatmulOptions::default()),
        Err(Error::DType { .. })
    ));
}
