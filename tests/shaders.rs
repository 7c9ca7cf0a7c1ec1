//! Every shader in `shaders/` parses and validates with naga, independent of any adapter.

#[test]
fn every_shader_parses_and_validates() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wgsl"))
        .collect();
    files.sort();
    let compiled: Vec<&str> = wgsl_train::kernels::sources::ALL
        .iter()
        .map(|(name, _)| *name)
        .collect();
    assert_eq!(
        files.len(),
        compiled.len(),
        "every shader file must be compiled into the crate: {files:?} vs {compiled:?}"
    );
    for path in files {
        let source = std::fs::read_to_string(&path).unwrap();
        let module = naga::front::wgsl::parse_str(&source)
            .unwrap_or_else(|e| panic!("{}: {}", path.display(), e.emit_to_string(&source)));
        naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::empty(),
        )
        .validate(&module)
        .unwrap_or_else(|e| panic!("{}: {}", path.display(), e.emit_to_string(&source)));
    }
}
