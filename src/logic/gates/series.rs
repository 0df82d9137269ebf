//! Series points for people and Grafana, computed from one tick's input: per arm and evaluator
//! pass rates with a Wilson interval (labelled single-look: display only, never a decision), and
//! per arm values of the other metrics. The tick pipeline stores them with the window bounds and
//! evaluator versions (`pass_rate_series`, `metric_series`).

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::input::{ArmScores, TickInput};
use crate::domain::{Arm, Outcome};
use crate::logic::stats::wilson::{INTERVAL_KIND, wilson_interval};

/// The evaluator name used for the suite verdict in pass-rate series.
pub const OVERALL: &str = "overall";

/// One pass-rate point of one arm and evaluator for one window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PassRatePoint {
    /// The arm.
    pub arm: Arm,
    /// Evaluator name, or [`OVERALL`].
    pub evaluator: String,
    /// Scored units (pass + fail; unscorable excluded).
    pub n: u64,
    /// Passes.
    pub passes: u64,
    /// Fails.
    pub fails: u64,
    /// Unscorable units.
    pub unscorable: u64,
    /// passes / n.
    pub rate: Option<f64>,
    /// Wilson 95% lower bound (single look).
    pub wilson_low: Option<f64>,
    /// Wilson 95% upper bound (single look).
    pub wilson_high: Option<f64>,
    /// Always `single-look`.
    pub interval_kind: String,
}

fn point(arm: Arm, evaluator: &str, outcomes: &[Outcome]) -> PassRatePoint {
    let count = |o: Outcome| outcomes.iter().filter(|&&x| x == o).count() as u64;
    point_from_counts(
        arm,
        evaluator,
        count(Outcome::Pass),
        count(Outcome::Fail),
        count(Outcome::Unscorable),
    )
}

/// A pass-rate point from outcome counts (rescore aggregates counts, not outcomes).
pub fn point_from_counts(
    arm: Arm,
    evaluator: &str,
    passes: u64,
    fails: u64,
    unscorable: u64,
) -> PassRatePoint {
    let n = passes + fails;
    let interval = wilson_interval(passes, n, 0.05);
    PassRatePoint {
        arm,
        evaluator: evaluator.to_string(),
        n,
        passes,
        fails,
        unscorable,
        rate: (n > 0).then(|| passes as f64 / n as f64),
        wilson_low: interval.map(|i| i.0),
        wilson_high: interval.map(|i| i.1),
        interval_kind: INTERVAL_KIND.to_string(),
    }
}

/// Pass-rate points per arm: the overall verdict and each evaluator.
pub fn pass_rate_points(input: &TickInput) -> Vec<PassRatePoint> {
    let mut out = Vec::new();
    let arms: [(Arm, &ArmScores); 2] = [
        (Arm::Baseline, &input.eval.arms.baseline),
        (Arm::Canary, &input.eval.arms.canary),
    ];
    for (arm, scores) in arms {
        out.push(point(arm, OVERALL, &scores.overall));
        for (evaluator, outcomes) in &scores.per_evaluator {
            out.push(point(arm, evaluator, outcomes));
        }
    }
    out
}

/// One value of one metric on one arm for one window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricPoint {
    /// The arm.
    pub arm: Arm,
    /// Metric name.
    pub metric: String,
    /// Units behind the value.
    pub n: u64,
    /// The value (rate, mean or sample quantile), when defined.
    pub value: Option<f64>,
    /// Extra numbers (e.g. error count).
    pub extra: serde_json::Value,
}

fn mean(xs: &[f64]) -> Option<f64> {
    (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
}

fn sample_quantile(xs: &[f64], q: f64) -> Option<f64> {
    let mut sorted: Vec<f64> = xs.to_vec();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let index = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    Some(sorted[index])
}

/// Per-arm telemetry and feedback points of a tick (display values; decisions use the tests).
pub fn metric_points(input: &TickInput) -> Vec<MetricPoint> {
    let mut out = Vec::new();
    for arm in Arm::ALL {
        let rows = match arm {
            Arm::Baseline => &input.telemetry.baseline,
            Arm::Canary => &input.telemetry.canary,
        };
        let errors = rows.iter().filter(|r| r.error).count() as u64;
        let n = rows.len() as u64;
        let mut push = |metric: &str, n: u64, value: Option<f64>, extra: serde_json::Value| {
            out.push(MetricPoint {
                arm,
                metric: metric.to_string(),
                n,
                value,
                extra,
            });
        };
        push(
            "error_rate",
            n,
            (n > 0).then(|| errors as f64 / n as f64),
            json!({ "errors": errors }),
        );
        let latency: Vec<f64> = rows.iter().filter_map(|r| r.latency_ms).collect();
        let cost: Vec<f64> = rows.iter().filter_map(|r| r.cost_usd).collect();
        let tokens: Vec<f64> = rows
            .iter()
            .filter_map(|r| r.completion_tokens.map(|t| t as f64))
            .collect();
        push(
            "latency_p95",
            latency.len() as u64,
            sample_quantile(&latency, 0.95),
            json!({ "kind": "sample-quantile" }),
        );
        push(
            "latency_p99",
            latency.len() as u64,
            sample_quantile(&latency, 0.99),
            json!({ "kind": "sample-quantile" }),
        );
        push(
            "cost_per_response",
            cost.len() as u64,
            mean(&cost),
            json!({ "total_usd": cost.iter().sum::<f64>() }),
        );
        push(
            "completion_tokens",
            tokens.len() as u64,
            mean(&tokens),
            json!({}),
        );
        if let Some(cohort) = &input.feedback {
            let units = match arm {
                Arm::Baseline => &cohort.arms.baseline,
                Arm::Canary => &cohort.arms.canary,
            };
            let rated: Vec<bool> = units.iter().filter_map(|u| u.thumbs_up).collect();
            let rate = |flags: Vec<bool>| {
                let n = flags.len() as u64;
                (
                    n,
                    (n > 0).then(|| flags.iter().filter(|&&f| f).count() as f64 / n as f64),
                )
            };
            let extra = json!({ "matured_fraction": cohort.matured_fraction });
            let (n_rated, thumbs) = rate(rated);
            push("thumbs_up_rate", n_rated, thumbs, extra.clone());
            let (n_units, regen) = rate(units.iter().map(|u| u.regenerated).collect());
            push("regeneration_rate", n_units, regen, extra.clone());
            push(
                "escalation_rate",
                n_units,
                rate(units.iter().map(|u| u.escalated).collect()).1,
                extra.clone(),
            );
            push(
                "refund_rate",
                n_units,
                rate(units.iter().map(|u| u.refunded).collect()).1,
                extra.clone(),
            );
            let sessions: Vec<f64> = units.iter().filter_map(|u| u.session_length).collect();
            push(
                "session_length",
                sessions.len() as u64,
                mean(&sessions),
                extra,
            );
        }
    }
    out
}
