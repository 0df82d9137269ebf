//! The rollout controller's I/O half: load a rollout, decide with the pure
//! `logic::rollout::step`, and apply the transition's effects in order: the split to every flag
//! sink with read-back verification first, then the new state and its audit rows (one
//! transaction, optimistic on the row's version), then the owner's notifications.
//!
//! A sink that does not show a RAISED split after its retries makes the rollout hold at the old
//! split instead (the sinks that took the raise are put back), with a loud alert. A LOWERED split
//! (rollback, kill) that a sink does not show still ends the rollout, is alerted as critical, and
//! is written again on the next decision: every `control_once` first checks that the sinks hold
//! the stored split and rewrites those that drifted, holding a live rollout whose sinks cannot be
//! fixed. The controller never silently believes a split the gateway does not see.

use anyhow::Context as _;
use serde::Serialize;
use serde_json::{Value, json};

use crate::adapters::flags::{FlagSinks, SinkWriteReport};
use crate::adapters::notify::{Notification, Notifier, NotifyOutcome};
use crate::adapters::store::{RolloutEvent, RolloutRow, StateUpdate, Store};
use crate::app::Context;
use crate::domain::rollout::{
    Command, Effect, Input, Phase, Plan, RolloutState, Severity, StateSnapshot, Transition,
    TransitionKind,
};
use crate::domain::{SplitWrite, Timestamp};
use crate::logic::rollout::{SYSTEM_ACTOR, step};

/// A stored rollout with its plan and state decoded.
#[derive(Debug, Clone)]
pub struct LoadedRollout {
    /// The row as stored.
    pub row: RolloutRow,
    /// The plan.
    pub plan: Plan,
    /// The state.
    pub state: RolloutState,
}

impl LoadedRollout {
    /// Decodes a stored row.
    pub fn from_row(row: RolloutRow) -> anyhow::Result<LoadedRollout> {
        let plan: Plan = serde_json::from_value(row.plan.clone())
            .with_context(|| format!("rollout {}: stored plan does not parse", row.id))?;
        let state: RolloutState = serde_json::from_value(row.state.clone())
            .with_context(|| format!("rollout {}: stored state does not parse", row.id))?;
        Ok(LoadedRollout { row, plan, state })
    }

    /// Loads a rollout by id.
    pub async fn load(store: &Store, id: &str) -> anyhow::Result<LoadedRollout> {
        let row = store
            .get_rollout(id)
            .await
            .context("cannot read the rollout")?
            .with_context(|| format!("no rollout `{id}`"))?;
        LoadedRollout::from_row(row)
    }

    /// The write that puts `basis_points` on this rollout's flag with its salt and cohorts.
    pub fn split_write(&self, basis_points: u32, actor: &str, now: Timestamp) -> SplitWrite {
        SplitWrite {
            basis_points,
            salt: self.row.salt.clone(),
            always: self.row.always_tenants.clone(),
            never: self.row.never_tenants.clone(),
            updated_at: now,
            updated_by: actor.to_string(),
        }
    }
}

/// What applying one transition did.
#[derive(Debug, Clone, Serialize)]
pub struct ApplyReport {
    /// The rollout id.
    pub rollout_id: String,
    /// The kind of transition stored (a hold when a sink refused a raise).
    pub kind: TransitionKind,
    /// Why.
    pub reason: String,
    /// The state before.
    pub before: StateSnapshot,
    /// The state stored.
    pub after: StateSnapshot,
    /// When the next decision is due.
    pub wake_at: Option<Timestamp>,
    /// True when a sink refused a raised split and the rollout held instead.
    pub held_for_sink_failure: bool,
    /// Every sink write made (split changes, reverts, reconciliation).
    pub sink_reports: Vec<SinkWriteReport>,
    /// What happened to each notification.
    pub notifications: Vec<NotifyOutcome>,
}

impl ApplyReport {
    /// True when every sink write was verified.
    pub fn sinks_ok(&self) -> bool {
        self.sink_reports.iter().all(SinkWriteReport::is_verified)
    }
}

/// Effects that came from I/O rather than from `step`: extra audit rows and alerts.
#[derive(Default)]
struct Extras {
    /// Audit rows that explain the transition (written before its own rows).
    events: Vec<RolloutEvent>,
    /// Audit rows about the transition's consequences (written after its own rows).
    post_events: Vec<RolloutEvent>,
    alerts: Vec<(Severity, String, Value)>,
    sink_reports: Vec<SinkWriteReport>,
}

#[allow(clippy::too_many_arguments)] // one audit row's columns
fn audit_row(
    rollout_id: &str,
    now: Timestamp,
    actor: &str,
    action: &str,
    reason: &str,
    states: (&StateSnapshot, &StateSnapshot),
    evidence: Value,
    is_override: bool,
) -> RolloutEvent {
    RolloutEvent {
        id: uuid::Uuid::now_v7().to_string(),
        rollout_id: rollout_id.to_string(),
        at: now,
        actor: actor.to_string(),
        action: action.to_string(),
        reason: reason.to_string(),
        before: json!(states.0),
        after: json!(states.1),
        evidence,
        is_override,
    }
}

fn kind_name(kind: TransitionKind) -> String {
    match serde_json::to_value(kind) {
        Ok(Value::String(name)) => name,
        _ => format!("{kind:?}"),
    }
}

fn failed_sinks(reports: &[SinkWriteReport]) -> String {
    let failed: Vec<String> = reports
        .iter()
        .filter(|report| !report.is_verified())
        .map(|report| match &report.outcome {
            crate::adapters::flags::SinkOutcome::Failed { error, .. } => {
                format!("{} ({error})", report.sink)
            }
            crate::adapters::flags::SinkOutcome::Verified { .. } => report.sink.clone(),
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
async fn write_splits(
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

/// Applies `transition` to `rollout`: sinks first (verified), then the state and audit rows,
/// then notifications. Fails (having written nothing to the store) when another writer changed
/// the rollout since it was loaded.
#[tracing::instrument(skip_all, fields(rollout_id = %rollout.row.id, kind = ?transition.kind))]
pub async fn apply_transition(
    store: &Store,
    sinks: &FlagSinks,
    notifier: &Notifier,
    rollout: &LoadedRollout,
    transition: &Transition,
    now: Timestamp,
) -> anyhow::Result<ApplyReport> {
    let mut extras = Extras::default();
    apply_with(
        store,
        sinks,
        notifier,
        rollout,
        transition.clone(),
        now,
        &mut extras,
    )
    .await
}

async fn apply_with(
    store: &Store,
    sinks: &FlagSinks,
    notifier: &Notifier,
    rollout: &LoadedRollout,
    transition: Transition,
    now: Timestamp,
    extras: &mut Extras,
) -> anyhow::Result<ApplyReport> {
    let (transition, held_for_sink_failure) =
        write_splits(sinks, rollout, transition, now, extras).await;
    let evidence = json!(transition.evidence);
    let mut events = Vec::new();
    for effect in &transition.effects {
        if let Effect::Audit {
            actor,
            action,
            reason,
            is_override,
            before,
            after,
        } = effect
        {
            events.push(audit_row(
                &rollout.row.id,
                now,
                actor,
                action,
                reason,
                (before, after),
                evidence.clone(),
                *is_override,
            ));
        }
    }
    let mut ordered = std::mem::take(&mut extras.events);
    ordered.append(&mut events);
    ordered.append(&mut extras.post_events);
    // Ids are time-ordered (UUIDv7): renumber so the audit trail lists cause before effect.
    for event in &mut ordered {
        event.id = uuid::Uuid::now_v7().to_string();
    }
    let events = ordered;
    let update = StateUpdate {
        expected_version: rollout.row.version,
        state: serde_json::to_value(&transition.next).context("cannot encode the state")?,
        phase: transition.next.phase.name().to_string(),
        active: !transition.next.phase.is_terminal(),
        wake_at: transition.wake_at,
        last_reason: transition.reason.clone(),
        last_evidence: evidence.clone(),
        at: now,
    };
    let applied = store
        .update_rollout_state(&rollout.row.id, &update, &events)
        .await
        .context("cannot store the rollout's new state")?;
    if !applied {
        anyhow::bail!(
            "rollout {} changed while this decision was made (another writer); nothing was \
             stored, the next decision re-checks the sinks",
            rollout.row.id
        );
    }
    let notifications = notify_all(notifier, rollout, &transition, extras, now).await;
    Ok(ApplyReport {
        rollout_id: rollout.row.id.clone(),
        kind: transition.kind,
        reason: transition.reason.clone(),
        before: rollout.state.snapshot(),
        after: transition.next.snapshot(),
        wake_at: transition.wake_at,
        held_for_sink_failure,
        sink_reports: std::mem::take(&mut extras.sink_reports),
        notifications,
    })
}

async fn notify_all(
    notifier: &Notifier,
    rollout: &LoadedRollout,
    transition: &Transition,
    extras: &mut Extras,
    now: Timestamp,
) -> Vec<NotifyOutcome> {
    let before = json!(rollout.state.snapshot());
    let after = json!(transition.next.snapshot());
    let mut messages: Vec<(Severity, String, String, Value)> = Vec::new();
    for effect in &transition.effects {
        if let Effect::Notify { severity, message } = effect {
            messages.push((
                *severity,
                kind_name(transition.kind),
                message.clone(),
                json!(transition.evidence),
            ));
        }
    }
    for (severity, message, evidence) in extras.alerts.drain(..) {
        messages.push((severity, "sink_failure".to_string(), message, evidence));
    }
    let mut outcomes = Vec::new();
    for (severity, event, summary, evidence) in messages {
        let notification = Notification {
            rollout_id: rollout.row.id.clone(),
            flag_key: rollout.row.flag_key.clone(),
            owner: rollout.row.owner.clone(),
            event,
            severity,
            summary,
            reason: transition.reason.clone(),
            before: before.clone(),
            after: after.clone(),
            evidence,
            at: now,
        };
        outcomes.push(
            notifier
                .send(rollout.row.webhook.as_deref(), &notification)
                .await,
        );
    }
    outcomes
}

/// Rewrites the sinks that do not hold the rollout's stored split. Returns a halt command when
/// a live rollout's sinks cannot be fixed.
async fn reconcile(
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

/// One decision for one rollout: load its state, make sure the sinks hold its split, call
/// `logic::rollout::step` with `input`, and apply the transition. The tick pipeline calls this
/// with the gate verdicts; manual commands call it with a `Command`.
#[tracing::instrument(skip_all, fields(rollout_id = %rollout_id))]
pub async fn control_once(
    ctx: &Context,
    store: &Store,
    rollout_id: &str,
    input: Input,
    now: Timestamp,
) -> anyhow::Result<ApplyReport> {
    let sinks = FlagSinks::from_config(&ctx.config.flags, store);
    let notifier = Notifier::from_config(&ctx.config.notify)?;
    control_with(store, &sinks, &notifier, rollout_id, input, now).await
}

/// `control_once` with explicit sinks and notifier (tests, the demo).
pub async fn control_with(
    store: &Store,
    sinks: &FlagSinks,
    notifier: &Notifier,
    rollout_id: &str,
    mut input: Input,
    now: Timestamp,
) -> anyhow::Result<ApplyReport> {
    let rollout = LoadedRollout::load(store, rollout_id).await?;
    let mut extras = Extras::default();
    if let Some(halt) = reconcile(sinks, &rollout, now, &mut extras).await {
        input.commands.insert(0, halt);
    }
    let transition = step(&rollout.state, &rollout.plan, &input, now);
    if transition.kind == TransitionKind::Rejected {
        record_rejections(&rollout, &input, &transition, now, &mut extras);
    }
    apply_with(
        store,
        sinks,
        notifier,
        &rollout,
        transition,
        now,
        &mut extras,
    )
    .await
}

fn record_rejections(
    rollout: &LoadedRollout,
    input: &Input,
    transition: &Transition,
    now: Timestamp,
    extras: &mut Extras,
) {
    let snapshot = rollout.state.snapshot();
    for command in &input.commands {
        extras.events.push(audit_row(
            &rollout.row.id,
            now,
            command.actor(),
            &format!("{}_rejected", command.action()),
            &transition.reason,
            (&snapshot, &snapshot),
            json!({"command": command}),
            false,
        ));
    }
}
