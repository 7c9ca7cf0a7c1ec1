// Shuffles one epoch's data on the GPU, once per epoch: row `order[p]` of the features and of
// the targets goes to position p, laid out as consecutive mini-batches of `batch` rows, each
// batch starting a new block of `x_block` (`y_block`) elements. The blocks are sized to the
// storage-binding alignment, so each training step binds its batch with a dynamic offset and
// no step needs a gather of its own. Values are copied bit for bit (f32 features, f32 or u32
// targets alike). Two entry points: any feature count, and multiples of 4 (vec4 copies).

// Invocations per workgroup (set by the host).
override WG: u32 = 256u;

struct ShuffleParams {
    rows: u32,
    x_cols: u32,
    y_cols: u32,
    batch: u32,
    x_block: u32,
    y_block: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read> x_all: array<u32>;
@group(0) @binding(1) var<storage, read> y_all: array<u32>;
@group(0) @binding(2) var<storage, read> order: array<u32>;
@group(0) @binding(3) var<storage, read_write> x_batches: array<u32>;
@group(0) @binding(4) var<storage, read_write> y_batches: array<u32>;
@group(0) @binding(5) var<uniform> params: ShuffleParams;
// The features four at a time, for shuffle_rows_vec4.
@group(0) @binding(0) var<storage, read> x_all4: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read_write> x_batches4: array<vec4<u32>>;

// Invocation i's cell of the epoch, in rows of `x_words` feature words (elements or vec4s)
// then the targets: its column, where its position's row starts in the batch blocks, and the
// dataset row it comes from. Only for i below rows × (x_words + y_cols).
struct Cell {
    c: u32,
    x_at: u32,
    y_at: u32,
    source: u32,
}

fn cell(i: u32, x_words: u32) -> Cell {
    let width = x_words + params.y_cols;
    let p = i / width;
    let block = p / params.batch;
    let r = p % params.batch;
    return Cell(
        i % width,
        block * params.x_block + r * params.x_cols,
        block * params.y_block + r * params.y_cols,
        order[p],
    );
}

fn copy_target(at: Cell, cy: u32) {
    y_batches[at.y_at + cy] = y_all[at.source * params.y_cols + cy];
}

fn flat_index(wid: vec3<u32>, nwg: vec3<u32>, lidx: u32) -> u32 {
    return (wid.y * nwg.x + wid.x) * WG + lidx;
}

@compute @workgroup_size(WG)
fn shuffle_rows(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lidx: u32,
) {
    let i = flat_index(wid, nwg, lidx);
    if i >= params.rows * (params.x_cols + params.y_cols) {
        return;
    }
    let at = cell(i, params.x_cols);
    if at.c < params.x_cols {
        x_batches[at.x_at + at.c] = x_all[at.source * params.x_cols + at.c];
    } else {
        copy_target(at, at.c - params.x_cols);
    }
}

// The same shuffle for a feature count that is a multiple of 4 (block sizes are): the features
// four at a time, the targets one at a time. On CPU-like adapters a vec4 load or store is
// about as cheap as a scalar one, so this moves the features about four times as fast.
@compute @workgroup_size(WG)
fn shuffle_rows_vec4(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lidx: u32,
) {
    let i = flat_index(wid, nwg, lidx);
    let quads = params.x_cols / 4u;
    if i >= params.rows * (quads + params.y_cols) {
        return;
    }
    let at = cell(i, quads);
    if at.c < quads {
        x_batches4[at.x_at / 4u + at.c] = x_all4[at.source * quads + at.c];
    } else {
        copy_target(at, at.c - quads);
    }
}
