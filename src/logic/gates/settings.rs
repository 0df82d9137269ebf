//! The validated gate settings the gates run with: the `[gates]` globals and every metric's
//! settings, resolved once (defaults from the registry, then `pass_rate_evaluator` for the
//! per-evaluator gates, then the metric's own override). `config` parses the `[gates]` section
//! and builds these at load; the gates never see the raw section.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::metric::{self, BUILTIN, MetricSettings, PER_EVALUATOR, PER_EVALUATOR_KEY};
use crate::domain::Role;

/// An override of some fields of one metric (`[gates.metrics.NAME]`): every field is optional
/// and replaces the default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricOverride {
    pub enabled: Option<bool>,
    pub direction: Option<metric::Direction>,
    pub scale: Option<metric::Scale>,
    pub tolerance: Option<f64>,
    pub must_catch: Option<f64>,
    pub promotion_margin: Option<f64>,
    pub alpha_halt: Option<f64>,
    pub weight: Option<f64>,
    pub alpha_promote: Option<f64>,
    pub role: Option<Role>,
    pub n_min: Option<u64>,
    pub promotion_authority: Option<metric::Authority>,
    pub prior_rate: Option<f64>,
    pub warmup: Option<u64>,
    pub winsorize_cap: Option<f64>,
    pub quantile: Option<f64>,
    pub ceiling_max: Option<f64>,
    pub ceiling_alt: Option<f64>,
}

impl MetricOverride {
    /// Applies the fields that are set; naming `alpha_halt` fixes the α (out of the budget).
    pub fn apply(&self, s: &mut MetricSettings) {
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

/// The gates' settings: globals plus every metric's resolved settings.
#[derive(Debug, Clone, PartialEq)]
pub struct GateSettings {
    /// The stage's false-halt budget: the probability that any gating test (role rollback or
    /// freeze) halts a healthy canary in one stage is at most this (weighted Bonferroni split).
    pub false_halt_budget: f64,
    /// T: ticks the start-time mixture spreads its weights over; also the planned promotion look.
    pub ticks_per_stage: u32,
    /// π_1, the weight of the start at a stage's first tick.
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
    /// W: the trailing window, in ticks, on which promotion must also prove non-inferiority.
    pub recent_ticks: u32,
    /// α of the trailing-window test, spent over the stage's looks.
    pub alpha_recent: f64,
    /// The overrides by metric name, as given.
    overrides: BTreeMap<String, MetricOverride>,
    /// The resolved settings of every built-in metric and of [`PER_EVALUATOR_KEY`].
    metrics: BTreeMap<String, MetricSettings>,
    /// The resolved settings of each `pass_rate:EVALUATOR` that has an override of its own.
    evaluators: BTreeMap<String, MetricSettings>,
}

impl Default for GateSettings {
    fn default() -> Self {
        GateSettings {
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
            overrides: BTreeMap::new(),
            metrics: defaults(),
            evaluators: BTreeMap::new(),
        }
    }
}

fn defaults() -> BTreeMap<String, MetricSettings> {
    BUILTIN
        .iter()
        .chain([&PER_EVALUATOR])
        .map(|def| (def.name.to_string(), def.default_settings()))
        .collect()
}

impl GateSettings {
    /// These globals with every metric resolved from the registry's defaults and `overrides`
    /// (by metric name; names the registry does not know are ignored: `config` rejects them).
    pub fn with_overrides(mut self, overrides: &BTreeMap<String, MetricOverride>) -> GateSettings {
        let mut metrics = defaults();
        for (name, settings) in metrics.iter_mut() {
            if let Some(own) = overrides.get(name) {
                own.apply(settings);
            }
        }
        let shared = metrics
            .get(PER_EVALUATOR_KEY)
            .cloned()
            .unwrap_or_else(|| PER_EVALUATOR.default_settings());
        let mut evaluators = BTreeMap::new();
        for (name, own) in overrides {
            if metric::evaluator_of(name).is_some() {
                let mut settings = shared.clone();
                own.apply(&mut settings);
                evaluators.insert(name.clone(), settings);
            }
        }
        self.overrides = overrides.clone();
        self.metrics = metrics;
        self.evaluators = evaluators;
        self
    }

    /// These settings with one more override (benchmarks and tests).
    pub fn with_override(self, name: &str, over: MetricOverride) -> GateSettings {
        let mut overrides = self.overrides.clone();
        overrides.insert(name.to_string(), over);
        self.with_overrides(&overrides)
    }

    /// The resolved settings of `name`; `None` for an unknown name.
    pub fn settings(&self, name: &str) -> Option<MetricSettings> {
        if let Some(settings) = self.evaluators.get(name) {
            return Some(settings.clone());
        }
        if metric::evaluator_of(name).is_some() {
            return self.metrics.get(PER_EVALUATOR_KEY).cloned();
        }
        self.metrics.get(name).cloned()
    }

    /// The override given for `name` itself, if any.
    pub fn own_override(&self, name: &str) -> Option<&MetricOverride> {
        self.overrides.get(name)
    }

    /// Every metric name that has an override, as given.
    pub fn overridden(&self) -> impl Iterator<Item = &str> {
        self.overrides.keys().map(String::as_str)
    }
}
