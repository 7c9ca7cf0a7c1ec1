
// ---- shaders/matmul_subgroup.wgsl: appended to matmul.wgsl, whose bindings and epilogue
// ---- (store_block) it uses. Compiled only on devices with the SUBGROUP feature.
//
// matmul_subgroup: for adapters whose subgroups are exactly 8 invocations wide, such as
// lavapipe on 256-bit CPUs. Lavapipe runs the 8 invocations of a subgroup in the lanes of one
// SIMD register and compiles every storage-buffer load whose address is not a compile-time
// constant into a loop over the lanes (Mesa 22.3, `emit_load_mem` in lp_bld_nir_soa.c). In the
// blocked kernels the 8 lanes of a row of invocations all load the same element of A, so each
// element of A costs 8 scalar loads. Here each element of A is loaded by one lane only and
// handed to the others with subgroupShuffle, which lavapipe compiles to a register shuffle.
//
// A subgroup of 8 lanes computes a 16-row × 32-column block of C: the lanes share the 16 rows
// and each lane owns 4 columns. K is walked 8 at a time. B is read as vec4 along its contiguous
// dimension (N or K), which must be a multiple of 4; A is read through its vec4 view, as whole
// vectors of rows (Aᵀ·B with M a multiple of 4) or element by element, so M·K must be too.

override SUBGROUP_WG_Y: u32 = 8u;
// TRANS_A with M a multiple of 4: A's rows are read four at a time; else element by element.
override A_ROWS_VEC4: bool = false;

// Row i of the lane's 16×4 block, and the row sums of op(A) (four rows a vector).
var<private> acc0: vec4<f32>;
var<private> acc1: vec4<f32>;
var<private> acc2: vec4<f32>;
var<private> acc3: vec4<f32>;
var<private> acc4: vec4<f32>;
var<private> acc5: vec4<f32>;
var<private> acc6: vec4<f32>;
var<private> acc7: vec4<f32>;
var<private> acc8: vec4<f32>;
var<private> acc9: vec4<f32>;
var<private> acc10: vec4<f32>;
var<private> acc11: vec4<f32>;
var<private> acc12: vec4<f32>;
var<private> acc13: vec4<f32>;
var<private> acc14: vec4<f32>;
var<private> acc15: vec4<f32>;
var<private> sums: array<vec4<f32>, 4>;

// The lane's share of an 8-deep slice of op(A): lane l holds the 16 rows at k0 + l, four rows
// a vector (each element loaded once in the subgroup).
var<private> a_slice: array<vec4<f32>, 4>;
// TRANS_B: the lane's 4 columns at k0 + 4h..k0 + 4h + 3, one vector a column (B's rows are
// contiguous along k), loaded at j = 4h.
var<private> b_quads: array<vec4<f32>, 4>;
// Where the slice starts, and where the lane's columns start in b4.
var<private> slice_k0: u32;
var<private> b_starts: vec4<u32>;

fn load_a_slice(k0: u32, lane: u32, row0: u32) {
    slice_k0 = k0;
    let kk = k0 + lane;
    if TRANS_A && A_ROWS_VEC4 {
        // A is stored K×M: the 16 rows are contiguous.
        let m4 = params.m / 4u;
        for (var v = 0u; v < 4u; v++) {
            a_slice[v] = a4[kk * m4 + min(row0 / 4u + v, m4 - 1u)];
        }
    } else {
        for (var i = 0u; i < 16u; i++) {
            a_slice[i / 4u][i % 4u] = a_element(min(row0 + i, params.m - 1u), kk);
        }
    }
}

// The 16 rows of op(A) at k0 + j, shuffled from lane j.
fn slice_rows(j: u32) -> array<vec4<f32>, 4> {
    var rows: array<vec4<f32>, 4>;
    for (var v = 0u; v < 4u; v++) {
        rows[v] = subgroupShuffle(a_slice[v], j);
    }
    return rows;
}

// The lane's 4 columns of op(B) at k0 + j, loaded where they are used: staging all 8 steps'
// values in registers measured slower on lavapipe (more spills).
fn slice_cols(j: u32) -> vec4<f32> {
    let kk = slice_k0 + j;
    if TRANS_B {
        let e = j % 4u;
        if e == 0u {
            for (var c = 0u; c < 4u; c++) {
                b_quads[c] = b4[b_starts[c] + kk / 4u];
            }
        }
        return vec4<f32>(b_quads[0][e], b_quads[1][e], b_quads[2][e], b_quads[3][e]);
    }
    return b4[kk * (params.n / 4u) + b_starts.x];
}

// Adds the outer product of 16 rows' values of op(A) and 4 columns' values of op(B) at one k.
fn accumulate(rows: array<vec4<f32>, 4>, cols: vec4<f32>) {
    acc0 += rows[0].x * cols;
    acc1 += rows[0].y * cols;
    acc2 += rows[0].z * cols;
    acc3 += rows[0].w * cols;
    acc4 += rows[1].x * cols;
    acc5 += rows[1].y * cols;
    acc6 += rows[1].z * cols;
    acc7 += rows[1].w * cols;
    acc8 += rows[2].x * cols;
    acc9 += rows[2].y * cols;
    acc10 += rows[2].z * cols;
    acc11 += rows[2].w * cols;
    acc12 += rows[3].x * cols;
    acc13 += rows[3].y * cols;
    acc14 += rows[3].z * cols;
    acc15 += rows[3].w * cols;
    if ROW_SUMS {
        for (var v = 0u; v < 4u; v++) {
            sums[v] += rows[v];
        }
    }
}

// One element of op(A) or op(B) through the vec4 views.
fn a_element(i: u32, kk: u32) -> f32 {
    let idx = select(i * params.k + kk, kk * params.m + i, TRANS_A);
    return a4[idx / 4u][idx % 4u];
}

fn b_element(kk: u32, j: u32) -> f32 {
    let idx = select(kk * params.n + j, j * params.k + kk, TRANS_B);
    return b4[idx / 4u][idx % 4u];
}

@compute @workgroup_size(8u * SUBGROUP_WG_Y)
fn matmul_subgroup(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(subgroup_id) subgroup: u32,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    // Rows come from the subgroup and columns from the lane, whichever invocations the adapter
    // groups into a subgroup (the lanes sharing rows must be one subgroup; WGSL gives these
    // builtins only to one-dimensional workgroups, hence 8 × SUBGROUP_WG_Y invocations in x).
    // No early return: every lane must take part in the shuffles. Rows and columns past the
    // edge read clamped addresses and are not stored.
    let row0 = (wid.y * SUBGROUP_WG_Y + subgroup) * 16u;
    let col0 = (wid.x * 8u + lane) * 4u;
    let k_full = params.k - params.k % 8u;
    let last_row = params.m - 1u;
    let last_col = params.n - 1u;
    if TRANS_B {
        // B is stored N×K: where each of the lane's columns starts, in vectors.
        let cols = min(vec4<u32>(col0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(last_col));
        b_starts = cols * (params.k / 4u);
    } else {
        b_starts = vec4<u32>(min(col0 / 4u, params.n / 4u - 1u));
    }
    for (var k0 = 0u; k0 < k_full; k0 += 8u) {
        load_a_slice(k0, lane, row0);
        for (var j = 0u; j < 8u; j++) {
            accumulate(slice_rows(j), slice_cols(j));
        }
    }
    // The last K % 8 values of k: each lane loads what it needs.
    for (var kk = k_full; kk < params.k; kk++) {
        var rows: array<vec4<f32>, 4>;
        for (var i = 0u; i < 16u; i++) {
            rows[i / 4u][i % 4u] = a_element(min(row0 + i, last_row), kk);
        }
        var cols: vec4<f32>;
        for (var j = 0u; j < 4u; j++) {
            cols[j] = b_element(kk, min(col0 + j, last_col));
        }
        accumulate(rows, cols);
    }
    store_block(row0, col0, array<vec4<f32>, 4>(acc0, acc1, acc2, acc3), sums[0]);
    store_block(row0 + 4u, col0, array<vec4<f32>, 4>(acc4, acc5, acc6, acc7), sums[1]);
    store_block(row0 + 8u, col0, array<vec4<f32>, 4>(acc8, acc9, acc10, acc11), sums[2]);
    store_block(row0 + 12u, col0, array<vec4<f32>, 4>(acc12, acc13, acc14, acc15), sums[3]);
}
