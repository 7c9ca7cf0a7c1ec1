//! Matrix multiply in the three layouts training needs, with a fused epilogue
//! (`shaders/matmul.wgsl`).

use bytemuck::{Pod, Zeroable};

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use super::activation::Activation;
use super::{dim, Shader};
use crate::error::{Error, Result};
use crate::gpu::{Binding, DType, Dispatch, Gpu, KernelSpec, Launch, ShaderCode, Tensor};

/// Which operands are transposed; no transpose is ever materialised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MatmulLayout {
    /// `C = A·B`: A is `[M, K]`, B is `[K, N]` (the forward pass with B = Wᵀ stored).
    #[default]
    AB,
    /// `C = A·Bᵀ`: A is `[M, K]`, B is `[N, K]` (the forward pass `X·Wᵀ` with W `[out, in]`).
    ABt,
    /// `C = Aᵀ·B`: A is `[K, M]`, B is `[K, N]` (the weight gradient `dYᵀ·X`).
    AtB,
}

/// Which kernel computes the product. Every variant gives the same result within the
/// kernel tolerance; they differ in speed per adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MatmulVariant {
    /// The autotuner's choice if the device has one (`GpuOptions::autotune`), else
    /// [`Tiled`](Self::Tiled) on GPUs and, on CPU-like adapters, the first of
    /// [`Subgroup`](Self::Subgroup), [`BlockedVec4`](Self::BlockedVec4) and
    /// [`Blocked`](Self::Blocked) that applies (see [`MatmulVariant::resolve`]).
    /// `WGSL_TRAIN_MATMUL=blocked|tiled|blocked_vec4|subgroup` overrides it.
    #[default]
    Auto,
    /// Barrier-free: each invocation computes a 4×4 block in registers.
    Blocked,
    /// Tiles of 64×64 staged in workgroup memory (sizes set by override constants), 4×4 per
    /// invocation, reading global memory as `vec4` where the operands' contiguous dimensions
    /// are multiples of 4: what GPUs want.
    Tiled,
    /// Barrier-free, reading four floats at a time: for `A·B` and `Aᵀ·B` with N a multiple of
    /// 4, 8×8 outputs per invocation reading B four columns at a time; for `A·Bᵀ` with K a
    /// multiple of 4, 4×4 outputs as dot products of rows four elements of K at a time.
    /// Elsewhere `Blocked` runs.
    BlockedVec4,
    /// Barrier-free, for adapters whose subgroups are 8 invocations wide (lavapipe on 256-bit
    /// CPUs): 8 lanes share 16 rows of C and each element of A is loaded by one lane and
    /// shuffled to the others (`shaders/matmul_subgroup.wgsl` says why that pays on lavapipe).
    /// Needs the contiguous dimension of both operands to be a multiple of 4; elsewhere, or
    /// without 8-wide subgroups, the kernel `Auto` would pick on a CPU-like adapter runs.
    Subgroup,
}

impl MatmulVariant {
    /// Every concrete variant, for tests and benches.
    pub const ALL: [MatmulVariant; 4] = [
        MatmulVariant::Blocked,
        MatmulVariant::Tiled,
        MatmulVariant::BlockedVec4,
        MatmulVariant::Subgroup,
    ];

    /// The concrete variant called `name` (see [`MatmulVariant::name`]).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] listing the names when `name` is none of them.
    pub fn from_name(name: &str) -> Result<Self> {
        MatmulVariant::ALL
            .into_iter()
            .find(|v| v.name() == name.trim())
            .ok_or_else(|| Error::InvalidArgument {
                op: "matmul",
                detail: format!(
                    "no matmul variant {name:?} (WGSL_TRAIN_MATMUL or GpuOptions::pinned_variants); the variants are {}",
                    MatmulVariant::ALL.map(MatmulVariant::name).join(", ")
                ),
            })
    }

    /// The variant's name in `WGSL_TRAIN_MATMUL`, the autotuner's cache file and the bench
    /// tool's JSON: `auto`, `blocked`, `tiled`, `blocked_vec4` or `subgroup`.
    pub fn name(self) -> &'static str {
        match self {
            MatmulVariant::Auto => "auto",
            MatmulVariant::Blocked => "blocked",
            MatmulVariant::Tiled => "tiled",
            MatmulVariant::BlockedVec4 => "blocked_vec4",
            MatmulVariant::Subgroup => "subgroup",
        }
    }

    /// Whether this variant's own kernel runs for `C = op(A)·op(B)` of `dims` on `gpu`, rather
    /// than the one it falls back to (what tests, benches and the autotuner time or check
    /// under its name).
    pub fn applies(self, gpu: &Gpu, layout: MatmulLayout, dims: (usize, usize, usize)) -> bool {
        self.resolve(gpu, layout, dims) == self
    }

    /// The kernel that runs for `C = op(A)·op(B)` of `dims` `(M, N, K)` on `gpu`.
    ///
    /// `Auto` picks `Tiled` on GPUs; on CPU-like adapters the first of `Subgroup`,
    /// `BlockedVec4` and `Blocked` that applies. `Subgroup` and `BlockedVec4` fall back to
    /// what applies after them.
    pub fn resolve(
        self,
        gpu: &Gpu,
        layout: MatmulLayout,
        (m, n, k): (usize, usize, usize),
    ) -> MatmulVariant {
        let subgroup = gpu.subgroup_size() == Some(8) && subgroup_applies(layout, (m, n, k));
        match self {
            MatmulVariant::Auto if !gpu.is_cpu_adapter() => MatmulVariant::Tiled,
            MatmulVariant::Auto | MatmulVariant::Subgroup if subgroup => MatmulVariant::Subgroup,
            MatmulVariant::Auto | MatmulVariant::Subgroup | MatmulVariant::BlockedVec4
                if vec4_applies(layout, n, k) =>
            {
                MatmulVariant::BlockedVec4
            }
            MatmulVariant::Auto | MatmulVariant::Subgroup | MatmulVariant::BlockedVec4 => {
                MatmulVariant::Blocked
            }
            other => other,
        }
    }
}

/// Whether both operands can be read as `vec4` (by the Tiled kernel's global loads, and by the
/// Subgroup kernel's loads of A in `Aᵀ·B`): the dimension each is contiguous along must be a
/// multiple of 4.
pub(crate) fn operands_align_to_4(layout: MatmulLayout, (m, n, k): (usize, usize, usize)) -> bool {
    let (a_contiguous, b_contiguous) = match layout {
        MatmulLayout::AB => (k, n),
        MatmulLayout::ABt => (k, k),
        MatmulLayout::AtB => (m, n),
    };
    a_contiguous.is_multiple_of(4) && b_contiguous.is_multiple_of(4)
}

/// Whether the [`MatmulVariant::Subgroup`] kernel can run: it reads B as `vec4` along B's
/// contiguous dimension, which must then be a multiple of 4, and A either as `vec4` rows (`Aᵀ·B`
/// with M a multiple of 4) or element by element through a `vec4` view, which must cover all of
/// A (M·K a multiple of 4).
pub(crate) fn subgroup_applies(layout: MatmulLayout, (m, n, k): (usize, usize, usize)) -> bool {
    let b_contiguous = if layout == MatmulLayout::ABt { k } else { n };
    b_contiguous.is_multiple_of(4) && (m * k).is_multiple_of(4)
}

/// Whether [`MatmulVariant::BlockedVec4`] has a kernel for this layout and size.
pub(crate) fn vec4_applies(layout: MatmulLayout, n: usize, k: usize) -> bool {
    match layout {
        MatmulLayout::ABt => k.is_multiple_of(4),
        MatmulLayout::AB | MatmulLayout::AtB => n.is_multiple_of(4),
    }
}

/// Options of [`matmul_launch`]. `Default`: `A·B`, no epilogue, automatic variant.
#[derive(Debug, Clone, Copy, Default)]
pub struct MatmulOptions<'a> {
    /// Operand layout (default [`MatmulLayout::AB`]).
    pub layout: MatmulLayout,
    /// Adds `bias[j]` to every row (shape `[N]`; default none).
    pub bias: Option<&'a Tensor>,
    /// Applies the activation `f` after the bias (default none): a hidden layer's forward.
    pub activation: Option<Activation>,
    /// With `activation`, also writes the value before `f` here (shape `[M, N]`; default
    /// none): the pre-activation the backward pass reads.
    pub pre_activation: Option<&'a Tensor>,
    /// Adds the product to what C holds instead of overwriting it (default false).
    /// The epilogue is `C = f(A·B + C_old + bias)` with each part optional.
    pub accumulate: bool,
    /// Multiplies each output by `f'(z[i, j])`, after the rest of the epilogue, with `z` the
    /// tensor given (shape `[M, N]`; default none): the activation's backward `dZ = f'(Z) ⊙ dH`
    /// fused into `dH = dY·W`. For ReLU `z` may be the layer's output (`f(z) > 0` exactly
    /// where `z > 0`).
    pub derivative: Option<(Activation, &'a Tensor)>,
    /// Also writes `row_sums[i] = Σ_k op(A)[i, k]` (shape `[M]`; default none): the bias
    /// gradient `Σ_rows dY` in the same dispatch as the weight gradient `dYᵀ·X`. Not with
    /// `pre_activation` (they share the kernel's one extra output).
    pub row_sums: Option<&'a Tensor>,
    /// The kernel (default [`MatmulVariant::Auto`]).
    pub variant: MatmulVariant,
    /// The tile the [`MatmulVariant::Tiled`] kernel works in, when it runs (default 64×64×16).
    pub tile: TileShape,
}

/// The tile of C that one workgroup of the [`MatmulVariant::Tiled`] kernel computes, stepping
/// K by `k` (the kernel's override constants `TILE_M`, `TILE_N`, `TILE_K`).
///
/// Each side must be a multiple of 4. The workgroup has `m·n/16` invocations of 4×4 outputs and
/// stages `4·k·(m + n)` bytes in workgroup memory; both must be within the device's limits.
/// `Default`: 64×64×16, 256 invocations and 8 KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TileShape {
    /// Rows of C a workgroup computes.
    pub m: u32,
    /// Columns of C a workgroup computes.
    pub n: u32,
    /// How far along K each staged tile reaches.
    pub k: u32,
}

impl Default for TileShape {
    fn default() -> Self {
        Self {
            m: 64,
            n: 64,
            k: 16,
        }
    }
}

impl TileShape {
    /// Checks the shape against the kernel's needs and `gpu`'s limits.
    fn check(self, gpu: &Gpu) -> Result<()> {
        let limits = gpu.limits();
        let TileShape { m, n, k } = self;
        let problem = if [m, n, k].iter().any(|&s| s == 0 || s % 4 != 0) {
            Some("every side must be a positive multiple of 4".to_string())
        } else if u64::from(m) * u64::from(n) / 16
            > u64::from(limits.max_compute_invocations_per_workgroup)
            || n / 4 > limits.max_compute_workgroup_size_x
            || m / 4 > limits.max_compute_workgroup_size_y
        {
            Some(format!(
                "a ({} × {}) workgroup exceeds the device's limits ({} invocations, {} × {})",
                n / 4,
                m / 4,
                limits.max_compute_invocations_per_workgroup,
                limits.max_compute_workgroup_size_x,
                limits.max_compute_workgroup_size_y
            ))
        } else if 4 * u64::from(k) * (u64::from(m) + u64::from(n))
            > u64::from(limits.max_compute_workgroup_storage_size)
        {
            Some(format!(
                "its tiles need {} bytes of workgroup memory; the device has {}",
                4 * u64::from(k) * (u64::from(m) + u64::from(n)),
                limits.max_compute_workgroup_storage_size
            ))
        } else {
            None
        };
        match problem {
            Some(why) => Err(Error::InvalidArgument {
                op: "matmul",
                detail: format!("tile {m}×{n}×{k}: {why}"),
            }),
            None => Ok(()),
        }
    }
}

/// Mirrors `MatmulParams` in `matmul.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
struct MatmulParams {
    /// Rows of C.
    m: u32,
    /// Columns of C.
    n: u32,
    /// The shared dimension.
    k: u32,
    /// Unused: pads the struct to 16 bytes (the epilogue is chosen by override constants).
    _padding: u32,
}

/// Invocations per workgroup side of the blocked kernel (each covers 4×4 outputs).
const BLOCKED_WG: u32 = 8;
/// Workgroup shape of the vec4 kernel (each invocation covers 8×8 outputs): 16×2 measured
/// best on lavapipe.
const VEC4_WG: (u32, u32) = (16, 2);
/// Subgroups of 8 invocations per workgroup of the subgroup kernel, at most: 8 measured best
/// on lavapipe at 1024³ (1, 4, 8 and 16 tried).
const SUBGROUP_WG_Y: u32 = 8;

/// The kernel's bindings: A, B, bias, mask, C, row sums, params.
const BINDINGS: &[(u32, Binding)] = &[
    (0, Binding::ReadOnly),
    (1, Binding::ReadOnly),
    (2, Binding::ReadOnly),
    (3, Binding::ReadOnly),
    (4, Binding::ReadWrite),
    (5, Binding::ReadWrite),
    (6, Binding::Uniform),
];

/// `(M, N, K)` of `op(A)·op(B)`, checking that the shapes agree.
pub fn matmul_dims(a: &Tensor, b: &Tensor, layout: MatmulLayout) -> Result<(usize, usize, usize)> {
    let (&[a0, a1], &[b0, b1]) = (a.shape(), b.shape()) else {
        return Err(Error::ShapeMismatch {
            op: "matmul",
            detail: "both operands must be 2-D".into(),
            lhs: a.shape().to_vec(),
            rhs: b.shape().to_vec(),
        });
    };
    let (m, ka, kb, n) = match layout {
        MatmulLayout::AB => (a0, a1, b0, b1),
        MatmulLayout::ABt => (a0, a1, b1, b0),
        MatmulLayout::AtB => (a1, a0, b0, b1),
    };
    if ka != kb {
        return Err(Error::ShapeMismatch {
            op: "matmul",
            detail: format!("the inner dimensions of {layout:?} differ ({ka} vs {kb})"),
            lhs: a.shape().to_vec(),
            rhs: b.shape().to_vec(),
        });
    }
    Ok((m, n, ka))
}

/// Prepares `C = op(A)·op(B)` with the epilogue of `options`, writing into `c` (`[M, N]`).
/// A or B may be a block view ([`Tensor::blocks`]), the block chosen when recorded.
///
/// # Errors
/// [`Error::ShapeMismatch`] naming both shapes when the operands, C or the bias do not agree;
/// [`Error::DType`] for non-f32 tensors; [`Error::InvalidArgument`] for a tile the device
/// cannot run or a pinned variant name that is not one.
pub fn matmul_launch(
    gpu: &Gpu,
    a: &Tensor,
    b: &Tensor,
    c: &Tensor,
    options: &MatmulOptions,
) -> Result<Launch> {
    let dims = validate(a, b, c, options)?;
    let variant = match options.variant {
        MatmulVariant::Auto => auto_variant(gpu, a, b, options.layout, dims)?,
        chosen => chosen,
    };
    let plan = plan(
        gpu,
        variant.resolve(gpu, options.layout, dims),
        options,
        dims,
    )?;
    record(gpu, plan, a, b, c, options, dims)
}

/// The module of `shader` (matmul.wgsl, with or without its Subgroup kernel) whose epilogue
/// applies `activation`: the crate's module with `epilogue.wgsl`'s identity for none; else the
/// same text ending instead in the activation's own two functions, generated once per process
/// (the pipeline cache keeps a `&'static` source: each is leaked once, and there are at most
/// two modules per activation a process uses).
fn module(shader: Shader, activation: Option<Activation>) -> ShaderCode {
    static MODULES: OnceLock<Mutex<HashMap<(Shader, Activation), ShaderCode>>> = OnceLock::new();
    let Some(f) = activation else {
        return shader.code();
    };
    let mut modules = MODULES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    *modules.entry((shader, f)).or_insert_with(|| {
        let identity = include_str!("../../shaders/epilogue.wgsl");
        let base = shader
            .source()
            .strip_suffix(identity)
            .expect("matmul modules end in epilogue.wgsl");
        let source = format!(
            "{base}// The epilogue of {f}.\nfn epilogue_forward(z: f32) -> f32 {{\n    return {};\n}}\n\nfn epilogue_backward(z: f32, upstream: f32) -> f32 {{\n    return {};\n}}\n",
            f.wgsl_forward("z"),
            f.wgsl_backward("z", "upstream")
        );
        let name = format!("{}_{f}", shader.name());
        ShaderCode::of_crate(
            Box::leak(name.into_boxed_str()),
            Box::leak(source.into_boxed_str()),
        )
    })
}

/// Checks the operands, C and the epilogue tensors; returns `(M, N, K)`.
fn validate(
    a: &Tensor,
    b: &Tensor,
    c: &Tensor,
    options: &MatmulOptions,
) -> Result<(usize, usize, usize)> {
    for (t, what) in [(a, "A"), (b, "B"), (c, "C")] {
        t.expect_dtype("matmul", what, DType::F32)?;
    }
    let (m, n, k) = matmul_dims(a, b, options.layout)?;
    if c.shape() != [m, n] {
        return Err(Error::ShapeMismatch {
            op: "matmul",
            detail: format!("the output must be [{m}, {n}]"),
            lhs: vec![m, n],
            rhs: c.shape().to_vec(),
        });
    }
    let epilogue = [
        (
            options.bias,
            "the bias",
            vec![n],
            "one value per output column",
        ),
        (
            options.derivative.map(|(_, z)| z),
            "the derivative's input",
            vec![m, n],
            "the output's shape",
        ),
        (
            options.pre_activation,
            "the pre-activation",
            vec![m, n],
            "the output's shape",
        ),
        (
            options.row_sums,
            "the row sums",
            vec![m],
            "one per output row",
        ),
    ];
    let conflict = if options.activation.is_some() && options.derivative.is_some() {
        Some("an activation and a derivative cannot share one epilogue")
    } else if options.pre_activation.is_some() && options.activation.is_none() {
        Some("a pre-activation output needs an activation")
    } else if options.pre_activation.is_some() && options.row_sums.is_some() {
        Some("the pre-activation and the row sums share one output binding")
    } else {
        None
    };
    if let Some(why) = conflict {
        return Err(Error::InvalidArgument {
            op: "matmul",
            detail: why.into(),
        });
    }
    for (tensor, what, shape, why) in epilogue {
        let Some(t) = tensor else { continue };
        t.expect_dtype("matmul", what, DType::F32)?;
        if t.shape() != shape {
            return Err(Error::ShapeMismatch {
                op: "matmul",
                detail: format!("{what} must be {shape:?}, {why}"),
                lhs: shape,
                rhs: t.shape().to_vec(),
            });
        }
    }
    Ok((m, n, k))
}

/// The kernel that runs: its module, entry point, the override constants of its variant and
/// its grid.
struct Plan {
    shader: Shader,
    entry: &'static str,
    constants: Vec<(&'static str, f64)>,
    workgroups: [u32; 3],
}

/// The plan of the concrete `variant` (already resolved for this shape and adapter).
fn plan(
    gpu: &Gpu,
    variant: MatmulVariant,
    options: &MatmulOptions,
    (m, n, k): (usize, usize, usize),
) -> Result<Plan> {
    let (m32, n32) = (dim("matmul", m)?, dim("matmul", n)?);
    let blocked = |entry, x_name, y_name| Plan {
        shader: Shader::Matmul,
        entry,
        constants: vec![
            (x_name, f64::from(BLOCKED_WG)),
            (y_name, f64::from(BLOCKED_WG)),
        ],
        workgroups: [
            n32.div_ceil(4 * BLOCKED_WG),
            m32.div_ceil(4 * BLOCKED_WG),
            1,
        ],
    };
    Ok(match variant {
        MatmulVariant::Subgroup => {
            // A subgroup of 8 lanes covers 16 rows × 32 columns; the rows are spread evenly
            // over as few workgroups as hold them, so that little is computed past M.
            let subgroup_rows = m32.div_ceil(16);
            let groups_y = subgroup_rows.div_ceil(SUBGROUP_WG_Y);
            let wg_y = subgroup_rows.div_ceil(groups_y);
            let a_rows_vec4 = options.layout == MatmulLayout::AtB && m.is_multiple_of(4);
            Plan {
                // Its own module: it only compiles where subgroups exist.
                shader: Shader::MatmulSubgroup,
                entry: "matmul_subgroup",
                constants: vec![
                    ("SUBGROUP_WG_Y", f64::from(wg_y)),
                    ("A_ROWS_VEC4", f64::from(u8::from(a_rows_vec4))),
                ],
                workgroups: [n32.div_ceil(32), groups_y, 1],
            }
        }
        MatmulVariant::Tiled => {
            let tile = options.tile;
            tile.check(gpu)?;
            let aligned = operands_align_to_4(options.layout, (m, n, k));
            Plan {
                shader: Shader::Matmul,
                entry: if aligned {
                    "matmul_tiled_vec4"
                } else {
                    "matmul_tiled"
                },
                constants: vec![
                    ("TILE_M", f64::from(tile.m)),
                    ("TILE_N", f64::from(tile.n)),
                    ("TILE_K", f64::from(tile.k)),
                ],
                workgroups: [n32.div_ceil(tile.n), m32.div_ceil(tile.m), 1],
            }
        }
        MatmulVariant::BlockedVec4 if options.layout == MatmulLayout::ABt => {
            blocked("matmul_dot4", "DOT4_WG_X", "DOT4_WG_Y")
        }
        MatmulVariant::BlockedVec4 => Plan {
            shader: Shader::Matmul,
            entry: "matmul_blocked_vec4",
            constants: vec![
                ("VEC4_WG_X", f64::from(VEC4_WG.0)),
                ("VEC4_WG_Y", f64::from(VEC4_WG.1)),
            ],
            workgroups: [n32.div_ceil(8 * VEC4_WG.0), m32.div_ceil(8 * VEC4_WG.1), 1],
        },
        MatmulVariant::Blocked | MatmulVariant::Auto => {
            blocked("matmul_blocked", "BLOCKED_WG_X", "BLOCKED_WG_Y")
        }
    })
}

/// Binds the tensors to the planned kernel, with the layout and epilogue as override constants.
fn record(
    gpu: &Gpu,
    plan: Plan,
    a: &Tensor,
    b: &Tensor,
    c: &Tensor,
    options: &MatmulOptions,
    (m, n, k): (usize, usize, usize),
) -> Result<Launch> {
    let params = MatmulParams {
        m: dim("matmul", m)?,
        n: dim("matmul", n)?,
        k: dim("matmul", k)?,
        _padding: 0,
    };
    let flag = |on: bool| f64::from(u8::from(on));
    let mut constants = vec![
        ("TRANS_A", flag(options.layout == MatmulLayout::AtB)),
        ("TRANS_B", flag(options.layout == MatmulLayout::ABt)),
        ("BIAS", flag(options.bias.is_some())),
        ("ACTIVATE", flag(options.activation.is_some())),
        ("PRE_ACTIVATION", flag(options.pre_activation.is_some())),
        ("ACCUMULATE", flag(options.accumulate)),
        ("DERIVATIVE", flag(options.derivative.is_some())),
        ("ROW_SUMS", flag(options.row_sums.is_some())),
    ];
    constants.extend(plan.constants);
    let spec = KernelSpec {
        shader: module(
            plan.shader,
            options.activation.or(options.derivative.map(|(f, _)| f)),
        ),
        entry: plan.entry,
        bindings: BINDINGS,
        constants,
    };
    // Every binding needs a buffer: unused inputs are bound to A, an unused extra output (row
    // sums or the pre-activation) to a spare (not C: WebGPU refuses two writable bindings of one buffer). The kernel never
    // touches them (their override constants are off).
    let bias = options.bias.unwrap_or(a);
    let at = options.derivative.map_or(a, |(_, z)| z);
    let extra_out = match options.row_sums.or(options.pre_activation) {
        Some(t) => t,
        None => gpu.unused_output()?,
    };
    let tensors = [a, b, bias, at, c, extra_out];
    let dispatch = Dispatch::new(gpu, &spec, &tensors, &params, plan.workgroups)?;
    Ok(Launch::new(vec![dispatch]))
}

/// What `Auto` runs: the variant pinned on the device (`GpuOptions::pinned_variants`,
/// `WGSL_TRAIN_MATMUL`) if any, else the autotuner's choice if the device has one, else the
/// fixed choice of [`MatmulVariant::resolve`].
fn auto_variant(
    gpu: &Gpu,
    a: &Tensor,
    b: &Tensor,
    layout: MatmulLayout,
    (m, n, k): (usize, usize, usize),
) -> Result<MatmulVariant> {
    if let Some(name) = gpu.pinned_variant("matmul") {
        return MatmulVariant::from_name(name);
    }
    let Some(tuner) = gpu.tuning() else {
        return Ok(MatmulVariant::Auto);
    };
    // Only the variants that apply: one that does not would be timed as its fallback.
    let candidates: Vec<&str> = MatmulVariant::ALL
        .into_iter()
        .filter(|v| v.applies(gpu, layout, (m, n, k)))
        .map(MatmulVariant::name)
        .collect();
    // The candidates write a scratch output, allocated only when a shape class is tuned.
    let mut scratch: Option<Tensor> = None;
    let chosen = tuner.choose(&class_key(layout, (m, n, k)), &candidates, |name| {
        let options = MatmulOptions {
            layout,
            variant: MatmulVariant::from_name(name)?,
            ..MatmulOptions::default()
        };
        let out = match &mut scratch {
            Some(t) => t,
            empty => empty.insert(Tensor::zeros(gpu, &[m, n], DType::F32)?),
        };
        let launch = matmul_launch(gpu, a, b, out, &options)?;
        Ok(gpu.time_launches(&[&launch], 3)?.seconds)
    })?;
    MatmulVariant::from_name(chosen)
}

/// The autotuner's shape classes: each dimension rounded up to a power of two, and which
/// variants apply (whether the BlockedVec4 and Subgroup kernels do, and whether both operands
/// align to 4).
fn class_key(layout: MatmulLayout, (m, n, k): (usize, usize, usize)) -> String {
    let class = |x: usize| x.next_power_of_two().trailing_zeros();
    format!(
        "matmul/{layout:?}/{}/{}/{}/{}/{}/{}",
        class(m),
        class(n),
        class(k),
        vec4_applies(layout, n, k),
        operands_align_to_4(layout, (m, n, k)),
        subgroup_applies(layout, (m, n, k))
    )
}

/// `op(A)·op(B)` (with the epilogue of `options`) as a new `[M, N]` tensor.
///
/// ```no_run
/// # use wgsl_train::{Gpu, Tensor, kernels::matmul::{matmul, MatmulOptions}};
/// # fn main() -> wgsl_train::Result<()> {
/// let gpu = Gpu::new()?;
/// let a = Tensor::from_slice(&gpu, &[2, 2], &[1.0f32, 2.0, 3.0, 4.0])?;
/// let b = Tensor::from_slice(&gpu, &[2, 1], &[1.0f32, 1.0])?;
/// let c = matmul(&gpu, &a, &b, &MatmulOptions::default())?;
/// assert_eq!(c.to_vec::<f32>(&gpu)?, vec![3.0, 7.0]);
/// # Ok(()) }
/// ```
///
/// # Errors
/// As [`matmul_launch`]; `accumulate` is refused here, as the new output holds nothing.
pub fn matmul(gpu: &Gpu, a: &Tensor, b: &Tensor, options: &MatmulOptions) -> Result<Tensor> {
    if options.accumulate {
        return Err(Error::InvalidArgument {
            op: "matmul",
            detail: "accumulate needs an existing output: use matmul_launch".into(),
        });
    }
    let (m, n, _) = matmul_dims(a, b, options.layout)?;
    let c = Tensor::zeros(gpu, &[m, n], DType::F32)?;
    gpu.run(&matmul_launch(gpu, a, b, &c, options)?)?;
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::super::seam::{assert_mirrors, mirror};
    use super::*;

    #[test]
    fn the_params_match_wgsl() {
        for shader in [Shader::Matmul, Shader::MatmulSubgroup] {
            assert_mirrors(shader, "MatmulParams", mirror!(MatmulParams { m, n, k }));
        }
    }
}
