// Reductions with a fixed order (no float atomics), so the same inputs give bitwise-identical
// results from run to run on the same adapter.
//
// sum_chunks:  each 64-wide workgroup sums one chunk of 4096 consecutive elements: every
//              invocation adds its 64 elements (strided by 64) in order, then a tree in
//              workgroup memory. Few invocations and long serial sums keep the barriers few,
//              which CPU-like adapters need; the chunk is still large enough for real GPUs.
//              output[w] = scale · Σ chunk w. Repeated until one value remains; the host sets
//              scale = 1/n on the last pass for a mean.
// column_sums: output[j] = Σ_i input[i, j] (+ output[j] if ACCUMULATE), one invocation per
//              column summing the rows in order; the bias gradient db = Σ_rows dY.

const CHUNK: u32 = 4096u;
// Invocations per workgroup of each entry point (set by the host).
override SUM_WG: u32 = 64u;
override COLUMNS_WG: u32 = 256u;

struct ReduceParams {
    n: u32,
    cols: u32,
    flags: u32,
    scale: f32,
}

const FLAG_ACCUMULATE: u32 = 1u;

@group(0) @binding(0) var<storage, read> input: array<f32>;
@group(0) @binding(1) var<storage, read_write> output: array<f32>;
@group(0) @binding(2) var<uniform> params: ReduceParams;

var<workgroup> partial: array<f32, SUM_WG>;

@compute @workgroup_size(SUM_WG)
fn sum_chunks(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lidx: u32,
) {
    let chunk = wid.y * nwg.x + wid.x;
    let base = chunk * CHUNK;
    var s = 0.0;
    for (var j = 0u; j < CHUNK / SUM_WG; j++) {
        let i = base + lidx + j * SUM_WG;
        if i < params.n {
            s += input[i];
        }
    }
    partial[lidx] = s;
    workgroupBarrier();
    for (var stride = SUM_WG / 2u; stride > 0u; stride >>= 1u) {
        if lidx < stride {
            partial[lidx] += partial[lidx + stride];
        }
        workgroupBarrier();
    }
    if lidx == 0u && base < params.n {
        output[chunk] = partial[0] * params.scale;
    }
}

// params.n is the number of rows here.
@compute @workgroup_size(COLUMNS_WG)
fn column_sums(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lidx: u32,
) {
    let j = (wid.y * nwg.x + wid.x) * COLUMNS_WG + lidx;
    if j >= params.cols {
        return;
    }
    var s = 0.0;
    for (var i = 0u; i < params.n; i++) {
        s += input[i * params.cols + j];
    }
    if (params.flags & FLAG_ACCUMULATE) != 0u {
        s += output[j];
    }
    output[j] = s;
}
