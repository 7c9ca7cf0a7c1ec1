//! Every shader in `shaders/` parses and validates with naga, independent of any adapter.

use naga::valid::{Capabilities, ShaderStages, SubgroupOperationSet, ValidationFlags, Validator};

#[test]
fn every_shader_parses_and_validates() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wgsl"))
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut compiled: Vec<String> = wgsl_train::kernels::sources::ALL
        .iter()
        .map(|(name, _)| name.to_string())
        .collect();
    compiled.sort();
    assert_eq!(
        files, compiled,
        "every shader file must be compiled into the crate"
    );
    // What the crate compiles, as it compiles it (matmul_subgroup.wgsl follows matmul.wgsl).
    for (name, source) in wgsl_train::kernels::sources::ALL {
        let module = naga::front::wgsl::parse_str(source)
            .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(source)));
        // Only the subgroup shader may use subgroup operations: the others must compile on
        // every device.
        let mut validator = if name == "matmul_subgroup.wgsl" {
            let mut v = Validator::new(ValidationFlags::all(), Capabilities::SUBGROUP);
            v.subgroup_stages(ShaderStages::COMPUTE)
                .subgroup_operations(SubgroupOperationSet::all());
            v
        } else {
            Validator::new(ValidationFlags::all(), Capabilities::empty())
        };
        validator
            .validate(&module)
            .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(source)));
    }
}
