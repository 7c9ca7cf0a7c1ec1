//! Activations forward and backward (`shaders/activation.wgsl`, formulas in
//! `shaders/formulas.wgsl`), and [`Activation`], the choice every path takes.

use std::fmt;
use std::str::FromStr;

use bytemuck::{Pod, Zeroable};

use super::{dim, grid, groups_for, workgroup_constant, Shader};
use crate::error::{Error, Result};
use crate::gpu::{Binding, DType, Dispatch, Gpu, KernelSpec, Launch, Tensor};

/// The nonlinearity after a hidden layer, as PyTorch's `nn` modules compute it. In JSON and
/// on the command line: `relu`, `leaky_relu` (slope 0.01) or `leaky_relu:0.2`, `tanh`,
/// `sigmoid`, `gelu`, `gelu_tanh`, `silu`.
///
/// ```
/// use wgsl_train::nn::Activation;
/// let a: Activation = "leaky_relu:0.2".parse().unwrap();
/// assert_eq!(a, Activation::LeakyRelu { negative_slope: 0.2 });
/// assert_eq!(a.to_string(), "leaky_relu:0.2");
/// assert_eq!(Activation::default(), Activation::Relu);
/// ```
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Activation {
    /// `max(z, 0)`, with gradient 0 at 0 (`nn.ReLU`).
    #[default]
    Relu,
    /// `z` for `z > 0`, else `negative_slope·z` (`nn.LeakyReLU`; PyTorch's default slope
    /// is 0.01), with the negative side's gradient at 0.
    LeakyRelu {
        /// The slope for `z ≤ 0`.
        negative_slope: f32,
    },
    /// `tanh(z)` (`nn.Tanh`).
    Tanh,
    /// `1 / (1 + e^−z)` (`nn.Sigmoid`).
    Sigmoid,
    /// `z·Φ(z)`, Φ the standard normal CDF (`nn.GELU()`, exact `erf`).
    Gelu,
    /// `z/2·(1 + tanh(√(2/π)·(z + 0.044715·z³)))` (`nn.GELU(approximate='tanh')`).
    GeluTanh,
    /// `z·σ(z)` (`nn.SiLU`).
    Silu,
}

// The slope compares by its bits, as it hashes, so that every activation is equal to itself
// and −0.0 and 0.0 are two slopes (kernels are cached by it, and it reaches them as bits).
impl PartialEq for Activation {
    fn eq(&self, other: &Self) -> bool {
        self.code() == other.code()
            && self.negative_slope().to_bits() == other.negative_slope().to_bits()
    }
}

impl Eq for Activation {}

impl std::hash::Hash for Activation {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.code().hash(state);
        self.negative_slope().to_bits().hash(state);
    }
}

/// PyTorch's default `negative_slope` of `nn.LeakyReLU`.
pub const DEFAULT_NEGATIVE_SLOPE: f32 = 0.01;

impl Activation {
    /// Every kind, LeakyReLU with PyTorch's default slope.
    pub const ALL: [Activation; 7] = [
        Activation::Relu,
        Activation::LeakyRelu {
            negative_slope: DEFAULT_NEGATIVE_SLOPE,
        },
        Activation::Tanh,
        Activation::Sigmoid,
        Activation::Gelu,
        Activation::GeluTanh,
        Activation::Silu,
    ];

    /// The kind's code in the shaders (`ACT_*` in `formulas.wgsl`).
    pub(crate) fn code(self) -> u32 {
        match self {
            Activation::Relu => 0,
            Activation::LeakyRelu { .. } => 1,
            Activation::Tanh => 2,
            Activation::Sigmoid => 3,
            Activation::Gelu => 4,
            Activation::GeluTanh => 5,
            Activation::Silu => 6,
        }
    }

    /// LeakyReLU's slope; 0 for the others (the shaders' `negative_slope`).
    pub(crate) fn negative_slope(self) -> f32 {
        match self {
            Activation::LeakyRelu { negative_slope } => negative_slope,
            _ => 0.0,
        }
    }

    /// The WGSL expression `f(z)` for the expression `z`: a call of formulas.wgsl's function
    /// of this activation, for kernels generated knowing it (LeakyReLU's slope by its bits, so
    /// that no decimal rounding enters).
    pub(crate) fn wgsl_forward(self, z: &str) -> String {
        match self {
            Activation::Relu => format!("relu({z})"),
            Activation::LeakyRelu { negative_slope } => {
                format!(
                    "leaky_relu({z}, bitcast<f32>({}u))",
                    negative_slope.to_bits()
                )
            }
            Activation::Tanh => format!("tanh_exact({z})"),
            Activation::Sigmoid => format!("sigmoid({z})"),
            Activation::Gelu => format!("gelu({z})"),
            Activation::GeluTanh => format!("gelu_tanh({z})"),
            Activation::Silu => format!("silu({z})"),
        }
    }

    /// The WGSL expression `f'(z)·upstream`, as [`Activation::wgsl_forward`].
    pub(crate) fn wgsl_backward(self, z: &str, upstream: &str) -> String {
        match self {
            Activation::Relu => format!("relu_grad({z}, {upstream})"),
            Activation::LeakyRelu { negative_slope } => format!(
                "leaky_relu_grad({z}, {upstream}, bitcast<f32>({}u))",
                negative_slope.to_bits()
            ),
            Activation::Tanh => format!("tanh_grad({z}, {upstream})"),
            Activation::Sigmoid => format!("sigmoid_grad({z}, {upstream})"),
            Activation::Gelu => format!("gelu_grad({z}, {upstream})"),
            Activation::GeluTanh => format!("gelu_tanh_grad({z}, {upstream})"),
            Activation::Silu => format!("silu_grad({z}, {upstream})"),
        }
    }

    /// Whether `f(z) > 0` exactly where `z > 0` and `f'` depends on nothing else, so that the
    /// backward pass may read the layer's output in place of its pre-activation (no extra
    /// buffer): ReLU, and LeakyReLU with a slope ≥ 0.
    pub(crate) fn backward_reads_output(self) -> bool {
        match self {
            Activation::Relu => true,
            Activation::LeakyRelu { negative_slope } => negative_slope >= 0.0,
            _ => false,
        }
    }

    /// The layer's name as PyTorch's `nn` module class.
    pub fn torch_name(self) -> &'static str {
        match self {
            Activation::Relu => "ReLU",
            Activation::LeakyRelu { .. } => "LeakyReLU",
            Activation::Tanh => "Tanh",
            Activation::Sigmoid => "Sigmoid",
            Activation::Gelu | Activation::GeluTanh => "GELU",
            Activation::Silu => "SiLU",
        }
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Activation::Relu => f.write_str("relu"),
            Activation::LeakyRelu { negative_slope } => write!(f, "leaky_relu:{negative_slope}"),
            Activation::Tanh => f.write_str("tanh"),
            Activation::Sigmoid => f.write_str("sigmoid"),
            Activation::Gelu => f.write_str("gelu"),
            Activation::GeluTanh => f.write_str("gelu_tanh"),
            Activation::Silu => f.write_str("silu"),
        }
    }
}

impl FromStr for Activation {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let bad = |detail: String| Error::InvalidArgument {
            op: "activation",
            detail,
        };
        let (name, slope) = match text.trim().split_once(':') {
            Some((name, slope)) => (name, Some(slope)),
            None => (text.trim(), None),
        };
        let plain = match name {
            "relu" => Activation::Relu,
            "tanh" => Activation::Tanh,
            "sigmoid" => Activation::Sigmoid,
            "gelu" => Activation::Gelu,
            "gelu_tanh" => Activation::GeluTanh,
            "silu" => Activation::Silu,
            "leaky_relu" => {
                let negative_slope = match slope {
                    None => DEFAULT_NEGATIVE_SLOPE,
                    Some(s) => s
                        .trim()
                        .parse::<f32>()
                        .ok()
                        .filter(|v| v.is_finite())
                        .ok_or_else(|| {
                            bad(format!("{text:?}: the slope {s:?} is not a finite number"))
                        })?,
                };
                return Ok(Activation::LeakyRelu { negative_slope });
            }
            _ => {
                return Err(bad(format!(
                    "{text:?} is not an activation: relu, leaky_relu (or leaky_relu:SLOPE), tanh, sigmoid, gelu, gelu_tanh or silu"
                )))
            }
        };
        if slope.is_some() {
            return Err(bad(format!("{text:?}: only leaky_relu takes a slope")));
        }
        Ok(plain)
    }
}

impl From<Activation> for String {
    fn from(a: Activation) -> String {
        a.to_string()
    }
}

impl TryFrom<String> for Activation {
    type Error = Error;

    fn try_from(text: String) -> Result<Self> {
        text.parse()
    }
}

/// Mirrors `ActivationParams` in `activation.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
struct ActivationParams {
    n: u32,
    kind: u32,
    negative_slope: f32,
    _pad0: u32,
}

fn spec(entry: &'static str, bindings: &'static [(u32, Binding)]) -> KernelSpec {
    KernelSpec {
        shader: Shader::Activation.code(),
        entry,
        bindings,
        constants: vec![workgroup_constant()],
    }
}

fn same_shape(op: &'static str, a: &Tensor, b: &Tensor) -> Result<()> {
    a.expect_dtype(op, "the input", DType::F32)?;
    b.expect_dtype(op, "the output", DType::F32)?;
    if a.shape() != b.shape() {
        return Err(Error::ShapeMismatch {
            op,
            detail: "both tensors must have the same shape".into(),
            lhs: a.shape().to_vec(),
            rhs: b.shape().to_vec(),
        });
    }
    Ok(())
}

fn params(op: &'static str, n: usize, activation: Activation) -> Result<ActivationParams> {
    Ok(ActivationParams {
        n: dim(op, n)?,
        kind: activation.code(),
        negative_slope: activation.negative_slope(),
        _pad0: 0,
    })
}

/// Prepares `y = f(x)`.
///
/// # Errors
/// [`Error::ShapeMismatch`] unless `x` and `y` have the same shape; [`Error::DType`] unless
/// both are f32.
pub fn activation_launch(
    gpu: &Gpu,
    activation: Activation,
    x: &Tensor,
    y: &Tensor,
) -> Result<Launch> {
    same_shape("activation", x, y)?;
    const BINDINGS: &[(u32, Binding)] = &[
        (0, Binding::ReadOnly),
        (2, Binding::ReadWrite),
        (3, Binding::Uniform),
    ];
    let dispatch = Dispatch::new(
        gpu,
        &spec("activation_forward_kernel", BINDINGS),
        &[x, y],
        &params("activation", x.len(), activation)?,
        grid(groups_for(x.len())),
    )?;
    Ok(Launch::new(vec![dispatch]))
}

/// `f(x)` as a new tensor.
///
/// # Errors
/// As [`activation_launch`].
pub fn activate(gpu: &Gpu, activation: Activation, x: &Tensor) -> Result<Tensor> {
    let y = Tensor::zeros(gpu, x.shape(), DType::F32)?;
    gpu.run(&activation_launch(gpu, activation, x, &y)?)?;
    Ok(y)
}

/// Prepares `grad_in = f'(pre)·grad_out`.
///
/// # Errors
/// [`Error::ShapeMismatch`] unless all three tensors have the same shape.
pub fn activation_backward_launch(
    gpu: &Gpu,
    activation: Activation,
    grad_out: &Tensor,
    pre: &Tensor,
    grad_in: &Tensor,
) -> Result<Launch> {
    let op = "activation_backward";
    same_shape(op, grad_out, pre)?;
    same_shape(op, grad_out, grad_in)?;
    const BINDINGS: &[(u32, Binding)] = &[
        (0, Binding::ReadOnly),
        (1, Binding::ReadOnly),
        (2, Binding::ReadWrite),
        (3, Binding::Uniform),
    ];
    let dispatch = Dispatch::new(
        gpu,
        &spec("activation_backward_kernel", BINDINGS),
        &[grad_out, pre, grad_in],
        &params(op, pre.len(), activation)?,
        grid(groups_for(pre.len())),
    )?;
    Ok(Launch::new(vec![dispatch]))
}

/// `f'(pre)·grad_out` as a new tensor.
///
/// # Errors
/// As [`activation_backward_launch`].
pub fn activate_backward(
    gpu: &Gpu,
    activation: Activation,
    grad_out: &Tensor,
    pre: &Tensor,
) -> Result<Tensor> {
    let grad_in = Tensor::zeros(gpu, pre.shape(), DType::F32)?;
    gpu.run(&activation_backward_launch(
        gpu, activation, grad_out, pre, &grad_in,
    )?)?;
    Ok(grad_in)
}

/// `max(x, 0)` as a new tensor: [`activate`] with [`Activation::Relu`].
///
/// # Errors
/// As [`activation_launch`].
pub fn relu(gpu: &Gpu, x: &Tensor) -> Result<Tensor> {
    activate(gpu, Activation::Relu, x)
}

/// `grad_out` where `pre > 0`, else 0 (also at exactly 0): [`activate_backward`] with
/// [`Activation::Relu`].
///
/// # Errors
/// As [`activation_backward_launch`].
pub fn relu_backward(gpu: &Gpu, grad_out: &Tensor, pre: &Tensor) -> Result<Tensor> {
    activate_backward(gpu, Activation::Relu, grad_out, pre)
}

#[cfg(test)]
mod tests {
    use super::super::seam::{assert_constants, assert_mirrors, mirror};
    use super::*;

    #[test]
    fn the_params_match_wgsl() {
        let params = mirror!(ActivationParams {
            n,
            kind,
            negative_slope
        });
        assert_mirrors(Shader::Activation, "ActivationParams", params);
    }

    #[test]
    fn the_codes_match_wgsl() {
        let names = [
            "ACT_RELU",
            "ACT_LEAKY_RELU",
            "ACT_TANH",
            "ACT_SIGMOID",
            "ACT_GELU",
            "ACT_GELU_TANH",
            "ACT_SILU",
        ];
        let codes: Vec<(&str, u32)> = names
            .into_iter()
            .zip(Activation::ALL.map(Activation::code))
            .collect();
        assert_constants(Shader::Activation, &codes);
    }

    #[test]
    fn names_round_trip_and_bad_ones_are_refused() {
        for a in Activation::ALL.into_iter().chain([Activation::LeakyRelu {
            negative_slope: -0.25,
        }]) {
            assert_eq!(a.to_string().parse::<Activation>().unwrap(), a);
            let json = serde_json::to_string(&a).unwrap();
            assert_eq!(serde_json::from_str::<Activation>(&json).unwrap(), a);
        }
        assert_eq!(
            "leaky_relu".parse::<Activation>().unwrap(),
            Activation::LeakyRelu {
                negative_slope: 0.01
            }
        );
        for bad in ["swish", "tanh:0.1", "leaky_relu:x", "leaky_relu:inf", ""] {
            let err = bad.parse::<Activation>().unwrap_err();
            assert!(err.to_string().contains(bad), "{bad}: {err}");
        }
    }

    /// Equal activations hash alike (a kernel cache keyed by them relies on it): slopes of
    /// −0.0 and 0.0 are different bits, so different activations.
    #[test]
    fn equality_agrees_with_the_hash() {
        use std::hash::{BuildHasher, RandomState};
        let hasher = RandomState::new();
        let leaky = |negative_slope| Activation::LeakyRelu { negative_slope };
        let pairs = [
            (leaky(0.0), leaky(-0.0)),
            (leaky(0.2), leaky(0.2)),
            (Activation::Relu, Activation::Relu),
            (Activation::Relu, leaky(0.0)),
        ];
        for (a, b) in pairs {
            assert_eq!(
                a == b,
                hasher.hash_one(a) == hasher.hash_one(b),
                "{a:?} {b:?}"
            );
        }
        assert_ne!(leaky(0.0), leaky(-0.0));
        assert_eq!("leaky_relu:-0".parse::<Activation>().unwrap(), leaky(-0.0));
    }
}
