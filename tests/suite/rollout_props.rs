//! Properties of the rollout state machine over random verdict and command sequences: terminal
//! states absorb, the split never rises while held, and no automatic promotion happens without
//! PromoteReady on every metric with promotion authority.

use crate::rollout_support;

use chrono::Duration;
use evalgate::domain::rollout::{Command, Input, Phase, Plan, RolloutState, TransitionKind};
use evalgate::domain::{MetricVerdict, Role, Verdict};
use evalgate::logic::rollout::step;
use proptest::prelude::*;
use rollout_support::*;

fn verdict_strategy() -> impl Strategy<Value = Verdict> {
    prop_oneof![
        6 => Just(ready()),
        3 => Just(inconclusive()),
        1 => prop_oneof![Just(Role::Notify), Just(Role::Freeze), Just(Role::Rollback)]
            .prop_map(halt),
    ]
}

fn metric_strategy() -> impl Strategy<Value = MetricVerdict> {
    (
        prop_oneof![Just("pass_rate"), Just("latency_p95"), Just("thumbs_up")],
        any::<bool>(),
        verdict_strategy(),
        0u64..300,
    )
        .prop_map(|(name, authority, verdict, n)| mv(name, authority, verdict, n))
}

fn command_strategy() -> impl Strategy<Value = Command> {
    let actor = Just(human());
    let reason = Just("why".to_string());
    prop_oneof![
        actor.clone().prop_map(|actor| Command::Start { actor }),
        actor.clone().prop_map(|actor| Command::Approve {
            actor,
            reason: None
        }),
        (actor.clone(), reason.clone()).prop_map(|(actor, reason)| Command::Halt { actor, reason }),
        actor.clone().prop_map(|actor| Command::Resume {
            actor,
            reason: None
        }),
        (actor.clone(), reason.clone())
            .prop_map(|(actor, reason)| Command::Rollback { actor, reason }),
        (actor.clone(), reason.clone()).prop_map(|(actor, reason)| Command::Kill { actor, reason }),
        (actor, reason).prop_map(|(actor, reason)| Command::ForcePromote { actor, reason }),
    ]
}

/// A tick input: maybe no data, maybe failing checks, random verdicts.
fn tick_strategy() -> impl Strategy<Value = Input> {
    (
        prop::option::weighted(0.9, prop::collection::vec(metric_strategy(), 0..4)),
        prop::bool::weighted(0.9),
    )
        .prop_map(|(verdicts, data_checks_ok)| Input {
            verdicts,
            data_checks_ok,
            ..Input::default()
        })
}

/// A tick input, sometimes with manual commands.
fn input_strategy() -> impl Strategy<Value = Input> {
    (
        tick_strategy(),
        prop::collection::vec(command_strategy(), 0..2),
        prop::bool::weighted(0.3),
    )
        .prop_map(|(mut input, commands, with_commands)| {
            if with_commands {
                input.commands = commands;
            }
            input
        })
}

/// A small plan so that random walks reach every stage.
fn short_plan(fail_closed: bool) -> Plan {
    let mut plan = Plan::seed_default();
    for stage in &mut plan.stages {
        stage.min_duration = evalgate::domain::HumanDuration::from_hours(1);
        stage.max_duration = evalgate::domain::HumanDuration::from_hours(2);
    }
    plan.fail_closed = fail_closed;
    plan
}

/// Walks `inputs` from a started rollout, one step per 15–120 minutes, calling `check` on each
/// (before, input, transition).
fn walk(
    plan: &Plan,
    inputs: &[(Input, i64)],
    mut check: impl FnMut(&RolloutState, &Input, &evalgate::domain::rollout::Transition),
) {
    let mut state = started(plan);
    let mut now = t0();
    for (input, minutes) in inputs {
        now += Duration::minutes(*minutes);
        let transition = step(&state, plan, input, now);
        check(&state, input, &transition);
        state = transition.next;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn terminal_states_absorb_everything_but_the_kill_switch(
        inputs in prop::collection::vec((input_strategy(), 15i64..120), 1..80),
        fail_closed in any::<bool>(),
    ) {
        let plan = short_plan(fail_closed);
        walk(&plan, &inputs, |before, input, t| {
            if !before.phase.is_terminal() {
                return;
            }
            let kills = input.commands.iter().any(|c| matches!(c, Command::Kill { .. }));
            if kills {
                assert!(matches!(t.next.phase, Phase::Killed { .. }));
                assert_eq!(t.next.split_bp, 0);
            } else {
                assert_eq!(&t.next, before, "{:?}", t.kind);
                assert!(t.effects.is_empty());
                assert_eq!(t.wake_at, None);
            }
            if matches!(before.phase, Phase::Killed { .. }) {
                assert_eq!(t.next.phase.name(), "killed");
                assert_eq!(t.next.split_bp, 0);
            }
        });
    }

    #[test]
    fn the_split_never_rises_while_held(
        inputs in prop::collection::vec((input_strategy(), 15i64..120), 1..80),
        fail_closed in any::<bool>(),
    ) {
        let plan = short_plan(fail_closed);
        walk(&plan, &inputs, |before, _, t| {
            if before.phase.is_held() {
                assert!(t.next.split_bp <= before.split_bp, "{:?}: {}", t.kind, t.reason);
            }
        });
    }

    #[test]
    fn no_automatic_promotion_without_promote_ready_on_every_authority_metric(
        inputs in prop::collection::vec((tick_strategy(), 15i64..120), 1..120),
        fail_closed in any::<bool>(),
    ) {
        let plan = short_plan(fail_closed);
        walk(&plan, &inputs, |before, input, t| {
            let moved_up = t.next.split_bp > before.split_bp;
            let awaits = t.kind == TransitionKind::AwaitingApproval;
            if moved_up || awaits {
                assert!(input.data_checks_ok, "{}", t.reason);
                let verdicts = input.verdicts.as_ref().expect("promotion without data");
                let authority: Vec<_> =
                    verdicts.iter().filter(|v| v.promotion_authority).collect();
                assert!(!authority.is_empty(), "{}", t.reason);
                assert!(authority.iter().all(|v| v.verdict.is_promote_ready()), "{}", t.reason);
                assert!(!verdicts.iter().any(|v| matches!(
                    &v.verdict,
                    Verdict::Halt { role: Role::Rollback | Role::Freeze, .. }
                )));
                let min_end = before.stage_started_at.unwrap()
                    + plan.stages[before.stage_index].min_duration.to_chrono();
                assert!(t.next.updated_at >= min_end, "promoted before the minimum");
            }
        });
    }
}

#[test]
fn random_walks_do_reach_promotions_so_the_promotion_property_is_not_vacuous() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let plan = short_plan(false);
    let mut runner = TestRunner::deterministic();
    let strategy = prop::collection::vec((tick_strategy(), 15i64..120), 60..120);
    let mut promotions = 0;
    for _ in 0..64 {
        let inputs = strategy.new_tree(&mut runner).unwrap().current();
        walk(&plan, &inputs, |before, _, t| {
            if t.next.split_bp > before.split_bp {
                promotions += 1;
            }
        });
    }
    assert!(promotions > 10, "only {promotions} promotions in 64 walks");
}
