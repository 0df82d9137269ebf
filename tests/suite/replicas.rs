//! Two real `evalgate serve` processes on one PostgreSQL database. One holds the scheduler (the
//! advisory lock); both take scoring work from the queue. The test kills the leader with SIGKILL
//! after its first tick and checks that the other one takes over and finishes the rest: every
//! window computed once, every sampled request scored once per evaluator, the work of the ticks
//! split between the two processes, and the gates advanced once per window.
//!
//! The judge is a local fake chat-completions server with 150 ms latency, so a tick takes long
//! enough for both replicas to claim part of it. Needs `EVALGATE_TEST_PG_URL` (skipped without it,
//! unless `EVALGATE_REQUIRE_PG=1`, which makes that a failure).

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, DurationRound, Utc};
use common::fake_judge::{FakeJudge, FakeReply};
use evalgate::adapters::store::Store;
use sqlx::PgPool;

/// Kills the child on drop so a failing test leaves nothing running.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[allow(clippy::disallowed_methods)] // serve runs on the real clock, so the traffic must too
fn wall_clock() -> DateTime<Utc> {
    Utc::now()
}

struct Setup {
    dir: tempfile::TempDir,
    config: PathBuf,
    store_url: String,
}

impl Setup {
    fn command(&self, args: &[&str]) -> Command {
        let mut command = crate::common::evalgate();
        command
            .args(["--store", &self.store_url, "--config"])
            .arg(&self.config)
            .args(args)
            .env_remove("EVALGATE_ADMIN_TOKEN")
            .env("REPLICAS_TEST_JUDGE_KEY", "sk-test");
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        let out = self
            .command(args)
            .env("EVALGATE_LOG", "warn")
            .output()
            .expect("run evalgate");
        assert!(
            out.status.success(),
            "evalgate {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn serve(&self, name: &str) -> (Reaped, u16) {
        let log = std::fs::File::create(self.log_path(name)).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = self
            .command(&["serve", "--bind", &format!("127.0.0.1:{port}")])
            .env("EVALGATE_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn evalgate serve");
        (Reaped(child), port)
    }

    fn log_path(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.log"))
    }

    fn logs(&self) -> String {
        ["a", "b"]
            .iter()
            .map(|name| {
                format!(
                    "--- serve {name} ---\n{}",
                    std::fs::read_to_string(self.log_path(name)).unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn write_suite(evals: &Path) {
    std::fs::create_dir_all(evals).unwrap();
    std::fs::write(
        evals.join("replicas.yaml"),
        r#"name: replicas
description: Two rules and a judge, so a tick has slow work to share.
assert:
  - type: is-json
    metric: valid_json
  - type: contains
    metric: right_order_id
    value: "{{reference}}"
  - type: llm-rubric
    metric: helpful
    judge: fake
    rubric: "Is this answer helpful? {{output}}"
"#,
    )
    .unwrap();
}

async fn scalar(pool: &PgPool, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

/// Polls `check` every 200 ms until it holds or `limit` passes.
async fn wait_for<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while started.elapsed() < limit {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_serve_replicas_share_the_work_and_survive_the_leader_dying() {
    let Some(server_url) = common::pg_server_url() else {
        return;
    };
    let store_url = common::fresh_pg_database(&server_url).await;
    let judge = FakeJudge::start_with(
        Arc::new(|_, _| FakeReply::verdict(true, 0.9)),
        Duration::from_millis(150),
        None,
    )
    .await;

    let dir = tempfile::tempdir().unwrap();
    let evals = dir.path().join("evals");
    write_suite(&evals);
    let config = dir.path().join("evalgate.toml");
    std::fs::write(
        &config,
        format!(
            r#"[evals]
dir = "{evals}"

[sampling]
n_per_arm = 16
per_tenant_cap = 16
window = "1m"

[judges.fake]
base_url = "{base_url}"
model = "fake-judge"
api_key_env = "REPLICAS_TEST_JUDGE_KEY"
max_concurrency = 2

[schedule]
ticks = "* * * * *"
catch_up_max = 10
claim_batch = 4
"#,
            evals = evals.display(),
            base_url = judge.base_url,
        ),
    )
    .unwrap();
    let setup = Setup {
        dir,
        config,
        store_url,
    };

    // Two hours of traffic up to now, a rollout, and four tick windows due at start-up.
    let now = wall_clock()
        .duration_trunc(chrono::Duration::minutes(1))
        .unwrap();
    let start = (now - chrono::Duration::hours(2)).to_rfc3339();
    setup.run(&[
        "synth",
        "--seed",
        "11",
        "--duration",
        "2h",
        "--rpm",
        "120",
        "--canary-share",
        "0.3",
        "--start",
        &start,
        "--rollout-id",
        "r1",
        "--into-store",
    ]);
    setup.run(&[
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
        "replicas",
    ]);
    let store = Store::open(&setup.store_url).await.unwrap();
    store
        .scheduler_set_last_run("ticks", now - chrono::Duration::minutes(4), now)
        .await
        .unwrap();
    let Store::Postgres(pool) = &store else {
        unreachable!("opened a postgres url")
    };

    let (mut a, port_a) = setup.serve("a");
    let (mut b, port_b) = setup.serve("b");
    let pids = [a.0.id(), b.0.id()];

    // The first window finished: find the leader and kill it.
    let first_done = wait_for(Duration::from_secs(120), || async {
        scalar(pool, "SELECT COUNT(*) FROM ticks WHERE status = 'done'").await >= 1
    })
    .await;
    assert!(first_done, "no tick finished:\n{}", setup.logs());
    let (holder, _) = store.scheduler_leader().await.unwrap().expect("a leader");
    let leader_pid = pids
        .iter()
        .copied()
        .find(|pid| holder.starts_with(&format!("pid-{pid}-")))
        .unwrap_or_else(|| panic!("leader {holder} is neither {pids:?}"));
    let (leader, survivor, survivor_port) = if leader_pid == pids[0] {
        (&mut a, &mut b, port_b)
    } else {
        (&mut b, &mut a, port_a)
    };
    let survivor_pid = survivor.0.id();
    leader.0.kill().unwrap();
    leader.0.wait().unwrap();

    // The survivor takes the scheduler and finishes every due window, the interrupted one too.
    let finished = wait_for(Duration::from_secs(120), || async {
        let done = scalar(pool, "SELECT COUNT(*) FROM ticks WHERE status = 'done'").await;
        let open = scalar(pool, "SELECT COUNT(*) FROM ticks WHERE status <> 'done'").await;
        let queued = scalar(
            pool,
            "SELECT COUNT(*) FROM score_queue WHERE status <> 'done'",
        )
        .await;
        done >= 4 && open == 0 && queued == 0
    })
    .await;
    assert!(finished, "the survivor did not finish:\n{}", setup.logs());
    let (holder, _) = store.scheduler_leader().await.unwrap().expect("a leader");
    assert!(
        holder.starts_with(&format!("pid-{survivor_pid}-")),
        "the survivor ({survivor_pid}) should hold the scheduler, not {holder}"
    );

    // The survivor's /metrics carries the pass ratio its ticks computed, and the judge spend.
    let metrics = evalgate::adapters::http_client::builder()
        .build()
        .unwrap()
        .get(format!("http://127.0.0.1:{survivor_port}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("evalgate_pass_ratio{rollout=\"r1\",arm=\"canary\","),
        "{metrics}"
    );
    assert!(
        metrics.contains("evalgate_judge_requests_total"),
        "{metrics}"
    );

    // SIGTERM stops the survivor cleanly; nothing is left half-done.
    let term = Command::new("kill")
        .args(["-TERM", &survivor_pid.to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let status = survivor.0.wait().unwrap();
    assert!(status.success(), "serve exited with {status}");

    // Every window computed once: one row each, done, and the gates advanced once per window.
    let done = scalar(pool, "SELECT COUNT(*) FROM ticks WHERE status = 'done'").await;
    let windows = scalar(pool, "SELECT COUNT(DISTINCT window_start) FROM ticks").await;
    assert_eq!(done, windows);
    assert!(done >= 4, "{done} windows");
    let pass_rate_ticks = scalar(
        pool,
        "SELECT (state->>'ticks')::BIGINT FROM gate_state WHERE metric = 'pass_rate'",
    )
    .await;
    assert_eq!(pass_rate_ticks, done, "the gates advanced once per window");
    let pass_rate_records = scalar(
        pool,
        "SELECT COUNT(DISTINCT tick) FROM gate_updates WHERE metric = 'pass_rate'",
    )
    .await;
    let last_tick = scalar(
        pool,
        "SELECT MAX(tick) FROM gate_updates WHERE metric = 'pass_rate'",
    )
    .await;
    assert_eq!(
        (pass_rate_records, last_tick),
        (done, done),
        "one replay record per window, numbered 1..{done}"
    );
    let last_worker: String =
        sqlx::query_scalar("SELECT worker FROM ticks ORDER BY window_start DESC LIMIT 1")
            .fetch_one(pool)
            .await
            .unwrap();
    assert!(
        last_worker.ends_with(&format!("-{survivor_pid}")),
        "the last window ran on {last_worker}, not the survivor {survivor_pid}"
    );

    // Every queued request scored exactly once by each of the three assertions and the suite.
    let queued = scalar(pool, "SELECT COUNT(DISTINCT request_id) FROM score_queue").await;
    let scored = scalar(pool, "SELECT COUNT(DISTINCT request_id) FROM eval_scores").await;
    let rows = scalar(pool, "SELECT COUNT(*) FROM eval_scores").await;
    assert!(queued >= 4 * 16, "{queued} requests queued");
    assert_eq!(scored, queued, "every queued request scored, nothing else");
    let evaluators = scalar(pool, "SELECT COUNT(DISTINCT evaluator) FROM eval_scores").await;
    assert_eq!(evaluators, 4, "three assertions and the suite verdict");
    assert_eq!(rows, scored * 4, "each evaluator scored each request once");
    let unscorable = scalar(
        pool,
        "SELECT COUNT(*) FROM eval_scores WHERE outcome = 'unscorable'",
    )
    .await;
    assert_eq!(unscorable, 0, "the judge was up the whole time");
    let calls = judge.call_count() as i64;
    assert!(
        calls >= scored,
        "{calls} judge calls for {scored} judged requests"
    );

    // The work was split: both processes completed queue items.
    let by_worker: Vec<(String, i64)> = sqlx::query_as(
        "SELECT claimed_by, COUNT(*) FROM score_queue WHERE status = 'done' GROUP BY claimed_by",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    for pid in pids {
        let items: i64 = by_worker
            .iter()
            .filter(|(worker, _)| worker.ends_with(&format!("-{pid}")))
            .map(|(_, count)| count)
            .sum();
        assert!(
            items > 0,
            "process {pid} scored nothing: {by_worker:?}\n{}",
            setup.logs()
        );
    }
}
