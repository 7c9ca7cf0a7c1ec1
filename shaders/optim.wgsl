// Fused optimizer updates: one dispatch updates every parameter of a model, whatever its number
// of tensors, with L1 and L2 regularization in the same pass.
//
// Parameters, gradients and each optimizer state live in flat buffers with the same layout. A
// segment table maps element ranges to parameter groups, each with its own hyperparameters;
// elements outside every segment (alignment padding) are left alone. When a buffer is larger
// than one storage binding, the host splits the update into chunks: `chunk.base` is the first
// element of this chunk, and the bound buffers start there.
//
// The updates themselves (PyTorch's SGD and Adam/AdamW, with L1 and L2) are in formulas.wgsl,
// with GroupParams, the hyperparameters of a group, and their reads and writes of the state in
// optim_state.wgsl; the crate puts both before this file.

const MAX_GROUPS: u32 = 16u;
// Invocations per workgroup (set by the host).
override WG: u32 = 256u;

struct ChunkParams {
    base: u32,
    len: u32,
    segments: u32,
    // clip_grad_norm_: the workgroups of grad_square_sums, whose sums sit in `flags` from
    // NORM_SUMS on, and max_norm (0: no clipping).
    norm_sums: u32,
    max_norm: f32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

// Per step and group, the step vector of formulas.wgsl.
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
// [0]: set to 1 when an update leaves a parameter NaN or infinite (a diverging run, or a
// non-finite gradient); the trainer clears it each epoch and reads it with the epoch's losses.
// Every writer stores the same value, so the unordered writes agree. [1]: while nonzero, the
// update does nothing (the trainer's end-of-epoch decision freezes the model after a stop).
// From NORM_SUMS on: grad_square_sums' sums, one per workgroup, for clip_grad_norm_.
@group(0) @binding(9) var<storage, read_write> flags: array<f32>;
@group(0) @binding(7) var<uniform> chunk: ChunkParams;
@group(0) @binding(8) var<uniform> step: StepParams;

// The segment holding global element i, or a segment with group NO_GROUP: binary search for
// the last segment starting at or before i.
const NO_GROUP: u32 = 0xffffffffu;
const NORM_SUMS: u32 = 2u;

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

// Each workgroup updates one span of PER_INVOCATION × WG consecutive vec4s, in PER_INVOCATION
// passes over WG neighbouring vec4s, so that neighbouring invocations touch neighbouring
// addresses. A loop of fixed length; 16 was the fastest count measured on lavapipe (BENCHMARKS.md,
// "Performance round 2").
const PER_INVOCATION: u32 = 16u;

fn span_start(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return (wid.y * nwg.x + wid.x) * WG * PER_INVOCATION;
}

// The segment holding the whole span from vec4 `first` on, or one with group NO_GROUP when the
// span is cut short by the chunk's end or crosses a segment's edge. It depends only on the
// workgroup, so on the common path (every span of a large tensor) the lookup, the loads of the
// group's hyperparameters and the formulas' flag tests are uniform and there are no bounds
// checks: lavapipe then does them once per workgroup instead of once per lane.
fn span_segment(first: u32) -> vec4<u32> {
    let end = first + PER_INVOCATION * WG;
    let s = segment_of(chunk.base + 4u * first);
    if end <= chunk.len / 4u && s.z != NO_GROUP && chunk.base + 4u * end <= s.y {
        return s;
    }
    return vec4<u32>(0u, 0u, NO_GROUP, 0u);
}

// The algorithm, set by the host for the pipeline: Adam/AdamW, or SGD. Both run the same walk
// over the flat buffers (update_step); only the update of a vec4 differs.
override ADAM: bool = false;

@compute @workgroup_size(WG)
fn update_step(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lidx: u32,
) {
    if flags[1] != 0.0 {
        return;
    }
    let scale = clip_coefficient();
    let first = span_start(wid, nwg);
    let whole = span_segment(first);
    var nonfinite_seen = false;
    if whole.z != NO_GROUP {
        let hp = groups[whole.z];
        let st = step.groups[whole.z];
        for (var k = 0u; k < PER_INVOCATION; k++) {
            let q = first + k * WG + lidx;
            nonfinite_seen = update_at(q, hp, st, vec4<bool>(true), scale) || nonfinite_seen;
        }
    } else {
        for (var k = 0u; k < PER_INVOCATION; k++) {
            let q = first + k * WG + lidx;
            if q >= chunk.len / 4u {
                break;
            }
            let i = chunk.base + 4u * q;
            let seg = segment_of(i);
            if seg.z != NO_GROUP {
                let changed =
                    update_at(q, groups[seg.z], step.groups[seg.z], inside(i, seg), scale);
                nonfinite_seen = changed || nonfinite_seen;
            }
        }
    }
    flag_nonfinite(nonfinite_seen);
}

// Updates the lanes `keep` of vec4 q with the pipeline's algorithm, its gradient scaled by
// `scale` (clip_grad_norm_'s); true if that leaves a parameter NaN or infinite. Padding lanes
// have g = θ = 0, so their state stays 0.
fn update_at(q: u32, hp: GroupParams, st: vec4<f32>, keep: vec4<bool>, scale: f32) -> bool {
    let theta = params[q];
    let g = grads[q];
    var stepped: vec4<f32>;
    if ADAM {
        stepped = adam_step(q, theta, g, scale, hp, st);
    } else {
        stepped = sgd_step(q, theta, g, scale, hp, st);
    }
    let updated = select(theta, stepped, keep);
    params[q] = updated;
    return any_nonfinite(updated);
}

// Where optim_state.wgsl finds the optimizer state: the flat state buffers, a vec4 at a time.
fn load_state(k: u32, q: u32) -> vec4<f32> {
    switch k {
        case 0u: {
            return state0[q];
        }
        case 1u: {
            return state1[q];
        }
        default: {
            return state2[q];
        }
    }
}

fn store_state(k: u32, q: u32, v: vec4<f32>) {
    switch k {
        case 0u: {
            state0[q] = v;
        }
        case 1u: {
            state1[q] = v;
        }
        default: {
            state2[q] = v;
        }
    }
}

// Every writer stores the same value, so the unordered writes agree.
fn flag_nonfinite(seen: bool) {
    if seen {
        flags[0] = 1.0;
    }
}

// ---- clip_grad_norm_ (norm type 2), as torch.nn.utils computes it ----
//
// grad_square_sums, dispatched before update_step with the same workgroups over the same
// spans, writes each span's Σ g² to flags[NORM_SUMS + workgroup], g the gradient with L1's term
// (formulas.wgsl's penalized_grad; padding has g = θ = 0); every update invocation then adds
// those sums in order (the same total everywhere) and scales the gradient by
//   min(max_norm / (‖g‖ + 1e-6), 1).

var<workgroup> square_sums: array<f32, WG>;

@compute @workgroup_size(WG)
fn grad_square_sums(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lidx: u32,
) {
    let first = span_start(wid, nwg);
    let whole = span_segment(first);
    var sum = 0.0;
    for (var k = 0u; k < PER_INVOCATION; k++) {
        let q = first + k * WG + lidx;
        var seg = whole;
        if seg.z == NO_GROUP && q < chunk.len / 4u {
            seg = segment_of(chunk.base + 4u * q);
        }
        if seg.z != NO_GROUP {
            let g = penalized_grad(grads[q], params[q], groups[seg.z]);
            sum += dot(g, g);
        }
    }
    square_sums[lidx] = sum;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
        if lidx < stride {
            square_sums[lidx] += square_sums[lidx + stride];
        }
        workgroupBarrier();
    }
    let group = wid.y * nwg.x + wid.x;
    if lidx == 0u && group < chunk.norm_sums {
        flags[NORM_SUMS + group] = square_sums[0];
    }
}

// The factor clip_grad_norm_ scales this step's gradients by (1 when it does not clip).
fn clip_coefficient() -> f32 {
    if chunk.max_norm <= 0.0 {
        return 1.0;
    }
    var total = 0.0;
    for (var i = 0u; i < chunk.norm_sums; i++) {
        total += flags[NORM_SUMS + i];
    }
    return clip_norm_coefficient(total, chunk.max_norm);
}
