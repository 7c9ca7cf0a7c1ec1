//! Many models a dispatch, a model per invocation (`shaders/grid.wgsl`): the entry point
//! generated for each network shape, its settings and its launch.
//!
//! The generator writes straight-line WGSL: every parameter, gradient and optimizer state
//! element has a constant name (four to a `vec4`), so the compiler keeps a model in registers.
//! The arithmetic is not generated: each loss term, activation, optimizer update and the
//! end-of-epoch decision is a call to `formulas.wgsl` and `epoch_decision.wgsl`, the same text
//! every other path runs.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use bytemuck::{Pod, Zeroable};

use super::activation::Activation;
use super::loss::LossKind;
use super::Shader;
use crate::error::Result;
use crate::gpu::{Binding, Dispatch, Gpu, KernelSpec, ShaderCode, Tensor};

/// Mirrors `GridSettings` in `grid.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable, Default, PartialEq)]
pub(crate) struct GridSettings {
    pub models: u32,
    pub epochs: u32,
    pub first_epoch: u32,
    pub total_epochs: u32,
    pub batch: u32,
    pub members_at: u32,
    pub row_groups_at: u32,
    pub orders_at: u32,
    pub order_stride: u32,
    pub targets_at: u32,
    pub steps_stride: u32,
    pub patience: u32,
    pub growth: f32,
    pub min_delta: f32,
    pub workgroup_groups_at: u32,
    pub _pad0: u32,
}

/// Mirrors `Standing` in `epoch_decision.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable, Default, PartialEq)]
pub(crate) struct Standing {
    pub epochs_without_improvement: u32,
    pub has_best: u32,
    pub best: f32,
    pub lowest: f32,
    pub trained: u32,
}

/// Mirrors `ModelControl` in `grid.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable, Default, PartialEq)]
pub(crate) struct ModelControl {
    pub running: u32,
    pub best_epoch: u32,
    pub _pad0: u32,
    pub _pad1: u32,
    pub standing: Standing,
    pub _pad2: u32,
    pub _pad3: u32,
    pub _pad4: u32,
}

/// Which optimizer states a kernel keeps per parameter (and so which update it runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum GridAlgorithm {
    /// SGD: the momentum buffer (unused without momentum).
    Sgd,
    /// Adam or AdamW: m and v.
    Adam,
    /// Adam or AdamW with AMSGrad: m, v and max v.
    AdamAmsgrad,
}

impl GridAlgorithm {
    fn states(self) -> usize {
        match self {
            GridAlgorithm::Sgd => 1,
            GridAlgorithm::Adam => 2,
            GridAlgorithm::AdamAmsgrad => 3,
        }
    }
}

/// What one generated kernel trains: the network's layer sizes, its activation and loss, and
/// its optimizer's states. Models that differ in any of these are in different kernels.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct GridShape {
    pub sizes: Vec<usize>,
    pub activation: Activation,
    pub loss: LossKind,
    pub algorithm: GridAlgorithm,
}

/// Where each part of a model's record lies, in vec4s from the record's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecordLayout {
    /// The parameters' vec4s (the parameters in PyTorch's order, zero-padded to a multiple of 4).
    pub params: usize,
    /// The first optimizer state; state k at `state + k·params`.
    pub state: usize,
    pub best: usize,
    pub start: usize,
    /// Vec4s per record.
    pub len: usize,
}

impl GridShape {
    /// Parameters of the network: each layer's weight and bias.
    pub fn param_count(&self) -> usize {
        self.sizes.windows(2).map(|w| w[0] * w[1] + w[1]).sum()
    }

    pub fn layout(&self) -> RecordLayout {
        let params = self.param_count().div_ceil(4);
        let state = params;
        let best = state + self.algorithm.states() * params;
        let start = best + params;
        RecordLayout {
            params,
            state,
            best,
            start,
            len: start + params,
        }
    }

    /// The kernel's whole source: the library (`Shader::Grid`) and the generated entry point.
    pub fn source(&self) -> String {
        format!("{}{}", Shader::Grid.source(), Generator::new(self).entry())
    }

    /// The kernel as the pipeline cache takes it: one name per shape, its source generated
    /// once per process (the cache keeps modules by name and a `&'static` source, so each
    /// shape's text is leaked once; a process meets a handful of shapes).
    fn code(&self) -> ShaderCode {
        static SOURCES: OnceLock<Mutex<HashMap<GridShape, ShaderCode>>> = OnceLock::new();
        let mut sources = SOURCES
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *sources.entry(self.clone()).or_insert_with(|| {
            let name = format!(
                "grid_{:?}_{:?}_{:?}_{:?}",
                self.sizes, self.activation, self.loss, self.algorithm
            );
            ShaderCode::of_crate(
                Box::leak(name.into_boxed_str()),
                Box::leak(self.source().into_boxed_str()),
            )
        })
    }
}

/// Invocations (models) per workgroup: on CPU-like adapters one SIMD vector's worth, so a row
/// group's models fill whole workgroups; on GPUs a warp's.
pub(crate) fn models_per_workgroup(gpu: &Gpu) -> usize {
    if gpu.is_cpu_adapter() {
        8
    } else {
        32
    }
}

const BINDINGS: &[(u32, Binding)] = &[
    (0, Binding::ReadOnly),
    (1, Binding::ReadOnly),
    (2, Binding::ReadOnly),
    (3, Binding::ReadOnly),
    (4, Binding::ReadWrite),
    (5, Binding::ReadWrite),
    (6, Binding::ReadWrite),
    (7, Binding::ReadOnly),
];

/// The tensors one dispatch binds, in binding order.
pub(crate) struct GridBuffers<'a> {
    pub data: &'a Tensor,
    pub tables: &'a Tensor,
    pub hyper: &'a Tensor,
    pub step_values: &'a Tensor,
    pub records: &'a Tensor,
    pub controls: &'a Tensor,
    pub history: &'a Tensor,
    pub settings: &'a Tensor,
}

/// Prepares a dispatch training `models` models of `shape` (the settings tensor says the rest).
pub(crate) fn grid_dispatch(
    gpu: &Gpu,
    shape: &GridShape,
    models: usize,
    buffers: &GridBuffers,
) -> Result<Dispatch> {
    let per_group = models_per_workgroup(gpu);
    let spec = KernelSpec {
        shader: shape.code(),
        entry: "train_models",
        bindings: BINDINGS,
        constants: vec![("WG", per_group as f64)],
    };
    let b = buffers;
    Dispatch::new(
        gpu,
        &spec,
        &[
            b.data,
            b.tables,
            b.hyper,
            b.step_values,
            b.records,
            b.controls,
            b.history,
            b.settings,
        ],
        &[0u32; 4],
        [super::dim("grid", models.div_ceil(per_group))?, 1, 1],
    )
}

/// Writes the entry point for one shape.
struct Generator<'s> {
    shape: &'s GridShape,
    out: String,
    /// Offsets of each layer's weight and bias in the parameter list.
    offsets: Vec<(usize, usize)>,
}

/// The vec4 component of element `i`.
fn lane(i: usize) -> char {
    ['x', 'y', 'z', 'w'][i % 4]
}

impl<'s> Generator<'s> {
    fn new(shape: &'s GridShape) -> Self {
        let mut offsets = Vec::new();
        let mut at = 0;
        for w in shape.sizes.windows(2) {
            offsets.push((at, at + w[0] * w[1]));
            at += w[0] * w[1] + w[1];
        }
        Self {
            shape,
            out: String::new(),
            offsets,
        }
    }

    fn line(&mut self, text: &str) {
        self.out.push_str(text);
        self.out.push('\n');
    }

    /// Parameter `i` (`w`) or its gradient (`g`), as a constant component of a register.
    fn element(kind: char, i: usize) -> String {
        format!("{kind}{}.{}", i / 4, lane(i))
    }

    fn weight(&self, layer: usize, out: usize, inp: usize) -> String {
        let inputs = self.shape.sizes[layer];
        Self::element('w', self.offsets[layer].0 + out * inputs + inp)
    }

    fn bias(&self, layer: usize, out: usize) -> String {
        Self::element('w', self.offsets[layer].1 + out)
    }

    fn entry(mut self) -> String {
        let layout = self.shape.layout();
        let (p4, states) = (layout.params, self.shape.algorithm.states());
        let features = self.shape.sizes[0];
        self.line("\n// Generated for one network shape by src/kernels/grid.rs.");
        self.line("@compute @workgroup_size(WG)");
        self.line("fn train_models(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {");
        self.line("let model = gid.x;");
        self.line("if model >= settings.models { return; }");
        self.line("var control = controls[model];");
        self.line("if control.running == 0u { return; }");
        self.line("let who = member(model);");
        self.line("let hp = hyper[who.y];");
        self.line("let group = workgroup_row_group(wid.x);");
        self.line("let rows = row_group(group);");
        self.line(&format!("let record = model * {}u;", layout.len));
        for k in 0..p4 {
            self.line(&format!(
                "var w{k} = records[record + {k}u]; var g{k} = vec4<f32>(0.0);"
            ));
            for s in 0..states {
                self.line(&format!(
                    "var s{s}_{k} = records[record + {}u];",
                    layout.state + s * p4 + k
                ));
            }
        }
        self.line("let steps = (rows.x + settings.batch - 1u) / settings.batch;");
        self.line(
            "let rules = DecisionRules(settings.growth, settings.min_delta, settings.patience);",
        );
        self.line("for (var epoch = 0u; epoch < settings.epochs; epoch++) {");
        for k in 0..p4 {
            self.line(&format!("records[record + {}u] = w{k};", layout.start + k));
        }
        self.line("var weighted = 0.0;\nvar first_step_loss = 0.0;\nvar nonfinite_loss = false;\nvar nonfinite_parameter = false;");
        self.line("for (var step = 0u; step < steps; step++) {");
        for k in 0..p4 {
            self.line(&format!("g{k} = vec4<f32>(0.0);"));
        }
        self.line("let first = step * settings.batch;");
        self.line("let batch = min(settings.batch, rows.x - first);");
        self.line(&format!(
            "let scale = 1.0 / f32(batch * {}u);",
            self.loss_width()
        ));
        self.line("var loss = 0.0;");
        self.line("for (var r = 0u; r < batch; r++) {");
        self.line("let row = train_row(group, epoch, first + r);");
        self.forward(features);
        self.loss(true);
        self.backward();
        self.line("}");
        self.line("let step_loss = loss * scale;");
        self.line("if step == 0u { first_step_loss = step_loss; }");
        self.line("nonfinite_loss = nonfinite_loss || any_nonfinite(vec4<f32>(step_loss));");
        self.line("weighted += step_loss * f32(batch);");
        self.line("let st = step_values[who.y * settings.steps_stride + epoch * steps + step];");
        self.update(p4);
        self.line("}");
        self.line("let train_loss = weighted / f32(rows.x);");
        self.line("var validation_loss = 0.0;");
        self.line("if rows.z > 0u {");
        self.line("var loss = 0.0;");
        self.line("for (var r = 0u; r < rows.z; r++) {");
        self.line("let row = tables[rows.y + r];");
        self.forward(features);
        self.loss(false);
        self.line("}");
        self.line(&format!(
            "validation_loss = loss * (1.0 / f32(rows.z * {}u));",
            self.loss_width()
        ));
        self.line("}");
        self.line("let outcome = EpochOutcome(nonfinite_loss, nonfinite_parameter, train_loss, first_step_loss, rows.z > 0u, validation_loss);");
        self.line("var standing = control.standing;");
        self.line("let status = decide(&standing, outcome, rules);");
        self.line("record_history(model, epoch, train_loss, validation_loss, status);");
        self.line("if diverged(status) {");
        for k in 0..p4 {
            self.line(&format!("w{k} = records[record + {}u];", layout.start + k));
        }
        self.line("control.running = 0u;\nbreak;\n}");
        self.line("control.standing = standing;");
        self.line("if (status & IMPROVED) != 0u {");
        self.line("control.best_epoch = settings.first_epoch + epoch + 1u;");
        for k in 0..p4 {
            self.line(&format!("records[record + {}u] = w{k};", layout.best + k));
        }
        self.line("}");
        self.line("if (status & OUT_OF_PATIENCE) != 0u {\ncontrol.running = 0u;\nbreak;\n}");
        self.line("}");
        for k in 0..p4 {
            self.line(&format!("records[record + {k}u] = w{k};"));
            for s in 0..states {
                self.line(&format!(
                    "records[record + {}u] = s{s}_{k};",
                    layout.state + s * p4 + k
                ));
            }
        }
        self.line("controls[model] = control;");
        self.line("}");
        self.out
    }

    /// Elements the loss averages over per row: the outputs for element-wise losses, one for
    /// softmax cross-entropy (a mean over rows).
    fn loss_width(&self) -> usize {
        match self.shape.loss {
            LossKind::SoftmaxCrossEntropy => 1,
            _ => *self.shape.sizes.last().expect("at least two sizes"),
        }
    }

    /// `a{l}_{j}`: the activations of layer l (a0: the row's features; the last: the logits),
    /// and `z{l}_{j}` the pre-activations of the hidden layers.
    fn forward(&mut self, features: usize) {
        for k in 0..features {
            self.line(&format!("let a0_{k} = feature(row, {k}u, {features}u);"));
        }
        let layers = self.shape.sizes.len() - 1;
        for l in 0..layers {
            let (inputs, outputs) = (self.shape.sizes[l], self.shape.sizes[l + 1]);
            let hidden = l + 1 < layers;
            for j in 0..outputs {
                let mut sum = self.bias(l, j);
                for k in 0..inputs {
                    sum = format!("fma({}, a{l}_{k}, {sum})", self.weight(l, j, k));
                    if k % 8 == 7 && k + 1 < inputs {
                        // Keep expressions shallow: a partial sum every eight terms.
                        self.line(&format!("let p{}_{j}_{k} = {sum};", l + 1));
                        sum = format!("p{}_{j}_{k}", l + 1);
                    }
                }
                if hidden {
                    let activation = self.shape.activation.wgsl_forward();
                    self.line(&format!("let z{}_{j} = {sum};", l + 1));
                    self.line(&format!(
                        "let a{}_{j} = {activation}(z{}_{j});",
                        l + 1,
                        l + 1
                    ));
                } else {
                    self.line(&format!("let a{}_{j} = {sum};", l + 1));
                }
            }
        }
    }

    /// Adds the row's loss term to `loss`; in training, also the gradient of each logit
    /// (`d{L}_{j}`, scaled by `scale`).
    fn loss(&mut self, training: bool) {
        let last = self.shape.sizes.len() - 1;
        let outputs = self.shape.sizes[last];
        match self.shape.loss {
            LossKind::SoftmaxCrossEntropy => {
                // The row's max and sum of exponentials in column order, as softmax_row.wgsl.
                self.line("let label = target_class(row);");
                self.line(&format!("var row_max = a{last}_0;"));
                for j in 1..outputs {
                    self.line(&format!("row_max = max(row_max, a{last}_{j});"));
                }
                self.line("var sum_exp = 0.0;");
                for j in 0..outputs {
                    self.line(&format!("sum_exp += exp(a{last}_{j} - row_max);"));
                }
                let mut target = format!("a{last}_0");
                for j in 1..outputs {
                    target = format!("select({target}, a{last}_{j}, label == {j}u)");
                }
                self.line(&format!(
                    "loss += softmax_ce_term(row_max, sum_exp, {target}, label < {outputs}u);"
                ));
                if training {
                    for j in 0..outputs {
                        self.line(&format!(
                            "let d{last}_{j} = softmax_ce_grad(a{last}_{j}, row_max, sum_exp, label == {j}u) * scale;"
                        ));
                    }
                }
            }
            kind => {
                let term = match kind {
                    LossKind::Mse => "mse_term",
                    LossKind::BceWithLogits => "bce_with_logits_term",
                    _ => "bce_term",
                };
                // Element-wise losses have one output (regression, binary).
                for j in 0..outputs {
                    self.line(&format!(
                        "let t{j} = {term}(a{last}_{j}, target_value(row));\nloss += t{j}.x;"
                    ));
                    if training {
                        self.line(&format!("let d{last}_{j} = t{j}.y * scale;"));
                    }
                }
            }
        }
    }

    /// Accumulates the row's gradients, from the logits' (`d{L}_{j}`) down.
    fn backward(&mut self) {
        let layers = self.shape.sizes.len() - 1;
        for l in (0..layers).rev() {
            let (inputs, outputs) = (self.shape.sizes[l], self.shape.sizes[l + 1]);
            for j in 0..outputs {
                let d = format!("d{}_{j}", l + 1);
                let gb = self.bias(l, j).replacen('w', "g", 1);
                self.line(&format!("{gb} += {d};"));
                for k in 0..inputs {
                    let gw = self.weight(l, j, k).replacen('w', "g", 1);
                    self.line(&format!("{gw} = fma({d}, a{l}_{k}, {gw});"));
                }
            }
            if l > 0 {
                let backward = self.shape.activation.wgsl_backward();
                for k in 0..inputs {
                    let mut sum = format!("d{}_0 * {}", l + 1, self.weight(l, 0, k));
                    for j in 1..outputs {
                        sum = format!("fma(d{}_{j}, {}, {sum})", l + 1, self.weight(l, j, k));
                    }
                    self.line(&format!("let d{l}_{k} = {backward}(z{l}_{k}, {sum});"));
                }
            }
        }
    }

    /// The optimizer step of every parameter, four at a time.
    fn update(&mut self, p4: usize) {
        for k in 0..p4 {
            let text = match self.shape.algorithm {
                GridAlgorithm::Sgd => format!(
                    "{{ let u = sgd_update(w{k}, g{k}, s0_{k}, hp, st); w{k} = u.theta; s0_{k} = u.momentum_buffer; }}"
                ),
                GridAlgorithm::Adam => format!(
                    "{{ let u = adam_update(w{k}, g{k}, s0_{k}, s1_{k}, vec4<f32>(0.0), hp, st); w{k} = u.theta; s0_{k} = u.m; s1_{k} = u.v; }}"
                ),
                GridAlgorithm::AdamAmsgrad => format!(
                    "{{ let u = adam_update(w{k}, g{k}, s0_{k}, s1_{k}, s2_{k}, hp, st); w{k} = u.theta; s0_{k} = u.m; s1_{k} = u.v; s2_{k} = u.v_used; }}"
                ),
            };
            self.line(&text);
            self.line(&format!(
                "nonfinite_parameter = nonfinite_parameter || any_nonfinite(w{k});"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::seam::{assert_mirrors, mirror};
    use super::*;

    /// Every kind of generated kernel is valid WGSL: each loss, each optimizer's states, one
    /// and two hidden layers (naga here; a driver's compiler in tests/grid.rs).
    #[test]
    fn generated_kernels_validate() {
        let shapes = [
            (vec![3, 2, 1], LossKind::Mse, GridAlgorithm::Sgd),
            (
                vec![4, 3, 2, 1],
                LossKind::BceWithLogits,
                GridAlgorithm::Adam,
            ),
            (
                vec![2, 5, 3],
                LossKind::SoftmaxCrossEntropy,
                GridAlgorithm::AdamAmsgrad,
            ),
        ];
        for (sizes, loss, algorithm) in shapes {
            let shape = GridShape {
                sizes,
                activation: Activation::Relu,
                loss,
                algorithm,
            };
            let source = shape.source();
            let module = naga::front::wgsl::parse_str(&source)
                .unwrap_or_else(|e| panic!("{shape:?}: {}", e.emit_to_string(&source)));
            naga::valid::Validator::new(
                naga::valid::ValidationFlags::all(),
                naga::valid::Capabilities::empty(),
            )
            .validate(&module)
            .unwrap_or_else(|e| panic!("{shape:?}: {}", e.emit_to_string(&source)));
            assert!(module.entry_points.iter().any(|e| e.name == "train_models"));
        }
    }

    /// The record layout: parameters, each state, best, start, each the parameters' vec4s.
    #[test]
    fn the_record_holds_parameters_states_best_and_start() {
        let shape = GridShape {
            sizes: vec![10, 5, 1],
            activation: Activation::Relu,
            loss: LossKind::Mse,
            algorithm: GridAlgorithm::Adam,
        };
        assert_eq!(shape.param_count(), 61);
        let layout = shape.layout();
        assert_eq!(
            (
                layout.params,
                layout.state,
                layout.best,
                layout.start,
                layout.len
            ),
            (16, 16, 48, 64, 80)
        );
    }

    #[test]
    fn the_settings_and_control_match_wgsl() {
        #[rustfmt::skip]
        assert_mirrors(Shader::Grid, "GridSettings", mirror!(GridSettings {
            models, epochs, first_epoch, total_epochs, batch, members_at, row_groups_at,
            orders_at, order_stride, targets_at, steps_stride, patience, growth, min_delta,
            workgroup_groups_at,
        }));
        #[rustfmt::skip]
        assert_mirrors(Shader::Grid, "Standing", mirror!(Standing {
            epochs_without_improvement, has_best, best, lowest, trained,
        }));
        assert_mirrors(
            Shader::Grid,
            "ModelControl",
            mirror!(ModelControl {
                running,
                best_epoch,
                standing
            }),
        );
    }
}
