//! The stage plan the gates freeze at stage start: ticks per stage, expected samples, and the
//! historical references (baseline latency quantiles, mean cost and tokens, the cost cap) read
//! from the baseline's history before the stage began.

use anyhow::Context as _;

use crate::adapters::store::{Store, TelemetryRow};
use crate::domain::plan::StageSpec;
use crate::domain::{Arm, HumanDuration, Timestamp};
use crate::logic::attribution::RolloutTargets;
use crate::logic::gates::GateSettings;
use crate::logic::gates::{References, StagePlan};

/// How much baseline history the references look at.
const HISTORY: chrono::Duration = chrono::Duration::hours(24);

/// What a stage plan is built from.
pub struct StageFacts<'a> {
    /// The stage index.
    pub stage_index: usize,
    /// The stage's spec.
    pub spec: &'a StageSpec,
    /// When it started.
    pub stage_started_at: Timestamp,
    /// One tick's window.
    pub window: HumanDuration,
    /// N per arm.
    pub n_per_arm: u32,
    /// Baseline units sampled per canary unit.
    pub baseline_multiplier: u32,
    /// Canary requests in this tick's window.
    pub canary_requests: usize,
    /// Canary feedback units in this tick's cohort.
    pub canary_feedback: usize,
}

/// Builds the stage plan; reads history only when `with_references` (at stage start).
pub async fn stage_plan(
    store: &Store,
    gates: &GateSettings,
    owner: &RolloutTargets,
    facts: &StageFacts<'_>,
    with_references: bool,
) -> anyhow::Result<StagePlan> {
    let window_secs = facts.window.as_secs().max(1);
    let ticks_min = facts
        .spec
        .min_duration
        .as_secs()
        .div_euclid(window_secs)
        .max(1);
    let references = if with_references {
        let to = facts.stage_started_at;
        let rows = store
            .window_telemetry(Some(owner), Arm::Baseline, to - HISTORY, to)
            .await
            .context("cannot read the baseline history for the stage references")?;
        references(gates, &rows)
    } else {
        References::default()
    };
    Ok(StagePlan {
        stage: u32::try_from(facts.stage_index).unwrap_or(u32::MAX),
        ticks_min: u32::try_from(ticks_min).unwrap_or(u32::MAX),
        ticks_max: u32::try_from(facts.spec.max_duration.as_secs().div_euclid(window_secs))
            .unwrap_or(u32::MAX),
        eval_per_tick: f64::from(facts.n_per_arm),
        baseline_multiplier: facts.baseline_multiplier,
        requests_per_tick: facts.canary_requests as f64,
        feedback_per_tick: facts.canary_feedback as f64,
        references,
        // Filled by the caller, which knows the suite's evaluators.
        alpha: std::collections::BTreeMap::new(),
    })
}

/// The references of baseline history, one per registered metric that freezes one (empty
/// history → none: the gates freeze from the stage's first tick or fall back to their priors).
pub fn references(gates: &GateSettings, rows: &[TelemetryRow]) -> References {
    crate::logic::gates::metric::history_references(gates, &super::gather::to_gate_rows(rows))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::RequestStatus;

    fn row(status: RequestStatus, latency: f64, cost: f64) -> TelemetryRow {
        TelemetryRow {
            request_id: format!("{latency}"),
            tenant_id: "t".to_string(),
            status,
            latency_ms: Some(latency),
            ttft_ms: None,
            cost_usd: Some(cost),
            completion_tokens: Some(100),
        }
    }

    #[test]
    fn references_come_from_ok_baseline_history_only() {
        let mut rows: Vec<TelemetryRow> = (1..=100)
            .map(|i| row(RequestStatus::Ok, f64::from(i) * 10.0, 0.01))
            .collect();
        rows.push(row(RequestStatus::Error, 99_999.0, 5.0));
        let refs = references(&GateSettings::default(), &rows);
        assert!((refs.rates["error_rate"] - 1.0 / 101.0).abs() < 1e-12);
        assert_eq!(refs.latency["latency_p95"].threshold_ms, 950.0);
        assert_eq!(refs.latency["latency_p99"].threshold_ms, 990.0);
        assert!((refs.means["cost_per_response"] - 0.01).abs() < 1e-12);
        assert_eq!(refs.means["completion_tokens"], 100.0);
    }

    #[test]
    fn empty_history_gives_no_references() {
        let refs = references(&GateSettings::default(), &[]);
        assert!(refs.rates.is_empty() && refs.latency.is_empty() && refs.means.is_empty());
    }
}
