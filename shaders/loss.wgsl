// Losses with their gradients in one pass, one entry point (loss_terms) for every loss: which
// one is the override constant LOSS, set when the pipeline is made. It writes the gradient of the
// mean loss to `grad` and, per 64-wide workgroup, the sum of its terms times 1/n to
// `partials[workgroup]`. A workgroup covers 4096 terms: each invocation adds 64 of them (64
// apart, so neighbours read neighbouring addresses) in order, then a fixed-order tree in
// workgroup memory adds the invocations' sums; few workgroups keep the barriers few, which
// CPU-like adapters need. With one workgroup — up to 4096 terms, any usual mini-batch — that is
// the mean loss, in one dispatch; otherwise reduce.wgsl's sum_chunks adds the partial sums, in a
// fixed order too.
//
// The formulas (MSE, BCE with logits, BCE, softmax cross-entropy) are in formulas.wgsl and
// softmax_row.wgsl, which the crate puts before this file; the softmax takes one invocation per
// row of an n×cols logit matrix with class targets. grad_scale is 1/n (1/rows for the softmax),
// computed on the host.
//
// With WEIGHTED the losses take PyTorch's weights: the softmax's per-class `weight`, whose mean
// is Σ w[t]·l / Σ w[t] over the rows, and BCE with logits' per-column `pos_weight`, whose mean
// stays over the n terms.

struct LossParams {
    n: u32,
    // Classes for the softmax, output columns for the element-wise losses.
    cols: u32,
    _pad: u32,
    grad_scale: f32,
}

// Bindings: 0 predictions, 1 targets (u32 class indices for the softmax, else f32 values read
// as their bits), 2 weights (with WEIGHTED: one per class, or pos_weight per column; else
// unread), 3 loss terms, 4 gradient, 5 params.
@group(0) @binding(0) var<storage, read> pred: array<f32>;
@group(0) @binding(1) var<storage, read> targets: array<u32>;
@group(0) @binding(2) var<storage, read> weights: array<f32>;
@group(0) @binding(3) var<storage, read_write> partials: array<f32>;
@group(0) @binding(4) var<storage, read_write> grad: array<f32>;
@group(0) @binding(5) var<uniform> params: LossParams;

// Invocations per workgroup and the loss (formulas.wgsl's LOSS_* codes), set by the host.
override LOSS_WG: u32 = 64u;
override LOSS: u32 = LOSS_MSE;
override WEIGHTED: bool = false;
const TERMS_PER_INVOCATION: u32 = 64u;

// The j-th term of this invocation.
fn term_index(wid: vec3<u32>, nwg: vec3<u32>, lidx: u32, j: u32) -> u32 {
    return (wid.y * nwg.x + wid.x) * LOSS_WG * TERMS_PER_INVOCATION + j * LOSS_WG + lidx;
}

var<workgroup> scratch: array<f32, LOSS_WG>;

// Adds the invocations' values in a fixed order, leaving the sum in scratch[0].
fn workgroup_sum(value: f32, lidx: u32) {
    scratch[lidx] = value;
    workgroupBarrier();
    for (var stride = LOSS_WG / 2u; stride > 0u; stride >>= 1u) {
        if lidx < stride {
            scratch[lidx] += scratch[lidx + stride];
        }
        workgroupBarrier();
    }
}

// Adds the workgroup's terms in a fixed order and writes their sum times `scale`.
fn write_partial(term: f32, scale: f32, wid: vec3<u32>, nwg: vec3<u32>, lidx: u32) {
    workgroup_sum(term, lidx);
    let group = wid.y * nwg.x + wid.x;
    if lidx == 0u && group * LOSS_WG * TERMS_PER_INVOCATION < params.n {
        partials[group] = scratch[0] * scale;
    }
}

// The weight of class `label` (a label out of range has a NaN term anyway).
fn class_weight(label: u32) -> f32 {
    return weights[min(label, params.cols - 1u)];
}

// Σ w[t] over all n rows, the weighted mean's denominator, which one workgroup's rows do not
// give: every workgroup adds them all, in the same order, so all get the same sum without a
// second dispatch (n/64 loads an invocation; one workgroup covers any usual mini-batch).
fn total_class_weight(lidx: u32) -> f32 {
    var sum = 0.0;
    for (var i = lidx; i < params.n; i += LOSS_WG) {
        sum += class_weight(targets[i]);
    }
    workgroup_sum(sum, lidx);
    let total = scratch[0];
    workgroupBarrier(); // scratch is used again for the terms
    return total;
}

@compute @workgroup_size(LOSS_WG)
fn loss_terms(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lidx: u32,
) {
    var scale = params.grad_scale;
    if WEIGHTED && LOSS == LOSS_SOFTMAX_CE {
        scale = 1.0 / total_class_weight(lidx);
    }
    var sum = 0.0;
    for (var j = 0u; j < TERMS_PER_INVOCATION; j++) {
        let i = term_index(wid, nwg, lidx, j);
        if i < params.n {
            if LOSS == LOSS_SOFTMAX_CE {
                var w = 1.0;
                if WEIGHTED {
                    w = class_weight(targets[i]);
                }
                sum += w * softmax_ce_row(i, params.cols, targets[i], w * scale);
            } else {
                let y = bitcast<f32>(targets[i]);
                var t: vec2<f32>;
                if WEIGHTED {
                    t = bce_with_logits_pos_term(pred[i], y, weights[i % params.cols]);
                } else {
                    t = elementwise_loss_term(LOSS, pred[i], y);
                }
                sum += t.x;
                grad[i] = t.y * scale;
            }
        }
    }
    write_partial(sum, scale, wid, nwg, lidx);
}

// Where softmax_row.wgsl finds a row's logits and puts their gradients.
fn logit(row: u32, j: u32) -> f32 {
    return pred[row * params.cols + j];
}

fn write_logit_grad(row: u32, j: u32, g: f32) {
    grad[row * params.cols + j] = g;
}
