//! Tests of the registry: lookups, the defaults it carries, and data found by source.

use super::*;
use crate::logic::gates::input::{FeedbackCohort, FeedbackUnit, TelemetryRow, TickInput};

#[test]
fn every_name_resolves_to_its_own_definition() {
    for def in BUILTIN {
        assert_eq!(def_of(def.name).map(|d| d.name), Some(def.name));
    }
    assert_eq!(
        def_of("pass_rate:json").map(|d| d.name),
        Some(PER_EVALUATOR_KEY)
    );
    assert_eq!(
        def_of(PER_EVALUATOR_KEY).map(|d| d.name),
        Some(PER_EVALUATOR_KEY)
    );
    assert!(def_of("pass_rat").is_none());
    assert_eq!(evaluator_of(&evaluator_metric("json")), Some("json"));
}

#[test]
fn names_are_unique() {
    let mut names: Vec<&str> = builtin_names().collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), BUILTIN.len());
}

#[test]
fn the_weights_of_the_metrics_that_can_halt_sum_to_one() {
    let total: f64 = BUILTIN
        .iter()
        .chain([&PER_EVALUATOR])
        .map(|def| def.default_settings())
        .filter(|s| s.role != Role::Notify)
        .map(|s| s.weight)
        .sum();
    assert!((total - 1.0).abs() < 1e-12, "{total}");
}

#[test]
fn the_family_of_each_definition_matches_its_defaults() {
    for def in BUILTIN.iter().chain([&PER_EVALUATOR]) {
        assert_eq!(def.default_settings().kind, def.kind, "{}", def.name);
    }
}

fn rows(errors: &[bool]) -> Vec<TelemetryRow> {
    errors
        .iter()
        .map(|&error| TelemetryRow {
            error,
            latency_ms: Some(100.0),
            ..TelemetryRow::default()
        })
        .collect()
}

#[test]
fn only_the_error_source_reads_error_flags() {
    let mut input = TickInput::default();
    input.telemetry.canary = rows(&[true, false]);
    input.telemetry.baseline = rows(&[false]);
    let errors = def_of("error_rate").and_then(|d| indicators(d, "error_rate", &input));
    assert_eq!(errors, Some((vec![true, false], vec![false])));
    // A tail or mean metric has values, not indicators.
    let latency = def_of("latency_p95").and_then(|d| indicators(d, "latency_p95", &input));
    assert_eq!(latency, None);
}

#[test]
fn a_telemetry_value_that_was_not_logged_is_missing_not_zero() {
    let mut input = TickInput::default();
    input.telemetry.canary = vec![
        TelemetryRow {
            latency_ms: Some(300.0),
            ..TelemetryRow::default()
        },
        TelemetryRow::default(),
    ];
    let def = def_of("latency_p95").unwrap();
    let (canary, baseline) = values(def, &input).unwrap();
    assert_eq!(canary, vec![300.0]);
    assert!(baseline.is_empty());
}

#[test]
fn feedback_metrics_need_a_matured_cohort() {
    let mut input = TickInput::default();
    let def = def_of("thumbs_up_rate").unwrap();
    assert_eq!(indicators(def, def.name, &input), None);
    let mut cohort = FeedbackCohort::default();
    cohort.arms.canary = vec![
        FeedbackUnit {
            thumbs_up: Some(true),
            ..FeedbackUnit::default()
        },
        FeedbackUnit::default(),
    ];
    input.feedback = Some(cohort);
    assert_eq!(
        indicators(def, def.name, &input),
        Some((vec![true], vec![]))
    );
}

// Time to first token (`ttft_p95`, `ttft_p99`): the proof that a metric is added through the
// registry alone.

use crate::domain::{Arm, Request, RequestStatus, Timestamp, Verdict};
use crate::logic::gates::settings::{GateSettings, MetricOverride};
use crate::logic::gates::{GateState, StagePlan, budget, update};

/// `n` requests whose TTFT is `ttft(i)` (latency 1 s throughout), and `unstreamed` more without
/// a TTFT.
fn ttft_rows(n: usize, unstreamed: usize, ttft: impl Fn(usize) -> f64) -> Vec<TelemetryRow> {
    let streamed = (0..n).map(|i| TelemetryRow {
        latency_ms: Some(1000.0),
        ttft_ms: Some(ttft(i)),
        ..TelemetryRow::default()
    });
    let plain = (0..unstreamed).map(|_| TelemetryRow {
        latency_ms: Some(1000.0),
        ..TelemetryRow::default()
    });
    streamed.chain(plain).collect()
}

/// A spread of TTFTs 100..=300 ms (the baseline's distribution), scaled by `factor`.
fn spread(factor: f64) -> impl Fn(usize) -> f64 {
    move |i| factor * (100.0 + (i % 201) as f64)
}

/// The TTFT gate opted in to halting, with its reference frozen from a baseline history.
fn opted_in(metric: &str) -> (GateSettings, StagePlan) {
    let over = MetricOverride {
        role: Some(Role::Rollback),
        ..MetricOverride::default()
    };
    let settings = GateSettings::default().with_override(metric, over);
    let history = ttft_rows(2010, 0, spread(1.0));
    let plan = StagePlan {
        references: history_references(&settings, &history),
        ..StagePlan::default()
    };
    (settings, plan)
}

fn run_ticks(
    metric: &str,
    ticks: usize,
    canary: impl Fn(u64) -> Vec<TelemetryRow>,
) -> (GateState, crate::domain::MetricVerdict) {
    let (settings, plan) = opted_in(metric);
    let s = settings.settings(metric).unwrap();
    let mut state = GateState::start(&settings, &s, metric, &plan);
    let mut last = None;
    for tick in 0..ticks as u64 {
        let mut input = TickInput {
            pairing_seed: tick,
            ..TickInput::default()
        };
        input.telemetry.baseline = ttft_rows(400, 0, spread(1.0));
        input.telemetry.canary = canary(tick);
        let (next, verdict, _) = update(&settings, &s, &state, &input, Timestamp::default());
        state = next;
        last = Some(verdict);
    }
    (state, last.unwrap())
}

#[test]
fn ttft_gates_read_ttft_ms_as_a_latency_tail() {
    for (name, q) in [("ttft_p95", 0.95), ("ttft_p99", 0.99)] {
        let def = def_of(name).unwrap();
        assert_eq!(def.kind, MetricKind::LatencyTail);
        assert_eq!(def.telemetry_field(), Some(TelemetryField::TtftMs));
        assert_eq!(def.default_settings().quantile, q);
    }
    let mut input = TickInput::default();
    input.telemetry.canary = ttft_rows(2, 3, |i| 100.0 * (i + 1) as f64);
    let (canary, baseline) = values(def_of("ttft_p95").unwrap(), &input).unwrap();
    assert_eq!(
        canary,
        vec![100.0, 200.0],
        "unstreamed requests are missing"
    );
    assert!(baseline.is_empty());
}

#[test]
fn by_default_ttft_notifies_holds_no_promotion_and_spends_no_budget() {
    let settings = GateSettings::default();
    for name in ["ttft_p95", "ttft_p99"] {
        let s = settings.settings(name).unwrap();
        assert_eq!(s.role, Role::Notify, "{name}");
        assert_eq!(s.promotion_authority, Authority::Never, "{name}");
    }
    let family = budget::family_names(&settings, &[]);
    let allocation = budget::allocate(&settings, &family);
    assert!(!allocation.alpha.contains_key("ttft_p95"));
    assert!((allocation.alpha["pass_rate"] - 0.01 * 0.8 / 0.96).abs() < 1e-12);
}

#[test]
fn an_opted_in_ttft_gate_halts_on_a_ttft_regression_while_latency_is_unchanged() {
    let (state, verdict) = run_ticks("ttft_p95", 8, |_| ttft_rows(400, 0, spread(1.5)));
    assert!(
        matches!(
            verdict.verdict,
            Verdict::Halt {
                role: Role::Rollback,
                ..
            }
        ),
        "{verdict:?}"
    );
    assert!(
        state
            .halted
            .as_deref()
            .unwrap_or("")
            .starts_with("ttft_p95")
    );
    // The same canary is healthy on end-to-end latency.
    let mut input = TickInput::default();
    input.telemetry.baseline = ttft_rows(400, 0, spread(1.0));
    input.telemetry.canary = ttft_rows(400, 0, spread(1.5));
    let (canary, baseline) = values(def_of("latency_p95").unwrap(), &input).unwrap();
    assert_eq!(canary, baseline);
}

#[test]
fn a_healthy_ttft_does_not_halt() {
    let (state, verdict) = run_ticks("ttft_p99", 16, |_| ttft_rows(400, 0, spread(1.0)));
    assert!(state.halted.is_none(), "{verdict:?}");
}

#[test]
fn requests_without_a_ttft_are_missing_not_zero() {
    // Half the canary does not stream. Were the missing TTFTs counted as 0 ms they would be 400
    // more requests under the threshold per tick, diluting the regression; they are left out.
    let (state, verdict) = run_ticks("ttft_p95", 8, |_| ttft_rows(400, 400, spread(1.5)));
    assert!(
        matches!(verdict.verdict, Verdict::Halt { .. }),
        "{verdict:?}"
    );
    assert_eq!(verdict.evidence.n_canary, state.counts.canary_n);
    assert!(
        state.counts.canary_n <= 8 * 400,
        "only streamed requests are paired: {}",
        state.counts.canary_n
    );
    // A window where nothing streamed has no TTFT data at all.
    let mut input = TickInput::default();
    input.telemetry.canary = ttft_rows(0, 50, spread(1.0));
    let (canary, _) = values(def_of("ttft_p95").unwrap(), &input).unwrap();
    assert!(canary.is_empty());
}

#[test]
fn ttft_has_series_points_and_a_history_reference() {
    let mut input = TickInput::default();
    input.telemetry.canary = ttft_rows(100, 30, |i| (i + 1) as f64);
    let points = metric_points(&input);
    let p95 = points
        .iter()
        .find(|p| p.metric == "ttft_p95" && p.arm == Arm::Canary)
        .unwrap();
    assert_eq!((p95.n, p95.value), (100, Some(95.0)));
    let p99 = points
        .iter()
        .find(|p| p.metric == "ttft_p99" && p.arm == Arm::Canary)
        .unwrap();
    assert_eq!(p99.value, Some(99.0));
    let mut history = ttft_rows(100, 0, |i| (i + 1) as f64);
    history.push(TelemetryRow {
        ttft_ms: Some(1e6),
        error: true,
        ..TelemetryRow::default()
    });
    let refs = history_references(&GateSettings::default(), &history);
    assert_eq!(
        refs.latency["ttft_p95"].threshold_ms, 95.0,
        "from ok requests"
    );
    assert_eq!(refs.latency["ttft_p99"].threshold_ms, 99.0);
}

fn request(status: RequestStatus, latency_ms: Option<f64>) -> Request {
    Request {
        request_id: "r".into(),
        ts: Timestamp::default(),
        tenant_id: "t".into(),
        arm: Arm::Canary,
        model: "m".into(),
        rollout_id: None,
        input: String::new(),
        output: String::new(),
        reference: None,
        status,
        error: None,
        latency_ms,
        ttft_ms: None,
        prompt_tokens: None,
        completion_tokens: None,
        cost_usd: None,
        metadata: serde_json::Value::Null,
    }
}

#[test]
fn synthetic_traffic_streams_most_ok_responses_and_errors_never() {
    let draws = |streamed: f64, share: f64| {
        let mut values = [streamed, share].into_iter().cycle();
        move || values.next().unwrap_or(0.5)
    };
    let mut ok = request(RequestStatus::Ok, Some(1000.0));
    synthesize(&mut ok, draws(0.5, 0.5));
    assert_eq!(ok.ttft_ms, Some(275.0));
    let mut unstreamed = request(RequestStatus::Ok, Some(1000.0));
    synthesize(&mut unstreamed, draws(0.1, 0.5));
    assert_eq!(unstreamed.ttft_ms, None);
    let mut failed = request(RequestStatus::Error, Some(1000.0));
    synthesize(&mut failed, draws(0.5, 0.5));
    assert_eq!(failed.ttft_ms, None);
}

#[test]
fn gatebench_has_ttft_cells_over_the_ttft_field() {
    let cells = crate::sim::gatebench::cells::all_cells();
    for id in ["TTFT-1", "TTFT-2", "TTFT-3", "TTFT-4"] {
        let cell = cells.iter().find(|c| c.id == id).unwrap();
        assert_eq!(cell.scenario.fields, vec![TelemetryField::TtftMs], "{id}");
    }
}
