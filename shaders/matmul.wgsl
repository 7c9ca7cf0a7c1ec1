// Matrix multiply for training: C = op(A)·op(B), with an optional fused epilogue.
//
// op(A) is M×K and op(B) is K×N; every matrix is row-major f32. The layout is chosen
// by override constants so no transpose is ever materialised:
//   TRANS_A = false: A is stored M×K     TRANS_A = true: A is stored K×M (C = Aᵀ·B)
//   TRANS_B = false: B is stored K×N     TRANS_B = true: B is stored N×K (C = A·Bᵀ)
// Epilogue, in this order: v = acc (+ C_old if ACCUMULATE) (+ bias[j] if BIAS); then, if
// ACTIVATE, extra_out[i, j] = v if PRE_ACTIVATION and v = f(v) (a hidden layer's forward);
// then v = f'(at[i, j])·v if DERIVATIVE (its backward, `at` holding the pre-activation, or for
// ReLU the layer's output). f and f' are epilogue_forward and epilogue_backward, which the
// module's last part defines (epilogue.wgsl: the identity; or the activation's, generated).
// ROW_SUMS also writes extra_out[i] = Σ_k op(A)[i, k] (with A = dY, the bias gradient of the same
// layer as the weight gradient C = dYᵀ·X, in the same dispatch). Row sums and the
// pre-activation share binding 5: no dispatch writes both.
//
// The kernels share the loads and the epilogue:
//   matmul_blocked: barrier-free, each invocation computes a 4×4 block in registers
//                   (what CPU-like adapters such as lavapipe want);
//   matmul_blocked_vec4: barrier-free, 8 rows × 8 columns per invocation, reading B four
//                   columns at a time; needs B untransposed and N a multiple of 4;
//   matmul_dot4:    barrier-free, 4×4 per invocation for C = A·Bᵀ, reading rows of A and B
//                   four elements of K at a time; needs K a multiple of 4;
//   matmul_tiled:   workgroup tiles staged in workgroup memory (64×64×16 by default, set by
//                   override constants), 4×4 per invocation (what real GPUs want);
//   matmul_tiled_vec4: the same, loading global memory as vec4; needs the contiguous
//                   dimension of each operand to be a multiple of 4.
// matmul_subgroup.wgsl, appended to this file on devices with subgroups, adds one more.

override TRANS_A: bool = false;
override TRANS_B: bool = false;
// Workgroup shape of matmul_blocked; each invocation covers 4×4 outputs.
override BLOCKED_WG_X: u32 = 8u;
override BLOCKED_WG_Y: u32 = 8u;

// The epilogue's parts, as override constants so that each pipeline compiles only the parts it
// uses (on lavapipe the full epilogue doubled a kernel's compile time, about 180 against 80 ms).
override BIAS: bool = false;
override ACTIVATE: bool = false;
override PRE_ACTIVATION: bool = false;
override ACCUMULATE: bool = false;
override DERIVATIVE: bool = false;
override ROW_SUMS: bool = false;

struct MatmulParams {
    m: u32,
    n: u32,
    k: u32,
    _padding: u32,
}

@group(0) @binding(0) var<storage, read> a: array<f32>;
// The same binding seen four floats at a time, for matmul_dot4.
@group(0) @binding(0) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
// The same binding seen four floats at a time, for matmul_blocked_vec4.
@group(0) @binding(1) var<storage, read> b4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read> at: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;
// The row sums, or the pre-activation (no dispatch writes both; one entry point cannot use
// two variables of one binding).
@group(0) @binding(5) var<storage, read_write> extra_out: array<f32>;
@group(0) @binding(6) var<uniform> params: MatmulParams;

// op(A)[i, kk]; callers keep i < M and kk < K.
fn load_a(i: u32, kk: u32) -> f32 {
    if TRANS_A {
        return a[kk * params.m + i];
    }
    return a[i * params.k + kk];
}

// op(B)[kk, j]; callers keep kk < K and j < N.
fn load_b(kk: u32, j: u32) -> f32 {
    if TRANS_B {
        return b[j * params.k + kk];
    }
    return b[kk * params.n + j];
}

fn store_c(i: u32, j: u32, acc: f32) {
    if i >= params.m || j >= params.n {
        return;
    }
    let idx = i * params.n + j;
    var v = acc;
    if ACCUMULATE {
        v += c[idx];
    }
    if BIAS {
        v += bias[j];
    }
    if ACTIVATE {
        if PRE_ACTIVATION {
            extra_out[idx] = v;
        }
        v = epilogue_forward(v);
    }
    if DERIVATIVE {
        v = epilogue_backward(at[idx], v);
    }
    c[idx] = v;
}

fn store_row_sum(i: u32, sum: f32) {
    if ROW_SUMS && i < params.m {
        extra_out[i] = sum;
    }
}

// Stores the 4×4 block of C at (row0, col0) and, from the invocations holding column 0, its
// 4 rows' sums of op(A).
fn store_block(row0: u32, col0: u32, rows: array<vec4<f32>, 4>, sums: vec4<f32>) {
    for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) {
            store_c(row0 + i, col0 + j, rows[i][j]);
        }
        if col0 == 0u {
            store_row_sum(row0 + i, sums[i]);
        }
    }
}

@compute @workgroup_size(BLOCKED_WG_X, BLOCKED_WG_Y)
fn matmul_blocked(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
) {
    // The workgroup covers a (4·WG_Y)×(4·WG_X) block of C. Each invocation takes every
    // WG_X-th column and every WG_Y-th row of it, so neighbouring invocations (the SIMD lanes
    // of a CPU-like adapter) load neighbouring addresses.
    let row0 = wid.y * 4u * BLOCKED_WG_Y + lid.y;
    let col0 = wid.x * 4u * BLOCKED_WG_X + lid.x;
    // Clamp instead of branching in the inner loop: rows and columns past the edge
    // re-read the last valid one and are simply not stored.
    let last_row = params.m - 1u;
    let last_col = params.n - 1u;
    let r = min(vec4<u32>(row0) + vec4<u32>(0u, 1u, 2u, 3u) * BLOCKED_WG_Y, vec4<u32>(last_row));
    let q = min(vec4<u32>(col0) + vec4<u32>(0u, 1u, 2u, 3u) * BLOCKED_WG_X, vec4<u32>(last_col));
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    var sums = vec4<f32>(0.0);
    for (var kk = 0u; kk < params.k; kk++) {
        let bv = vec4<f32>(load_b(kk, q.x), load_b(kk, q.y), load_b(kk, q.z), load_b(kk, q.w));
        let av = vec4<f32>(load_a(r.x, kk), load_a(r.y, kk), load_a(r.z, kk), load_a(r.w, kk));
        acc0 += av.x * bv;
        acc1 += av.y * bv;
        acc2 += av.z * bv;
        acc3 += av.w * bv;
        sums += av;
    }
    let rows = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
    for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) {
            store_c(row0 + i * BLOCKED_WG_Y, col0 + j * BLOCKED_WG_X, rows[i][j]);
        }
        // The invocations holding column 0 write the row sums.
        if col0 == 0u {
            store_row_sum(row0 + i * BLOCKED_WG_Y, sums[i]);
        }
    }
}

// Workgroup shape of matmul_blocked_vec4; each invocation covers 8×8 outputs.
override VEC4_WG_X: u32 = 16u;
override VEC4_WG_Y: u32 = 2u;

@compute @workgroup_size(VEC4_WG_X, VEC4_WG_Y)
fn matmul_blocked_vec4(@builtin(global_invocation_id) gid: vec3<u32>) {
    let n4 = params.n / 4u;
    let q = gid.x * 2u; // first vec4 column of the block
    let row0 = gid.y * 8u;
    if row0 >= params.m || q >= n4 {
        return;
    }
    let q1 = min(q + 1u, n4 - 1u);
    let last = params.m - 1u;
    let r0 = min(row0, last);
    let r1 = min(row0 + 1u, last);
    let r2 = min(row0 + 2u, last);
    let r3 = min(row0 + 3u, last);
    let r4 = min(row0 + 4u, last);
    let r5 = min(row0 + 5u, last);
    let r6 = min(row0 + 6u, last);
    let r7 = min(row0 + 7u, last);
    var c00 = vec4<f32>(0.0); var c01 = vec4<f32>(0.0);
    var c10 = vec4<f32>(0.0); var c11 = vec4<f32>(0.0);
    var c20 = vec4<f32>(0.0); var c21 = vec4<f32>(0.0);
    var c30 = vec4<f32>(0.0); var c31 = vec4<f32>(0.0);
    var c40 = vec4<f32>(0.0); var c41 = vec4<f32>(0.0);
    var c50 = vec4<f32>(0.0); var c51 = vec4<f32>(0.0);
    var c60 = vec4<f32>(0.0); var c61 = vec4<f32>(0.0);
    var c70 = vec4<f32>(0.0); var c71 = vec4<f32>(0.0);
    var s0 = vec4<f32>(0.0);
    var s1 = vec4<f32>(0.0);
    for (var kk = 0u; kk < params.k; kk++) {
        let b0 = b4[kk * n4 + q];
        let b1 = b4[kk * n4 + q1];
        let a0 = vec4<f32>(load_a(r0, kk), load_a(r1, kk), load_a(r2, kk), load_a(r3, kk));
        let a1 = vec4<f32>(load_a(r4, kk), load_a(r5, kk), load_a(r6, kk), load_a(r7, kk));
        c00 += a0.x * b0; c01 += a0.x * b1;
        c10 += a0.y * b0; c11 += a0.y * b1;
        c20 += a0.z * b0; c21 += a0.z * b1;
        c30 += a0.w * b0; c31 += a0.w * b1;
        c40 += a1.x * b0; c41 += a1.x * b1;
        c50 += a1.y * b0; c51 += a1.y * b1;
        c60 += a1.z * b0; c61 += a1.z * b1;
        c70 += a1.w * b0; c71 += a1.w * b1;
        s0 += a0;
        s1 += a1;
    }
    let rows = array<vec4<f32>, 16>(c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51, c60, c61, c70, c71);
    let sums = array<f32, 8>(s0.x, s0.y, s0.z, s0.w, s1.x, s1.y, s1.z, s1.w);
    for (var i = 0u; i < 8u; i++) {
        for (var j = 0u; j < 8u; j++) {
            // Columns of the clamped second vec4 past N are simply not stored.
            if q + j / 4u < n4 {
                store_c(row0 + i, 4u * q + j, rows[2u * i + j / 4u][j % 4u]);
            }
        }
        if q == 0u {
            store_row_sum(row0 + i, sums[i]);
        }
    }
}

// Workgroup shape of matmul_dot4; each invocation covers 4×4 outputs.
override DOT4_WG_X: u32 = 8u;
override DOT4_WG_Y: u32 = 8u;

@compute @workgroup_size(DOT4_WG_X, DOT4_WG_Y)
fn matmul_dot4(@builtin(global_invocation_id) gid: vec3<u32>) {
    let k4 = params.k / 4u;
    let row0 = gid.y * 4u;
    let col0 = gid.x * 4u;
    if row0 >= params.m || col0 >= params.n {
        return;
    }
    let last_row = params.m - 1u;
    let last_col = params.n - 1u;
    let r = min(vec4<u32>(row0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(last_row)) * k4;
    let q = min(vec4<u32>(col0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(last_col)) * k4;
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    var sums = vec4<f32>(0.0);
    for (var kk = 0u; kk < k4; kk++) {
        let a0 = a4[r.x + kk];
        let a1 = a4[r.y + kk];
        let a2 = a4[r.z + kk];
        let a3 = a4[r.w + kk];
        let b0 = b4[q.x + kk];
        let b1 = b4[q.y + kk];
        let b2 = b4[q.z + kk];
        let b3 = b4[q.w + kk];
        acc0 += vec4<f32>(dot(a0, b0), dot(a0, b1), dot(a0, b2), dot(a0, b3));
        acc1 += vec4<f32>(dot(a1, b0), dot(a1, b1), dot(a1, b2), dot(a1, b3));
        acc2 += vec4<f32>(dot(a2, b0), dot(a2, b1), dot(a2, b2), dot(a2, b3));
        acc3 += vec4<f32>(dot(a3, b0), dot(a3, b1), dot(a3, b2), dot(a3, b3));
        let one = vec4<f32>(1.0);
        sums += vec4<f32>(dot(a0, one), dot(a1, one), dot(a2, one), dot(a3, one));
    }
    store_block(row0, col0, array<vec4<f32>, 4>(acc0, acc1, acc2, acc3), sums);
}

// matmul_tiled and matmul_tiled_vec4: a workgroup computes a TILE_M×TILE_N tile of C,
// stepping K by TILE_K; each invocation holds a 4×4 block in registers (register blocking) and
// the tiles of op(A) and op(B) are staged in workgroup memory, four values a vector, so the inner
// loop reads two vec4s for 16 multiply-adds. matmul_tiled_vec4 also loads global memory four
// floats at a time; it needs the contiguous dimension of each operand to be a multiple of 4.
// Tile sides are multiples of 4; the workgroup is (TILE_N / 4) × (TILE_M / 4) invocations.
override TILE_M: u32 = 64u;
override TILE_N: u32 = 64u;
override TILE_K: u32 = 16u;
// [kk][row / 4] and [kk][col / 4]: the 4 rows (columns) an invocation needs, in one vector.
var<workgroup> a_tile: array<vec4<f32>, TILE_K * TILE_M / 4u>;
var<workgroup> b_tile: array<vec4<f32>, TILE_K * TILE_N / 4u>;

fn tile_invocations() -> u32 {
    return TILE_M * TILE_N / 16u;
}

fn set_a_tile(kk: u32, row: u32, v: f32) {
    a_tile[kk * (TILE_M / 4u) + row / 4u][row % 4u] = v;
}

fn set_b_tile(kk: u32, col: u32, v: f32) {
    b_tile[kk * (TILE_N / 4u) + col / 4u][col % 4u] = v;
}

// Stages the tiles at (tile_row, k0) of op(A) and (k0, tile_col) of op(B), one float at a time;
// neighbouring invocations take neighbouring addresses in either layout. Zero past the edges.
fn stage_tiles_scalar(lidx: u32, tile_row: u32, tile_col: u32, k0: u32) {
    for (var e = lidx; e < TILE_M * TILE_K; e += tile_invocations()) {
        var row = e / TILE_K;
        var kk = e % TILE_K;
        if TRANS_A {
            row = e % TILE_M;
            kk = e / TILE_M;
        }
        var v = 0.0;
        if tile_row + row < params.m && k0 + kk < params.k {
            v = load_a(tile_row + row, k0 + kk);
        }
        set_a_tile(kk, row, v);
    }
    for (var e = lidx; e < TILE_N * TILE_K; e += tile_invocations()) {
        var col = e % TILE_N;
        var kk = e / TILE_N;
        if TRANS_B {
            col = e / TILE_K;
            kk = e % TILE_K;
        }
        var v = 0.0;
        if tile_col + col < params.n && k0 + kk < params.k {
            v = load_b(k0 + kk, tile_col + col);
        }
        set_b_tile(kk, col, v);
    }
}

// As stage_tiles_scalar, four floats a load: a vector along the operand's contiguous dimension,
// wholly inside or wholly past the edge as that dimension is a multiple of 4.
fn stage_tiles_vec4(lidx: u32, tile_row: u32, tile_col: u32, k0: u32) {
    for (var q = lidx; q < TILE_M * TILE_K / 4u; q += tile_invocations()) {
        var v = vec4<f32>(0.0);
        if TRANS_A {
            // A is stored K×M: four rows at one kk, stored as they are.
            let kk = q / (TILE_M / 4u);
            let row = 4u * (q % (TILE_M / 4u));
            if tile_row + row < params.m && k0 + kk < params.k {
                v = a4[((k0 + kk) * params.m + tile_row + row) / 4u];
            }
            a_tile[kk * (TILE_M / 4u) + row / 4u] = v;
        } else {
            // A is stored M×K: four kk of one row, scattered.
            let row = q / (TILE_K / 4u);
            let kk = 4u * (q % (TILE_K / 4u));
            if tile_row + row < params.m && k0 + kk < params.k {
                v = a4[((tile_row + row) * params.k + k0 + kk) / 4u];
            }
            for (var i = 0u; i < 4u; i++) {
                set_a_tile(kk + i, row, v[i]);
            }
        }
    }
    for (var q = lidx; q < TILE_N * TILE_K / 4u; q += tile_invocations()) {
        var v = vec4<f32>(0.0);
        if TRANS_B {
            // B is stored N×K: four kk of one column, scattered.
            let col = q / (TILE_K / 4u);
            let kk = 4u * (q % (TILE_K / 4u));
            if tile_col + col < params.n && k0 + kk < params.k {
                v = b4[((tile_col + col) * params.k + k0 + kk) / 4u];
            }
            for (var i = 0u; i < 4u; i++) {
                set_b_tile(kk + i, col, v[i]);
            }
        } else {
            // B is stored K×N: four columns at one kk, stored as they are.
            let kk = q / (TILE_N / 4u);
            let col = 4u * (q % (TILE_N / 4u));
            if tile_col + col < params.n && k0 + kk < params.k {
                v = b4[((k0 + kk) * params.n + tile_col + col) / 4u];
            }
            b_tile[kk * (TILE_N / 4u) + col / 4u] = v;
        }
    }
}

// The invocation's 4×4 block and its 4 rows' sums of op(A).
var<private> tile_acc: array<vec4<f32>, 4>;
var<private> tile_sums: vec4<f32>;

// Multiplies the staged tiles into the invocation's block (rows 4·lid.y.., columns 4·lid.x..),
// once every invocation has staged its part, and before any stages the next tiles.
fn multiply_tiles(lid: vec3<u32>) {
    workgroupBarrier();
    for (var kk = 0u; kk < TILE_K; kk++) {
        let av = a_tile[kk * (TILE_M / 4u) + lid.y];
        let bv = b_tile[kk * (TILE_N / 4u) + lid.x];
        for (var i = 0u; i < 4u; i++) {
            tile_acc[i] += av[i] * bv;
        }
        tile_sums += av;
    }
    workgroupBarrier();
}

fn store_tile(wid: vec3<u32>, lid: vec3<u32>) {
    store_block(wid.y * TILE_M + lid.y * 4u, wid.x * TILE_N + lid.x * 4u, tile_acc, tile_sums);
}

@compute @workgroup_size(TILE_N / 4u, TILE_M / 4u)
fn matmul_tiled(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) lidx: u32,
) {
    for (var k0 = 0u; k0 < params.k; k0 += TILE_K) {
        stage_tiles_scalar(lidx, wid.y * TILE_M, wid.x * TILE_N, k0);
        multiply_tiles(lid);
    }
    store_tile(wid, lid);
}

@compute @workgroup_size(TILE_N / 4u, TILE_M / 4u)
fn matmul_tiled_vec4(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) lidx: u32,
) {
    for (var k0 = 0u; k0 < params.k; k0 += TILE_K) {
        stage_tiles_vec4(lidx, wid.y * TILE_M, wid.x * TILE_N, k0);
        multiply_tiles(lid);
    }
    store_tile(wid, lid);
}
