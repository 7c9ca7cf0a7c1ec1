//! The crate's layers, as README "Layout" draws them: every path in `src/` that names a module
//! of the crate — `crate::…`, `super::…` climbing out of its top module, in a `use` group of any
//! shape over any number of lines, in code or in a macro's arguments — points to a lower layer
//! (or stays inside its own module), never up or sideways; and the browser crate in `web/`
//! reaches the library only by its public modules. The source is parsed with syn, so no
//! formatting hides an import. Needs no adapter.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use syn::visit::Visit;

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

/// Names the crate root re-exports, by the module they come from (`wgpu`, the dependency the
/// device module hands out, counts as `gpu`).
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
    ("wgpu", "gpu"),
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|row| row.contains(&module))
}

/// The top-level module a name at the crate root stands for.
fn root_module(name: &str) -> String {
    ROOT_ITEMS
        .iter()
        .find(|(item, _)| *item == name)
        .map_or(name.to_string(), |(_, m)| m.to_string())
}

/// Collects the crate's top-level modules that a file's paths name (with the path, to report),
/// for a file that is module `module` (its path from the crate root, e.g. `["train", "small"]`).
struct Imports {
    module: Vec<String>,
    /// A path's first segment that reaches the crate root: `crate`, or `wgsl_train` for a crate
    /// outside the library.
    root: &'static str,
    found: Vec<(String, String)>,
}

impl Imports {
    /// Notes the path `segments` if it names a module of the crate from outside this file's
    /// own top-level module.
    fn path(&mut self, segments: &[String]) {
        let supers = segments.iter().take_while(|s| *s == "super").count();
        let target = if segments.first().map(String::as_str) == Some(self.root) {
            segments.get(1).map(|s| root_module(s))
        } else if supers > 0 && supers >= self.module.len() {
            // Climbs to the root: the next segment is a top-level module or a root item.
            segments.get(supers).map(|s| root_module(s))
        } else if supers > 0 {
            Some(self.module[0].clone())
        } else {
            None
        };
        if let Some(target) = target.filter(|t| !t.is_empty()) {
            self.found.push((target, segments.join("::")));
        }
    }

    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(prefix, &p.tree);
                prefix.pop();
            }
            syn::UseTree::Name(n) => self.leaf(prefix, n.ident.to_string()),
            syn::UseTree::Rename(r) => self.leaf(prefix, r.ident.to_string()),
            syn::UseTree::Glob(_) => self.leaf(prefix, "*".into()),
            syn::UseTree::Group(g) => {
                for tree in &g.items {
                    self.use_tree(prefix, tree);
                }
            }
        }
    }

    fn leaf(&mut self, prefix: &[String], last: String) {
        let mut path = prefix.to_vec();
        path.push(last);
        self.path(&path);
    }
}

impl<'ast> Visit<'ast> for Imports {
    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        self.use_tree(&mut Vec::new(), &item.tree);
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
        self.path(&segments);
        syn::visit::visit_path(self, path);
    }

    /// An inline module (`mod tests { … }`) is one level deeper for its `super::`.
    fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
        self.module.push(item.ident.to_string());
        syn::visit::visit_item_mod(self, item);
        self.module.pop();
    }

    /// A macro's arguments are tokens, not syntax: its `crate::name` sequences count too.
    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        let tokens: Vec<String> = mac.tokens.clone().into_iter().flat_map(flatten).collect();
        for (i, token) in tokens.iter().enumerate() {
            if token == self.root && tokens.get(i + 1).is_some_and(|t| t == ":") {
                if let Some(name) = tokens.get(i + 3) {
                    self.path(&[self.root.to_string(), name.clone()]);
                }
            }
        }
        syn::visit::visit_macro(self, mac);
    }
}

/// A token stream's identifiers and punctuation, groups opened.
fn flatten(tree: proc_macro2::TokenTree) -> Vec<String> {
    match tree {
        proc_macro2::TokenTree::Group(g) => g.stream().into_iter().flat_map(flatten).collect(),
        other => vec![other.to_string()],
    }
}

/// The top-level modules `source` names, with each path, for module `module`.
fn imports_of(module: &[&str], root: &'static str, source: &str) -> Vec<(String, String)> {
    let file = syn::parse_file(source).unwrap_or_else(|e| panic!("{module:?}: {e}"));
    let mut imports = Imports {
        module: module.iter().map(|s| s.to_string()).collect(),
        root,
        found: Vec::new(),
    };
    imports.visit_file(&file);
    imports.found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// A file's module path from the crate root: `train/small.rs` → `[train, small]`,
/// `train/mod.rs` → `[train]`.
fn module_path(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
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
        let module = module_path(relative);
        if module[0] == "lib" || module[0] == "bin" {
            continue;
        }
        let Some(own) = layer_of(&module[0]) else {
            panic!(
                "src/{} is in no layer: add `{}` to LAYERS and README's Layout",
                relative.display(),
                module[0]
            );
        };
        let text = std::fs::read_to_string(&file).unwrap();
        let names: Vec<&str> = module.iter().map(String::as_str).collect();
        for (target, path) in imports_of(&names, "crate", &text) {
            checked += 1;
            if target == module[0] {
                continue;
            }
            match layer_of(&target) {
                Some(layer) if layer < own => {}
                _ => wrong
                    .entry(format!("{} → {target}", module[0]))
                    .or_default()
                    .push(format!("src/{}: {path}", relative.display())),
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

/// The browser crate uses the library as any user does: through modules the layer map knows
/// (or the root's re-exports), and never by compiling the library's own files into itself (a
/// `#[path]` module may share the tests' helpers, not `src/`).
#[test]
fn the_browser_crate_uses_the_public_modules_only() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let library = root.join("src").canonicalize().unwrap();
    let web = root.join("web");
    let mut files = Vec::new();
    rust_files(&web.join("src"), &mut files);
    rust_files(&web.join("tests"), &mut files);
    let mut checked = 0;
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for line in text
            .lines()
            .filter(|l| l.trim_start().starts_with("#[path"))
        {
            let target = line.split('"').nth(1).unwrap_or_default();
            let resolved = file.parent().unwrap().join(target).canonicalize().unwrap();
            assert!(
                !resolved.starts_with(&library),
                "{}: `{line}` compiles the library's source into the browser crate",
                file.display()
            );
        }
        for (target, path) in imports_of(&[], "wgsl_train", &text) {
            checked += 1;
            assert!(
                layer_of(&target).is_some(),
                "{}: {path} names `{target}`, which is in no layer",
                file.display()
            );
        }
    }
    assert!(checked > 10, "only {checked} uses of the library in web/");
}

#[test]
fn the_parser_sees_each_form_of_import() {
    let targets = |module: &[&str], source: &str| -> Vec<String> {
        imports_of(module, "crate", source)
            .into_iter()
            .map(|(t, _)| t)
            .collect()
    };
    assert_eq!(
        targets(&["x"], "use crate::gpu::{Gpu, Tensor};"),
        ["gpu", "gpu"]
    );
    assert_eq!(
        targets(&["x"], "use crate::{data::Task, Gpu};"),
        ["data", "gpu"]
    );
    let multi_line = "use crate::{\n    data::{\n        Dataset,\n    },\n    train::Trainer,\n};";
    assert_eq!(targets(&["x"], multi_line), ["data", "train"]);
    let body = "fn f() { crate::fs::write_atomic(path, b); }";
    assert_eq!(targets(&["x"], body), ["fs"]);
    assert_eq!(targets(&["x"], "fn f() -> crate::Result<()> {}"), ["error"]);
    assert_eq!(
        targets(&["x"], "fn f() { g(format!(\"{}\", crate::rng::x())); }"),
        ["rng"]
    );
    // `super::` inside a module stays in it; from a top-level module it reaches the root.
    assert_eq!(
        targets(&["train", "small"], "use super::TrainConfig;"),
        ["train"]
    );
    assert_eq!(
        targets(&["train"], "use super::experiment::Run;"),
        ["experiment"]
    );
    let nested = "mod tests { use super::super::super::checkpoint::save; }";
    assert_eq!(targets(&["train", "small"], nested), ["checkpoint"]);
    assert!(targets(&["x"], "fn f() { let crate_name = 1; }").is_empty());
    assert!(targets(&["x"], "use std::fmt;").is_empty());
}
