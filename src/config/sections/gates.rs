//! `[gates]`: the gating metrics, their defaults (STATS.md §8) and per-metric overrides.
//!
//! ```toml
//! [gates]
//! false_halt_budget = 0.01      # P(any gate halts a healthy canary in a stage) ≤ this
//! ticks_per_stage = 16          # T: start-mixture weights and the planned promotion look
//! per_evaluator = true          # also gate each evaluator's own pass rate
//! recent_ticks = 8              # W: promotion must also hold on the last W ticks
//! alpha_recent = 0.01           # α of that trailing-window test, over all of a stage's looks
//!
//! [gates.metrics.latency_p99]
//! role = "rollback"
//! weight = 0.1                  # its share of the budget (or `alpha_halt = …` to fix its α)
//!
//! [gates.metrics."pass_rate:valid_json"]
//! enabled = false
//! ```
//!
//! Metric names: `pass_rate`, `pass_rate:EVALUATOR` (defaults from `pass_rate_evaluator`),
//! `thumbs_up_rate`, `regeneration_rate`, `escalation_rate`, `refund_rate`, `session_length`,
//! `error_rate`, `cost_per_response`, `completion_tokens`, `latency_p95`, `latency_p99`,
//! `unscorable_rate`. Every field of an override is optional and replaces the default.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::Role;

/// Which way is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Higher is better (pass rate, thumbs-up).
    Higher,
    /// Lower is better (errors, cost, latency).
    Lower,
}

/// Relative (ratio) or absolute (difference) comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scale {
    /// pc vs r·pb.
    Relative,
    /// pc vs pb + δ.
    Absolute,
}

/// When a metric may hold up promotion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Authority {
    /// Always: the stage never promotes without this metric's proof.
    Always,
    /// Only when the stage expects at least `n_min` canary units; halt-only otherwise.
    WhenPowered,
    /// Never: a halt-only guardrail.
    Never,
}

/// The statistical family of a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    /// Eval pass rate from the scored sample (overall or one evaluator).
    PassRate,
    /// A binary feedback rate on matured cohorts.
    FeedbackRate,
    /// A mean over matured feedback (session length).
    FeedbackMean,
    /// Error rate over all requests (additive margin + ceiling).
    ErrorRate,
    /// A mean over all requests (cost, completion tokens).
    TelemetryMean,
    /// A latency tail via exceedances of a frozen quantile.
    LatencyTail,
    /// The evaluators' own unscorable rate.
    Unscorable,
}

impl MetricSettings {
    /// These settings with the stage's α per halting test, when one was allocated.
    pub fn with_alpha(&self, alpha: Option<f64>) -> MetricSettings {
        MetricSettings {
            alpha_halt: alpha.unwrap_or(self.alpha_halt),
            ..self.clone()
        }
    }
}

/// The resolved settings of one metric: defaults with overrides applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricSettings {
    /// Gate this metric at all.
    pub enabled: bool,
    /// The statistical family.
    pub kind: MetricKind,
    /// Which way is better.
    pub direction: Direction,
    /// Ratio or difference.
    pub scale: Scale,
    /// Halting null boundary: r0 (relative) or δ0 (absolute).
    pub tolerance: f64,
    /// Must-catch size: r1 (relative, e.g. 0.8 or 1.2) or δ1 (absolute); sizes bet or τ.
    pub must_catch: f64,
    /// Promotion margin m (ratio, or absolute difference).
    pub promotion_margin: f64,
    /// α of the halting test when it is fixed (`alpha_fixed`); otherwise the stage's share of
    /// `[gates].false_halt_budget` replaces it at stage start ([`crate::logic::gates::budget`]).
    pub alpha_halt: f64,
    /// Set when the config names `alpha_halt` for this metric: the α is spent as given, out of
    /// the budget, instead of a weighted share of it.
    #[serde(default)]
    pub alpha_fixed: bool,
    /// The metric's weight in the split of the false-halt budget (per-evaluator gates: the weight
    /// of all of them together, split evenly).
    #[serde(default)]
    pub weight: f64,
    /// α of the promotion test.
    pub alpha_promote: f64,
    /// What a halt does.
    pub role: Role,
    /// Minimum canary units per arm before promotion.
    pub n_min: u64,
    /// When the metric may hold up promotion.
    pub promotion_authority: Authority,
    /// Historical baseline rate or mean used as prior / bet sizing when no reference is given.
    pub prior_rate: f64,
    /// Observations per arm before the first decision of a mean test.
    pub warmup: u64,
    /// Winsorisation cap (frozen before the stage) for mean metrics.
    pub winsorize_cap: Option<f64>,
    /// The tail quantile q of a latency metric (0.95, 0.99).
    pub quantile: f64,
    /// Error-rate ceiling c_max.
    pub ceiling_max: f64,
    /// Error-rate ceiling alternative c_alt.
    pub ceiling_alt: f64,
}

/// An override of some fields of one metric.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricOverride {
    pub enabled: Option<bool>,
    pub direction: Option<Direction>,
    pub scale: Option<Scale>,
    pub tolerance: Option<f64>,
    pub must_catch: Option<f64>,
    pub promotion_margin: Option<f64>,
    pub alpha_halt: Option<f64>,
    pub weight: Option<f64>,
    pub alpha_promote: Option<f64>,
    pub role: Option<Role>,
    pub n_min: Option<u64>,
    pub promotion_authority: Option<Authority>,
    pub prior_rate: Option<f64>,
    pub warmup: Option<u64>,
    pub winsorize_cap: Option<f64>,
    pub quantile: Option<f64>,
    pub ceiling_max: Option<f64>,
    pub ceiling_alt: Option<f64>,
}

/// The `[gates]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatesConfig {
    /// The stage's false-halt budget: the probability that any gating test (role rollback or
    /// freeze) halts a healthy canary in one stage is at most this (weighted Bonferroni split).
    pub false_halt_budget: f64,
    /// T: ticks the start-time mixture spreads its weights over; also the planned promotion look.
    pub ticks_per_stage: u32,
    /// π_1, the weight of the start at a stage's first tick (0.7: a regression that ships with
    /// the change is the common case; a later start pays ln((T − 1)/(1 − π_1)) and the
    /// first ln(1/π_1), docs/STATISTICS.md §2).
    pub first_start_weight: f64,
    /// λ ≤ cap / max D.
    pub lambda_cap: f64,
    /// Prior weight n0 of the historical rate in the smoothed baseline rate.
    pub prior_n: f64,
    /// Sample-ratio mismatch alarm level (chi-square p-value).
    pub srm_alpha: f64,
    /// Minimum total requests before the sample-ratio check runs.
    pub srm_min_requests: u64,
    /// A tick is a canary shortfall when it got fewer than this fraction of the wanted canary units.
    pub min_canary_fill: f64,
    /// A feedback cohort counts only when at least this fraction of it has matured.
    pub min_matured_fraction: f64,
    /// Also gate each evaluator's own pass rate.
    pub per_evaluator: bool,
    /// W: the trailing window, in ticks, on which promotion must also prove non-inferiority, so a
    /// regression that began inside the stage is not carried past the margin by healthy early
    /// ticks (docs/STATISTICS.md §3).
    pub recent_ticks: u32,
    /// α of the trailing-window test, spent over the stage's looks (planned look, then each
    /// extension tick): look j gets α·6/(π²(j+1)²), so all looks together spend at most this.
    pub alpha_recent: f64,
    /// Per-metric overrides by name.
    pub metrics: BTreeMap<String, MetricOverride>,
}

impl Default for GatesConfig {
    fn default() -> Self {
        GatesConfig {
            false_halt_budget: 0.01,
            ticks_per_stage: 16,
            first_start_weight: 0.7,
            lambda_cap: 0.95,
            prior_n: 20.0,
            srm_alpha: 0.001,
            srm_min_requests: 1000,
            min_canary_fill: 1.0,
            min_matured_fraction: 0.95,
            per_evaluator: true,
            recent_ticks: 8,
            alpha_recent: 0.01,
            metrics: BTreeMap::new(),
        }
    }
}

mod defaults;

pub use defaults::{METRICS, PER_EVALUATOR_KEY, default_settings};

impl MetricOverride {
    fn apply(&self, s: &mut MetricSettings) {
        macro_rules! set {
            ($($field:ident),*) => { $( if let Some(v) = self.$field { s.$field = v; } )* };
        }
        set!(
            enabled,
            direction,
            scale,
            tolerance,
            must_catch,
            promotion_margin,
            alpha_halt,
            weight,
            alpha_promote,
            role,
            n_min,
            promotion_authority,
            prior_rate,
            warmup,
            quantile,
            ceiling_max,
            ceiling_alt
        );
        if self.winsorize_cap.is_some() {
            s.winsorize_cap = self.winsorize_cap;
        }
        if self.alpha_halt.is_some() {
            s.alpha_fixed = true;
        }
    }
}

impl GatesConfig {
    /// The resolved settings of `name` (defaults, then `pass_rate_evaluator` for per-evaluator
    /// metrics, then the metric's own override); `None` for an unknown name.
    pub fn settings(&self, name: &str) -> Option<MetricSettings> {
        let mut settings = default_settings(name)?;
        if name.starts_with("pass_rate:")
            && let Some(shared) = self.metrics.get(PER_EVALUATOR_KEY)
        {
            shared.apply(&mut settings);
        }
        if let Some(own) = self.metrics.get(name) {
            own.apply(&mut settings);
        }
        Some(settings)
    }

    /// Checks the global values and every override.
    pub fn validate(&self) -> Result<(), super::Invalid> {
        let unit = |v: f64| v > 0.0 && v < 1.0;
        if self.ticks_per_stage == 0 {
            return Err((
                "gates.ticks_per_stage",
                "is 0; allowed: at least 1".to_string(),
            ));
        }
        let single_tick = self.ticks_per_stage == 1 && self.first_start_weight == 1.0;
        if !(unit(self.first_start_weight) || single_tick) {
            return Err((
                "gates.first_start_weight",
                format!("is {}; allowed: (0, 1)", self.first_start_weight),
            ));
        }
        if !unit(self.lambda_cap) {
            return Err((
                "gates.lambda_cap",
                format!("is {}; allowed: (0, 1)", self.lambda_cap),
            ));
        }
        if !(self.prior_n >= 0.0 && self.prior_n.is_finite()) {
            return Err((
                "gates.prior_n",
                format!("is {}; allowed: ≥ 0", self.prior_n),
            ));
        }
        if !unit(self.srm_alpha) {
            return Err((
                "gates.srm_alpha",
                format!("is {}; allowed: (0, 1)", self.srm_alpha),
            ));
        }
        if !(0.0..=1.0).contains(&self.min_canary_fill) {
            return Err((
                "gates.min_canary_fill",
                format!("is {}; allowed: [0, 1]", self.min_canary_fill),
            ));
        }
        if !(0.0..=1.0).contains(&self.min_matured_fraction) {
            return Err((
                "gates.min_matured_fraction",
                format!("is {}; allowed: [0, 1]", self.min_matured_fraction),
            ));
        }
        if self.recent_ticks == 0 {
            return Err((
                "gates.recent_ticks",
                "is 0; allowed: at least 1".to_string(),
            ));
        }
        if !unit(self.alpha_recent) {
            return Err((
                "gates.alpha_recent",
                format!("is {}; allowed: (0, 1)", self.alpha_recent),
            ));
        }
        if !unit(self.false_halt_budget) {
            return Err((
                "gates.false_halt_budget",
                format!("is {}; allowed: (0, 1)", self.false_halt_budget),
            ));
        }
        let fixed: f64 = self
            .metrics
            .keys()
            .filter_map(|name| self.settings(name))
            .filter(|s| s.enabled && s.alpha_fixed && s.role != Role::Notify)
            .map(|s| s.alpha_halt)
            .sum();
        if fixed >= self.false_halt_budget {
            return Err((
                "gates.metrics",
                format!(
                    "fixed alpha_halt values spend {fixed} of gates.false_halt_budget = {}; \
                     lower them or raise the budget (the other gates need a share)",
                    self.false_halt_budget
                ),
            ));
        }
        for name in self.metrics.keys() {
            let known = name == PER_EVALUATOR_KEY
                || name.starts_with("pass_rate:")
                || METRICS.contains(&name.as_str());
            if !known {
                return Err((
                    "gates.metrics",
                    format!(
                        "has unknown metric `{name}`; allowed: {}, {PER_EVALUATOR_KEY}, pass_rate:EVALUATOR",
                        METRICS.join(", ")
                    ),
                ));
            }
            let Some(s) = self.settings(name) else {
                continue;
            };
            check_settings(&s).map_err(|msg| ("gates.metrics", format!("{name}: {msg}")))?;
        }
        Ok(())
    }
}

fn check_settings(s: &MetricSettings) -> Result<(), String> {
    let unit = |v: f64| v > 0.0 && v < 1.0;
    if !unit(s.alpha_halt) {
        return Err(format!("alpha_halt is {}; allowed: (0, 1)", s.alpha_halt));
    }
    let weighted = s.weight.is_finite() && s.weight > 0.0;
    if !(weighted || s.alpha_fixed || s.role == Role::Notify) {
        return Err(format!(
            "weight is {}; allowed: > 0 (to stop gating on it, set enabled = false)",
            s.weight
        ));
    }
    if !unit(s.alpha_promote) {
        return Err(format!(
            "alpha_promote is {}; allowed: (0, 1)",
            s.alpha_promote
        ));
    }
    match s.scale {
        Scale::Relative => {
            if !(s.tolerance > 0.0 && s.must_catch > 0.0 && s.promotion_margin > 0.0) {
                return Err(
                    "relative tolerance, must_catch and promotion_margin must be > 0".to_string(),
                );
            }
            let wrong_side = match s.direction {
                Direction::Higher => s.must_catch >= s.tolerance || s.tolerance > 1.0,
                Direction::Lower => s.must_catch <= s.tolerance || s.tolerance < 1.0,
            };
            if wrong_side {
                return Err(format!(
                    "must_catch {} must be a worse ratio than tolerance {} (tolerance on the good side of 1)",
                    s.must_catch, s.tolerance
                ));
            }
        }
        Scale::Absolute => {
            if !(s.tolerance >= 0.0 && s.must_catch > s.tolerance && s.promotion_margin > 0.0) {
                return Err(
                    "absolute scale needs 0 ≤ tolerance < must_catch and promotion_margin > 0"
                        .to_string(),
                );
            }
        }
    }
    if !unit(s.prior_rate)
        && matches!(
            s.kind,
            MetricKind::PassRate
                | MetricKind::FeedbackRate
                | MetricKind::ErrorRate
                | MetricKind::Unscorable
        )
    {
        return Err(format!("prior_rate is {}; allowed: (0, 1)", s.prior_rate));
    }
    if !unit(s.quantile) {
        return Err(format!("quantile is {}; allowed: (0, 1)", s.quantile));
    }
    if !(unit(s.ceiling_max) && unit(s.ceiling_alt) && s.ceiling_alt > s.ceiling_max) {
        return Err("ceiling needs 0 < ceiling_max < ceiling_alt < 1".to_string());
    }
    if let Some(cap) = s.winsorize_cap
        && (cap.is_nan() || cap <= 0.0)
    {
        return Err(format!("winsorize_cap is {cap}; allowed: > 0"));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
