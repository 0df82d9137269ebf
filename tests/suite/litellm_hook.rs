//! The LiteLLM routing hook (`integrations/litellm/evalgate_router.py`) is Python, so its tests
//! are Python too (stdlib `unittest`, no LiteLLM needed): this runs them under `cargo test`, so
//! a change to the routing contract (`fixtures/routing_vectors.json`) that the hook does not
//! follow fails here. Needs `python3` (3.8 or newer) on `PATH`, as every CI machine has.

use std::path::PathBuf;
use std::process::Command;

#[test]
fn litellm_routing_hook_python_tests_pass() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let script = root.join("integrations/litellm/test_evalgate_router.py");
    let output = Command::new("python3")
        .arg(&script)
        .current_dir(&root)
        // no __pycache__ in the source tree; the module reads its settings from the environment
        // when imported, so a developer's own EVALGATE_* must not leak in
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env_remove("EVALGATE_URL")
        .env_remove("EVALGATE_FLAG")
        .env_remove("EVALGATE_ROUTED_MODEL")
        .env_remove("EVALGATE_CACHE_SECONDS")
        .env_remove("EVALGATE_TENANT_FROM")
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 {}: {e}", script.display()));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "python3 {} failed ({}):\n{}{}",
        script.display(),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        stderr
    );
    // unittest reports `Ran N tests` and `OK` on stderr
    assert!(
        stderr.contains("\nOK"),
        "unexpected unittest output:\n{stderr}"
    );
}

/// The hook's settings (`EVALGATE_URL`, `EVALGATE_FLAG`, …) often sit in the same environment as
/// evalgate's own; evalgate must not read them as config overrides and refuse to start.
#[test]
fn the_hooks_environment_variables_do_not_stop_evalgate() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let source = std::fs::read_to_string(root.join("integrations/litellm/evalgate_router.py"))
        .expect("read the hook");
    let pattern = regex::Regex::new(r"EVALGATE_[A-Z_]+").unwrap();
    let mut names: Vec<&str> = pattern
        .find_iter(&source)
        .map(|found| found.as_str())
        .collect();
    names.sort_unstable();
    names.dedup();
    assert!(names.len() >= 5, "{names:?}");
    for name in names {
        let loaded = evalgate::config::Config::load(None, [(name.to_string(), "x".to_string())]);
        assert!(loaded.is_ok(), "{name}: {:?}", loaded.err());
    }
    let typo = evalgate::config::Config::load(
        None,
        [("EVALGATE_SAMPLING_N_PER_ARM".to_string(), "5".to_string())],
    );
    assert!(typo.is_err(), "a one-underscore override is still a typo");
}
