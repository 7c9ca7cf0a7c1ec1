// The formulas of the losses and the optimizer updates, written once. This file is a library:
// the crate puts it before loss.wgsl, optim.wgsl and small_mlp.wgsl (WGSL has no includes), so
// the general path and the small-model path compute every loss term and every update with the
// same text. Element-wise formulas only; how a shader walks its data stays in the shader.

// ---- losses: each returns (loss term, gradient of the term); the caller scales by 1/n ----

// log(1 + z) accurate for small z (WGSL has no log1p): the classic correction by u − 1.
fn log1p(z: f32) -> f32 {
    let u = 1.0 + z;
    if u == 1.0 {
        return z;
    }
    return log(u) * z / (u - 1.0);
}

// σ(x) without overflow for large |x|.
fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        return 1.0 / (1.0 + exp(-x));
    }
    let e = exp(x);
    return e / (1.0 + e);
}

// MSE (PyTorch MSELoss): l = (ŷ − y)², dl/dŷ = 2(ŷ − y).
fn mse_term(x: f32, y: f32) -> vec2<f32> {
    let d = x - y;
    return vec2<f32>(d * d, 2.0 * d);
}

// BCE with logits (PyTorch BCEWithLogitsLoss), finite for any logit:
// l = max(x, 0) − x·y + log1p(exp(−|x|)), dl/dx = σ(x) − y.
fn bce_with_logits_term(x: f32, y: f32) -> vec2<f32> {
    return vec2<f32>(max(x, 0.0) - x * y + log1p(exp(-abs(x))), sigmoid(x) - y);
}

// BCE with logits and pos_weight p (PyTorch BCEWithLogitsLoss(pos_weight=p)). ATen writes
// l = (1 − y)·x + (1 + (p − 1)·y)·softplus(−x), whose first term cancels the second for y = 0
// and x ≪ 0 (in f32, 1e-4 of l at x = −6); the same l as two terms ≥ 0 does not:
// l = (1 − y)·softplus(x) + p·y·softplus(−x), dl/dx = (1 − y)·σ(x) − p·y·σ(−x),
// softplus(x) = max(x, 0) + log1p(exp(−|x|)).
fn bce_with_logits_pos_term(x: f32, y: f32, p: f32) -> vec2<f32> {
    let tail = log1p(exp(-abs(x)));
    let loss = (1.0 - y) * (max(x, 0.0) + tail) + p * y * (max(-x, 0.0) + tail);
    return vec2<f32>(loss, (1.0 - y) * sigmoid(x) - p * y * sigmoid(-x));
}

// max(ln p, −100), PyTorch BCELoss's clamped log. ln 0 is undefined in Vulkan (GLSL.std.450
// Log; SwiftShader returns about −88, not −∞), so p = 0 takes the clamp without the log. A
// subnormal p (below 2^−126) is scaled by 2^24 first: lavapipe's log gives ≈ −87.3 for every
// subnormal, where ln p reaches −103 (PyTorch's golden fixture caught it at p = 1e-44); a
// driver that flushes p to zero gets the clamp.
fn clamped_log(p: f32) -> f32 {
    if p < 1.17549435e-38 {
        let scaled = p * 16777216.0;
        if scaled <= 0.0 {
            return -100.0;
        }
        return max(log(scaled) - 16.6355323, -100.0); // ln p = ln(p·2^24) − 24·ln 2
    }
    return max(log(p), -100.0);
}

// BCE on probabilities (PyTorch BCELoss, logs clamped at −100):
// l = −(y·max(ln p, −100) + (1 − y)·max(ln(1 − p), −100)), dl/dp = (p − y) / max(p(1 − p), 1e-12).
fn bce_term(p: f32, y: f32) -> vec2<f32> {
    let log_p = clamped_log(p);
    let log_q = clamped_log(1.0 - p);
    return vec2<f32>(-(y * log_p + (1.0 - y) * log_q), (p - y) / max(p * (1.0 - p), 1e-12));
}

// Softmax cross-entropy (PyTorch CrossEntropyLoss, class targets), for a row whose maximum is
// row_max and whose Σ exp(x − row_max) is sum_exp: the gradient of logit x_j is softmax − onehot,
fn softmax_ce_grad(x_j: f32, row_max: f32, sum_exp: f32, is_target: bool) -> f32 {
    return exp(x_j - row_max) / sum_exp - select(0.0, 1.0, is_target);
}

// and the row's loss is logsumexp(x) − x_t. A target that is not a class gives NaN, so the mean
// shows it (on every path: the host refuses such data before it reaches a kernel).
fn softmax_ce_term(row_max: f32, sum_exp: f32, x_t: f32, target_valid: bool) -> f32 {
    if target_valid {
        return log(sum_exp) - (x_t - row_max);
    }
    // A variable, not a constant: Tint refuses a constant expression whose value is NaN.
    var nan_bits = 0x7fc00000u;
    return bitcast<f32>(nan_bits);
}

// The losses' codes, one per LossKind (LossKind::code in kernels/loss.rs), in every kernel.
const LOSS_MSE: u32 = 0u;
const LOSS_BCE_WITH_LOGITS: u32 = 1u;
const LOSS_BCE: u32 = 2u;
const LOSS_SOFTMAX_CE: u32 = 3u;

// The term and gradient of element-wise loss `kind` (softmax cross-entropy takes a whole row:
// softmax_row.wgsl).
fn elementwise_loss_term(kind: u32, x: f32, y: f32) -> vec2<f32> {
    switch kind {
        case LOSS_MSE: {
            return mse_term(x, y);
        }
        case LOSS_BCE_WITH_LOGITS: {
            return bce_with_logits_term(x, y);
        }
        default: {
            return bce_term(x, y);
        }
    }
}

// ---- activations (PyTorch's nn modules; `Activation::code` in Rust gives the kind) ----
//
// Each as a forward f(z) and a backward f'(z)·upstream from the pre-activation z, as
// PyTorch's CPU kernels compute them. WGSL has no erf, and Vulkan lets tanh lose most of its
// relative precision near 0 (Mesa builds it from exp), so both are computed here.

const ACT_RELU: u32 = 0u;
const ACT_LEAKY_RELU: u32 = 1u;
const ACT_TANH: u32 = 2u;
const ACT_SIGMOID: u32 = 3u;
const ACT_GELU: u32 = 4u;
const ACT_GELU_TANH: u32 = 5u;
const ACT_SILU: u32 = 6u;

// tanh within a few ulp: the odd Taylor series to z¹¹ below |z| = 0.4 (the next term is under
// 2.5e-8 there), 1 − 2/(e^{2|z|} + 1) above it; |z| > 9.1 gives ±1 in f32 anyway, and the clamp
// keeps e^{2|z|} finite.
fn tanh_exact(z: f32) -> f32 {
    let a = abs(z);
    if a < 0.4 {
        let s = z * z;
        let p = -0.0088632355 * s + 0.021869488; // −1382/155925, 62/2835
        let q = ((p * s - 0.053968254) * s + 0.13333334) * s - 0.33333334; // −17/315, 2/15, −1/3
        return fma(z * s, q, z);
    }
    let r = 1.0 - 2.0 / (exp(2.0 * min(a, 9.1)) + 1.0);
    return select(r, -r, z < 0.0);
}

// erfc(a) for a ≥ 0 with relative error under 1.2e-7 in exact arithmetic: the Chebyshev fit of
// Press et al., Numerical Recipes (2nd ed.) §6.2. Relative accuracy in the tail keeps GELU's
// Φ(z) = erfc(−z/√2)/2 accurate for negative z, where 1 + erf(z/√2) cancels.
fn erfc_nonnegative(a: f32) -> f32 {
    let t = 1.0 / (1.0 + 0.5 * a);
    var p = 0.17087277;
    p = fma(p, t, -0.82215223);
    p = fma(p, t, 1.48851587);
    p = fma(p, t, -1.13520398);
    p = fma(p, t, 0.27886807);
    p = fma(p, t, -0.18628806);
    p = fma(p, t, 0.09678418);
    p = fma(p, t, 0.37409196);
    p = fma(p, t, 1.00002368);
    p = fma(p, t, -1.26551223);
    return t * exp(p - a * a);
}

// Φ(z), the standard normal CDF: erfc(−z/√2)/2.
fn normal_cdf(z: f32) -> f32 {
    let e = erfc_nonnegative(abs(z) * 0.70710678);
    return select(1.0 - 0.5 * e, 0.5 * e, z < 0.0);
}

// GELU with approximate='tanh': z/2·(1 + tanh(√(2/π)·(z + 0.044715·z³))).
fn gelu_tanh_inner(z: f32) -> f32 {
    return 0.7978845608 * (z + 0.044715 * z * z * z);
}

// Each activation's f(z), and its f'(z)·upstream. ReLU's and LeakyReLU's gradient at exactly
// 0 is the negative side's, as PyTorch's; for ReLU (and LeakyReLU with a slope ≥ 0) f(z) > 0
// exactly where z > 0, so a caller may pass the output in place of z.

fn relu(z: f32) -> f32 {
    return max(z, 0.0);
}

fn relu_grad(z: f32, upstream: f32) -> f32 {
    return select(0.0, upstream, z > 0.0);
}

fn leaky_relu(z: f32, negative_slope: f32) -> f32 {
    return select(z * negative_slope, z, z > 0.0);
}

fn leaky_relu_grad(z: f32, upstream: f32, negative_slope: f32) -> f32 {
    return select(upstream * negative_slope, upstream, z > 0.0);
}

fn tanh_grad(z: f32, upstream: f32) -> f32 {
    let y = tanh_exact(z);
    return upstream * (1.0 - y * y);
}

fn sigmoid_grad(z: f32, upstream: f32) -> f32 {
    let y = sigmoid(z);
    return upstream * (1.0 - y) * y;
}

fn gelu(z: f32) -> f32 {
    return z * normal_cdf(z);
}

// Φ(z) + z·φ(z), φ(z) = e^{−z²/2}/√(2π).
fn gelu_grad(z: f32, upstream: f32) -> f32 {
    return upstream * (normal_cdf(z) + z * 0.3989422804 * exp(-0.5 * z * z));
}

fn gelu_tanh(z: f32) -> f32 {
    return 0.5 * z * (1.0 + tanh_exact(gelu_tanh_inner(z)));
}

fn gelu_tanh_grad(z: f32, upstream: f32) -> f32 {
    let t = tanh_exact(gelu_tanh_inner(z));
    let left = 0.5 * (1.0 + t);
    let right = 0.5 * z * (1.0 - t * t) * 0.7978845608 * (1.0 + 0.134145 * z * z);
    // Where t = ±1 the right term is 0 (not 0·∞ = NaN once z² overflows).
    return upstream * (left + select(right, 0.0, t * t == 1.0));
}

fn silu(z: f32) -> f32 {
    return z * sigmoid(z);
}

fn silu_grad(z: f32, upstream: f32) -> f32 {
    let s = sigmoid(z);
    return upstream * s * (1.0 + z * (1.0 - s));
}

// The activation of kind ACT_* chosen at run time (kernels whose layers differ). Kernels that
// know theirs when they are built call its function directly: inlined at every call site, the
// whole switch costs compile time (a matmul's 64 stores took 13 s on lavapipe).
fn activation_forward(kind: u32, z: f32, negative_slope: f32) -> f32 {
    switch kind {
        case ACT_LEAKY_RELU: {
            return leaky_relu(z, negative_slope);
        }
        case ACT_TANH: {
            return tanh_exact(z);
        }
        case ACT_SIGMOID: {
            return sigmoid(z);
        }
        case ACT_GELU: {
            return gelu(z);
        }
        case ACT_GELU_TANH: {
            return gelu_tanh(z);
        }
        case ACT_SILU: {
            return silu(z);
        }
        default: {
            return relu(z);
        }
    }
}

fn activation_backward(kind: u32, z: f32, upstream: f32, negative_slope: f32) -> f32 {
    switch kind {
        case ACT_LEAKY_RELU: {
            return leaky_relu_grad(z, upstream, negative_slope);
        }
        case ACT_TANH: {
            return tanh_grad(z, upstream);
        }
        case ACT_SIGMOID: {
            return sigmoid_grad(z, upstream);
        }
        case ACT_GELU: {
            return gelu_grad(z, upstream);
        }
        case ACT_GELU_TANH: {
            return gelu_tanh_grad(z, upstream);
        }
        case ACT_SILU: {
            return silu_grad(z, upstream);
        }
        default: {
            return relu_grad(z, upstream);
        }
    }
}

// ---- optimizers (PyTorch's torch.optim algorithms), four elements at a time ----
//
// With g the gradient and θ the parameter:
//   g ← −g if maximize
//   g ← g + λ₁·sign(θ)                 (L1 is ours, as PyTorch users add it to the loss; sign(0) = 0)
//   g ← s·g                            (clip_grad_norm_'s factor s, on the gradient L1 is part of)
//   g ← clamp(g, −c, c)                (clip_grad_value_, likewise)
//   g ← g + λ₂·θ                       (L2 as PyTorch's weight_decay, inside the step)
// SGD:
//   b ← g on the first step, else μ·b + (1 − τ)·g        (only if μ ≠ 0)
//   g ← g + μ·b if nesterov, else b                     (only if μ ≠ 0)
//   θ ← θ − lr·g
// Adam (AdamW when decoupled: θ ← θ·(1 − lr·λ₂) instead of adding λ₂·θ to g):
//   m ← lerp(m, g, 1 − β₁);  v ← β₂·v + (1 − β₂)·g²;  v̂max ← max(v̂max, v) if amsgrad
//   θ ← θ − (lr / (1 − β₁ᵗ)) · m / (√v(or v̂max) / √(1 − β₂ᵗ) + ε)
//
// In PyTorch's arithmetic, operation for operation as torch.optim's single-tensor
// implementations run them: every constant derived from the hyperparameters (1 − β₁, 1 − β₂,
// 1 − τ, the step size, √(1 − β₂ᵗ), 1 − lr·λ₂) comes from the host, computed in f64 and rounded
// to f32 once, as PyTorch computes it from Python floats; `fma` stands where PyTorch's CPU
// kernels fuse (`add` with `alpha`, `lerp`); m is a lerp, as `exp_avg.lerp_(grad, 1 − β₁)`.

const FLAG_NESTEROV: u32 = 1u;
const FLAG_MAXIMIZE: u32 = 2u;
const FLAG_AMSGRAD: u32 = 4u;
const FLAG_DECOUPLED: u32 = 8u;

// One parameter group's hyperparameters, fixed for a run, and the constants derived from them.
struct GroupParams {
    momentum: f32,
    one_minus_dampening: f32,
    weight_decay: f32,
    l1: f32,
    one_minus_beta1: f32,
    beta2: f32,
    one_minus_beta2: f32,
    eps: f32,
    flags: u32,
    // clip_grad_value_'s bound c; 0 when off.
    clip_value: f32,
    _pad1: u32,
    _pad2: u32,
}

// What changes from step to step, per group, computed on the host in f64 (the step vector):
// x = the step size (SGD: lr; Adam: lr / (1 − β₁ᵗ)), y = √(1 − β₂ᵗ), z = 1 on the first step
// (SGD's momentum buffer starts as the gradient), w = 1 − lr·λ₂ (AdamW's decay factor).

// clip_grad_norm_'s factor (norm type 2) for gradients whose squares sum to `square_sum`:
// min(max_norm / (‖g‖ + 1e-6), 1), applied to the raw gradients before the step.
fn clip_norm_coefficient(square_sum: f32, max_norm: f32) -> f32 {
    return min(max_norm / (sqrt(square_sum) + 1e-6), 1.0);
}

// The gradient after maximize and L1: what autograd leaves in .grad when L1's term is in the
// loss, and so what clip_grad_norm_ measures (maximize only flips its sign).
fn penalized_grad(raw: vec4<f32>, theta: vec4<f32>, hp: GroupParams) -> vec4<f32> {
    var g = raw;
    if (hp.flags & FLAG_MAXIMIZE) != 0u {
        g = -g;
    }
    // Without L1, PyTorch's gradient as it is (adding 0 · sign(θ) would turn a −0 into +0).
    if hp.l1 != 0.0 {
        g += hp.l1 * sign(theta);
    }
    return g;
}

// The gradient after maximize, L1, clipping and the coupled L2, in PyTorch's order: autograd
// adds L1's term to .grad, clip_grad_norm_ scales .grad by `clip` (1 when off),
// clip_grad_value_ clamps .grad, then the step adds grad.add(param, alpha=weight_decay).
fn regularized_grad(raw: vec4<f32>, theta: vec4<f32>, hp: GroupParams, clip: f32, coupled_l2: bool) -> vec4<f32> {
    var g = penalized_grad(raw, theta, hp) * clip;
    if hp.clip_value > 0.0 {
        g = clamp(g, vec4<f32>(-hp.clip_value), vec4<f32>(hp.clip_value));
    }
    if coupled_l2 {
        g = fma(theta, vec4<f32>(hp.weight_decay), g);
    }
    return g;
}

struct SgdUpdate {
    theta: vec4<f32>,
    // The new momentum buffer (unchanged when μ = 0).
    momentum_buffer: vec4<f32>,
}

fn sgd_update(theta: vec4<f32>, raw_grad: vec4<f32>, clip: f32, momentum_buffer: vec4<f32>, hp: GroupParams, st: vec4<f32>) -> SgdUpdate {
    var g = regularized_grad(raw_grad, theta, hp, clip, true);
    var b = momentum_buffer;
    if hp.momentum != 0.0 {
        b = g;
        if st.z == 0.0 {
            // buf.mul_(momentum).add_(grad, alpha=1 - dampening)
            b = fma(g, vec4<f32>(hp.one_minus_dampening), momentum_buffer * hp.momentum);
        }
        if (hp.flags & FLAG_NESTEROV) != 0u {
            g = fma(b, vec4<f32>(hp.momentum), g); // grad.add(buf, alpha=momentum)
        } else {
            g = b;
        }
    }
    // param.add_(grad, alpha=-lr)
    return SgdUpdate(fma(g, vec4<f32>(-st.x), theta), b);
}

struct AdamUpdate {
    theta: vec4<f32>,
    m: vec4<f32>,
    v: vec4<f32>,
    // max v with AMSGrad, else v.
    v_used: vec4<f32>,
}

// PyTorch's lerp(start, end, w): start + w·(end − start) for w < 0.5, else
// end − (end − start)·(1 − w), each one fused multiply-add.
fn lerp(start: vec4<f32>, end: vec4<f32>, w: f32) -> vec4<f32> {
    if w < 0.5 {
        return fma(vec4<f32>(w), end - start, start);
    }
    return fma(vec4<f32>(w - 1.0), end - start, end);
}

// max_v is read only with AMSGrad.
fn adam_update(theta0: vec4<f32>, raw_grad: vec4<f32>, clip: f32, m_old: vec4<f32>, v_old: vec4<f32>, max_v: vec4<f32>, hp: GroupParams, st: vec4<f32>) -> AdamUpdate {
    let decoupled = (hp.flags & FLAG_DECOUPLED) != 0u;
    let g = regularized_grad(raw_grad, theta0, hp, clip, !decoupled);
    var theta = theta0;
    if decoupled {
        theta *= st.w; // param.mul_(1 - lr * weight_decay)
    }
    let m = lerp(m_old, g, hp.one_minus_beta1);
    // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    let v = v_old * hp.beta2 + hp.one_minus_beta2 * g * g;
    var v_used = v;
    if (hp.flags & FLAG_AMSGRAD) != 0u {
        v_used = max(max_v, v);
    }
    // denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
    let denom = sqrt(v_used) / st.y + hp.eps;
    // param.addcdiv_(exp_avg, denom, value=-step_size)
    return AdamUpdate(theta + -st.x * m / denom, m, v, v_used);
}

// WGSL has no isfinite; an all-ones exponent means NaN or ±Inf.
fn any_nonfinite(theta: vec4<f32>) -> bool {
    let exponent = bitcast<vec4<u32>>(theta) & vec4<u32>(0x7f800000u);
    return any(exponent == vec4<u32>(0x7f800000u));
}

// ---- Dropout's draws ----

// The high and low words of a·b, from 16-bit halves (WGSL has no 64-bit integers); no partial
// sum overflows: (2¹⁶ − 1)² + 2·(2¹⁶ − 1) < 2³².
fn mul_hi_lo(a: u32, b: u32) -> vec2<u32> {
    let a_lo = a & 0xffffu;
    let a_hi = a >> 16u;
    let b_lo = b & 0xffffu;
    let b_hi = b >> 16u;
    let cross = ((a_lo * b_lo) >> 16u) + ((a_hi * b_lo) & 0xffffu) + a_lo * b_hi;
    let hi = a_hi * b_hi + ((a_hi * b_lo) >> 16u) + (cross >> 16u);
    return vec2<u32>(hi, a * b);
}

// Philox4x32-10, as src/rng.rs's philox4x32_10 (which says why): `counter` encrypted under `key`.
fn philox4x32_10(counter: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
    var c = counter;
    var k = key;
    for (var round = 0u; round < 10u; round++) {
        if round > 0u {
            k += vec2<u32>(0x9E3779B9u, 0xBB67AE85u);
        }
        let p0 = mul_hi_lo(0xD2511F53u, c.x);
        let p1 = mul_hi_lo(0xCD9E8D57u, c.z);
        c = vec4<u32>(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
    }
    return c;
}

// Dropout's multiplier of one element (kernels/dropout.rs): its draw is the first word of
// Philox4x32-10 of the counter (element, layer, step, model) under the seed; the element is
// dropped (0) where the draw's top 24 bits fall below `threshold` = ⌈p·2²⁴⌉, else kept and
// scaled by `scale` = 1/(1 − p), PyTorch's inverted dropout.
fn dropout_multiplier(seed: vec2<u32>, counter: vec4<u32>, threshold: u32, scale: f32) -> f32 {
    let draw = philox4x32_10(counter, seed).x >> 8u;
    return select(0.0, scale, draw >= threshold);
}
