// The small-model path: a whole training epoch of a small MLP in one dispatch of one
// workgroup. Dispatches, not arithmetic, are what small models pay for; here the workgroup
// loops over the epoch's steps — forward, loss, backward, update, with barriers between the
// phases — keeping the batch's activations and gradients in workgroup memory and updating the
// parameters and optimizer state in place in the model's flat buffers.
//
// The formulas are those of loss.wgsl and optim.wgsl (one parameter group), in the same order
// per element; sums over the batch run in a fixed order, so results are reproducible bit for
// bit, and equal to the general path's within the kernel tolerance.

// Invocations: 256 on GPUs; the host asks for 32 on CPU-like adapters, where a barrier costs
// in proportion to the invocations it waits for and these models have little to share out.
override WG: u32 = 256u;
// Workgroup memory: every layer's activations for one batch, and two gradient buffers.
const ACT_CAPACITY: u32 = 4096u;
const GRAD_CAPACITY: u32 = 1024u;
const MAX_LAYERS: u32 = 4u;

const LOSS_MSE: u32 = 0u;
const LOSS_BCE_WITH_LOGITS: u32 = 1u;
const LOSS_SOFTMAX_CE: u32 = 2u;
const OPT_SGD: u32 = 0u;
const FLAG_NESTEROV: u32 = 1u;
const FLAG_MAXIMIZE: u32 = 2u;
const FLAG_AMSGRAD: u32 = 4u;
const FLAG_DECOUPLED: u32 = 8u;

struct SmallParams {
    rows: u32,
    batch: u32,
    steps: u32,
    layers: u32,
    // sizes[0..=layers]: inputs, hidden widths, outputs.
    sizes: array<vec4<u32>, 2>,
    weight_offsets: vec4<u32>,
    bias_offsets: vec4<u32>,
    loss: u32,
    optimizer: u32,
    flags: u32,
    x_cols: u32,
    lr: f32,
    momentum: f32,
    dampening: f32,
    weight_decay: f32,
    l1: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
}

@group(0) @binding(0) var<storage, read> x_all: array<f32>;
@group(0) @binding(1) var<storage, read> y_all: array<u32>;
@group(0) @binding(2) var<storage, read> order: array<u32>;
// Per step: x = step size, y = √(1 − β₂ᵗ), z = 1 on the optimizer's first step.
@group(0) @binding(3) var<storage, read> step_values: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> values: array<f32>;
@group(0) @binding(5) var<storage, read_write> state0: array<f32>;
@group(0) @binding(6) var<storage, read_write> state1: array<f32>;
@group(0) @binding(7) var<storage, read_write> state2: array<f32>;
// The step losses at [0, steps); [steps + 1] set to 1 if an update went non-finite.
@group(0) @binding(8) var<storage, read_write> results: array<f32>;
@group(0) @binding(9) var<uniform> params: SmallParams;

var<workgroup> act: array<f32, ACT_CAPACITY>;
var<workgroup> grad_a: array<f32, GRAD_CAPACITY>;
var<workgroup> grad_b: array<f32, GRAD_CAPACITY>;
var<workgroup> scratch: array<f32, WG>;

fn size(l: u32) -> u32 {
    return params.sizes[l / 4u][l % 4u];
}

// Where layer l's input activations start in `act` (layer 0's input is the batch itself).
fn act_offset(l: u32) -> u32 {
    var off = 0u;
    for (var t = 0u; t < l; t++) {
        off += params.batch * size(t);
    }
    return off;
}

fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        return 1.0 / (1.0 + exp(-x));
    }
    let e = exp(x);
    return e / (1.0 + e);
}

fn log1p(z: f32) -> f32 {
    let u = 1.0 + z;
    if u == 1.0 {
        return z;
    }
    return log(u) * z / (u - 1.0);
}

fn is_nonfinite(v: f32) -> bool {
    return (bitcast<u32>(v) & 0x7f800000u) == 0x7f800000u;
}

// One parameter's optimizer update, as optim.wgsl does it.
fn update(p: u32, raw_grad: f32, st: vec4<f32>) {
    let theta0 = values[p];
    var theta = theta0;
    var g = raw_grad;
    if (params.flags & FLAG_MAXIMIZE) != 0u {
        g = -g;
    }
    if params.optimizer == OPT_SGD {
        g += params.weight_decay * theta0;
        g += params.l1 * sign(theta0);
        if params.momentum != 0.0 {
            var b = g;
            if st.z == 0.0 {
                b = params.momentum * state0[p] + (1.0 - params.dampening) * g;
            }
            state0[p] = b;
            if (params.flags & FLAG_NESTEROV) != 0u {
                g = g + params.momentum * b;
            } else {
                g = b;
            }
        }
        theta = theta0 - st.x * g;
    } else {
        let decoupled = (params.flags & FLAG_DECOUPLED) != 0u;
        if !decoupled {
            g += params.weight_decay * theta0;
        }
        g += params.l1 * sign(theta0);
        if decoupled {
            theta *= 1.0 - params.lr * params.weight_decay;
        }
        let m = params.beta1 * state0[p] + (1.0 - params.beta1) * g;
        let v = params.beta2 * state1[p] + (1.0 - params.beta2) * g * g;
        state0[p] = m;
        state1[p] = v;
        var v_used = v;
        if (params.flags & FLAG_AMSGRAD) != 0u {
            v_used = max(state2[p], v);
            state2[p] = v_used;
        }
        theta = theta - st.x * m / (sqrt(v_used) / st.y + params.eps);
    }
    if is_nonfinite(theta) {
        results[params.steps + 1u] = 1.0;
    }
    values[p] = theta;
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
    let layers = params.layers;
    let outputs = size(layers);
    for (var s = 0u; s < params.steps; s++) {
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

        // Forward: act(l+1) = relu?(act(l)·W_lᵀ + b_l).
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
                if l + 1u < layers {
                    v = max(v, 0.0);
                }
                act[dst + idx] = v;
            }
            workgroupBarrier();
        }

        // Loss and its gradient (of the mean) into grad_a.
        let logits = act_offset(layers);
        var term = 0.0;
        if params.loss == LOSS_SOFTMAX_CE {
            let scale = 1.0 / f32(rows);
            for (var r = lidx; r < rows; r += WG) {
                let base = logits + r * outputs;
                var row_max = act[base];
                for (var j = 1u; j < outputs; j++) {
                    row_max = max(row_max, act[base + j]);
                }
                var sum_exp = 0.0;
                for (var j = 0u; j < outputs; j++) {
                    sum_exp += exp(act[base + j] - row_max);
                }
                let t = y_all[order[first_row + r]];
                for (var j = 0u; j < outputs; j++) {
                    let onehot = select(0.0, 1.0, j == t);
                    grad_a[r * outputs + j] = (exp(act[base + j] - row_max) / sum_exp - onehot) * scale;
                }
                term += log(sum_exp) - (act[base + min(t, outputs - 1u)] - row_max);
            }
        } else {
            let scale = 1.0 / f32(rows * outputs);
            for (var idx = lidx; idx < rows * outputs; idx += WG) {
                let x = act[logits + idx];
                let y = bitcast<f32>(y_all[order[first_row + idx / outputs] * outputs + idx % outputs]);
                if params.loss == LOSS_MSE {
                    let d = x - y;
                    term += d * d;
                    grad_a[idx] = 2.0 * d * scale;
                } else {
                    term += max(x, 0.0) - x * y + log1p(exp(-abs(x)));
                    grad_a[idx] = (sigmoid(x) - y) * scale;
                }
            }
        }
        let n = select(rows * outputs, rows, params.loss == LOSS_SOFTMAX_CE);
        let total = workgroup_sum(term, lidx, n);
        if lidx == 0u {
            results[s] = total / f32(n);
        }

        // Backward and update, last layer first; the gradient ping-pongs between grad_a and
        // grad_b. dH below is computed from the old weights before they are updated.
        for (var step_back = 0u; step_back < layers; step_back++) {
            let l = layers - 1u - step_back;
            let n_in = size(l);
            let n_out = size(l + 1u);
            let below_src = act_offset(l);
            let cur_in_a = step_back % 2u == 0u;
            if l > 0u {
                for (var idx = lidx; idx < rows * n_in; idx += WG) {
                    let r = idx / n_in;
                    let i = idx % n_in;
                    var acc = 0.0;
                    for (var j = 0u; j < n_out; j++) {
                        let gj = select(grad_b[r * n_out + j], grad_a[r * n_out + j], cur_in_a);
                        acc += gj * values[params.weight_offsets[l] + j * n_in + i];
                    }
                    let masked = select(0.0, acc, act[below_src + idx] > 0.0);
                    if cur_in_a {
                        grad_b[idx] = masked;
                    } else {
                        grad_a[idx] = masked;
                    }
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
                        let gj = select(grad_b[r * n_out + j], grad_a[r * n_out + j], cur_in_a);
                        g += gj * act[below_src + r * n_in + i];
                    }
                    update(params.weight_offsets[l] + p, g, st);
                } else {
                    let j = p - n_out * n_in;
                    for (var r = 0u; r < rows; r++) {
                        g += select(grad_b[r * n_out + j], grad_a[r * n_out + j], cur_in_a);
                    }
                    update(params.bias_offsets[l] + j, g, st);
                }
            }
            storageBarrier();
            workgroupBarrier();
        }
    }
}
