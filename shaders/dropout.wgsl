// Dropout in place (formulas.wgsl's dropout_multiplier, which the crate puts before this file),
// and the training step's counter it reads.
//
// dropout_kernel:   data[i] *= multiplier(element i of this layer in this step); the same
//                   multipliers scale the forward activations and, in the backward pass, their
//                   gradients.
// step_tick_kernel: the step counter += 1, once at the end of every training step.
//
// The step comes from a buffer, not the params, so that one prepared dispatch serves every
// step of a submission; the host writes it once, the tick advances it.

// Invocations per workgroup (set by the host).
override WG: u32 = 256u;

struct DropoutParams {
    n: u32,
    layer: u32,
    model: u32,
    // ⌈p·2²⁴⌉: an element is dropped where its 24-bit draw is below it.
    threshold: u32,
    seed_lo: u32,
    seed_hi: u32,
    // 1/(1 − p), rounded to f32 as PyTorch rounds it.
    scale: f32,
    _pad0: u32,
}

@group(0) @binding(0) var<storage, read_write> data: array<f32>;
@group(0) @binding(1) var<storage, read> step: array<u32>;
@group(0) @binding(2) var<uniform> params: DropoutParams;
@group(0) @binding(3) var<storage, read_write> step_counter: array<u32>;

@compute @workgroup_size(WG)
fn dropout_kernel(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lidx: u32,
) {
    let i = (wid.y * nwg.x + wid.x) * WG + lidx;
    if i < params.n {
        let counter = vec4<u32>(i, params.layer, step[0], params.model);
        let seed = vec2<u32>(params.seed_lo, params.seed_hi);
        data[i] = data[i] * dropout_multiplier(seed, counter, params.threshold, params.scale);
    }
}

@compute @workgroup_size(1)
fn step_tick_kernel() {
    step_counter[0] += 1u;
}
