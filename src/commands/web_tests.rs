//! Tests of the web view's assembly from stored rows.

use chrono::{Duration, TimeZone, Utc};
use serde_json::json;

use super::*;
use crate::logic::gates::series::{MetricPoint, point_from_counts};

fn t(minutes: i64) -> Timestamp {
    Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0).unwrap() + Duration::minutes(minutes)
}

fn event(id: &str, at: i64, action: &str, before: Value, after: Value) -> RolloutEvent {
    RolloutEvent {
        id: id.into(),
        rollout_id: "r".into(),
        at: t(at),
        actor: "controller".into(),
        action: action.into(),
        reason: format!("{action} because"),
        before,
        after,
        evidence: Value::Null,
        is_override: false,
    }
}

fn snap(phase: &str, stage: u64, split: u64) -> Value {
    json!({"phase": phase, "stage_index": stage, "split_bp": split})
}

fn trail() -> Vec<RolloutEvent> {
    vec![
        event(
            "e1",
            0,
            "start",
            snap("pending", 0, 0),
            snap("running", 0, 100),
        ),
        event(
            "e2",
            240,
            "promote",
            snap("running", 0, 100),
            snap("running", 1, 1000),
        ),
        event(
            "e3",
            300,
            "halt_rejected",
            snap("running", 1, 1000),
            snap("running", 1, 1000),
        ),
        event(
            "e4",
            360,
            "sink_write",
            Value::Null,
            json!({"basis_points": 1000}),
        ),
        event(
            "e5",
            600,
            "rollback",
            snap("running", 1, 1000),
            json!({"phase": {"phase": "rolled_back", "reason": "x"}, "stage_index": 1, "split_bp": 0}),
        ),
    ]
}

#[test]
fn only_rows_that_change_phase_stage_or_split_are_transitions() {
    let views: Vec<EventView> = trail().iter().map(event_view).collect();
    let transitions: Vec<&str> = views
        .iter()
        .filter(|v| v.transition)
        .map(|v| v.id.as_str())
        .collect();
    assert_eq!(transitions, ["e1", "e2", "e5"]);
    assert_eq!(views[1].before.as_deref(), Some("running · stage 1 · 1%"));
    assert_eq!(views[1].after.as_deref(), Some("running · stage 2 · 10%"));
    assert_eq!(
        views[4].after.as_deref(),
        Some("rolled back · stage 2 · 0%")
    );
    assert_eq!(
        views[3].before, None,
        "a row without a state shows no change"
    );
}

#[test]
fn the_timeline_has_a_stretch_per_transition_and_marks_stage_starts() {
    let (segments, starts) = timeline(&trail(), t(700));
    let labels: Vec<(&str, &str)> = segments
        .iter()
        .map(|s| (s.label.as_str(), s.phase.as_str()))
        .collect();
    assert_eq!(
        labels,
        [("1%", "running"), ("10%", "running"), ("0%", "rolled_back")]
    );
    assert_eq!(segments[0].to, t(240));
    assert_eq!(segments[2].to, t(700));
    assert_eq!(starts, [t(0), t(240)]);
}

fn tick(metric: &str, at: i64, ln_e: f64, verdict: &str) -> GateTick {
    GateTick {
        window_start: t(at),
        metric: metric.into(),
        stage: 0,
        verdict: verdict.into(),
        reason: format!("{verdict} reason"),
        ln_e_value: Some(ln_e),
        ln_threshold: Some(5.0),
    }
}

fn pass_row(at: i64, arm: Arm, evaluator: &str, passes: u64) -> PassRateRow {
    let point = point_from_counts(arm, evaluator, passes, 16 - passes, 0);
    PassRateRow {
        window_start: t(at),
        window_end: t(at + 15),
        evaluator_version: "v1".into(),
        point,
    }
}

#[test]
fn panels_put_the_pass_rate_first_and_take_each_metric_s_own_series() {
    let history = vec![
        tick("error_rate", 0, -0.1, "inconclusive"),
        tick("pass_rate", 0, 0.5, "inconclusive"),
        tick("pass_rate:valid_json", 0, 0.2, "inconclusive"),
        tick("error_rate", 15, -0.2, "promote_ready"),
        tick("pass_rate", 15, 5.5, "halt"),
        tick("pass_rate:valid_json", 15, 0.3, "inconclusive"),
    ];
    let pass_rates = vec![
        pass_row(0, Arm::Baseline, OVERALL, 15),
        pass_row(0, Arm::Canary, OVERALL, 12),
        pass_row(0, Arm::Canary, "valid_json", 16),
        pass_row(15, Arm::Canary, OVERALL, 10),
    ];
    let metric_rows = vec![MetricRow {
        window_start: t(0),
        window_end: t(15),
        point: MetricPoint {
            arm: Arm::Canary,
            metric: "error_rate".into(),
            n: 100,
            value: Some(0.05),
            extra: json!({}),
        },
    }];
    let gates = vec![GateStatus {
        metric: "pass_rate".into(),
        promotion_authority: true,
        verdict: "halt".into(),
        reason: String::new(),
        evidence: crate::domain::Evidence::default(),
    }];
    let panels = metric_panels(&history, &pass_rates, &metric_rows, &gates);
    let names: Vec<&str> = panels.iter().map(|p| p.metric.as_str()).collect();
    assert_eq!(names, ["pass_rate", "pass_rate:valid_json", "error_rate"]);

    let pass = &panels[0];
    assert_eq!(pass.verdict, "halt", "the latest tick's verdict");
    assert!(pass.promotion_authority);
    assert!(pass.ratio);
    assert_eq!(pass.e_values.len(), 2);
    assert!(pass.e_values[1].halted && !pass.e_values[0].halted);
    let canary = pass.arms.iter().find(|a| a.arm == "canary").unwrap();
    assert_eq!(
        canary.points.len(),
        2,
        "the overall series, not the evaluator's"
    );
    assert_eq!(canary.points[0].value, Some(12.0 / 16.0));
    assert!(
        canary.points[0].band.is_some(),
        "pass rates carry their Wilson band"
    );

    let valid_json = &panels[1];
    assert_eq!(valid_json.arms.len(), 1);
    assert_eq!(valid_json.arms[0].points[0].value, Some(1.0));
    assert!(!valid_json.promotion_authority);

    let errors = &panels[2];
    assert!(errors.ratio);
    let band = errors.arms[0].points[0]
        .band
        .expect("a rate metric gets a Wilson band");
    assert!(band.0 < 0.05 && 0.05 < band.1, "{band:?}");
}

#[test]
fn a_non_rate_metric_has_no_band() {
    let history = vec![tick("latency_p95", 0, 0.0, "inconclusive")];
    let rows = vec![MetricRow {
        window_start: t(0),
        window_end: t(15),
        point: MetricPoint {
            arm: Arm::Baseline,
            metric: "latency_p95".into(),
            n: 10,
            value: Some(812.0),
            extra: json!({}),
        },
    }];
    let panels = metric_panels(&history, &[], &rows, &[]);
    assert!(!panels[0].ratio);
    assert_eq!(panels[0].arms[0].points[0].band, None);
}
