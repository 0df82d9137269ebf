//! A tick killed at any point and then rerun finishes with every window scored exactly once:
//! no score lost, none counted twice, the gates advanced once per window.
//! The crash is a real `abort()` of the `evalgate tick` process at a named point
//! (`EVALGATE_FAILPOINT`), after which the next run redoes or finishes the tick.

use std::path::{Path, PathBuf};
use std::process::Output;

use chrono::{DateTime, Duration, DurationRound, Utc};
use sqlx::sqlite::SqlitePool;

struct Setup {
    _dir: tempfile::TempDir,
    config: PathBuf,
    db: PathBuf,
    now: DateTime<Utc>,
}

#[allow(clippy::disallowed_methods)] // the rollout starts at the real time, so the traffic must too
fn wall_clock() -> DateTime<Utc> {
    Utc::now()
}

fn evalgate(setup: &Setup, args: &[&str], failpoint: Option<&str>) -> Output {
    let store = format!("sqlite://{}", setup.db.display());
    let mut command = crate::common::evalgate();
    command
        .args(["--store", &store, "--config"])
        .arg(&setup.config)
        .args(args);
    command.env("EVALGATE_LOG", "warn");
    if let Some(point) = failpoint {
        command.env("EVALGATE_FAILPOINT", point);
    }
    command.output().expect("run evalgate")
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let evals = Path::new(env!("CARGO_MANIFEST_DIR")).join("evals");
    let config = dir.path().join("evalgate.toml");
    std::fs::write(
        &config,
        format!(
            "[evals]\ndir = \"{}\"\n\n[sampling]\nn_per_arm = 20\nper_tenant_cap = 20\n",
            evals.display()
        ),
    )
    .unwrap();
    let db = dir.path().join("crash.db");
    let now = wall_clock().duration_trunc(Duration::minutes(15)).unwrap();
    let setup = Setup {
        _dir: dir,
        config,
        db,
        now,
    };
    let start = (now - Duration::hours(3)).to_rfc3339();
    let out = evalgate(
        &setup,
        &[
            "synth",
            "--seed",
            "5",
            "--duration",
            "3h",
            "--rpm",
            "120",
            "--canary-share",
            "0.3",
            "--start",
            &start,
            "--rollout-id",
            "r1",
            "--into-store",
        ],
        None,
    );
    assert!(
        out.status.success(),
        "synth: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = evalgate(
        &setup,
        &[
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
        ],
        None,
    );
    assert!(
        out.status.success(),
        "rollout start: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    setup
}

async fn scalar(pool: &SqlitePool, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tick_killed_at_every_step_is_finished_with_nothing_lost_or_doubled() {
    let setup = setup();
    let at = setup.now.to_rfc3339();
    let tick = ["tick", "--at", at.as_str()];
    for point in [
        "scoring_after_batch",
        "tick_after_persist",
        "tick_after_control",
    ] {
        let out = evalgate(&setup, &tick, Some(point));
        assert!(
            !out.status.success(),
            "the failpoint {point} should have killed the tick"
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(point),
            "{point}: {stderr}\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    // The crash after the controller came after its commit, which marked the tick done: the
    // rerun finds it done and applies nothing again.
    let out = evalgate(&setup, &tick, None);
    assert!(
        out.status.success(),
        "final tick: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("already done"));
    let again = evalgate(&setup, &tick, None);
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).contains("already done"));

    let pool = SqlitePool::connect(&format!("sqlite://{}", setup.db.display()))
        .await
        .unwrap();
    let status: String = sqlx::query_scalar("SELECT status FROM ticks")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(status, "done");
    assert_eq!(
        scalar(&pool, "SELECT attempts FROM ticks").await,
        3,
        "three attempts: the third crashed after its decision committed"
    );
    let sampled = scalar(
        &pool,
        "SELECT json_extract(report, '$.sampled[0]') + json_extract(report, '$.sampled[1]') FROM ticks",
    )
    .await;
    assert!(sampled >= 30, "the tick sampled {sampled} requests");
    let scored_requests = scalar(&pool, "SELECT COUNT(DISTINCT request_id) FROM eval_scores").await;
    let evaluators = scalar(&pool, "SELECT COUNT(DISTINCT evaluator) FROM eval_scores").await;
    let rows = scalar(&pool, "SELECT COUNT(*) FROM eval_scores").await;
    assert_eq!(
        scored_requests, sampled,
        "every sampled request scored, nothing else"
    );
    assert!(evaluators >= 2);
    assert_eq!(
        rows,
        scored_requests * evaluators,
        "each evaluator scored each request exactly once"
    );
    let pass_rate_ticks = scalar(
        &pool,
        "SELECT json_extract(state, '$.ticks') FROM gate_state WHERE metric = 'pass_rate'",
    )
    .await;
    assert_eq!(pass_rate_ticks, 1, "the gates advanced once for one window");
    let updates = scalar(&pool, "SELECT COUNT(*) FROM gate_updates").await;
    let metrics = scalar(&pool, "SELECT COUNT(DISTINCT metric) FROM gate_updates").await;
    assert_eq!(updates, metrics, "one replay record per metric");
    let open = scalar(
        &pool,
        "SELECT COUNT(*) FROM score_queue WHERE status <> 'done'",
    )
    .await;
    assert_eq!(open, 0);

    let next = (setup.now + Duration::minutes(15)).to_rfc3339();
    let out = evalgate(&setup, &["tick", "--at", &next], None);
    assert!(
        out.status.success(),
        "second window: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pass_rate_ticks = scalar(
        &pool,
        "SELECT json_extract(state, '$.ticks') FROM gate_state WHERE metric = 'pass_rate'",
    )
    .await;
    assert_eq!(
        pass_rate_ticks, 2,
        "the next window advanced the gates once more"
    );
}
