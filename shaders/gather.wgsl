// Gathers one mini-batch on the GPU: rows `order[offset .. offset + rows]` of the features and
// of the targets, copied bit for bit (f32 features, f32 or u32 targets alike).
//
// The batch's offset into the epoch's row order changes every step; it comes from a table of
// per-step entries bound with a dynamic offset, so a whole epoch of steps is recorded once and
// submitted together.

struct GatherParams {
    rows: u32,
    x_cols: u32,
    y_cols: u32,
    _pad: u32,
}

struct GatherStep {
    offset: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<storage, read> x_all: array<u32>;
@group(0) @binding(1) var<storage, read> y_all: array<u32>;
@group(0) @binding(2) var<storage, read> order: array<u32>;
@group(0) @binding(3) var<storage, read_write> x_batch: array<u32>;
@group(0) @binding(4) var<storage, read_write> y_batch: array<u32>;
@group(0) @binding(5) var<uniform> params: GatherParams;
@group(0) @binding(6) var<uniform> step: GatherStep;

@compute @workgroup_size(256)
fn gather_rows(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lidx: u32,
) {
    let i = (wid.y * nwg.x + wid.x) * 256u + lidx;
    let width = params.x_cols + params.y_cols;
    if i >= params.rows * width {
        return;
    }
    let r = i / width;
    let c = i % width;
    let source = order[step.offset + r];
    if c < params.x_cols {
        x_batch[r * params.x_cols + c] = x_all[source * params.x_cols + c];
    } else {
        let cy = c - params.x_cols;
        y_batch[r * params.y_cols + cy] = y_all[source * params.y_cols + cy];
    }
}
