//! The controller's sink effects: writing a transition's split to every flag sink with
//! verification (a refused raise becomes a hold at the old split, the sinks that took it are put
//! back; a refused lowering is alerted and kept), and reconciling sinks that drifted from the
//! stored split before each decision.

use serde_json::json;

use super::{Extras, LoadedRollout, audit_row};
use crate::adapters::flags::{FlagSinks, SinkOutcome, SinkWriteReport};
use crate::domain::Timestamp;
use crate::domain::rollout::{Command, Effect, Input, Phase, Severity, Transition, TransitionKind};
use crate::logic::rollout::{SYSTEM_ACTOR, step};

fn failed_sinks(reports: &[SinkWriteReport]) -> String {
    let failed: Vec<String> = reports
        .iter()
        .filter(|report| !report.is_verified())
        .map(|report| match &report.outcome {
            SinkOutcome::Failed { error, .. } => {
                format!("{} ({error})", report.sink)
            }
            SinkOutcome::Verified { .. } => report.sink.clone(),
        })
        .collect();
    failed.join(", ")
}

/// The actor a transition's split write is attributed to.
fn transition_actor(transition: &Transition) -> String {
    transition
        .effects
        .iter()
        .find_map(|effect| match effect {
            Effect::Audit { actor, .. } => Some(actor.clone()),
            _ => None,
        })
        .unwrap_or_else(|| SYSTEM_ACTOR.to_string())
}

/// Writes every SetSplit of `transition` to the sinks. When a sink refuses a raised split, the
/// sinks that took it are put back and the transition is replaced by a hold at the old split.
pub(super) async fn write_splits(
    sinks: &FlagSinks,
    rollout: &LoadedRollout,
    transition: Transition,
    now: Timestamp,
    extras: &mut Extras,
) -> (Transition, bool) {
    let before = rollout.state.snapshot();
    let actor = transition_actor(&transition);
    for effect in &transition.effects {
        let Effect::SetSplit {
            flag_key,
            basis_points,
        } = effect
        else {
            continue;
        };
        let wanted = rollout.split_write(*basis_points, &actor, now);
        let reports = sinks.write_verified(flag_key, &wanted).await;
        let all_ok = reports.iter().all(SinkWriteReport::is_verified);
        let failed = failed_sinks(&reports);
        extras.sink_reports.extend(reports);
        if all_ok {
            continue;
        }
        let evidence = json!({"sink_reports": extras.sink_reports});
        if *basis_points > before.split_bp {
            let reason = format!(
                "flag sink(s) did not take {basis_points} bp for `{flag_key}`: {failed}; \
                 holding at {} bp",
                before.split_bp
            );
            tracing::error!(rollout_id = %rollout.row.id, flag = %flag_key, failed = %failed, "flag sink refused a raised split; holding the rollout");
            let revert = rollout.split_write(before.split_bp, SYSTEM_ACTOR, now);
            extras
                .sink_reports
                .extend(sinks.write_verified(flag_key, &revert).await);
            let after = before.clone();
            extras.events.push(audit_row(
                &rollout.row.id,
                now,
                SYSTEM_ACTOR,
                "sink_failure",
                &reason,
                (&before, &after),
                evidence.clone(),
                false,
            ));
            extras
                .alerts
                .push((Severity::Critical, reason.clone(), evidence));
            return (hold_instead(rollout, &reason, now), true);
        }
        let reason = format!(
            "flag sink(s) do NOT show {basis_points} bp for `{flag_key}`: {failed}; the gateway \
             may still route canary traffic; retried on the next decision"
        );
        tracing::error!(rollout_id = %rollout.row.id, flag = %flag_key, failed = %failed, "flag sink refused a lowered split");
        let after = transition.next.snapshot();
        extras.post_events.push(audit_row(
            &rollout.row.id,
            now,
            SYSTEM_ACTOR,
            "sink_failure",
            &reason,
            (&before, &after),
            evidence.clone(),
            false,
        ));
        extras.alerts.push((Severity::Critical, reason, evidence));
    }
    (transition, false)
}

/// The transition that holds `rollout` at its current split for `reason` (a halt through the
/// state machine when the rollout is live; otherwise nothing changes).
fn hold_instead(rollout: &LoadedRollout, reason: &str, now: Timestamp) -> Transition {
    let halt = Input::commands(vec![Command::Halt {
        actor: SYSTEM_ACTOR.to_string(),
        reason: reason.to_string(),
    }]);
    let held = step(&rollout.state, &rollout.plan, &halt, now);
    if held.kind == TransitionKind::Held {
        return held;
    }
    Transition {
        next: rollout.state.clone(),
        effects: Vec::new(),
        wake_at: Some(now + rollout.plan.tick_interval.to_chrono()),
        reason: reason.to_string(),
        evidence: Vec::new(),
        kind: TransitionKind::Stay,
    }
}

/// Rewrites the sinks that do not hold the rollout's stored split. Returns a halt command when
/// a live rollout's sinks cannot be fixed.
pub(super) async fn reconcile(
    sinks: &FlagSinks,
    rollout: &LoadedRollout,
    now: Timestamp,
    extras: &mut Extras,
) -> Option<Command> {
    if rollout.state.phase == Phase::Pending {
        return None;
    }
    let live = matches!(
        rollout.state.phase,
        Phase::Running | Phase::Extended | Phase::AwaitingApproval | Phase::Monitoring
    );
    let wanted = rollout.split_write(rollout.state.split_bp, SYSTEM_ACTOR, now);
    let reports = sinks.reconcile(&rollout.row.flag_key, &wanted).await;
    if reports.is_empty() {
        return None;
    }
    let snapshot = rollout.state.snapshot();
    let evidence = json!({"sink_reports": reports});
    let all_ok = reports.iter().all(SinkWriteReport::is_verified);
    let failed = failed_sinks(&reports);
    let names: Vec<&str> = reports.iter().map(|report| report.sink.as_str()).collect();
    extras.sink_reports.extend(reports.iter().cloned());
    if all_ok {
        let reason = format!(
            "flag sink(s) {} had drifted from {} bp; rewritten",
            names.join(", "),
            snapshot.split_bp
        );
        tracing::warn!(rollout_id = %rollout.row.id, sinks = %names.join(","), "flag sinks drifted; rewritten");
        extras.events.push(audit_row(
            &rollout.row.id,
            now,
            SYSTEM_ACTOR,
            "split_reconciled",
            &reason,
            (&snapshot, &snapshot),
            evidence.clone(),
            false,
        ));
        extras.alerts.push((Severity::Warning, reason, evidence));
        return None;
    }
    let reason = format!(
        "flag sink(s) do not hold the rollout's {} bp and cannot be rewritten: {failed}",
        snapshot.split_bp
    );
    tracing::error!(rollout_id = %rollout.row.id, failed = %failed, "flag sinks drifted and cannot be rewritten");
    extras.events.push(audit_row(
        &rollout.row.id,
        now,
        SYSTEM_ACTOR,
        "sink_failure",
        &reason,
        (&snapshot, &snapshot),
        evidence.clone(),
        false,
    ));
    extras
        .alerts
        .push((Severity::Critical, reason.clone(), evidence));
    live.then(|| Command::Halt {
        actor: SYSTEM_ACTOR.to_string(),
        reason,
    })
}
