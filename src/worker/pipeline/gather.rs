//! Reads what one tick needs from the store: the sampled requests of each arm, the telemetry of
//! every request in the window, and the feedback cohort that matured, and shapes them into the
//! gates' `TickInput` (everything but the scores, which the scoring engine adds); and counts the
//! window's requests that no active rollout claims (`logic::unattributed`). A rollout's requests
//! are those `logic::attribution::belongs_to` it, selected by the store.

use std::collections::BTreeMap;

use anyhow::Context as _;
use serde::Serialize;

use crate::adapters::store::{Store, TelemetryRow};
use crate::domain::{Arm, FeedbackEvent, FeedbackKind, Request, RequestStatus, Timestamp};
use crate::logic::attribution::RolloutTargets;
use crate::logic::gates::{self, FeedbackCohort, FeedbackUnit, PerArm};
pub use crate::logic::sampling::TickWindows;
use crate::logic::sampling::{self, ArmSample, SamplePlan};
use crate::logic::unattributed::{self, Unattributed};

/// What was sampled for one tick.
#[derive(Debug, Clone, Serialize)]
pub struct TickSample {
    /// Per arm: the selected ids and the numbers behind them.
    pub arms: PerArm<ArmSample>,
    /// The sampled requests of both arms (baseline first).
    #[serde(skip)]
    pub requests: Vec<Request>,
}

/// Samples both arms for one tick: of one rollout's requests (the pipeline), or of all traffic
/// when `owner_opt` is `None` (`evalgate sample` without `--rollout`). The one sampling path.
pub async fn sample_tick(
    store: &Store,
    plan: &SamplePlan,
    owner_opt: Option<&RolloutTargets>,
    windows: &TickWindows,
) -> anyhow::Result<TickSample> {
    let rollout_id_opt = owner_opt.map(|targets| targets.rollout_id.as_str());
    let key = sampling::tick_key(rollout_id_opt, windows.canary.0);
    let mut per_arm = Vec::with_capacity(2);
    for arm in Arm::ALL {
        let (from, to) = windows.of(arm);
        let candidates = store
            .window_candidates(owner_opt, arm, from, to)
            .await
            .with_context(|| {
                format!(
                    "cannot read the {arm} candidates of {}",
                    rollout_id_opt.unwrap_or("all traffic")
                )
            })?;
        per_arm.push(sampling::sample(&plan.for_arm(arm), &key, &candidates));
    }
    let canary = per_arm.pop().unwrap_or_else(empty_sample);
    let baseline = per_arm.pop().unwrap_or_else(empty_sample);
    let ids: Vec<String> = baseline
        .selected
        .iter()
        .chain(&canary.selected)
        .cloned()
        .collect();
    let requests = store
        .get_requests(&ids)
        .await
        .context("cannot read the sampled requests")?;
    Ok(TickSample {
        arms: PerArm { baseline, canary },
        requests,
    })
}

fn empty_sample() -> ArmSample {
    ArmSample {
        selected: Vec::new(),
        available: 0,
        eligible: 0,
        shortfall: 0,
        excluded_errors: 0,
    }
}

/// The telemetry of every request of each arm's window.
pub async fn telemetry(
    store: &Store,
    owner: &RolloutTargets,
    windows: &TickWindows,
) -> anyhow::Result<PerArm<Vec<gates::TelemetryRow>>> {
    let baseline = arm_telemetry(store, owner, Arm::Baseline, windows.baseline).await?;
    let canary = arm_telemetry(store, owner, Arm::Canary, windows.canary).await?;
    Ok(PerArm {
        baseline: to_gate_rows(&baseline),
        canary: to_gate_rows(&canary),
    })
}

async fn arm_telemetry(
    store: &Store,
    owner: &RolloutTargets,
    arm: Arm,
    (from, to): (Timestamp, Timestamp),
) -> anyhow::Result<Vec<TelemetryRow>> {
    store
        .window_telemetry(Some(owner), arm, from, to)
        .await
        .with_context(|| format!("cannot read the {arm} telemetry of {}", owner.rollout_id))
}

pub(super) fn to_gate_rows(rows: &[TelemetryRow]) -> Vec<gates::TelemetryRow> {
    rows.iter().map(gates::TelemetryRow::from).collect()
}

/// The matured feedback cohort: every ok response of each arm's window moved back by the
/// maturity, with the feedback events that arrived for it. `None` when the cohort is empty.
pub async fn feedback_cohort(
    store: &Store,
    owner: &RolloutTargets,
    windows: &TickWindows,
) -> anyhow::Result<Option<FeedbackCohort>> {
    let mut arms: PerArm<Vec<FeedbackUnit>> = PerArm::default();
    let shift = windows.cohort_shift;
    for arm in Arm::ALL {
        let (from, to) = windows.of(arm);
        let (cohort_from, cohort_to) = (from - shift, to - shift);
        let rows = arm_telemetry(store, owner, arm, (cohort_from, cohort_to)).await?;
        let events = store
            .feedback_for_window(Some(owner), arm, cohort_from, cohort_to)
            .await
            .with_context(|| format!("cannot read the {arm} feedback of {}", owner.rollout_id))?;
        let units = feedback_units(&rows, &events);
        match arm {
            Arm::Baseline => arms.baseline = units,
            Arm::Canary => arms.canary = units,
        }
    }
    if arms.baseline.is_empty() && arms.canary.is_empty() {
        return Ok(None);
    }
    Ok(Some(FeedbackCohort {
        cohort_start: Some(windows.canary.0 - shift),
        cohort_end: Some(windows.canary.1 - shift),
        matured_fraction: 1.0,
        arms,
    }))
}

/// The requests of each arm's window that neither `owner` nor any of `others` (the other active
/// rollouts) claims. `others` may include `owner`.
pub async fn unattributed_requests(
    store: &Store,
    owner: &RolloutTargets,
    others: &[RolloutTargets],
    windows: &TickWindows,
) -> anyhow::Result<Unattributed> {
    let mut claimants = vec![owner.clone()];
    for other in others {
        if other.rollout_id != owner.rollout_id {
            claimants.push(other.clone());
        }
    }
    let mut per_arm: PerArm<Vec<unattributed::UnattributedGroup>> = PerArm::default();
    for arm in Arm::ALL {
        let (from, to) = windows.of(arm);
        let groups = store
            .unattributed_in_window(&claimants, arm, from, to)
            .await
            .with_context(|| format!("cannot count the {arm} requests no rollout claims"))?;
        match arm {
            Arm::Baseline => per_arm.baseline = groups,
            Arm::Canary => per_arm.canary = groups,
        }
    }
    Ok(Unattributed::summarize(
        &per_arm.baseline,
        &per_arm.canary,
        unattributed::TOP_GROUPS,
    ))
}

/// One unit per ok response, carrying the feedback its request received.
fn feedback_units(rows: &[TelemetryRow], events: &[FeedbackEvent]) -> Vec<FeedbackUnit> {
    let mut by_request: BTreeMap<&str, Vec<&FeedbackEvent>> = BTreeMap::new();
    for event in events {
        by_request
            .entry(event.request_id.as_str())
            .or_default()
            .push(event);
    }
    let mut units = Vec::with_capacity(rows.len());
    for row in rows.iter().filter(|row| row.status == RequestStatus::Ok) {
        let mut unit = FeedbackUnit::default();
        for event in by_request
            .get(row.request_id.as_str())
            .into_iter()
            .flatten()
        {
            match event.kind {
                FeedbackKind::Thumbs => unit.thumbs_up = Some(event.value > 0.0),
                FeedbackKind::Regenerated => unit.regenerated = true,
                FeedbackKind::Escalated => unit.escalated = true,
                FeedbackKind::Refunded => unit.refunded = true,
                FeedbackKind::SessionLength => unit.session_length = Some(event.value),
            }
        }
        units.push(unit);
    }
    units
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, status: RequestStatus) -> TelemetryRow {
        TelemetryRow {
            request_id: id.to_string(),
            tenant_id: "t".to_string(),
            status,
            latency_ms: None,
            ttft_ms: None,
            cost_usd: None,
            completion_tokens: None,
        }
    }

    fn event(id: &str, kind: FeedbackKind, value: f64) -> FeedbackEvent {
        FeedbackEvent {
            request_id: id.to_string(),
            at: Timestamp::default(),
            kind,
            value,
        }
    }

    #[test]
    fn feedback_units_cover_every_ok_response_and_only_those() {
        let rows = [
            row("a", RequestStatus::Ok),
            row("b", RequestStatus::Error),
            row("c", RequestStatus::Ok),
        ];
        let events = [
            event("a", FeedbackKind::Thumbs, -1.0),
            event("a", FeedbackKind::Regenerated, 1.0),
            event("b", FeedbackKind::Escalated, 1.0),
            event("c", FeedbackKind::SessionLength, 7.0),
        ];
        let units = feedback_units(&rows, &events);
        assert_eq!(units.len(), 2);
        assert_eq!(units[0].thumbs_up, Some(false));
        assert!(units[0].regenerated);
        assert!(!units[0].escalated);
        assert_eq!(units[1].thumbs_up, None);
        assert_eq!(units[1].session_length, Some(7.0));
    }
}
