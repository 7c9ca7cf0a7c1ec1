// Element-wise activations, forward and backward (formulas.wgsl's, which the crate puts before
// this file).
//
// activation_forward_kernel:  y = f(x)
// activation_backward_kernel: dx = f'(pre)·dy
//
// The dispatch is a 2-D grid of WG-wide workgroups so that more than 65535 workgroups fit;
// the element count comes from params, never from arrayLength.

// Invocations per workgroup (set by the host).
override WG: u32 = 256u;

struct ActivationParams {
    n: u32,
    // ACT_* of formulas.wgsl.
    kind: u32,
    negative_slope: f32,
    _pad0: u32,
}

// Bindings: read-only inputs, then the output, then params. The forward uses 0, 2, 3; the
// backward 0 (upstream gradient), 1 (pre-activation), 2, 3.
@group(0) @binding(0) var<storage, read> input: array<f32>;
@group(0) @binding(1) var<storage, read> pre: array<f32>;
@group(0) @binding(2) var<storage, read_write> output: array<f32>;
@group(0) @binding(3) var<uniform> params: ActivationParams;

fn flat_index(wid: vec3<u32>, nwg: vec3<u32>, lidx: u32) -> u32 {
    return (wid.y * nwg.x + wid.x) * WG + lidx;
}

@compute @workgroup_size(WG)
fn activation_forward_kernel(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lidx: u32,
) {
    let i = flat_index(wid, nwg, lidx);
    if i < params.n {
        output[i] = activation_forward(params.kind, input[i], params.negative_slope);
    }
}

@compute @workgroup_size(WG)
fn activation_backward_kernel(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lidx: u32,
) {
    let i = flat_index(wid, nwg, lidx);
    if i < params.n {
        output[i] = activation_backward(params.kind, pre[i], input[i], params.negative_slope);
    }
}
