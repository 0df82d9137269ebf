//! The fault suite's rig: a temp dir with a config, a copy of `evals/` (so a test can break a
//! suite), a store (SQLite, or a fresh PostgreSQL database when `EVALGATE_TEST_PG_URL` is set),
//! three hours of synthetic traffic for rollout `r1`, and helpers to run the real binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use chrono::{DateTime, Duration, DurationRound, Utc};
use evalgate::adapters::store::Store;

/// Which backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Kills the child on drop so a failing test leaves nothing running.
pub struct Reaped(pub Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub struct Rig {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub evals: PathBuf,
    pub store_url: String,
    pub store: Store,
    /// A 15-minute boundary: the traffic covers the three hours before it.
    pub now: DateTime<Utc>,
}

#[allow(clippy::disallowed_methods)] // the rollout starts at the real time, so the traffic must too
pub fn wall_clock() -> DateTime<Utc> {
    Utc::now()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

impl Rig {
    /// A rig on `backend` with `extra` appended to the config; None when the backend is
    /// PostgreSQL and no server is configured.
    pub async fn new(backend: Backend, extra: &str) -> Option<Rig> {
        let dir = tempfile::tempdir().unwrap();
        let evals = dir.path().join("evals");
        copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("evals"), &evals);
        let config = dir.path().join("evalgate.toml");
        std::fs::write(
            &config,
            format!(
                "[evals]\ndir = \"{}\"\n\n[sampling]\nn_per_arm = 20\nper_tenant_cap = 20\n\n\
                 [flags]\nsinks = [\"table\", \"file\"]\nfile = \"{}\"\n\n{extra}\n",
                evals.display(),
                dir.path().join("flags.json").display()
            ),
        )
        .unwrap();
        let store_url = match backend {
            Backend::Sqlite => format!("sqlite://{}", dir.path().join("faults.db").display()),
            Backend::Postgres => {
                crate::common::fresh_pg_database(&crate::common::pg_server_url()?).await
            }
        };
        let store = Store::open(&store_url).await.unwrap();
        let now = wall_clock().duration_trunc(Duration::minutes(15)).unwrap();
        Some(Rig {
            dir,
            config,
            evals,
            store_url,
            store,
            now,
        })
    }

    /// The binary with this rig's store and config.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = crate::common::evalgate();
        command
            .args(["--store", &self.store_url, "--config"])
            .arg(&self.config)
            .args(args)
            .env_remove("EVALGATE_ADMIN_TOKEN")
            .env("EVALGATE_LOG", "warn");
        command
    }

    /// Runs the binary to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run evalgate")
    }

    /// Runs the binary with `EVALGATE_FAILPOINT` set.
    pub fn run_with_failpoint(&self, args: &[&str], failpoint: &str) -> Output {
        self.command(args)
            .env("EVALGATE_FAILPOINT", failpoint)
            .output()
            .expect("run evalgate")
    }

    /// Starts the binary in the background (stdout and stderr to files in the rig's dir).
    pub fn spawn(&self, name: &str, args: &[&str], env: &[(&str, &str)]) -> Reaped {
        let out = std::fs::File::create(self.dir.path().join(format!("{name}.out"))).unwrap();
        let err = std::fs::File::create(self.dir.path().join(format!("{name}.err"))).unwrap();
        let mut command = self.command(args);
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .expect("spawn evalgate");
        Reaped(child)
    }

    /// What a spawned process wrote to stderr so far.
    pub fn stderr_of(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{name}.err"))).unwrap_or_default()
    }

    /// Runs the binary and insists it succeeds.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "evalgate {args:?} failed ({:?}):\n{}\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Four hours of traffic for rollout `r1` (canary share 30%) from half an hour before `now`
    /// (ticks of the rollout started now score windows after it), optionally with a canary
    /// regression from `regression_at` (an offset like `1h` from that start).
    pub fn synth(&self, regression_at: Option<&str>) {
        let start = (self.now - Duration::minutes(30)).to_rfc3339();
        let mut args = vec![
            "synth",
            "--seed",
            "5",
            "--duration",
            "4h",
            "--rpm",
            "120",
            "--canary-share",
            "0.3",
            "--start",
            &start,
            "--rollout-id",
            "r1",
            "--into-store",
        ];
        if let Some(at) = regression_at {
            args.extend(["--regression-at", at, "--regression-factor", "8"]);
        }
        self.ok(&args);
    }

    /// Writes a plan file and returns its path.
    pub fn plan(&self, toml: &str) -> String {
        let path = self.dir.path().join("plan.toml");
        std::fs::write(&path, toml).unwrap();
        path.display().to_string()
    }

    /// `rollout start` of `r1` on flag `f1` with the `support` suite and `extra` arguments.
    pub fn start(&self, extra: &[&str]) -> Output {
        let mut args = vec![
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
        args.extend_from_slice(extra);
        self.run(&args)
    }

    /// The tick time `k` windows after `now` (k = 1 scores `[now, now + 15m)`, give or take
    /// the readiness delay).
    pub fn tick_at(&self, k: i64) -> String {
        (self.now + Duration::minutes(15 * k)).to_rfc3339()
    }

    /// One integer from the store (`SELECT COUNT(*) …` and the like; `$1` binds `bind`).
    pub async fn scalar(&self, sql: &str, bind: &str) -> i64 {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        match &self.store {
            Store::Sqlite(pool) => sqlx::query_scalar(sql)
                .bind(bind)
                .fetch_one(pool)
                .await
                .unwrap(),
            Store::Postgres(pool) => sqlx::query_scalar(sql)
                .bind(bind)
                .fetch_one(pool)
                .await
                .unwrap(),
        }
    }

    /// One string column (`$1` binds `bind`); None for NULL or no row.
    pub async fn text(&self, sql: &str, bind: &str) -> Option<String> {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        let row: Option<Option<String>> = match &self.store {
            Store::Sqlite(pool) => sqlx::query_scalar(sql)
                .bind(bind)
                .fetch_optional(pool)
                .await
                .unwrap(),
            Store::Postgres(pool) => sqlx::query_scalar(sql)
                .bind(bind)
                .fetch_optional(pool)
                .await
                .unwrap(),
        };
        row.flatten()
    }

    /// Runs a statement (`$1` binds `bind`).
    pub async fn exec(&self, sql: &str, bind: &str) {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        match &self.store {
            Store::Sqlite(pool) => {
                sqlx::query(sql).bind(bind).execute(pool).await.unwrap();
            }
            Store::Postgres(pool) => {
                sqlx::query(sql).bind(bind).execute(pool).await.unwrap();
            }
        }
    }

    /// The pass-rate gate's tick count (how many windows it has absorbed).
    pub async fn pass_rate_ticks(&self) -> i64 {
        let state = self
            .text(
                "SELECT CAST(state AS TEXT) FROM gate_state WHERE rollout_id = $1 AND metric = 'pass_rate' ORDER BY stage DESC LIMIT 1",
                "r1",
            )
            .await
            .unwrap_or_else(|| "{}".to_string());
        let value: serde_json::Value = serde_json::from_str(&state).unwrap();
        value["ticks"].as_i64().unwrap_or(0)
    }

    /// The split the table sink holds for `f1`.
    pub async fn table_split(&self) -> i64 {
        self.scalar(
            "SELECT CAST(basis_points AS BIGINT) FROM traffic_splits WHERE flag_key = $1",
            "f1",
        )
        .await
    }

    /// The audit actions of `r1`, oldest first.
    pub async fn actions(&self) -> Vec<String> {
        let events = self.store.list_rollout_events("r1").await.unwrap();
        events.into_iter().map(|event| event.action).collect()
    }
}

/// Stdout and stderr of an output, for assertion messages.
pub fn both(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
