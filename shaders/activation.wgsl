// Element-wise ReLU, forward and backward.
//
// relu_forward:  y = max(x, 0)
// relu_backward: dx = dy where pre > 0, else 0 (the gradient at exactly 0 is 0)
//
// The dispatch is a 2-D grid of WG-wide workgroups so that more than 65535 workgroups fit;
// the element count comes from params, never from arrayLength.

// Invocations per workgroup (set by the host).
override WG: u32 = 256u;

struct ActivationParams {
    n: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

// Bindings: read-only inputs, then the output, then params. relu_forward uses 0, 2, 3;
// relu_backward uses 0 (upstream gradient), 1 (pre-activation), 2, 3.
@group(0) @binding(0) var<storage, read> input: array<f32>;
@group(0) @binding(1) var<storage, read> pre: array<f32>;
@group(0) @binding(2) var<storage, read_write> output: array<f32>;
@group(0) @binding(3) var<uniform> params: ActivationParams;

fn flat_index(wid: vec3<u32>, nwg: vec3<u32>, lidx: u32) -> u32 {
    return (wid.y * nwg.x + wid.x) * WG + lidx;
}

@compute @workgroup_size(WG)
fn relu_forward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lidx: u32,
) {
    let i = flat_index(wid, nwg, lidx);
    if i < params.n {
        output[i] = max(input[i], 0.0);
    }
}

@compute @workgroup_size(WG)
fn relu_backward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lidx: u32,
) {
    let i = flat_index(wid, nwg, lidx);
    if i < params.n {
        output[i] = select(0.0, input[i], pre[i] > 0.0);
    }
}
