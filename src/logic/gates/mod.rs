//! Gates: per-metric configuration + persisted test state + one tick's data → a verdict with
//! evidence (STATS.md). Pure: no I/O, no clock (time arrives as `now`), randomness only from the
//! tick's logged pairing seed.
//!
//! # Using it from the tick pipeline
//!
//! 1. At stage start build a [`StagePlan`] (T_min in ticks, N per tick, canary requests and matured
//!    feedback units expected per tick, historical references: rates, means, winsorisation caps,
//!    latency thresholds via [`input::LatencyReference::from_history`]).
//! 2. Every tick, fill a [`TickInput`] (see [`input`] for how each field maps onto
//!    `Store::window_telemetry` rows, feedback events and `domain::Score` rows), load the gate
//!    states of the rollout's current stage (`gate_state` rows), and call [`evaluate_tick`].
//! 3. Persist the returned states, one [`GateUpdate`] per metric (pairing seed and bet, so the
//!    decision can be replayed), and hand the [`MetricVerdict`]s to the rollout controller.
//!
//! # Verdict rules (per metric)
//!
//! - **Halt** (sticky) when the halting e-value crosses 1/α_halt: the role (rollback, freeze,
//!   notify) comes from the metric's settings. Halting is checked first: it stays valid whatever
//!   the data quality.
//! - **Inconclusive** with a reason, in this order: sample-ratio mismatch (chi-square on all
//!   requests against the configured canary share), canary shortfall (eval sample below
//!   N·min_canary_fill), feedback not matured, too few samples (warm-up), stage underpowered
//!   (flagged at stage start, while the stage has fewer canary units than it needs), too few
//!   samples (below n_min for promotion).
//! - **PromoteReady** when the non-inferiority null is rejected: the planned-look test at tick T_min
//!   (Farrington–Manning / z), the anytime-valid mirrored e-process at any other tick (e.g. after
//!   an extension).
//! - Otherwise **Inconclusive(not yet proven)**. Never promote on inconclusive or missing data.
//!
//! Metrics (names as in `[gates.metrics.NAME]`): the built-in ones of the registry
//! ([`metric::BUILTIN`], each defined once) and `pass_rate:EVALUATOR`. The rollout's false-halt
//! budget Σα is reported with every evaluation.

pub mod budget;
pub mod display;
pub mod input;
pub mod means;
pub mod metric;
pub mod paired;
pub mod power;
pub mod recent;
pub mod series;
pub mod settings;
pub mod state;
pub mod step;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

pub use input::{
    ArmScores, EvalSample, FeedbackCohort, FeedbackUnit, LatencyReference, PerArm, References,
    StagePlan, TelemetryRow, TickInput,
};
pub use metric::{MetricDef, MetricKind, MetricSettings};
pub use settings::{GateSettings, MetricOverride};
pub use state::{Counts, GateState, TestState, Underpowered};
pub use step::Step;

use crate::domain::{Evidence, InconclusiveReason, MetricVerdict, Timestamp, Verdict};
use crate::logic::stats::{ln_threshold, normal_cdf};

/// What to store per metric per tick so the decision can be replayed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateUpdate {
    /// The metric.
    pub metric: String,
    /// Stage index.
    pub stage: u32,
    /// Tick index within the stage after this update.
    pub tick: u32,
    /// The tick's pairing seed (the metric's shuffle derives from it and the metric name).
    pub pairing_seed: u64,
    /// The bet λ fixed before the tick's outcomes were read (paired tests).
    pub bet: Option<f64>,
    /// ln of the halting e-value after the update.
    pub ln_e_value: Option<f64>,
    /// `halt`, `promote_ready` or `inconclusive`.
    pub verdict: String,
    /// When the update was computed.
    pub at: Timestamp,
}

/// The result of evaluating every metric for one tick.
#[derive(Debug, Clone, PartialEq)]
pub struct TickEvaluation {
    /// The new states by metric.
    pub states: BTreeMap<String, GateState>,
    /// One verdict per metric.
    pub verdicts: Vec<MetricVerdict>,
    /// One replay record per metric.
    pub updates: Vec<GateUpdate>,
    /// Σ α over the halting tests of the family (at most `[gates].false_halt_budget`).
    pub false_halt_budget: f64,
    /// Metrics whose halting test fired this tick (new evidence): the halt signals to record. A
    /// halt is sticky, so later ticks repeat the verdict without recording it again.
    pub new_halts: Vec<String>,
}

/// The metric names a tick evaluates: the built-in ones that are enabled, plus one
/// `pass_rate:EVALUATOR` per evaluator seen in the sample or already holding a state.
pub fn metric_names(
    config: &GateSettings,
    input: &TickInput,
    states: &BTreeMap<String, GateState>,
) -> Vec<String> {
    let mut names: BTreeSet<String> = metric::builtin_names().map(str::to_string).collect();
    if config.per_evaluator {
        let arms = &input.eval.arms;
        for evaluator in arms
            .canary
            .per_evaluator
            .keys()
            .chain(arms.baseline.per_evaluator.keys())
        {
            names.insert(metric::evaluator_metric(evaluator));
        }
        names.extend(
            states
                .keys()
                .filter(|k| metric::evaluator_of(k).is_some())
                .cloned(),
        );
    }
    names
        .into_iter()
        .filter(|n| config.settings(n).is_some_and(|s| s.enabled))
        .collect()
}

/// Evaluates every configured metric for one tick. States missing from `states` start fresh;
/// states of an earlier stage move into `plan.stage` first.
pub fn evaluate_tick(
    config: &GateSettings,
    plan: &StagePlan,
    states: &BTreeMap<String, GateState>,
    input: &TickInput,
    now: Timestamp,
) -> TickEvaluation {
    let mut out = TickEvaluation {
        states: BTreeMap::new(),
        verdicts: Vec::new(),
        updates: Vec::new(),
        false_halt_budget: 0.0,
        new_halts: Vec::new(),
    };
    let names = metric_names(config, input, states);
    // The stage's budget split: the plan's (the suite's evaluators, frozen by the pipeline), or
    // over the metrics this tick evaluates when the caller has no suite at hand.
    let filled;
    let plan = if plan.alpha.is_empty() {
        filled = StagePlan {
            alpha: budget::allocate(config, &names).alpha,
            ..plan.clone()
        };
        &filled
    } else {
        plan
    };
    for name in names {
        let Some(settings) = config.settings(&name) else {
            continue;
        };
        let state = match states.get(&name) {
            Some(old) if old.stage == plan.stage => old.clone(),
            Some(old) => old.next_stage(config, &settings, plan),
            None => GateState::start(config, &settings, &name, plan),
        };
        let (next, verdict, update) = update(config, &settings, &state, input, now);
        if state.halted.is_none() && next.halted.is_some() {
            out.new_halts.push(name.clone());
        }
        if budget::in_family(&settings) {
            out.false_halt_budget += settings.with_alpha(next.alpha_halt).alpha_halt;
        }
        out.states.insert(name, next);
        out.verdicts.push(verdict);
        out.updates.push(update);
    }
    out
}

/// One metric's tick: ingest the data, test, and turn the findings into a verdict with evidence.
pub fn update(
    config: &GateSettings,
    settings: &MetricSettings,
    state: &GateState,
    input: &TickInput,
    now: Timestamp,
) -> (GateState, MetricVerdict, GateUpdate) {
    let mut next = state.clone();
    let settings = &settings.with_alpha(state.alpha_halt);
    let step = match settings.kind {
        MetricKind::PassRate | MetricKind::FeedbackRate | MetricKind::Unscorable => {
            paired::update_paired(config, settings, &mut next, input)
        }
        MetricKind::ErrorRate => paired::update_error(config, settings, &mut next, input),
        MetricKind::LatencyTail => paired::update_latency(config, settings, &mut next, input),
        MetricKind::TelemetryMean | MetricKind::FeedbackMean => {
            means::update_mean(settings, &mut next, input)
        }
    };
    if next.halted.is_none() {
        next.halted = step.halt_reason.clone();
    }
    let verdict = decide(config, settings, &next, input, &step);
    let evidence = evidence(settings, &step);
    let update = GateUpdate {
        metric: next.metric.clone(),
        stage: next.stage,
        tick: next.ticks,
        pairing_seed: input.pairing_seed,
        bet: step.bet,
        ln_e_value: step.ln_e,
        verdict: verdict_kind(&verdict).to_string(),
        at: now,
    };
    let metric_verdict = MetricVerdict {
        metric: next.metric.clone(),
        promotion_authority: next.promotion_authority,
        verdict,
        evidence,
    };
    (next, metric_verdict, update)
}

/// `halt`, `promote_ready` or `inconclusive`.
pub fn verdict_kind(verdict: &Verdict) -> &'static str {
    match verdict {
        Verdict::Halt { .. } => "halt",
        Verdict::PromoteReady { .. } => "promote_ready",
        Verdict::Inconclusive { .. } => "inconclusive",
    }
}

fn decide(
    config: &GateSettings,
    s: &MetricSettings,
    state: &GateState,
    input: &TickInput,
    step: &Step,
) -> Verdict {
    if let Some(reason) = &state.halted {
        return Verdict::Halt {
            role: s.role,
            reason: reason.clone(),
        };
    }
    let inconclusive = |reason| Verdict::Inconclusive { reason };
    if let Some(reason) = sample_ratio_mismatch(config, input) {
        return inconclusive(reason);
    }
    if matches!(s.kind, MetricKind::PassRate | MetricKind::Unscorable) {
        let wanted = input.eval.wanted_per_arm;
        let got = input.eval.arms.canary.overall.len() as u64;
        if (got as f64) < wanted as f64 * config.min_canary_fill {
            return inconclusive(InconclusiveReason::CanaryShortfall { wanted, got });
        }
    }
    if matches!(s.kind, MetricKind::FeedbackRate | MetricKind::FeedbackMean) {
        let matured = input.feedback.as_ref().map_or(0.0, |c| c.matured_fraction);
        if input.feedback.is_none() || matured < config.min_matured_fraction {
            return inconclusive(InconclusiveReason::FeedbackNotMatured {
                matured_fraction: matured,
            });
        }
    }
    if let Some(reason) = &step.quality {
        return inconclusive(reason.clone());
    }
    let have = step.n.0.min(step.n.1);
    if let Some(flag) = state.underpowered
        && have < flag.need
    {
        return inconclusive(InconclusiveReason::StageUnderpowered {
            expected_samples: flag.expected,
            need: flag.need,
        });
    }
    if have < s.n_min {
        return inconclusive(InconclusiveReason::TooFewSamples {
            have,
            need: s.n_min,
        });
    }
    if step.promotion.proven {
        return Verdict::PromoteReady {
            reason: format!(
                "{}: non-inferiority at margin {} proven by {}",
                state.metric, s.promotion_margin, step.promotion.detail
            ),
        };
    }
    if let Some(r) = step.promotion.recent
        && step.promotion.stage_proven
        && !r.proven
    {
        return inconclusive(InconclusiveReason::RecentNotProven {
            ticks: r.ticks,
            z: r.z,
            critical: crate::logic::stats::z_upper(r.alpha),
        });
    }
    inconclusive(InconclusiveReason::NotYetProven)
}

/// Chi-square (1 df) sample-ratio check of ALL requests against the configured canary share.
pub fn sample_ratio_mismatch(
    config: &GateSettings,
    input: &TickInput,
) -> Option<InconclusiveReason> {
    let share = input.canary_share?;
    if !(share > 0.0 && share < 1.0) {
        return None;
    }
    let nc = input.telemetry.canary.len() as f64;
    let total = nc + input.telemetry.baseline.len() as f64;
    if total < config.srm_min_requests as f64 {
        return None;
    }
    let expected_c = total * share;
    let expected_b = total * (1.0 - share);
    let chi2 =
        (nc - expected_c).powi(2) / expected_c + ((total - nc) - expected_b).powi(2) / expected_b;
    let p_value = 2.0 * normal_cdf(-chi2.sqrt());
    (p_value < config.srm_alpha).then_some(InconclusiveReason::SampleRatioMismatch {
        expected_canary_share: share,
        observed_canary_share: nc / total,
        p_value,
    })
}

fn evidence(s: &MetricSettings, step: &Step) -> Evidence {
    Evidence {
        n_canary: step.n.0,
        n_baseline: step.n.1,
        estimate_canary: step.estimates.0,
        estimate_baseline: step.estimates.1,
        ln_e_value: step.ln_e,
        p_value: step.p_value,
        bet: step.bet,
        ln_threshold: Some(ln_threshold(s.alpha_halt)),
        alpha_halt: Some(s.alpha_halt),
        promotion_statistic: step.promotion.statistic,
        alpha_promote: Some(s.alpha_promote),
        extra: step.extra.clone(),
    }
}

#[cfg(test)]
mod tests;
