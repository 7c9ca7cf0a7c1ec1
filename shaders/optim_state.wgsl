// One optimizer step of four elements with its state, written once for optim.wgsl and
// small_mlp.wgsl, which the crate puts after this file (and formulas.wgsl, with the updates,
// before it). Each of them says where its state lives by defining
//   fn load_state(k: u32, q: u32) -> vec4<f32>
//   fn store_state(k: u32, q: u32, v: vec4<f32>)
// for state k (0: SGD's momentum buffer or Adam's m; 1: Adam's v; 2: Adam's max v) at q. Only
// the states the algorithm and its flags use are read and written.

// `clip` is clip_grad_norm_'s factor (1 when off), which formulas.wgsl applies after L1.

// SGD's step: the new θ. The momentum buffer is read and written only when there is momentum.
fn sgd_step(q: u32, theta: vec4<f32>, raw_grad: vec4<f32>, clip: f32, hp: GroupParams, st: vec4<f32>) -> vec4<f32> {
    var buffer = vec4<f32>(0.0);
    if hp.momentum != 0.0 {
        buffer = load_state(0u, q);
    }
    let u = sgd_update(theta, raw_grad, clip, buffer, hp, st);
    if hp.momentum != 0.0 {
        store_state(0u, q, u.momentum_buffer);
    }
    return u.theta;
}

// Adam's (AdamW's) step: the new θ. Max v is read and written only with AMSGrad.
fn adam_step(q: u32, theta: vec4<f32>, raw_grad: vec4<f32>, clip: f32, hp: GroupParams, st: vec4<f32>) -> vec4<f32> {
    let amsgrad = (hp.flags & FLAG_AMSGRAD) != 0u;
    var max_v = vec4<f32>(0.0);
    if amsgrad {
        max_v = load_state(2u, q);
    }
    let u = adam_update(theta, raw_grad, clip, load_state(0u, q), load_state(1u, q), max_v, hp, st);
    store_state(0u, q, u.m);
    store_state(1u, q, u.v);
    if amsgrad {
        store_state(2u, q, u.v_used);
    }
    return u.theta;
}
