//! `evalgate rescore` end to end on a SQLite store: it scores every ok request of the range with
//! the suite, writes the pass-rate series, and a rerun finds everything done (no new score, every
//! score reused).

use std::path::{Path, PathBuf};
use std::process::Output;

use sqlx::sqlite::SqlitePool;

const FROM: &str = "2026-11-01T00:00:00Z";
const TO: &str = "2026-11-01T02:00:00Z";

fn evalgate(config: &Path, db: &Path, args: &[&str]) -> Output {
    crate::common::evalgate()
        .args(["--store", &format!("sqlite://{}", db.display()), "--config"])
        .arg(config)
        .args(args)
        .env("EVALGATE_LOG", "warn")
        .output()
        .expect("run evalgate")
}

fn numbers_after(stdout: &str, prefix: &str) -> Vec<u64> {
    let line = stdout
        .lines()
        .find_map(|line| line.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in:\n{stdout}"));
    line.split(|c: char| !c.is_ascii_digit())
        .filter_map(|word| word.parse().ok())
        .collect()
}

/// Rescores the whole range with `support`; the numbers of its `rescored …` line (requests,
/// inserted, reused, …).
fn rescore(config: &Path, db: &Path) -> Vec<u64> {
    let args = ["rescore", "--from", FROM, "--to", TO, "--suite", "support"];
    let out = evalgate(config, db, &args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    numbers_after(&String::from_utf8_lossy(&out.stdout), "rescored ")
}

fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let evals = Path::new(env!("CARGO_MANIFEST_DIR")).join("evals");
    let config = dir.path().join("evalgate.toml");
    std::fs::write(&config, format!("[evals]\ndir = \"{}\"\n", evals.display())).unwrap();
    let db = dir.path().join("rescore.db");
    let out = evalgate(
        &config,
        &db,
        &[
            "synth",
            "--seed",
            "4",
            "--duration",
            "2h",
            "--rpm",
            "20",
            "--canary-share",
            "0.3",
            "--start",
            FROM,
            "--rollout-id",
            "r1",
            "--into-store",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (dir, config, db)
}

#[tokio::test]
async fn rescore_scores_the_range_once_and_a_rerun_reuses_everything() {
    let (_dir, config, db) = setup();
    let args = ["rescore", "--from", FROM, "--to", TO, "--suite", "support"];
    let first = evalgate(&config, &db, &args);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let stdout = String::from_utf8_lossy(&first.stdout).to_string();
    let first_numbers = numbers_after(&stdout, "rescored ");
    let (requests, inserted, reused) = (first_numbers[0], first_numbers[1], first_numbers[2]);

    let pool = SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let ok_requests: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM requests WHERE status = 'ok'")
        .fetch_one(&pool)
        .await
        .unwrap();
    let evaluators: i64 = sqlx::query_scalar("SELECT COUNT(DISTINCT evaluator) FROM eval_scores")
        .fetch_one(&pool)
        .await
        .unwrap();
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM eval_scores")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(ok_requests > 1_000, "{ok_requests}");
    assert_eq!(requests as i64, ok_requests, "{stdout}");
    assert_eq!(reused, 0);
    assert_eq!(inserted as i64, rows);
    assert_eq!(
        rows,
        ok_requests * evaluators,
        "one row per request and evaluator"
    );
    let series: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pass_rate_series")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(series > 0, "rescore wrote no series");

    let again = evalgate(&config, &db, &args);
    assert!(again.status.success());
    let again_numbers = numbers_after(&String::from_utf8_lossy(&again.stdout), "rescored ");
    assert_eq!(again_numbers[0], requests);
    assert_eq!(again_numbers[1], 0, "a rerun writes no new score");
    assert_eq!(again_numbers[2], inserted, "a rerun reuses every score");
    let rows_after: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM eval_scores")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows_after, rows);
}

/// A rerun over requests that lost one evaluator's scores reads the scores they still have
/// (the page shows them partly scored) and computes only the missing ones: everything else is
/// counted as reused, not computed again.
#[tokio::test]
async fn a_rescore_of_partly_scored_requests_reuses_what_they_have() {
    let (_dir, config, db) = setup();
    rescore(&config, &db);
    let pool = SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM eval_scores")
        .fetch_one(&pool)
        .await
        .unwrap();
    let dropped = sqlx::query(
        "DELETE FROM eval_scores WHERE evaluator = \
         (SELECT MIN(evaluator) FROM eval_scores WHERE evaluator LIKE 'support/%')",
    )
    .execute(&pool)
    .await
    .unwrap()
    .rows_affected();
    assert!(dropped > 0);

    let numbers = rescore(&config, &db);
    assert_eq!(
        numbers[1], dropped,
        "only the dropped scores are written again"
    );
    assert_eq!(
        numbers[2] as i64,
        rows - dropped as i64,
        "the scores the requests kept are reused, not computed again"
    );
    let rows_after: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM eval_scores")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows_after, rows);
}

/// Every score row and series row of the store, in a fixed order (what must not depend on
/// whether the rescore was killed on the way).
async fn scores_and_series(db: &Path) -> (Vec<(String, String, String, String)>, Vec<String>) {
    let pool = SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let scores: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT request_id, evaluator, evaluator_version, outcome FROM eval_scores \
         ORDER BY request_id, evaluator, evaluator_version",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let series: Vec<String> = sqlx::query_scalar(
        "SELECT rollout_id || ' ' || arm || ' ' || evaluator || ' ' || evaluator_version || ' ' \
         || window_start || ' ' || n || ' ' || passes || ' ' || fails FROM pass_rate_series \
         ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    (scores, series)
}

/// A rescore aborted (like a kill -9) after its first page is stored, while the next page is
/// read ahead, then run again: the store ends exactly as after one clean rescore (no score lost
/// or counted twice, the same series), and the rerun says it reused what the first run wrote.
#[tokio::test]
async fn a_rescore_killed_after_a_page_and_rerun_ends_as_a_clean_one() {
    let args = ["rescore", "--from", FROM, "--to", TO, "--suite", "support"];
    let (_clean_dir, clean_config, clean_db) = setup();
    let clean = evalgate(&clean_config, &clean_db, &args);
    assert!(clean.status.success(), "{clean:?}");
    let clean_numbers = numbers_after(&String::from_utf8_lossy(&clean.stdout), "rescored ");

    let (_dir, config, db) = setup();
    let crashed = crate::common::evalgate()
        .args(["--store", &format!("sqlite://{}", db.display()), "--config"])
        .arg(&config)
        .args(args)
        .env("EVALGATE_LOG", "warn")
        .env("EVALGATE_FAILPOINT", "rescore_after_page")
        .output()
        .expect("run evalgate");
    assert!(
        !crashed.status.success(),
        "the failpoint aborts the rescore"
    );
    let (partial, partial_series) = scores_and_series(&db).await;
    assert!(
        !partial.is_empty(),
        "the first page was stored before the abort"
    );
    assert!(partial_series.is_empty(), "series are written at the end");

    let again = evalgate(&config, &db, &args);
    assert!(again.status.success(), "{again:?}");
    let numbers = numbers_after(&String::from_utf8_lossy(&again.stdout), "rescored ");
    assert_eq!(numbers[0], clean_numbers[0], "every request once");
    assert_eq!(
        numbers[2],
        partial.len() as u64,
        "the stored page is reused"
    );
    assert_eq!(
        numbers[1] + numbers[2],
        clean_numbers[1],
        "the rest is written once"
    );
    assert_eq!(
        scores_and_series(&db).await,
        scores_and_series(&clean_db).await
    );
}
