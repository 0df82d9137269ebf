//! A metric's data, found through its [`Source`] rather than its name: the per-arm indicators of
//! the binary families, the per-arm values of the mean and tail families, the series points, the
//! references frozen from history, and the telemetry the synthetic traffic generates.

use serde_json::json;

use super::super::input::{FeedbackUnit, LatencyReference, References, TelemetryRow, TickInput};
use super::super::series::MetricPoint;
use super::super::settings::GateSettings;
use super::{BUILTIN, Display, FeedbackField, MetricDef, Reference, Source, TelemetryField};
use crate::domain::{Arm, Outcome, Request};
use crate::logic::stats::summary::{mean, quantile};

/// The winsorisation cap frozen from history: the baseline's p99.5.
const CAP_QUANTILE: f64 = 0.995;

impl TelemetryField {
    /// The field's value in one request's telemetry (`None`: not logged).
    pub fn of(self, row: &TelemetryRow) -> Option<f64> {
        match self {
            TelemetryField::LatencyMs => row.latency_ms,
            TelemetryField::TtftMs => row.ttft_ms,
            TelemetryField::CostUsd => row.cost_usd,
            TelemetryField::CompletionTokens => row.completion_tokens.map(|t| t as f64),
        }
    }

    /// Sets the field on a telemetry row.
    pub fn set(self, row: &mut TelemetryRow, value: Option<f64>) {
        match self {
            TelemetryField::LatencyMs => row.latency_ms = value,
            TelemetryField::TtftMs => row.ttft_ms = value,
            TelemetryField::CostUsd => row.cost_usd = value,
            TelemetryField::CompletionTokens => {
                row.completion_tokens = value.map(|v| v.round() as i64);
            }
        }
    }

    /// Sets the field on a contract row.
    pub fn set_on_request(self, request: &mut Request, value: Option<f64>) {
        match self {
            TelemetryField::LatencyMs => request.latency_ms = value,
            TelemetryField::TtftMs => request.ttft_ms = value,
            TelemetryField::CostUsd => request.cost_usd = value,
            TelemetryField::CompletionTokens => {
                request.completion_tokens = value.map(|v| v.round() as i64);
            }
        }
    }

    /// The values one arm logged (requests without one are left out, never counted as 0).
    pub fn values(self, rows: &[TelemetryRow]) -> Vec<f64> {
        rows.iter().filter_map(|row| self.of(row)).collect()
    }
}

impl FeedbackField {
    /// The unit's indicator for a binary field (`None`: unrated thumbs; the session length has none).
    pub fn flag(self, unit: &FeedbackUnit) -> Option<bool> {
        match self {
            FeedbackField::ThumbsUp => unit.thumbs_up,
            FeedbackField::Regenerated => Some(unit.regenerated),
            FeedbackField::Escalated => Some(unit.escalated),
            FeedbackField::Refunded => Some(unit.refunded),
            FeedbackField::SessionLength => None,
        }
    }

    /// The unit's value: the indicator as 0/1, or the session length.
    pub fn value(self, unit: &FeedbackUnit) -> Option<f64> {
        match self {
            FeedbackField::SessionLength => unit.session_length,
            _ => self.flag(unit).map(|flag| if flag { 1.0 } else { 0.0 }),
        }
    }
}

fn graded(outcomes: &[Outcome]) -> Vec<bool> {
    outcomes
        .iter()
        .filter_map(|outcome| match outcome {
            Outcome::Pass => Some(true),
            Outcome::Fail => Some(false),
            Outcome::Unscorable => None,
        })
        .collect()
}

/// Per-arm (canary, baseline) indicators of a binary metric named `metric`, or `None` when this
/// tick has no data for it (no matured cohort, or a source that is not binary).
pub fn indicators(
    def: &MetricDef,
    metric: &str,
    input: &TickInput,
) -> Option<(Vec<bool>, Vec<bool>)> {
    let arms = &input.eval.arms;
    match def.source {
        Source::SuiteVerdict => {
            Some((graded(&arms.canary.overall), graded(&arms.baseline.overall)))
        }
        Source::EvaluatorVerdict => {
            let evaluator = super::evaluator_of(metric)?;
            let get = |arm: &super::super::input::ArmScores| {
                arm.per_evaluator
                    .get(evaluator)
                    .map(|outcomes| graded(outcomes))
                    .unwrap_or_default()
            };
            Some((get(&arms.canary), get(&arms.baseline)))
        }
        Source::Unscorable => {
            let flag = |o: &[Outcome]| o.iter().map(|x| *x == Outcome::Unscorable).collect();
            Some((flag(&arms.canary.overall), flag(&arms.baseline.overall)))
        }
        Source::Errors => {
            let flag = |rows: &[TelemetryRow]| rows.iter().map(|row| row.error).collect();
            Some((
                flag(&input.telemetry.canary),
                flag(&input.telemetry.baseline),
            ))
        }
        Source::Feedback(field) => {
            let cohort = input.feedback.as_ref()?;
            let pick =
                |units: &[FeedbackUnit]| units.iter().filter_map(|u| field.flag(u)).collect();
            Some((pick(&cohort.arms.canary), pick(&cohort.arms.baseline)))
        }
        Source::Telemetry(_) => None,
    }
}

/// Per-arm (canary, baseline) values of a mean or tail metric, or `None` without data (no
/// matured cohort, or a source that has no values).
pub fn values(def: &MetricDef, input: &TickInput) -> Option<(Vec<f64>, Vec<f64>)> {
    match def.source {
        Source::Telemetry(field) => Some((
            field.values(&input.telemetry.canary),
            field.values(&input.telemetry.baseline),
        )),
        Source::Feedback(field) => {
            let cohort = input.feedback.as_ref()?;
            let pick =
                |units: &[FeedbackUnit]| units.iter().filter_map(|u| field.value(u)).collect();
            Some((pick(&cohort.arms.canary), pick(&cohort.arms.baseline)))
        }
        _ => None,
    }
}

/// Per-arm telemetry and feedback points of a tick, one per registered metric that has a series
/// (display values; decisions use the tests).
pub fn metric_points(input: &TickInput) -> Vec<MetricPoint> {
    let mut out = Vec::new();
    for arm in Arm::ALL {
        for def in BUILTIN {
            if let Some(point) = point(def, arm, input) {
                out.push(point);
            }
        }
    }
    out
}

fn point(def: &MetricDef, arm: Arm, input: &TickInput) -> Option<MetricPoint> {
    let rows = match arm {
        Arm::Baseline => &input.telemetry.baseline,
        Arm::Canary => &input.telemetry.canary,
    };
    let made = |n: usize, value: Option<f64>, extra: serde_json::Value| MetricPoint {
        arm,
        metric: def.name.to_string(),
        n: n as u64,
        value,
        extra,
    };
    match (def.display, def.source) {
        (Display::ErrorRate, _) => {
            let errors = rows.iter().filter(|row| row.error).count();
            let value = (!rows.is_empty()).then(|| errors as f64 / rows.len() as f64);
            Some(made(rows.len(), value, json!({ "errors": errors as u64 })))
        }
        (Display::SampleQuantile, Source::Telemetry(field)) => {
            let xs = field.values(rows);
            let q = def.default_settings().quantile;
            Some(made(
                xs.len(),
                quantile(&xs, q),
                json!({ "kind": "sample-quantile" }),
            ))
        }
        (Display::Mean { total }, Source::Telemetry(field)) => {
            let xs = field.values(rows);
            let extra = match total {
                Some(key) => json!({ key: xs.iter().sum::<f64>() }),
                None => json!({}),
            };
            Some(made(xs.len(), mean(&xs), extra))
        }
        (Display::Feedback, Source::Feedback(field)) => {
            let cohort = input.feedback.as_ref()?;
            let units = match arm {
                Arm::Baseline => &cohort.arms.baseline,
                Arm::Canary => &cohort.arms.canary,
            };
            let xs: Vec<f64> = units.iter().filter_map(|u| field.value(u)).collect();
            let extra = json!({ "matured_fraction": cohort.matured_fraction });
            Some(made(xs.len(), mean(&xs), extra))
        }
        _ => None,
    }
}

/// The references of the baseline's history, one per registered metric that freezes one (empty
/// history → none: the gates freeze from the stage's first tick or fall back to their priors).
/// Rates are over all requests; means, caps and tail thresholds over the ok ones.
pub fn history_references(settings: &GateSettings, rows: &[TelemetryRow]) -> References {
    let mut refs = References::default();
    if rows.is_empty() {
        return refs;
    }
    let ok: Vec<TelemetryRow> = rows.iter().filter(|row| !row.error).cloned().collect();
    for def in BUILTIN {
        let name = def.name.to_string();
        match (def.reference, def.source) {
            (Reference::ErrorRate, _) => {
                let errors = rows.iter().filter(|row| row.error).count();
                refs.rates.insert(name, errors as f64 / rows.len() as f64);
            }
            (Reference::MeanAndCap, Source::Telemetry(field)) => {
                let xs = field.values(&ok);
                if let Some(mean) = mean(&xs) {
                    refs.means.insert(name.clone(), mean);
                }
                if let Some(cap) = quantile(&xs, CAP_QUANTILE) {
                    refs.caps.insert(name, cap);
                }
            }
            (Reference::Tail, Source::Telemetry(field)) => {
                let Some(s) = settings.settings(def.name) else {
                    continue;
                };
                let xs = field.values(&ok);
                let reference = LatencyReference::from_history(
                    &xs,
                    s.quantile,
                    s.must_catch,
                    s.promotion_margin,
                );
                if let Some(reference) = reference {
                    refs.latency.insert(name, reference);
                }
            }
            _ => {}
        }
    }
    refs
}

/// Fills the telemetry fields that registered metrics generate for synthetic traffic, each from
/// two uniform draws of `draw` (a stream of the request's own, so the request's other draws
/// never shift). A field is generated once, by the first metric that has a hook for it.
pub fn synthesize(request: &mut Request, mut draw: impl FnMut() -> f64) {
    let mut done: Vec<TelemetryField> = Vec::new();
    for def in BUILTIN {
        let (Some(hook), Some(field)) = (def.synth, def.telemetry_field()) else {
            continue;
        };
        if done.contains(&field) {
            continue;
        }
        let (u1, u2) = (draw(), draw());
        let value = hook(request, u1, u2);
        field.set_on_request(request, value);
        done.push(field);
    }
}
