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
//!
//! Every change carries an Audit effect (actor `evalgate` when automatic); a `Stay` has none.

use crate::domain::rollout::{
    Command, Effect, Input, Phase, Plan, RolloutState, Severity, StageSpec, Transition,
    TransitionKind,
};
use crate::domain::{MetricVerdict, Role, Timestamp, Verdict};

/// The actor of automatic transitions in audit rows.
pub const SYSTEM_ACTOR: &str = "evalgate";

/// Decides what the rollout does next. Commands apply in order, then the tick's verdicts.
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
    };
    for command in &input.commands {
        machine.command(command);
    }
    machine.evaluate(input);
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
            Command::Approve { actor } => {
                if phase != Phase::AwaitingApproval {
                    return self.reject(command, "nothing is awaiting approval");
                }
                self.promote(
                    actor,
                    "approve",
                    "approved",
                    false,
                    TransitionKind::Promoted,
                );
            }
            Command::Halt { actor, reason } => {
                if !live {
                    return self.reject(command, "only a live rollout can be halted");
                }
                self.hold(actor, "halt", format!("halted by {actor}: {reason}"));
            }
            Command::Resume { actor } => {
                if !phase.is_held() {
                    return self.reject(command, "only a held rollout can resume");
                }
                self.resume(actor);
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

    fn resume(&mut self, actor: &str) {
        let reason = format!("resumed by {actor} at {} bp", self.state.split_bp);
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

    /// Applies the tick's verdicts to a live or held rollout.
    fn evaluate(&mut self, input: &Input) {
        let phase = self.state.phase.clone();
        if phase == Phase::Pending || phase.is_terminal() {
            return;
        }
        let Some(stage) = self.plan.stage(self.state.stage_index).cloned() else {
            let reason = format!(
                "{} is not in the plan; holding",
                describe(self.plan, self.state.stage_index)
            );
            if !phase.is_held() {
                self.hold(SYSTEM_ACTOR, "hold", reason);
            }
            return;
        };
        let verdicts = input.verdicts.as_deref().unwrap_or(&[]);
        if self.halts(verdicts, &stage) {
            return;
        }
        let tick = self.now + self.plan.tick_interval.to_chrono();
        if phase.is_held() || phase == Phase::AwaitingApproval {
            self.stay(format!("{phase}: waiting for a human"));
            return;
        }
        let started = self.state.stage_started_at.unwrap_or(self.now);
        let min_end = started + stage.min_duration.to_chrono();
        if self.now < min_end {
            self.wake_at = Some(tick.min(min_end));
            self.stay(format!(
                "{}: {} of its minimum {} elapsed",
                describe(self.plan, self.state.stage_index),
                crate::domain::HumanDuration::from_secs((self.now - started).num_seconds()),
                stage.min_duration
            ));
            return;
        }
        let (blockers, blocking) = promotion_blockers(&stage, input);
        if blockers.is_empty() {
            self.evidence = verdicts.to_vec();
            return self.gates_green(&stage);
        }
        self.evidence = blocking;
        let deadline = self
            .state
            .stage_deadline
            .unwrap_or(started + stage.max_duration.to_chrono());
        let here = describe(self.plan, self.state.stage_index);
        let why = blockers.join("; ");
        if self.now < deadline {
            self.wake_at = Some(tick.min(deadline));
            if phase == Phase::Extended {
                self.stay(format!("{here} still extended until {deadline}: {why}"));
            } else {
                let reason = format!("{here} extended until {deadline}: {why}");
                self.change(
                    SYSTEM_ACTOR,
                    "extend",
                    reason.clone(),
                    false,
                    TransitionKind::Extended,
                    |s, _, _| {
                        s.phase = Phase::Extended;
                        s.extended = true;
                    },
                );
                self.notify(Severity::Warning, reason);
            }
        } else if self.plan.fail_closed {
            self.roll_back(
                SYSTEM_ACTOR,
                format!("{here} still inconclusive at its maximum (fail-closed): {why}"),
            );
        } else {
            self.hold(
                SYSTEM_ACTOR,
                "hold",
                format!("{here} still inconclusive at its maximum: {why}"),
            );
        }
    }

    /// Handles fired halts; true when the rollout was rolled back or is (now) held.
    fn halts(&mut self, verdicts: &[MetricVerdict], stage: &StageSpec) -> bool {
        let fired = |role: Role| -> Vec<MetricVerdict> {
            verdicts
                .iter()
                .filter(|v| matches!(&v.verdict, Verdict::Halt { role: r, .. } if *r == role))
                .cloned()
                .collect()
        };
        let summary = |list: &[MetricVerdict]| -> String {
            list.iter()
                .map(|v| format!("{} {}", v.metric, v.verdict.reason()))
                .collect::<Vec<_>>()
                .join("; ")
        };
        let rollbacks = fired(Role::Rollback);
        if !rollbacks.is_empty() {
            let reason = format!("halting test fired: {}", summary(&rollbacks));
            self.evidence = rollbacks;
            self.roll_back(SYSTEM_ACTOR, reason);
            return true;
        }
        let notifies: Vec<MetricVerdict> = fired(Role::Notify)
            .into_iter()
            .filter(|v| !self.state.notified_metrics.contains(&v.metric))
            .collect();
        if !notifies.is_empty() {
            let reason = format!(
                "dry-run halt at stage {} (notify only): {}",
                stage.name,
                summary(&notifies)
            );
            let metrics: Vec<String> = notifies.iter().map(|v| v.metric.clone()).collect();
            self.change(
                SYSTEM_ACTOR,
                "notify",
                reason.clone(),
                false,
                TransitionKind::Notified,
                move |s, _, _| s.notified_metrics.extend(metrics),
            );
            self.notify(Severity::Warning, reason);
            self.evidence.extend(notifies);
        }
        let freezes = fired(Role::Freeze);
        if freezes.is_empty() {
            return false;
        }
        let reason = format!("halting test fired: {}", summary(&freezes));
        self.evidence.extend(freezes);
        if self.state.phase.is_held() {
            self.stay(format!("still held; {reason}"));
        } else {
            self.hold(SYSTEM_ACTOR, "freeze", reason);
        }
        true
    }

    fn gates_green(&mut self, stage: &StageSpec) {
        let here = describe(self.plan, self.state.stage_index);
        if stage.monitoring {
            self.promote(
                SYSTEM_ACTOR,
                "complete",
                &format!("monitoring clean for {}", stage.min_duration),
                false,
                TransitionKind::Completed,
            );
        } else if stage.approval_required {
            let reason = format!("{here} gates green: promotion needs a human approval");
            self.change(
                SYSTEM_ACTOR,
                "await_approval",
                reason.clone(),
                false,
                TransitionKind::AwaitingApproval,
                |s, _, _| s.phase = Phase::AwaitingApproval,
            );
            self.notify(Severity::Warning, reason);
        } else {
            self.promote(
                SYSTEM_ACTOR,
                "promote",
                &format!("{here} gates green"),
                false,
                TransitionKind::Promoted,
            );
        }
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

/// Why the stage cannot promote (empty when it can), and the verdicts that block it.
pub fn promotion_blockers(stage: &StageSpec, input: &Input) -> (Vec<String>, Vec<MetricVerdict>) {
    let mut blockers = Vec::new();
    let mut blocking = Vec::new();
    let Some(verdicts) = &input.verdicts else {
        return (vec!["no gate data this tick".to_string()], blocking);
    };
    if !input.data_checks_ok {
        blockers.push(if input.data_check_failures.is_empty() {
            "data checks failed".to_string()
        } else {
            format!(
                "data checks failed: {}",
                input.data_check_failures.join(", ")
            )
        });
    }
    if stage.monitoring {
        return (blockers, blocking);
    }
    let authority: Vec<&MetricVerdict> =
        verdicts.iter().filter(|v| v.promotion_authority).collect();
    if authority.is_empty() {
        blockers.push("no metric has promotion authority".to_string());
    }
    for verdict in authority {
        let per_arm = verdict.evidence.n_canary.min(verdict.evidence.n_baseline);
        if !verdict.verdict.is_promote_ready() {
            blockers.push(format!("{} {}", verdict.metric, verdict.verdict.reason()));
            blocking.push(verdict.clone());
        } else if per_arm < stage.min_samples {
            blockers.push(format!(
                "{} has {per_arm} samples per arm, the stage needs {}",
                verdict.metric, stage.min_samples
            ));
            blocking.push(verdict.clone());
        }
    }
    (blockers, blocking)
}
