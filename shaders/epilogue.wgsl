// The matmul epilogue's activation, as matmul.wgsl calls it: here the identity, for the
// matmuls without one. A matmul with an activation compiles a module that ends instead with
// these two calling formulas.wgsl's functions of that activation (kernels/matmul.rs), so each
// pipeline inlines only the activation it applies at each of its stores.
fn epilogue_forward(z: f32) -> f32 {
    return z;
}

fn epilogue_backward(z: f32, upstream: f32) -> f32 {
    return upstream;
}
