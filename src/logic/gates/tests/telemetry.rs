//! Table tests of the telemetry and feedback families and of whole-tick evaluation.

use std::collections::BTreeMap;

use super::super::*;
use super::{eval_tick, now, outcomes, reason, rows, run};
use crate::domain::Role;
use crate::logic::gates::settings::GateSettings;

fn telemetry_tick(seed: u64, canary: Vec<TelemetryRow>, baseline: Vec<TelemetryRow>) -> TickInput {
    let mut input = TickInput {
        pairing_seed: seed,
        ..TickInput::default()
    };
    input.telemetry = PerArm { canary, baseline };
    input
}

#[test]
fn an_error_rate_rise_of_four_points_halts_with_rollback() {
    let config = GateSettings::default();
    let inputs: Vec<_> = (0..6)
        .map(|t| {
            telemetry_tick(
                t,
                rows(1000, 50, |_| 1.0, 0.01),
                rows(1000, 10, |_| 1.0, 0.01),
            )
        })
        .collect();
    let (_, v) = run(&config, &StagePlan::default(), "error_rate", &inputs);
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
}

#[test]
fn the_error_ceiling_halts_even_when_the_baseline_is_equally_broken() {
    let config = GateSettings::default();
    let inputs: Vec<_> = (0..10)
        .map(|t| {
            telemetry_tick(
                t,
                rows(1000, 45, |_| 1.0, 0.01),
                rows(1000, 45, |_| 1.0, 0.01),
            )
        })
        .collect();
    let (_, v) = run(&config, &StagePlan::default(), "error_rate", &inputs);
    let Verdict::Halt { reason, .. } = &v.verdict else {
        panic!("{v:?}")
    };
    assert!(reason.contains("ceiling"), "{reason}");
}

#[test]
fn equal_low_error_rates_do_not_halt() {
    let config = GateSettings::default();
    let inputs: Vec<_> = (0..16)
        .map(|t| {
            telemetry_tick(
                t,
                rows(1000, 5, |_| 1.0, 0.01),
                rows(1000, 5, |_| 1.0, 0.01),
            )
        })
        .collect();
    let (_, v) = run(&config, &StagePlan::default(), "error_rate", &inputs);
    assert!(!v.verdict.is_halt(), "{v:?}");
}

#[test]
fn a_latency_slowdown_halts_p95_after_freezing_the_threshold_from_the_first_tick() {
    let config = GateSettings::default();
    let base = |i: usize| 100.0 + (i * 37 % 200) as f64;
    let slow = |i: usize| 1.5 * (100.0 + (i * 37 % 200) as f64);
    let inputs: Vec<_> = (0..8)
        .map(|t| telemetry_tick(t, rows(400, 0, slow, 0.01), rows(400, 0, base, 0.01)))
        .collect();
    let (state, v) = run(&config, &StagePlan::default(), "latency_p95", &inputs);
    let TestState::Latency { reference, .. } = &state.test else {
        panic!()
    };
    assert!(reference.unwrap().threshold_ms > 280.0);
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
    assert!(v.evidence.extra.contains_key("threshold_ms"));
}

#[test]
fn a_latency_metric_without_history_waits_one_tick_to_freeze() {
    let config = GateSettings::default();
    let input = telemetry_tick(
        1,
        rows(200, 0, |i| i as f64, 0.01),
        rows(200, 0, |i| i as f64, 0.01),
    );
    let (state, v) = run(&config, &StagePlan::default(), "latency_p99", &[input]);
    assert_eq!(state.ticks, 0);
    assert!(matches!(
        reason(&v),
        InconclusiveReason::TooFewSamples { have: 0, .. }
    ));
}

#[test]
fn cost_waits_for_the_warm_up_then_halts_on_a_50_percent_increase() {
    let config = GateSettings::default();
    let first = telemetry_tick(1, rows(50, 0, |_| 1.0, 0.015), rows(50, 0, |_| 1.0, 0.01));
    let (_, v) = run(
        &config,
        &StagePlan::default(),
        "cost_per_response",
        std::slice::from_ref(&first),
    );
    assert_eq!(
        reason(&v),
        &InconclusiveReason::TooFewSamples {
            have: 50,
            need: 100
        }
    );
    let inputs: Vec<_> = (0..6)
        .map(|t| telemetry_tick(t, rows(200, 0, |_| 1.0, 0.015), rows(200, 0, |_| 1.0, 0.01)))
        .collect();
    let (_, v) = run(&config, &StagePlan::default(), "cost_per_response", &inputs);
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

#[test]
fn equal_token_counts_do_not_halt() {
    let config = GateSettings::default();
    let inputs: Vec<_> = (0..8)
        .map(|t| telemetry_tick(t, rows(300, 0, |_| 1.0, 0.01), rows(300, 0, |_| 1.0, 0.01)))
        .collect();
    let (_, v) = run(&config, &StagePlan::default(), "completion_tokens", &inputs);
    assert!(!v.verdict.is_halt(), "{v:?}");
}

fn feedback_tick(seed: u64, canary: Vec<FeedbackUnit>, baseline: Vec<FeedbackUnit>) -> TickInput {
    TickInput {
        pairing_seed: seed,
        feedback: Some(FeedbackCohort {
            matured_fraction: 1.0,
            arms: PerArm { canary, baseline },
            ..FeedbackCohort::default()
        }),
        ..TickInput::default()
    }
}

fn units(n: usize, up: usize, regenerated: usize, session: f64) -> Vec<FeedbackUnit> {
    (0..n)
        .map(|i| FeedbackUnit {
            thumbs_up: Some(i < up),
            regenerated: i < regenerated,
            escalated: false,
            refunded: false,
            session_length: Some(session + (i % 5) as f64),
        })
        .collect()
}

#[test]
fn feedback_rates_and_session_length_halt_on_matured_cohorts() {
    let config = GateSettings::default();
    let inputs: Vec<_> = (0..8)
        .map(|t| feedback_tick(t, units(200, 100, 40, 9.0), units(200, 150, 10, 5.0)))
        .collect();
    for (metric, role) in [
        ("thumbs_up_rate", Role::Freeze),
        ("regeneration_rate", Role::Freeze),
        ("session_length", Role::Notify),
    ] {
        let (_, v) = run(&config, &StagePlan::default(), metric, &inputs);
        assert!(
            matches!(&v.verdict, Verdict::Halt { role: r, .. } if *r == role),
            "{metric}: {v:?}"
        );
    }
}

#[test]
fn low_volume_feedback_metrics_are_halt_only_guardrails() {
    let config = GateSettings::default();
    let plan = StagePlan {
        feedback_per_tick: 20.0,
        ..StagePlan::default()
    };
    let settings = config.settings("escalation_rate").unwrap();
    assert!(!GateState::start(&config, &settings, "escalation_rate", &plan).promotion_authority);
    let big = StagePlan {
        feedback_per_tick: 10_000.0,
        ..StagePlan::default()
    };
    assert!(GateState::start(&config, &settings, "escalation_rate", &big).promotion_authority);
}

#[test]
fn a_state_restored_from_json_continues_the_same_test() {
    let config = GateSettings::default();
    let settings = config.settings("pass_rate").unwrap();
    let inputs: Vec<_> = (0..6)
        .map(|t| eval_tick((38, 12, 0), (45, 5, 0), 50, t))
        .collect();
    let mut straight = GateState::start(&config, &settings, "pass_rate", &StagePlan::default());
    let mut restored = straight.clone();
    for input in &inputs {
        straight = update(&config, &settings, &straight, input, now()).0;
        let json = serde_json::to_string(&restored).unwrap();
        restored = serde_json::from_str(&json).unwrap();
        restored = update(&config, &settings, &restored, input, now()).0;
    }
    assert_eq!(straight, restored);
}

#[test]
fn evaluating_a_tick_covers_every_metric_and_reports_the_budget() {
    let config = GateSettings::default();
    let mut input = eval_tick((45, 5, 0), (45, 5, 0), 50, 9);
    input
        .eval
        .arms
        .canary
        .per_evaluator
        .insert("json".into(), outcomes(45, 5, 0));
    let eval = evaluate_tick(
        &config,
        &StagePlan::default(),
        &BTreeMap::new(),
        &input,
        now(),
    );
    // Every built-in metric of the registry, plus the evaluator's own pass rate.
    let metrics = crate::logic::gates::metric::BUILTIN.len() + 1;
    assert_eq!(eval.verdicts.len(), metrics);
    assert_eq!(eval.states.len(), metrics);
    assert!(eval.verdicts.iter().any(|v| v.metric == "pass_rate:json"));
    // One budget for the whole family, however many evaluators (docs/STATISTICS.md §2).
    assert!((eval.false_halt_budget - 0.01).abs() < 1e-12);
    assert!(eval.updates.iter().all(|u| u.pairing_seed == 9));
    // The next stage carries the states over and resets per-stage counts.
    let plan2 = StagePlan {
        stage: 1,
        ..StagePlan::default()
    };
    let eval2 = evaluate_tick(&config, &plan2, &eval.states, &input, now());
    let pass = &eval2.states["pass_rate"];
    assert_eq!((pass.stage, pass.ticks, pass.counts.canary_n), (1, 1, 50));
}

#[test]
fn disabled_metrics_are_not_evaluated() {
    let mut config = GateSettings::default();
    config = config.with_override(
        "session_length",
        crate::logic::gates::settings::MetricOverride {
            enabled: Some(false),
            ..Default::default()
        },
    );
    config.per_evaluator = false;
    let eval = evaluate_tick(
        &config,
        &StagePlan::default(),
        &BTreeMap::new(),
        &TickInput::default(),
        now(),
    );
    assert_eq!(
        eval.verdicts.len(),
        crate::logic::gates::metric::BUILTIN.len() - 1
    );
    assert!(!eval.verdicts.iter().any(|v| v.metric == "session_length"));
}

#[test]
fn series_points_label_the_wilson_interval_single_look() {
    let input = eval_tick((40, 8, 2), (45, 5, 0), 50, 1);
    let points = series::pass_rate_points(&input);
    let canary = points
        .iter()
        .find(|p| p.arm == crate::domain::Arm::Canary)
        .unwrap();
    assert_eq!(
        (canary.n, canary.passes, canary.fails, canary.unscorable),
        (48, 40, 8, 2)
    );
    assert_eq!(canary.interval_kind, "single-look");
    assert!(canary.wilson_low.unwrap() < canary.rate.unwrap());
    let metrics = series::metric_points(&telemetry_tick(
        1,
        rows(10, 2, |i| i as f64, 0.01),
        rows(10, 0, |i| i as f64, 0.01),
    ));
    let err = metrics
        .iter()
        .find(|p| p.metric == "error_rate" && p.arm == crate::domain::Arm::Canary)
        .unwrap();
    assert_eq!(err.value, Some(0.2));
}

#[test]
fn the_merged_error_e_value_is_never_weaker_than_the_split_it_replaces() {
    use crate::logic::gates::paired::{ERROR_RELATIVE_WEIGHT as W, ErrorEvidence};
    for (relative, ceiling) in [(5.0, -3.0), (-2.0, 6.0), (4.0, 4.0), (0.0, 0.0), (9.0, 9.5)] {
        let merged = ErrorEvidence::merge(relative, ceiling);
        // Splitting α as w and 1 − w halts when E_r ≥ 1/(wα) or E_c ≥ 1/((1 − w)α), i.e. when
        // max(w·E_r, (1 − w)·E_c) ≥ 1/α; the merge is at least that maximum.
        let split = (W.ln() + relative).max((1.0 - W).ln() + ceiling);
        assert!(merged.ln_e >= split - 1e-12, "{relative} {ceiling}");
        // …and at most their sum, so it never exceeds what the two tests together could claim.
        let sum = ((W.ln() + relative).exp() + ((1.0 - W).ln() + ceiling).exp()).ln();
        assert!((merged.ln_e - sum).abs() < 1e-9);
    }
    assert!(ErrorEvidence::merge(-1.0, 8.0).ceiling_decides);
    assert!(!ErrorEvidence::merge(8.0, -1.0).ceiling_decides);
}

#[test]
fn a_relative_error_rise_under_the_ceiling_names_the_relative_test() {
    let config = GateSettings::default();
    // 0.5% → 1.5% of 1,000 requests per tick: three times the baseline, under the 2% ceiling.
    let inputs: Vec<_> = (0..16)
        .map(|t| {
            telemetry_tick(
                t,
                rows(1000, 15, |_| 1.0, 0.01),
                rows(1000, 5, |_| 1.0, 0.01),
            )
        })
        .collect();
    let (_, v) = run(&config, &StagePlan::default(), "error_rate", &inputs);
    let Verdict::Halt { reason, .. } = &v.verdict else {
        panic!("{v:?}")
    };
    assert!(reason.starts_with("error_rate: e-value"), "{reason}");
    assert!(reason.contains("75% × relative"), "{reason}");
}
