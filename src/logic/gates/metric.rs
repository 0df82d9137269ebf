//! The metric registry: every built-in gating metric is defined once, in [`builtin`], as a
//! [`MetricDef`]: its name, statistical family, STATS.md §8 defaults and budget weight, where its
//! data comes from in a tick ([`Source`]), how its series point is shown ([`Display`]), which
//! historical reference it freezes at stage start ([`Reference`]), and the hooks that let the
//! synthetic traffic and the benchmark generate it. Everything else looks a metric up here
//! ([`def_of`]) instead of matching its name.
//!
//! This module also owns the vocabulary of a metric's settings ([`MetricSettings`] and its
//! enums); `config` parses overrides of them and resolves them once, at load, into
//! [`super::settings::GateSettings`]. Pure: no I/O, no clock.

mod builtin;
mod data;

use serde::{Deserialize, Serialize};

use crate::domain::Role;

pub use builtin::{BUILTIN, PER_EVALUATOR};
pub use data::{history_references, indicators, metric_points, synthesize, values};

/// The override key whose values apply to every `pass_rate:EVALUATOR` metric.
pub const PER_EVALUATOR_KEY: &str = "pass_rate_evaluator";

/// The prefix of a per-evaluator pass-rate metric: `pass_rate:EVALUATOR`.
const EVALUATOR_PREFIX: &str = "pass_rate:";

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

impl MetricSettings {
    /// These settings with the stage's α per halting test, when one was allocated.
    pub fn with_alpha(&self, alpha: Option<f64>) -> MetricSettings {
        MetricSettings {
            alpha_halt: alpha.unwrap_or(self.alpha_halt),
            ..self.clone()
        }
    }
}

/// A numeric column of the log contract that the gates read from every request of a window
/// (`Store::window_telemetry`). Missing values (`None`) are missing, never 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TelemetryField {
    /// `latency_ms`: end-to-end latency.
    LatencyMs,
    /// `ttft_ms`: time to first token (streamed responses only).
    TtftMs,
    /// `cost_usd`.
    CostUsd,
    /// `completion_tokens`.
    CompletionTokens,
}

/// A field of a matured feedback unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedbackField {
    /// Thumbs up (rated units only).
    ThumbsUp,
    /// The user regenerated the response.
    Regenerated,
    /// The conversation was escalated.
    Escalated,
    /// A refund followed.
    Refunded,
    /// Session length (reported units only).
    SessionLength,
}

/// Where a metric's data comes from in a tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The suite verdict of each sampled unit (pass/fail; unscorable units dropped).
    SuiteVerdict,
    /// One evaluator's outcomes (the evaluator named after `pass_rate:`).
    EvaluatorVerdict,
    /// Whether each sampled unit's suite verdict is unscorable.
    Unscorable,
    /// Whether each request of the window failed (`status = error`).
    Errors,
    /// A telemetry column of every request of the window.
    Telemetry(TelemetryField),
    /// A field of the matured feedback cohort.
    Feedback(FeedbackField),
}

/// How a metric's per-arm series point is computed (display only; decisions use the tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Display {
    /// No metric series (pass rates have their own series with intervals).
    None,
    /// Share of failed requests, with the error count.
    ErrorRate,
    /// The sample quantile at the metric's default quantile.
    SampleQuantile,
    /// The mean; with `total`, also the sum under that key.
    Mean {
        /// The key of the sum in the point's extra numbers, if shown.
        total: Option<&'static str>,
    },
    /// A feedback rate or mean, with the cohort's matured fraction.
    Feedback,
}

/// What a metric freezes from the baseline's history at stage start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reference {
    /// Nothing (the gate falls back to its prior or its own first tick).
    None,
    /// The share of failed requests among all of them.
    ErrorRate,
    /// The mean and the p99.5 winsorisation cap of the ok requests.
    MeanAndCap,
    /// The tail threshold at the metric's quantile, from the ok requests.
    Tail,
}

/// Generates a telemetry value for a synthetic request: the request as generated so far and a
/// uniform draw in [0, 1) from a stream of its own (so adding a hook never shifts the other
/// draws); `None` means the value is not logged (e.g. a response that did not stream).
pub type SynthHook = fn(&crate::domain::Request, f64, f64) -> Option<f64>;

/// A benchmark cell pair for a tail metric: an A/A false-halt cell and a slowdown detection
/// cell, both over the metric's own telemetry field (`sim::gatebench`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BenchCells {
    /// The id of the A/A cell (and of its check).
    pub false_halt_id: &'static str,
    /// The id of the detection cell (and of its check).
    pub detection_id: &'static str,
    /// The detection check's target, as a sentence.
    pub detection_target: &'static str,
    /// The canary slowdown of the detection cell.
    pub slowdown: f64,
    /// The tick by which the detection cell must have halted ≥ 95% of its replicates.
    pub detect_by: u32,
}

/// One built-in gating metric.
#[derive(Debug, Clone, Copy)]
pub struct MetricDef {
    /// The name (`[gates.metrics.NAME]`, series, verdicts, `/metrics` labels).
    pub name: &'static str,
    /// The statistical family.
    pub kind: MetricKind,
    /// Where its data comes from.
    pub source: Source,
    /// Its STATS.md §8 defaults (the weight is [`MetricDef::weight`]).
    pub defaults: fn() -> MetricSettings,
    /// Its default share of the false-halt budget.
    pub weight: f64,
    /// How its series point is shown.
    pub display: Display,
    /// What it freezes from history.
    pub reference: Reference,
    /// How synthetic traffic generates its telemetry field, if it needs one.
    pub synth: Option<SynthHook>,
    /// Its benchmark cells, if it has generic ones.
    pub bench: Option<BenchCells>,
}

impl MetricDef {
    /// The default settings, weight included.
    pub fn default_settings(&self) -> MetricSettings {
        MetricSettings {
            weight: self.weight,
            ..(self.defaults)()
        }
    }

    /// The telemetry field it reads, if it reads one.
    pub fn telemetry_field(&self) -> Option<TelemetryField> {
        match self.source {
            Source::Telemetry(field) => Some(field),
            _ => None,
        }
    }
}

/// The definition of a metric name: a built-in name, the per-evaluator key, or
/// `pass_rate:EVALUATOR`; `None` for an unknown name.
pub fn def_of(name: &str) -> Option<&'static MetricDef> {
    if name == PER_EVALUATOR_KEY || evaluator_of(name).is_some() {
        return Some(&PER_EVALUATOR);
    }
    BUILTIN.iter().find(|def| def.name == name)
}

/// The evaluator of a `pass_rate:EVALUATOR` name.
pub fn evaluator_of(name: &str) -> Option<&str> {
    name.strip_prefix(EVALUATOR_PREFIX)
}

/// The metric name of one evaluator's pass rate.
pub fn evaluator_metric(evaluator: &str) -> String {
    format!("{EVALUATOR_PREFIX}{evaluator}")
}

/// The names of the built-in metrics, in registry order.
pub fn builtin_names() -> impl Iterator<Item = &'static str> {
    BUILTIN.iter().map(|def| def.name)
}

#[cfg(test)]
mod tests;
