//! The rollout state machine: `step(state, plan, input, now) → Transition`. Pure: the controller
//! loads the stored state, calls `step` with this tick's verdicts and any manual commands, applies
//! the effects in order (split first) and stores `next`; a restart resumes from stored state.
//!
//! Rules (DESIGN.md §6, STATS.md §6), applied after the manual commands:
//! - A Halt verdict with role `rollback` sets the split to 0% at once (from any live phase, held
//!   included); role `freeze` holds the current split; role `notify` only notifies (once per
//!   metric and stage) and blocks promotion only through promotion authority.
//! - A stage promotes only when its minimum duration has passed, there is data, the data checks
//!   pass, at least one metric has promotion authority, and every such metric is PromoteReady
//!   with `min_samples` per arm. Otherwise it is extended up to its deadline, then held with a
//!   critical notification, or rolled back when the plan is fail-closed.
//! - A stage with `approval_required` waits in AwaitingApproval for an `approve`.
//! - The monitoring stage completes after its minimum duration when the tick has data, the
//!   data checks pass and nothing halts (there is no stage left to be PromoteReady for).
//! - Held never raises the split: approve and force-promote are rejected while held.
//! - Terminal phases absorb everything except `kill`, the switch that always re-asserts 0%.
//! - A step in which a manual command changed the state applies only halts afterwards;
//!   promotion waits for the next tick (so a resume or an approval never double-promotes).
//!
//! Every change carries an Audit effect (actor `evalgate` when automatic); a `Stay` has none.

use crate::domain::rollout::{
    Command, Effect, Input, Phase, Plan, RolloutState, Severity, StageSpec, Transition,
    TransitionKind,
};
use crate::domain::{MetricVerdict, Timestamp};

mod evaluate;
mod stage_clock;

pub use evaluate::promotion_blockers;
pub use stage_clock::{StageClock, stage_clock};

/// The actor of automatic transitions in audit rows.
pub const SYSTEM_ACTOR: &str = "evalgate";

/// Decides what the rollout does next. Commands apply in order, then the tick's verdicts; an
/// input with commands and no verdicts is a manual action only (no "missing data" tick).
pub fn step(state: &RolloutState, plan: &Plan, input: &Input, now: Timestamp) -> Transition {
    let mut machine = Machine {
        plan,
        now,
        state: state.clone(),
        effects: Vec::new(),
        reasons: Vec::new(),
        evidence: Vec::new(),
        kind: TransitionKind::Stay,
        wake_at: None,
        manual: false,
    };
    for command in &input.commands {
        machine.command(command);
    }
    // A command-only input is a manual action between ticks, not a tick without data.
    if input.verdicts.is_some() || input.commands.is_empty() {
        machine.evaluate(input);
    }
    machine.finish()
}

struct Machine<'a> {
    plan: &'a Plan,
    now: Timestamp,
    state: RolloutState,
    effects: Vec<Effect>,
    reasons: Vec<String>,
    evidence: Vec<MetricVerdict>,
    kind: TransitionKind,
    wake_at: Option<Timestamp>,
    /// A manual command changed the state in this step: only halts apply after it; promotion
    /// waits for the next tick (a resume never promotes in the same step).
    manual: bool,
}

/// Describes a stage for reasons: `stage 2/4 (10%)`.
fn describe(plan: &Plan, index: usize) -> String {
    match plan.stage(index) {
        Some(stage) => format!("stage {}/{} ({})", index + 1, plan.stages.len(), stage.name),
        None => format!("stage {} (not in plan)", index + 1),
    }
}

impl Machine<'_> {
    fn finish(self) -> Transition {
        let reason = if self.reasons.is_empty() {
            format!("{}: no change", self.state.phase)
        } else {
            self.reasons.join("; ")
        };
        Transition {
            wake_at: if self.state.phase.is_terminal() || self.state.phase == Phase::Pending {
                None
            } else {
                self.wake_at
                    .or_else(|| Some(self.now + self.plan.tick_interval.to_chrono()))
            },
            next: self.state,
            effects: self.effects,
            reason,
            evidence: self.evidence,
            kind: self.kind,
        }
    }

    fn stay(&mut self, reason: String) {
        self.reasons.push(reason);
    }

    fn reject(&mut self, command: &Command, why: &str) {
        self.reasons.push(format!(
            "{} by {} rejected: {why} (phase {})",
            command.action(),
            command.actor(),
            self.state.phase
        ));
        self.kind = TransitionKind::Rejected;
    }

    /// Applies `change` to the state and records the split write, the audit row and the reason.
    fn change(
        &mut self,
        actor: &str,
        action: &str,
        reason: String,
        is_override: bool,
        kind: TransitionKind,
        change: impl FnOnce(&mut RolloutState, &Plan, Timestamp),
    ) {
        let before = self.state.snapshot();
        change(&mut self.state, self.plan, self.now);
        self.state.updated_at = self.now;
        let after = self.state.snapshot();
        if before.split_bp != after.split_bp || kind == TransitionKind::Killed {
            self.effects.push(Effect::SetSplit {
                flag_key: self.state.flag_key.clone(),
                basis_points: self.state.split_bp,
            });
        }
        self.effects.push(Effect::Audit {
            actor: actor.to_string(),
            action: action.to_string(),
            reason: reason.clone(),
            is_override,
            before,
            after,
        });
        self.reasons.push(reason);
        self.kind = kind;
    }

    fn notify(&mut self, severity: Severity, message: String) {
        self.effects.push(Effect::Notify { severity, message });
    }

    fn command(&mut self, command: &Command) {
        let effects_before = self.effects.len();
        self.apply_command(command);
        if self.effects.len() > effects_before {
            self.manual = true;
        }
    }

    fn apply_command(&mut self, command: &Command) {
        let phase = self.state.phase.clone();
        let live = matches!(
            phase,
            Phase::Running | Phase::Extended | Phase::AwaitingApproval | Phase::Monitoring
        );
        match command {
            Command::Start { actor } => {
                if phase != Phase::Pending {
                    return self.reject(command, "only a pending rollout can start");
                }
                if self.plan.stages.is_empty() {
                    return self.reject(command, "the plan has no stages");
                }
                let reason = format!("started {}", describe(self.plan, 0));
                self.change(
                    actor,
                    "start",
                    reason.clone(),
                    false,
                    TransitionKind::Started,
                    |s, p, now| enter_stage(s, p, 0, now),
                );
                self.notify(Severity::Info, reason);
            }
            Command::Approve { actor, reason } => {
                if phase != Phase::AwaitingApproval {
                    return self.reject(command, "nothing is awaiting approval");
                }
                let why = with_reason("approved".to_string(), reason.as_deref());
                self.promote(actor, "approve", &why, false, TransitionKind::Promoted);
            }
            Command::Halt { actor, reason } => {
                if !live {
                    return self.reject(command, "only a live rollout can be halted");
                }
                self.hold(actor, "halt", format!("halted by {actor}: {reason}"));
            }
            Command::Resume { actor, reason } => {
                if !phase.is_held() {
                    return self.reject(command, "only a held rollout can resume");
                }
                self.resume(actor, reason.as_deref());
            }
            Command::Rollback { actor, reason } => {
                if phase.is_terminal() {
                    return self.reject(command, "the rollout is over");
                }
                self.roll_back(actor, format!("rolled back by {actor}: {reason}"));
            }
            Command::Kill { actor, reason } => {
                let reason = format!("killed by {actor}: {reason}");
                self.change(
                    actor,
                    "kill",
                    reason.clone(),
                    false,
                    TransitionKind::Killed,
                    {
                        let reason = reason.clone();
                        move |s, _, _| {
                            if !matches!(s.phase, Phase::Killed { .. }) {
                                s.phase = Phase::Killed { reason };
                            }
                            s.split_bp = 0;
                            s.hold_reason = None;
                            s.held_at = None;
                        }
                    },
                );
                self.notify(Severity::Critical, reason);
            }
            Command::ForcePromote { actor, reason } => {
                if !live {
                    return self.reject(command, "force promote needs a live, unheld rollout");
                }
                let why = format!("force-promoted by {actor} over the gates: {reason}");
                self.promote(
                    actor,
                    "force_promote",
                    &why,
                    true,
                    TransitionKind::ForcePromoted,
                );
                self.notify(Severity::Warning, why);
            }
        }
    }

    /// Moves to the next stage, or completes after the last one.
    fn promote(
        &mut self,
        actor: &str,
        action: &str,
        why: &str,
        is_override: bool,
        kind: TransitionKind,
    ) {
        let from = self.state.stage_index;
        let next = from + 1;
        if next >= self.plan.stages.len() {
            let reason = format!(
                "{why}: {} done, rollout completed",
                describe(self.plan, from)
            );
            let kind = if is_override {
                kind
            } else {
                TransitionKind::Completed
            };
            self.change(
                actor,
                action,
                reason.clone(),
                is_override,
                kind,
                |s, _, _| {
                    s.phase = Phase::Completed;
                },
            );
            self.notify(Severity::Info, reason);
            return;
        }
        let reason = format!(
            "{why}: promoted from {} to {}",
            describe(self.plan, from),
            describe(self.plan, next)
        );
        self.change(
            actor,
            action,
            reason.clone(),
            is_override,
            kind,
            move |s, p, now| enter_stage(s, p, next, now),
        );
        self.notify(Severity::Info, reason);
    }

    fn hold(&mut self, actor: &str, action: &str, reason: String) {
        let kept = reason.clone();
        self.change(
            actor,
            action,
            reason.clone(),
            false,
            TransitionKind::Held,
            {
                move |s, _, now| {
                    s.phase = Phase::Held {
                        reason: kept.clone(),
                    };
                    s.hold_reason = Some(kept);
                    s.held_at = Some(now);
                }
            },
        );
        self.notify(Severity::Critical, format!("held: {reason}"));
    }

    fn resume(&mut self, actor: &str, why_opt: Option<&str>) {
        let resumed = format!("resumed by {actor} at {} bp", self.state.split_bp);
        let reason = with_reason(resumed, why_opt);
        let tick = self.plan.tick_interval.to_chrono();
        self.change(
            actor,
            "resume",
            reason.clone(),
            false,
            TransitionKind::Resumed,
            {
                move |s, p, now| {
                    let held_for = now - s.held_at.unwrap_or(now);
                    // Time held does not count towards the stage's minimum.
                    s.stage_started_at = s.stage_started_at.map(|t| t + held_for);
                    let window = p
                        .stage(s.stage_index)
                        .map(|st| st.max_duration.to_chrono() - st.min_duration.to_chrono())
                        .unwrap_or(tick)
                        .max(tick);
                    // A resume grants at least one more extension window.
                    s.stage_deadline = s.stage_deadline.map(|d| (d + held_for).max(now + window));
                    s.phase = phase_of(p.stage(s.stage_index));
                    s.hold_reason = None;
                    s.held_at = None;
                }
            },
        );
        self.notify(Severity::Info, reason);
    }

    fn roll_back(&mut self, actor: &str, reason: String) {
        let kept = reason.clone();
        self.change(
            actor,
            "rollback",
            reason.clone(),
            false,
            TransitionKind::RolledBack,
            {
                move |s, _, _| {
                    s.phase = Phase::RolledBack { reason: kept };
                    s.split_bp = 0;
                    s.hold_reason = None;
                    s.held_at = None;
                }
            },
        );
        self.notify(Severity::Critical, reason);
    }
}

/// `what`, followed by the person's reason when they gave one (`approved (looks good)`).
fn with_reason(what: String, reason_opt: Option<&str>) -> String {
    match reason_opt.map(str::trim) {
        Some(reason) if !reason.is_empty() => format!("{what} ({reason})"),
        _ => what,
    }
}

/// The phase a stage runs in.
fn phase_of(stage: Option<&StageSpec>) -> Phase {
    match stage {
        Some(stage) if stage.monitoring => Phase::Monitoring,
        _ => Phase::Running,
    }
}

/// Puts the state at the start of stage `index`.
fn enter_stage(state: &mut RolloutState, plan: &Plan, index: usize, now: Timestamp) {
    let stage = plan.stage(index);
    state.stage_index = index;
    state.split_bp = stage.map_or(state.split_bp, |s| s.canary_basis_points);
    state.stage_started_at = Some(now);
    state.stage_deadline = stage.map(|s| now + s.max_duration.to_chrono());
    state.phase = phase_of(stage);
    state.extended = false;
    state.hold_reason = None;
    state.held_at = None;
    state.notified_metrics.clear();
}
