//! Host launchers for the WGSL kernels in `shaders/`, one module per shader file.
//!
//! Each kernel comes in two forms: `*_launch`, which validates the shapes and prepares a
//! [`Launch`](crate::Launch) over tensors the caller owns (record it into a
//! [`Batch`](crate::Batch) as often as needed), and a convenience function that allocates the
//! outputs and submits at once.

pub mod activation;
pub(crate) mod autotune;
pub mod elementwise;
pub mod gather;
pub mod loss;
pub mod matmul;
pub mod optim;
pub mod reduce;
pub(crate) mod small_mlp;

/// The WGSL sources, compiled into the crate.
pub mod sources {
    /// `shaders/matmul.wgsl`
    pub const MATMUL: &str = include_str!("../../shaders/matmul.wgsl");
    /// `shaders/matmul.wgsl` followed by `shaders/matmul_subgroup.wgsl`, which uses its
    /// bindings and epilogue (WGSL has no includes). Needs the `SUBGROUP` feature.
    pub const MATMUL_SUBGROUP: &str = concat!(
        include_str!("../../shaders/matmul.wgsl"),
        include_str!("../../shaders/matmul_subgroup.wgsl")
    );
    /// `shaders/activation.wgsl`
    pub const ACTIVATION: &str = include_str!("../../shaders/activation.wgsl");
    /// `shaders/reduce.wgsl`
    pub const REDUCE: &str = include_str!("../../shaders/reduce.wgsl");
    /// `shaders/loss.wgsl`
    pub const LOSS: &str = include_str!("../../shaders/loss.wgsl");
    /// `shaders/optim.wgsl`
    pub const OPTIM: &str = include_str!("../../shaders/optim.wgsl");
    /// `shaders/elementwise.wgsl`
    pub const ELEMENTWISE: &str = include_str!("../../shaders/elementwise.wgsl");
    /// `shaders/gather.wgsl`
    pub const GATHER: &str = include_str!("../../shaders/gather.wgsl");
    /// `shaders/small_mlp.wgsl`
    pub const SMALL_MLP: &str = include_str!("../../shaders/small_mlp.wgsl");
    /// Every shader with its file name, for validation and tooling.
    pub const ALL: [(&str, &str); 9] = [
        ("matmul_subgroup.wgsl", MATMUL_SUBGROUP),
        ("small_mlp.wgsl", SMALL_MLP),
        ("elementwise.wgsl", ELEMENTWISE),
        ("gather.wgsl", GATHER),
        ("matmul.wgsl", MATMUL),
        ("activation.wgsl", ACTIVATION),
        ("reduce.wgsl", REDUCE),
        ("loss.wgsl", LOSS),
        ("optim.wgsl", OPTIM),
    ];
}

/// Workgroup size of the element-wise and reduction kernels.
pub(crate) const WORKGROUP: u32 = 256;

/// A 2-D grid of `groups` workgroups (x at most 65535), for kernels that flatten
/// `(wid.y * nwg.x + wid.x)`; the few extra workgroups of the last row do nothing.
pub(crate) fn grid(groups: u32) -> [u32; 3] {
    const MAX_X: u32 = 65535;
    if groups <= MAX_X {
        [groups.max(1), 1, 1]
    } else {
        [MAX_X, groups.div_ceil(MAX_X), 1]
    }
}

/// Workgroups needed to give each of `n` items one invocation.
pub(crate) fn groups_for(n: usize) -> u32 {
    u32::try_from(n.div_ceil(WORKGROUP as usize)).unwrap_or(u32::MAX)
}

/// Converts a dimension for a kernel's u32 params.
pub(crate) fn dim(op: &'static str, n: usize) -> crate::Result<u32> {
    u32::try_from(n).map_err(|_| crate::Error::InvalidArgument {
        op,
        detail: format!("dimension {n} exceeds the kernels' 32-bit indexing"),
    })
}
