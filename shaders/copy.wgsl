// dst = src, element by element, when control.wgsl's decision asks for it: word FLAG of its
// state (the restore or the keep flag) is nonzero. (No uniform: the length is the binding's;
// lavapipe recompiled small kernels whose conditions read a uniform.)

override WG: u32 = 256u;
override FLAG: u32 = 0u;

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<storage, read> control: array<u32>;

@compute @workgroup_size(WG)
fn copy_f32(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lidx: u32,
) {
    if control[FLAG] == 0u {
        return;
    }
    let i = (wid.y * nwg.x + wid.x) * WG + lidx;
    if i < arrayLength(&dst) {
        dst[i] = src[i];
    }
}
