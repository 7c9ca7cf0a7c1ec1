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

@group(0) @binding(0) var<storage, read> grads: array<f32>;
// (start, end, group, unused) element ranges, sorted by start.
@group(0) @binding(1) var<storage, read> segments: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> groups: array<GroupParams>;
@group(0) @binding(3) var<storage, read_write> params: array<f32>;
// SGD: the momentum buffer. Adam: m (exp_avg).
@group(0) @binding(4) var<storage, read_write> state0: array<f32>;
// Adam: v (exp_avg_sq) and, with amsgrad, max v (max_exp_avg_sq).
@group(0) @binding(5) var<storage, read_write> state1: array<f32>;
@group(0) @binding(6) var<storage, read_write> state2: array<f32>;
@group(0) @binding(7) var<uniform> chunk: ChunkParams;
@group(0) @binding(8) var<uniform> step: StepParams;

const NO_GROUP: u32 = 0xffffffffu;

// The group of global element i: binary search for the last segment starting at or before i.
fn group_of(i: u32) -> u32 {
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
    if i >= s.x && i < s.y {
        return s.z;
    }
    return NO_GROUP;
}

// The gradient after maximize and the coupled penalties.
fn regularized_grad(local: u32, theta: f32, hp: GroupParams, coupled_l2: bool) -> f32 {
    var g = grads[local];
    if (hp.flags & FLAG_MAXIMIZE) != 0u {
        g = -g;
    }
    if coupled_l2 {
        g += hp.weight_decay * theta;
    }
    return g + hp.l1 * sign(theta);
}

@compute @workgroup_size(256)
fn sgd_step(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lidx: u32,
) {
    let local = (wid.y * nwg.x + wid.x) * 256u + lidx;
    if local >= chunk.len {
        return;
    }
    let group = group_of(chunk.base + local);
    if group == NO_GROUP {
        return;
    }
    let hp = groups[group];
    let st = step.groups[group];
    let theta = params[local];
    var g = regularized_grad(local, theta, hp, true);
    if hp.momentum != 0.0 {
        var b = g;
        if st.z == 0.0 {
            b = hp.momentum * state0[local] + (1.0 - hp.dampening) * g;
        }
        state0[local] = b;
        if (hp.flags & FLAG_NESTEROV) != 0u {
            g = g + hp.momentum * b;
        } else {
            g = b;
        }
    }
    params[local] = theta - st.x * g;
}

@compute @workgroup_size(256)
fn adam_step(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lidx: u32,
) {
    let local = (wid.y * nwg.x + wid.x) * 256u + lidx;
    if local >= chunk.len {
        return;
    }
    let group = group_of(chunk.base + local);
    if group == NO_GROUP {
        return;
    }
    let hp = groups[group];
    let st = step.groups[group];
    var theta = params[local];
    let decoupled = (hp.flags & FLAG_DECOUPLED) != 0u;
    let g = regularized_grad(local, theta, hp, !decoupled);
    if decoupled {
        theta *= 1.0 - hp.lr * hp.weight_decay;
    }
    let m = hp.beta1 * state0[local] + (1.0 - hp.beta1) * g;
    let v = hp.beta2 * state1[local] + (1.0 - hp.beta2) * g * g;
    state0[local] = m;
    state1[local] = v;
    var v_used = v;
    if (hp.flags & FLAG_AMSGRAD) != 0u {
        v_used = max(state2[local], v);
        state2[local] = v_used;
    }
    let denom = sqrt(v_used) / st.y + hp.eps;
    params[local] = theta - st.x * m / denom;
}
