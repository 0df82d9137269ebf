//! STATS.md §8 defaults of every gating metric, by name.

use super::{Authority, Direction, MetricKind, MetricSettings, Scale};
use crate::domain::Role;

/// Metric names with built-in defaults (per-evaluator pass rates are `pass_rate:NAME`).
pub const METRICS: [&str; 12] = [
    "pass_rate",
    "thumbs_up_rate",
    "regeneration_rate",
    "escalation_rate",
    "refund_rate",
    "session_length",
    "error_rate",
    "cost_per_response",
    "completion_tokens",
    "latency_p95",
    "latency_p99",
    "unscorable_rate",
];

/// The override key whose values apply to every `pass_rate:EVALUATOR` metric.
pub const PER_EVALUATOR_KEY: &str = "pass_rate_evaluator";

/// STATS.md §8 defaults for a metric name; `None` for an unknown name.
pub fn default_settings(name: &str) -> Option<MetricSettings> {
    use Direction::{Higher, Lower};
    use MetricKind as K;
    let base = |kind, direction, scale, tolerance, must_catch, margin, role, n_min, authority| {
        MetricSettings {
            enabled: true,
            kind,
            direction,
            scale,
            tolerance,
            must_catch,
            promotion_margin: margin,
            alpha_halt: 0.01,
            alpha_fixed: false,
            weight: 0.0,
            alpha_promote: 0.05,
            role,
            n_min,
            promotion_authority: authority,
            prior_rate: 0.9,
            warmup: 100,
            winsorize_cap: None,
            quantile: 0.95,
            ceiling_max: 0.02,
            ceiling_alt: 0.03,
        }
    };
    let (rel, abs) = (Scale::Relative, Scale::Absolute);
    let settings = match name {
        "pass_rate" => base(
            K::PassRate,
            Higher,
            rel,
            1.0,
            0.8,
            0.8,
            Role::Rollback,
            100,
            Authority::Always,
        ),
        PER_EVALUATOR_KEY => base(
            K::PassRate,
            Higher,
            rel,
            1.0,
            0.8,
            0.8,
            Role::Freeze,
            100,
            Authority::Never,
        ),
        _ if name.starts_with("pass_rate:") => return default_settings(PER_EVALUATOR_KEY),
        "thumbs_up_rate" => MetricSettings {
            prior_rate: 0.7,
            ..base(
                K::FeedbackRate,
                Higher,
                rel,
                1.0,
                0.8,
                0.8,
                Role::Freeze,
                300,
                Authority::WhenPowered,
            )
        },
        "regeneration_rate" => MetricSettings {
            prior_rate: 0.05,
            ..base(
                K::FeedbackRate,
                Lower,
                rel,
                1.0,
                1.2,
                1.2,
                Role::Freeze,
                20_000,
                Authority::WhenPowered,
            )
        },
        "escalation_rate" => MetricSettings {
            prior_rate: 0.02,
            ..base(
                K::FeedbackRate,
                Lower,
                rel,
                1.0,
                1.2,
                1.2,
                Role::Freeze,
                50_000,
                Authority::WhenPowered,
            )
        },
        "refund_rate" => MetricSettings {
            prior_rate: 0.01,
            ..base(
                K::FeedbackRate,
                Lower,
                rel,
                1.0,
                1.2,
                1.2,
                Role::Freeze,
                50_000,
                Authority::WhenPowered,
            )
        },
        "session_length" => base(
            K::FeedbackMean,
            Lower,
            rel,
            1.0,
            1.2,
            1.2,
            Role::Notify,
            2_000,
            Authority::Never,
        ),
        "error_rate" => MetricSettings {
            prior_rate: 0.01,
            ..base(
                K::ErrorRate,
                Lower,
                abs,
                0.0,
                0.01,
                0.01,
                Role::Rollback,
                3_500,
                Authority::WhenPowered,
            )
        },
        "cost_per_response" => base(
            K::TelemetryMean,
            Lower,
            rel,
            1.0,
            1.2,
            1.2,
            Role::Freeze,
            2_000,
            Authority::WhenPowered,
        ),
        "completion_tokens" => base(
            K::TelemetryMean,
            Lower,
            rel,
            1.0,
            1.2,
            1.2,
            Role::Freeze,
            2_000,
            Authority::WhenPowered,
        ),
        "latency_p95" => MetricSettings {
            prior_rate: 0.05,
            ..base(
                K::LatencyTail,
                Lower,
                rel,
                1.0,
                1.2,
                1.2,
                Role::Rollback,
                1_200,
                Authority::WhenPowered,
            )
        },
        "latency_p99" => MetricSettings {
            prior_rate: 0.01,
            quantile: 0.99,
            ..base(
                K::LatencyTail,
                Lower,
                rel,
                1.0,
                1.2,
                1.2,
                Role::Freeze,
                4_500,
                Authority::WhenPowered,
            )
        },
        "unscorable_rate" => MetricSettings {
            prior_rate: 0.02,
            ..base(
                K::Unscorable,
                Lower,
                abs,
                0.0,
                0.05,
                0.05,
                Role::Freeze,
                100,
                Authority::Never,
            )
        },
        _ => return None,
    };
    Some(MetricSettings {
        weight: default_weight(name),
        ..settings
    })
}

/// The default share of the false-halt budget: most of it to the suite pass rate, the gate that
/// must catch a 20% drop fast; the rest to the guardrails by how often they are what breaks.
/// The weights sum to 1 over the metrics that can halt (`session_length` only notifies).
fn default_weight(name: &str) -> f64 {
    match name {
        "pass_rate" => 0.8,
        PER_EVALUATOR_KEY => 0.04,
        "error_rate" => 0.06,
        "latency_p95" => 0.03,
        "unscorable_rate" | "latency_p99" | "cost_per_response" | "thumbs_up_rate" => 0.0125,
        "completion_tokens" => 0.005,
        "regeneration_rate" | "escalation_rate" | "refund_rate" => 0.005,
        _ => 0.0,
    }
}
