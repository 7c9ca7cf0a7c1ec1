//! How a network's weights start: `nn.Linear`'s default, or one of `torch.nn.init`'s Xavier
//! and Kaiming draws, with PyTorch's gains, fans and bounds.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// How each Linear layer's weight is drawn, as `torch.nn.init` defines it. Biases always start
/// as `nn.Linear` starts them (uniform in ±1/√fan_in), which is what a PyTorch user who calls
/// `nn.init.xavier_uniform_(layer.weight)` gets. The fans of a weight `[out, in]` are
/// `fan_in = in`, `fan_out = out`.
///
/// Written (CLI `--init`, checkpoints) as `default`, `xavier_uniform`, `xavier_normal`,
/// `kaiming_uniform` or `kaiming_normal`, with settings after a colon: `gain=G` for Xavier (a
/// number, or a nonlinearity's name for `calculate_gain` of it), `a=A`, `mode=fan_in|fan_out`
/// and `nonlinearity=NAME` for Kaiming. Settings left out take PyTorch's defaults.
///
/// ```
/// use wgsl_train::nn::{FanMode, Init, Kaiming, Nonlinearity};
/// let init: Init = "kaiming_normal:mode=fan_out,nonlinearity=relu".parse()?;
/// assert_eq!(
///     init,
///     Init::KaimingNormal(Kaiming { a: 0.0, mode: FanMode::FanOut, nonlinearity: Nonlinearity::Relu })
/// );
/// let tanh: Init = "xavier_uniform:gain=tanh".parse()?;
/// assert_eq!(tanh, Init::XavierUniform { gain: 5.0 / 3.0 });
/// // uniform in ±gain·√(6 / (fan_in + fan_out))
/// assert_eq!(Init::XavierUniform { gain: 1.0 }.weight_bound(20, 5), Some((6.0f64 / 25.0).sqrt()));
/// # Ok::<(), wgsl_train::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Init {
    /// `nn.Linear`'s own: weights uniform in ±1/√fan_in (`kaiming_uniform_` with `a = √5`).
    #[default]
    Default,
    /// `xavier_uniform_`: uniform in ±gain·√(6 / (fan_in + fan_out)).
    XavierUniform {
        /// PyTorch's default is 1.
        gain: f64,
    },
    /// `xavier_normal_`: normal with standard deviation gain·√(2 / (fan_in + fan_out)).
    XavierNormal {
        /// PyTorch's default is 1.
        gain: f64,
    },
    /// `kaiming_uniform_`: uniform in ±√3·gain/√fan.
    KaimingUniform(Kaiming),
    /// `kaiming_normal_`: normal with standard deviation gain/√fan.
    KaimingNormal(Kaiming),
}

/// The settings of the Kaiming (He) draws; `Default` is PyTorch's (`a = 0`, `fan_in`,
/// `leaky_relu`, whose gain is then √2).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Kaiming {
    /// The negative slope the gain assumes for `leaky_relu` (ignored by the other
    /// nonlinearities).
    pub a: f64,
    /// Which fan the variance is kept over.
    pub mode: FanMode,
    /// Whose gain: `calculate_gain(nonlinearity, a)`.
    pub nonlinearity: Nonlinearity,
}

/// `mode` of the Kaiming draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FanMode {
    /// Keeps the forward pass's variance (the layer's inputs).
    #[default]
    FanIn,
    /// Keeps the backward pass's variance (the layer's outputs).
    FanOut,
}

/// The nonlinearities `torch.nn.init.calculate_gain` knows (its convolution names all give 1,
/// as `linear` does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Nonlinearity {
    /// Gain 1.
    Linear,
    /// Gain 1.
    Sigmoid,
    /// Gain 5/3.
    Tanh,
    /// Gain √2.
    Relu,
    /// Gain √(2 / (1 + slope²)), the slope being Kaiming's `a` (0.01 where none is given).
    #[default]
    LeakyRelu,
    /// Gain 3/4.
    Selu,
}

impl Nonlinearity {
    const NAMES: [(&'static str, Nonlinearity); 6] = [
        ("linear", Nonlinearity::Linear),
        ("sigmoid", Nonlinearity::Sigmoid),
        ("tanh", Nonlinearity::Tanh),
        ("relu", Nonlinearity::Relu),
        ("leaky_relu", Nonlinearity::LeakyRelu),
        ("selu", Nonlinearity::Selu),
    ];

    /// `torch.nn.init.calculate_gain(self, slope)`; `slope` matters for `leaky_relu` only
    /// (`None` is PyTorch's 0.01).
    pub fn gain(self, slope: Option<f64>) -> f64 {
        match self {
            Nonlinearity::Linear | Nonlinearity::Sigmoid => 1.0,
            Nonlinearity::Tanh => 5.0 / 3.0,
            Nonlinearity::Relu => 2f64.sqrt(),
            Nonlinearity::LeakyRelu => {
                let slope = slope.unwrap_or(0.01);
                (2.0 / (1.0 + slope * slope)).sqrt()
            }
            Nonlinearity::Selu => 3.0 / 4.0,
        }
    }

    fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(_, n)| *n == self)
            .map_or("linear", |(name, _)| name)
    }
}

/// How a layer's weights are drawn once its fans are known.
pub(crate) enum Draw {
    Uniform { bound: f64 },
    Normal { std: f64 },
}

impl Init {
    /// The draw for a weight of `fan_in` inputs and `fan_out` outputs, with PyTorch's
    /// arithmetic (in f64, as Python's floats are).
    pub(crate) fn draw(self, fan_in: usize, fan_out: usize) -> Draw {
        let (fan_in, fan_out) = (fan_in as f64, fan_out as f64);
        let kaiming_std = |k: Kaiming| {
            let fan = match k.mode {
                FanMode::FanIn => fan_in,
                FanMode::FanOut => fan_out,
            };
            k.nonlinearity.gain(Some(k.a)) / fan.sqrt()
        };
        match self {
            // In f32, as this crate has always drawn it (the same bound as PyTorch's to
            // within an ulp, and the same weights as every model trained before).
            Init::Default => Draw::Uniform {
                bound: f64::from(1.0 / (fan_in as f32).sqrt()),
            },
            Init::XavierUniform { gain } => Draw::Uniform {
                bound: gain * (6.0 / (fan_in + fan_out)).sqrt(),
            },
            Init::XavierNormal { gain } => Draw::Normal {
                std: gain * (2.0 / (fan_in + fan_out)).sqrt(),
            },
            Init::KaimingUniform(k) => Draw::Uniform {
                bound: 3f64.sqrt() * kaiming_std(k),
            },
            Init::KaimingNormal(k) => Draw::Normal {
                std: kaiming_std(k),
            },
        }
    }

    /// Checks the settings as parsing does: a gain finite and > 0, Kaiming's `a` finite.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the setting.
    pub fn validate(self) -> Result<()> {
        let bad = |detail: String| Err(Error::InvalidArgument { op: "init", detail });
        match self {
            Init::XavierUniform { gain } | Init::XavierNormal { gain }
                if !(gain.is_finite() && gain > 0.0) =>
            {
                bad(format!("{self:?}: the gain must be finite and positive"))
            }
            Init::KaimingUniform(k) | Init::KaimingNormal(k) if !k.a.is_finite() => {
                bad(format!("{self:?}: a must be finite"))
            }
            _ => Ok(()),
        }
    }

    /// The bound of a uniform draw's weights for these fans (`None` for a normal draw).
    pub fn weight_bound(self, fan_in: usize, fan_out: usize) -> Option<f64> {
        match self.draw(fan_in, fan_out) {
            Draw::Uniform { bound } => Some(bound),
            Draw::Normal { .. } => None,
        }
    }

    /// The standard deviation of the weights for these fans: `bound/√3` for a uniform draw.
    pub fn weight_std(self, fan_in: usize, fan_out: usize) -> f64 {
        match self.draw(fan_in, fan_out) {
            Draw::Uniform { bound } => bound / 3f64.sqrt(),
            Draw::Normal { std } => std,
        }
    }
}

impl fmt::Display for Kaiming {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut settings = Vec::new();
        if self.a != 0.0 {
            settings.push(format!("a={}", self.a));
        }
        if self.mode == FanMode::FanOut {
            settings.push("mode=fan_out".to_string());
        }
        if self.nonlinearity != Nonlinearity::LeakyRelu {
            settings.push(format!("nonlinearity={}", self.nonlinearity.name()));
        }
        if !settings.is_empty() {
            write!(f, ":{}", settings.join(","))?;
        }
        Ok(())
    }
}

impl fmt::Display for Init {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let xavier = |f: &mut fmt::Formatter<'_>, name: &str, gain: f64| {
            f.write_str(name)?;
            if gain != 1.0 {
                write!(f, ":gain={gain}")?;
            }
            Ok(())
        };
        match self {
            Init::Default => f.write_str("default"),
            Init::XavierUniform { gain } => xavier(f, "xavier_uniform", *gain),
            Init::XavierNormal { gain } => xavier(f, "xavier_normal", *gain),
            Init::KaimingUniform(k) => write!(f, "kaiming_uniform{k}"),
            Init::KaimingNormal(k) => write!(f, "kaiming_normal{k}"),
        }
    }
}

impl FromStr for Init {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let bad = |detail: String| Error::InvalidArgument { op: "init", detail };
        let (name, settings) = match text.trim().split_once(':') {
            Some((name, settings)) => (name.trim(), Some(settings)),
            None => (text.trim(), None),
        };
        let settings: Vec<(&str, &str)> = settings
            .into_iter()
            .flat_map(|s| s.split(','))
            .map(|pair| {
                pair.split_once('=')
                    .map(|(k, v)| (k.trim(), v.trim()))
                    .ok_or_else(|| bad(format!("{text:?}: {pair:?} is not NAME=VALUE")))
            })
            .collect::<Result<_>>()?;
        let number = |key: &str, value: &str| {
            value
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| bad(format!("{text:?}: {key}={value:?} is not a finite number")))
        };
        let nonlinearity = |value: &str| {
            Nonlinearity::NAMES
                .iter()
                .find(|(name, _)| *name == value)
                .map(|(_, n)| *n)
                .ok_or_else(|| {
                    bad(format!(
                        "{text:?}: {value:?} is not a nonlinearity calculate_gain knows: linear, sigmoid, tanh, relu, leaky_relu or selu"
                    ))
                })
        };
        let unknown =
            |key: &str, known: &str| bad(format!("{text:?}: {name} takes {known}, not {key:?}"));
        match name {
            "default" if settings.is_empty() => Ok(Init::Default),
            "default" => Err(bad(format!("{text:?}: default takes no settings"))),
            "xavier_uniform" | "xavier_normal" => {
                let mut gain = 1.0;
                for (key, value) in settings {
                    if key != "gain" {
                        return Err(unknown(key, "gain"));
                    }
                    gain = match value.parse::<f64>() {
                        Ok(_) => number(key, value)?,
                        Err(_) => nonlinearity(value)?.gain(None),
                    };
                }
                if gain <= 0.0 {
                    return Err(bad(format!("{text:?}: the gain must be positive")));
                }
                Ok(if name == "xavier_uniform" {
                    Init::XavierUniform { gain }
                } else {
                    Init::XavierNormal { gain }
                })
            }
            "kaiming_uniform" | "kaiming_normal" => {
                let mut k = Kaiming::default();
                for (key, value) in settings {
                    match key {
                        "a" => k.a = number(key, value)?,
                        "mode" => {
                            k.mode = match value {
                                "fan_in" => FanMode::FanIn,
                                "fan_out" => FanMode::FanOut,
                                _ => {
                                    return Err(bad(format!(
                                        "{text:?}: mode is fan_in or fan_out, not {value:?}"
                                    )))
                                }
                            }
                        }
                        "nonlinearity" => k.nonlinearity = nonlinearity(value)?,
                        _ => return Err(unknown(key, "a, mode and nonlinearity")),
                    }
                }
                Ok(if name == "kaiming_uniform" {
                    Init::KaimingUniform(k)
                } else {
                    Init::KaimingNormal(k)
                })
            }
            _ => Err(bad(format!(
                "{text:?} is not an initialisation: default, xavier_uniform, xavier_normal, kaiming_uniform or kaiming_normal"
            ))),
        }
    }
}

impl From<Init> for String {
    fn from(init: Init) -> String {
        init.to_string()
    }
}

impl TryFrom<String> for Init {
    type Error = Error;

    fn try_from(text: String) -> Result<Self> {
        text.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for text in [
            "default",
            "xavier_uniform",
            "xavier_normal:gain=0.5",
            "kaiming_uniform",
            "kaiming_normal:a=0.2,mode=fan_out,nonlinearity=tanh",
            "kaiming_uniform:nonlinearity=relu",
        ] {
            let init: Init = text.parse().unwrap();
            assert_eq!(init.to_string(), text);
            let json = serde_json::to_string(&init).unwrap();
            assert_eq!(serde_json::from_str::<Init>(&json).unwrap(), init);
        }
    }

    /// Settings built in code, not parsed, are checked too.
    #[test]
    fn bad_settings_built_directly_are_refused() {
        for bad in [
            Init::XavierUniform { gain: -1.0 },
            Init::XavierNormal { gain: f64::NAN },
            Init::KaimingNormal(Kaiming {
                a: f64::INFINITY,
                ..Kaiming::default()
            }),
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
        for good in ["default", "xavier_normal:gain=0.5", "kaiming_uniform:a=0.2"] {
            good.parse::<Init>().unwrap().validate().unwrap();
        }
    }

    #[test]
    fn bad_names_and_settings_are_refused_by_name() {
        for (text, says) in [
            ("glorot", "not an initialisation"),
            ("default:gain=2", "takes no settings"),
            ("xavier_uniform:gain=0", "positive"),
            ("xavier_uniform:gain=nan", "finite"),
            ("xavier_uniform:gain=swish", "not a nonlinearity"),
            ("xavier_uniform:mode=fan_in", "takes gain"),
            ("kaiming_normal:mode=fan_both", "fan_in or fan_out"),
            ("kaiming_normal:nonlinearity=gelu", "calculate_gain knows"),
            ("kaiming_normal:a", "NAME=VALUE"),
            ("kaiming_normal:a=inf", "finite"),
        ] {
            let message = text.parse::<Init>().unwrap_err().to_string();
            assert!(message.contains(says), "{text}: {message}");
        }
    }
}
