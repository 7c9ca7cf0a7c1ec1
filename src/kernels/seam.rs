//! The Rust↔WGSL seam, checked: each struct the host builds for a shader has the WGSL
//! declaration's size and its fields' names and offsets, and each constant both sides declare
//! has one value — read with naga from the module as the crate composes it. Each kernel
//! module's tests call these for its own mirrors (they are private there).

use super::Shader;
use naga::{Expression, Literal, Module, TypeInner};

/// A `#[repr(C)]` struct's size and its fields' names and byte offsets, for
/// [`assert_mirrors`]: `mirror!(Settings { row, batch, … })`. Fields named `_…` are padding:
/// leave them out.
macro_rules! mirror {
    ($ty:ty { $($field:ident),* $(,)? }) => {
        (
            std::mem::size_of::<$ty>(),
            &[$((stringify!($field), std::mem::offset_of!($ty, $field))),*][..],
        )
    };
}
pub(crate) use mirror;

fn module(shader: Shader) -> Module {
    let source = shader.source();
    naga::front::wgsl::parse_str(source)
        .unwrap_or_else(|e| panic!("{}: {}", shader.name(), e.emit_to_string(source)))
}

/// Asserts that the Rust struct described by `rust` (from [`mirror!`]) lays out as the WGSL
/// struct `name` in `shader`: the same size, and every field not named `_…` on either side at
/// the same offset under the same name.
pub(crate) fn assert_mirrors(shader: Shader, name: &str, rust: (usize, &[(&str, usize)])) {
    let module = module(shader);
    let (size, fields) = rust;
    let Some((members, span)) = module.types.iter().find_map(|(_, ty)| match &ty.inner {
        TypeInner::Struct { members, span } if ty.name.as_deref() == Some(name) => {
            Some((members, *span))
        }
        _ => None,
    }) else {
        panic!("{}: no struct {name}", shader.name());
    };
    let wgsl: Vec<(&str, usize)> = members
        .iter()
        .filter_map(|m| m.name.as_deref().map(|n| (n, m.offset as usize)))
        .filter(|(n, _)| !n.starts_with('_'))
        .collect();
    let rust: Vec<(&str, usize)> = fields.to_vec();
    assert_eq!(
        (rust.as_slice(), size),
        (wgsl.as_slice(), span as usize),
        "{}: the Rust mirror of {name} (left: fields and offsets, size) differs from WGSL's (right)",
        shader.name()
    );
}

/// [`assert_constant`] for each `(name, value)`.
pub(crate) fn assert_constants(shader: Shader, constants: &[(&str, u32)]) {
    for &(name, value) in constants {
        assert_constant(shader, name, f64::from(value));
    }
}

/// Asserts that the `const` (or the default of the `override`) `name` in `shader` is `value`.
pub(crate) fn assert_constant(shader: Shader, name: &str, value: f64) {
    let module = module(shader);
    let init = module
        .constants
        .iter()
        .find(|(_, c)| c.name.as_deref() == Some(name))
        .map(|(_, c)| c.init)
        .or_else(|| {
            module
                .overrides
                .iter()
                .find(|(_, o)| o.name.as_deref() == Some(name))
                .and_then(|(_, o)| o.init)
        })
        .unwrap_or_else(|| panic!("{}: no constant {name}", shader.name()));
    let wgsl = match module.global_expressions[init] {
        Expression::Literal(Literal::U32(v)) => f64::from(v),
        Expression::Literal(Literal::I32(v)) => f64::from(v),
        Expression::Literal(Literal::F32(v)) => f64::from(v),
        Expression::Literal(Literal::AbstractInt(v)) => v as f64,
        Expression::Literal(Literal::AbstractFloat(v)) => v,
        ref other => panic!("{}: {name} is {other:?}, not a literal", shader.name()),
    };
    assert_eq!(
        wgsl,
        value,
        "{}: {name} is {wgsl} in WGSL and {value} in Rust",
        shader.name()
    );
}
