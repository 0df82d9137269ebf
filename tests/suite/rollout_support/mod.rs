//! Builders for the rollout state-machine tests: verdicts, inputs, a started rollout and a
//! controller loop that ticks `step` every 15 minutes in simulated time.
#![allow(dead_code)]

use chrono::{Duration, TimeZone, Utc};
use evalgate::domain::rollout::{
    Command, Effect, Input, Phase, Plan, RolloutState, Transition, TransitionKind,
};
use evalgate::domain::{Evidence, InconclusiveReason, MetricVerdict, Role, Timestamp, Verdict};
use evalgate::logic::rollout::step;

/// A fixed start time.
pub fn t0() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap()
}

/// `t0` plus `minutes`.
pub fn at_min(minutes: i64) -> Timestamp {
    t0() + Duration::minutes(minutes)
}

/// `t0` plus `hours`.
pub fn at_h(hours: i64) -> Timestamp {
    t0() + Duration::hours(hours)
}

/// One metric's verdict with `n` samples per arm.
pub fn mv(metric: &str, authority: bool, verdict: Verdict, n: u64) -> MetricVerdict {
    MetricVerdict {
        metric: metric.to_string(),
        promotion_authority: authority,
        verdict,
        evidence: Evidence {
            n_canary: n,
            n_baseline: n,
            ..Evidence::default()
        },
    }
}

pub fn ready() -> Verdict {
    Verdict::PromoteReady {
        reason: "non-inferior at m = 0.8".to_string(),
    }
}

pub fn inconclusive() -> Verdict {
    Verdict::Inconclusive {
        reason: InconclusiveReason::NotYetProven,
    }
}

pub fn halt(role: Role) -> Verdict {
    Verdict::Halt {
        role,
        reason: "e-value crossed 1/alpha".to_string(),
    }
}

/// A tick where the pass rate (with authority) is PromoteReady and latency (guardrail) is not.
pub fn green() -> Input {
    Input::verdicts(vec![
        mv("pass_rate", true, ready(), 500),
        mv("latency_p95", false, inconclusive(), 500),
    ])
}

/// A tick where the pass rate is inconclusive.
pub fn grey() -> Input {
    Input::verdicts(vec![mv("pass_rate", true, inconclusive(), 500)])
}

/// A tick where `metric` halts with `role` and the pass rate is ready.
pub fn halting(role: Role) -> Input {
    Input::verdicts(vec![
        mv("pass_rate", true, ready(), 500),
        mv("error_rate", false, halt(role), 500),
    ])
}

/// A command-only input.
pub fn cmd(command: Command) -> Input {
    Input::commands(vec![command])
}

pub fn human() -> String {
    "alice".to_string()
}

/// A pending rollout.
pub fn pending() -> RolloutState {
    RolloutState::new("r-1", "support-bot", "team-support", t0())
}

/// A rollout started at `t0` on `plan`.
pub fn started(plan: &Plan) -> RolloutState {
    let transition = step(
        &pending(),
        plan,
        &cmd(Command::Start { actor: human() }),
        t0(),
    );
    assert_eq!(transition.kind, TransitionKind::Started);
    transition.next
}

/// Ticks every 15 minutes from `from` (exclusive) to `until` (inclusive) with the same input,
/// returning the final state and every transition that was not a `Stay`.
pub fn tick_until(
    plan: &Plan,
    mut state: RolloutState,
    input: &Input,
    from: Timestamp,
    until: Timestamp,
) -> (RolloutState, Vec<(Timestamp, Transition)>) {
    let mut changes = Vec::new();
    let mut now = from + Duration::minutes(15);
    while now <= until {
        let transition = step(&state, plan, input, now);
        state = transition.next.clone();
        if transition.kind != TransitionKind::Stay {
            changes.push((now, transition));
        }
        now += Duration::minutes(15);
    }
    (state, changes)
}

/// The split writes among `effects`.
pub fn splits(effects: &[Effect]) -> Vec<u32> {
    effects
        .iter()
        .filter_map(|effect| match effect {
            Effect::SetSplit { basis_points, .. } => Some(*basis_points),
            _ => None,
        })
        .collect()
}

/// The audit rows among `effects` as (actor, action, is_override).
pub fn audits(effects: &[Effect]) -> Vec<(String, String, bool)> {
    effects
        .iter()
        .filter_map(|effect| match effect {
            Effect::Audit {
                actor,
                action,
                is_override,
                ..
            } => Some((actor.clone(), action.clone(), *is_override)),
            _ => None,
        })
        .collect()
}

/// A state of the seed plan in `phase` at stage `index` with that stage's split.
pub fn state_in(phase: Phase, index: usize) -> RolloutState {
    let plan = Plan::seed_default();
    let mut state = started(&plan);
    state.stage_index = index;
    state.split_bp = plan.stages[index].canary_basis_points;
    if phase.is_held() {
        state.hold_reason = phase.reason().map(str::to_string);
        state.held_at = Some(t0());
    }
    if matches!(phase, Phase::RolledBack { .. } | Phase::Killed { .. }) {
        state.split_bp = 0;
    }
    state.phase = phase;
    state
}

/// Every phase, with reasons filled in.
pub fn all_phases() -> Vec<Phase> {
    vec![
        Phase::Pending,
        Phase::Running,
        Phase::AwaitingApproval,
        Phase::Extended,
        Phase::Held {
            reason: "on-call".into(),
        },
        Phase::Monitoring,
        Phase::RolledBack {
            reason: "error rate".into(),
        },
        Phase::Killed {
            reason: "kill switch".into(),
        },
        Phase::Completed,
    ]
}
