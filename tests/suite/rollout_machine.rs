//! Table tests of the rollout state machine, one per rule (argo-style): promotion at each stage,
//! the 50% approval, extend-then-hold and fail-closed, halts by role, manual controls, and a
//! restart in the middle of a stage.

use crate::rollout_support;

use chrono::Duration;
use evalgate::domain::Role;
use evalgate::domain::rollout::{
    Command, Effect, Input, Phase, Plan, RolloutState, Severity, TransitionKind,
};
use evalgate::logic::rollout::{SYSTEM_ACTOR, step};
use rollout_support::*;

#[test]
fn start_moves_a_pending_rollout_to_the_first_stage_and_writes_its_split() {
    let plan = Plan::seed_default();
    let t = step(
        &pending(),
        &plan,
        &cmd(Command::Start { actor: human() }),
        t0(),
    );
    assert_eq!(t.kind, TransitionKind::Started);
    assert_eq!(t.next.phase, Phase::Running);
    assert_eq!(t.next.split_bp, 100);
    assert_eq!(splits(&t.effects), vec![100]);
    assert_eq!(audits(&t.effects), vec![(human(), "start".into(), false)]);
    assert_eq!(t.next.stage_started_at, Some(t0()));
    assert_eq!(t.wake_at, Some(at_min(15)));
}

#[test]
fn a_green_stage_does_not_promote_before_its_minimum_duration() {
    let plan = Plan::seed_default();
    let state = started(&plan);
    let (state, changes) = tick_until(&plan, state, &green(), t0(), at_min(4 * 60 - 15));
    assert!(changes.is_empty(), "{changes:?}");
    assert_eq!(state.split_bp, 100);
    // Before the minimum, the next decision is the next tick or the minimum's end if sooner.
    let t = step(&state, &plan, &green(), at_min(4 * 60 - 10));
    assert_eq!(t.kind, TransitionKind::Stay);
    assert_eq!(t.wake_at, Some(at_h(4)));
}

#[test]
fn green_gates_promote_each_automatic_stage_at_its_minimum_duration() {
    // (stage the rollout is in, hours since start when it promotes, split after)
    let table = [(0usize, 4i64, 1_000u32), (1, 4 + 24, 5_000)];
    let plan = Plan::seed_default();
    let mut state = started(&plan);
    let mut from = t0();
    for (stage, promote_at, split_after) in table {
        assert_eq!(state.stage_index, stage);
        let (next, changes) = tick_until(&plan, state, &green(), from, at_h(promote_at));
        assert_eq!(changes.len(), 1, "stage {stage}: {changes:?}");
        let (when, t) = &changes[0];
        assert_eq!(*when, at_h(promote_at), "stage {stage}");
        assert_eq!(t.kind, TransitionKind::Promoted);
        assert_eq!(splits(&t.effects), vec![split_after]);
        assert_eq!(
            audits(&t.effects),
            vec![(SYSTEM_ACTOR.into(), "promote".into(), false)]
        );
        assert!(!t.evidence.is_empty(), "a promotion carries its evidence");
        assert!(t.reason.contains("gates green"), "{}", t.reason);
        state = next;
        from = at_h(promote_at);
    }
    assert_eq!(state.stage_index, 2);
    assert_eq!(state.phase, Phase::Running);
}

#[test]
fn the_fifty_percent_stage_waits_for_an_approval_then_monitors_at_one_hundred() {
    let plan = Plan::seed_default();
    let mut state = state_in(Phase::Running, 2);
    state.stage_started_at = Some(t0());
    let (state, changes) = tick_until(&plan, state, &green(), t0(), at_h(60));
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].0, at_h(48));
    assert_eq!(changes[0].1.kind, TransitionKind::AwaitingApproval);
    assert!(changes[0].1.effects.iter().any(|e| matches!(
        e,
        Effect::Notify {
            severity: Severity::Warning,
            ..
        }
    )));
    assert_eq!(state.phase, Phase::AwaitingApproval);
    assert_eq!(
        state.split_bp, 5_000,
        "no split change without the approval"
    );

    let t = step(
        &state,
        &plan,
        &cmd(Command::Approve {
            actor: human(),
            reason: None,
        }),
        at_h(61),
    );
    assert_eq!(t.kind, TransitionKind::Promoted);
    assert_eq!(t.next.phase, Phase::Monitoring);
    assert_eq!(t.next.split_bp, 10_000);
    assert_eq!(audits(&t.effects), vec![(human(), "approve".into(), false)]);
}

#[test]
fn approve_is_rejected_when_nothing_awaits_approval() {
    let plan = Plan::seed_default();
    let state = state_in(Phase::Running, 1);
    let t = step(
        &state,
        &plan,
        &cmd(Command::Approve {
            actor: human(),
            reason: None,
        }),
        at_h(1),
    );
    assert_eq!(t.kind, TransitionKind::Rejected);
    assert_eq!(t.next, state);
    assert!(t.effects.is_empty());
}

/// The audit reasons of `effects`, in order.
fn audit_reasons(effects: &[Effect]) -> Vec<String> {
    effects
        .iter()
        .filter_map(|effect| match effect {
            Effect::Audit { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

// See: issue 13 (`approve --reason` and `resume --reason` were dropped from the audit row).
#[test]
fn approve_and_resume_keep_the_persons_reason_in_the_audit_row() {
    let plan = Plan::seed_default();
    let awaiting = state_in(Phase::AwaitingApproval, 2);
    let approve = Command::Approve {
        actor: human(),
        reason: Some("transcripts reviewed".into()),
    };
    let approved = step(&awaiting, &plan, &cmd(approve), at_h(61));
    assert_eq!(approved.kind, TransitionKind::Promoted);
    let reasons = audit_reasons(&approved.effects);
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(
        reasons[0].starts_with("approved (transcripts reviewed): promoted from"),
        "{reasons:?}"
    );

    let halt = Command::Halt {
        actor: human(),
        reason: "looking".into(),
    };
    let held = step(&started(&plan), &plan, &cmd(halt), at_h(1));
    let resume = Command::Resume {
        actor: human(),
        reason: Some("false alarm".into()),
    };
    let resumed = step(&held.next, &plan, &cmd(resume), at_h(2));
    assert_eq!(resumed.kind, TransitionKind::Resumed);
    assert!(
        audit_reasons(&resumed.effects)[0].ends_with("at 100 bp (false alarm)"),
        "{:?}",
        resumed.effects
    );
}

#[test]
fn monitoring_completes_after_seventy_two_clean_hours() {
    let plan = Plan::seed_default();
    let mut state = state_in(Phase::Monitoring, 3);
    state.stage_started_at = Some(t0());
    let (state, changes) = tick_until(&plan, state, &green(), t0(), at_h(80));
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].0, at_h(72));
    assert_eq!(changes[0].1.kind, TransitionKind::Completed);
    assert_eq!(state.phase, Phase::Completed);
    assert_eq!(state.split_bp, 10_000);
    assert_eq!(changes[0].1.wake_at, None);
}

#[test]
fn inconclusive_extends_the_stage_then_holds_at_its_maximum_and_pages() {
    let plan = Plan::seed_default();
    let state = started(&plan);
    let (state, changes) = tick_until(&plan, state, &grey(), t0(), at_h(10));
    let kinds: Vec<_> = changes.iter().map(|(when, t)| (*when, t.kind)).collect();
    assert_eq!(
        kinds,
        vec![
            (at_h(4), TransitionKind::Extended),
            (at_h(8), TransitionKind::Held)
        ]
    );
    let extend = &changes[0].1;
    assert!(extend.reason.contains("pass_rate"), "{}", extend.reason);
    assert_eq!(extend.evidence.len(), 1);
    let hold = &changes[1].1;
    assert!(hold.effects.iter().any(|e| matches!(
        e,
        Effect::Notify {
            severity: Severity::Critical,
            ..
        }
    )));
    assert!(state.phase.is_held());
    assert_eq!(state.split_bp, 100, "a hold keeps the split");
}

#[test]
fn a_fail_closed_plan_rolls_back_when_still_inconclusive_at_the_maximum() {
    let plan = Plan {
        fail_closed: true,
        ..Plan::seed_default()
    };
    let state = started(&plan);
    let (state, changes) = tick_until(&plan, state, &grey(), t0(), at_h(10));
    let last = &changes.last().unwrap().1;
    assert_eq!(last.kind, TransitionKind::RolledBack);
    assert_eq!(splits(&last.effects), vec![0]);
    assert!(last.reason.contains("fail-closed"), "{}", last.reason);
    assert!(matches!(state.phase, Phase::RolledBack { .. }));
}

#[test]
fn inconclusive_missing_data_and_failed_checks_never_promote() {
    let plan = Plan::seed_default();
    let no_authority = Input::verdicts(vec![mv("latency_p95", false, ready(), 500)]);
    let few_samples = {
        let mut plan_input = green();
        if let Some(v) = plan_input.verdicts.as_mut() {
            v[0].evidence.n_canary = 3;
        }
        plan_input
    };
    let failed_checks = Input {
        data_checks_ok: false,
        data_check_failures: vec!["sample-ratio mismatch".into()],
        ..green()
    };
    let table: Vec<(&str, Input, Plan)> = vec![
        ("inconclusive", grey(), plan.clone()),
        ("missing data", Input::default(), plan.clone()),
        ("failed data checks", failed_checks, plan.clone()),
        ("no metric with authority", no_authority, plan.clone()),
        ("too few samples", few_samples, {
            let mut p = plan.clone();
            p.stages[0].min_samples = 100;
            p
        }),
    ];
    for (name, input, plan) in table {
        let (state, changes) = tick_until(&plan, started(&plan), &input, t0(), at_h(12));
        assert_eq!(state.split_bp, 100, "{name}");
        assert!(state.phase.is_held(), "{name}: {:?}", state.phase);
        assert!(
            changes
                .iter()
                .all(|(_, t)| t.kind != TransitionKind::Promoted),
            "{name}"
        );
    }
}

#[test]
fn a_rollback_halt_sets_the_split_to_zero_from_every_stage() {
    let plan = Plan::seed_default();
    let phases = [
        (Phase::Running, 0),
        (Phase::Extended, 1),
        (Phase::AwaitingApproval, 2),
        (Phase::Monitoring, 3),
        (Phase::Held { reason: "x".into() }, 1),
    ];
    for (phase, index) in phases {
        let state = state_in(phase.clone(), index);
        let t = step(&state, &plan, &halting(Role::Rollback), at_min(30));
        assert_eq!(t.kind, TransitionKind::RolledBack, "{phase:?}");
        assert_eq!(t.next.split_bp, 0);
        assert_eq!(splits(&t.effects), vec![0]);
        assert_eq!(t.evidence.len(), 1);
        assert_eq!(t.evidence[0].metric, "error_rate");
        assert_eq!(t.wake_at, None);
    }
}

#[test]
fn a_manual_rollback_works_from_every_live_stage_and_not_after_the_end() {
    let plan = Plan::seed_default();
    for index in 0..4 {
        let state = state_in(Phase::Running, index);
        let rollback = Command::Rollback {
            actor: human(),
            reason: "bad answers".into(),
        };
        let t = step(&state, &plan, &cmd(rollback.clone()), at_h(1));
        assert_eq!(t.kind, TransitionKind::RolledBack);
        assert_eq!(splits(&t.effects), vec![0]);
        assert_eq!(
            audits(&t.effects),
            vec![(human(), "rollback".into(), false)]
        );
        let again = step(&t.next, &plan, &cmd(rollback), at_h(2));
        assert_eq!(again.kind, TransitionKind::Rejected);
        assert_eq!(again.next, t.next);
    }
}

#[test]
fn kill_sets_zero_percent_and_ends_the_rollout_from_any_state() {
    let plan = Plan::seed_default();
    for phase in all_phases() {
        let state = state_in(phase.clone(), 2);
        let kill = Command::Kill {
            actor: human(),
            reason: "incident".into(),
        };
        let t = step(&state, &plan, &cmd(kill), at_h(1));
        assert_eq!(t.kind, TransitionKind::Killed, "{phase:?}");
        assert!(matches!(t.next.phase, Phase::Killed { .. }), "{phase:?}");
        assert_eq!(t.next.split_bp, 0);
        assert_eq!(
            splits(&t.effects),
            vec![0],
            "the kill switch always writes 0%"
        );
        assert_eq!(t.wake_at, None);
    }
}

#[test]
fn a_freeze_halt_holds_the_current_split_until_a_human_resumes() {
    let plan = Plan::seed_default();
    let state = started(&plan);
    let t = step(&state, &plan, &halting(Role::Freeze), at_h(1));
    assert_eq!(t.kind, TransitionKind::Held);
    assert_eq!(t.next.split_bp, 100);
    assert!(splits(&t.effects).is_empty());
    // Green ticks while held never promote, even long past the minimum.
    let (held, changes) = tick_until(&plan, t.next, &green(), at_h(1), at_h(12));
    assert!(changes.is_empty(), "{changes:?}");
    assert!(held.phase.is_held());
    let resumed = step(
        &held,
        &plan,
        &cmd(Command::Resume {
            actor: human(),
            reason: None,
        }),
        at_h(12),
    );
    assert_eq!(resumed.kind, TransitionKind::Resumed);
    assert_eq!(resumed.next.phase, Phase::Running);
    assert_eq!(resumed.next.split_bp, 100);
    assert_eq!(resumed.next.hold_reason, None);
}

#[test]
fn halt_and_resume_by_hand_do_not_count_held_time_towards_the_minimum() {
    let plan = Plan::seed_default();
    let state = started(&plan);
    let halt = Command::Halt {
        actor: human(),
        reason: "looking at transcripts".into(),
    };
    let held = step(&state, &plan, &cmd(halt), at_h(1));
    assert_eq!(held.kind, TransitionKind::Held);
    assert_eq!(audits(&held.effects), vec![(human(), "halt".into(), false)]);
    let resumed = step(
        &held.next,
        &plan,
        &cmd(Command::Resume {
            actor: human(),
            reason: None,
        }),
        at_h(3),
    );
    // 1 h ran before the hold; 3 h more are needed, so promotion comes at 6 h, not 4 h.
    let (_, changes) = tick_until(&plan, resumed.next, &green(), at_h(3), at_h(7));
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].0, at_h(6));
    assert_eq!(changes[0].1.kind, TransitionKind::Promoted);
}

#[test]
fn a_resume_after_an_inconclusive_hold_grants_another_extension_window() {
    let plan = Plan::seed_default();
    let (held, _) = tick_until(&plan, started(&plan), &grey(), t0(), at_h(8));
    assert!(held.phase.is_held());
    let resumed = step(
        &held,
        &plan,
        &cmd(Command::Resume {
            actor: human(),
            reason: None,
        }),
        at_h(9),
    );
    let t = step(&resumed.next, &plan, &grey(), at_min(9 * 60 + 15));
    assert_eq!(t.kind, TransitionKind::Extended, "{}", t.reason);
    let (after, _) = tick_until(&plan, t.next, &green(), at_min(9 * 60 + 15), at_h(10));
    assert_eq!(after.stage_index, 1, "green data after the resume promotes");
}

#[test]
fn a_notify_halt_only_notifies_once_and_never_changes_the_split() {
    let plan = Plan::seed_default();
    let state = started(&plan);
    let t = step(&state, &plan, &halting(Role::Notify), at_h(1));
    assert_eq!(t.kind, TransitionKind::Notified);
    assert_eq!(t.next.phase, Phase::Running);
    assert!(splits(&t.effects).is_empty());
    assert!(t.effects.iter().any(|e| matches!(e, Effect::Notify { .. })));
    let again = step(&t.next, &plan, &halting(Role::Notify), at_min(75));
    assert_eq!(again.kind, TransitionKind::Stay, "notified once per stage");
    // The dry-run halt is on a guardrail without promotion authority: promotion still happens.
    let (after, _) = tick_until(
        &plan,
        again.next,
        &halting(Role::Notify),
        at_min(75),
        at_h(4),
    );
    assert_eq!(after.stage_index, 1);
}

#[test]
fn force_promote_is_recorded_as_an_override_and_refused_while_held() {
    let plan = Plan::seed_default();
    let state = started(&plan);
    let force = Command::ForcePromote {
        actor: human(),
        reason: "hotfix".into(),
    };
    let t = step(&state, &plan, &cmd(force.clone()), at_h(1));
    assert_eq!(t.kind, TransitionKind::ForcePromoted);
    assert_eq!(t.next.split_bp, 1_000);
    assert_eq!(
        audits(&t.effects),
        vec![(human(), "force_promote".into(), true)]
    );
    let held = state_in(Phase::Held { reason: "x".into() }, 1);
    let refused = step(&held, &plan, &cmd(force), at_h(1));
    assert_eq!(refused.kind, TransitionKind::Rejected);
    assert_eq!(refused.next, held);
}

#[test]
fn a_restart_in_the_middle_of_a_stage_continues_where_it_was() {
    let plan = Plan::seed_default();
    let (mid, _) = tick_until(&plan, started(&plan), &green(), t0(), at_h(2));
    let stored = serde_json::to_string(&mid).unwrap();
    let restored: RolloutState = serde_json::from_str(&stored).unwrap();
    assert_eq!(restored, mid);
    let inputs = [green(), grey(), Input::default(), green()];
    let mut a = mid;
    let mut b = restored;
    let mut now = at_h(2);
    for round in 0..40 {
        now += Duration::minutes(15);
        let input = &inputs[round % inputs.len()];
        let ta = step(&a, &plan, input, now);
        let tb = step(&b, &plan, input, now);
        assert_eq!(ta, tb, "round {round}");
        a = ta.next;
        // Round-trip through JSON on every tick on one side, as the controller does.
        b = serde_json::from_str(&serde_json::to_string(&tb.next).unwrap()).unwrap();
    }
    assert_eq!(a.stage_index, 1, "promotion happened after the restart");
}

#[test]
fn every_change_carries_a_reason_and_an_audit_row() {
    let plan = Plan::seed_default();
    let mut state = started(&plan);
    let mut now = t0();
    // Mostly green ticks with grey and missing-data ticks mixed in; approve when asked.
    for i in 0..800 {
        now += Duration::minutes(15);
        let input = match (i % 7, &state.phase) {
            (_, Phase::AwaitingApproval) => cmd(Command::Approve {
                actor: human(),
                reason: None,
            }),
            (3, _) => grey(),
            (4, _) => Input::default(),
            _ => green(),
        };
        let input = &input;
        let t = step(&state, &plan, input, now);
        assert!(!t.reason.is_empty());
        let changed = t.next.phase != state.phase || t.next.split_bp != state.split_bp;
        if changed {
            assert!(!audits(&t.effects).is_empty(), "{:?}", t.kind);
        }
        if t.kind == TransitionKind::Stay {
            assert!(t.effects.is_empty());
        }
        state = t.next;
    }
    assert_eq!(state.phase, Phase::Completed);
}

#[test]
fn the_example_plan_file_runs_from_half_a_percent_to_completion() {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/plan.example.toml"),
    )
    .unwrap();
    let plan = Plan::from_toml_str("plan.example.toml", &text).unwrap();
    let mut state = started(&plan);
    assert_eq!(state.split_bp, 50, "half a percent is 50 basis points");
    let mut now = t0();
    let mut seen = vec![state.split_bp];
    for _ in 0..2_000 {
        now += Duration::minutes(15);
        // The plan's 50% stage needs 1,000 samples per arm: 500 would hold it.
        let input = if state.phase == Phase::AwaitingApproval {
            cmd(Command::Approve {
                actor: human(),
                reason: None,
            })
        } else {
            Input::verdicts(vec![mv("pass_rate", true, ready(), 2_000)])
        };
        state = step(&state, &plan, &input, now).next;
        if seen.last() != Some(&state.split_bp) {
            seen.push(state.split_bp);
        }
        if state.phase.is_terminal() {
            break;
        }
    }
    assert_eq!(seen, vec![50, 1_000, 5_000, 10_000]);
    assert_eq!(state.phase, Phase::Completed);
}

#[test]
fn a_plan_without_a_monitoring_stage_completes_when_its_last_stage_promotes() {
    let mut plan = Plan::seed_default();
    plan.stages.truncate(2);
    let mut state = state_in(Phase::Running, 1);
    state.stage_started_at = Some(t0());
    let (state, changes) = tick_until(&plan, state, &green(), t0(), at_h(30));
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].1.kind, TransitionKind::Completed);
    assert_eq!(state.split_bp, 1_000, "completion does not invent a split");
}
