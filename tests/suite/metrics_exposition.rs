//! The `/metrics` text: every metric family of INTEGRATION.md §2 appears with HELP and TYPE, the
//! judge latency renders as a real histogram (buckets, not a summary), finished rollouts vanish
//! except for their final status, and `promtool check metrics` accepts the whole output (skipped when promtool is missing,
//! unless EVALGATE_REQUIRE_PROMETHEUS=1).

use evalgate::domain::rollout::PhaseName;
use std::io::Write as _;
use std::process::{Command, Stdio};

use chrono::TimeZone;
use evalgate::domain::Outcome;
use evalgate::metrics::{self, GateEValue, RolloutSnapshot, SeriesGauge};

fn promtool_available() -> bool {
    let found = Command::new("promtool").arg("--version").output().is_ok();
    if !found && std::env::var("EVALGATE_REQUIRE_PROMETHEUS").as_deref() == Ok("1") {
        panic!("EVALGATE_REQUIRE_PROMETHEUS=1 but promtool is not installed");
    }
    found
}

fn promtool_check(text: &str) -> (bool, String) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn promtool");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let messages = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), messages)
}

fn populate() {
    metrics::install().unwrap();
    let at = chrono::Utc
        .with_ymd_and_hms(2026, 11, 26, 12, 0, 0)
        .unwrap();
    metrics::record_tick(at);
    metrics::record_tick_failure();
    metrics::set_ingest_lag(42.5);
    metrics::set_last_drill(at);
    metrics::set_leader(true);
    metrics::record_judge_request("gpt-judge", "ok", 0.8);
    metrics::record_judge_request("gpt-judge", "timeout", 30.0);
    metrics::record_judge_usage("gpt-judge", 1200, 80, 0.0042);
    let rollout = |id: &str| RolloutSnapshot {
        rollout_id: id.to_string(),
        finished: false,
        phase: PhaseName::Running,
        stage: Some(2),
        e_values: vec![GateEValue {
            metric: "pass_rate".into(),
            e_value: Some(0.4),
            threshold: Some(142.86),
        }],
        canary_ratio: Some(0.01),
        halted: id == "r-old",
        failed_windows: 1,
        series: vec![
            SeriesGauge {
                arm: "baseline".into(),
                evaluator: "judge_helpful".into(),
                ratio: Some(0.9),
                samples: 200,
            },
            SeriesGauge {
                arm: "canary".into(),
                evaluator: "judge_helpful".into(),
                ratio: Some(0.85),
                samples: 200,
            },
        ],
        scored: vec![
            ("canary".into(), "judge_helpful".into(), Outcome::Pass, 170),
            ("canary".into(), "judge_helpful".into(), Outcome::Fail, 28),
            (
                "canary".into(),
                "judge_helpful".into(),
                Outcome::Unscorable,
                2,
            ),
        ],
        halt_signals: vec![("pass_rate:judge_helpful".into(), 1)],
    };
    let rolled_back = RolloutSnapshot {
        rollout_id: "r-done".to_string(),
        finished: true,
        phase: PhaseName::RolledBack,
        stage: Some(2),
        ..RolloutSnapshot::default()
    };
    metrics::sync_rollouts(vec![rollout("r-old"), rollout("r-live")]);
    metrics::sync_rollouts(vec![rollout("r-live"), rolled_back]);
}

#[test]
fn the_exposition_has_every_family_and_passes_promtool() {
    populate();
    let text = metrics::render();
    for name in [
        metrics::BUILD_INFO,
        metrics::PASS_RATIO,
        metrics::WINDOW_SAMPLES,
        metrics::SCORED_RESPONSES,
        metrics::JUDGE_REQUESTS,
        metrics::JUDGE_TOKENS,
        metrics::JUDGE_COST,
        metrics::CANARY_TRAFFIC,
        metrics::ROLLOUT_HALTED,
        metrics::HALT_SIGNALS,
        metrics::ROLLOUT_STATUS,
        metrics::ROLLOUT_PHASE,
        metrics::ROLLOUT_STAGE,
        metrics::GATE_E_VALUE,
        metrics::GATE_E_VALUE_THRESHOLD,
        metrics::LAST_TICK,
        metrics::TICKS,
        metrics::INGEST_LAG,
        metrics::LAST_DRILL,
        metrics::SCHEDULER_LEADER,
    ] {
        assert!(
            text.contains(&format!("# HELP {name} ")),
            "no HELP for {name}:\n{text}"
        );
    }
    assert!(
        text.contains("# TYPE evalgate_judge_request_duration_seconds histogram"),
        "{text}"
    );
    assert!(
        text.contains(
            "evalgate_judge_request_duration_seconds_bucket{judge_model=\"gpt-judge\",le=\"0.25\"}"
        ),
        "{text}"
    );
    assert!(text.contains(
        "evalgate_pass_ratio{rollout=\"r-live\",arm=\"canary\",evaluator=\"judge_helpful\"} 0.85"
    ));
    assert!(
        !text.contains("r-old"),
        "a finished rollout's label sets must be gone:\n{text}"
    );
    assert!(
        text.contains("evalgate_rollout_status{rollout=\"r-done\",status=\"failed\"} 1\n"),
        "a rolled-back rollout keeps its final status:\n{text}"
    );
    assert!(!text.contains("evalgate_pass_ratio{rollout=\"r-done\""));
    assert!(text.contains(
        "evalgate_halt_signals_total{rollout=\"r-live\",metric=\"pass_rate:judge_helpful\"} 1\n"
    ));
    assert!(text.contains("evalgate_gate_e_value{rollout=\"r-live\",metric=\"pass_rate\"} 0.4\n"));
    assert!(
        text.contains("evalgate_last_tick_timestamp_seconds 1795694400"),
        "{text}"
    );

    if !promtool_available() {
        eprintln!("skipping promtool: not installed");
        return;
    }
    let (ok, messages) = promtool_check(&text);
    assert!(
        ok,
        "promtool check metrics failed:\n{messages}\n---\n{text}"
    );
}

#[test]
fn promtool_rejects_a_broken_exposition() {
    // Guards the check above: the same promtool call fails on a counter without HELP.
    if !promtool_available() {
        return;
    }
    let (ok, _) = promtool_check("# TYPE evalgate_bad counter\nevalgate_bad 1\n");
    assert!(!ok);
}
