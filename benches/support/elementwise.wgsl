// Element-wise arithmetic on flat f32 buffers: the building blocks of an optimizer written one
// operation at a time, the unfused baseline the fused kernels in shaders/optim.wgsl are
// measured against in benches/optim.rs. A kernel of the benches, not of the crate: it is bound
// through the crate's public API for kernels of one's own (ShaderCode::user).
//
// axpby:        y = a·x + b·y
// axpby_square: y = a·x² + b·y
// sqrt_affine:  y = a·√x + b
// addcdiv:      y = y + a·x/z
//
// Bindings: 0 x, 1 z (addcdiv only), 2 y, 3 params. Lengths come from params.

// Invocations per workgroup (set by the host).
override WG: u32 = 256u;

struct ElementwiseParams {
    n: u32,
    a: f32,
    b: f32,
    _pad: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> z: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> params: ElementwiseParams;

fn flat_index(wid: vec3<u32>, nwg: vec3<u32>, lidx: u32) -> u32 {
    return (wid.y * nwg.x + wid.x) * WG + lidx;
}

@compute @workgroup_size(WG)
fn axpby(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lidx: u32,
) {
    let i = flat_index(wid, nwg, lidx);
    if i < params.n {
        y[i] = params.a * x[i] + params.b * y[i];
    }
}

@compute @workgroup_size(WG)
fn axpby_square(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lidx: u32,
) {
    let i = flat_index(wid, nwg, lidx);
    if i < params.n {
        y[i] = params.a * x[i] * x[i] + params.b * y[i];
    }
}

@compute @workgroup_size(WG)
fn sqrt_affine(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lidx: u32,
) {
    let i = flat_index(wid, nwg, lidx);
    if i < params.n {
        y[i] = params.a * sqrt(x[i]) + params.b;
    }
}

@compute @workgroup_size(WG)
fn addcdiv(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lidx: u32,
) {
    let i = flat_index(wid, nwg, lidx);
    if i < params.n {
        y[i] = y[i] + params.a * x[i] / z[i];
    }
}
