//! Soak and split-brain tests (issue 10) on a PostgreSQL server of the test's own (initdb +
//! pg_ctl from the machine's PostgreSQL), so it can be restarted: two `evalgate serve` replicas,
//! a slow fake judge, and a webhook.
//!
//! - `a_postgres_restart_makes_the_old_leader_step_down_within_seconds`: the leader is mid-tick
//!   when PostgreSQL restarts; it notices within seconds, stops its tick and steps down, and
//!   every window is still gated exactly once.
//! - `soak_with_sigkills_and_postgres_restarts`: for `EVALGATE_SOAK_SECS` (default 40) a chaos
//!   loop SIGKILLs either replica (and restarts it) or restarts PostgreSQL every few seconds;
//!   then the replicas finish the due windows and the invariants are checked: every window gated
//!   exactly once, at most one transition per window, every notification delivered (outbox
//!   empty), no score doubled, and judge calls beyond the scored ones bounded by the work in
//!   flight at each disruption. Run longer with
//!   `EVALGATE_SOAK_SECS=600 cargo test --release --test suite -- --nocapture soak::`.
//!
//! Skipped when PostgreSQL's server binaries are missing, unless `EVALGATE_REQUIRE_PG=1`.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, DurationRound, Utc};
use common::fake_judge::{FakeJudge, FakeReply};
use evalgate::adapters::store::Store;
use rand::{Rng, SeedableRng};
use sqlx::PgPool;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Judge calls each replica may have in flight (its `max_concurrency`) and claim at once.
const CLAIM_BATCH: usize = 4;
const MAX_CONCURRENCY: usize = 4;

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

/// A throwaway PostgreSQL cluster that the test can restart.
struct PgCluster {
    bin: PathBuf,
    data: tempfile::TempDir,
    port: u16,
    as_postgres: bool,
}

impl PgCluster {
    fn start() -> Option<PgCluster> {
        let bindir = Command::new("pg_config").arg("--bindir").output().ok();
        let bin = bindir
            .filter(|out| out.status.success())
            .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
            .filter(|bin| bin.join("initdb").exists());
        let Some(bin) = bin else {
            assert!(
                std::env::var("EVALGATE_REQUIRE_PG").as_deref() != Ok("1"),
                "EVALGATE_REQUIRE_PG=1 but PostgreSQL's initdb is not installed"
            );
            eprintln!("skipping: PostgreSQL's server binaries are not installed");
            return None;
        };
        let data = tempfile::tempdir().unwrap();
        let as_postgres = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0");
        if as_postgres {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(data.path())
                .status()
                .unwrap();
            assert!(status.success());
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cluster = PgCluster {
            bin,
            data,
            port,
            as_postgres,
        };
        let pgdata = cluster.data.path().join("pg");
        let out = cluster
            .pg_command("initdb")
            .arg("-D")
            .arg(&pgdata)
            .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        cluster.ctl(&["start"]);
        Some(cluster)
    }

    fn pg_command(&self, tool: &str) -> Command {
        let path = self.bin.join(tool);
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        }
    }

    fn ctl(&self, args: &[&str]) {
        let pgdata = self.data.path().join("pg");
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off -c max_connections=200",
            self.port,
            self.data.path().display()
        );
        let out = self
            .pg_command("pg_ctl")
            .arg("-D")
            .arg(&pgdata)
            .arg("-l")
            .arg(self.data.path().join("server.log"))
            .args(["-w", "-t", "60", "-m", "immediate", "-o", &options])
            .args(args)
            .stdout(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Stops the server at once (sessions die, like a crash) and starts it again.
    fn restart(&self) {
        self.ctl(&["restart"]);
    }

    fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let pgdata = self.data.path().join("pg");
        let _ = self
            .pg_command("pg_ctl")
            .arg("-D")
            .arg(&pgdata)
            .args(["-m", "immediate", "stop"])
            .output();
    }
}

struct Rig {
    dir: tempfile::TempDir,
    config: PathBuf,
    store_url: String,
    pool: PgPool,
    store: Store,
    _judge: FakeJudge,
    judge_calls: Arc<dyn Fn() -> usize + Send + Sync>,
    _webhook: MockServer,
}

fn write_suite(evals: &Path) {
    std::fs::create_dir_all(evals).unwrap();
    std::fs::write(
        evals.join("soak.yaml"),
        r#"name: soak
description: A rule and a slow judge, so every tick has work in flight to interrupt.
assert:
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

impl Rig {
    async fn new(cluster: &PgCluster, catch_up: i64) -> Rig {
        let admin = cluster.url("postgres");
        {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
            sqlx::query("CREATE DATABASE soak")
                .execute(&mut conn)
                .await
                .unwrap();
        }
        let store_url = cluster.url("soak");
        let judge = FakeJudge::start_with(
            Arc::new(|_, _| FakeReply::verdict(true, 0.9)),
            Duration::from_millis(250),
            None,
        )
        .await;
        let webhook = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200))
            .mount(&webhook)
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
n_per_arm = 12
per_tenant_cap = 12
window = "1m"
readiness_delay = "0s"

[judges.fake]
base_url = "{base_url}"
model = "fake-judge"
api_key_env = "SOAK_TEST_JUDGE_KEY"
max_concurrency = {MAX_CONCURRENCY}

[schedule]
ticks = "* * * * *"
catch_up_max = {catch_up_max}
claim_batch = {CLAIM_BATCH}
shutdown_deadline = "5s"

[notify]
webhook = "{hook}/hook"
timeout = "2s"

[rollout]
fail_safe_after = 1000
"#,
                evals = evals.display(),
                base_url = judge.base_url,
                hook = webhook.uri(),
                // Room for the windows that come due while the test runs: none is skipped.
                catch_up_max = catch_up + 30,
            ),
        )
        .unwrap();
        let store = Store::open(&store_url).await.unwrap();
        let Store::Postgres(pool) = store.clone() else {
            unreachable!("a postgres url")
        };
        let judge_state = judge.calls_counter();
        let rig = Rig {
            dir,
            config,
            store_url,
            pool,
            store,
            _judge: judge,
            judge_calls: judge_state,
            _webhook: webhook,
        };
        let now = wall_clock()
            .duration_trunc(chrono::Duration::minutes(1))
            .unwrap();
        let start = (now - chrono::Duration::hours(2)).to_rfc3339();
        rig.run(&[
            "synth",
            "--seed",
            "13",
            "--duration",
            "3h",
            "--rpm",
            "90",
            "--canary-share",
            "0.3",
            "--start",
            &start,
            "--rollout-id",
            "r1",
            "--into-store",
        ]);
        let plan = rig.dir.path().join("plan.toml");
        std::fs::write(
            &plan,
            "[[stages]]\nname = \"30%\"\ncanary_basis_points = 3000\nmin_duration = \"10h\"\n\
             max_duration = \"20h\"\n",
        )
        .unwrap();
        rig.run(
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
                "soak",
                "--plan",
            ]
            .into_iter()
            .chain([plan.to_str().unwrap()])
            .collect::<Vec<_>>(),
        );
        rig.store
            .scheduler_set_last_run("ticks", now - chrono::Duration::minutes(catch_up), now)
            .await
            .unwrap();
        rig
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = crate::common::evalgate();
        command
            .args(["--store", &self.store_url, "--config"])
            .arg(&self.config)
            .args(args)
            .env_remove("EVALGATE_ADMIN_TOKEN")
            .env("SOAK_TEST_JUDGE_KEY", "sk-test");
        command
    }

    fn run(&self, args: &[&str]) {
        let out = self
            .command(args)
            .env("EVALGATE_LOG", "warn")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "evalgate {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn serve(&self, name: &str) -> Reaped {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path(name))
            .unwrap();
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
            .unwrap();
        Reaped(child)
    }

    fn log_path(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.log"))
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.log_path(name)).unwrap_or_default()
    }

    fn logs(&self) -> String {
        ["a", "b"]
            .iter()
            .map(|name| format!("--- serve {name} ---\n{}", tail(&self.log(name), 60)))
            .collect::<Vec<_>>()
            .join("\n")
    }

    async fn scalar(&self, sql: &'static str) -> Option<i64> {
        sqlx::query_scalar(sql).fetch_one(&self.pool).await.ok()
    }

    /// Waits until every due window is done, nothing is queued and the outbox is empty; the
    /// error is what was last seen.
    async fn settle(&self, windows_at_least: i64, limit: Duration) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        let mut seen = String::new();
        while Instant::now() < deadline {
            let done = self
                .scalar("SELECT COUNT(*) FROM ticks WHERE status = 'done'")
                .await;
            let open = self
                .scalar("SELECT COUNT(*) FROM ticks WHERE status <> 'done'")
                .await;
            let queued = self
                .scalar("SELECT COUNT(*) FROM score_queue WHERE status <> 'done'")
                .await;
            let outbox = self
                .scalar("SELECT COUNT(*) FROM notify_outbox WHERE delivered_at IS NULL")
                .await;
            if done.is_some_and(|done| done >= windows_at_least)
                && open == Some(0)
                && queued == Some(0)
                && outbox == Some(0)
            {
                return Ok(());
            }
            seen = format!(
                "done {done:?} (want {windows_at_least}), open {open:?}, queued {queued:?}, \
                 outbox {outbox:?}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Err(seen)
    }

    /// The invariants; returns a one-line summary.
    async fn check_invariants(&self, disruptions: usize) -> String {
        let pool = &self.pool;
        let done: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM ticks WHERE status = 'done'")
            .fetch_one(pool)
            .await
            .unwrap();
        // Every window gated exactly once: one replay record of the pass-rate gate per
        // window that was gated, and the gate's state counted each once.
        let gated: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM ticks WHERE status = 'done' \
             AND report->>'transition' <> 'superseded'",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        let updates: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM gate_updates WHERE rollout_id = 'r1' AND metric = 'pass_rate'",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        let state_ticks: i64 = sqlx::query_scalar(
            "SELECT (state->>'ticks')::BIGINT FROM gate_state \
             WHERE rollout_id = 'r1' AND metric = 'pass_rate' ORDER BY stage DESC LIMIT 1",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        assert_eq!(updates, done, "one pass-rate replay record per done window");
        assert_eq!(state_ticks, done, "the gate absorbed each window once");
        // At most one transition per window: every decision bumps the version once, so the
        // rollout's version is the start plus one per decided window.
        let version: i64 = sqlx::query_scalar("SELECT version FROM rollouts WHERE id = 'r1'")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(
            version,
            1 + gated,
            "one decision per window ({done} done, {gated} decided)"
        );
        // Every notification delivered.
        let pending: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM notify_outbox WHERE delivered_at IS NULL")
                .fetch_one(pool)
                .await
                .unwrap();
        assert_eq!(pending, 0, "outbox empty");
        // No score doubled.
        let (rows, distinct): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), COUNT(DISTINCT (request_id, evaluator, evaluator_version)) \
             FROM eval_scores",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        assert_eq!(rows, distinct, "no score stored twice");
        // Judge calls beyond the judged requests: bounded by what was in flight at each
        // disruption (per replica: its concurrency, or a claimed batch whose writes were lost).
        let judged: i64 = sqlx::query_scalar(
            "SELECT COUNT(DISTINCT request_id) FROM eval_scores WHERE evaluator LIKE '%helpful'",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        let calls = (self.judge_calls)() as i64;
        let bound = i64::try_from(disruptions * 2 * CLAIM_BATCH.max(MAX_CONCURRENCY)).unwrap();
        assert!(
            calls - judged <= bound,
            "{calls} judge calls for {judged} judged requests; at most {bound} may be repeats"
        );
        format!(
            "{done} windows gated once each, version {version} = 1 + {gated} decisions, outbox \
             empty, {rows} scores none doubled, {calls} judge calls for {judged} judged requests \
             ({} repeats, bound {bound})",
            calls - judged
        )
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_restart_makes_the_old_leader_step_down_within_seconds() {
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    let rig = Rig::new(&cluster, 6).await;
    let _a = rig.serve("a");
    // The first replica leads and starts ticking; then the second comes up.
    let ticking = wait_for(Duration::from_secs(60), async || {
        rig.scalar("SELECT COUNT(*) FROM score_queue WHERE status = 'done'")
            .await
            .is_some_and(|n| n >= 2)
    })
    .await;
    assert!(ticking, "no tick started:\n{}", rig.logs());
    let _b = rig.serve("b");
    std::thread::sleep(Duration::from_secs(1));
    let restarted_at = Instant::now();
    cluster.restart();
    // The old leader notices within seconds: it stops the tick and steps down.
    let stepped_down = wait_for(Duration::from_secs(30), async || {
        rig.log("a").contains("lost the scheduler")
    })
    .await;
    let noticed_after = restarted_at.elapsed();
    assert!(
        stepped_down,
        "the old leader never noticed:\n{}",
        rig.logs()
    );
    assert!(
        noticed_after < Duration::from_secs(10),
        "the old leader noticed after {noticed_after:?}"
    );
    let settled = rig.settle(6, Duration::from_secs(120)).await;
    assert!(
        settled.is_ok(),
        "the replicas did not finish the due windows: {settled:?}\n{}",
        rig.logs()
    );
    let summary = rig.check_invariants(1).await;
    eprintln!("split brain avoided, noticed after {noticed_after:?}: {summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_with_sigkills_and_postgres_restarts() {
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    let secs: u64 = std::env::var("EVALGATE_SOAK_SECS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(40);
    let seed: u64 = std::env::var("EVALGATE_SOAK_SEED")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(7);
    let rig = Rig::new(&cluster, 30).await;
    let mut a = rig.serve("a");
    let mut b = rig.serve("b");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let started = Instant::now();
    let (mut kills, mut restarts) = (0usize, 0usize);
    while started.elapsed() < Duration::from_secs(secs) {
        let pause = rng.random_range(3_000..8_000);
        std::thread::sleep(Duration::from_millis(pause));
        match rng.random_range(0..3) {
            0 => {
                drop(a);
                a = rig.serve("a");
                kills += 1;
            }
            1 => {
                drop(b);
                b = rig.serve("b");
                kills += 1;
            }
            _ => {
                cluster.restart();
                restarts += 1;
            }
        }
    }
    let chaos = started.elapsed();
    let windows: i64 = 30;
    let settled = rig.settle(windows, Duration::from_secs(300)).await;
    assert!(
        settled.is_ok(),
        "the replicas did not finish: {settled:?}\n{}",
        rig.logs()
    );
    let summary = rig.check_invariants(kills + restarts).await;
    drop((a, b));
    eprintln!(
        "soak: {:.1} min of chaos (seed {seed}), {kills} SIGKILLs, {restarts} PostgreSQL \
         restarts; {summary}",
        chaos.as_secs_f64() / 60.0
    );
}

async fn wait_for<F: AsyncFnMut() -> bool>(limit: Duration, mut check: F) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}
