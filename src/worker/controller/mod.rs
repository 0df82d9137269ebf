//! The rollout controller's I/O half: load a rollout, decide with the pure
//! `logic::rollout::step`, and apply the transition's effects in order: the split to every flag
//! sink with read-back verification first, then the new state and its audit rows (one
//! transaction, optimistic on the row's version), then the owner's notifications.
//!
//! A sink that does not show a RAISED split after its retries makes the rollout hold at the old
//! split instead (the sinks that took the raise are put back), with a loud alert. A LOWERED split
//! (rollback, kill) that a sink does not show still ends the rollout, is alerted as critical, and
//! is written again on the next decision (the rollout stays active until every sink shows it):
//! every `control_once` first checks that the sinks hold
//! the stored split and rewrites those that drifted, holding a live rollout whose sinks cannot be
//! fixed. The controller never silently believes a split the gateway does not see.

mod sink_effects;

use sink_effects::{reconcile, write_splits};

use anyhow::Context as _;
use serde::Serialize;
use serde_json::{Value, json};

use crate::adapters::flags::{FlagSinks, SinkWriteReport};
use crate::adapters::notify::{Notification, Notifier, NotifyOutcome};
use crate::adapters::store::{RolloutEvent, RolloutRow, StateUpdate, Store};
use crate::app::Context;
use crate::domain::rollout::{
    Effect, Input, Plan, RolloutState, Severity, StateSnapshot, Transition, TransitionKind,
};
use crate::domain::{SplitWrite, Timestamp};
use crate::logic::rollout::step;

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
    /// This tick's verdicts of every gate, when the input carried them.
    latest_verdicts: Option<Value>,
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
        // A rollout stays active (ticks keep calling it, and reconcile keeps rewriting) until
        // every sink shows its final split: a rollback no gateway sees is not over.
        active: !transition.next.phase.is_terminal()
            || !extras.sink_reports.iter().all(SinkWriteReport::is_verified),
        wake_at: transition.wake_at,
        last_reason: transition.reason.clone(),
        last_evidence: latest_evidence(rollout, &transition, extras),
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

/// What `rollout status` shows as each gate's latest verdict: this tick's verdicts when there
/// were some, else the transition's evidence, else what was stored before (manual commands do
/// not erase the gates' last word).
fn latest_evidence(rollout: &LoadedRollout, transition: &Transition, extras: &Extras) -> Value {
    if let Some(verdicts) = &extras.latest_verdicts {
        return verdicts.clone();
    }
    if !transition.evidence.is_empty() {
        return json!(transition.evidence);
    }
    rollout.row.last_evidence.clone()
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
    let mut extras = Extras {
        latest_verdicts: input.verdicts.as_ref().map(|verdicts| json!(verdicts)),
        ..Extras::default()
    };
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
