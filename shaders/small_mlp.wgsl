// The small-model path: a whole training epoch of a small MLP in one dispatch of one
// workgroup. Dispatches, not arithmetic, are what small models pay for; here the workgroup
// loops over the epoch's steps — forward, loss, backward, update, with barriers between the
// phases — keeping the batch's activations and gradients in workgroup memory and updating the
// parameters and optimizer state in place in the model's flat buffers.
//
// The loss terms (formulas.wgsl's, and softmax_row.wgsl's row) and the optimizer step
// (formulas.wgsl's and optim_state.wgsl's, one parameter group) are the general path's own text, which the crate puts
// before this file (with epoch_row.wgsl); sums over the batch run in a fixed order, so results
// are reproducible bit for bit, and equal to the general path's within the kernel tolerance.

// Invocations: 256 on GPUs; the host asks for 32 on CPU-like adapters, where a barrier costs
// in proportion to the invocations it waits for and these models have little to share out.
override WG: u32 = 256u;
// Workgroup memory: every layer's activations for one batch (and the pre-activations of the
// hidden layers whose backward needs them), and the gradients going backward.
const ACT_CAPACITY: u32 = 5120u;
const GRAD_CAPACITY: u32 = 2048u;
const MAX_LAYERS: u32 = 4u;
// Loss weights the params hold: class weights, or a pos_weight per output column.
const MAX_LOSS_WEIGHTS: u32 = 16u;

const OPT_SGD: u32 = 0u;
const OPT_ADAM: u32 = 1u;
// pre_offsets of a hidden layer whose backward reads its output (ReLU) instead.
const READS_OUTPUT: u32 = 0xffffffffu;
// Set by the host when every hidden layer is ReLU: the kernel then compiles to ReLU's max and
// select alone, as it did before the other activations (the bench's ReLU rows stay as fast).
override ONLY_RELU: bool = false;
// Set by the host when a hidden layer has Dropout: the kernel then draws its masks.
override DROPOUT: bool = false;
// Set by the host when clip_grad_norm_ clips the gradients (params.max_norm): each step then
// goes backward twice, once for the norm and once to update.
override CLIP: bool = false;

struct SmallParams {
    // The optimizer's one group (first: a struct member of a uniform starts at a multiple of 16).
    group: GroupParams,
    rows: u32,
    batch: u32,
    layers: u32,
    x_cols: u32,
    // sizes[0..=layers]: inputs, hidden widths, outputs.
    sizes: array<vec4<u32>, 2>,
    weight_offsets: vec4<u32>,
    bias_offsets: vec4<u32>,
    loss: u32,
    optimizer: u32,
    // 1 when the loss takes `loss_weights` (loss.wgsl's WEIGHTED).
    weighted: u32,
    // clip_grad_norm_'s max_norm (with CLIP).
    max_norm: f32,
    // Per hidden layer: its activation (ACT_* of formulas.wgsl), LeakyReLU's slope, and where
    // its pre-activations start in `act` (after every layer's activations) or READS_OUTPUT.
    activation: vec4<u32>,
    negative_slope: vec4<f32>,
    pre_offsets: vec4<u32>,
    // Per hidden layer, Dropout's ⌈p·2²⁴⌉ (0: none) and 1/(1 − p) (kernels/dropout.rs); the
    // run's seed's low and high words.
    dropout_threshold: vec4<u32>,
    dropout_scale: vec4<f32>,
    dropout_seed: vec4<u32>,
    // PyTorch's CrossEntropyLoss weight per class, or BCEWithLogitsLoss pos_weight per column.
    loss_weights: array<vec4<f32>, 4>,
    // The epoch's row of results; its `steps` are the epoch's.
    row: EpochRow,
}

@group(0) @binding(0) var<storage, read> x_all: array<f32>;
@group(0) @binding(1) var<storage, read> y_all: array<u32>;
@group(0) @binding(2) var<storage, read> order: array<u32>;
// Per step: the step vector of formulas.wgsl; after the epoch's, the run's step before the
// epoch (u32 bits in x), which keys Dropout's masks.
@group(0) @binding(3) var<storage, read> step_values: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> values: array<f32>;
@group(0) @binding(5) var<storage, read_write> state0: array<f32>;
@group(0) @binding(6) var<storage, read_write> state1: array<f32>;
@group(0) @binding(7) var<storage, read_write> state2: array<f32>;
// The epoch's row of results (`params.row`): the step losses; the non-finite slot, set to 1 if
// an update went non-finite; the status slot, nonzero before the epoch runs when an earlier
// epoch of the submission stopped training (control.wgsl): then nothing is done.
@group(0) @binding(8) var<storage, read_write> results: array<f32>;
@group(0) @binding(9) var<uniform> params: SmallParams;

var<workgroup> act: array<f32, ACT_CAPACITY>;
// A layer's output gradient and the gradient below it, one at each end: the output gradient
// of the last layer starts at 0, the one below it ends at GRAD_CAPACITY, and so on in turn.
var<workgroup> grad: array<f32, GRAD_CAPACITY>;
var<workgroup> scratch: array<f32, WG>;
// The epoch's status slot: nonzero to skip the epoch.
var<workgroup> skip_epoch: f32;
// Where the batch's logits start in `act` (the last layer's activations).
var<private> logits_start: u32;

// Where softmax_row.wgsl finds a row's logits and puts their gradients (the output gradient at
// the start of `grad`).
fn logit(row: u32, j: u32) -> f32 {
    return act[logits_start + row * size(params.layers) + j];
}

fn write_logit_grad(row: u32, j: u32, g: f32) {
    grad[row * size(params.layers) + j] = g;
}

// Dropout's multiplier of element `element` (row·units + unit of the batch) of hidden layer l
// in the run's step `step`: the trainer's own (formulas.wgsl's dropout_multiplier, model 0).
fn dropout_at(l: u32, element: u32, step: u32) -> f32 {
    if params.dropout_threshold[l] == 0u {
        return 1.0;
    }
    let counter = vec4<u32>(element, l, step, 0u);
    return dropout_multiplier(params.dropout_seed.xy, counter, params.dropout_threshold[l], params.dropout_scale[l]);
}

fn size(l: u32) -> u32 {
    return params.sizes[l / 4u][l % 4u];
}

fn loss_weight(j: u32) -> f32 {
    return params.loss_weights[j / 4u][j % 4u];
}

// Σ of the batch rows' class weights, the weighted mean's denominator, for every invocation.
var<workgroup> batch_weight: f32;

fn batch_class_weight(rows: u32, first_row: u32, classes: u32, lidx: u32) -> f32 {
    var sum = 0.0;
    for (var r = lidx; r < rows; r += WG) {
        sum += loss_weight(min(y_all[order[first_row + r]], classes - 1u));
    }
    let total = workgroup_sum(sum, lidx, rows);
    if lidx == 0u {
        batch_weight = total;
    }
    return workgroupUniformLoad(&batch_weight);
}

// Where layer l's input activations start in `act` (layer 0's input is the batch itself).
fn act_offset(l: u32) -> u32 {
    var off = 0u;
    for (var t = 0u; t < l; t++) {
        off += params.batch * size(t);
    }
    return off;
}

// One parameter's optimizer update (optim_state.wgsl's, on one lane of a vec4), its gradient
// scaled by clip_grad_norm_'s `clip` after L1's term.
fn update(p: u32, raw_grad: f32, st: vec4<f32>, clip: f32) {
    let theta = vec4<f32>(values[p]);
    let g = vec4<f32>(raw_grad);
    var updated: f32;
    if params.optimizer == OPT_SGD {
        updated = sgd_step(p, theta, g, clip, params.group, st).x;
    } else {
        updated = adam_step(p, theta, g, clip, params.group, st).x;
    }
    if any_nonfinite(vec4<f32>(updated)) {
        results[params.row.nonfinite] = 1.0;
    }
    values[p] = updated;
}

// Where optim_state.wgsl finds the optimizer state: one element of the flat state buffers, in
// lane x.
fn load_state(k: u32, p: u32) -> vec4<f32> {
    switch k {
        case 0u: {
            return vec4<f32>(state0[p]);
        }
        case 1u: {
            return vec4<f32>(state1[p]);
        }
        default: {
            return vec4<f32>(state2[p]);
        }
    }
}

fn store_state(k: u32, p: u32, v: vec4<f32>) {
    switch k {
        case 0u: {
            state0[p] = v.x;
        }
        case 1u: {
            state1[p] = v.x;
        }
        default: {
            state2[p] = v.x;
        }
    }
}

// The terms of the first `count` invocations (the others hold none) added in a fixed order by
// invocation 0, which alone gets the total: two barriers, where a tree takes log₂(WG) + 2.
fn workgroup_sum(term: f32, lidx: u32, count: u32) -> f32 {
    scratch[lidx] = term;
    workgroupBarrier();
    var total = 0.0;
    if lidx == 0u {
        for (var i = 0u; i < min(count, WG); i++) {
            total += scratch[i];
        }
    }
    workgroupBarrier();
    return total;
}

@compute @workgroup_size(WG)
fn train_epoch(@builtin(local_invocation_index) lidx: u32) {
    // Read by one invocation and shared, so that the return is uniform (the barriers after it
    // must be reached by every invocation or none).
    if lidx == 0u {
        skip_epoch = results[params.row.status];
    }
    if workgroupUniformLoad(&skip_epoch) != 0.0 {
        return;
    }
    let layers = params.layers;
    let outputs = size(layers);
    let first_step = bitcast<u32>(step_values[params.row.steps].x);
    for (var s = 0u; s < params.row.steps; s++) {
        let first_row = s * params.batch;
        let rows = min(params.batch, params.rows - first_row);
        let st = step_values[s];

        // The batch's inputs.
        let inputs = size(0u);
        for (var idx = lidx; idx < rows * inputs; idx += WG) {
            let r = idx / inputs;
            act[idx] = x_all[order[first_row + r] * params.x_cols + idx % inputs];
        }
        workgroupBarrier();

        // Forward: act(l+1) = f_l(act(l)·W_lᵀ + b_l), f_l the identity for the output layer.
        for (var l = 0u; l < layers; l++) {
            let n_in = size(l);
            let n_out = size(l + 1u);
            let src = act_offset(l);
            let dst = act_offset(l + 1u);
            for (var idx = lidx; idx < rows * n_out; idx += WG) {
                let r = idx / n_out;
                let j = idx % n_out;
                var acc = 0.0;
                for (var i = 0u; i < n_in; i++) {
                    acc += act[src + r * n_in + i] * values[params.weight_offsets[l] + j * n_in + i];
                }
                var v = acc + values[params.bias_offsets[l] + j];
                if l + 1u < layers && ONLY_RELU {
                    v = relu(v);
                } else if l + 1u < layers {
                    if params.pre_offsets[l] != READS_OUTPUT {
                        act[params.pre_offsets[l] + idx] = v;
                    }
                    v = activation_forward(params.activation[l], v, params.negative_slope[l]);
                }
                if DROPOUT && l + 1u < layers {
                    v *= dropout_at(l, idx, first_step + s);
                }
                act[dst + idx] = v;
            }
            workgroupBarrier();
        }

        // Loss and its gradient (of the mean), at the start of `grad`.
        let logits = act_offset(layers);
        logits_start = logits;
        var term = 0.0;
        let weighted = params.weighted != 0u;
        var class_scale = 0.0;
        if params.loss == LOSS_SOFTMAX_CE {
            var scale = 1.0 / f32(rows);
            if weighted {
                class_scale = 1.0 / batch_class_weight(rows, first_row, outputs, lidx);
                scale = class_scale;
            }
            for (var r = lidx; r < rows; r += WG) {
                let label = y_all[order[first_row + r]];
                var w = 1.0;
                if weighted {
                    w = loss_weight(min(label, outputs - 1u));
                }
                term += w * softmax_ce_row(r, outputs, label, w * scale);
            }
        } else {
            let scale = 1.0 / f32(rows * outputs);
            for (var idx = lidx; idx < rows * outputs; idx += WG) {
                let x = act[logits + idx];
                let y = bitcast<f32>(y_all[order[first_row + idx / outputs] * outputs + idx % outputs]);
                var t: vec2<f32>;
                if weighted {
                    t = bce_with_logits_pos_term(x, y, loss_weight(idx % outputs));
                } else {
                    t = elementwise_loss_term(params.loss, x, y);
                }
                term += t.x;
                grad[idx] = t.y * scale;
            }
        }
        let n = select(rows * outputs, rows, params.loss == LOSS_SOFTMAX_CE);
        let total = workgroup_sum(term, lidx, n);
        if lidx == 0u {
            if weighted && params.loss == LOSS_SOFTMAX_CE {
                results[s] = total * class_scale; // Σ w·l / Σ w
            } else {
                results[s] = total / f32(n);
            }
        }

        var clip = 1.0;
        if CLIP {
            // The norm's pass overwrites the output gradient (below a third layer); the
            // logits, read no more, keep it meanwhile.
            for (var idx = lidx; idx < rows * outputs; idx += WG) {
                act[logits + idx] = grad[idx];
            }
            let squares = backward(rows, first_step + s, st, 1.0, false, lidx);
            let total = workgroup_sum(squares, lidx, WG);
            if lidx == 0u {
                clip_factor = clip_norm_coefficient(total, params.max_norm);
            }
            clip = workgroupUniformLoad(&clip_factor);
            for (var idx = lidx; idx < rows * outputs; idx += WG) {
                grad[idx] = act[logits + idx];
            }
            workgroupBarrier();
        }
        backward(rows, first_step + s, st, clip, true, lidx);
    }
}

// clip_grad_norm_'s factor for the step, shared.
var<workgroup> clip_factor: f32;

// Parameter p's gradient g in a backward pass: updated on g scaled by `clip` (returns 0), or
// in the norm's pass left alone, returning the square of g with L1's term (formulas.wgsl's
// penalized_grad).
fn applied(p: u32, g: f32, st: vec4<f32>, clip: f32, update_now: bool) -> f32 {
    if update_now {
        update(p, g, st, clip);
        return 0.0;
    }
    let penalized = penalized_grad(vec4<f32>(g), vec4<f32>(values[p]), params.group).x;
    return penalized * penalized;
}

// Backward through the batch of `rows` rows in the run's step `run_step` and, with
// `update_now`, the update (`applied`), last layer first; the gradient goes from one end of
// `grad` to the other. dH below is computed from the old weights before they are updated, so
// the norm's pass meets the gradients the updating pass meets. Returns this invocation's share
// of Σg² (0 when updating).
fn backward(rows: u32, run_step: u32, st: vec4<f32>, clip: f32, update_now: bool, lidx: u32) -> f32 {
    let layers = params.layers;
    var squares = 0.0;
    for (var step_back = 0u; step_back < layers; step_back++) {
        let l = layers - 1u - step_back;
        let n_in = size(l);
        let n_out = size(l + 1u);
        let below_src = act_offset(l);
        // Where this layer's output gradient starts, and where the one below it goes.
        var cur = 0u;
        var below = GRAD_CAPACITY - rows * n_in;
        if step_back % 2u == 1u {
            cur = GRAD_CAPACITY - rows * n_out;
            below = 0u;
        }
        if l > 0u {
            for (var idx = lidx; idx < rows * n_in; idx += WG) {
                let r = idx / n_in;
                let i = idx % n_in;
                var acc = 0.0;
                for (var j = 0u; j < n_out; j++) {
                    acc += grad[cur + r * n_out + j] * values[params.weight_offsets[l] + j * n_in + i];
                }
                // Through the activation of hidden layer l − 1 (whose output is H_below).
                let h = l - 1u;
                var z = act[below_src + idx];
                var d: f32;
                if ONLY_RELU {
                    d = relu_grad(z, acc);
                } else {
                    if params.pre_offsets[h] != READS_OUTPUT {
                        z = act[params.pre_offsets[h] + idx];
                    }
                    d = activation_backward(params.activation[h], z, acc, params.negative_slope[h]);
                }
                if DROPOUT {
                    d *= dropout_at(h, idx, run_step);
                }
                grad[below + idx] = d;
            }
        }
        storageBarrier();
        workgroupBarrier();
        // dW_l = dHᵀ·H_below and db_l = Σ_rows dH, each applied at once.
        for (var p = lidx; p < n_out * n_in + n_out; p += WG) {
            var g = 0.0;
            if p < n_out * n_in {
                let j = p / n_in;
                let i = p % n_in;
                for (var r = 0u; r < rows; r++) {
                    g += grad[cur + r * n_out + j] * act[below_src + r * n_in + i];
                }
                squares += applied(params.weight_offsets[l] + p, g, st, clip, update_now);
            } else {
                let j = p - n_out * n_in;
                for (var r = 0u; r < rows; r++) {
                    g += grad[cur + r * n_out + j];
                }
                squares += applied(params.bias_offsets[l] + j, g, st, clip, update_now);
            }
        }
        storageBarrier();
        workgroupBarrier();
    }
    return squares;
}
