//! What one tick feeds the gates, and the stage plan frozen at stage start.
//!
//! The tick pipeline fills a [`TickInput`] per rollout per window:
//!
//! - `eval`: per arm, the outcomes of the sampled units, overall and per evaluator
//!   (`domain::Score` rows, grouped by [`ArmScores::from_scores`]). The overall outcome of a
//!   unit is its stored suite-verdict row, which `evaluators::suite_outcome` (the one place
//!   that applies `gate: false`, weights and the pass rule) decided when it was scored; a unit
//!   without that row is unscorable, never re-derived by another rule. Unscorable units are
//!   missing for the pass rate, never a pass, and feed the `unscorable_rate` guardrail.
//!   `wanted_per_arm` is N; a canary arm with fewer units than N·`min_canary_fill` is a shortfall.
//! - `telemetry`: per arm, one [`TelemetryRow`] per request of the window, ALL requests (not the
//!   eval sample), straight from `Store::window_telemetry` rows (`status == "error"` → `error`).
//! - `feedback`: the matured cohort whose feedback window has closed, per arm one
//!   [`FeedbackUnit`] per response; `None` when no cohort matured this tick. Feed each cohort once.
//! - `pairing_seed`: the logged seed of the outcome-blind shuffle (store it with the tick).
//! - `canary_share`: the configured split (basis points / 10 000), for sample-ratio mismatch.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::{Outcome, Score, Timestamp};
use crate::logic::stats::summary::{nearest_rank, sorted_finite};

/// A value per arm.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PerArm<T> {
    /// The production arm.
    pub baseline: T,
    /// The arm under test.
    pub canary: T,
}

/// One arm's scored sample.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ArmScores {
    /// The suite verdict of each sampled unit.
    pub overall: Vec<Outcome>,
    /// Each evaluator's outcomes, by evaluator name.
    pub per_evaluator: BTreeMap<String, Vec<Outcome>>,
}

impl ArmScores {
    /// Builds an arm's sample from its `Score` rows. `suite` names the suite-verdict evaluator;
    /// a request without such a row is unscorable overall (its verdict was never decided by
    /// `suite_outcome`, and this layer does not know the suite's gating flags and weights to
    /// decide it here). Its evaluators' outcomes still count per evaluator.
    pub fn from_scores(scores: &[Score], suite: &str) -> ArmScores {
        let mut by_request: BTreeMap<&str, Vec<&Score>> = BTreeMap::new();
        for score in scores {
            by_request
                .entry(score.request_id.as_str())
                .or_default()
                .push(score);
        }
        let mut arm = ArmScores::default();
        for rows in by_request.values() {
            let overall = match rows.iter().find(|s| s.evaluator == suite) {
                Some(suite_row) => suite_row.outcome,
                None => Outcome::Unscorable,
            };
            arm.overall.push(overall);
            for row in rows.iter().filter(|s| s.evaluator != suite) {
                arm.per_evaluator
                    .entry(row.evaluator.clone())
                    .or_default()
                    .push(row.outcome);
            }
        }
        arm
    }
}

/// The eval sample of a tick.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EvalSample {
    /// Scores per arm.
    pub arms: PerArm<ArmScores>,
    /// N: units the tick asked for per arm.
    pub wanted_per_arm: u64,
}

/// One request's telemetry (a `Store::window_telemetry` row).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TelemetryRow {
    /// End-to-end latency, when logged.
    pub latency_ms: Option<f64>,
    /// Time to first token, when logged (streamed responses only).
    #[serde(default)]
    pub ttft_ms: Option<f64>,
    /// Cost, when logged.
    pub cost_usd: Option<f64>,
    /// Completion tokens, when logged.
    pub completion_tokens: Option<i64>,
    /// `status == error`.
    pub error: bool,
}

/// The feedback of one response in a matured cohort.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FeedbackUnit {
    /// Thumbs: `Some(true)` up, `Some(false)` down, `None` unrated.
    pub thumbs_up: Option<bool>,
    /// The user regenerated the response.
    pub regenerated: bool,
    /// The conversation was escalated to a human.
    pub escalated: bool,
    /// A refund followed.
    pub refunded: bool,
    /// Session length, when reported.
    pub session_length: Option<f64>,
}

/// A cohort of responses whose feedback window has closed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FeedbackCohort {
    /// The cohort's request window.
    pub cohort_start: Option<Timestamp>,
    /// End of the cohort's request window.
    pub cohort_end: Option<Timestamp>,
    /// Fraction of the cohort's feedback window that has elapsed (1.0 = fully matured).
    pub matured_fraction: f64,
    /// Units per arm.
    pub arms: PerArm<Vec<FeedbackUnit>>,
}

/// Everything the gates need from one tick.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TickInput {
    /// The tick's window start (the tick's key).
    pub window_start: Option<Timestamp>,
    /// The tick's window end.
    pub window_end: Option<Timestamp>,
    /// Seed of the outcome-blind pairing shuffle; logged so the decision can be replayed.
    pub pairing_seed: u64,
    /// The configured canary share of traffic in (0, 1), for the sample-ratio check.
    pub canary_share: Option<f64>,
    /// The scored sample.
    pub eval: EvalSample,
    /// Telemetry of ALL requests in the window.
    pub telemetry: PerArm<Vec<TelemetryRow>>,
    /// The cohort that matured this tick, if any.
    pub feedback: Option<FeedbackCohort>,
}

/// A latency threshold frozen at stage start from history.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatencyReference {
    /// c_q, the historical baseline q-quantile (ms).
    pub threshold_ms: f64,
    /// 1 − F̂b(c_q / r1): the exceedance a must-catch slowdown would cause (bet sizing).
    pub exceed_at_must_catch: f64,
    /// 1 − F̂b(m·c_q): the exceedance of the promotion threshold under no change.
    pub exceed_at_margin: f64,
}

impl LatencyReference {
    /// Computes the reference from historical baseline latencies; `None` on empty history.
    pub fn from_history(
        latencies: &[f64],
        quantile: f64,
        must_catch: f64,
        margin: f64,
    ) -> Option<LatencyReference> {
        let sorted = sorted_finite(latencies);
        let threshold = nearest_rank(&sorted, quantile)?;
        let survival = |x: f64| {
            let above = sorted.len() - sorted.partition_point(|&v| v <= x);
            above as f64 / sorted.len() as f64
        };
        Some(LatencyReference {
            threshold_ms: threshold,
            exceed_at_must_catch: survival(threshold / must_catch),
            exceed_at_margin: survival(threshold * margin),
        })
    }
}

/// Historical references frozen at stage start (all optional: the gates fall back to the
/// metric's `prior_rate` or freeze from the stage's first tick).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct References {
    /// Historical rates by metric name (pass_rate, error_rate, thumbs_up_rate …).
    pub rates: BTreeMap<String, f64>,
    /// Historical means by metric name (cost_per_response, completion_tokens, session_length).
    pub means: BTreeMap<String, f64>,
    /// Winsorisation caps by metric name (e.g. the historical p99.5).
    pub caps: BTreeMap<String, f64>,
    /// Latency references by metric name (latency_p95, latency_p99).
    pub latency: BTreeMap<String, LatencyReference>,
}

/// What a stage expects, fixed when it starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StagePlan {
    /// Stage index (0-based).
    pub stage: u32,
    /// T_min in ticks: the planned promotion look and the mixture's T.
    pub ticks_min: u32,
    /// T_max: the tick of the stage's extension deadline (`max_duration`); 0 when unknown. The
    /// trailing-window test spends its α over the looks from T_min to T_max.
    #[serde(default)]
    pub ticks_max: u32,
    /// Eval units expected per arm per tick (N).
    pub eval_per_tick: f64,
    /// Baseline eval units sampled per canary one (`[sampling].baseline_multiplier`; 1: 1:1).
    #[serde(default = "one")]
    pub baseline_multiplier: u32,
    /// Canary requests expected per tick (all traffic).
    pub requests_per_tick: f64,
    /// Matured canary feedback units expected per tick.
    pub feedback_per_tick: f64,
    /// Historical references.
    pub references: References,
    /// α per halting test of each metric of the stage's family ([`super::budget::allocate`]);
    /// a metric missing here (a `notify` one) keeps its configured α.
    #[serde(default)]
    pub alpha: BTreeMap<String, f64>,
}

fn one() -> u32 {
    1
}

impl Default for StagePlan {
    fn default() -> Self {
        StagePlan {
            stage: 0,
            ticks_min: 16,
            ticks_max: 0,
            eval_per_tick: 50.0,
            baseline_multiplier: 1,
            requests_per_tick: 0.0,
            feedback_per_tick: 0.0,
            references: References::default(),
            alpha: BTreeMap::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn score(request: &str, evaluator: &str, outcome: Outcome) -> Score {
        Score {
            request_id: request.into(),
            evaluator: evaluator.into(),
            evaluator_version: "v1".into(),
            outcome,
            score: None,
            reason: String::new(),
            latency_ms: 0.0,
            prompt_tokens: 0,
            completion_tokens: 0,
            cost_usd: 0.0,
        }
    }

    #[test]
    fn scores_group_into_overall_and_per_evaluator_outcomes() {
        let scores = vec![
            score("r1", "json", Outcome::Pass),
            score("r1", "tone", Outcome::Fail),
            score("r1", "suite", Outcome::Fail),
            score("r2", "json", Outcome::Pass),
            score("r2", "tone", Outcome::Unscorable),
            score("r2", "suite", Outcome::Unscorable),
            score("r3", "json", Outcome::Pass),
            score("r3", "tone", Outcome::Pass),
            score("r3", "suite", Outcome::Pass),
            score("r4", "suite", Outcome::Pass),
            score("r4", "json", Outcome::Fail),
        ];
        let arm = ArmScores::from_scores(&scores, "suite");
        assert_eq!(
            arm.overall,
            vec![
                Outcome::Fail,
                Outcome::Unscorable,
                Outcome::Pass,
                Outcome::Pass
            ]
        );
        assert_eq!(arm.per_evaluator["json"].len(), 4);
        assert_eq!(arm.per_evaluator["tone"].len(), 3);
    }

    #[test]
    fn a_request_without_a_suite_row_is_unscorable_and_never_re_derived() {
        // `tone` may be `gate: false` (its failure does not fail the suite) and `json` may be
        // the only gating assertion: only `suite_outcome` knows, so without the stored verdict
        // neither "fail" (any evaluator failed) nor "pass" (all passed) may be guessed here.
        let scores = vec![
            score("r1", "json", Outcome::Pass),
            score("r1", "tone", Outcome::Fail),
            score("r2", "json", Outcome::Pass),
            score("r2", "tone", Outcome::Pass),
        ];
        let arm = ArmScores::from_scores(&scores, "suite");
        assert_eq!(arm.overall, vec![Outcome::Unscorable, Outcome::Unscorable]);
        assert_eq!(
            arm.per_evaluator["tone"],
            vec![Outcome::Fail, Outcome::Pass]
        );
    }

    #[test]
    fn a_latency_reference_reads_quantile_and_survival_from_history() {
        let history: Vec<f64> = (1..=100).map(f64::from).collect();
        let r = LatencyReference::from_history(&history, 0.95, 1.2, 1.2).unwrap();
        assert_eq!(r.threshold_ms, 95.0);
        // 95/1.2 = 79.17: values 80..=100 exceed it.
        assert!((r.exceed_at_must_catch - 0.21).abs() < 1e-12);
        // 1.2·95 = 114: nothing exceeds.
        assert_eq!(r.exceed_at_margin, 0.0);
        assert!(LatencyReference::from_history(&[], 0.95, 1.2, 1.2).is_none());
    }
}
