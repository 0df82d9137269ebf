//! The day-2 commands end to end, on SQLite and on PostgreSQL: `rollout list` with its filters,
//! `rollout get [--watch]`, `rollout history`, `rollout retry`, `--json` on every command that
//! changes something, relative times and colour on a terminal (a real pseudo-terminal through
//! util-linux `script`) against RFC 3339 when piped, finished rollouts shown as finished, and
//! `completion SHELL`.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns unwrap too

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use evalgate::adapters::http::RolloutSummary;
use evalgate::adapters::store::Store;
use serde_json::Value;

/// The evalgate binary on one store (a temp SQLite file or a fresh PostgreSQL database), with
/// the table and file flag sinks.
struct Cli {
    dir: tempfile::TempDir,
    store_url: String,
}

impl Cli {
    fn with_store(dir: tempfile::TempDir, store_url: String) -> Cli {
        let flags = dir.path().join("flags.json");
        let evals = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("evals");
        let config = format!(
            "[evals]\ndir = \"{}\"\n\n[flags]\nsinks = [\"table\", \"file\"]\nfile = \"{}\"\nretry_backoff_ms = 1\n",
            evals.display(),
            flags.display()
        );
        std::fs::write(dir.path().join("evalgate.toml"), config).unwrap();
        Cli { dir, store_url }
    }

    fn sqlite() -> Cli {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("evalgate.db").display());
        Cli::with_store(dir, url)
    }

    async fn postgres() -> Option<Cli> {
        let server = crate::common::pg_server_url()?;
        let url = crate::common::fresh_pg_database(&server).await;
        Some(Cli::with_store(tempfile::tempdir().unwrap(), url))
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = crate::common::evalgate();
        command
            .current_dir(self.dir.path())
            .env_remove("NO_COLOR")
            .env("USER", "tester")
            .arg("--store")
            .arg(&self.store_url)
            .args(args);
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?} failed ({:?}):\n{}\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        let text = self.ok(args);
        serde_json::from_str(&text).unwrap_or_else(|err| panic!("{args:?}: {err}\n{text}"))
    }

    fn start(&self, id: &str) {
        self.ok(&[
            "rollout",
            "start",
            "--id",
            id,
            "--flag",
            id,
            "--baseline",
            "bot@v41",
            "--canary",
            "bot@v42",
            "--owner",
            "team-support",
            "--suite",
            "support",
        ]);
    }

    /// Runs `args` on a pseudo-terminal (util-linux `script`), its output with ANSI kept; None
    /// when `script` is not installed.
    fn on_tty(&self, args: &[&str]) -> Option<String> {
        let probe = Command::new("script").arg("--version").output();
        if !probe.is_ok_and(|out| out.status.success()) {
            eprintln!("skipping the terminal half: util-linux `script` is not installed");
            return None;
        }
        let quote = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
        let line: Vec<String> = [env!("CARGO_BIN_EXE_evalgate"), "--store", &self.store_url]
            .iter()
            .chain(args)
            .map(|s| quote(s))
            .collect();
        let out = Command::new("script")
            .args(["-qec", &line.join(" "), "/dev/null"])
            .current_dir(self.dir.path())
            .env_remove("NO_COLOR")
            .env("USER", "tester")
            .env("TERM", "xterm")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        Some(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    async fn store(&self) -> Store {
        Store::open(&self.store_url).await.unwrap()
    }

    /// Stores gate verdicts as a rollout's last decision: one promote-ready, one halt, one
    /// inconclusive.
    async fn set_verdicts(&self, id: &str) {
        use evalgate::domain::verdict::{
            Evidence, InconclusiveReason, MetricVerdict, Role, Verdict,
        };
        let verdict = |metric: &str, verdict| MetricVerdict {
            metric: metric.to_string(),
            promotion_authority: metric == "pass_rate",
            verdict,
            evidence: Evidence::default(),
        };
        let verdicts = vec![
            verdict(
                "pass_rate",
                Verdict::PromoteReady {
                    reason: "non-inferior".into(),
                },
            ),
            verdict(
                "error_rate",
                Verdict::Halt {
                    role: Role::Freeze,
                    reason: "errors doubled".into(),
                },
            ),
            verdict(
                "latency_p95",
                Verdict::Inconclusive {
                    reason: InconclusiveReason::TooFewSamples { have: 3, need: 30 },
                },
            ),
        ];
        let value = sqlx::types::Json(serde_json::to_value(verdicts).unwrap());
        let sql = "UPDATE rollouts SET last_evidence = $1 WHERE id = $2";
        match self.store().await {
            Store::Sqlite(pool) => {
                sqlx::query(sql)
                    .bind(value)
                    .bind(id)
                    .execute(&pool)
                    .await
                    .unwrap();
            }
            Store::Postgres(pool) => {
                sqlx::query(sql)
                    .bind(value)
                    .bind(id)
                    .execute(&pool)
                    .await
                    .unwrap();
            }
        };
    }
}

/// Runs one test body on SQLite and on PostgreSQL (skipped without `EVALGATE_TEST_PG_URL`).
macro_rules! both_backends {
    ($name:ident, $body:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$body(super::Cli::sqlite()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(cli) = super::Cli::postgres().await else {
                    return;
                };
                super::$body(cli).await;
            }
        }
    };
}

fn ids(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["id"].as_str().unwrap())
        .collect()
}

/// An RFC 3339 time to the second in UTC, as piped output prints it: `2026-12-07T11:58:26Z`.
fn rfc3339_in(text: &str) -> bool {
    text.split_whitespace().any(|word| {
        word.len() == 20
            && word.ends_with('Z')
            && chrono::DateTime::parse_from_rfc3339(word).is_ok()
    })
}

// ---- list ---------------------------------------------------------------------------------

async fn list_shows_finished_rollouts_and_filters_them(cli: Cli) {
    cli.start("live");
    cli.start("undone");
    cli.start("dead");
    cli.ok(&["rollout", "rollback", "undone", "--reason", "regressed"]);
    cli.ok(&["rollout", "kill", "dead"]);

    let all = cli.json(&["rollout", "list", "--json"]);
    assert_eq!(ids(&all), ["live", "undone", "dead"], "{all}");
    let undone = &all[1];
    assert_eq!(undone["phase"], "rolled_back");
    assert!(undone["finished_at"].is_string(), "{undone}");
    assert!(undone["next_decision_at"].is_null(), "{undone}");
    assert!(
        undone["in_stage"].is_null(),
        "a finished rollout is in no stage"
    );
    let live = &all[0];
    assert!(live["finished_at"].is_null());
    assert!(live["next_decision_at"].is_string());
    assert!(live["in_stage"].as_str().unwrap().ends_with('s'), "{live}");
    assert_eq!(live["min_duration"], "4h", "{live}");
    assert_eq!(live["stage"], "1/4 (1%)");
    assert_eq!(live["split_bp"], 100);
    // The same typed summaries as `GET /api/v1/rollouts`.
    let typed: Vec<RolloutSummary> = serde_json::from_value(all.clone()).expect("API summaries");
    assert_eq!(typed[0].stage_index, Some(0));
    assert!(typed[0].active && typed[1].finished_at.is_some(), "{all}");
    assert!(typed[1].phase_reason.is_some(), "{all}");

    let list = |extra: &[&str]| cli.json(&[&["rollout", "list", "--json"][..], extra].concat());
    assert_eq!(ids(&list(&["--active"])), ["live"]);
    assert_eq!(ids(&list(&["--finished"])), ["undone", "dead"]);
    assert_eq!(ids(&list(&["--phase", "rolled-back"])), ["undone"]);
    assert_eq!(ids(&list(&["--phase", "killed,running"])), ["live", "dead"]);
    assert_eq!(ids(&list(&["--flag", "dead"])), ["dead"]);
    assert_eq!(
        ids(&list(&["--finished", "--flag", "live"])),
        Vec::<&str>::new()
    );
    assert_eq!(
        cli.run(&["rollout", "list", "--active", "--finished"])
            .status
            .code(),
        Some(2),
        "--active and --finished exclude each other"
    );

    // Piped: a plain table, RFC 3339 times, finished rows say so.
    let table = cli.ok(&["rollout", "list"]);
    assert!(table.starts_with("ID "), "{table}");
    assert!(!table.contains('\x1b'), "no colour into a pipe: {table}");
    let undone_row = table.lines().find(|l| l.starts_with("undone")).unwrap();
    assert!(undone_row.contains("finished"), "{undone_row}");
    assert!(undone_row.contains("ended 20"), "{undone_row}");
    assert!(rfc3339_in(undone_row), "{undone_row}");
    let live_row = table.lines().find(|l| l.starts_with("live")).unwrap();
    assert!(
        live_row.contains("s of 4h") && live_row.contains("next 20"),
        "{live_row}"
    );
}
both_backends!(list_filters, list_shows_finished_rollouts_and_filters_them);

// ---- history ------------------------------------------------------------------------------

async fn history_is_the_audit_trail(cli: Cli) {
    cli.start("bot");
    cli.ok(&[
        "rollout",
        "halt",
        "bot",
        "--reason",
        "looks off",
        "--actor",
        "alice",
    ]);
    cli.ok(&["rollout", "resume", "bot", "--actor", "bob"]);
    cli.ok(&[
        "rollout", "promote", "bot", "--force", "--reason", "hotfix", "--actor", "carol",
    ]);

    let history = cli.json(&["rollout", "history", "bot", "--json"]);
    let rows = history.as_array().unwrap();
    let trail: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r["action"].as_str().unwrap(), r["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(
        trail,
        [
            ("start", "tester"),
            ("halt", "alice"),
            ("resume", "bob"),
            ("force_promote", "carol")
        ]
    );
    assert!(rows[1]["reason"].as_str().unwrap().contains("looks off"));
    assert_eq!(rows[3]["is_override"], true);
    for row in rows {
        let at = row["at"].as_str().unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(at).is_ok(), "{at}");
    }

    let table = cli.ok(&["rollout", "history", "bot"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("TIME") && lines[0].contains("REASON"),
        "{table}"
    );
    assert_eq!(lines.len(), 5, "{table}");
    assert!(
        lines[2].contains("alice") && lines[2].contains("looks off"),
        "{table}"
    );
    assert!(lines[4].contains("force_promote (override)"), "{table}");
    assert!(rfc3339_in(lines[1]), "{table}");

    let missing = cli.run(&["rollout", "history", "nope"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no rollout `nope`"));
}
both_backends!(history_trail, history_is_the_audit_trail);

// ---- retry --------------------------------------------------------------------------------

async fn retry_starts_a_new_attempt_of_a_rolled_back_or_killed_rollout(cli: Cli) {
    cli.start("bot");
    // A live rollout is refused, with a reason, and the refusal is audited.
    let live = cli.run(&["rollout", "retry", "bot", "--actor", "dave"]);
    assert_eq!(live.status.code(), Some(1), "{live:?}");
    let stderr = String::from_utf8_lossy(&live.stderr);
    assert!(stderr.contains("still live (running)"), "{stderr}");

    cli.ok(&["rollout", "rollback", "bot", "--reason", "regressed"]);
    let out = cli.json(&[
        "rollout",
        "retry",
        "bot",
        "--reason",
        "prompt fixed",
        "--actor",
        "carol",
        "--json",
    ]);
    assert_eq!(out["rollout_id"], "bot-attempt-2", "{out}");
    assert_eq!(out["retry_of"], "bot");
    assert_eq!(out["attempt"], 2);
    assert_eq!(out["flag_key"], "bot");
    assert_eq!(out["transition"]["after"]["phase"], "running");
    assert_eq!(out["transition"]["after"]["split_bp"], 100);

    let store = cli.store().await;
    let old = store.get_rollout("bot").await.unwrap().unwrap();
    let new = store.get_rollout("bot-attempt-2").await.unwrap().unwrap();
    assert_eq!(new.flag_key, old.flag_key);
    assert_eq!(new.plan, old.plan, "the same plan");
    assert_eq!(new.suite, old.suite);
    assert_eq!(new.owner, old.owner);
    assert_eq!(
        (new.baseline_target.as_str(), new.canary_target.as_str()),
        ("bot@v41", "bot@v42")
    );
    assert_eq!(
        store.get_split("bot").await.unwrap().unwrap().basis_points,
        100
    );

    let old_trail = store.list_rollout_events("bot").await.unwrap();
    let actions: Vec<(&str, &str)> = old_trail
        .iter()
        .map(|e| (e.action.as_str(), e.actor.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("start", "tester"),
            ("retry_rejected", "dave"),
            ("rollback", "tester"),
            ("retried", "carol")
        ]
    );
    assert_eq!(old_trail[3].reason, "prompt fixed");
    assert_eq!(old_trail[3].evidence["retried_as"], "bot-attempt-2");
    let new_trail = store.list_rollout_events("bot-attempt-2").await.unwrap();
    assert_eq!(new_trail[0].action, "retry");
    assert_eq!(new_trail[0].actor, "carol");
    assert_eq!(new_trail[0].evidence["retry_of"], "bot");
    assert_eq!(new_trail[1].action, "start");

    // The old rollout's sinks now hold the new attempt's split: that is no drift.
    let old_detail = cli.ok(&["rollout", "get", "bot"]);
    assert!(!old_detail.contains("DRIFT"), "{old_detail}");
    assert!(
        old_detail.contains("the flag is now rollout bot-attempt-2's"),
        "{old_detail}"
    );
    assert_eq!(
        cli.json(&["rollout", "status", "bot", "--json"])["superseded_by"],
        "bot-attempt-2"
    );

    // A killed attempt can be retried too: the next attempt number.
    cli.ok(&["rollout", "kill", "bot-attempt-2"]);
    let third = cli.ok(&["rollout", "retry", "bot-attempt-2"]);
    assert!(
        third.starts_with("rollout bot-attempt-3: attempt 3 of bot-attempt-2"),
        "{third}"
    );

    // A completed rollout is refused (exit 1), --json says why.
    cli.start("done");
    for _ in 0..6 {
        let status = cli.json(&["rollout", "status", "done", "--json"]);
        if status["phase"] == "completed" {
            break;
        }
        cli.ok(&["rollout", "promote", "done", "--force", "--reason", "ship"]);
    }
    let completed = cli.run(&["rollout", "retry", "done", "--json"]);
    assert_eq!(completed.status.code(), Some(1));
    let refusal: Value = serde_json::from_slice(&completed.stdout).unwrap();
    assert_eq!(refusal["kind"], "rejected");
    assert_eq!(refusal["phase"], "completed");
    assert!(
        refusal["reason"]
            .as_str()
            .unwrap()
            .contains("nothing to retry")
    );
}
both_backends!(
    retry_attempts,
    retry_starts_a_new_attempt_of_a_rolled_back_or_killed_rollout
);

/// Runs `args` with the `rollout_after_create` failpoint: the process aborts (like a kill -9)
/// after the rollout row is stored and before it is started.
fn crash_after_create(cli: &Cli, args: &[&str]) {
    let out = cli
        .command(args)
        .env("EVALGATE_FAILPOINT", "rollout_after_create")
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "{args:?} should have aborted: {out:?}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("failpoint rollout_after_create"),
        "{out:?}"
    );
}

async fn a_start_or_retry_killed_after_create_resumes_when_run_again(cli: Cli) {
    let start: Vec<&str> = vec![
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
        "--suite",
        "support",
    ];
    crash_after_create(&cli, &start);
    let store = cli.store().await;
    let pending = store.get_rollout("bot").await.unwrap().unwrap();
    assert_eq!(pending.phase.as_str(), "pending");
    // Other targets for the never-started id are refused, not silently started.
    let mut other = start.clone();
    other[9] = "bot@v43";
    let refused = cli.run(&other);
    assert!(!refused.status.success(), "{refused:?}");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("never started"),
        "{refused:?}"
    );
    // Run again: the same command starts the rollout it created (no "flag taken" refusal).
    cli.ok(&start);
    let status = cli.json(&["rollout", "status", "bot", "--json"]);
    assert_eq!(status["phase"], "running", "{status}");
    let starts = store.list_rollout_events("bot").await.unwrap();
    assert_eq!(
        starts.iter().filter(|e| e.action == "start").count(),
        1,
        "started once: {starts:?}"
    );
    cli.ok(&["rollout", "kill", "bot"]);

    cli.ok(&[
        "rollout",
        "start",
        "--id",
        "ship",
        "--flag",
        "ship",
        "--baseline",
        "bot@v41",
        "--canary",
        "bot@v42",
        "--suite",
        "support",
    ]);
    cli.ok(&["rollout", "rollback", "ship", "--reason", "regressed"]);
    let retry = [
        "rollout",
        "retry",
        "ship",
        "--reason",
        "prompt fixed",
        "--json",
    ];
    crash_after_create(&cli, &retry);
    // The attempt and both audit rows were written together.
    let attempt = store.get_rollout("ship-attempt-2").await.unwrap().unwrap();
    assert_eq!(attempt.phase.as_str(), "pending");
    let old_trail = store.list_rollout_events("ship").await.unwrap();
    assert_eq!(
        old_trail.iter().filter(|e| e.action == "retried").count(),
        1,
        "{old_trail:?}"
    );
    let new_trail = store.list_rollout_events("ship-attempt-2").await.unwrap();
    assert_eq!(new_trail.len(), 1, "{new_trail:?}");
    assert_eq!(new_trail[0].action, "retry");

    // Run again: the same attempt is started, no third one is made, nothing is audited twice.
    let out = cli.json(&retry);
    assert_eq!(out["rollout_id"], "ship-attempt-2", "{out}");
    assert_eq!(out["attempt"], 2);
    assert_eq!(out["reason"], "prompt fixed");
    assert_eq!(out["transition"]["after"]["phase"], "running");
    assert!(store.get_rollout("ship-attempt-3").await.unwrap().is_none());
    let old_trail = store.list_rollout_events("ship").await.unwrap();
    assert_eq!(
        old_trail.iter().filter(|e| e.action == "retried").count(),
        1,
        "{old_trail:?}"
    );
    let actions: Vec<String> = store
        .list_rollout_events("ship-attempt-2")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, ["retry", "start"]);
}
both_backends!(
    crash_after_create,
    a_start_or_retry_killed_after_create_resumes_when_run_again
);

// ---- --json on every command that changes something ---------------------------------------

async fn every_changing_command_prints_json(cli: Cli) {
    let start = cli.json(&[
        "rollout",
        "start",
        "--id",
        "bot",
        "--flag",
        "bot",
        "--baseline",
        "a@1",
        "--canary",
        "a@2",
        "--suite",
        "support",
        "--json",
    ]);
    assert_eq!(start["transition"]["kind"], "started", "{start}");

    let transition = |args: &[&str]| -> Value {
        let out = cli.run(&[args, &["--json"][..]].concat());
        let value: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|err| {
            panic!("{args:?}: {err}\n{}", String::from_utf8_lossy(&out.stdout))
        });
        assert_eq!(value["rollout_id"], "bot", "{value}");
        value
    };
    let halt = transition(&["rollout", "halt", "bot", "--reason", "look"]);
    assert_eq!(halt["kind"], "held");
    assert_eq!(halt["after"]["phase"], "held");
    let resume = transition(&["rollout", "resume", "bot"]);
    assert_eq!(resume["kind"], "resumed");
    let approve = transition(&["rollout", "approve", "bot"]);
    assert_eq!(
        approve["kind"], "rejected",
        "approve outside a review is refused"
    );
    let promote = transition(&["rollout", "promote", "bot", "--force", "--reason", "go"]);
    assert_eq!(promote["kind"], "force_promoted");
    assert_eq!(promote["after"]["split_bp"], 1000);
    let rollback = transition(&["rollout", "rollback", "bot", "--reason", "bad"]);
    assert_eq!(rollback["kind"], "rolled_back");
    assert!(
        rollback["sink_reports"].as_array().unwrap().len() >= 2,
        "{rollback}"
    );
    let retry = cli.json(&["rollout", "retry", "bot", "--json"]);
    assert_eq!(retry["transition"]["kind"], "started");
    let kill = cli.json(&["rollout", "kill", "bot-attempt-2", "--json"]);
    assert_eq!(kill["kind"], "killed");
    assert_eq!(kill["after"]["split_bp"], 0);
}
both_backends!(json_everywhere, every_changing_command_prints_json);

// ---- get, finished rollouts, --watch ------------------------------------------------------

async fn get_shows_a_finished_rollout_as_finished(cli: Cli) {
    cli.start("bot");
    let live = cli.ok(&["rollout", "get", "bot"]);
    assert!(live.contains("of minimum 4h (not met)"), "{live}");
    assert!(live.contains("next     20"), "{live}");
    assert!(live.contains("recent events (1 of 1"), "{live}");

    cli.ok(&["rollout", "rollback", "bot", "--reason", "regressed"]);
    let detail = cli.ok(&["rollout", "get", "bot"]);
    assert!(
        detail.contains("phase    rolled_back (rolled back by"),
        "{detail}"
    );
    let ended = detail.lines().find(|l| l.starts_with("ended    ")).unwrap();
    assert!(rfc3339_in(ended), "{ended}");
    for stale in ["in stage", "next     ", "deadline", "power    "] {
        assert!(
            !detail.contains(stale),
            "a finished rollout shows no `{stale}`:\n{detail}"
        );
    }
    let status = cli.ok(&["rollout", "status", "bot"]);
    assert!(
        !status.contains("in stage") && status.contains("ended    "),
        "{status}"
    );

    let json = cli.json(&["rollout", "get", "bot", "--json"]);
    assert!(json["clock"].is_null(), "{json}");
    assert!(json["next_decision_at"].is_null(), "{json}");
    assert!(json["finished_at"].is_string(), "{json}");
    assert_eq!(json["history"].as_array().unwrap().len(), 2, "{json}");
}
both_backends!(get_finished, get_shows_a_finished_rollout_as_finished);

async fn get_watch_prints_a_line_per_change_when_piped_and_ends_with_the_rollout(cli: Cli) {
    use std::io::BufRead as _;
    cli.start("bot");
    let mut watcher = cli
        .command(&[
            "rollout",
            "get",
            "bot",
            "--watch",
            "--interval",
            "1s",
            "--timeout",
            "120s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = watcher.stdout.take().unwrap();
    let (lines, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            if lines.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    let next = || received.recv_timeout(Duration::from_secs(60)).unwrap();
    let mut seen = vec![next()];
    cli.ok(&["rollout", "halt", "bot", "--reason", "look"]);
    seen.push(next());
    cli.ok(&["rollout", "rollback", "bot", "--reason", "regressed"]);
    seen.push(next());
    let status = tokio::task::spawn_blocking(move || watcher.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        status.code(),
        Some(1),
        "a rolled-back rollout ends the watch with 1"
    );
    seen.extend(received.try_iter());
    let text = seen.join("\n");
    assert!(!text.contains('\x1b'), "plain lines into a pipe: {text:?}");
    let phases: Vec<&str> = seen
        .iter()
        .map(|line| line.split_whitespace().nth(2).unwrap())
        .collect();
    assert_eq!(
        phases,
        ["running", "held", "rolled_back"],
        "one line per change:\n{text}"
    );
    assert!(seen.iter().all(|line| rfc3339_in(line)), "{text}");

    // A reader that leaves ends the watch at the next change, exit 0 (`--watch | head -1`).
    cli.start("headed");
    let mut watcher = cli
        .command(&["rollout", "get", "headed", "--watch", "--interval", "1s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut reader = std::io::BufReader::new(watcher.stdout.take().unwrap());
    let mut first = String::new();
    reader.read_line(&mut first).unwrap();
    assert!(first.contains("headed running"), "{first}");
    drop(reader);
    cli.ok(&["rollout", "halt", "headed", "--reason", "look"]);
    let started = std::time::Instant::now();
    let code = loop {
        if let Some(status) = watcher.try_wait().unwrap() {
            break status.code();
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the watch outlived its reader"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(code, Some(0));

    // Still running at --timeout: exit 4.
    cli.start("slow");
    let out = cli.run(&["rollout", "get", "slow", "--watch", "--timeout", "2s"]);
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
}
both_backends!(
    get_watch_piped,
    get_watch_prints_a_line_per_change_when_piped_and_ends_with_the_rollout
);

// ---- a terminal ---------------------------------------------------------------------------

async fn a_terminal_gets_relative_times_colour_and_a_redrawn_watch(cli: Cli) {
    cli.start("live");
    cli.start("gone");
    cli.ok(&[
        "rollout", "halt", "gone", "--reason", "look", "--actor", "alice",
    ]);
    cli.ok(&["rollout", "kill", "gone"]);
    let Some(list) = cli.on_tty(&["rollout", "list"]) else {
        return;
    };
    let live = list.lines().find(|l| l.starts_with("live")).unwrap();
    assert!(
        live.contains("next in 1"),
        "relative deadline on a terminal: {live:?}"
    );
    assert!(live.contains("\x1b[34m◌ running"), "{live:?}");
    let gone = list.lines().find(|l| l.starts_with("gone")).unwrap();
    assert!(
        gone.contains("ended now") || (gone.contains("ended ") && gone.contains(" ago")),
        "{gone:?}"
    );
    assert!(gone.contains("\x1b[31m✖ killed"), "{gone:?}");
    assert!(
        !rfc3339_in(&list),
        "no raw timestamps on a terminal: {list:?}"
    );

    let history = cli.on_tty(&["rollout", "history", "gone"]).unwrap();
    assert!(
        history
            .lines()
            .skip(1)
            .all(|l| l.trim().is_empty() || l.contains(" ago") || l.starts_with("now")),
        "{history:?}"
    );
    assert!(!rfc3339_in(&history), "{history:?}");

    // Each verdict with its colour and symbol on a terminal; the bare name when piped.
    cli.set_verdicts("live").await;
    let get = cli.on_tty(&["rollout", "get", "live"]).unwrap();
    for painted in [
        "\x1b[32m✔ promote_ready\x1b[0m",
        "\x1b[31m✖ halt\x1b[0m",
        "\x1b[33m… inconclusive\x1b[0m",
    ] {
        assert!(get.contains(painted), "no {painted:?} in {get:?}");
    }
    let piped = cli.ok(&["rollout", "get", "live"]);
    assert!(
        piped.contains(" halt ") && !piped.contains('✖') && !piped.contains('\x1b'),
        "{piped}"
    );

    let watch = cli
        .on_tty(&[
            "rollout",
            "get",
            "live",
            "--watch",
            "--interval",
            "1s",
            "--timeout",
            "3s",
        ])
        .unwrap();
    let redraws = watch.matches("\x1b[H\x1b[2J").count();
    assert!(
        redraws >= 2,
        "the watch redraws the screen ({redraws}): {watch:?}"
    );
    assert!(watch.contains("watching every 1s"), "{watch:?}");
    assert!(watch.contains("next     in 1"), "{watch:?}");

    // NO_COLOR keeps the relative times and symbols, drops the colour.
    let line = format!(
        "NO_COLOR=1 '{}' --store '{}' rollout list",
        env!("CARGO_BIN_EXE_evalgate"),
        cli.store_url
    );
    let out = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .current_dir(cli.dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let plain = String::from_utf8_lossy(&out.stdout);
    assert!(
        !plain.contains('\x1b') && plain.contains("✖ killed"),
        "{plain:?}"
    );
}
both_backends!(
    terminal,
    a_terminal_gets_relative_times_colour_and_a_redrawn_watch
);

// ---- completion ---------------------------------------------------------------------------

#[test]
fn completion_scripts_cover_every_command() {
    let run = |shell: &str| {
        crate::common::evalgate()
            .args(["completion", shell])
            .output()
            .unwrap()
    };
    for (shell, marker) in [
        ("bash", "_evalgate()"),
        ("zsh", "#compdef evalgate"),
        ("fish", "complete -c evalgate"),
        ("elvish", "edit:completion:arg-completer[evalgate]"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let out = run(shell);
        assert!(out.status.success(), "{shell}: {out:?}");
        let script = String::from_utf8(out.stdout).unwrap();
        assert!(script.contains(marker), "{shell}: no `{marker}`");
        for word in [
            "rollout",
            "list",
            "history",
            "retry",
            "--watch",
            "--finished",
        ] {
            assert!(script.contains(word), "{shell}: no `{word}`");
        }
    }
    assert_eq!(
        run("tcsh").status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );
}

// ---- --json on the other commands that write ----------------------------------------------

async fn migrate_synth_and_rescore_print_json(cli: Cli) {
    let migrate = cli.json(&["migrate", "--json"]);
    assert_eq!(migrate["migrated"], true);
    let backend = if cli.store_url.starts_with("sqlite") {
        "sqlite"
    } else {
        "postgres"
    };
    assert_eq!(migrate["backend"], backend);

    let synth = cli.json(&[
        "synth",
        "--seed",
        "4",
        "--duration",
        "30m",
        "--rpm",
        "20",
        "--start",
        "2026-11-01T00:00:00Z",
        "--rollout-id",
        "r1",
        "--into-store",
        "--json",
    ]);
    let generated = synth["generated"]["requests"].as_u64().unwrap();
    assert!(generated > 0, "{synth}");
    assert_eq!(synth["requests"]["inserted"], generated, "{synth}");

    let range = [
        "rescore",
        "--from",
        "2026-11-01T00:00:00Z",
        "--to",
        "2026-11-01T00:30:00Z",
        "--suite",
        "support",
        "--json",
    ];
    let dry = cli.json(&[&range[..], &["--dry-run"]].concat());
    assert_eq!(dry["dry_run"], true, "{dry}");
    assert!(dry["rescored"].is_null(), "{dry}");
    let total = dry["requests_total"].as_u64().unwrap();
    assert!(total > 0, "{dry}");
    let done = cli.json(&range);
    assert_eq!(done["rescored"]["requests"], total, "{done}");
    assert!(done["rescored"]["inserted"].as_u64().unwrap() > 0, "{done}");
}
both_backends!(json_writes, migrate_synth_and_rescore_print_json);

#[test]
fn the_readme_command_table_names_every_command() {
    use clap::CommandFactory as _;
    let readme =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .unwrap();
    let table: Vec<&str> = readme
        .lines()
        .filter(|line| line.starts_with("| `evalgate "))
        .collect();
    let command = evalgate::cli::Cli::command();
    for sub in command.get_subcommands() {
        let name = sub.get_name();
        if name == "help" {
            continue;
        }
        let prefix = format!("| `evalgate {name}");
        assert!(
            table.iter().any(|line| line.starts_with(&prefix)),
            "the README's command table has no row for `evalgate {name}`"
        );
        if name == "rollout" {
            for action in sub.get_subcommands().map(|a| a.get_name()) {
                if action == "help" {
                    continue;
                }
                assert!(
                    readme.contains(&format!("evalgate rollout {action} "))
                        || table
                            .iter()
                            .any(|line| line.contains(&format!("\\|{action}"))),
                    "the README does not show `evalgate rollout {action}`"
                );
            }
        }
    }
}
