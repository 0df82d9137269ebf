//! Table tests: every metric family's rule and every Inconclusive reason (rates here, telemetry,
//! feedback and whole-tick evaluation in `telemetry`).

mod promotion;
mod telemetry;

use chrono::TimeZone;

use super::*;
use crate::domain::{Outcome, Role};
use crate::logic::gates::settings::GateSettings;

pub(super) fn now() -> Timestamp {
    chrono::Utc
        .with_ymd_and_hms(2026, 11, 26, 12, 0, 0)
        .single()
        .unwrap_or_default()
}

pub(super) fn outcomes(pass: usize, fail: usize, unscorable: usize) -> Vec<Outcome> {
    let mut v = vec![Outcome::Pass; pass];
    v.extend(vec![Outcome::Fail; fail]);
    v.extend(vec![Outcome::Unscorable; unscorable]);
    v
}

pub(super) fn eval_tick(
    canary: (usize, usize, usize),
    baseline: (usize, usize, usize),
    wanted: u64,
    seed: u64,
) -> TickInput {
    let mut input = TickInput {
        pairing_seed: seed,
        ..TickInput::default()
    };
    input.eval.wanted_per_arm = wanted;
    input.eval.arms.canary.overall = outcomes(canary.0, canary.1, canary.2);
    input.eval.arms.baseline.overall = outcomes(baseline.0, baseline.1, baseline.2);
    input
}

pub(super) fn rows(
    n: usize,
    errors: usize,
    latency: impl Fn(usize) -> f64,
    cost: f64,
) -> Vec<TelemetryRow> {
    (0..n)
        .map(|i| TelemetryRow {
            latency_ms: Some(latency(i)),
            ttft_ms: None,
            cost_usd: Some(cost * (1.0 + (i % 7) as f64 / 10.0)),
            completion_tokens: Some(100 + (i % 13) as i64),
            error: i < errors,
        })
        .collect()
}

/// Runs `metric` over the inputs and returns the last state and verdict.
pub(super) fn run(
    config: &GateSettings,
    plan: &StagePlan,
    metric: &str,
    inputs: &[TickInput],
) -> (GateState, MetricVerdict) {
    let settings = config.settings(metric).unwrap();
    let mut state = GateState::start(config, &settings, metric, plan);
    let mut last = None;
    for input in inputs {
        let (next, verdict, _) = update(config, &settings, &state, input, now());
        state = next;
        last = Some(verdict);
    }
    (state, last.unwrap())
}

pub(super) fn reason(v: &MetricVerdict) -> &InconclusiveReason {
    match &v.verdict {
        Verdict::Inconclusive { reason } => reason,
        other => panic!("expected inconclusive, got {other:?}"),
    }
}

#[test]
fn a_30_percent_pass_rate_drop_halts_with_the_rollback_role_and_evidence() {
    let config = GateSettings::default();
    let inputs: Vec<_> = (0..6)
        .map(|t| eval_tick((31, 19, 0), (45, 5, 0), 50, t))
        .collect();
    let (state, v) = run(&config, &StagePlan::default(), "pass_rate", &inputs);
    assert!(
        matches!(
            v.verdict,
            Verdict::Halt {
                role: Role::Rollback,
                ..
            }
        ),
        "{v:?}"
    );
    assert!(state.halted.is_some());
    let e = &v.evidence;
    assert!(e.ln_e_value.unwrap() >= e.ln_threshold.unwrap());
    assert!(e.p_value.unwrap() <= 0.01);
    assert!(e.bet.unwrap() > 0.0);
    assert_eq!(e.alpha_halt, Some(0.01));
    assert!(v.promotion_authority);
}

#[test]
fn a_halt_is_sticky_even_when_later_ticks_look_healthy() {
    let config = GateSettings::default();
    let mut inputs: Vec<_> = (0..6)
        .map(|t| eval_tick((25, 25, 0), (45, 5, 0), 50, t))
        .collect();
    inputs.extend((6..10).map(|t| eval_tick((50, 0, 0), (40, 10, 0), 50, t)));
    let (_, v) = run(&config, &StagePlan::default(), "pass_rate", &inputs);
    assert!(v.verdict.is_halt());
}

#[test]
fn equal_pass_rates_are_promote_ready_at_the_planned_look() {
    let config = GateSettings::default();
    let inputs: Vec<_> = (0..16)
        .map(|t| eval_tick((45, 5, 0), (45, 5, 0), 50, t))
        .collect();
    let (_, v) = run(&config, &StagePlan::default(), "pass_rate", &inputs);
    assert!(v.verdict.is_promote_ready(), "{v:?}");
    assert!(v.evidence.promotion_statistic.unwrap() > 1.645);
}

#[test]
fn the_first_tick_has_too_few_samples_for_promotion() {
    let config = GateSettings::default();
    let (_, v) = run(
        &config,
        &StagePlan::default(),
        "pass_rate",
        &[eval_tick((45, 5, 0), (45, 5, 0), 50, 1)],
    );
    assert_eq!(
        reason(&v),
        &InconclusiveReason::TooFewSamples {
            have: 50,
            need: 100
        }
    );
}

#[test]
fn a_canary_shortfall_is_inconclusive_not_a_pass() {
    let config = GateSettings::default();
    let (_, v) = run(
        &config,
        &StagePlan::default(),
        "pass_rate",
        &[eval_tick((28, 2, 0), (45, 5, 0), 50, 1)],
    );
    assert_eq!(
        reason(&v),
        &InconclusiveReason::CanaryShortfall {
            wanted: 50,
            got: 30
        }
    );
}

#[test]
fn unscorable_units_are_missing_never_passes() {
    let config = GateSettings::default();
    let (state, v) = run(
        &config,
        &StagePlan::default(),
        "pass_rate",
        &[eval_tick((20, 10, 20), (45, 5, 0), 50, 1)],
    );
    assert_eq!(state.counts.canary_n, 30);
    assert_eq!(state.counts.canary_x, 20);
    assert_eq!(v.evidence.estimate_canary, Some(20.0 / 30.0));
}

#[test]
fn a_sample_ratio_mismatch_is_inconclusive() {
    let config = GateSettings::default();
    let mut input = eval_tick((45, 5, 0), (45, 5, 0), 50, 1);
    input.canary_share = Some(0.01);
    input.telemetry.canary = rows(500, 0, |_| 100.0, 0.01);
    input.telemetry.baseline = rows(1500, 0, |_| 100.0, 0.01);
    let (_, v) = run(&config, &StagePlan::default(), "pass_rate", &[input]);
    assert!(
        matches!(reason(&v), InconclusiveReason::SampleRatioMismatch { .. }),
        "{v:?}"
    );
}

#[test]
fn a_matching_sample_ratio_is_not_flagged() {
    let config = GateSettings::default();
    let mut input = TickInput {
        canary_share: Some(0.1),
        ..TickInput::default()
    };
    input.telemetry.canary = rows(100, 0, |_| 1.0, 0.0);
    input.telemetry.baseline = rows(900, 0, |_| 1.0, 0.0);
    assert_eq!(sample_ratio_mismatch(&config, &input), None);
}

#[test]
fn feedback_without_a_matured_cohort_is_inconclusive() {
    let config = GateSettings::default();
    let (_, v) = run(
        &config,
        &StagePlan::default(),
        "thumbs_up_rate",
        &[TickInput::default()],
    );
    assert_eq!(
        reason(&v),
        &InconclusiveReason::FeedbackNotMatured {
            matured_fraction: 0.0
        }
    );
    let partial = TickInput {
        feedback: Some(FeedbackCohort {
            matured_fraction: 0.5,
            ..FeedbackCohort::default()
        }),
        ..TickInput::default()
    };
    let (_, v) = run(
        &config,
        &StagePlan::default(),
        "regeneration_rate",
        &[partial],
    );
    assert_eq!(
        reason(&v),
        &InconclusiveReason::FeedbackNotMatured {
            matured_fraction: 0.5
        }
    );
}

#[test]
fn a_stage_too_small_for_its_design_is_flagged_underpowered_at_start() {
    let config = GateSettings::default();
    let mut plan = StagePlan {
        eval_per_tick: 10.0,
        ..StagePlan::default()
    };
    plan.references.rates.insert("pass_rate".into(), 0.8);
    let (state, v) = run(
        &config,
        &plan,
        "pass_rate",
        &[eval_tick((8, 2, 0), (8, 2, 0), 10, 1)],
    );
    let flag = state.underpowered.unwrap();
    assert_eq!(flag.expected, 160.0);
    assert!(flag.need > 160);
    assert!(matches!(
        reason(&v),
        InconclusiveReason::StageUnderpowered { .. }
    ));
    let healthy = GateState::start(
        &config,
        &config.settings("pass_rate").unwrap(),
        "pass_rate",
        &StagePlan::default(),
    );
    assert_eq!(healthy.underpowered, None);
}

#[test]
fn a_slightly_worse_canary_is_not_yet_proven() {
    let config = GateSettings::default();
    let inputs: Vec<_> = (0..3)
        .map(|t| eval_tick((41, 9, 0), (45, 5, 0), 50, t))
        .collect();
    let (_, v) = run(&config, &StagePlan::default(), "pass_rate", &inputs);
    assert_eq!(reason(&v), &InconclusiveReason::NotYetProven);
}

#[test]
fn a_per_evaluator_pass_rate_halts_with_the_freeze_role() {
    let config = GateSettings::default();
    let mut inputs = Vec::new();
    for t in 0..8 {
        let mut input = eval_tick((45, 5, 0), (45, 5, 0), 50, t);
        input
            .eval
            .arms
            .canary
            .per_evaluator
            .insert("json".into(), outcomes(25, 25, 0));
        input
            .eval
            .arms
            .baseline
            .per_evaluator
            .insert("json".into(), outcomes(48, 2, 0));
        inputs.push(input);
    }
    let (_, v) = run(&config, &StagePlan::default(), "pass_rate:json", &inputs);
    assert!(
        matches!(
            v.verdict,
            Verdict::Halt {
                role: Role::Freeze,
                ..
            }
        ),
        "{v:?}"
    );
    assert!(!v.promotion_authority);
}

#[test]
fn a_rising_unscorable_rate_on_the_canary_halts_the_guardrail() {
    let config = GateSettings::default();
    let inputs: Vec<_> = (0..8)
        .map(|t| eval_tick((30, 5, 15), (45, 5, 0), 50, t))
        .collect();
    let (_, v) = run(&config, &StagePlan::default(), "unscorable_rate", &inputs);
    assert!(
        matches!(
            v.verdict,
            Verdict::Halt {
                role: Role::Freeze,
                ..
            }
        ),
        "{v:?}"
    );
}
