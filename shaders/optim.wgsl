// Fused optimizer updates: one dispatch updates every parameter of a model, whatever its number
// of tensors, with L1 and L2 regularization in the same pass.
//
// Parameters, gradients and each optimizer state live in flat buffers with the same layout. A
// segment table maps element ranges to parameter groups, each with its own hyperparameters;
// elements outside every segment (alignment padding) are left alone. When a buffer is larger
// than one storage binding, the host splits the update into chunks: `chunk.base` is the first
// element of this chunk, and the bound buffers start there.
//
// Both follow PyTorch's torch.optim implementations, with g the gradient and θ the parameter:
//   g ← −g if maximize
//   g ← g + λ₂·θ + λ₁·sign(θ)          (L2 as PyTorch's weight_decay; L1 is ours; sign(0) = 0)
// SGD:
//   b ← g on the first step, else μ·b + (1 − τ)·g        (only if μ ≠ 0)
//   g ← g + μ·b if nesterov, else b                     (only if μ ≠ 0)
//   θ ← θ − lr·g
// Adam (AdamW when decoupled: θ ← θ·(1 − lr·λ₂) instead of adding λ₂·θ to g):
//   m ← β₁·m + (1 − β₁)·g;  v ← β₂·v + (1 − β₂)·g²;  v̂max ← max(v̂max, v) if amsgrad
//   θ ← θ − (lr / (1 − β₁ᵗ)) · m / (√v(or v̂max) / √(1 − β₂ᵗ) + ε)
// The bias corrections are computed on the host in f64 for each step and group (StepParams).

const FLAG_NESTEROV: u32 = 1u;
const FLAG_MAXIMIZE: u32 = 2u;
const FLAG_AMSGRAD: u32 = 4u;
const FLAG_DECOUPLED: u32 = 8u;
const MAX_GROUPS: u32 = 16u;

// One parameter group's hyperparameters.
struct GroupParams {
    lr: f32,
    momentum: f32,
    dampening: f32,
    weight_decay: f32,
    l1: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    flags: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

struct ChunkParams {
    base: u32,
    len: u32,
    segments: u32,
    _pad: u32,
}

// Per step and group: x = the step size (SGD: lr; Adam: lr / (1 − β₁ᵗ)), y = √(1 − β₂ᵗ),
// z = 1 on the first step (SGD's momentum buffer starts as the gradient), w unused.
struct StepParams {
    groups: array<vec4<f32>, MAX_GROUPS>,
}

// The flat buffers are read and written four elements at a time (vec4 loads are what make
// CPU-like adapters fast); their lengths are multiples of 64 elements.
@group(0) @binding(0) var<storage, read> grads: array<vec4<f32>>;
// (start, end, group, unused) element ranges, sorted by start; starts are multiples of 4.
@group(0) @binding(1) var<storage, read> segments: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> groups: array<GroupParams>;
@group(0) @binding(3) var<storage, read_write> params: array<vec4<f32>>;
// SGD: the momentum buffer. Adam: m (exp_avg).
@group(0) @binding(4) var<storage, read_write> state0: array<vec4<f32>>;
// Adam: v (exp_avg_sq) and, with amsgrad, max v (max_exp_avg_sq).
@group(0) @binding(5) var<storage, read_write> state1: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> state2: array<vec4<f32>>;
// Set to 1 when an update leaves a parameter NaN or infinite (a diverging run, or a non-finite
// gradient); the trainer clears it each epoch and reads it with the epoch's losses. Every
// writer stores the same value, so the unordered writes agree.
@group(0) @binding(9) var<storage, read_write> nonfinite: array<f32>;
@group(0) @binding(7) var<uniform> chunk: ChunkParams;
@group(0) @binding(8) var<uniform> step: StepParams;

// WGSL has no isfinite; an all-ones exponent means NaN or ±Inf.
fn flag_nonfinite(theta: vec4<f32>) {
    let exponent = bitcast<vec4<u32>>(theta) & vec4<u32>(0x7f800000u);
    if any(exponent == vec4<u32>(0x7f800000u)) {
        nonfinite[0] = 1.0;
    }
}

// The segment holding global element i, or a segment with group NO_GROUP: binary search for
// the last segment starting at or before i.
const NO_GROUP: u32 = 0xffffffffu;

fn segment_of(i: u32) -> vec4<u32> {
    var lo = 0u;
    var hi = chunk.segments;
    while lo + 1u < hi {
        let mid = (lo + hi) / 2u;
        if segments[mid].x <= i {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let s = segments[lo];
    if lo < chunk.segments && i >= s.x && i < s.y {
        return s;
    }
    return vec4<u32>(0u, 0u, NO_GROUP, 0u);
}

// Which of the four elements from global element i on lie inside the segment (a segment can
// end inside a vec4; the rest is alignment padding and must not change).
fn inside(i: u32, s: vec4<u32>) -> vec4<bool> {
    return vec4<u32>(i) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(s.y);
}

// The gradient after maximize and the coupled penalties.
fn regularized_grad(q: u32, theta: vec4<f32>, hp: GroupParams, coupled_l2: bool) -> vec4<f32> {
    var g = grads[q];
    if (hp.flags & FLAG_MAXIMIZE) != 0u {
        g = -g;
    }
    if coupled_l2 {
        g += hp.weight_decay * theta;
    }
    return g + hp.l1 * sign(theta);
}

// Each invocation updates PER_INVOCATION vec4s, one grid apart, so that neighbouring
// invocations touch neighbouring addresses. A short loop of fixed length: on lavapipe, one
// vec4 per invocation pays too much per workgroup and a long loop too much per iteration.
const PER_INVOCATION: u32 = 4u;

fn first_vec4(wid: vec3<u32>, nwg: vec3<u32>, lidx: u32) -> u32 {
    return (wid.y * nwg.x + wid.x) * 256u + lidx;
}

@compute @workgroup_size(256)
fn sgd_step(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lidx: u32,
) {
    let stride = nwg.x * nwg.y * 256u;
    for (var k = 0u; k < PER_INVOCATION; k++) {
        let q = first_vec4(wid, nwg, lidx) + k * stride;
        if q < chunk.len / 4u {
            sgd_update(q);
        }
    }
}

fn sgd_update(q: u32) {
    let i = chunk.base + 4u * q;
    let seg = segment_of(i);
    if seg.z == NO_GROUP {
        return;
    }
    let hp = groups[seg.z];
    let st = step.groups[seg.z];
    let theta = params[q];
    var g = regularized_grad(q, theta, hp, true);
    if hp.momentum != 0.0 {
        var b = g;
        if st.z == 0.0 {
            b = hp.momentum * state0[q] + (1.0 - hp.dampening) * g;
        }
        state0[q] = b;
        if (hp.flags & FLAG_NESTEROV) != 0u {
            g = g + hp.momentum * b;
        } else {
            g = b;
        }
    }
    let updated = select(theta, theta - st.x * g, inside(i, seg));
    flag_nonfinite(updated);
    params[q] = updated;
}

@compute @workgroup_size(256)
fn adam_step(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lidx: u32,
) {
    let stride = nwg.x * nwg.y * 256u;
    for (var k = 0u; k < PER_INVOCATION; k++) {
        let q = first_vec4(wid, nwg, lidx) + k * stride;
        if q < chunk.len / 4u {
            adam_update(q);
        }
    }
}

fn adam_update(q: u32) {
    let i = chunk.base + 4u * q;
    let seg = segment_of(i);
    if seg.z == NO_GROUP {
        return;
    }
    let hp = groups[seg.z];
    let st = step.groups[seg.z];
    let theta0 = params[q];
    var theta = theta0;
    let decoupled = (hp.flags & FLAG_DECOUPLED) != 0u;
    let g = regularized_grad(q, theta, hp, !decoupled);
    if decoupled {
        theta *= 1.0 - hp.lr * hp.weight_decay;
    }
    // Padding lanes have g = θ = 0, so m and v stay 0 there.
    let m = hp.beta1 * state0[q] + (1.0 - hp.beta1) * g;
    let v = hp.beta2 * state1[q] + (1.0 - hp.beta2) * g * g;
    state0[q] = m;
    state1[q] = v;
    var v_used = v;
    if (hp.flags & FLAG_AMSGRAD) != 0u {
        v_used = max(state2[q], v);
        state2[q] = v_used;
    }
    let denom = sqrt(v_used) / st.y + hp.eps;
    let updated = select(theta0, theta - st.x * m / denom, inside(i, seg));
    flag_nonfinite(updated);
    params[q] = updated;
}
