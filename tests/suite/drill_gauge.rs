//! `evalgate_last_successful_drill_timestamp_seconds` after a restart: the gauge is read from the
//! `drills` table when the metrics are refreshed (at start-up and after every tick), so it does
//! not vanish until the next drill (issue 13). Its own test binary: the metrics are global.
#![allow(clippy::unwrap_used)]

use crate::common;

use chrono::{DateTime, Utc};
use evalgate::adapters::store::{DrillRow, Store};
use evalgate::metrics::LAST_DRILL;
use serde_json::json;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn gauge() -> Option<String> {
    evalgate::metrics::render()
        .lines()
        .find(|line| line.starts_with(&format!("{LAST_DRILL} ")))
        .map(str::to_string)
}

async fn record(store: &Store, id: &str, when: DateTime<Utc>, ok: bool) {
    let drill = DrillRow {
        id: id.to_string(),
        flag_key: "evalgate-drill".into(),
        at: when,
        ok,
        results: json!([]),
        time_to_visible_ms: None,
        drift: json!([]),
    };
    store.record_drill(&drill).await.unwrap();
}

async fn a_restart_shows_the_stored_drill(store: Store, second: DateTime<Utc>) {
    record(&store, "ok", second, true).await;
    record(&store, "failed", second + chrono::Duration::hours(1), false).await;
    // What `serve` does at start-up, before any drill of its own.
    evalgate::commands::serve::refresh_metrics(&store, second).await;
    let line = gauge().expect("the gauge is present after a refresh");
    let value: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert_eq!(value, second.timestamp() as f64, "{line}");
}

// See: issue 13.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_successful_drill_gauge_is_read_from_the_store_at_start_up() {
    evalgate::metrics::install().unwrap();
    assert_eq!(gauge(), None, "no drill recorded in this process yet");
    let (_dir, sqlite) = common::sqlite_store().await;
    a_restart_shows_the_stored_drill(sqlite, at("2026-11-01T03:00:00Z")).await;
    if let Some((_url, postgres)) = common::pg_store().await {
        a_restart_shows_the_stored_drill(postgres, at("2026-11-02T04:00:00Z")).await;
    }
}
