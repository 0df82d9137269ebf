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
//! Metric names: the built-in ones of the registry (`logic::gates::metric::BUILTIN`: `pass_rate`,
//! `error_rate`, `latency_p95`, …), `pass_rate_evaluator` (defaults of every per-evaluator gate)
//! and `pass_rate:EVALUATOR`. Every field of an override is optional and replaces the default.
//! The section is resolved once, at load, into the [`GateSettings`] the gates run with.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Invalid;

use crate::domain::Role;
use crate::logic::gates::metric::{self, BUILTIN};
pub use crate::logic::gates::metric::{
    Authority, Direction, MetricKind, MetricSettings, PER_EVALUATOR_KEY, Scale,
};
pub use crate::logic::gates::settings::{GateSettings, MetricOverride};

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
        GatesConfig::from_settings(&GateSettings::default())
    }
}

impl GatesConfig {
    /// The section with the globals of `settings` and no overrides (the defaults' one source is
    /// [`GateSettings::default`]).
    fn from_settings(settings: &GateSettings) -> GatesConfig {
        GatesConfig {
            false_halt_budget: settings.false_halt_budget,
            ticks_per_stage: settings.ticks_per_stage,
            first_start_weight: settings.first_start_weight,
            lambda_cap: settings.lambda_cap,
            prior_n: settings.prior_n,
            srm_alpha: settings.srm_alpha,
            srm_min_requests: settings.srm_min_requests,
            min_canary_fill: settings.min_canary_fill,
            min_matured_fraction: settings.min_matured_fraction,
            per_evaluator: settings.per_evaluator,
            recent_ticks: settings.recent_ticks,
            alpha_recent: settings.alpha_recent,
            metrics: BTreeMap::new(),
        }
    }

    /// The settings the gates run with: these globals, every metric resolved once (defaults,
    /// then `pass_rate_evaluator` for per-evaluator metrics, then the metric's own override).
    pub fn resolve(&self) -> GateSettings {
        let mut globals = GateSettings::default();
        globals.false_halt_budget = self.false_halt_budget;
        globals.ticks_per_stage = self.ticks_per_stage;
        globals.first_start_weight = self.first_start_weight;
        globals.lambda_cap = self.lambda_cap;
        globals.prior_n = self.prior_n;
        globals.srm_alpha = self.srm_alpha;
        globals.srm_min_requests = self.srm_min_requests;
        globals.min_canary_fill = self.min_canary_fill;
        globals.min_matured_fraction = self.min_matured_fraction;
        globals.per_evaluator = self.per_evaluator;
        globals.recent_ticks = self.recent_ticks;
        globals.alpha_recent = self.alpha_recent;
        globals.with_overrides(&self.metrics)
    }

    /// Checks the global values and every override.
    pub fn validate(&self) -> Result<(), Invalid> {
        let unit = |v: f64| v > 0.0 && v < 1.0;
        if self.ticks_per_stage == 0 {
            return Err(Invalid::new(
                "gates.ticks_per_stage",
                "is 0; allowed: at least 1".to_string(),
            ));
        }
        let single_tick = self.ticks_per_stage == 1 && self.first_start_weight == 1.0;
        if !(unit(self.first_start_weight) || single_tick) {
            return Err(Invalid::new(
                "gates.first_start_weight",
                format!("is {}; allowed: (0, 1)", self.first_start_weight),
            ));
        }
        if !unit(self.lambda_cap) {
            return Err(Invalid::new(
                "gates.lambda_cap",
                format!("is {}; allowed: (0, 1)", self.lambda_cap),
            ));
        }
        if !(self.prior_n >= 0.0 && self.prior_n.is_finite()) {
            return Err(Invalid::new(
                "gates.prior_n",
                format!("is {}; allowed: ≥ 0", self.prior_n),
            ));
        }
        if !unit(self.srm_alpha) {
            return Err(Invalid::new(
                "gates.srm_alpha",
                format!("is {}; allowed: (0, 1)", self.srm_alpha),
            ));
        }
        if !(0.0..=1.0).contains(&self.min_canary_fill) {
            return Err(Invalid::new(
                "gates.min_canary_fill",
                format!("is {}; allowed: [0, 1]", self.min_canary_fill),
            ));
        }
        if !(0.0..=1.0).contains(&self.min_matured_fraction) {
            return Err(Invalid::new(
                "gates.min_matured_fraction",
                format!("is {}; allowed: [0, 1]", self.min_matured_fraction),
            ));
        }
        if self.recent_ticks == 0 {
            return Err(Invalid::new(
                "gates.recent_ticks",
                "is 0; allowed: at least 1".to_string(),
            ));
        }
        if !unit(self.alpha_recent) {
            return Err(Invalid::new(
                "gates.alpha_recent",
                format!("is {}; allowed: (0, 1)", self.alpha_recent),
            ));
        }
        if !unit(self.false_halt_budget) {
            return Err(Invalid::new(
                "gates.false_halt_budget",
                format!("is {}; allowed: (0, 1)", self.false_halt_budget),
            ));
        }
        let resolved = self.resolve();
        let fixed: f64 = self
            .metrics
            .keys()
            .filter_map(|name| resolved.settings(name))
            .filter(|s| s.enabled && s.alpha_fixed && s.role != Role::Notify)
            .map(|s| s.alpha_halt)
            .sum();
        if fixed >= self.false_halt_budget {
            return Err(Invalid::new(
                "gates.metrics",
                format!(
                    "fixed alpha_halt values spend {fixed} of gates.false_halt_budget = {}; \
                     lower them or raise the budget (the other gates need a share)",
                    self.false_halt_budget
                ),
            ));
        }
        for name in self.metrics.keys() {
            if metric::def_of(name).is_none() {
                return Err(Invalid::new(
                    "gates.metrics",
                    format!(
                        "has unknown metric `{name}`; allowed: {}, {PER_EVALUATOR_KEY}, pass_rate:EVALUATOR",
                        BUILTIN
                            .iter()
                            .map(|def| def.name)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
            let Some(s) = resolved.settings(name) else {
                continue;
            };
            check_settings(&s)
                .map_err(|msg| Invalid::new("gates.metrics", format!("{name}: {msg}")))?;
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
