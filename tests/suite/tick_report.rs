//! `evalgate tick --json` through the binary, on SQLite and PostgreSQL (issue 13): a rerun of a
//! finished window reports `already_done` with no `scores_written` of its own (it used to repeat
//! the first run's count), and the tick row's `started_at`/`finished_at` hold the wall time the
//! tick ran, not the `--at` tick time.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Output;

use chrono::{DateTime, Duration, DurationRound, Utc};
use serde_json::Value;

#[allow(clippy::disallowed_methods)] // the rollout starts at the real time, so the traffic must too
fn wall_clock() -> DateTime<Utc> {
    Utc::now()
}

struct Setup {
    _dir: tempfile::TempDir,
    config: PathBuf,
    store_url: String,
    now: DateTime<Utc>,
}

fn evalgate(setup: &Setup, args: &[&str]) -> Output {
    crate::common::evalgate()
        .args(["--store", &setup.store_url, "--config"])
        .arg(&setup.config)
        .args(args)
        .env("EVALGATE_LOG", "warn")
        .output()
        .unwrap()
}

fn ok(setup: &Setup, args: &[&str]) -> String {
    let out = evalgate(setup, args);
    assert!(
        out.status.success(),
        "{args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn setup(store_url: String) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let evals = Path::new(env!("CARGO_MANIFEST_DIR")).join("evals");
    let config = dir.path().join("evalgate.toml");
    let text = format!(
        "[evals]\ndir = \"{}\"\n\n[sampling]\nn_per_arm = 10\nper_tenant_cap = 10\n",
        evals.display()
    );
    std::fs::write(&config, text).unwrap();
    let now = wall_clock().duration_trunc(Duration::minutes(15)).unwrap();
    let setup = Setup {
        _dir: dir,
        config,
        store_url,
        now,
    };
    let start = (now - Duration::hours(2)).to_rfc3339();
    let synth = [
        "synth",
        "--seed",
        "5",
        "--duration",
        "2h",
        "--rpm",
        "60",
        "--canary-share",
        "0.3",
        "--start",
        &start,
        "--rollout-id",
        "r1",
        "--into-store",
    ];
    ok(&setup, &synth);
    let start_rollout = [
        "rollout",
        "start",
        "--id",
        "r1",
        "--flag",
        "f1",
        "--baseline",
        "v1",
        "--canary",
        "v2",
        "--suite",
        "support",
    ];
    ok(&setup, &start_rollout);
    setup
}

fn tick_json(setup: &Setup, at: DateTime<Utc>) -> Value {
    let text = ok(setup, &["tick", "--at", &at.to_rfc3339(), "--json"]);
    let report: Value = serde_json::from_str(&text).unwrap();
    let rollouts = report["rollouts"].as_array().unwrap();
    assert_eq!(rollouts.len(), 1, "{report}");
    rollouts[0]["detail"].clone()
}

/// `(tick_at, started_at, finished_at)` of the tick row whose tick time is `at`.
async fn tick_times(
    store_url: &str,
    at: DateTime<Utc>,
) -> (DateTime<Utc>, DateTime<Utc>, Option<DateTime<Utc>>) {
    const SQL: &str = "SELECT tick_at, started_at, finished_at FROM ticks WHERE tick_at = $1";
    if store_url.starts_with("sqlite") {
        let pool = sqlx::SqlitePool::connect(store_url).await.unwrap();
        return sqlx::query_as(SQL).bind(at).fetch_one(&pool).await.unwrap();
    }
    let pool = sqlx::PgPool::connect(store_url).await.unwrap();
    sqlx::query_as(SQL).bind(at).fetch_one(&pool).await.unwrap()
}

async fn a_finished_window_reports_nothing_written_and_rows_hold_wall_time(store_url: String) {
    let setup = setup(store_url);
    let first = tick_json(&setup, setup.now);
    assert_eq!(first["already_done"], false, "{first}");
    let written = first["scores_written"].as_u64().unwrap();
    assert!(written > 0, "the first run scored the window: {first}");

    let again = tick_json(&setup, setup.now);
    assert_eq!(again["already_done"], true, "{again}");
    assert_eq!(
        again["scores_written"], 0,
        "a rerun of a finished window wrote nothing: {again}"
    );

    // A tick at a time 3 hours away from the wall clock: its row says when it really ran.
    let later = setup.now + Duration::hours(3);
    let before = wall_clock();
    tick_json(&setup, later);
    let after = wall_clock();
    let (tick_at, started_at, finished_at) = tick_times(&setup.store_url, later).await;
    assert_eq!(tick_at, later);
    let finished_at = finished_at.expect("the tick finished");
    let slack = Duration::seconds(1);
    for (name, time) in [("started_at", started_at), ("finished_at", finished_at)] {
        assert!(
            time >= before - slack && time <= after + slack,
            "{name} {time} is not the wall time of the run ({before} .. {after}); tick at {later}"
        );
    }
    assert!(started_at <= finished_at);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_window_reports_nothing_written_and_rows_hold_wall_time_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("tick.db").display());
    a_finished_window_reports_nothing_written_and_rows_hold_wall_time(url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_window_reports_nothing_written_and_rows_hold_wall_time_on_postgres() {
    let Some(server) = common::pg_server_url() else {
        return;
    };
    let url = common::fresh_pg_database(&server).await;
    a_finished_window_reports_nothing_written_and_rows_hold_wall_time(url).await;
}
