//! Shared test helpers: fresh stores on both backends, the `contract_test!` macro that runs
//! one async test body against SQLite and against a real PostgreSQL, the one base `Request`
//! every test builds from, and the one way tests start the `evalgate` binary.
#![allow(dead_code)]

use std::process::Command;

use evalgate::adapters::store::Store;
use evalgate::domain::{Arm, Request, RequestStatus, Timestamp};

/// A successful request `id` on `arm` at 2023-11-14 22:13:20 UTC with empty text and no
/// telemetry: tests set what they look at with struct update syntax
/// (`Request { output: …, ..common::request("r1", Arm::Canary) }`), so a new field of the log
/// contract is added here once.
pub fn request(id: &str, arm: Arm) -> Request {
    Request {
        request_id: id.to_string(),
        ts: base_time(),
        tenant_id: "t1".to_string(),
        arm,
        model: "bot@v1".to_string(),
        rollout_id: None,
        input: String::new(),
        output: String::new(),
        reference: None,
        status: RequestStatus::Ok,
        error: None,
        latency_ms: None,
        ttft_ms: None,
        prompt_tokens: None,
        completion_tokens: None,
        cost_usd: None,
        metadata: serde_json::Value::Null,
    }
}

/// The time [`request`] stamps: 1,700,000,000 s after the epoch.
pub fn base_time() -> Timestamp {
    chrono::DateTime::from_timestamp(1_700_000_000, 0).expect("a valid timestamp")
}

/// The `evalgate` binary with a clean environment: the caller's `EVALGATE_CONFIG`,
/// `EVALGATE_STORE` and `EVALGATE_FAILPOINT` removed, so a test runs only what it sets.
pub fn evalgate() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_evalgate"));
    command
        .env_remove("EVALGATE_CONFIG")
        .env_remove("EVALGATE_STORE")
        .env_remove("EVALGATE_FAILPOINT");
    command
}

/// A fresh SQLite store in a temp dir (kept alive by the returned guard).
pub async fn sqlite_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("test.db").display());
    let store = Store::open(&url).await.expect("open sqlite store");
    (dir, store)
}

/// The URL of the test PostgreSQL server, if any. With `EVALGATE_REQUIRE_PG=1` (CI) a missing
/// server is a failure, not a skip.
pub fn pg_server_url() -> Option<String> {
    match std::env::var("EVALGATE_TEST_PG_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var("EVALGATE_REQUIRE_PG").as_deref() == Ok("1") {
                panic!("EVALGATE_REQUIRE_PG=1 but EVALGATE_TEST_PG_URL is not set");
            }
            eprintln!("skipping the PostgreSQL half: EVALGATE_TEST_PG_URL is not set");
            None
        }
    }
}

/// A fresh, migrated PostgreSQL database of its own (created on the test server), and its URL.
pub async fn pg_store() -> Option<(String, Store)> {
    let server_url = pg_server_url()?;
    let url = fresh_pg_database(&server_url).await;
    let store = Store::open(&url).await.expect("open postgres store");
    Some((url, store))
}

/// Creates an empty database on the server and returns its URL.
pub async fn fresh_pg_database(server_url: &str) -> String {
    use sqlx::Connection;
    let name = format!("evalgate_t_{}", uuid::Uuid::now_v7().simple());
    let mut conn = sqlx::PgConnection::connect(server_url)
        .await
        .expect("connect to test postgres");
    let sql = format!("CREATE DATABASE {name}");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&mut conn)
        .await
        .expect("create database");
    let (base, _db) = server_url
        .rsplit_once('/')
        .expect("server url has a database path");
    format!("{base}/{name}")
}

/// Defines `NAME_sqlite` and `NAME_postgres` tests that run `$body` (the name of an async fn in the
/// calling file, taking a
/// `Store`) on each backend.
#[macro_export]
macro_rules! contract_test {
    ($name:ident, $body:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let (_dir, store) = $crate::common::sqlite_store().await;
                super::$body(store).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some((_url, store)) = $crate::common::pg_store().await else {
                    return;
                };
                super::$body(store).await;
            }
        }
    };
}
pub mod fake_judge;
