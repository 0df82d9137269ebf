//! The fault-injection suite (issue 10): one test per way a gate could silently stop gating,
//! each driving the real binary — failpoints that abort or pause it at a named step, SIGKILL,
//! two processes at once, a webhook that answers 503, damaged stored rows. Tests that name a
//! backend run on SQLite and, when `EVALGATE_TEST_PG_URL` is set (CI), on PostgreSQL too.

mod rig;
mod serve_faults;

use std::time::{Duration, Instant};

use self::rig::{Backend, Rig, both};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A plan whose first stage can promote once its gates are green (min 0s) at the synthetic
/// traffic's 30% canary share, and whose second stage has no minimum either: a redone promotion
/// would promote again at once.
const FAST_PLAN: &str = r#"[[stages]]
name = "30%"
canary_basis_points = 3000
min_duration = "0s"
max_duration = "8h"

[[stages]]
name = "50%"
canary_basis_points = 5000
min_duration = "0s"
max_duration = "8h"

[[stages]]
name = "100%"
canary_basis_points = 10000
min_duration = "1h"
max_duration = "8h"
monitoring = true
"#;

async fn rig_with(backend: Backend, extra: &str) -> Option<Rig> {
    let rig = Rig::new(backend, extra).await?;
    rig.synth(None);
    Some(rig)
}

// 1. A failed rollout tick is counted, kept visible, and after `fail_safe_after` windows the
//    rollout is held and the owner paged.
async fn failing_ticks_are_counted_and_fail_safe(backend: Backend) {
    let webhook = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&webhook)
        .await;
    let extra = format!(
        "[notify]\nwebhook = \"{}/hook\"\n\n[rollout]\nfail_safe_after = 3\n",
        webhook.uri()
    );
    let Some(rig) = rig_with(backend, &extra).await else {
        return;
    };
    let out = rig.start(&[]);
    assert!(out.status.success(), "{}", both(&out));
    // The suite goes away after the start (a bad deploy of evals/).
    std::fs::remove_file(rig.evals.join("support.yaml")).unwrap();

    let first = rig.run(&["tick", "--at", &rig.tick_at(1)]);
    assert_eq!(first.status.code(), Some(1), "{}", both(&first));
    assert!(
        String::from_utf8_lossy(&first.stdout).contains("not loaded"),
        "{}",
        both(&first)
    );
    let failed = "SELECT failed_windows FROM rollouts WHERE id = $1";
    assert_eq!(rig.scalar(failed, "r1").await, 1);
    // A retry of the same window does not count it twice.
    let retry = rig.run(&["tick", "--at", &rig.tick_at(1)]);
    assert_eq!(retry.status.code(), Some(1));
    assert_eq!(rig.scalar(failed, "r1").await, 1);
    let status = rig.ok(&["rollout", "status", "r1"]);
    assert!(status.contains("FAILING: 1 consecutive"), "{status}");
    assert!(status.contains("not loaded"), "{status}");

    rig.run(&["tick", "--at", &rig.tick_at(2)]);
    assert_eq!(rig.scalar(failed, "r1").await, 2);
    assert_eq!(
        rig.text("SELECT phase FROM rollouts WHERE id = $1", "r1")
            .await
            .as_deref(),
        Some("running")
    );
    let third = rig.run(&["tick", "--at", &rig.tick_at(3)]);
    assert_eq!(third.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&third.stdout).contains("FAIL-SAFE"),
        "{}",
        both(&third)
    );
    assert_eq!(
        rig.text("SELECT phase FROM rollouts WHERE id = $1", "r1")
            .await
            .as_deref(),
        Some("held"),
        "three failed windows hold the rollout"
    );
    assert_eq!(
        rig.table_split().await,
        100,
        "held at the current split (1%)"
    );
    let events = rig.store.list_rollout_events("r1").await.unwrap();
    let halt = events
        .iter()
        .find(|event| event.action == "halt")
        .expect("the fail-safe is audited");
    assert!(
        halt.reason.contains("3 consecutive windows"),
        "{}",
        halt.reason
    );
    // The owner was paged, critically.
    let pages: Vec<serde_json::Value> = webhook
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|request| serde_json::from_slice(&request.body).unwrap())
        .collect();
    assert!(
        pages
            .iter()
            .any(|page| page["severity"] == "critical" && page["transition"]["event"] == "held"),
        "{pages:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_ticks_are_counted_and_fail_safe_sqlite() {
    failing_ticks_are_counted_and_fail_safe(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_ticks_are_counted_and_fail_safe_postgres() {
    failing_ticks_are_counted_and_fail_safe(Backend::Postgres).await;
}

// 2. `rollout start` with a suite that does not exist writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_start_with_an_unknown_suite_writes_no_split() {
    let rig = Rig::new(Backend::Sqlite, "").await.unwrap();
    let out = rig.run(&[
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
        "nosuch",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", both(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("`nosuch`"), "{stderr}");
    assert!(
        stderr.contains("support"),
        "lists the suites found: {stderr}"
    );
    assert_eq!(
        rig.scalar(
            "SELECT COUNT(*) FROM traffic_splits WHERE flag_key <> $1",
            ""
        )
        .await,
        0
    );
    assert_eq!(
        rig.scalar("SELECT COUNT(*) FROM rollouts WHERE id = $1", "r1")
            .await,
        0
    );
    assert!(!rig.dir.path().join("flags.json").exists());
}

// 3. Two ticks of one rollout for different windows at once: they run one at a time, in window
//    order; a tick that cannot run says so (exit 1) and no window's evidence is lost silently.
async fn concurrent_ticks_keep_every_window(backend: Backend) {
    let Some(rig) = rig_with(backend, "").await else {
        return;
    };
    let out = rig.start(&["--plan", &rig.plan(FAST_PLAN)]);
    assert!(out.status.success(), "{}", both(&out));
    let slow = "tick_after_scoring=sleep:1500";
    let mut outcomes = Vec::new();
    // W2 starts first and is slow; W1 comes while it runs: it waits, then is refused as older.
    // W3 starts first and is slow; W4 comes while it runs: it waits, then runs after it.
    for (first, second) in [(2, 1), (3, 4)] {
        let first_at = rig.tick_at(first);
        let second_at = rig.tick_at(second);
        let mut a = rig.spawn(
            &format!("tick{first}"),
            &["tick", "--at", &first_at],
            &[("EVALGATE_FAILPOINT", slow)],
        );
        std::thread::sleep(Duration::from_millis(400));
        let b = rig.run(&["tick", "--at", &second_at]);
        let a_status = a.0.wait().unwrap();
        outcomes.push((
            first,
            a_status.success(),
            rig.stderr_of(&format!("tick{first}")),
        ));
        outcomes.push((
            second,
            b.status.success(),
            String::from_utf8_lossy(&b.stdout).into_owned(),
        ));
    }
    let by_window = |k: i64| outcomes.iter().find(|(w, _, _)| *w == k).unwrap();
    assert!(
        by_window(2).1 && by_window(3).1 && by_window(4).1,
        "{outcomes:#?}"
    );
    let refused = by_window(1);
    assert!(!refused.1, "{outcomes:#?}");
    assert!(
        refused.2.contains("older than its newest gated window"),
        "{}",
        refused.2
    );

    let done = rig
        .scalar(
            "SELECT COUNT(*) FROM ticks WHERE rollout_id = $1 AND status = 'done'",
            "r1",
        )
        .await;
    assert_eq!(done, 3, "{outcomes:#?}");
    assert_eq!(
        rig.pass_rate_ticks().await,
        done,
        "the gates absorbed every window that ran, once"
    );
    let stray = rig
        .scalar(
            "SELECT COUNT(*) FROM ticks WHERE rollout_id = $1 AND status <> 'done'",
            "r1",
        )
        .await;
    assert_eq!(stray, 0, "the refused window left no half-done tick");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_ticks_keep_every_window_sqlite() {
    concurrent_ticks_keep_every_window(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_ticks_keep_every_window_postgres() {
    concurrent_ticks_keep_every_window(Backend::Postgres).await;
}

// 4. A crash right after the controller committed a promotion, then a rerun of the same window:
//    one promotion, not two.
async fn a_redone_promotion_never_promotes_twice(backend: Backend) {
    let Some(rig) = rig_with(backend, "").await else {
        return;
    };
    let out = rig.start(&["--plan", &rig.plan(FAST_PLAN)]);
    assert!(out.status.success(), "{}", both(&out));
    let mut promoted_at = None;
    for k in 1..=14 {
        let at = rig.tick_at(k);
        let crashed = rig.run_with_failpoint(&["tick", "--at", &at], "tick_after_control");
        assert!(!crashed.status.success(), "the failpoint aborts the tick");
        let rerun = rig.run(&["tick", "--at", &at]);
        assert!(rerun.status.success(), "{}", both(&rerun));
        let text = String::from_utf8_lossy(&rerun.stdout);
        assert!(text.contains("already done"), "window {k}: {text}");
        let actions = rig.actions().await;
        if actions.iter().any(|action| action == "promote") {
            promoted_at = Some(k);
            break;
        }
    }
    let k = promoted_at.expect("the healthy canary promoted within 14 windows");
    let actions = rig.actions().await;
    let promotions = actions.iter().filter(|action| *action == "promote").count();
    assert_eq!(promotions, 1, "window {k}: {actions:?}");
    assert_eq!(
        rig.table_split().await,
        5000,
        "at the second stage, not past it"
    );
    let last_window = rig
        .text(
            "SELECT CAST(last_window AS TEXT) FROM rollouts WHERE id = $1",
            "r1",
        )
        .await;
    assert!(last_window.is_some(), "the decided window is recorded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redone_promotion_never_promotes_twice_sqlite() {
    a_redone_promotion_never_promotes_twice(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redone_promotion_never_promotes_twice_postgres() {
    a_redone_promotion_never_promotes_twice(Backend::Postgres).await;
}

// 5. A webhook answering 503 and a kill -9 during the retries: the notification stays in the
//    outbox and is delivered later, once, with the same id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_survives_a_kill_during_its_retries() {
    let webhook = MockServer::start().await;
    let extra = format!(
        "[notify]\nwebhook = \"{}/hook\"\ntimeout = \"1s\"\nretries = 3\nretry_backoff_ms = 700\n",
        webhook.uri()
    );
    let rig = rig_with(Backend::Sqlite, &extra).await.unwrap();
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&webhook)
        .await;
    let out = rig.start(&[]);
    assert!(out.status.success(), "{}", both(&out));
    webhook.reset().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&webhook)
        .await;
    let mut halt = rig.spawn(
        "halt",
        &["rollout", "halt", "r1", "--reason", "on-call looking"],
        &[],
    );
    // Wait for the first failed attempt, then kill -9 while it backs off.
    let deadline = Instant::now() + Duration::from_secs(20);
    while webhook.received_requests().await.unwrap().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the halt never tried its webhook"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    halt.0.kill().unwrap();
    halt.0.wait().unwrap();
    assert_eq!(
        rig.text("SELECT phase FROM rollouts WHERE id = $1", "r1")
            .await
            .as_deref(),
        Some("held"),
        "the halt committed before its notification"
    );
    let outbox = rig.store.rollout_notifications("r1").await.unwrap();
    let held = rig
        .scalar(
            "SELECT COUNT(*) FROM notify_outbox WHERE rollout_id = $1 AND delivered_at IS NULL",
            "r1",
        )
        .await;
    assert_eq!(held, 1, "{outbox:#?}");
    let id = rig
        .text(
            "SELECT id FROM notify_outbox WHERE rollout_id = $1 AND delivered_at IS NULL",
            "r1",
        )
        .await
        .unwrap();

    // The webhook recovers; once the dead process's claim runs out, the next run delivers it.
    webhook.reset().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&webhook)
        .await;
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        rig.run(&["tick", "--at", &rig.tick_at(1)]);
        let left = rig
            .scalar(
                "SELECT COUNT(*) FROM notify_outbox WHERE delivered_at IS NULL AND rollout_id = $1",
                "r1",
            )
            .await;
        if left == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the notification was never delivered"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let delivered: Vec<_> = webhook
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|request| {
            request
                .headers
                .get("idempotency-key")
                .is_some_and(|value| value.to_str().unwrap() == id)
        })
        .collect();
    assert_eq!(delivered.len(), 1, "delivered once after the recovery");
    let body: serde_json::Value = serde_json::from_slice(&delivered[0].body).unwrap();
    assert_eq!(body["id"], id.as_str());
    assert_eq!(body["transition"]["event"], "held");
}

// 8. Ticks closer together than the sampling window are refused at config load.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_tick_windows_are_refused() {
    let rig = Rig::new(Backend::Sqlite, "[schedule]\nticks = \"*/5 * * * *\"\n")
        .await
        .unwrap();
    let out = rig.run(&["tick"]);
    assert_eq!(out.status.code(), Some(2), "{}", both(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("schedule.ticks"), "{stderr}");
    assert!(stderr.contains("overlap"), "{stderr}");
}

// 9. The kill switch works when the stored plan or state cannot be read; a stored plan with keys
//    of another version still loads.
async fn kill_works_on_an_unreadable_rollout(backend: Backend) {
    let Some(rig) = rig_with(backend, "").await else {
        return;
    };
    let out = rig.start(&[]);
    assert!(out.status.success(), "{}", both(&out));
    let cast = match backend {
        Backend::Sqlite => "$1",
        Backend::Postgres => "CAST($1 AS JSONB)",
    };
    let plan = rig
        .text(
            "SELECT CAST(plan AS TEXT) FROM rollouts WHERE id = $1",
            "r1",
        )
        .await
        .unwrap();
    let mut plan: serde_json::Value = serde_json::from_str(&plan).unwrap();
    plan["canary_share_cap"] = serde_json::json!(0.5);
    rig.exec(
        &format!("UPDATE rollouts SET plan = {cast} WHERE id = 'r1'"),
        &plan.to_string(),
    )
    .await;
    rig.ok(&["rollout", "status", "r1"]);

    let state = r#"{"id":"r1","phase":{"phase":"paused_by_v9"},"split_bp":100}"#;
    rig.exec(
        &format!("UPDATE rollouts SET state = {cast} WHERE id = 'r1'"),
        state,
    )
    .await;
    let status = rig.run(&["rollout", "status", "r1"]);
    assert!(
        !status.status.success(),
        "the damaged state is an error, not a default"
    );
    let kill = rig.run(&["rollout", "kill", "r1", "--reason", "bad state"]);
    assert!(kill.status.success(), "{}", both(&kill));
    assert_eq!(rig.table_split().await, 0);
    let flags = std::fs::read_to_string(rig.dir.path().join("flags.json")).unwrap();
    let flags: serde_json::Value = serde_json::from_str(&flags).unwrap();
    assert_eq!(flags["flags"]["f1"]["basis_points"], 0, "{flags}");
    assert_eq!(
        rig.text("SELECT phase FROM rollouts WHERE id = $1", "r1")
            .await
            .as_deref(),
        Some("killed")
    );
    let events = rig.store.list_rollout_events("r1").await.unwrap();
    let kill = events.iter().find(|e| e.action == "kill").expect("audited");
    assert!(kill.reason.contains("unreadable"), "{}", kill.reason);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_works_on_an_unreadable_rollout_sqlite() {
    kill_works_on_an_unreadable_rollout(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_works_on_an_unreadable_rollout_postgres() {
    kill_works_on_an_unreadable_rollout(Backend::Postgres).await;
}

// 10. A gated tick whose stored report cannot be read fails loudly instead of deciding on
//     empty verdicts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_gated_report_fails_loudly() {
    let rig = rig_with(Backend::Sqlite, "").await.unwrap();
    let out = rig.start(&[]);
    assert!(out.status.success(), "{}", both(&out));
    let at = rig.tick_at(1);
    let crashed = rig.run_with_failpoint(&["tick", "--at", &at], "tick_after_gated");
    assert!(!crashed.status.success());
    rig.exec(
        "UPDATE ticks SET report = $1 WHERE rollout_id = 'r1'",
        r#"{"verdicts": 7}"#,
    )
    .await;
    let version = "SELECT version FROM rollouts WHERE id = $1";
    let before = rig.scalar(version, "r1").await;
    let rerun = rig.run(&["tick", "--at", &at]);
    assert_eq!(rerun.status.code(), Some(1), "{}", both(&rerun));
    assert!(
        String::from_utf8_lossy(&rerun.stdout).contains("does not decode"),
        "{}",
        both(&rerun)
    );
    assert_eq!(
        rig.scalar(version, "r1").await,
        before,
        "nothing was decided"
    );
    assert_eq!(
        rig.scalar("SELECT failed_windows FROM rollouts WHERE id = $1", "r1")
            .await,
        1
    );
}

// 11a. A kill between the sink write and the state commit: the restart recognises its own write
//      (no drift alarm, no flapping) and puts the sinks back in line with the decision.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_sink_write_and_commit_does_not_flap() {
    let webhook = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&webhook)
        .await;
    let extra = format!("[notify]\nwebhook = \"{}/hook\"\n", webhook.uri());
    let rig = rig_with(Backend::Sqlite, &extra).await.unwrap();
    let out = rig.start(&["--plan", &rig.plan(FAST_PLAN)]);
    assert!(out.status.success(), "{}", both(&out));
    let crashed = rig.run_with_failpoint(
        &["rollout", "promote", "r1", "--force", "--reason", "ship it"],
        "control_after_sinks",
    );
    assert!(!crashed.status.success());
    assert_eq!(rig.table_split().await, 5000, "the sinks took the raise");
    let pending = "SELECT pending_split_bp FROM rollouts WHERE id = $1";
    assert_eq!(rig.scalar(pending, "r1").await, 5000);
    webhook.reset().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&webhook)
        .await;

    let tick = rig.run(&["tick", "--at", &rig.tick_at(1)]);
    assert!(tick.status.success(), "{}", both(&tick));
    let actions = rig.actions().await;
    assert!(
        !actions.iter().any(|action| action == "split_reconciled"),
        "its own write is not drift: {actions:?}"
    );
    assert!(
        actions.iter().any(|action| action == "split_write_resumed"),
        "{actions:?}"
    );
    assert_eq!(rig.table_split().await, 3000, "back to the committed split");
    let warnings: Vec<serde_json::Value> = webhook
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|request| serde_json::from_slice(&request.body).unwrap())
        .filter(|page: &serde_json::Value| page["transition"]["event"] == "sink_failure")
        .collect();
    assert!(warnings.is_empty(), "no drift alert: {warnings:#?}");
    assert_eq!(
        rig.text(
            "SELECT CAST(pending_split_bp AS TEXT) FROM rollouts WHERE id = $1",
            "r1"
        )
        .await,
        None,
        "the commit cleared the pending write"
    );
}

// 11b. A kill right after a tick-driven rollback committed leaves no tick `gated` forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_a_rollback_commit_leaves_the_tick_done() {
    let rig = Rig::new(Backend::Sqlite, "").await.unwrap();
    rig.synth(Some("0m"));
    let out = rig.start(&["--plan", &rig.plan(FAST_PLAN)]);
    assert!(out.status.success(), "{}", both(&out));
    let at = rig.tick_at(1);
    let crashed = rig.run_with_failpoint(&["tick", "--at", &at], "tick_after_control");
    assert!(!crashed.status.success(), "{}", both(&crashed));
    assert_eq!(
        rig.text("SELECT phase FROM rollouts WHERE id = $1", "r1")
            .await
            .as_deref(),
        Some("rolled_back"),
        "the regressed canary was rolled back"
    );
    assert_eq!(
        rig.scalar(
            "SELECT COUNT(*) FROM ticks WHERE rollout_id = $1 AND status <> 'done'",
            "r1"
        )
        .await,
        0,
        "the rollback's tick is done"
    );
    assert_eq!(rig.table_split().await, 0);
}
