//! The automatic half of a rollout step: halting verdicts, the minimum duration, the promotion
//! gates, extension, hold or fail-closed rollback, approval and completion.

use super::{Machine, SYSTEM_ACTOR, describe};
use crate::domain::rollout::{Input, Phase, Severity, StageSpec, TransitionKind};
use crate::domain::{HumanDuration, MetricVerdict, Role, Verdict};

impl Machine<'_> {
    /// Applies the tick's verdicts to a live or held rollout.
    pub(super) fn evaluate(&mut self, input: &Input) {
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
        if self.halts(verdicts, &stage) || self.manual {
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
                HumanDuration::from_secs((self.now - started).num_seconds()),
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
