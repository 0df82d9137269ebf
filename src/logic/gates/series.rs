//! Series points for people and Grafana, computed from one tick's input: per arm and evaluator
//! pass rates with a Wilson interval (labelled single-look: display only, never a decision), and
//! per arm values of the other metrics. The tick pipeline stores them with the window bounds and
//! evaluator versions (`pass_rate_series`, `metric_series`).

use serde::{Deserialize, Serialize};

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

/// Per-arm telemetry and feedback points of a tick, one per registered metric with a series
/// (display values; decisions use the tests).
pub fn metric_points(input: &TickInput) -> Vec<MetricPoint> {
    super::metric::metric_points(input)
}
