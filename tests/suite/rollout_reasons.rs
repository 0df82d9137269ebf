//! `rollout approve --reason` and `rollout resume --reason` through the binary, on SQLite and on
//! PostgreSQL: the person's reason travels on the command into the stored audit row (issue 13,
//! where both were dropped).
#![allow(clippy::unwrap_used)]

use crate::common;

use std::process::Output;

use evalgate::adapters::store::{DecisionCommit, StateUpdate, Store};
use evalgate::domain::rollout::{Phase, RolloutState};

fn evalgate(dir: &std::path::Path, store_url: &str, args: &[&str]) -> Output {
    crate::common::evalgate()
        .current_dir(dir)
        .env("USER", "tester")
        .arg("--store")
        .arg(store_url)
        .args(args)
        .output()
        .unwrap()
}

fn ok(dir: &std::path::Path, store_url: &str, args: &[&str]) {
    let out = evalgate(dir, store_url, args);
    assert!(
        out.status.success(),
        "{args:?} failed ({:?}):\n{}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Puts the rollout in `awaiting_approval` as a green 50% stage would (the gates are not what
/// this test is about).
async fn await_approval(store: &Store, id: &str) {
    let row = store.get_rollout(id).await.unwrap().unwrap();
    let mut state: RolloutState = serde_json::from_value(row.state).unwrap();
    state.phase = Phase::AwaitingApproval;
    let update = StateUpdate {
        expected_version: row.version,
        state: serde_json::to_value(&state).unwrap(),
        phase: state.phase.kind(),
        active: true,
        wake_at: None,
        last_reason: "gates green (test)".to_string(),
        last_evidence: serde_json::json!({}),
        at: state.updated_at,
    };
    let applied = store
        .commit_decision(id, &update, &[], &DecisionCommit::default())
        .await
        .unwrap();
    assert!(applied);
}

async fn approve_and_resume_reasons_reach_the_audit_row(store_url: String) {
    let dir = tempfile::tempdir().unwrap();
    let evals = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("evals");
    let config = format!(
        "[evals]\ndir = \"{}\"\n\n[flags]\nsinks = [\"table\"]\nretry_backoff_ms = 1\n",
        evals.display()
    );
    std::fs::write(dir.path().join("evalgate.toml"), config).unwrap();
    let dir = dir.path();
    let start = [
        "rollout",
        "start",
        "--id",
        "bot",
        "--flag",
        "bot",
        "--baseline",
        "bot@v41",
        "--canary",
        "bot@v42",
        "--owner",
        "team-support",
        "--suite",
        "support",
    ];
    ok(dir, &store_url, &start);
    ok(
        dir,
        &store_url,
        &["rollout", "halt", "bot", "--reason", "looks off"],
    );
    ok(
        dir,
        &store_url,
        &[
            "rollout",
            "resume",
            "bot",
            "--reason",
            "false alarm: a test tenant",
        ],
    );
    let store = Store::open(&store_url).await.unwrap();
    await_approval(&store, "bot").await;
    ok(
        dir,
        &store_url,
        &[
            "rollout",
            "approve",
            "bot",
            "--reason",
            "transcripts reviewed",
            "--actor",
            "alice",
        ],
    );

    let events = store.list_rollout_events("bot").await.unwrap();
    let find = |action: &str| {
        events
            .iter()
            .find(|event| event.action == action)
            .unwrap_or_else(|| panic!("no {action} row in {events:?}"))
    };
    let resume = find("resume");
    assert_eq!(resume.actor, "tester");
    assert!(
        resume.reason.contains("false alarm: a test tenant"),
        "{resume:?}"
    );
    let approve = find("approve");
    assert_eq!(approve.actor, "alice");
    assert!(
        approve.reason.contains("transcripts reviewed"),
        "{approve:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_and_resume_reasons_reach_the_audit_row_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("evalgate.db").display());
    approve_and_resume_reasons_reach_the_audit_row(url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_and_resume_reasons_reach_the_audit_row_on_postgres() {
    let Some(server) = common::pg_server_url() else {
        return;
    };
    let url = common::fresh_pg_database(&server).await;
    approve_and_resume_reasons_reach_the_audit_row(url).await;
}
