//! The multilayer perceptron: linear layers with an activation after each hidden one (ReLU
//! unless chosen) and a linear output, its
//! parameters in flat GPU storage named as a PyTorch `nn.Sequential` of the same layers.

pub(crate) mod graph;
mod init;

use crate::data::{Dataset, Task};
use crate::error::{Error, Result};
use crate::gpu::{block_on, Gpu, Tensor};
/// The activation a network applies after each hidden layer (declared with its kernels).
pub use crate::kernels::activation::{Activation, DEFAULT_NEGATIVE_SLOPE};
use crate::kernels::dropout::check_dropout;
use crate::kernels::loss::LossKind;
/// PyTorch's weights on the loss's terms (declared with the loss kernel).
pub use crate::kernels::loss::LossWeights;
use crate::optim::{ParamId, ParamStore};
use crate::rng::SeededRng;
use init::Draw;
pub use init::{FanMode, Init, Kaiming, Nonlinearity};

/// A named parameter tensor on the host, as in a PyTorch `state_dict`.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedTensor {
    /// `0.weight`, `0.bias`, `2.weight`, …
    pub name: String,
    /// `[out_features, in_features]` for weights, `[out_features]` for biases.
    pub shape: Vec<usize>,
    /// Row-major values.
    pub data: Vec<f32>,
}

/// An MLP: `sizes[0]` inputs, hidden layers of `sizes[1..n-1]` units each followed by its
/// activation (ReLU unless [`Mlp::with_activations`] says otherwise), and `sizes[n-1]` linear
/// outputs. Layer `i` is PyTorch's `nn.Sequential` entry `2i` (the activations sit at the odd
/// indices), so its parameters are `{2i}.weight` `[out, in]` and `{2i}.bias`.
///
/// ```no_run
/// # use wgsl_train::{Gpu, data::Task, nn::{Activation, Mlp}};
/// # fn main() -> wgsl_train::Result<()> {
/// let gpu = Gpu::new()?;
/// let mlp = Mlp::new(&gpu, &[10, 16, 8, 1], Task::Regression, 42)?
///     .with_activations(&[Activation::Gelu, Activation::Tanh])?;
/// assert_eq!(mlp.param_names(), ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Mlp {
    sizes: Vec<usize>,
    /// One per hidden layer.
    activations: Vec<Activation>,
    /// The drop probability after each hidden layer's activation (0: no Dropout layer).
    dropout: Vec<f32>,
    init: Init,
    task: Task,
    loss_weights: LossWeights,
    params: ParamStore,
    linears: Vec<Linear>,
}

/// The parameters of one linear layer, as ids into the model's [`ParamStore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Linear {
    /// `[out_features, in_features]`.
    pub weight: ParamId,
    /// `[out_features]`.
    pub bias: ParamId,
}

impl Mlp {
    /// A new MLP initialised as PyTorch's `nn.Linear` does (weights and biases uniform in
    /// [−1/√fan_in, 1/√fan_in)), from `seed`: the same values on every machine and version.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for fewer than two sizes, a zero size, or an output size
    /// that does not fit the task (1 for regression and binary, the class count ≥ 2 for
    /// multiclass).
    pub fn new(gpu: &Gpu, sizes: &[usize], task: Task, seed: u64) -> Result<Self> {
        Self::new_with_init(gpu, sizes, task, Init::Default, seed)
    }

    /// As [`Mlp::new`], the weights drawn as `init` says (`torch.nn.init`'s Xavier or Kaiming
    /// draws; biases as `nn.Linear` draws them).
    ///
    /// ```no_run
    /// # use wgsl_train::{Gpu, data::Task, nn::{Activation, Init, Mlp}};
    /// # fn main() -> wgsl_train::Result<()> {
    /// let gpu = Gpu::new()?;
    /// let init: Init = "kaiming_uniform:nonlinearity=relu".parse()?;
    /// let mlp = Mlp::new_with_init(&gpu, &[10, 16, 1], Task::Regression, init, 42)?;
    /// assert_eq!(mlp.init(), init);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Mlp::new`]; [`Error::InvalidArgument`] for an `init` whose gain is not finite and
    /// positive or whose `a` is not finite.
    pub fn new_with_init(
        gpu: &Gpu,
        sizes: &[usize],
        task: Task,
        init: Init,
        seed: u64,
    ) -> Result<Self> {
        let op = "Mlp::new";
        init.validate()?;
        if sizes.len() < 2 || sizes.contains(&0) {
            return Err(Error::InvalidArgument {
                op,
                detail: format!(
                    "layer sizes must be at least [inputs, outputs], all non-zero; got {sizes:?}"
                ),
            });
        }
        let outputs = sizes[sizes.len() - 1];
        let fits = match task {
            Task::Regression | Task::Binary => outputs == 1,
            Task::Multiclass => outputs >= 2,
        };
        if !fits {
            return Err(Error::InvalidArgument {
                op,
                detail: format!(
                    "{task} needs {} outputs, the sizes {sizes:?} give {outputs}",
                    match task {
                        Task::Multiclass => "one per class (≥ 2)",
                        _ => "1",
                    }
                ),
            });
        }
        let names = param_names(sizes, &[]);
        let shapes = param_shapes(sizes);
        let specs: Vec<(&str, &[usize])> = names
            .iter()
            .map(String::as_str)
            .zip(shapes.iter().map(Vec::as_slice))
            .collect();
        let params = ParamStore::new(gpu, &specs)?;
        let linears = (0..sizes.len() - 1)
            .map(|l| {
                Ok(Linear {
                    weight: params.id(&names[2 * l])?,
                    bias: params.id(&names[2 * l + 1])?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let values = initial_values(sizes, init, seed);
        for (linear, [weight, bias]) in linears.iter().zip(values) {
            params.value_of(linear.weight).write(gpu, &weight)?;
            params.value_of(linear.bias).write(gpu, &bias)?;
        }
        Ok(Self {
            sizes: sizes.to_vec(),
            activations: vec![Activation::Relu; sizes.len() - 2],
            dropout: vec![0.0; sizes.len() - 2],
            init,
            task,
            loss_weights: LossWeights::None,
            params,
            linears,
        })
    }

    /// The same model with these activations after its hidden layers: one for all of them, or
    /// one each (the parameters are unchanged).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when `activations` is neither one nor one per hidden layer.
    pub fn with_activations(mut self, activations: &[Activation]) -> Result<Self> {
        self.activations = per_hidden_layer("Mlp::with_activations", activations, &self.sizes)?;
        Ok(self)
    }

    /// The same model with `nn.Dropout(p)` after these hidden layers' activations: one
    /// probability for all of them, or one each (0 for none). In training each of the layer's
    /// outputs is zeroed with probability p and the rest scaled by 1/(1 − p), PyTorch's
    /// inverted dropout, the masks drawn as [`DropoutKey`](crate::kernels::dropout::DropoutKey)
    /// says; in prediction and validation the layer is the identity. The parameters are
    /// renamed as PyTorch's `nn.Sequential` with the Dropout layers names them (a Linear
    /// layer's index counts the Dropout layers before it).
    ///
    /// ```no_run
    /// # use wgsl_train::{Gpu, data::Task, nn::{Activation, Mlp}};
    /// # fn main() -> wgsl_train::Result<()> {
    /// let gpu = Gpu::new()?;
    /// // nn.Sequential(Linear(10, 16), GELU(), Dropout(0.2), Linear(16, 1))
    /// let mlp = Mlp::new(&gpu, &[10, 16, 1], Task::Regression, 42)?
    ///     .with_activations(&[Activation::Gelu])?
    ///     .with_dropout(&[0.2])?;
    /// assert_eq!(mlp.param_names(), ["0.weight", "0.bias", "3.weight", "3.bias"]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a probability outside `[0, 1)`, or neither one nor one
    /// per hidden layer.
    pub fn with_dropout(mut self, dropout: &[f32]) -> Result<Self> {
        let dropout = dropout_per_hidden_layer("Mlp::with_dropout", dropout, &self.sizes)?;
        self.params.rename(&param_names(&self.sizes, &dropout));
        self.dropout = dropout;
        Ok(self)
    }

    /// The drop probability after each hidden layer, first layer first (0: no dropout).
    pub fn dropout(&self) -> &[f32] {
        &self.dropout
    }

    /// The same model training on its loss with these weights: [`LossWeights::Class`], one
    /// per class, for multiclass (PyTorch's `CrossEntropyLoss(weight=…)`);
    /// [`LossWeights::Positive`], one value, for binary (`BCEWithLogitsLoss(pos_weight=…)`).
    /// Training and validation losses are weighted alike; predictions are not affected.
    ///
    /// ```no_run
    /// # use wgsl_train::{Gpu, data::Task, nn::{LossWeights, Mlp}};
    /// # fn main() -> wgsl_train::Result<()> {
    /// let gpu = Gpu::new()?;
    /// let mlp = Mlp::new(&gpu, &[4, 8, 3], Task::Multiclass, 0)?
    ///     .with_loss_weights(LossWeights::Class(vec![1.0, 2.5, 0.5]))?;
    /// assert_eq!(mlp.loss_weights().values(), Some(&[1.0, 2.5, 0.5][..]));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for weights of the other kind, of another length, or not
    /// finite and > 0.
    pub fn with_loss_weights(mut self, weights: LossWeights) -> Result<Self> {
        weights.check(self.loss_kind(), self.sizes[self.sizes.len() - 1])?;
        self.loss_weights = weights;
        Ok(self)
    }

    /// The weights on the loss's terms ([`LossWeights::None`] unless set).
    pub fn loss_weights(&self) -> &LossWeights {
        &self.loss_weights
    }

    /// How the weights were drawn when the model was made.
    pub fn init(&self) -> Init {
        self.init
    }

    /// The activation after each hidden layer, first layer first.
    pub fn activations(&self) -> &[Activation] {
        &self.activations
    }

    /// Checks that `data` fits this model: as many features as inputs, the same task, and (for
    /// classification) as many classes as outputs, so every class index has its output. The
    /// one check every path that feeds a model data uses.
    ///
    /// # Errors
    /// [`Error::ModelMismatch`] naming the setting and both values.
    pub fn check_fits(&self, data: &Dataset) -> Result<()> {
        let (inputs, outputs) = (self.sizes[0], self.sizes[self.sizes.len() - 1]);
        let detail = if data.n_features() != inputs {
            format!(
                "the data has {} features, the model {inputs} inputs",
                data.n_features()
            )
        } else if data.task() != self.task {
            format!(
                "the data is for {}, the model for {}",
                data.task(),
                self.task
            )
        } else if data.n_outputs() != outputs {
            format!(
                "the data has {} classes (class indices 0 to {}), the model {outputs} outputs",
                data.n_outputs(),
                data.n_outputs() - 1
            )
        } else {
            return Ok(());
        };
        Err(Error::ModelMismatch(detail))
    }

    /// The parameters of each linear layer, inputs first.
    pub fn linears(&self) -> &[Linear] {
        &self.linears
    }

    /// The layer sizes, inputs first.
    pub fn sizes(&self) -> &[usize] {
        &self.sizes
    }

    /// The task, which fixes the loss.
    pub fn task(&self) -> Task {
        self.task
    }

    /// The loss for the task: MSE, BCE with logits, or softmax cross-entropy.
    pub fn loss_kind(&self) -> LossKind {
        loss_for(self.task)
    }

    /// Number of linear layers.
    pub fn layers(&self) -> usize {
        self.sizes.len() - 1
    }

    /// The parameters and their gradients on the GPU.
    pub fn params(&self) -> &ParamStore {
        &self.params
    }

    /// Parameter names in order: `0.weight`, `0.bias`, `2.weight`, … (the indices of the
    /// Linear layers in the model's `nn.Sequential`, Dropout layers counted).
    pub fn param_names(&self) -> Vec<String> {
        param_names(&self.sizes, &self.dropout)
    }

    /// Downloads every parameter, named as in PyTorch.
    ///
    /// # Errors
    /// As [`Tensor::to_vec`].
    pub fn state_dict(&self, gpu: &Gpu) -> Result<Vec<NamedTensor>> {
        self.params
            .slots()
            .iter()
            .map(|slot| {
                Ok(NamedTensor {
                    name: slot.name.clone(),
                    shape: slot.shape.clone(),
                    data: self.params.read(gpu, &slot.name)?,
                })
            })
            .collect()
    }

    /// Async variant of [`Mlp::state_dict`], the one to call in a browser.
    ///
    /// # Errors
    /// As [`Mlp::state_dict`].
    pub async fn state_dict_async(&self, gpu: &Gpu) -> Result<Vec<NamedTensor>> {
        let mut tensors = Vec::with_capacity(self.params.slots().len());
        for slot in self.params.slots() {
            tensors.push(NamedTensor {
                name: slot.name.clone(),
                shape: slot.shape.clone(),
                data: self.params.read_async(gpu, &slot.name).await?,
            });
        }
        Ok(tensors)
    }

    /// Uploads parameters saved by [`Mlp::state_dict`] (or by PyTorch). Every parameter must be
    /// present with its shape; nothing is changed unless all match.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming a missing, unexpected or misshapen tensor, or a
    /// non-finite value.
    pub fn load_state_dict(&self, gpu: &Gpu, tensors: &[NamedTensor]) -> Result<()> {
        let op = "Mlp::load_state_dict";
        let bad = |detail: String| Error::InvalidArgument { op, detail };
        for slot in self.params.slots() {
            let t = tensors
                .iter()
                .find(|t| t.name == slot.name)
                .ok_or_else(|| {
                    bad(format!(
                        "missing {:?} (a {:?} tensor) for a {:?} MLP",
                        slot.name, slot.shape, self.sizes
                    ))
                })?;
            if t.shape != slot.shape || t.data.len() != slot.len() {
                return Err(bad(format!(
                    "{:?} is {:?} ({} values), the model needs {:?}",
                    t.name,
                    t.shape,
                    t.data.len(),
                    slot.shape
                )));
            }
            if let Some(i) = t.data.iter().position(|v| !v.is_finite()) {
                return Err(bad(format!(
                    "{:?} holds {} at index {i}",
                    t.name, t.data[i]
                )));
            }
        }
        if let Some(extra) = tensors.iter().find(|t| self.params.index(&t.name).is_err()) {
            return Err(bad(format!(
                "unexpected tensor {:?} for a {:?} MLP",
                extra.name, self.sizes
            )));
        }
        for t in tensors {
            self.params.write(gpu, &t.name, &t.data)?;
        }
        Ok(())
    }

    /// The model's outputs (logits for classification) for `rows` rows of `features`,
    /// row-major `[rows, outputs]`. Any number of rows: they run in chunks that fit the
    /// device's storage bindings.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] when `features` is not `rows × inputs`; device errors.
    pub fn predict(&self, gpu: &Gpu, features: &[f32], rows: usize) -> Result<Vec<f32>> {
        block_on("Mlp::predict", self.predict_async(gpu, features, rows))
    }

    /// Async variant of [`Mlp::predict`], the one to call in a browser.
    ///
    /// # Errors
    /// As [`Mlp::predict`].
    pub async fn predict_async(
        &self,
        gpu: &Gpu,
        features: &[f32],
        rows: usize,
    ) -> Result<Vec<f32>> {
        if rows == 0 || features.len() != rows * self.sizes[0] {
            return Err(Error::ShapeMismatch {
                op: "predict",
                detail: format!("features must be rows × {} inputs", self.sizes[0]),
                lhs: vec![features.len()],
                rhs: vec![rows, self.sizes[0]],
            });
        }
        // In chunks of rows, so that no layer's activations exceed a storage binding.
        let inputs = self.sizes[0];
        let chunk = rows_per_binding(gpu, &self.sizes, PREDICT_CHUNK_BYTES);
        let mut outputs = Vec::with_capacity(rows * self.sizes[self.sizes.len() - 1]);
        for chunk_features in features.chunks(chunk * inputs) {
            let x = Tensor::from_slice(
                gpu,
                &[chunk_features.len() / inputs, inputs],
                chunk_features,
            )?;
            let forward = graph::forward(gpu, self, &x, None)?;
            gpu.run(&forward.launch)?;
            outputs.extend(forward.logits().to_vec_async::<f32>(gpu).await?);
        }
        Ok(outputs)
    }
}

/// The most bytes of one layer's activations a prediction holds at once.
const PREDICT_CHUNK_BYTES: u64 = 32 << 20;

/// The most rows a forward pass of a network of layer `sizes` can take at once on `gpu`: as
/// many as keep the widest layer's activations within a storage binding and `cap` bytes (at
/// least one).
pub(crate) fn rows_per_binding(gpu: &Gpu, sizes: &[usize], cap: u64) -> usize {
    let limits = gpu.limits();
    let bytes = limits
        .max_storage_buffer_binding_size
        .min(limits.max_buffer_size)
        .min(cap);
    let widest = sizes.iter().copied().max().unwrap_or(1) as u64;
    usize::try_from(bytes / (4 * widest))
        .unwrap_or(usize::MAX)
        .max(1)
}

/// The loss a network for `task` trains on: MSE, BCE with logits, or softmax cross-entropy.
pub fn loss_for(task: Task) -> LossKind {
    match task {
        Task::Regression => LossKind::Mse,
        Task::Binary => LossKind::BceWithLogits,
        Task::Multiclass => LossKind::SoftmaxCrossEntropy,
    }
}

/// `activations` as one per hidden layer of a network of `sizes`: one given applies to every
/// hidden layer; none gives ReLU.
///
/// # Errors
/// [`Error::InvalidArgument`] for another count, naming both.
pub fn per_hidden_layer(
    op: &'static str,
    activations: &[Activation],
    sizes: &[usize],
) -> Result<Vec<Activation>> {
    one_per_hidden_layer(op, "activations", activations, Activation::Relu, sizes)
}

/// `dropout` as one probability per hidden layer of a network of `sizes`, as
/// [`per_hidden_layer`] (none gives 0, no Dropout), each checked.
///
/// # Errors
/// [`Error::InvalidArgument`] for another count, or a probability outside `[0, 1)`.
pub fn dropout_per_hidden_layer(
    op: &'static str,
    dropout: &[f32],
    sizes: &[usize],
) -> Result<Vec<f32>> {
    let dropout = one_per_hidden_layer(op, "dropout probabilities", dropout, 0.0, sizes)?;
    for &p in &dropout {
        check_dropout(op, p)?;
    }
    Ok(dropout)
}

/// `items` (`what`, for the message) as one per hidden layer: none gives `default` everywhere,
/// one applies to every hidden layer.
fn one_per_hidden_layer<T: Copy>(
    op: &'static str,
    what: &str,
    items: &[T],
    default: T,
    sizes: &[usize],
) -> Result<Vec<T>> {
    let hidden = sizes.len().saturating_sub(2);
    match items {
        [] => Ok(vec![default; hidden]),
        [one] => Ok(vec![*one; hidden]),
        each if each.len() == hidden => Ok(each.to_vec()),
        other => Err(Error::InvalidArgument {
            op,
            detail: format!(
                "{} {what} for {hidden} hidden layers (sizes {sizes:?}): give one for all, or one per hidden layer",
                other.len()
            ),
        }),
    }
}

/// The parameters' names in PyTorch's `nn.Sequential(Linear, activation, [Dropout,] Linear,
/// …)`: each hidden layer takes two indices, three with a Dropout layer (p > 0).
pub(crate) fn param_names(sizes: &[usize], dropout: &[f32]) -> Vec<String> {
    let mut index = 0;
    (0..sizes.len() - 1)
        .flat_map(|l| {
            let names = [format!("{index}.weight"), format!("{index}.bias")];
            index += if dropout.get(l).is_some_and(|&p| p > 0.0) {
                3
            } else {
                2
            };
            names
        })
        .collect()
}

fn param_shapes(sizes: &[usize]) -> Vec<Vec<usize>> {
    sizes
        .windows(2)
        .flat_map(|w| [vec![w[1], w[0]], vec![w[1]]])
        .collect()
}

/// The initial weight and bias of each layer of a network of layer `sizes`, as [`Mlp::new`]
/// and [`Mlp::new_with_init`] draw them from `seed`: each layer's weight (`[out, in]`,
/// row-major) as `init` says, then its bias uniform in ±1/√fan_in (`nn.Linear`'s). The one
/// place the initialisation is drawn, so a model trained in a grid starts where the same model
/// trained alone does. `Init::Default` draws exactly as before `init` existed.
pub fn initial_values(sizes: &[usize], init: Init, seed: u64) -> Vec<[Vec<f32>; 2]> {
    let mut rng = SeededRng::new(seed);
    sizes
        .windows(2)
        .map(|pair| {
            let (inputs, outputs) = (pair[0], pair[1]);
            let n = inputs * outputs;
            let weight = match init.draw(inputs, outputs) {
                Draw::Uniform { bound } => {
                    let bound = bound as f32;
                    (0..n).map(|_| rng.uniform(-bound, bound)).collect()
                }
                Draw::Normal { std } => (0..n).map(|_| (std * rng.normal()) as f32).collect(),
            };
            let bias_bound = 1.0 / (inputs as f32).sqrt();
            let bias = (0..outputs)
                .map(|_| rng.uniform(-bias_bound, bias_bound))
                .collect();
            [weight, bias]
        })
        .collect()
}
