//! `evalgate rollout …` and `evalgate drill` end to end: the binary on a SQLite store in a temp
//! dir with the table and file sinks; every action leaves an audit row, kill works from any
//! state, and a forced promotion is recorded as an override.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns unwrap too

use std::path::{Path, PathBuf};
use std::process::Output;

use evalgate::adapters::store::{RolloutEvent, Store};
use evalgate::domain::Arm;
use evalgate::logic::gates::series::OVERALL;
use serde_json::Value;

struct Cli {
    dir: tempfile::TempDir,
    store_url: String,
}

impl Cli {
    fn new() -> Cli {
        Cli::with_config("")
    }

    /// A CLI whose config file ends with `extra` (more sections).
    fn with_config(extra: &str) -> Cli {
        let dir = tempfile::tempdir().unwrap();
        let flags = dir.path().join("flags.json");
        // `rollout start` checks that the suite exists: point at the repository's suites.
        let evals = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("evals");
        let config = format!(
            "[evals]\ndir = \"{}\"\n\n[flags]\nsinks = [\"table\", \"file\"]\nfile = \"{}\"\nretry_backoff_ms = 1\n\n{extra}",
            evals.display(),
            flags.display()
        );
        std::fs::write(dir.path().join("evalgate.toml"), config).unwrap();
        let store_url = format!("sqlite://{}", dir.path().join("evalgate.db").display());
        Cli { dir, store_url }
    }

    fn run(&self, args: &[&str]) -> Output {
        crate::common::evalgate()
            .current_dir(self.dir.path())
            .env("USER", "tester")
            .arg("--store")
            .arg(&self.store_url)
            .args(args)
            .output()
            .unwrap()
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

    fn start(&self, id: &str) {
        self.start_output(id);
    }

    /// `rollout start` of a bot@v41 → bot@v42 rollout on the support suite; its stdout.
    fn start_output(&self, id: &str) -> String {
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
        ])
    }

    fn status(&self, id: &str) -> Value {
        serde_json::from_str(&self.ok(&["rollout", "status", id, "--json"])).unwrap()
    }

    fn flags_file(&self) -> PathBuf {
        self.dir.path().join("flags.json")
    }

    async fn events(&self, id: &str) -> Vec<RolloutEvent> {
        let store = Store::open(&self.store_url).await.unwrap();
        store.list_rollout_events(id).await.unwrap()
    }
}

fn file_split(path: &Path, flag: &str) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    let value: Value = serde_json::from_str(&text).unwrap();
    value["flags"][flag]["basis_points"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_status_halt_resume_rollback_are_all_audited() {
    let cli = Cli::new();
    cli.start("bot");
    let status = cli.status("bot");
    assert_eq!(status["phase"], "running");
    assert_eq!(status["split_bp"], 100);
    assert_eq!(status["stage"], "1/4 (1%)");
    assert_eq!(status["clock"]["min_duration"], "4h");
    assert!(status["next_decision_at"].is_string());
    // `status --json` carries the same summary as `rollout list --json` (one type, flattened).
    let list: Value = serde_json::from_str(&cli.ok(&["rollout", "list", "--json"])).unwrap();
    let listed = list
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["id"] == status["id"])
        .unwrap();
    for key in listed.as_object().unwrap().keys() {
        let same = match key.as_str() {
            // Measured at each command's own `now`.
            "in_stage" => status[key].is_string(),
            _ => status[key] == listed[key],
        };
        assert!(
            same,
            "{key}: status {} vs list {}",
            status[key], listed[key]
        );
    }
    assert!(
        status["sinks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["in_sync"] == true)
    );
    assert_eq!(file_split(&cli.flags_file(), "bot"), 100);

    let table = cli.ok(&["rollout", "status", "bot"]);
    assert!(
        table.contains("stage    1/4 (1%)  split 100 bp (1.00%)"),
        "{table}"
    );
    assert!(table.contains("of minimum 4h (not met)"), "{table}");
    assert!(
        table.contains("sink     file   100 bp gen 1  in sync"),
        "{table}"
    );

    cli.ok(&[
        "rollout",
        "halt",
        "bot",
        "--reason",
        "looks off",
        "--actor",
        "alice",
    ]);
    assert_eq!(cli.status("bot")["phase"], "held");
    assert_eq!(
        file_split(&cli.flags_file(), "bot"),
        100,
        "halt freezes the split"
    );

    let resume_twice = cli.run(&["rollout", "halt", "bot", "--reason", "again"]);
    assert_eq!(
        resume_twice.status.code(),
        Some(1),
        "a rejected command exits 1"
    );

    cli.ok(&["rollout", "resume", "bot", "--actor", "alice"]);
    assert_eq!(cli.status("bot")["phase"], "running");
    cli.ok(&[
        "rollout",
        "rollback",
        "bot",
        "--reason",
        "bad refunds",
        "--actor",
        "bob",
    ]);
    let status = cli.status("bot");
    assert_eq!(status["phase"], "rolled_back");
    assert_eq!(status["split_bp"], 0);
    assert_eq!(file_split(&cli.flags_file(), "bot"), 0);

    let missing_reason = cli.run(&["rollout", "rollback", "bot"]);
    assert_eq!(missing_reason.status.code(), Some(2));

    let events = cli.events("bot").await;
    let trail: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e.action.as_str(), e.actor.as_str()))
        .collect();
    assert_eq!(
        trail,
        vec![
            ("start", "tester"),
            ("halt", "alice"),
            ("halt_rejected", "tester"),
            ("resume", "alice"),
            ("rollback", "bob"),
        ]
    );
    let rollback = &events[4];
    assert!(rollback.reason.contains("bad refunds"));
    assert_eq!(rollback.before["split_bp"], 100);
    assert_eq!(rollback.after["split_bp"], 0);
    assert!(events.iter().all(|e| !e.is_override));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_works_from_any_state() {
    let cli = Cli::new();
    // running
    cli.start("a");
    cli.ok(&["rollout", "kill", "a", "--actor", "ops"]);
    // held
    cli.start("b");
    cli.ok(&["rollout", "halt", "b", "--reason", "x"]);
    cli.ok(&["rollout", "kill", "b", "--actor", "ops"]);
    // rolled back (terminal): kill re-asserts 0%
    cli.start("c");
    cli.ok(&["rollout", "rollback", "c", "--reason", "x"]);
    cli.ok(&[
        "rollout", "kill", "c", "--actor", "ops", "--reason", "be sure",
    ]);
    for id in ["a", "b"] {
        let status = cli.status(id);
        assert_eq!(status["phase"], "killed", "{id}");
        assert_eq!(status["split_bp"], 0);
        assert_eq!(file_split(&cli.flags_file(), id), 0);
        let events = cli.events(id).await;
        let last = events.last().unwrap();
        assert_eq!(last.action, "kill");
        assert_eq!(last.actor, "ops");
    }
    assert_eq!(cli.status("c")["split_bp"], 0);
    assert_eq!(cli.events("c").await.last().unwrap().action, "kill");
    let active: Value = serde_json::from_str(&cli.ok(&["rollout", "status", "--json"])).unwrap();
    assert_eq!(
        active.as_array().unwrap().len(),
        0,
        "killed rollouts are not active"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn force_promote_is_recorded_as_an_override() {
    let cli = Cli::new();
    cli.start("bot");
    let refused = cli.run(&["rollout", "promote", "bot", "--reason", "trust me"]);
    assert_eq!(refused.status.code(), Some(2), "--force is required");
    cli.ok(&[
        "rollout",
        "promote",
        "bot",
        "--force",
        "--reason",
        "exec demo",
        "--actor",
        "vp",
    ]);
    let status = cli.status("bot");
    assert_eq!(status["split_bp"], 1000);
    assert_eq!(file_split(&cli.flags_file(), "bot"), 1000);
    let events = cli.events("bot").await;
    let promote = events.last().unwrap();
    assert_eq!(promote.action, "force_promote");
    assert_eq!(promote.actor, "vp");
    assert!(promote.is_override);
    assert!(promote.reason.contains("exec demo"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_rollout_on_the_same_flag_is_refused() {
    let cli = Cli::new();
    cli.start("bot");
    let out = cli.run(&[
        "rollout",
        "start",
        "--id",
        "bot-2",
        "--flag",
        "bot",
        "--baseline",
        "a",
        "--canary",
        "b",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already active"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_explains_when_there_are_no_scores() {
    let cli = Cli::new();
    cli.start("bot");
    let markdown = cli.ok(&["rollout", "review", "bot"]);
    assert!(
        markdown.starts_with("# Review of rollout `bot`"),
        "{markdown}"
    );
    assert!(
        markdown.contains("## Failed canary responses (0)"),
        "{markdown}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_passes_then_fails_on_drift_with_exit_1() {
    let cli = Cli::new();
    cli.start("bot");
    let report: Value = serde_json::from_str(&cli.ok(&["drill", "--json"])).unwrap();
    assert_eq!(report["ok"], true);
    assert_eq!(report["flag_key"], "evalgate-drill");
    assert_eq!(report["sinks"].as_array().unwrap().len(), 2);

    // Someone edits the gateway's file by hand.
    let text = std::fs::read_to_string(cli.flags_file()).unwrap();
    let mut value: Value = serde_json::from_str(&text).unwrap();
    value["flags"]["bot"]["basis_points"] = 5000.into();
    std::fs::write(cli.flags_file(), value.to_string()).unwrap();
    let out = cli.run(&["drill"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("DRIFT rollout bot flag bot sink file"),
        "{text}"
    );
    assert!(
        text.contains("holds 5000 bp, controller holds 100 bp"),
        "{text}"
    );
}

#[allow(clippy::disallowed_methods)] // `rollout start` stamps the real time, so the traffic must follow it
fn wall_clock() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

/// One flat JSONL request row `seconds` after `start`.
fn log_line(
    id: &str,
    start: chrono::DateTime<chrono::Utc>,
    seconds: i64,
    arm: &str,
    model: &str,
    rollout_id: Option<&str>,
) -> String {
    let mut row = serde_json::json!({
        "request_id": id,
        "ts": (start + chrono::Duration::seconds(seconds)).to_rfc3339(),
        "tenant_id": format!("tenant-{id}"),
        "arm": arm,
        "model": model,
        "input": "How do I reset my password?",
        "output": "Go to Settings > Security and choose Reset password.",
        "latency_ms": 500,
    });
    if let Some(rollout_id) = rollout_id {
        row["rollout_id"] = rollout_id.into();
    }
    row.to_string()
}

impl Cli {
    /// Ingests `lines` as one JSONL file.
    fn ingest(&self, lines: &[String]) {
        let path = self.dir.path().join("logs.jsonl");
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        self.ok(&["ingest", path.to_str().unwrap()]);
    }
}

/// A tick at `at` reads `[at − 20 min, at − 5 min)` (default window and readiness delay).
fn tick_at_for_window_from(start: chrono::DateTime<chrono::Utc>) -> String {
    (start + chrono::Duration::minutes(20)).to_rfc3339()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_without_a_rollout_id_are_sampled_by_model_and_foreign_ones_are_named() {
    let cli = Cli::new();
    cli.start("bot");
    let start = wall_clock();
    let mut lines = Vec::new();
    for index in 0..30 {
        lines.push(log_line(
            &format!("b{index}"),
            start,
            10 + index,
            "baseline",
            "bot@v41",
            None,
        ));
        lines.push(log_line(
            &format!("c{index}"),
            start,
            10 + index,
            "canary",
            "bot@v42",
            None,
        ));
    }
    for index in 0..12 {
        let id = format!("old{index}");
        lines.push(log_line(
            &id,
            start,
            60 + index,
            "canary",
            "support-bot@v40",
            Some("r-old"),
        ));
    }
    for index in 0..3 {
        lines.push(log_line(
            &format!("x{index}"),
            start,
            90 + index,
            "baseline",
            "gpt-x",
            None,
        ));
    }
    cli.ingest(&lines);
    let at = tick_at_for_window_from(start);

    let tick = cli.ok(&["tick", "--at", &at]);
    assert!(tick.contains("sampled canary 30 / baseline 30"), "{tick}");
    assert!(
        tick.contains("hint: 15 requests in the window not attributed to this rollout"),
        "{tick}"
    );
    assert!(
        tick.contains("12 × model support-bot@v40 (rollout_id r-old)"),
        "{tick}"
    );
    assert!(tick.contains("3 × model gpt-x (no rollout_id)"), "{tick}");

    let text = cli.ok(&["rollout", "status", "bot"]);
    assert!(
        text.contains("traffic  15 requests in the window not attributed to this rollout"),
        "{text}"
    );
    assert!(
        text.contains("12 × model support-bot@v40 (rollout_id r-old)"),
        "{text}"
    );
    assert!(text.contains("sampled canary 30 / baseline 30"), "{text}");
    assert!(text.contains("its rollout_id is `bot`"), "{text}");

    let sample: Value =
        serde_json::from_str(&cli.ok(&["sample", "--at", &at, "--rollout", "bot", "--json"]))
            .unwrap();
    let selected: Vec<usize> = sample["arms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|arm| arm["selected"].as_array().unwrap().len())
        .collect();
    assert_eq!(
        selected,
        [30, 30],
        "`sample --rollout` picks what the tick picked"
    );
    let again: Value = serde_json::from_str(&cli.ok(&["tick", "--at", &at, "--json"])).unwrap();
    let detail = &again["rollouts"][0]["detail"];
    assert_eq!(detail["unattributed"]["canary"], 12, "{again}");
    assert_eq!(detail["unattributed"]["baseline"], 3, "{again}");
    assert!(
        detail["attribution_hint"]
            .as_str()
            .unwrap()
            .contains("(rollout_id r-old)"),
        "{again}"
    );

    let status = cli.status("bot");
    let window = &status["latest_window"];
    assert_eq!(window["sampled"], serde_json::json!([30, 30]), "{status}");
    assert_eq!(window["unattributed"]["baseline"], 3);
    assert_eq!(window["unattributed"]["canary"], 12);
    assert_eq!(window["unattributed"]["top"][0]["model"], "support-bot@v40");
    assert_eq!(window["unattributed"]["top"][0]["rollout_id"], "r-old");
    assert_eq!(window["unattributed"]["top"][0]["count"], 12);
    assert!(
        window["hint"].as_str().unwrap().contains("r-old"),
        "{status}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_logged_under_another_rollout_id_samples_nothing_and_says_why() {
    let cli = Cli::new();
    cli.start("bot");
    let start = wall_clock();
    let mut lines = Vec::new();
    for index in 0..20 {
        let id = format!("old{index}");
        let arm = if index % 2 == 0 { "baseline" } else { "canary" };
        lines.push(log_line(
            &id,
            start,
            10 + index,
            arm,
            "bot@v42",
            Some("r-old"),
        ));
    }
    cli.ingest(&lines);
    let at = tick_at_for_window_from(start);

    let tick = cli.ok(&["tick", "--at", &at]);
    assert!(tick.contains("sampled canary 0 / baseline 0"), "{tick}");
    assert!(
        tick.contains("hint: 20 requests in the window not attributed to this rollout"),
        "{tick}"
    );
    assert!(
        tick.contains("20 × model bot@v42 (rollout_id r-old)"),
        "{tick}"
    );
    let text = cli.ok(&["rollout", "status", "bot"]);
    assert!(text.contains("sampled canary 0 / baseline 0"), "{text}");
    assert!(
        text.contains("20 × model bot@v42 (rollout_id r-old)"),
        "{text}"
    );

    // A stored tick report that does not decode is reported, not shown as "nothing sampled".
    let pool = sqlx::SqlitePool::connect(&cli.store_url).await.unwrap();
    sqlx::query("UPDATE ticks SET report = '{\"sampled\": \"many\"}' WHERE rollout_id = 'bot'")
        .execute(&pool)
        .await
        .unwrap();
    let out = cli.run(&["rollout", "status", "bot"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ticks.report of rollout bot") && stderr.contains("bad stored tick report"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_has_no_traffic_hint_before_the_first_tick() {
    let cli = Cli::new();
    cli.start("bot");
    assert!(cli.status("bot")["latest_window"].is_null());
    assert!(!cli.ok(&["rollout", "status", "bot"]).contains("traffic  "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rescore_counts_untagged_rows_in_the_series_of_the_rollout_they_belong_to() {
    let cli = Cli::new();
    cli.start("bot");
    let start = wall_clock();
    let mut lines = Vec::new();
    for index in 0..10 {
        lines.push(log_line(
            &format!("b{index}"),
            start,
            10 + index,
            "baseline",
            "bot@v41",
            None,
        ));
        lines.push(log_line(
            &format!("c{index}"),
            start,
            10 + index,
            "canary",
            "bot@v42",
            None,
        ));
        let id = format!("old{index}");
        lines.push(log_line(
            &id,
            start,
            10 + index,
            "canary",
            "bot@v42",
            Some("r-old"),
        ));
        lines.push(log_line(
            &format!("x{index}"),
            start,
            10 + index,
            "canary",
            "gpt-x",
            None,
        ));
    }
    cli.ingest(&lines);
    let from = (start - chrono::Duration::minutes(1)).to_rfc3339();
    let to = (start + chrono::Duration::minutes(10)).to_rfc3339();
    let out = cli.ok(&[
        "rescore", "--from", &from, "--to", &to, "--suite", "support",
    ]);
    assert!(out.contains("rescored 40 requests"), "{out}");
    let store = Store::open(&cli.store_url).await.unwrap();
    let scored = |rows: &[evalgate::adapters::store::PassRateRow], arm: Arm| -> u64 {
        rows.iter()
            .filter(|row| row.point.arm == arm && row.point.evaluator == OVERALL)
            .map(|row| row.point.n + row.point.unscorable)
            .sum()
    };
    let bot = store.pass_rate_series("bot").await.unwrap();
    assert_eq!(
        scored(&bot, Arm::Baseline),
        10,
        "untagged bot@v41 baseline rows"
    );
    assert_eq!(
        scored(&bot, Arm::Canary),
        10,
        "untagged bot@v42 canary rows only"
    );
    let old = store.pass_rate_series("r-old").await.unwrap();
    assert_eq!(
        scored(&old, Arm::Canary),
        10,
        "a tagged row counts for its own id"
    );

    let only_bot = cli.ok(&[
        "rescore",
        "--from",
        &from,
        "--to",
        &to,
        "--suite",
        "support",
        "--rollout",
        "bot",
    ]);
    assert!(only_bot.contains("rescored 20 requests"), "{only_bot}");
}

/// A support-suite row: the baseline answers well-formed JSON about the right order, the canary
/// refuses (fails `is-json`, `not-is-refusal` and the order id).
fn support_line(
    id: &str,
    start: chrono::DateTime<chrono::Utc>,
    seconds: i64,
    canary: bool,
) -> String {
    let (arm, model, output) = if canary {
        (
            "canary",
            "bot@v42",
            "I'm sorry, but I can't help with that request.".to_string(),
        )
    } else {
        (
            "baseline",
            "bot@v41",
            r#"{"order_id":"A-1","status":"shipped","answer":"It ships today."}"#.to_string(),
        )
    };
    serde_json::json!({
        "request_id": id,
        "ts": (start + chrono::Duration::seconds(seconds)).to_rfc3339(),
        "tenant_id": format!("tenant-{id}"),
        "arm": arm,
        "model": model,
        "input": "Where is my order A-1?",
        "output": output,
        "reference": "A-1",
        "latency_ms": 500,
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_rollout_records_each_halt_once_not_on_every_tick() {
    // The suite pass rate freezes instead of rolling back, so the rollout is held and ticks go on.
    let cli = Cli::with_config("[gates.metrics.pass_rate]\nrole = \"freeze\"\n");
    cli.start("bot");
    let start = wall_clock();
    let mut lines = Vec::new();
    for window in 0..3i64 {
        for index in 0..40i64 {
            let at = window * 900 + 10 + index;
            lines.push(support_line(
                &format!("b{window}-{index}"),
                start,
                at,
                false,
            ));
            lines.push(support_line(&format!("c{window}-{index}"), start, at, true));
        }
    }
    cli.ingest(&lines);
    for window in 0..5i64 {
        let at = (start + chrono::Duration::minutes(20 + 15 * window)).to_rfc3339();
        cli.ok(&["tick", "--at", &at]);
    }
    let status = cli.status("bot");
    assert_eq!(status["phase"], "held", "{status}");
    let halts = status["halt_signals"].as_array().unwrap();
    let metrics: Vec<&str> = halts
        .iter()
        .map(|h| h["metric"].as_str().unwrap())
        .collect();
    // The refusals fail `no_refusal` and `right_order_id` on the canary only (the suite verdict
    // fails on both arms, the baseline's answer missing fields the schema requires).
    assert!(
        metrics.contains(&"pass_rate:support/no_refusal"),
        "{metrics:?}"
    );
    let mut unique = metrics.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(
        unique.len(),
        metrics.len(),
        "five ticks of a held rollout, each halt recorded once: {metrics:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_and_status_say_what_each_stage_can_detect() {
    let cli = Cli::new();
    let out = cli.start_output("bot");
    // The default plan at N = 50: every stage detects a drop smaller than the margin's 20%.
    for stage in ["1/4 (1%)", "2/4 (10%)", "3/4 (50%)", "4/4 (100%)"] {
        assert!(
            out.contains(&format!("power stage {stage}: detects a ")),
            "{out}"
        );
    }
    assert!(!out.contains("WARNING"), "{out}");
    let status = cli.status("bot");
    let power = status["power"].as_array().unwrap();
    assert_eq!(power.len(), 4, "{status}");
    let drop = power[0]["min_detectable_drop"].as_f64().unwrap();
    assert!(drop > 0.0 && drop < 0.2, "{status}");

    // N = 5 per tick cannot see a 20% drop in the first stage: the start warns.
    let thin = Cli::with_config("[sampling]\nn_per_arm = 5\n");
    let out = thin.start_output("bot");
    assert!(
        out.contains("power stage 1/4 (1%)") && out.contains("WARNING"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_wait_exits_with_how_the_rollout_ended() {
    let cli = Cli::new();
    let wait = |id: &str, extra: &[&str]| {
        cli.run(&[&["rollout", "status", id, "--wait"][..], extra].concat())
    };

    cli.start("moving");
    let out = wait("moving", &["--timeout", "2s"]);
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("timed out: rollout moving is still running"),
        "{stderr}"
    );

    cli.start("held");
    cli.ok(&["rollout", "halt", "held", "--reason", "look at it"]);
    assert_eq!(wait("held", &[]).status.code(), Some(3));

    cli.start("bad");
    cli.ok(&["rollout", "rollback", "bad", "--reason", "regressed"]);
    let out = wait("bad", &["--json"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["phase"], "rolled_back");

    cli.start("good");
    for _ in 0..6 {
        if cli.status("good")["phase"] == "completed" {
            break;
        }
        cli.ok(&[
            "rollout", "promote", "good", "--force", "--reason", "ship it",
        ]);
    }
    assert_eq!(wait("good", &["--timeout", "1m"]).status.code(), Some(0));

    // --wait needs an id.
    assert_eq!(
        cli.run(&["rollout", "status", "--wait"]).status.code(),
        Some(2)
    );
}
