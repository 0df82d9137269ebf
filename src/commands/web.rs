//! The web view's data: reads the store (and the flag sinks) for one page, turns it into the
//! plain views of [`crate::web`] and renders them. `serve` mounts [`WebSource`] as the
//! [`WebPages`] of `adapters::http::web`. The assembly of the views from stored rows
//! ([`metric_panels`], [`timeline`], [`event_view`]) is plain functions, tested below.

use std::collections::BTreeMap;

use futures_util::future::BoxFuture;
use serde_json::Value;

use super::rollout_review::{Review, ReviewResponse, build_review};
use super::rollout_status::{GateStatus, rollout_status};
use crate::adapters::http::{WebPage, WebPages};
use crate::adapters::store::{GateTick, MetricRow, PassRateRow, RolloutEvent};
use crate::context::Services;
use crate::domain::{Arm, Timestamp};
use crate::logic::gates::metric::evaluator_of;
use crate::logic::gates::series::OVERALL;
use crate::logic::stats::wilson::wilson_interval;
use crate::web::html::percent;
use crate::web::svg::{ArmSeries, EValuePoint, Segment, SeriesPoint};
use crate::web::view::{
    EventView, GateRow, HaltView, MetricPanel, ResponseView, ReviewPage, ReviewPairView,
    RolloutPage, RolloutSummary, SinkView,
};
use crate::worker::controller::LoadedRollout;

/// Renders the web view's pages from the store.
pub struct WebSource {
    services: Services,
}

impl WebSource {
    /// Pages over `services` (the store, the clock and the flag sinks).
    pub fn new(services: Services) -> WebSource {
        WebSource { services }
    }

    async fn rollouts(&self, now: Timestamp) -> anyhow::Result<String> {
        let rows = self.services.store.list_rollouts().await?;
        let summaries: Vec<RolloutSummary> = rows
            .iter()
            .map(|row| RolloutSummary::of(row, now))
            .collect();
        Ok(crate::web::rollouts_page(&summaries, now))
    }

    async fn rollout(&self, id: &str, now: Timestamp) -> anyhow::Result<Option<String>> {
        let Some(row) = self.services.store.get_rollout(id).await? else {
            return Ok(None);
        };
        let rollout = LoadedRollout::from_row(row)?;
        let status =
            rollout_status(&self.services.store, &self.services.sinks, &rollout, now).await?;
        let events = self.services.store.list_rollout_events(id).await?;
        let history = self.services.store.gate_history(id).await?;
        let pass_rates = self.services.store.pass_rate_series(id).await?;
        let metric_rows = self.services.store.metric_series(id).await?;
        let halts = self.services.store.halt_signals(id).await?;
        let end = if rollout.row.active {
            now
        } else {
            rollout.row.updated_at
        };
        let (segments, stage_starts) = timeline(&events, end);
        let view = RolloutPage {
            summary: RolloutSummary::of(&rollout.row, now),
            suite: rollout.row.suite.clone(),
            last_reason: rollout.row.last_reason.clone(),
            hint: status.hint,
            deadline: status.clock.as_ref().and_then(|c| c.deadline),
            segments,
            stage_starts,
            events: events.iter().map(event_view).collect(),
            metrics: metric_panels(&history, &pass_rates, &metric_rows, &status.gates),
            halts: halts
                .into_iter()
                .map(|h| HaltView {
                    stage: h.stage,
                    metric: h.metric,
                    role: h.role.as_str().to_string(),
                    at: h.at,
                    reason: h.reason,
                })
                .collect(),
            sinks: status
                .sinks
                .into_iter()
                .map(|s| SinkView {
                    sink: s.sink,
                    basis_points: s.basis_points,
                    generation: s.generation,
                    in_sync: s.in_sync,
                    error: s.error,
                })
                .collect(),
        };
        Ok(Some(crate::web::rollout_page(&view, now)))
    }

    async fn review(&self, id: &str, now: Timestamp) -> anyhow::Result<Option<String>> {
        let Some(row) = self.services.store.get_rollout(id).await? else {
            return Ok(None);
        };
        let rollout = LoadedRollout::from_row(row)?;
        let review =
            build_review(&self.services.store, &self.services.sinks, &rollout, now).await?;
        Ok(Some(crate::web::review_page(&review_view(review), now)))
    }
}

impl WebPages for WebSource {
    fn render(&self, page: WebPage) -> BoxFuture<'_, anyhow::Result<Option<String>>> {
        Box::pin(async move {
            let now = self.services.ctx.clock.now();
            match page {
                WebPage::Rollouts => Ok(Some(self.rollouts(now).await?)),
                WebPage::Rollout(id) => self.rollout(&id, now).await,
                WebPage::Review(id) => self.review(&id, now).await,
            }
        })
    }
}

/// (phase, stage index, split) of an audit row's before or after: a state snapshot, or a whole
/// stored state (whose phase is an object).
fn snapshot(value: &Value) -> Option<(String, u64, u64)> {
    let phase = match value.get("phase")? {
        Value::String(name) => name.clone(),
        Value::Object(object) => object.get("phase")?.as_str()?.to_string(),
        _ => return None,
    };
    let stage = value.get("stage_index")?.as_u64()?;
    let split = value.get("split_bp")?.as_u64()?;
    Some((phase, stage, split))
}

fn describe((phase, stage, split): &(String, u64, u64)) -> String {
    let split = u32::try_from(*split).map_or_else(|_| format!("{split} bp"), percent);
    format!(
        "{} · stage {} · {split}",
        phase.replace('_', " "),
        stage + 1
    )
}

/// One audit row as the page shows it; a transition is a row whose phase, stage or split changed.
pub fn event_view(event: &RolloutEvent) -> EventView {
    let before = snapshot(&event.before);
    let after = snapshot(&event.after);
    let transition = matches!((&before, &after), (Some(b), Some(a)) if b != a);
    EventView {
        id: event.id.clone(),
        at: event.at,
        actor: event.actor.clone(),
        action: event.action.clone(),
        reason: event.reason.clone(),
        before: before.as_ref().map(describe),
        after: after.as_ref().map(describe),
        is_override: event.is_override,
        transition,
    }
}

/// The stage timeline from the audit trail: a stretch per state after each transition, up to
/// `end`; and when each stage began.
pub fn timeline(events: &[RolloutEvent], end: Timestamp) -> (Vec<Segment>, Vec<Timestamp>) {
    let mut changes: Vec<(Timestamp, (String, u64, u64), bool)> = Vec::new();
    for event in events {
        let (Some(before), Some(after)) = (snapshot(&event.before), snapshot(&event.after)) else {
            continue;
        };
        if before != after {
            let new_stage = before.1 != after.1 || before.0 == "pending";
            changes.push((event.at, after, new_stage));
        }
    }
    let mut segments = Vec::new();
    for (i, (at, (phase, _, split), _)) in changes.iter().enumerate() {
        let to = changes.get(i + 1).map_or(end, |next| next.0).max(*at);
        let label = u32::try_from(*split).map_or_else(|_| format!("{split} bp"), percent);
        segments.push(Segment {
            from: *at,
            to,
            label,
            phase: phase.clone(),
        });
    }
    let starts = changes
        .iter()
        .filter(|(_, _, new_stage)| *new_stage)
        .map(|(at, _, _)| *at)
        .collect();
    (segments, starts)
}

fn metric_rank(metric: &str) -> (u8, &str) {
    if metric == "pass_rate" {
        (0, metric)
    } else if evaluator_of(metric).is_some() {
        (1, metric)
    } else {
        (2, metric)
    }
}

fn arm_name(arm: Arm) -> &'static str {
    match arm {
        Arm::Baseline => "baseline",
        Arm::Canary => "canary",
    }
}

/// Per-window points of both arms, one per window (a later row of the same window wins).
fn arms_from(points: impl Iterator<Item = (Arm, SeriesPoint)>) -> Vec<ArmSeries> {
    let mut by_arm: BTreeMap<&'static str, BTreeMap<Timestamp, SeriesPoint>> = BTreeMap::new();
    for (arm, point) in points {
        by_arm
            .entry(arm_name(arm))
            .or_default()
            .insert(point.at, point);
    }
    by_arm
        .into_iter()
        .map(|(arm, points)| ArmSeries {
            arm,
            points: points.into_values().collect(),
        })
        .collect()
}

fn pass_rate_arms(metric: &str, rows: &[PassRateRow]) -> Vec<ArmSeries> {
    let evaluator = evaluator_of(metric).unwrap_or(OVERALL);
    arms_from(
        rows.iter()
            .filter(|row| row.point.evaluator == evaluator)
            .map(|row| {
                let p = &row.point;
                let band = p.wilson_low.zip(p.wilson_high);
                let point = SeriesPoint {
                    at: row.window_start,
                    value: p.rate,
                    band,
                };
                (p.arm, point)
            }),
    )
}

/// A rate metric's rows get a Wilson band from their n and rate; other metrics none.
fn metric_arms(metric: &str, rows: &[MetricRow], rate: bool) -> Vec<ArmSeries> {
    arms_from(
        rows.iter()
            .filter(|row| row.point.metric == metric)
            .map(|row| {
                let p = &row.point;
                let band = p
                    .value
                    .filter(|v| rate && (0.0..=1.0).contains(v))
                    .and_then(|v| wilson_interval((v * p.n as f64).round() as u64, p.n, 0.05));
                let point = SeriesPoint {
                    at: row.window_start,
                    value: p.value,
                    band,
                };
                (p.arm, point)
            }),
    )
}

/// One panel per gated metric (pass rate first, then per-evaluator pass rates, then the rest):
/// its latest verdict, both arms' series and its e-value per tick.
pub fn metric_panels(
    history: &[GateTick],
    pass_rates: &[PassRateRow],
    metric_rows: &[MetricRow],
    gates: &[GateStatus],
) -> Vec<MetricPanel> {
    let mut by_metric: BTreeMap<&str, Vec<&GateTick>> = BTreeMap::new();
    for tick in history {
        by_metric
            .entry(tick.metric.as_str())
            .or_default()
            .push(tick);
    }
    let mut names: Vec<&str> = by_metric.keys().copied().collect();
    names.sort_by_key(|name| metric_rank(name));
    let mut panels = Vec::new();
    for name in names {
        let ticks = &by_metric[name];
        let Some(latest) = ticks.last() else {
            continue;
        };
        let pass_rate = name == "pass_rate" || evaluator_of(name).is_some();
        let ratio = pass_rate || name.ends_with("_rate");
        let arms = if pass_rate {
            pass_rate_arms(name, pass_rates)
        } else {
            metric_arms(name, metric_rows, ratio)
        };
        panels.push(MetricPanel {
            metric: name.to_string(),
            verdict: latest.verdict.clone(),
            reason: latest.reason.clone(),
            promotion_authority: gates
                .iter()
                .any(|g| g.metric == name && g.promotion_authority),
            ratio,
            arms,
            e_values: ticks
                .iter()
                .map(|t| EValuePoint {
                    at: t.window_start,
                    ln_e_value: t.ln_e_value,
                    ln_threshold: t.ln_threshold,
                    halted: t.verdict == "halt",
                })
                .collect(),
        });
    }
    panels
}

fn response_view(response: ReviewResponse) -> ResponseView {
    ResponseView {
        request_id: response.request_id,
        tenant_id: response.tenant_id,
        ts: response.ts,
        prompt: response.prompt,
        output: response.output,
    }
}

fn review_view(review: Review) -> ReviewPage {
    ReviewPage {
        rollout_id: review.rollout_id,
        baseline_target: review.baseline_target,
        canary_target: review.canary_target,
        phase: review.phase,
        stage: review.stage,
        gates: review
            .gates
            .into_iter()
            .map(|g| GateRow {
                metric: g.metric,
                promotion_authority: g.promotion_authority,
                verdict: g.verdict,
                reason: g.reason,
            })
            .collect(),
        note: review.note,
        pairs: review
            .pairs
            .into_iter()
            .map(|pair| ReviewPairView {
                canary: response_view(pair.canary),
                failures: pair
                    .failures
                    .into_iter()
                    .map(|f| (f.evaluator, f.reason))
                    .collect(),
                baseline: pair.baseline.map(response_view),
                matched_by: pair.matched_by,
            })
            .collect(),
    }
}

#[cfg(test)]
#[path = "web_tests.rs"]
mod tests;
