//! Tests of the `[gates]` section: defaults, overrides, validation, budget.

use super::*;

#[test]
fn every_named_metric_has_valid_defaults() {
    let settings = GateSettings::default();
    for name in metric::builtin_names().chain([PER_EVALUATOR_KEY, "pass_rate:json"]) {
        let s = settings.settings(name).unwrap();
        check_settings(&s).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    assert!(GatesConfig::default().validate().is_ok());
}

#[test]
fn an_override_replaces_only_its_fields() {
    let mut config = GatesConfig::default();
    config.metrics.insert(
        "latency_p99".into(),
        MetricOverride {
            role: Some(Role::Rollback),
            alpha_halt: Some(0.005),
            ..Default::default()
        },
    );
    let s = config.resolve().settings("latency_p99").unwrap();
    assert_eq!(s.role, Role::Rollback);
    assert_eq!(s.alpha_halt, 0.005);
    assert_eq!(s.quantile, 0.99);
}

#[test]
fn per_evaluator_defaults_apply_before_the_evaluators_own_override() {
    let mut config = GatesConfig::default();
    config.metrics.insert(
        PER_EVALUATOR_KEY.into(),
        MetricOverride {
            alpha_halt: Some(0.002),
            ..Default::default()
        },
    );
    config.metrics.insert(
        "pass_rate:json".into(),
        MetricOverride {
            role: Some(Role::Notify),
            ..Default::default()
        },
    );
    let s = config.resolve().settings("pass_rate:json").unwrap();
    assert_eq!((s.alpha_halt, s.role), (0.002, Role::Notify));
    assert_eq!(
        config.resolve().settings("pass_rate:other").unwrap().role,
        Role::Freeze
    );
}

#[test]
fn an_unknown_metric_name_is_rejected_with_the_allowed_names() {
    let mut config = GatesConfig::default();
    config
        .metrics
        .insert("pass_rat".into(), MetricOverride::default());
    let crate::config::Invalid { key, message: msg } = config.validate().unwrap_err();
    assert_eq!(key, "gates.metrics");
    assert!(
        msg.contains("pass_rat") && msg.contains("latency_p95"),
        "{msg}"
    );
}

#[test]
fn a_must_catch_on_the_wrong_side_is_rejected() {
    let mut config = GatesConfig::default();
    config.metrics.insert(
        "pass_rate".into(),
        MetricOverride {
            must_catch: Some(1.1),
            ..Default::default()
        },
    );
    assert!(config.validate().is_err());
    let mut config = GatesConfig::default();
    config.metrics.insert(
        "error_rate".into(),
        MetricOverride {
            alpha_halt: Some(1.5),
            ..Default::default()
        },
    );
    assert!(config.validate().is_err());
}

#[test]
fn the_budget_is_validated_and_fixed_alphas_must_leave_room() {
    let mut config = GatesConfig {
        false_halt_budget: 0.0,
        ..GatesConfig::default()
    };
    assert!(config.validate().is_err());
    config.false_halt_budget = 0.01;
    config.metrics.insert(
        "latency_p99".into(),
        MetricOverride {
            alpha_halt: Some(0.02),
            ..Default::default()
        },
    );
    let err = config.validate().unwrap_err();
    assert!(err.message.contains("false_halt_budget"), "{err:?}");
    config.metrics.insert(
        "latency_p99".into(),
        MetricOverride {
            alpha_halt: Some(0.001),
            ..Default::default()
        },
    );
    assert!(config.validate().is_ok());
    config.metrics.insert(
        "cost_per_response".into(),
        MetricOverride {
            weight: Some(0.0),
            ..Default::default()
        },
    );
    assert!(config.validate().is_err(), "a zero weight must be refused");
}
