//! Tests of the list and rollout pages.

use chrono::{Duration, TimeZone, Utc};

use super::*;
use crate::domain::rollout::PhaseName;
use crate::web::svg::{ArmSeries, EValuePoint, Segment, SeriesPoint};
use crate::web::view::{HaltView, SinkView};

fn t0() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0).unwrap()
}

fn summary(id: &str, active: bool) -> RolloutSummary {
    RolloutSummary {
        id: id.into(),
        flag_key: format!("{id}-flag"),
        owner: Some("support-team".into()),
        baseline_target: "bot@v41".into(),
        canary_target: "bot@v42".into(),
        phase: if active {
            PhaseName::Running
        } else {
            PhaseName::RolledBack
        },
        suite: None,
        phase_reason: None,
        active,
        stage: "2/4 (10%)".into(),
        stage_index: Some(1),
        split_bp: Some(if active { 1000 } else { 0 }),
        in_stage: active.then_some(HumanDuration::from_secs(3 * 3600 + 300)),
        min_duration: active.then_some(HumanDuration::from_secs(24 * 3600)),
        next_decision_at: active.then(|| t0() + Duration::minutes(10)),
        finished_at: (!active).then(|| t0() - Duration::hours(2)),
        created_at: t0() - Duration::hours(30),
        updated_at: t0() - Duration::hours(2),
        last_reason: String::new(),
        failed_windows: 0,
    }
}

fn event(id: &str, action: &str, reason: &str, transition: bool) -> EventView {
    EventView {
        id: id.into(),
        at: t0(),
        actor: "controller".into(),
        action: action.into(),
        reason: reason.into(),
        before: Some("running · stage 1 · 1%".into()),
        after: Some("running · stage 2 · 10%".into()),
        is_override: false,
        transition,
    }
}

#[test]
fn the_list_separates_active_and_finished_rollouts() {
    let html = rollouts_page(&[summary("live", true), summary("gone", false)], t0());
    let active = &html[html.find("id=\"active\"").unwrap()..html.find("id=\"finished\"").unwrap()];
    assert!(active.contains("data-rollout=\"live\""));
    assert!(!active.contains("data-rollout=\"gone\""));
    assert!(active.contains("3h 05m of 1d 0h"), "{active}");
    assert!(
        active.contains("in 10m"),
        "the next decision, relative to now"
    );
    let finished = &html[html.find("id=\"finished\"").unwrap()..];
    assert!(finished.contains("data-rollout=\"gone\""));
    assert!(
        finished.contains(">finished<"),
        "no time in stage for a finished rollout"
    );
    assert!(finished.contains("ended <time"), "{finished}");
    assert!(html.contains("href=\"/rollouts/live\""));
}

fn rollout(halt_reason: &str) -> RolloutPage {
    let points = |value: f64| {
        (0..8)
            .map(|i| SeriesPoint {
                at: t0() + Duration::minutes(15 * i),
                value: Some(value),
                band: Some((value - 0.04, value + 0.04)),
            })
            .collect()
    };
    RolloutPage {
        summary: summary("support-v43", false),
        suite: Some("support".into()),
        last_reason: "halting test fired".into(),
        hint: None,
        deadline: None,
        segments: vec![Segment {
            from: t0(),
            to: t0() + Duration::hours(2),
            label: "1%".into(),
            phase: "running".into(),
        }],
        stage_starts: vec![t0()],
        events: vec![
            event("e1", "start", "started by demo", true),
            event("e2", "set_split", "sink write", false),
            event("e3", "rollback", "halting test fired", true),
        ],
        metrics: vec![MetricPanel {
            metric: "pass_rate".into(),
            verdict: "halt".into(),
            reason: "halt (rollback): e-value 226.7 ≥ 1/α = 143".into(),
            promotion_authority: true,
            ratio: true,
            arms: vec![
                ArmSeries {
                    arm: "baseline",
                    points: points(0.92),
                },
                ArmSeries {
                    arm: "canary",
                    points: points(0.86),
                },
            ],
            e_values: (0..8)
                .map(|i| EValuePoint {
                    at: t0() + Duration::minutes(15 * i),
                    ln_e_value: Some(0.7 * i as f64),
                    ln_threshold: Some(143_f64.ln()),
                    halted: i == 7,
                })
                .collect(),
        }],
        halts: vec![HaltView {
            stage: 1,
            metric: "pass_rate".into(),
            role: "rollback".into(),
            at: t0(),
            reason: halt_reason.into(),
        }],
        sinks: vec![SinkView {
            sink: "table".into(),
            basis_points: Some(0),
            generation: Some(4),
            in_sync: true,
            error: None,
        }],
    }
}

#[test]
fn the_rollout_page_lists_every_transition_and_draws_each_gate() {
    let html = rollout_page(&rollout("canary worse"), t0());
    let transitions =
        &html[html.find("id=\"transitions\"").unwrap()..html.find("id=\"gates\"").unwrap()];
    assert!(transitions.contains("data-event-id=\"e1\""));
    assert!(transitions.contains("data-event-id=\"e3\""));
    assert!(
        !transitions.contains("data-event-id=\"e2\""),
        "not a transition"
    );
    assert!(
        transitions.contains("halting test fired"),
        "each transition with its reason"
    );
    let audit = &html[html.find("id=\"audit\"").unwrap()..];
    assert_eq!(
        audit.matches("data-event-id=").count(),
        3,
        "the audit trail has every row"
    );
    assert!(html.contains("class=\"series canary\""));
    assert!(html.contains("class=\"band baseline\""));
    assert!(html.contains("class=\"threshold\""));
    assert!(html.contains("e-value 134.29 vs 1/α 143.00"), "{html}");
    assert!(html.contains("class=\"chart timeline\""));
    assert!(html.contains("<span class=\"good\">in sync</span>"));
    assert!(html.contains("href=\"/rollouts/support-v43/review\""));
}

#[test]
fn markup_in_a_halt_reason_comes_out_escaped() {
    let html = rollout_page(&rollout("<script>alert('pwned')</script>"), t0());
    assert!(html.contains("&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;"));
    assert!(
        !html.contains("<script"),
        "no script element reaches the page"
    );
}

#[test]
fn a_metric_without_stored_series_says_so_and_still_draws_its_e_value() {
    let mut view = rollout("r");
    view.metrics[0].arms.clear();
    let html = rollout_page(&view, t0());
    assert!(html.contains("No per-window series is stored for this metric."));
    assert!(!html.contains("class=\"series canary\""));
    assert!(html.contains("class=\"e-value\""));
}
