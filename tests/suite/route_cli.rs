//! `evalgate route` end to end: the binary prints the bucket and arm from the same function the
//! routing vectors pin, applies the `[rollout]` cohorts or the stored flag's, and explains a
//! missing split.

fn evalgate(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    crate::common::evalgate()
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn route_prints_the_bucket_and_arm_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["route", "--flag", "f", "--tenant", "b", "--salt", "a"];
    let out = evalgate(
        dir.path(),
        &[&args[..], &["--basis-points", "1549", "--json"]].concat(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // SHA-256("a:b") starts 6783a31eabf68ccc; mod 10000 = 1548.
    assert_eq!(json["bucket"], 1548);
    assert_eq!(json["arm"], "canary");
    assert_eq!(json["reason"], "bucket_below_split");
    let out = evalgate(
        dir.path(),
        &[&args[..], &["--basis-points", "1548"]].concat(),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("bucket  1548 of 10000"), "{text}");
    assert!(text.contains("arm     baseline"), "{text}");
}

#[test]
fn route_applies_the_configured_cohorts() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("evalgate.toml"),
        "[rollout]\nalways_canary = [\"internal-qa\"]\n",
    )
    .unwrap();
    let args = ["route", "--flag", "f", "--tenant", "internal-qa", "--json"];
    let out = evalgate(dir.path(), &[&args[..], &["--basis-points", "1"]].concat());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["arm"], "canary");
    assert_eq!(json["reason"], "always_canary");
    assert_eq!(json["salt"], "f", "the salt defaults to the flag key");
}

#[test]
fn route_without_a_split_says_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let out = evalgate(dir.path(), &["route", "--flag", "f", "--tenant", "t"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no stored split"), "{err}");
    assert!(err.contains("--basis-points"), "{err}");
    let out = evalgate(
        dir.path(),
        &[
            "route",
            "--flag",
            "f",
            "--tenant",
            "t",
            "--basis-points",
            "10001",
        ],
    );
    assert!(!out.status.success());
}

#[tokio::test]
async fn route_without_a_split_routes_as_the_stored_flag_does() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("flags.db").display());
    let store = evalgate::adapters::store::Store::open(&url).await.unwrap();
    let write = evalgate::domain::SplitWrite {
        basis_points: 1_549,
        salt: "a".into(),
        always: vec![],
        never: vec!["vip".into()],
        updated_at: chrono::DateTime::parse_from_rfc3339("2026-03-02T09:00:00Z")
            .unwrap()
            .to_utc(),
        updated_by: "test".into(),
    };
    store.put_split("f", &write).await.unwrap();
    drop(store);
    let args = ["--store", url.as_str(), "route", "--flag", "f", "--json"];
    let out = evalgate(dir.path(), &[&args[..], &["--tenant", "b"]].concat());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["salt"], "a", "the stored salt, not the flag key");
    assert_eq!(json["basis_points"], 1_549);
    assert_eq!(json["bucket"], 1548);
    assert_eq!(json["arm"], "canary");
    let out = evalgate(dir.path(), &[&args[..], &["--tenant", "vip"]].concat());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["reason"], "never_canary", "the stored cohorts apply");
}

#[test]
fn the_log_format_variable_is_honoured_and_a_bad_value_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "route",
        "--flag",
        "f",
        "--tenant",
        "b",
        "--basis-points",
        "10",
    ];
    let run = |format: &str| {
        crate::common::evalgate()
            .current_dir(dir.path())
            .env("EVALGATE_LOG_FORMAT", format)
            .args(args)
            .output()
            .unwrap()
    };
    // A valid format is not mistaken for a config override.
    for format in ["json", "pretty"] {
        let out = run(format);
        assert!(
            out.status.success(),
            "{format}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = run("xml");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("EVALGATE_LOG_FORMAT") && stderr.contains("pretty"),
        "{stderr}"
    );
}
