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
