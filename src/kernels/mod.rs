//! Host launchers for the WGSL kernels in `shaders/`, one module per shader file.
//!
//! Each kernel comes in two forms: `*_launch`, which validates the shapes and prepares a
//! [`Launch`](crate::Launch) over tensors the caller owns (record it into a
//! [`Batch`](crate::Batch) as often as needed), and a convenience function that allocates the
//! outputs and submits at once.

pub mod activation;
pub(crate) mod control;
pub mod dropout;
pub(crate) mod gather;
pub(crate) mod grid;
pub mod loss;
pub mod matmul;
pub(crate) mod optim;
pub mod reduce;
#[cfg(test)]
mod seam;
pub(crate) mod small_mlp;

use crate::gpu::ShaderCode;

/// The crate's WGSL modules, compiled into it. A module may be a shader file with a library of
/// shared formulas or bindings before it (WGSL has no includes): the losses and optimizer
/// updates are written once, in `shaders/formulas.wgsl`, and every path that computes one uses
/// that text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shader {
    /// `shaders/formulas.wgsl`, `shaders/matmul.wgsl` and `shaders/epilogue.wgsl` (the
    /// matmul with an activation swaps the last for its own: `kernels/matmul.rs`)
    Matmul,
    /// `shaders/formulas.wgsl`, `shaders/matmul.wgsl`, `shaders/matmul_subgroup.wgsl` and
    /// `shaders/epilogue.wgsl`; the third uses the second's
    /// bindings and epilogue. Needs the `SUBGROUP` feature.
    MatmulSubgroup,
    /// `shaders/formulas.wgsl` followed by `shaders/activation.wgsl`
    Activation,
    /// `shaders/formulas.wgsl` followed by `shaders/dropout.wgsl`
    Dropout,
    /// `shaders/reduce.wgsl`
    Reduce,
    /// `shaders/formulas.wgsl` and `shaders/softmax_row.wgsl` followed by `shaders/loss.wgsl`
    Loss,
    /// `shaders/formulas.wgsl` and `shaders/optim_state.wgsl` followed by `shaders/optim.wgsl`
    Optim,
    /// `shaders/gather.wgsl`
    Gather,
    /// `shaders/formulas.wgsl`, `shaders/softmax_row.wgsl`, `shaders/optim_state.wgsl` and
    /// `shaders/epoch_row.wgsl` followed by `shaders/small_mlp.wgsl`
    SmallMlp,
    /// `shaders/formulas.wgsl`, `shaders/epoch_decision.wgsl` and `shaders/epoch_row.wgsl`
    /// followed by `shaders/control.wgsl`
    Control,
    /// `shaders/copy.wgsl`
    Copy,
    /// `shaders/formulas.wgsl` and `shaders/epoch_decision.wgsl` followed by
    /// `shaders/grid.wgsl`: the library of the grid kernels, whose entry points are generated
    /// per network shape (`kernels/grid.rs`).
    Grid,
}

impl Shader {
    /// Every module, for validation and tooling.
    pub const ALL: [Shader; 12] = [
        Shader::Matmul,
        Shader::MatmulSubgroup,
        Shader::Activation,
        Shader::Dropout,
        Shader::Reduce,
        Shader::Loss,
        Shader::Optim,
        Shader::Gather,
        Shader::SmallMlp,
        Shader::Control,
        Shader::Copy,
        Shader::Grid,
    ];

    /// The module's name: its main file's name without `.wgsl`.
    pub fn name(self) -> &'static str {
        match self {
            Shader::Matmul => "matmul",
            Shader::MatmulSubgroup => "matmul_subgroup",
            Shader::Activation => "activation",
            Shader::Dropout => "dropout",
            Shader::Reduce => "reduce",
            Shader::Loss => "loss",
            Shader::Optim => "optim",
            Shader::Gather => "gather",
            Shader::SmallMlp => "small_mlp",
            Shader::Control => "control",
            Shader::Copy => "copy",
            Shader::Grid => "grid",
        }
    }

    /// The module's whole WGSL source, libraries included.
    pub fn source(self) -> &'static str {
        macro_rules! shader {
            ($($file:literal),+) => { concat!($(include_str!(concat!("../../shaders/", $file))),+) };
        }
        match self {
            Shader::Matmul => shader!("formulas.wgsl", "matmul.wgsl", "epilogue.wgsl"),
            Shader::MatmulSubgroup => shader!(
                "formulas.wgsl",
                "matmul.wgsl",
                "matmul_subgroup.wgsl",
                "epilogue.wgsl"
            ),
            Shader::Activation => shader!("formulas.wgsl", "activation.wgsl"),
            Shader::Dropout => shader!("formulas.wgsl", "dropout.wgsl"),
            Shader::Reduce => shader!("reduce.wgsl"),
            Shader::Loss => shader!("formulas.wgsl", "softmax_row.wgsl", "loss.wgsl"),
            Shader::Optim => shader!("formulas.wgsl", "optim_state.wgsl", "optim.wgsl"),
            Shader::Gather => shader!("gather.wgsl"),
            Shader::SmallMlp => shader!(
                "formulas.wgsl",
                "softmax_row.wgsl",
                "optim_state.wgsl",
                "epoch_row.wgsl",
                "small_mlp.wgsl"
            ),
            Shader::Control => shader!(
                "formulas.wgsl",
                "epoch_decision.wgsl",
                "epoch_row.wgsl",
                "control.wgsl"
            ),
            Shader::Copy => shader!("copy.wgsl"),
            Shader::Grid => shader!("formulas.wgsl", "epoch_decision.wgsl", "grid.wgsl"),
        }
    }

    /// The module as the pipeline cache takes it.
    pub(crate) fn code(self) -> ShaderCode {
        ShaderCode::of_crate(self.name(), self.source())
    }
}

/// Workgroup size of the element-wise kernels (their `override WG`).
pub(crate) const WORKGROUP: u32 = 256;

/// The override constant that sets an element-wise kernel's workgroup size.
pub(crate) fn workgroup_constant() -> (&'static str, f64) {
    ("WG", f64::from(WORKGROUP))
}

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
