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
