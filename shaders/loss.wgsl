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

struct LossParams {
    n: u32,
    cols: u32,
    _pad: u32,
    grad_scale: f32,
}

// Bindings: 0 predictions, 1 targets (u32 class indices for the softmax, else f32 values read
// as their bits), 2 loss terms, 3 gradient, 4 params.
@group(0) @binding(0) var<storage, read> pred: array<f32>;
@group(0) @binding(1) var<storage, read> targets: array<u32>;
@group(0) @binding(2) var<storage, read_write> partials: array<f32>;
@group(0) @binding(3) var<storage, read_write> grad: array<f32>;
@group(0) @binding(4) var<uniform> params: LossParams;

// Invocations per workgroup and the loss (formulas.wgsl's LOSS_* codes), set by the host.
override LOSS_WG: u32 = 64u;
override LOSS: u32 = LOSS_MSE;
const TERMS_PER_INVOCATION: u32 = 64u;

// The j-th term of this invocation.
fn term_index(wid: vec3<u32>, nwg: vec3<u32>, lidx: u32, j: u32) -> u32 {
    return (wid.y * nwg.x + wid.x) * LOSS_WG * TERMS_PER_INVOCATION + j * LOSS_WG + lidx;
}

var<workgroup> scratch: array<f32, LOSS_WG>;

// Adds the workgroup's terms in a fixed order and writes their sum times 1/n.
fn write_partial(term: f32, wid: vec3<u32>, nwg: vec3<u32>, lidx: u32) {
    scratch[lidx] = term;
    workgroupBarrier();
    for (var stride = LOSS_WG / 2u; stride > 0u; stride >>= 1u) {
        if lidx < stride {
            scratch[lidx] += scratch[lidx + stride];
        }
        workgroupBarrier();
    }
    let group = wid.y * nwg.x + wid.x;
    if lidx == 0u && group * LOSS_WG * TERMS_PER_INVOCATION < params.n {
        partials[group] = scratch[0] * params.grad_scale;
    }
}

@compute @workgroup_size(LOSS_WG)
fn loss_terms(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lidx: u32,
) {
    var sum = 0.0;
    for (var j = 0u; j < TERMS_PER_INVOCATION; j++) {
        let i = term_index(wid, nwg, lidx, j);
        if i < params.n {
            if LOSS == LOSS_SOFTMAX_CE {
                sum += softmax_ce_row(i, params.cols, targets[i], params.grad_scale);
            } else {
                let t = elementwise_loss_term(LOSS, pred[i], bitcast<f32>(targets[i]));
                sum += t.x;
                grad[i] = t.y * params.grad_scale;
            }
        }
    }
    write_partial(sum, wid, nwg, lidx);
}

// Where softmax_row.wgsl finds a row's logits and puts their gradients.
fn logit(row: u32, j: u32) -> f32 {
    return pred[row * params.cols + j];
}

fn write_logit_grad(row: u32, j: u32, g: f32) {
    grad[row * params.cols + j] = g;
}
