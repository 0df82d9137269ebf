//! The persisted state of one gate: (rollout, stage, metric) → [`GateState`], O(1) and JSON.
//!
//! A state is created at stage start by [`GateState::start`], which also freezes what must not
//! move during the stage (the historical prior, latency threshold, winsorisation cap, T) and
//! decides whether the stage is underpowered and whether the metric has promotion authority.
//! [`GateState::next_stage`] carries a state into the next stage: the halting e-processes keep
//! their baseline history (for p̂b) but restart their start-time mixture, and per-stage counts reset.

use serde::{Deserialize, Serialize};

use super::input::{LatencyReference, StagePlan};
use super::metric::{Authority, Direction, MetricKind, MetricSettings};
use super::settings::GateSettings;
use crate::logic::stats::betting::BettingState;
use crate::logic::stats::mixture::RunningMoments;
use crate::logic::stats::power::{PairedDesign, min_expected_pairs, required_stage_units};
use crate::logic::stats::sprt::{CeilingState, OneSampleState};

/// Cumulative per-stage counts of a binary metric.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    /// Canary successes (or events).
    pub canary_x: u64,
    /// Canary units.
    pub canary_n: u64,
    /// Baseline successes (or events).
    pub baseline_x: u64,
    /// Baseline units.
    pub baseline_n: u64,
}

impl Counts {
    /// The sum of two count sets.
    pub fn plus(self, other: Counts) -> Counts {
        Counts {
            canary_x: self.canary_x + other.canary_x,
            canary_n: self.canary_n + other.canary_n,
            baseline_x: self.baseline_x + other.baseline_x,
            baseline_n: self.baseline_n + other.baseline_n,
        }
    }
}

/// The stage was flagged underpowered at its start.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Underpowered {
    /// Canary units the stage expects in T_min ticks.
    pub expected: f64,
    /// Units it needs: max(n_min, 3 × the Appendix B bound).
    pub need: u64,
}

/// The test state of one metric family.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "family", rename_all = "snake_case")]
pub enum TestState {
    /// Paired rate tests: pass rate, feedback rates, unscorable rate.
    Paired {
        halt: BettingState,
        promote: BettingState,
    },
    /// Error rate: additive-margin e-process, the hard ceiling, the mirrored promotion e-process.
    Error {
        halt: BettingState,
        ceiling: CeilingState,
        promote: BettingState,
    },
    /// Latency tail: exceedances of a frozen threshold.
    Latency {
        reference: Option<LatencyReference>,
        halt: BettingState,
        promote: OneSampleState,
    },
    /// Means: Welford moments per arm, running maxima of the mixture statistics.
    Mean {
        canary: RunningMoments,
        baseline: RunningMoments,
        cap: Option<f64>,
        reference_mean: Option<f64>,
        ln_lambda: f64,
        max_ln_lambda: f64,
        max_promote_ln: f64,
    },
}

/// Everything one gate remembers between ticks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateState {
    /// The metric name.
    pub metric: String,
    /// Stage index.
    pub stage: u32,
    /// T_min of the stage, in ticks (planned look, mixture T).
    pub ticks_min: u32,
    /// The tick of the stage's extension deadline (0: unknown), for the trailing-window looks.
    #[serde(default)]
    pub ticks_max: u32,
    /// Ticks ingested this stage.
    pub ticks: u32,
    /// The historical prior rate frozen at stage start.
    pub prior_rate: f64,
    /// Whether the metric can hold up promotion in this stage.
    pub promotion_authority: bool,
    /// α per halting test, frozen at stage start from the stage's budget split; `None` in states
    /// written before the split existed (they keep the configured α).
    #[serde(default)]
    pub alpha_halt: Option<f64>,
    /// Set when the stage cannot reach its minimum samples in T_min.
    pub underpowered: Option<Underpowered>,
    /// Once a halting test fires, the reason (sticky: a halted gate stays halted).
    pub halted: Option<String>,
    /// Per-stage counts (binary metrics) for estimates and the planned-look test.
    pub counts: Counts,
    /// Per-tick counts of the last `[gates].recent_ticks` ticks (paired families), oldest first:
    /// the trailing window promotion must also prove non-inferiority on.
    #[serde(default)]
    pub recent: Vec<Counts>,
    /// The family's test state.
    pub test: TestState,
}

impl GateState {
    /// A fresh state for `metric` at the start of the plan's stage.
    pub fn start(
        config: &GateSettings,
        settings: &MetricSettings,
        metric: &str,
        plan: &StagePlan,
    ) -> GateState {
        let refs = &plan.references;
        let rate_ref = refs.rates.get(metric).copied();
        let prior_rate = match settings.kind {
            MetricKind::LatencyTail => 1.0 - settings.quantile,
            _ => rate_ref.unwrap_or(settings.prior_rate),
        };
        let test = match settings.kind {
            MetricKind::PassRate | MetricKind::FeedbackRate | MetricKind::Unscorable => {
                TestState::Paired {
                    halt: BettingState::default(),
                    promote: BettingState::default(),
                }
            }
            MetricKind::ErrorRate => TestState::Error {
                halt: BettingState::default(),
                ceiling: CeilingState::default(),
                promote: BettingState::default(),
            },
            MetricKind::LatencyTail => TestState::Latency {
                reference: refs.latency.get(metric).copied(),
                halt: BettingState::default(),
                promote: OneSampleState::default(),
            },
            MetricKind::TelemetryMean | MetricKind::FeedbackMean => TestState::Mean {
                canary: RunningMoments::default(),
                baseline: RunningMoments::default(),
                cap: settings
                    .winsorize_cap
                    .or_else(|| refs.caps.get(metric).copied()),
                reference_mean: refs.means.get(metric).copied(),
                ln_lambda: 0.0,
                max_ln_lambda: 0.0,
                max_promote_ln: 0.0,
            },
        };
        let ticks_min = if plan.ticks_min == 0 {
            config.ticks_per_stage
        } else {
            plan.ticks_min
        };
        let alpha = plan.alpha.get(metric).copied();
        let settings = &settings.with_alpha(alpha);
        let underpowered = underpowered(settings, plan, ticks_min, prior_rate);
        let promotion_authority = match settings.promotion_authority {
            Authority::Always => true,
            Authority::Never => false,
            Authority::WhenPowered => {
                expected_units(settings, plan, ticks_min) >= settings.n_min as f64
            }
        };
        GateState {
            metric: metric.to_string(),
            stage: plan.stage,
            ticks_min,
            ticks_max: plan.ticks_max,
            ticks: 0,
            prior_rate,
            promotion_authority,
            alpha_halt: alpha,
            underpowered,
            halted: None,
            counts: Counts::default(),
            recent: Vec::new(),
            test,
        }
    }

    /// Carries the state into the next stage: halting e-processes keep their baseline history and
    /// restart their start-time mixture; promotion tests and per-stage counts start afresh.
    pub fn next_stage(
        &self,
        config: &GateSettings,
        settings: &MetricSettings,
        plan: &StagePlan,
    ) -> GateState {
        let mut next = GateState::start(config, settings, &self.metric, plan);
        next.halted = self.halted.clone();
        match (&self.test, &mut next.test) {
            (TestState::Paired { halt: old, .. }, TestState::Paired { halt, .. })
            | (TestState::Error { halt: old, .. }, TestState::Error { halt, .. }) => {
                *halt = old.clone();
                halt.restart_mixture();
            }
            (
                TestState::Latency {
                    halt: old,
                    reference: old_ref,
                    ..
                },
                TestState::Latency {
                    halt, reference, ..
                },
            ) => {
                *halt = old.clone();
                halt.restart_mixture();
                if reference.is_none() {
                    *reference = *old_ref;
                }
            }
            _ => {}
        }
        next
    }
}

/// Canary units the stage expects in T_min ticks.
fn expected_units(settings: &MetricSettings, plan: &StagePlan, ticks_min: u32) -> f64 {
    let per_tick = match settings.kind {
        MetricKind::PassRate | MetricKind::Unscorable => plan.eval_per_tick,
        MetricKind::FeedbackRate | MetricKind::FeedbackMean => plan.feedback_per_tick,
        MetricKind::ErrorRate | MetricKind::TelemetryMean | MetricKind::LatencyTail => {
            plan.requests_per_tick
        }
    };
    per_tick * f64::from(ticks_min)
}

/// The underpowered flag: only for metrics that must prove something (promotion authority
/// `always`), by expected units against max(n_min, 3 × the Appendix B bound).
fn underpowered(
    settings: &MetricSettings,
    plan: &StagePlan,
    ticks_min: u32,
    prior_rate: f64,
) -> Option<Underpowered> {
    if settings.promotion_authority != Authority::Always {
        return None;
    }
    let expected = expected_units(settings, plan, ticks_min);
    let bound = match settings.kind {
        MetricKind::PassRate | MetricKind::FeedbackRate
            if settings.direction == Direction::Higher =>
        {
            // Only the eval sample over-samples the baseline; feedback is paired 1:1.
            let k = if settings.kind == MetricKind::PassRate {
                plan.baseline_multiplier.max(1)
            } else {
                1
            };
            let design = PairedDesign {
                p0: prior_rate,
                r0: settings.tolerance,
                alpha: settings.alpha_halt,
                k: f64::from(k),
            };
            min_expected_pairs(&design, 1.0 - settings.must_catch, 0.05)
        }
        _ => 0.0,
    };
    let need = required_stage_units(settings.n_min, bound);
    (expected < need as f64).then_some(Underpowered { expected, need })
}
