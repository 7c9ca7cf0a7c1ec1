//! The crate's layers, as README "Layout" draws them: every `crate::` path in `src/` points to
//! a lower layer (or stays inside its own module), never up or sideways. Reads the source as
//! text, so it needs no adapter.

use std::collections::BTreeMap;
use std::path::Path;

/// Each top-level module's layer, lowest first. Modules of one layer may not import each other.
const LAYERS: &[&[&str]] = &[
    &["dtype"],
    &["error"],
    &["fs", "metrics", "rng"],
    &["gpu"],
    &["kernels", "data"],
    &["optim"],
    &["nn"],
    &["reference"],
    &["train"],
    &["checkpoint"],
    &["experiment", "selftest"],
];

/// Names the crate root re-exports, by the module they come from.
const ROOT_ITEMS: &[(&str, &str)] = &[
    ("Error", "error"),
    ("Result", "error"),
    ("Batch", "gpu"),
    ("DType", "dtype"),
    ("Dispatch", "gpu"),
    ("Element", "gpu"),
    ("Gpu", "gpu"),
    ("GpuOptions", "gpu"),
    ("Launch", "gpu"),
    ("Tensor", "gpu"),
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|row| row.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The modules a line of code names through `crate::` (comments skipped).
fn imports(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        let names: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            group[..end].split(',').map(str::trim).collect()
        } else {
            vec![rest]
        };
        for name in names {
            let first: String = name
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            let module = ROOT_ITEMS
                .iter()
                .find(|(item, _)| *item == first)
                .map_or(first.clone(), |(_, m)| m.to_string());
            if !module.is_empty() {
                found.push(module);
            }
        }
    }
    found
}

#[test]
fn every_import_points_down_the_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut wrong: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut checked = 0;
    for file in files {
        let relative = file.strip_prefix(&src).unwrap();
        let top = relative
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = top.trim_end_matches(".rs").to_string();
        if module == "lib" || module == "bin" {
            continue;
        }
        let Some(own) = layer_of(&module) else {
            panic!(
                "src/{} is in no layer: add `{module}` to LAYERS and README's Layout",
                relative.display()
            );
        };
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap();
            for target in imports(code) {
                checked += 1;
                if target == module {
                    continue;
                }
                match layer_of(&target) {
                    Some(layer) if layer < own => {}
                    _ => wrong
                        .entry(format!("{module} → {target}"))
                        .or_default()
                        .push(format!("src/{}:{}", relative.display(), n + 1)),
                }
            }
        }
    }
    assert!(
        checked > 100,
        "only {checked} imports found: is the parser still right?"
    );
    assert!(
        wrong.is_empty(),
        "imports that point up or sideways: {wrong:#?}"
    );
}

#[test]
fn the_parser_sees_each_form_of_import() {
    assert_eq!(imports("use crate::gpu::{Gpu, Tensor};"), ["gpu"]);
    assert_eq!(imports("use crate::{data::Task, Gpu};"), ["data", "gpu"]);
    assert_eq!(imports("    crate::fs::write_atomic(path, b)?;"), ["fs"]);
    assert_eq!(imports("fn f() -> crate::Result<()> {"), ["error"]);
    assert!(imports("let crate_name = 1;").is_empty());
}
