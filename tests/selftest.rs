//! The self-test passes on this adapter, and the `selftest` and `bench` commands run.

mod common;

use common::{gpu, run_cli as run};

#[test]
fn every_selftest_check_passes_on_this_adapter() {
    let checks = wgsl_train::selftest::run(gpu(), 3).unwrap();
    assert!(checks.len() >= 30, "only {} checks", checks.len());
    for c in &checks {
        assert!(
            c.passed(),
            "{}: error {} > tolerance {}",
            c.name,
            c.max_error,
            c.tolerance
        );
    }
}

#[test]
fn the_selftest_command_prints_a_line_per_check_and_succeeds() {
    let out = run(&["selftest"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.lines().filter(|l| l.ends_with("pass")).count() >= 30,
        "{stdout}"
    );
    assert!(stdout.contains("checks passed"), "{stdout}");
}

#[test]
fn the_selftest_command_prints_json_with_every_check() {
    let out = run(&["selftest", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["format"], "wgsl-train.selftest.v1");
    assert_eq!(report["passed"], true);
    let checks = report["checks"].as_array().unwrap();
    assert!(checks.len() >= 30, "{report}");
    assert!(checks
        .iter()
        .all(|c| c["passed"] == true && c["max_error"].is_number()));
}

#[test]
fn the_bench_command_writes_every_section_as_json() {
    let json = std::env::temp_dir().join(format!("wgsl-train-bench-{}.json", std::process::id()));
    let out = run(&["bench", "--quick", "--json", json.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    for section in ["matmul", "losses", "optimizers", "training"] {
        assert!(
            report[section]
                .as_array()
                .is_some_and(|rows| !rows.is_empty()),
            "no {section} in {report}"
        );
    }
    // The figures themselves are measurements, not asserted; their shape is.
    assert_eq!(report["training"][0]["dispatches_per_step"], 7);
    std::fs::remove_file(&json).ok();
}
