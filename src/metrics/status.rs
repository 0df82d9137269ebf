//! The per-rollout status families of `/metrics`: `evalgate_rollout_status` (running, succeeded,
//! failed, held, like `flagger_canary_status`) and `evalgate_rollout_phase` as state sets (one
//! series per state, 1 for the current one), `evalgate_rollout_stage`, which finished rollouts
//! keep for [`FINISHED_RETENTION_DAYS`] so an alert can fire on a rollback after the rollout
//! ended; and the current e-value of each gating metric with its 1/α threshold (active rollouts).

use super::{
    GATE_E_VALUE, GATE_E_VALUE_THRESHOLD, ROLLOUT_PHASE, ROLLOUT_STAGE, ROLLOUT_STATUS,
    RolloutSnapshot, family, sample,
};
use crate::domain::Timestamp;
use crate::domain::rollout::PhaseName;

/// How long a finished rollout keeps its status, phase and stage series after it ended.
pub const FINISHED_RETENTION_DAYS: i64 = 7;

/// True while a rollout that ended at `ended_at` still shows its final status at `now`.
pub fn keeps_final_status(ended_at: Timestamp, now: Timestamp) -> bool {
    now - ended_at <= chrono::Duration::days(FINISHED_RETENTION_DAYS)
}

/// The values of the `status` label.
pub const STATUSES: [&str; 4] = ["running", "succeeded", "failed", "held"];

/// The status of a rollout in `phase`: `succeeded` once completed, `failed` once rolled back or
/// killed, `held` while held, else `running`.
pub fn status_of(phase: PhaseName) -> &'static str {
    match phase {
        PhaseName::Completed => "succeeded",
        PhaseName::RolledBack | PhaseName::Killed => "failed",
        PhaseName::Held => "held",
        PhaseName::Pending
        | PhaseName::Running
        | PhaseName::AwaitingApproval
        | PhaseName::Extended
        | PhaseName::Monitoring => "running",
    }
}

fn state_set(out: &mut String, name: &str, id: &str, key: &str, states: &[&str], current: &str) {
    for state in states {
        let value = if *state == current { 1.0 } else { 0.0 };
        sample(out, name, &[("rollout", id), (key, state)], value);
    }
    if !states.contains(&current) {
        sample(out, name, &[("rollout", id), (key, current)], 1.0);
    }
}

/// Appends the status, phase, stage and e-value families.
pub(super) fn render(out: &mut String, rollouts: &[&RolloutSnapshot]) {
    family(
        out,
        ROLLOUT_STATUS,
        "gauge",
        "1 for the rollout's status (running, succeeded, failed, held), 0 for the others; kept \
         after the rollout ends",
    );
    for r in rollouts {
        let status = status_of(r.phase);
        state_set(
            out,
            ROLLOUT_STATUS,
            &r.rollout_id,
            "status",
            &STATUSES,
            status,
        );
    }
    family(
        out,
        ROLLOUT_PHASE,
        "gauge",
        "1 for the rollout's phase, 0 for the others; kept after the rollout ends",
    );
    for r in rollouts {
        state_set(
            out,
            ROLLOUT_PHASE,
            &r.rollout_id,
            "phase",
            &PhaseName::ALL.map(PhaseName::as_str),
            r.phase.as_str(),
        );
    }
    family(
        out,
        ROLLOUT_STAGE,
        "gauge",
        "the rollout's stage number in its plan (1 = first stage)",
    );
    for r in rollouts {
        if let Some(stage) = r.stage {
            sample(
                out,
                ROLLOUT_STAGE,
                &[("rollout", r.rollout_id.as_str())],
                stage as f64,
            );
        }
    }
    family(
        out,
        GATE_E_VALUE,
        "gauge",
        "current e-value of each gating metric's halting test (halts at the threshold)",
    );
    for r in rollouts.iter().filter(|r| !r.finished) {
        for gate in &r.e_values {
            if let Some(value) = gate.e_value {
                let labels = [
                    ("rollout", r.rollout_id.as_str()),
                    ("metric", gate.metric.as_str()),
                ];
                sample(out, GATE_E_VALUE, &labels, value);
            }
        }
    }
    family(
        out,
        GATE_E_VALUE_THRESHOLD,
        "gauge",
        "1/alpha of each gating metric's halting test: the e-value that halts the rollout",
    );
    for r in rollouts.iter().filter(|r| !r.finished) {
        for gate in &r.e_values {
            if let Some(value) = gate.threshold {
                let labels = [
                    ("rollout", r.rollout_id.as_str()),
                    ("metric", gate.metric.as_str()),
                ];
                sample(out, GATE_E_VALUE_THRESHOLD, &labels, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone, Utc};

    #[test]
    fn a_finished_rollout_keeps_its_status_for_a_week() {
        let ended = Utc.with_ymd_and_hms(2026, 11, 2, 10, 0, 0).unwrap();
        assert!(keeps_final_status(ended, ended + Duration::days(7)));
        assert!(!keeps_final_status(
            ended,
            ended + Duration::days(7) + Duration::seconds(1)
        ));
    }

    #[test]
    fn every_phase_maps_to_one_of_the_four_statuses() {
        let statuses: Vec<&str> = PhaseName::ALL.into_iter().map(status_of).collect();
        assert_eq!(
            statuses,
            [
                "running",
                "running",
                "running",
                "running",
                "held",
                "running",
                "failed",
                "failed",
                "succeeded"
            ]
        );
    }
}
