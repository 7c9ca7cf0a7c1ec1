//! Every shader in `shaders/` parses and validates with naga, independent of any adapter, and
//! the loss and optimizer formulas are written once.

use naga::valid::{Capabilities, ShaderStages, SubgroupOperationSet, ValidationFlags, Validator};
use wgsl_train::kernels::Shader;

fn shader_files() -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wgsl"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    files.sort();
    files
}

fn validate(name: &str, source: &str, subgroups: bool) {
    let module = naga::front::wgsl::parse_str(source)
        .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(source)));
    let mut validator = if subgroups {
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

#[test]
fn every_shader_parses_and_validates() {
    let files = shader_files();
    // Each module is named after its main file, and every file is part of some module.
    for shader in Shader::ALL {
        let file = format!("{}.wgsl", shader.name());
        assert!(files.iter().any(|(n, _)| *n == file), "{file} is missing");
    }
    for (name, text) in &files {
        assert!(
            Shader::ALL
                .iter()
                .any(|s| s.source().contains(text.as_str())),
            "{name} is compiled into no module"
        );
    }
    // What the crate compiles, as it compiles it. Only the subgroup module may use subgroup
    // operations: the others must compile on every device.
    for shader in Shader::ALL {
        let subgroups = shader == Shader::MatmulSubgroup;
        validate(shader.name(), shader.source(), subgroups);
    }
    // The formula library is valid WGSL on its own too.
    let (_, formulas) = files.iter().find(|(n, _)| n == "formulas.wgsl").unwrap();
    validate("formulas.wgsl", formulas, false);
}

/// The loss terms and optimizer updates live in formulas.wgsl alone: the shaders that use them
/// name none of the hyperparameters or loss expressions in their code (comments aside).
#[test]
fn loss_and_optimizer_formulas_are_written_once() {
    let files = shader_files();
    let fragments = [
        "beta1",
        "beta2",
        "dampening",
        "weight_decay",
        "momentum *",
        ".l1",
        ".eps",
        "exp(-abs",
        "log1p",
        "sigmoid",
        "d * d",
        "onehot",
        "log(sum_exp)",
    ];
    for (name, text) in &files {
        if name == "formulas.wgsl" {
            continue;
        }
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap();
            for fragment in fragments {
                assert!(
                    !code.contains(fragment),
                    "{name}:{}: {fragment:?} belongs in formulas.wgsl: {line}",
                    n + 1
                );
            }
        }
    }
}

/// The softmax row (its max and sum of exponentials) and the optimizer steps' reads and writes
/// of the state are written once, in the pieces that loss.wgsl, optim.wgsl and small_mlp.wgsl
/// share.
#[test]
fn the_shared_pieces_are_written_once() {
    let only_in = [
        ("row_max = max(", "softmax_row.wgsl"),
        ("sum_exp +=", "softmax_row.wgsl"),
        ("softmax_ce_grad(", "softmax_row.wgsl"),
        ("sgd_update(", "optim_state.wgsl"),
        ("adam_update(", "optim_state.wgsl"),
    ];
    for (name, text) in &shader_files() {
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap();
            for (fragment, home) in only_in {
                // formulas.wgsl declares the functions the pieces call.
                let declared = name == "formulas.wgsl" && code.trim_start().starts_with("fn ");
                assert!(
                    name == home || declared || !code.contains(fragment),
                    "{name}:{}: {fragment:?} belongs in {home}: {line}",
                    n + 1
                );
            }
        }
    }
}
