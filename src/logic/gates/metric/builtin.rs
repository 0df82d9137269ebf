//! The built-in gating metrics with their STATS.md §8 defaults, one [`MetricDef`] each. The table
//! order is the order of the metric series points (telemetry first, then feedback); the order in
//! which a tick evaluates the gates is by name.
//!
//! Default weights (the share of the false-halt budget): most of it to the suite pass rate, the
//! gate that must catch a 20% drop fast; the rest to the guardrails by how often they are what
//! breaks. They sum to 1 over the metrics that can halt (`session_length` only notifies).

use super::{
    Authority, BenchCells, Direction, Display, FeedbackField, MetricDef, MetricKind,
    MetricSettings, PER_EVALUATOR_KEY, Reference, Scale, Source, TelemetryField,
};
use crate::domain::Role;

/// The per-evaluator pass rates `pass_rate:EVALUATOR` (defaults and override key
/// [`PER_EVALUATOR_KEY`]).
pub const PER_EVALUATOR: MetricDef = MetricDef {
    name: PER_EVALUATOR_KEY,
    kind: MetricKind::PassRate,
    source: Source::EvaluatorVerdict,
    defaults: || {
        base(
            MetricKind::PassRate,
            Higher,
            Relative,
            (1.0, 0.8, 0.8),
            Role::Freeze,
            100,
            Authority::Never,
        )
    },
    weight: 0.04,
    display: Display::None,
    reference: Reference::None,
    synth: None,
    bench: None,
};

use Direction::{Higher, Lower};
use Scale::{Absolute, Relative};

/// Every built-in metric but the per-evaluator pass rates.
pub const BUILTIN: &[MetricDef] = &[
    MetricDef {
        name: "error_rate",
        kind: MetricKind::ErrorRate,
        source: Source::Errors,
        defaults: || MetricSettings {
            prior_rate: 0.01,
            ..base(
                MetricKind::ErrorRate,
                Lower,
                Absolute,
                (0.0, 0.01, 0.01),
                Role::Rollback,
                3_500,
                Authority::WhenPowered,
            )
        },
        weight: 0.06,
        display: Display::ErrorRate,
        reference: Reference::ErrorRate,
        synth: None,
        bench: None,
    },
    MetricDef {
        name: "latency_p95",
        kind: MetricKind::LatencyTail,
        source: Source::Telemetry(TelemetryField::LatencyMs),
        defaults: || MetricSettings {
            prior_rate: 0.05,
            ..tail(Role::Rollback, 1_200)
        },
        weight: 0.03,
        display: Display::SampleQuantile,
        reference: Reference::Tail,
        synth: None,
        bench: None,
    },
    MetricDef {
        name: "latency_p99",
        kind: MetricKind::LatencyTail,
        source: Source::Telemetry(TelemetryField::LatencyMs),
        defaults: || MetricSettings {
            prior_rate: 0.01,
            quantile: 0.99,
            ..tail(Role::Freeze, 4_500)
        },
        weight: 0.0125,
        display: Display::SampleQuantile,
        reference: Reference::Tail,
        synth: None,
        bench: None,
    },
    MetricDef {
        name: "ttft_p95",
        kind: MetricKind::LatencyTail,
        source: Source::Telemetry(TelemetryField::TtftMs),
        defaults: || MetricSettings {
            prior_rate: 0.05,
            ..ttft(1_200)
        },
        weight: 0.03,
        display: Display::SampleQuantile,
        reference: Reference::Tail,
        synth: Some(synth_ttft),
        bench: Some(BenchCells {
            false_halt_id: "TTFT-1",
            detection_id: "TTFT-2",
            detection_target: "1.2× slower first token: ≥ 95% by tick 11",
            slowdown: 1.2,
            detect_by: 11,
        }),
    },
    MetricDef {
        name: "ttft_p99",
        kind: MetricKind::LatencyTail,
        source: Source::Telemetry(TelemetryField::TtftMs),
        defaults: || MetricSettings {
            prior_rate: 0.01,
            quantile: 0.99,
            ..ttft(4_500)
        },
        weight: 0.0125,
        display: Display::SampleQuantile,
        reference: Reference::Tail,
        synth: Some(synth_ttft),
        bench: Some(BenchCells {
            false_halt_id: "TTFT-3",
            detection_id: "TTFT-4",
            detection_target: "p99, 1.3× slower first token: ≥ 95% by tick 12",
            slowdown: 1.3,
            detect_by: 12,
        }),
    },
    MetricDef {
        name: "cost_per_response",
        kind: MetricKind::TelemetryMean,
        source: Source::Telemetry(TelemetryField::CostUsd),
        defaults: || lower_ratio(MetricKind::TelemetryMean, Role::Freeze, 2_000),
        weight: 0.0125,
        display: Display::Mean {
            total: Some("total_usd"),
        },
        reference: Reference::MeanAndCap,
        synth: None,
        bench: None,
    },
    MetricDef {
        name: "completion_tokens",
        kind: MetricKind::TelemetryMean,
        source: Source::Telemetry(TelemetryField::CompletionTokens),
        defaults: || lower_ratio(MetricKind::TelemetryMean, Role::Freeze, 2_000),
        weight: 0.005,
        display: Display::Mean { total: None },
        reference: Reference::MeanAndCap,
        synth: None,
        bench: None,
    },
    MetricDef {
        name: "thumbs_up_rate",
        kind: MetricKind::FeedbackRate,
        source: Source::Feedback(FeedbackField::ThumbsUp),
        defaults: || MetricSettings {
            prior_rate: 0.7,
            ..base(
                MetricKind::FeedbackRate,
                Higher,
                Relative,
                (1.0, 0.8, 0.8),
                Role::Freeze,
                300,
                Authority::WhenPowered,
            )
        },
        weight: 0.0125,
        display: Display::Feedback,
        reference: Reference::None,
        synth: None,
        bench: None,
    },
    MetricDef {
        name: "regeneration_rate",
        kind: MetricKind::FeedbackRate,
        source: Source::Feedback(FeedbackField::Regenerated),
        defaults: || MetricSettings {
            prior_rate: 0.05,
            ..lower_ratio(MetricKind::FeedbackRate, Role::Freeze, 20_000)
        },
        weight: 0.005,
        display: Display::Feedback,
        reference: Reference::None,
        synth: None,
        bench: None,
    },
    MetricDef {
        name: "escalation_rate",
        kind: MetricKind::FeedbackRate,
        source: Source::Feedback(FeedbackField::Escalated),
        defaults: || MetricSettings {
            prior_rate: 0.02,
            ..lower_ratio(MetricKind::FeedbackRate, Role::Freeze, 50_000)
        },
        weight: 0.005,
        display: Display::Feedback,
        reference: Reference::None,
        synth: None,
        bench: None,
    },
    MetricDef {
        name: "refund_rate",
        kind: MetricKind::FeedbackRate,
        source: Source::Feedback(FeedbackField::Refunded),
        defaults: || MetricSettings {
            prior_rate: 0.01,
            ..lower_ratio(MetricKind::FeedbackRate, Role::Freeze, 50_000)
        },
        weight: 0.005,
        display: Display::Feedback,
        reference: Reference::None,
        synth: None,
        bench: None,
    },
    MetricDef {
        name: "session_length",
        kind: MetricKind::FeedbackMean,
        source: Source::Feedback(FeedbackField::SessionLength),
        defaults: || MetricSettings {
            promotion_authority: Authority::Never,
            ..lower_ratio(MetricKind::FeedbackMean, Role::Notify, 2_000)
        },
        weight: 0.0,
        display: Display::Feedback,
        reference: Reference::None,
        synth: None,
        bench: None,
    },
    MetricDef {
        name: "pass_rate",
        kind: MetricKind::PassRate,
        source: Source::SuiteVerdict,
        defaults: || {
            base(
                MetricKind::PassRate,
                Higher,
                Relative,
                (1.0, 0.8, 0.8),
                Role::Rollback,
                100,
                Authority::Always,
            )
        },
        weight: 0.8,
        display: Display::None,
        reference: Reference::None,
        synth: None,
        bench: None,
    },
    MetricDef {
        name: "unscorable_rate",
        kind: MetricKind::Unscorable,
        source: Source::Unscorable,
        defaults: || MetricSettings {
            prior_rate: 0.02,
            ..base(
                MetricKind::Unscorable,
                Lower,
                Absolute,
                (0.0, 0.05, 0.05),
                Role::Freeze,
                100,
                Authority::Never,
            )
        },
        weight: 0.0125,
        display: Display::None,
        reference: Reference::None,
        synth: None,
        bench: None,
    },
];

/// Time to first token, the latency a chat user feels first: the latency tail test on `ttft_ms`,
/// with the weight latency has, but `notify` and without promotion authority by default, so
/// adding it neither re-splits the false-halt budget of existing gates nor lets a deployment that
/// logs no TTFT (nothing streams) hold up promotion. Opt in with
/// `[gates.metrics.ttft_p95] role = "rollback"` (and `promotion_authority = "when_powered"`).
/// Requests without a TTFT (not streamed) are missing, never 0.
const fn ttft(n_min: u64) -> MetricSettings {
    MetricSettings {
        promotion_authority: Authority::Never,
        ..tail(Role::Notify, n_min)
    }
}

/// Synthetic TTFT: an error or an unstreamed response (15%) has none; a streamed one gets its
/// first token after 15–40% of its latency (so a slower canary is slower to first token too).
fn synth_ttft(request: &crate::domain::Request, streamed: f64, share: f64) -> Option<f64> {
    if request.status == crate::domain::RequestStatus::Error || streamed < 0.15 {
        return None;
    }
    let latency = request.latency_ms?;
    let ttft = latency * (0.15 + 0.25 * share);
    Some((ttft * 10.0).round() / 10.0)
}

/// A latency-tail metric's defaults: relative, lower is better, 1.2× must-catch and margin, p95.
const fn tail(role: Role, n_min: u64) -> MetricSettings {
    lower_ratio(MetricKind::LatencyTail, role, n_min)
}

/// Relative, lower is better, tolerance 1, must-catch and margin 1.2×, authority when powered.
const fn lower_ratio(kind: MetricKind, role: Role, n_min: u64) -> MetricSettings {
    base(
        kind,
        Lower,
        Relative,
        (1.0, 1.2, 1.2),
        role,
        n_min,
        Authority::WhenPowered,
    )
}

/// The shared defaults; `(tolerance, must_catch, promotion_margin)` as a triple.
const fn base(
    kind: MetricKind,
    direction: Direction,
    scale: Scale,
    (tolerance, must_catch, promotion_margin): (f64, f64, f64),
    role: Role,
    n_min: u64,
    promotion_authority: Authority,
) -> MetricSettings {
    MetricSettings {
        enabled: true,
        kind,
        direction,
        scale,
        tolerance,
        must_catch,
        promotion_margin,
        alpha_halt: 0.01,
        alpha_fixed: false,
        weight: 0.0,
        alpha_promote: 0.05,
        role,
        n_min,
        promotion_authority,
        prior_rate: 0.9,
        warmup: 100,
        winsorize_cap: None,
        quantile: 0.95,
        ceiling_max: 0.02,
        ceiling_alt: 0.03,
    }
}
