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
//!
//! Crash safety: the split about to be written is recorded first (`pending_split_bp`), so a
//! restart that finds the sinks at that split knows it as its own unfinished write, not drift;
//! a tick's decision commits with the tick row marked done and the window recorded as the
//! rollout's `last_window` (a redone window applies nothing); notifications are written to the
//! outbox in that same transaction and delivered after it, at least once (`outbox`).

pub mod outbox;
mod sink_effects;

use sink_effects::{reconcile, write_splits};

use anyhow::Context as _;
use serde::Serialize;
use serde_json::{Value, json};

use crate::adapters::flags::{FlagSinks, SinkWriteReport};
use crate::adapters::notify::{Notification, Notifier, NotifyOutcome};
use crate::adapters::store::rollout_format;
use crate::adapters::store::{
    DecisionCommit, Fence, FinishedTick, OutboxItem, RolloutEvent, RolloutRow, StateUpdate, Store,
    TickKey,
};
use crate::context::Services;
use crate::domain::rollout::{
    Effect, Input, PhaseName, Plan, RolloutState, Severity, StateSnapshot, Transition,
    TransitionKind,
};
use crate::domain::{SplitWrite, Timestamp};
use crate::logic::rollout::step;
use crate::worker::pipeline::RolloutTick;

/// A tick's decision: the verdicts of the window `key`, gathered in stage `stage_index` under the
/// rollout's writer lease `fence`, with the tick's report so far. (No `Debug`: the clock is a
/// trait object.)
#[derive(Clone)]
pub struct TickDecision {
    /// The tick (rollout, window start).
    pub key: TickKey,
    /// The writer lease the tick holds.
    pub fence: Fence,
    /// The stage the verdicts were gathered in.
    pub stage_index: usize,
    /// The tick's report before the controller step.
    pub report: RolloutTick,
    /// The wall clock: the tick row's `finished_at` is when it finished, not the tick time.
    pub clock: std::sync::Arc<dyn crate::clock::Clock>,
}

/// Completes a tick's report with what the controller did (stored in the tick row and printed).
fn finish_report(report: &mut RolloutTick, transition: &Transition) {
    report.transition = transition.kind.as_str().to_string();
    report.reason = transition.reason.clone();
    report.phase = transition.next.phase.kind();
    report.split_after_bp = transition.next.split_bp;
}

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
    /// Decodes a stored row (its stored format: `store::rollout_format`).
    pub fn from_row(row: RolloutRow) -> anyhow::Result<LoadedRollout> {
        let plan = rollout_format::decode_plan(&row.id, &row.plan)?;
        let state = rollout_format::decode_state(&row.id, &row.state)?;
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
        None,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn apply_with(
    store: &Store,
    sinks: &FlagSinks,
    notifier: &Notifier,
    rollout: &LoadedRollout,
    transition: Transition,
    now: Timestamp,
    extras: &mut Extras,
    tick: Option<&TickDecision>,
) -> anyhow::Result<ApplyReport> {
    if let Some(bp) = raised_or_changed_split(rollout, &transition) {
        store
            .set_pending_split(&rollout.row.id, bp)
            .await
            .context("cannot record the split about to be written")?;
    }
    crate::worker::failpoint::hit("control_before_sinks");
    let (transition, held_for_sink_failure) =
        write_splits(sinks, rollout, transition, now, extras).await;
    crate::worker::failpoint::hit("control_after_sinks");
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
        state: rollout_format::encode_state(&transition.next)?,
        phase: transition.next.phase.kind(),
        // A rollout stays active (ticks keep calling it, and reconcile keeps rewriting) until
        // every sink shows its final split: a rollback no gateway sees is not over.
        active: !transition.next.phase.is_terminal()
            || !extras.sink_reports.iter().all(SinkWriteReport::is_verified),
        wake_at: transition.wake_at,
        last_reason: transition.reason.clone(),
        last_evidence: latest_evidence(rollout, &transition, extras),
        at: now,
    };
    let outbox_items = outbox_items(notifier, rollout, &transition, extras, now);
    let commit = DecisionCommit {
        fence: tick.map(|decision| decision.fence.clone()),
        window: tick.map(|decision| decision.key.window_start),
        tick: match tick {
            Some(decision) => {
                let mut report = decision.report.clone();
                finish_report(&mut report, &transition);
                let value =
                    serde_json::to_value(&report).context("cannot encode the tick report")?;
                Some(FinishedTick {
                    key: decision.key.clone(),
                    report: value,
                    finished_at: decision.clock.now(),
                })
            }
            None => None,
        },
        outbox: outbox_items,
    };
    let applied = store
        .commit_decision(&rollout.row.id, &update, &events, &commit)
        .await
        .context("cannot store the rollout's new state")?;
    if !applied {
        anyhow::bail!(
            "rollout {} changed while this decision was made (another writer); nothing was \
             stored, the next decision re-checks the sinks",
            rollout.row.id
        );
    }
    crate::worker::failpoint::hit("control_after_commit");
    let notifications = outbox::deliver_items(store, notifier, &commit.outbox, now).await;
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

/// The split a transition is about to write, when it differs from the stored one.
fn raised_or_changed_split(rollout: &LoadedRollout, transition: &Transition) -> Option<u32> {
    transition.effects.iter().find_map(|effect| match effect {
        Effect::SetSplit { basis_points, .. } if *basis_points != rollout.state.split_bp => {
            Some(*basis_points)
        }
        _ => None,
    })
}

/// The transition's notifications as outbox rows (none when no webhook is configured).
fn outbox_items(
    notifier: &Notifier,
    rollout: &LoadedRollout,
    transition: &Transition,
    extras: &mut Extras,
    now: Timestamp,
) -> Vec<OutboxItem> {
    let before = json!(rollout.state.snapshot());
    let after = json!(transition.next.snapshot());
    let mut messages: Vec<(Severity, String, String, Value)> = Vec::new();
    for effect in &transition.effects {
        if let Effect::Notify { severity, message } = effect {
            messages.push((
                *severity,
                transition.kind.as_str().to_string(),
                message.clone(),
                json!(transition.evidence),
            ));
        }
    }
    for (severity, message, evidence) in extras.alerts.drain(..) {
        messages.push((severity, "sink_failure".to_string(), message, evidence));
    }
    if !notifier.has_webhook(rollout.row.webhook.as_deref()) {
        if !messages.is_empty() {
            tracing::debug!(
                count = messages.len(),
                "no webhook configured; notifications not sent"
            );
        }
        return Vec::new();
    }
    messages
        .into_iter()
        .map(|(severity, event, summary, evidence)| {
            let id = uuid::Uuid::now_v7().to_string();
            let notification = Notification {
                id: id.clone(),
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
            OutboxItem {
                id,
                rollout_id: rollout.row.id.clone(),
                created_at: now,
                webhook: rollout.row.webhook.clone(),
                notification: json!(notification),
                attempts: 0,
                // Claimed by this process for its inline delivery; after that deadline (a
                // crash mid-delivery) any process's outbox loop takes it over.
                next_attempt_at: now + notifier.delivery_deadline(),
            }
        })
        .collect()
}

/// One decision for one rollout: load its state, make sure the sinks hold its split, call
/// `logic::rollout::step` with `input`, and apply the transition. Manual commands call this with
/// a `Command`; ticks call [`control_tick`].
#[tracing::instrument(skip_all, fields(rollout_id = %rollout_id))]
pub async fn control_once(
    services: &Services,
    rollout_id: &str,
    input: Input,
    now: Timestamp,
) -> anyhow::Result<ApplyReport> {
    control_with(
        &services.store,
        &services.sinks,
        &services.notifier,
        rollout_id,
        input,
        now,
    )
    .await
}

/// `control_once` with explicit sinks and notifier (tests, the demo).
pub async fn control_with(
    store: &Store,
    sinks: &FlagSinks,
    notifier: &Notifier,
    rollout_id: &str,
    input: Input,
    now: Timestamp,
) -> anyhow::Result<ApplyReport> {
    let rollout = LoadedRollout::load(store, rollout_id).await?;
    decide(store, sinks, notifier, rollout, input, now, None).await
}

/// The controller step of a tick: applies the verdicts of `decision`'s window at most once. A
/// window the rollout already decided (a redo after a crash, or an older window), or one gated
/// in a stage the rollout has left, applies nothing and only finishes its tick row. Returns the
/// tick's final report.
pub async fn control_tick(
    services: &Services,
    input: Input,
    now: Timestamp,
    decision: TickDecision,
) -> anyhow::Result<RolloutTick> {
    let (store, sinks, notifier) = (&services.store, &services.sinks, &services.notifier);
    let rollout = LoadedRollout::load(store, &decision.key.rollout_id).await?;
    let window = decision.key.window_start;
    let superseded = match rollout.row.last_window {
        Some(last) if last >= window => Some(format!(
            "window {} was already decided (the rollout's last decided window is {}); nothing \
             applied again",
            window.to_rfc3339(),
            last.to_rfc3339()
        )),
        _ if rollout.state.stage_index != decision.stage_index => Some(format!(
            "the rollout left stage {} (now {}) after this window was gated; its verdicts no \
             longer apply",
            decision.stage_index, rollout.state.stage_index
        )),
        _ if !rollout.state.phase.is_tickable() => Some(format!(
            "the rollout is {} since this window was gated",
            rollout.state.phase
        )),
        _ => None,
    };
    if let Some(reason) = superseded {
        tracing::warn!(rollout_id = %rollout.row.id, reason = %reason, "tick decision superseded");
        let mut report = decision.report.clone();
        report.transition = "superseded".to_string();
        report.reason = reason;
        report.phase = rollout.state.phase.kind();
        report.split_after_bp = rollout.state.split_bp;
        let value = serde_json::to_value(&report).context("cannot encode the tick report")?;
        store
            .mark_tick(
                &decision.key,
                crate::adapters::store::TickStatus::Done,
                &value,
                Some(decision.clock.now()),
            )
            .await
            .context("cannot mark the tick done")?;
        return Ok(report);
    }
    let applied = decide(store, sinks, notifier, rollout, input, now, Some(&decision)).await?;
    let mut report = decision.report;
    report.transition = applied.kind.as_str().to_string();
    report.reason = applied.reason;
    report.phase = applied.after.phase;
    report.split_after_bp = applied.after.split_bp;
    Ok(report)
}

async fn decide(
    store: &Store,
    sinks: &FlagSinks,
    notifier: &Notifier,
    rollout: LoadedRollout,
    mut input: Input,
    now: Timestamp,
    tick: Option<&TickDecision>,
) -> anyhow::Result<ApplyReport> {
    let mut extras = Extras {
        latest_verdicts: input.verdicts.as_ref().map(|verdicts| json!(verdicts)),
        ..Extras::default()
    };
    // A split recorded as about to be written but never committed: the sinks may show it. It is
    // this controller's own unfinished write, not drift: decide again, then write what the new
    // decision says (or put the stored split back).
    let unfinished = rollout
        .row
        .pending_split_bp
        .and_then(|bp| u32::try_from(bp).ok())
        .filter(|bp| *bp != rollout.state.split_bp);
    if unfinished.is_none()
        && let Some(halt) = reconcile(sinks, &rollout, now, &mut extras).await
    {
        input.commands.insert(0, halt);
    }
    let mut transition = step(&rollout.state, &rollout.plan, &input, now);
    if transition.kind == TransitionKind::Rejected {
        record_rejections(&rollout, &input, &transition, now, &mut extras);
    }
    if let Some(bp) = unfinished {
        resume_unfinished_write(&rollout, &mut transition, bp, now, &mut extras);
    }
    apply_with(
        store,
        sinks,
        notifier,
        &rollout,
        transition,
        now,
        &mut extras,
        tick,
    )
    .await
}

/// After a crash between a sink write of `pending_bp` and its commit: audit it, and when the new
/// decision writes no split, write the stored split back so the sinks match the state.
fn resume_unfinished_write(
    rollout: &LoadedRollout,
    transition: &mut Transition,
    pending_bp: u32,
    now: Timestamp,
    extras: &mut Extras,
) {
    let writes_split = transition
        .effects
        .iter()
        .any(|effect| matches!(effect, Effect::SetSplit { .. }));
    let snapshot = rollout.state.snapshot();
    let reason = if writes_split {
        format!(
            "a write of {pending_bp} bp did not commit before the controller stopped; decided \
             again and writing the new decision's split"
        )
    } else {
        transition.effects.push(Effect::SetSplit {
            flag_key: rollout.row.flag_key.clone(),
            basis_points: rollout.state.split_bp,
        });
        format!(
            "a write of {pending_bp} bp did not commit before the controller stopped; putting \
             the stored {} bp back",
            rollout.state.split_bp
        )
    };
    tracing::warn!(rollout_id = %rollout.row.id, pending_bp, "resuming an unfinished split write");
    extras.events.push(audit_row(
        &rollout.row.id,
        now,
        crate::logic::rollout::SYSTEM_ACTOR,
        "split_write_resumed",
        &reason,
        (&snapshot, &snapshot),
        json!({"pending_split_bp": pending_bp}),
        false,
    ));
}

/// The kill switch for a rollout whose stored plan or state cannot be read: writes 0% to every
/// sink (with the row's salt and cohorts), then marks the row killed (the state JSON keeps what
/// was stored, with the phase and split patched when it is an object) and audits the kill with
/// the decode error. Returns the sink reports.
pub async fn kill_unreadable(
    services: &Services,
    row: &RolloutRow,
    actor: &str,
    reason: &str,
    decode_error: &str,
    now: Timestamp,
) -> anyhow::Result<Vec<SinkWriteReport>> {
    let (store, sinks, notifier) = (&services.store, &services.sinks, &services.notifier);
    let zero = SplitWrite {
        basis_points: 0,
        salt: row.salt.clone(),
        always: row.always_tenants.clone(),
        never: row.never_tenants.clone(),
        updated_at: now,
        updated_by: actor.to_string(),
    };
    let reports = sinks.write_verified(&row.flag_key, &zero).await;
    let all_ok = reports.iter().all(SinkWriteReport::is_verified);
    let full_reason = format!("{reason} (stored plan or state unreadable: {decode_error})");
    let mut state = row.state.clone();
    if let Some(object) = state.as_object_mut() {
        object.insert(
            "phase".to_string(),
            json!({"phase": "killed", "reason": full_reason}),
        );
        object.insert("split_bp".to_string(), json!(0));
    }
    let evidence = json!({"sink_reports": reports, "decode_error": decode_error});
    let event = RolloutEvent {
        id: uuid::Uuid::now_v7().to_string(),
        rollout_id: row.id.clone(),
        at: now,
        actor: actor.to_string(),
        action: "kill".to_string(),
        reason: full_reason.clone(),
        before: row.state.clone(),
        after: state.clone(),
        evidence: evidence.clone(),
        is_override: false,
    };
    let mut outbox = Vec::new();
    if notifier.has_webhook(row.webhook.as_deref()) {
        let id = uuid::Uuid::now_v7().to_string();
        let notification = Notification {
            id: id.clone(),
            rollout_id: row.id.clone(),
            flag_key: row.flag_key.clone(),
            owner: row.owner.clone(),
            event: "killed".to_string(),
            severity: Severity::Critical,
            summary: "killed: canary at 0% (stored state unreadable)".to_string(),
            reason: full_reason.clone(),
            before: row.state.clone(),
            after: state.clone(),
            evidence,
            at: now,
        };
        outbox.push(OutboxItem {
            id,
            rollout_id: row.id.clone(),
            created_at: now,
            webhook: row.webhook.clone(),
            notification: json!(notification),
            attempts: 0,
            next_attempt_at: now + notifier.delivery_deadline(),
        });
    }
    let update = StateUpdate {
        expected_version: row.version,
        state,
        phase: PhaseName::Killed,
        active: !all_ok,
        wake_at: None,
        last_reason: full_reason,
        last_evidence: row.last_evidence.clone(),
        at: now,
    };
    let commit = DecisionCommit {
        outbox,
        ..DecisionCommit::default()
    };
    let applied = store
        .commit_decision(&row.id, &update, &[event], &commit)
        .await
        .context("cannot store the kill")?;
    anyhow::ensure!(
        applied,
        "rollout {} changed while it was killed; the sinks were written 0%, run kill again to \
         record it",
        row.id
    );
    outbox::deliver_items(store, notifier, &commit.outbox, now).await;
    Ok(reports)
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
