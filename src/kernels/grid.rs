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
use super::dropout::{drop_threshold, dropout_scale};
use super::loss::LossKind;
use super::Shader;
use crate::error::{Error, Result};
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
    pub clip_grad_norm: f32,
    pub weights_at: u32,
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

/// Which optimizer states a kernel keeps per parameter (and so which updates it runs). SGD and
/// Adam (AdamW) models share a kernel, each invocation taking its own model's branch, so a row
/// group's models fill whole SIMD vectors whatever their optimizers; the kernel a model trains
/// in depends on the model alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum GridAlgorithm {
    /// SGD (its momentum buffer in the first state) or Adam (m and v).
    SgdOrAdam,
    /// Adam or AdamW with AMSGrad: m, v and max v.
    AdamAmsgrad,
}

/// Words of a row group's entry in the tables (`ROW_GROUP_WORDS` in grid.wgsl): its training
/// rows, where its validation rows start, how many, and its seed's low and high words.
pub(crate) const ROW_GROUP_WORDS: usize = 8;

/// The member table's code of a model's update (`who.z` in the kernel).
pub(crate) const UPDATE_SGD: u32 = 0;
pub(crate) const UPDATE_ADAM: u32 = 1;

impl GridAlgorithm {
    fn states(self) -> usize {
        match self {
            GridAlgorithm::SgdOrAdam => 2,
            GridAlgorithm::AdamAmsgrad => 3,
        }
    }
}

/// How the generated kernel is written. The unrolled and looped forms compute the same
/// operations in the same order; the subgroup form sums each step's rows in another order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KernelForm {
    /// Straight-line code: every parameter a named register (2.5× the looped form on lavapipe,
    /// 12× on an NVIDIA H200), but compile time grows with the parameters, and SwiftShader's
    /// compiler did not finish a 10→5→1 kernel in ten minutes (it held 8.6 GB). On lavapipe
    /// (256-bit vectors) the 8 models of a workgroup share each row's loads over their lanes:
    /// 1.7–3× the kernel that loads them in each lane.
    Unrolled,
    /// Loops over units and parameters, which live in private arrays.
    Looped,
    /// A model per subgroup: the unrolled code, its rows shared out over the subgroup's
    /// invocations (each holding the whole model), the gradients and losses summed with
    /// `subgroupAdd`; a subgroup's worth of threads for every model. Needs an adapter whose
    /// subgroups have one fixed size ([`Gpu::subgroup_size`]): a workgroup of that many
    /// invocations is taken to be one subgroup, as it is on NVIDIA's GPUs and lavapipe.
    Subgroup,
}

impl KernelForm {
    /// The form measured best on `gpu`: a model per subgroup on GPUs (discrete or integrated)
    /// whose subgroups have one size, unrolled on other GPUs and on lavapipe, looped elsewhere
    /// — SwiftShader, and adapters that do not say what they are (a browser's may not). On an
    /// H200, 120 models ran 6.0M model-steps/s subgrouped, 4.1–4.6M unrolled, 0.37M looped.
    pub fn for_adapter(gpu: &Gpu) -> Self {
        let info = gpu.adapter_info();
        let gpu_kind = matches!(
            info.device_type,
            wgpu::DeviceType::DiscreteGpu | wgpu::DeviceType::IntegratedGpu
        );
        if gpu_kind && gpu.subgroup_size().is_some() {
            KernelForm::Subgroup
        } else if gpu_kind || info.name.starts_with("llvmpipe") {
            KernelForm::Unrolled
        } else {
            KernelForm::Looped
        }
    }
}

/// What one generated kernel trains: the network's layer sizes, its activations, Dropout and
/// loss, and its optimizer's states; and how the kernel is written. Models that differ in any
/// of these are in different kernels.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct GridShape {
    pub sizes: Vec<usize>,
    /// After each hidden layer.
    pub activations: Vec<Activation>,
    /// Dropout's probability after each hidden layer, as f32 bits (0: none).
    pub dropout: Vec<u32>,
    pub loss: LossKind,
    /// Whether the loss takes PyTorch's weights (each model's own, from the tables: a weight
    /// per class for softmax cross-entropy, `pos_weight` for BCE with logits).
    pub weighted: bool,
    pub algorithm: GridAlgorithm,
    pub form: KernelForm,
    /// In the unrolled form, the subgroup width over which each row's loads are shared: each
    /// lane loads a part of the row and `subgroupBroadcast` hands it to the others
    /// ([`row_lanes`]). `None`: every invocation loads each value itself.
    pub row_lanes: Option<usize>,
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
                "grid_{:?}_{:?}_{:x?}_{:?}_{}_{:?}_{:?}",
                self.sizes,
                self.activations,
                self.dropout,
                self.loss,
                self.weighted,
                self.algorithm,
                self.form
            );
            ShaderCode::of_crate(
                Box::leak(name.into_boxed_str()),
                Box::leak(self.source().into_boxed_str()),
            )
        })
    }
}

/// Models per workgroup: a model per invocation, on CPU-like adapters one SIMD vector's worth
/// at 256 bits (so a row group's models fill whole workgroups), on GPUs a warp's; one for the
/// subgroup form.
pub(crate) fn models_per_workgroup(gpu: &Gpu, form: KernelForm) -> usize {
    match form {
        KernelForm::Subgroup => 1,
        _ if gpu.is_cpu_adapter() => 8,
        _ => 32,
    }
}

/// The subgroup width over which the unrolled form shares its row loads: on CPU adapters
/// whose subgroup is the workgroup of models (lavapipe's SIMD vector of 8 lanes at 256 bits),
/// where a load from an address the compiler cannot prove constant is a loop over the lanes,
/// so one load per lane of a row's different values costs what one value loaded by every lane
/// did. A row's index, 10 features and target took 12 such loops and now take 2 and an
/// eighth (BENCHMARKS.md, "Row loads shared over the subgroup"). Elsewhere `None`: a GPU loads
/// a value that every lane reads in one go, and at 128 bits (4 lanes, two subgroups a
/// workgroup) sharing measured no gain.
pub(crate) fn row_lanes(gpu: &Gpu, form: KernelForm) -> Option<usize> {
    let per_workgroup = models_per_workgroup(gpu, form);
    (form == KernelForm::Unrolled
        && gpu.is_cpu_adapter()
        && gpu.subgroup_size() == Some(per_workgroup as u32))
    .then_some(per_workgroup)
}

/// The invocations of a workgroup of the subgroup form: one subgroup, on adapters whose
/// subgroups have one size; an error elsewhere.
pub(crate) fn subgroup_form_width(gpu: &Gpu) -> Result<usize> {
    gpu.subgroup_size()
        .map(|s| s as usize)
        .ok_or_else(|| Error::InvalidArgument {
            op: "ModelGrid",
            detail: "the subgroup kernel form needs subgroup operations of one fixed size, which \
                 this adapter does not offer; use KernelForm::Unrolled or Looped"
                .into(),
        })
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
    let per_group = models_per_workgroup(gpu, shape.form);
    let invocations = match shape.form {
        KernelForm::Subgroup => subgroup_form_width(gpu)?,
        _ => per_group,
    };
    let spec = KernelSpec {
        shader: shape.code(),
        entry: "train_models",
        bindings: BINDINGS,
        constants: vec![("WG", invocations as f64)],
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

/// Element `index` (a WGSL expression) of the private array `kind` of vec4s.
fn at(kind: char, index: &str) -> String {
    format!("{kind}[({index}) / 4u][({index}) % 4u]")
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

    fn looped(&self) -> bool {
        self.shape.form == KernelForm::Looped
    }

    fn subgroup(&self) -> bool {
        self.shape.form == KernelForm::Subgroup
    }

    fn row_lanes(&self) -> Option<usize> {
        self.shape.row_lanes
    }

    /// Opens the loop over `count` rows, binding `r` (the row's place) and `row` (its row of
    /// `data`, read by `index(r)`); returns what closes it. Every row in one invocation; in the
    /// subgroup form, the lanes taking turns; with shared row loads, each lane reads the index
    /// of one of the next `lanes` rows and every lane takes each in turn from its lane.
    fn open_row_loop(&mut self, count: &str, index: impl Fn(&str) -> String) -> &'static str {
        if let Some(lanes) = self.row_lanes() {
            let lane_row = index(&format!("r0 + min(lane, {count} - 1u - r0)"));
            self.line(&format!(
                "for (var r0 = 0u; r0 < {count}; r0 += {lanes}u) {{"
            ));
            self.line(&format!("let lane_row = {lane_row};"));
            self.line(&format!(
                "for (var j = 0u; j < min({lanes}u, {count} - r0); j++) {{"
            ));
            self.line("let r = r0 + j;\nlet row = subgroupShuffle(lane_row, j);");
            return "}}";
        }
        if self.subgroup() {
            self.line(&format!("for (var r = lane; r < {count}; r += sg_size) {{"));
        } else {
            self.line(&format!("for (var r = 0u; r < {count}; r++) {{"));
        }
        self.line(&format!("let row = {};", index("r")));
        "}"
    }

    /// In the subgroup form, replaces each lane's partial sum in `value` by the subgroup's
    /// total, taken from the first lane so that every lane holds the same bits (and so takes
    /// the same branches after).
    fn subgroup_sum(&mut self, value: &str) {
        if self.subgroup() {
            self.line(&format!(
                "{value} = subgroupBroadcastFirst(subgroupAdd({value}));"
            ));
        }
    }

    /// Vec4 `k` of `kind` (`w`, `g`, or `m0`…`m2` for the states): a register `w3`, `m0_3`,
    /// or an element `w[k]` of a private array.
    fn vec4(&self, kind: &str, k: &str) -> String {
        match (self.looped(), kind.starts_with('m')) {
            (true, _) => format!("{kind}[{k}]"),
            (false, true) => format!("{kind}_{k}"),
            (false, false) => format!("{kind}{k}"),
        }
    }

    /// Emits `body(k)` for every vec4 k of the parameters: once per k, or in one loop.
    fn each_vec4(&mut self, p4: usize, body: impl Fn(&Self, &str, usize) -> String) {
        if self.looped() {
            self.line(&format!("for (var k = 0u; k < {p4}u; k++) {{"));
            let text = body(self, "k", 0);
            self.line(&text);
            self.line("}");
        } else {
            for k in 0..p4 {
                let text = body(self, &k.to_string(), k);
                self.line(&text);
            }
        }
    }

    /// The record's vec4 at `at` + k.
    fn record_at(looped: bool, at: usize, k: &str, literal: usize) -> String {
        if looped {
            format!("records[record + {at}u + {k}]")
        } else {
            format!("records[record + {}u]", at + literal)
        }
    }

    /// Writes the parameters to the record's part at `at` (the epoch's start, the best).
    fn store_params(&mut self, p4: usize, at: usize) {
        let looped = self.looped();
        self.each_vec4(p4, |me, k, n| {
            format!(
                "{} = {};",
                Self::record_at(looped, at, k, n),
                me.vec4("w", k)
            )
        });
    }

    /// Activation j of layer l (`a`), a pre-activation (`z`) or a gradient (`d`).
    fn unit(&self, kind: char, l: usize, j: usize) -> String {
        if self.looped() {
            format!("{kind}{l}[{j}u]")
        } else {
            format!("{kind}{l}_{j}")
        }
    }

    fn entry(mut self) -> String {
        let layout = self.shape.layout();
        let (p4, states) = (layout.params, self.shape.algorithm.states());
        let features = self.shape.sizes[0];
        self.line("\n// Generated for one network shape by src/kernels/grid.rs.");
        self.line("@compute @workgroup_size(WG)");
        if self.subgroup() {
            // One subgroup a workgroup, one model a subgroup: every lane holds the model.
            self.line("fn train_models(@builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32, @builtin(subgroup_size) sg_size: u32) {");
            self.line("let model = wid.x;");
        } else {
            let lane = match self.row_lanes() {
                Some(_) => ", @builtin(subgroup_invocation_id) lane: u32",
                None => "",
            };
            self.line(&format!("fn train_models(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>{lane}) {{"));
        }
        if self.row_lanes().is_some() {
            // Every lane stays to the end, as the shared loads need: a slot past the last
            // shadows the last model and a stopped model trains on, neither writing anything.
            self.line("let model = min(gid.x, settings.models - 1u);");
            self.line("var control = controls[model];");
            self.line("let started = gid.x < settings.models && control.running != 0u;");
            self.line("var running = started;");
        } else {
            if !self.subgroup() {
                self.line("let model = gid.x;");
            }
            self.line("if model >= settings.models { return; }");
            self.line("var control = controls[model];");
            self.line("if control.running == 0u { return; }");
        }
        self.line("let who = member(model);");
        self.line("let hp = hyper[who.y];");
        self.line("let group = workgroup_row_group(wid.x);");
        self.line("let rows = row_group(group);");
        self.line(&format!("let record = model * {}u;", layout.len));
        if self.dropout() {
            self.line("let dropout_seed = row_group_seed(group);");
        }
        if self.looped() {
            self.line(&format!(
                "var w: array<vec4<f32>, {p4}>;\nvar g: array<vec4<f32>, {p4}>;"
            ));
            for st in 0..states {
                self.line(&format!("var m{st}: array<vec4<f32>, {p4}>;"));
            }
        }
        let looped = self.looped();
        self.each_vec4(p4, |me, k, n| {
            let mut text = String::new();
            let declare = if looped { "" } else { "var " };
            text += &format!(
                "{declare}{} = {};",
                me.vec4("w", k),
                Self::record_at(looped, 0, k, n)
            );
            if !looped {
                text += &format!(" var {} = vec4<f32>(0.0);", me.vec4("g", k));
            }
            for st in 0..states {
                let at = layout.state + st * p4;
                text += &format!(
                    " {declare}{} = {};",
                    me.vec4(&format!("m{st}"), k),
                    Self::record_at(looped, at, k, n)
                );
            }
            text
        });
        self.line("let steps = (rows.x + settings.batch - 1u) / settings.batch;");
        self.line(
            "let rules = DecisionRules(settings.growth, settings.min_delta, settings.patience);",
        );
        self.line("for (var epoch = 0u; epoch < settings.epochs; epoch++) {");
        let lanes_stay = self.row_lanes().is_some();
        if lanes_stay {
            self.line("if !subgroupAny(running) { break; }\nif running {");
        }
        self.store_params(p4, layout.start);
        if lanes_stay {
            self.line("}");
        }
        self.line("var weighted = 0.0;\nvar first_step_loss = 0.0;\nvar nonfinite_loss = false;\nvar nonfinite_parameter = false;");
        self.line("for (var step = 0u; step < steps; step++) {");
        self.each_vec4(p4, |me, k, _| {
            format!("{} = vec4<f32>(0.0);", me.vec4("g", k))
        });
        self.line("let first = step * settings.batch;");
        self.line("let batch = min(settings.batch, rows.x - first);");
        if self.dropout() {
            // The run's step, as the trainer counts its optimizer's steps.
            self.line("let dropout_step = (settings.first_epoch + epoch) * steps + step;");
        }
        if self.weighted_softmax() {
            // PyTorch's weighted mean: Σ w[t]·loss / Σ w[t] over the step's rows, the
            // denominator first (every lane of the subgroup form adds all of it).
            self.line("var class_weights = 0.0;");
            self.line(&format!(
                "for (var r = 0u; r < batch; r++) {{ class_weights += class_weight(who.w, target_class(train_row(group, epoch, first + r)), {}u); }}",
                self.shape.sizes[self.shape.sizes.len() - 1]
            ));
            self.line("let scale = 1.0 / class_weights;");
        } else {
            self.line(&format!(
                "let scale = 1.0 / f32(batch * {}u);",
                self.loss_width()
            ));
        }
        self.line("var loss = 0.0;");
        let close =
            self.open_row_loop("batch", |r| format!("train_row(group, epoch, first + {r})"));
        self.forward(features, true);
        self.loss(true);
        self.backward();
        self.line(close);
        if self.subgroup() {
            self.subgroup_sum("loss");
            for k in 0..p4 {
                self.subgroup_sum(&format!("g{k}"));
            }
        }
        self.line("let step_loss = loss * scale;");
        self.line("if step == 0u { first_step_loss = step_loss; }");
        self.line("nonfinite_loss = nonfinite_loss || any_nonfinite(vec4<f32>(step_loss));");
        self.line("weighted += step_loss * f32(batch);");
        self.line("let st = step_values[who.y * settings.steps_stride + epoch * steps + step];");
        self.clip_grad_norm(p4);
        self.update(p4);
        self.line("}");
        self.line("let train_loss = weighted / f32(rows.x);");
        self.line("var validation_loss = 0.0;");
        self.line("if rows.z > 0u {");
        self.line("var loss = 0.0;");
        if self.weighted_softmax() {
            self.line("var class_weights = 0.0;");
        }
        let close = self.open_row_loop("rows.z", |r| format!("tables[rows.y + {r}]"));
        self.forward(features, false);
        self.loss(false);
        self.line(close);
        self.subgroup_sum("loss");
        if self.weighted_softmax() {
            self.subgroup_sum("class_weights");
            self.line("validation_loss = loss * (1.0 / class_weights);");
        } else {
            self.line(&format!(
                "validation_loss = loss * (1.0 / f32(rows.z * {}u));",
                self.loss_width()
            ));
        }
        self.line("}");
        self.line("let outcome = EpochOutcome(nonfinite_loss, nonfinite_parameter, train_loss, first_step_loss, rows.z > 0u, validation_loss);");
        // A model that stops ends its epochs (writing what it ends with after the loop); with
        // shared loads its lane trains on with the others, so it writes that when it stops.
        let stop = if lanes_stay { "" } else { "\nbreak;" };
        if lanes_stay {
            self.line("if running {");
        }
        self.line("var standing = control.standing;");
        self.line("let status = decide(&standing, outcome, rules);");
        self.line("record_history(model, epoch, train_loss, validation_loss, status);");
        self.line("if diverged(status) {");
        self.each_vec4(p4, |me, k, n| {
            format!(
                "{} = {};",
                me.vec4("w", k),
                Self::record_at(looped, layout.start, k, n)
            )
        });
        self.line(&format!("control.running = 0u;{stop}\n}} else {{"));
        self.line("control.standing = standing;");
        self.line("if (status & IMPROVED) != 0u {");
        self.line("control.best_epoch = settings.first_epoch + epoch + 1u;");
        self.store_params(p4, layout.best);
        self.line("}");
        self.line(&format!(
            "if (status & OUT_OF_PATIENCE) != 0u {{\ncontrol.running = 0u;{stop}\n}}"
        ));
        self.line("}");
        if lanes_stay {
            self.line("running = control.running != 0u;");
            self.line("if !running || epoch + 1u == settings.epochs {");
            self.store_final(p4, states);
            self.line("}\n}\n}");
            self.line("if started { controls[model] = control; }");
        } else {
            self.line("}");
            self.store_final(p4, states);
            self.line("controls[model] = control;");
        }
        self.line("}");
        self.out
    }

    /// Writes the parameters and optimizer states the model ends the dispatch with.
    fn store_final(&mut self, p4: usize, states: usize) {
        let looped = self.looped();
        let layout = self.shape.layout();
        self.each_vec4(p4, |me, k, n| {
            let mut text = format!(
                "{} = {};",
                Self::record_at(looped, 0, k, n),
                me.vec4("w", k)
            );
            for st in 0..states {
                let at = layout.state + st * p4;
                text += &format!(
                    " {} = {};",
                    Self::record_at(looped, at, k, n),
                    me.vec4(&format!("m{st}"), k)
                );
            }
            text
        });
    }

    /// Elements the loss averages over per row: the outputs for element-wise losses, one for
    /// softmax cross-entropy (a mean over rows).
    fn loss_width(&self) -> usize {
        match self.shape.loss {
            LossKind::SoftmaxCrossEntropy => 1,
            _ => *self.shape.sizes.last().expect("at least two sizes"),
        }
    }

    /// Dropout's multiplier of unit `j` (a WGSL expression) of hidden layer `n` (1-based, of
    /// `outputs` units) for the step's row `r`, as the trainer's Dropout draws it
    /// (kernels/dropout.rs): keyed by the row group's seed, model 0, the run's step, the layer
    /// and the element `r·outputs + j`.
    fn dropout_multiplier(&self, n: usize, outputs: usize, j: &str) -> String {
        let p = f32::from_bits(self.shape.dropout[n - 1]);
        format!(
            "dropout_multiplier(dropout_seed, vec4<u32>(r * {outputs}u + {j}, {}u, dropout_step, 0u), {}u, bitcast<f32>({}u))",
            n - 1,
            drop_threshold(p),
            dropout_scale(p).to_bits()
        )
    }

    /// Whether the loss is softmax cross-entropy with class weights: a weighted mean.
    fn weighted_softmax(&self) -> bool {
        self.shape.weighted && self.shape.loss == LossKind::SoftmaxCrossEntropy
    }

    /// Whether the kernel trains with Dropout after some hidden layer.
    fn dropout(&self) -> bool {
        self.shape.dropout.iter().any(|&p| p != 0)
    }

    /// Whether hidden layer `n` (1-based) has Dropout.
    fn dropout_after(&self, n: usize) -> bool {
        self.shape.dropout[n - 1] != 0
    }

    /// The activation after hidden layer `n` (1-based).
    fn activation(&self, n: usize) -> Activation {
        self.shape.activations[n - 1]
    }

    /// `a{l}`: the activations of layer l (a0: the row's features; the last: the logits), and
    /// `z{l}` the pre-activations of the hidden layers. Each unit's sum starts at its bias and
    /// adds its inputs in order, one fma each, in both forms. In `training` with Dropout, each
    /// hidden activation is times its multiplier `m{l}`, which the backward pass reuses.
    fn forward(&mut self, features: usize, training: bool) {
        let layers = self.shape.sizes.len() - 1;
        if self.looped() {
            self.line(&format!("var a0: array<f32, {features}>;"));
            self.line(&format!(
                "for (var k = 0u; k < {features}u; k++) {{ a0[k] = feature(row, k, {features}u); }}"
            ));
            for l in 0..layers {
                let (inputs, outputs) = (self.shape.sizes[l], self.shape.sizes[l + 1]);
                let (w, b) = self.offsets[l];
                let n = l + 1;
                self.line(&format!("var a{n}: array<f32, {outputs}>;"));
                let hidden = n < layers;
                let dropout = hidden && training && self.dropout_after(n);
                if hidden {
                    self.line(&format!("var z{n}: array<f32, {outputs}>;"));
                }
                if dropout {
                    self.line(&format!("var m{n}: array<f32, {outputs}>;"));
                }
                self.line(&format!("for (var j = 0u; j < {outputs}u; j++) {{"));
                self.line(&format!("var sum = {};", at('w', &format!("{b}u + j"))));
                self.line(&format!(
                    "for (var k = 0u; k < {inputs}u; k++) {{ sum = fma({}, a{l}[k], sum); }}",
                    at('w', &format!("{w}u + j * {inputs}u + k"))
                ));
                if dropout {
                    self.line(&format!(
                        "z{n}[j] = sum;\nm{n}[j] = {};\na{n}[j] = {} * m{n}[j];",
                        self.dropout_multiplier(n, outputs, "j"),
                        self.activation(n).wgsl_forward("sum")
                    ));
                } else if hidden {
                    self.line(&format!(
                        "z{n}[j] = sum;\na{n}[j] = {};",
                        self.activation(n).wgsl_forward("sum")
                    ));
                } else {
                    self.line(&format!("a{n}[j] = sum;"));
                }
                self.line("}");
            }
            return;
        }
        match self.row_lanes() {
            Some(lanes) => self.shared_row_loads(features, lanes),
            None => {
                for k in 0..features {
                    self.line(&format!("let a0_{k} = feature(row, {k}u, {features}u);"));
                }
            }
        }
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
                    let n = l + 1;
                    self.line(&format!("let z{n}_{j} = {sum};"));
                    let a = self.activation(n).wgsl_forward(&format!("z{n}_{j}"));
                    if training && self.dropout_after(n) {
                        let m = self.dropout_multiplier(n, outputs, &format!("{j}u"));
                        self.line(&format!(
                            "let m{n}_{j} = {m};\nlet a{n}_{j} = {a} * m{n}_{j};"
                        ));
                    } else {
                        self.line(&format!("let a{n}_{j} = {a};"));
                    }
                } else {
                    self.line(&format!("let a{}_{j} = {sum};", l + 1));
                }
            }
        }
    }

    /// The row's features `a0_k` and its target's word `row_target`, each lane loading its
    /// share of the row's words (features, then the target) and every lane taking each word
    /// from the lane that loaded it.
    fn shared_row_loads(&mut self, features: usize, lanes: usize) {
        for c in 0..(features + 1).div_ceil(lanes) {
            let first = c * lanes;
            if first + lanes <= features {
                self.line(&format!(
                    "let row_word{c} = data[row * {features}u + {first}u + lane];"
                ));
            } else {
                self.line(&format!("let e{c} = min({first}u + lane, {features}u);"));
                self.line(&format!(
                    "let row_word{c} = data[select(row * {features}u + e{c}, settings.targets_at + row, e{c} == {features}u)];"
                ));
            }
        }
        for k in 0..features {
            self.line(&format!(
                "let a0_{k} = bitcast<f32>(subgroupBroadcast(row_word{}, {}u));",
                k / lanes,
                k % lanes
            ));
        }
        self.line(&format!(
            "let row_target = subgroupBroadcast(row_word{}, {}u);",
            features / lanes,
            features % lanes
        ));
    }

    /// The row's target: a class index, or a value.
    fn target(&self, class: bool) -> &'static str {
        match (self.row_lanes().is_some(), class) {
            (true, true) => "row_target",
            (true, false) => "bitcast<f32>(row_target)",
            (false, true) => "target_class(row)",
            (false, false) => "target_value(row)",
        }
    }

    /// Adds the row's loss term to `loss`; in training, also the gradient of each logit
    /// (`d{L}`, scaled by `scale`).
    fn loss(&mut self, training: bool) {
        let last = self.shape.sizes.len() - 1;
        let outputs = self.shape.sizes[last];
        let logit = |j: usize| self.unit('a', last, j);
        let grad = |j: usize| self.unit('d', last, j);
        let weighted = self.shape.weighted;
        let mut lines: Vec<String> = Vec::new();
        if training && self.looped() {
            lines.push(format!("var d{last}: array<f32, {outputs}>;"));
        }
        let declare = if self.looped() { "" } else { "let " };
        match self.shape.loss {
            LossKind::SoftmaxCrossEntropy => {
                // The row's max and sum of exponentials in column order, as softmax_row.wgsl.
                lines.push(format!("let label = {};", self.target(true)));
                lines.push(format!("var row_max = {};", logit(0)));
                for j in 1..outputs {
                    lines.push(format!("row_max = max(row_max, {});", logit(j)));
                }
                lines.push("var sum_exp = 0.0;".into());
                for j in 0..outputs {
                    lines.push(format!("sum_exp += exp({} - row_max);", logit(j)));
                }
                let mut target = logit(0);
                for j in 1..outputs {
                    target = format!("select({target}, {}, label == {j}u)", logit(j));
                }
                // Weighted, as loss.wgsl: the row's term times w, its gradients times w·scale.
                let (times_w, row_scale) = if weighted {
                    // (Not `w`: the looped form's parameters are `w`.)
                    lines.push(format!(
                        "let row_w = class_weight(who.w, label, {outputs}u);"
                    ));
                    if !training {
                        lines.push("class_weights += row_w;".into());
                    }
                    ("row_w * ", "(row_w * scale)")
                } else {
                    ("", "scale")
                };
                lines.push(format!(
                    "loss += {times_w}softmax_ce_term(row_max, sum_exp, {target}, label < {outputs}u);"
                ));
                if training {
                    for j in 0..outputs {
                        lines.push(format!(
                            "{declare}{} = softmax_ce_grad({}, row_max, sum_exp, label == {j}u) * {row_scale};",
                            grad(j),
                            logit(j)
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
                // Element-wise losses have one output (regression, binary); BCE with logits'
                // pos_weight is the model's first weight.
                let pos_weight = if weighted {
                    ", class_weight(who.w, 0u, 1u)"
                } else {
                    ""
                };
                let term = if weighted {
                    "bce_with_logits_pos_term"
                } else {
                    term
                };
                for j in 0..outputs {
                    lines.push(format!(
                        "let t{j} = {term}({}, {}{pos_weight});\nloss += t{j}.x;",
                        logit(j),
                        self.target(false)
                    ));
                    if training {
                        lines.push(format!("{declare}{} = t{j}.y * scale;", grad(j)));
                    }
                }
            }
        }
        for line in lines {
            self.line(&line);
        }
    }

    /// Accumulates the row's gradients, from the logits' (`d{L}`) down; the same operations in
    /// the same order in both forms.
    fn backward(&mut self) {
        let layers = self.shape.sizes.len() - 1;
        if self.looped() {
            for l in (0..layers).rev() {
                let (inputs, outputs) = (self.shape.sizes[l], self.shape.sizes[l + 1]);
                let (w, b) = self.offsets[l];
                let n = l + 1;
                self.line(&format!("for (var j = 0u; j < {outputs}u; j++) {{"));
                self.line(&format!(
                    "let d = d{n}[j];\n{} += d;",
                    at('g', &format!("{b}u + j"))
                ));
                self.line(&format!(
                    "for (var k = 0u; k < {inputs}u; k++) {{ let i = {w}u + j * {inputs}u + k; {g} = fma(d, a{l}[k], {g}); }}",
                    g = at('g', "i")
                ));
                self.line("}");
                if l > 0 {
                    self.line(&format!("var d{l}: array<f32, {inputs}>;"));
                    self.line(&format!("for (var k = 0u; k < {inputs}u; k++) {{"));
                    self.line(&format!(
                        "var sum = d{n}[0] * {};",
                        at('w', &format!("{w}u + k"))
                    ));
                    self.line(&format!(
                        "for (var j = 1u; j < {outputs}u; j++) {{ sum = fma(d{n}[j], {}, sum); }}",
                        at('w', &format!("{w}u + j * {inputs}u + k"))
                    ));
                    let mask = if self.dropout_after(l) {
                        format!(" * m{l}[k]")
                    } else {
                        String::new()
                    };
                    self.line(&format!(
                        "d{l}[k] = {}{mask};",
                        self.activation(l).wgsl_backward(&format!("z{l}[k]"), "sum")
                    ));
                    self.line("}");
                }
            }
            return;
        }
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
                for k in 0..inputs {
                    let mut sum = format!("d{}_0 * {}", l + 1, self.weight(l, 0, k));
                    for j in 1..outputs {
                        sum = format!("fma(d{}_{j}, {}, {sum})", l + 1, self.weight(l, j, k));
                    }
                    let d = self.activation(l).wgsl_backward(&format!("z{l}_{k}"), &sum);
                    let mask = if self.dropout_after(l) {
                        format!(" * m{l}_{k}")
                    } else {
                        String::new()
                    };
                    self.line(&format!("let d{l}_{k} = {d}{mask};"));
                }
            }
        }
    }

    /// clip_grad_norm_'s factor `clip` over the model's gradients with L1's term (the
    /// padding's gradients and weights are zero): formulas.wgsl's factor when
    /// `settings.clip_grad_norm` > 0, else 1; the update applies it after L1.
    fn clip_grad_norm(&mut self, p4: usize) {
        self.line("var clip = 1.0;");
        self.line("if settings.clip_grad_norm > 0.0 {\nvar square_sum = 0.0;");
        self.each_vec4(p4, |me, k, _| {
            let (w, g) = (me.vec4("w", k), me.vec4("g", k));
            format!("{{ let g = penalized_grad({g}, {w}, hp); square_sum += dot(g, g); }}")
        });
        self.line("clip = clip_norm_coefficient(square_sum, settings.clip_grad_norm);");
        self.line("}");
    }

    /// The optimizer step of every parameter, four at a time.
    fn update(&mut self, p4: usize) {
        let algorithm = self.shape.algorithm;
        self.each_vec4(p4, |me, k, _| {
            let (w, g) = (me.vec4("w", k), me.vec4("g", k));
            let (m0, m1, m2) = (me.vec4("m0", k), me.vec4("m1", k), me.vec4("m2", k));
            let sgd = format!(
                "let u = sgd_update({w}, {g}, clip, {m0}, hp, st); {w} = u.theta; {m0} = u.momentum_buffer;"
            );
            let step = match algorithm {
                GridAlgorithm::SgdOrAdam => format!(
                    "if who.z == {UPDATE_SGD}u {{ {sgd} }} else {{ let u = adam_update({w}, {g}, clip, {m0}, {m1}, vec4<f32>(0.0), hp, st); {w} = u.theta; {m0} = u.m; {m1} = u.v; }}"
                ),
                GridAlgorithm::AdamAmsgrad => format!(
                    "{{ let u = adam_update({w}, {g}, clip, {m0}, {m1}, {m2}, hp, st); {w} = u.theta; {m0} = u.m; {m1} = u.v; {m2} = u.v_used; }}"
                ),
            };
            format!("{step}\nnonfinite_parameter = nonfinite_parameter || any_nonfinite({w});")
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::seam::{assert_constants, assert_mirrors, mirror};
    use super::*;

    /// Every kind of generated kernel is valid WGSL: each loss, each optimizer's states, one
    /// and two hidden layers (naga here; a driver's compiler in tests/grid.rs).
    #[test]
    fn generated_kernels_validate() {
        let shapes = [
            (vec![3, 2, 1], LossKind::Mse, GridAlgorithm::SgdOrAdam),
            (
                vec![4, 3, 2, 1],
                LossKind::BceWithLogits,
                GridAlgorithm::SgdOrAdam,
            ),
            (
                vec![2, 5, 3],
                LossKind::SoftmaxCrossEntropy,
                GridAlgorithm::AdamAmsgrad,
            ),
        ];
        let forms = [
            (KernelForm::Unrolled, None),
            (KernelForm::Unrolled, Some(8)),
            (KernelForm::Unrolled, Some(4)),
            (KernelForm::Looped, None),
            (KernelForm::Subgroup, None),
        ];
        for ((sizes, loss, algorithm), (form, row_lanes)) in shapes
            .into_iter()
            .flat_map(|s| forms.map(|f| (s.clone(), f)))
        {
            // Tanh after the first hidden layer, and Dropout after it alone where there are
            // two (and with AMSGrad).
            let hidden = sizes.len() - 2;
            let mut activations = vec![Activation::Relu; hidden];
            activations[0] = Activation::Tanh;
            let mut dropout = vec![0; hidden];
            if algorithm == GridAlgorithm::AdamAmsgrad || hidden > 1 {
                dropout[0] = 0.25f32.to_bits();
            }
            let shape = GridShape {
                sizes,
                activations,
                dropout,
                loss,
                weighted: loss != LossKind::Mse,
                algorithm,
                form,
                row_lanes,
            };
            let source = shape.source();
            let module = naga::front::wgsl::parse_str(&source)
                .unwrap_or_else(|e| panic!("{shape:?}: {}", e.emit_to_string(&source)));
            let capabilities = match (form, row_lanes) {
                (KernelForm::Subgroup, _) | (_, Some(_)) => naga::valid::Capabilities::SUBGROUP,
                _ => naga::valid::Capabilities::empty(),
            };
            naga::valid::Validator::new(naga::valid::ValidationFlags::all(), capabilities)
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
            activations: vec![Activation::Relu],
            dropout: vec![0],
            loss: LossKind::Mse,
            weighted: false,
            algorithm: GridAlgorithm::SgdOrAdam,
            form: KernelForm::Unrolled,
            row_lanes: None,
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
    fn the_row_group_entry_matches_wgsl() {
        assert_constants(Shader::Grid, &[("ROW_GROUP_WORDS", ROW_GROUP_WORDS as u32)]);
    }

    #[test]
    fn the_settings_and_control_match_wgsl() {
        #[rustfmt::skip]
        assert_mirrors(Shader::Grid, "GridSettings", mirror!(GridSettings {
            models, epochs, first_epoch, total_epochs, batch, members_at, row_groups_at,
            orders_at, order_stride, targets_at, steps_stride, patience, growth, min_delta,
            workgroup_groups_at, clip_grad_norm, weights_at,
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
