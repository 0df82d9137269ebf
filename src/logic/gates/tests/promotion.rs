//! Promotion looks at the recent past (docs/STATISTICS.md §3): a regression that began inside the
//! stage holds promotion even when the whole stage's evidence clears the margin, the current
//! value of an e-process decides (not a stale maximum), and the verdict prints what decided.

use super::*;

fn plan(ticks: u32) -> StagePlan {
    StagePlan {
        ticks_min: ticks,
        eval_per_tick: 50.0,
        ..StagePlan::default()
    }
}

fn ticks(healthy: u64, bad: u64) -> Vec<TickInput> {
    let mut inputs = Vec::new();
    for t in 0..healthy {
        inputs.push(eval_tick((46, 4, 0), (45, 5, 0), 50, t));
    }
    // A 20% relative drop: 36 of 50 against 45 of 50, right at the margin.
    for t in 0..bad {
        inputs.push(eval_tick((36, 14, 0), (45, 5, 0), 50, 100 + t));
    }
    inputs
}

#[test]
fn a_healthy_stage_promotes_at_the_planned_look_and_says_why() {
    let config = GateSettings::default();
    let (_, v) = run(&config, &plan(16), "pass_rate", &ticks(16, 0));
    let Verdict::PromoteReady { reason } = &v.verdict else {
        panic!("{v:?}");
    };
    assert!(reason.contains("planned-look z = "), "{reason}");
    assert!(reason.contains("last 8 ticks z = "), "{reason}");
    assert!(reason.contains("canary 368/400"), "{reason}");
}

#[test]
fn a_regression_from_mid_stage_holds_promotion_though_the_stage_clears_the_margin() {
    let config = GateSettings::default();
    // Ten units a tick: eight healthy ticks, then eight at 7/10 against 9/10 (a 22% drop), too
    // few for the halting test to fire yet.
    let mut inputs = Vec::new();
    for t in 0..8 {
        inputs.push(eval_tick((10, 0, 0), (9, 1, 0), 10, t));
    }
    for t in 0..8 {
        inputs.push(eval_tick((7, 3, 0), (9, 1, 0), 10, 100 + t));
    }
    let (state, v) = run(&config, &plan(16), "pass_rate", &inputs);
    assert!(state.halted.is_none(), "{v:?}");
    // The whole stage (6% worse on average) clears the 20% margin at the planned look …
    let settings = config.settings("pass_rate").unwrap();
    let z = super::super::paired::planned_look(&settings, &state.counts);
    assert!(z.unwrap() > crate::logic::stats::z_upper(0.05), "{z:?}");
    // … but the last 8 ticks do not, so the gate does not promote.
    assert!(
        matches!(
            reason(&v),
            InconclusiveReason::RecentNotProven { ticks: 8, .. }
        ),
        "{v:?}"
    );
    assert!(
        v.verdict.reason().contains("last 8 ticks"),
        "{}",
        v.verdict.reason()
    );
}

#[test]
fn nothing_promotes_before_the_planned_look() {
    let config = GateSettings::default();
    let (_, v) = run(&config, &plan(16), "pass_rate", &ticks(15, 0));
    assert!(!v.verdict.is_promote_ready(), "{v:?}");
}

#[test]
fn after_an_extension_the_current_e_value_decides_not_an_early_maximum() {
    let config = GateSettings::default();
    let settings = config.settings("pass_rate").unwrap();
    // Very healthy early ticks push the mirrored e-process high; then the canary turns.
    let mut inputs = Vec::new();
    for t in 0..10 {
        inputs.push(eval_tick((50, 0, 0), (45, 5, 0), 50, t));
    }
    for t in 0..14 {
        inputs.push(eval_tick((30, 20, 0), (45, 5, 0), 50, 100 + t));
    }
    let mut state = GateState::start(&config, &settings, "pass_rate", &plan(4));
    let mut last = None;
    for input in &inputs {
        let (next, verdict, _) = update(&config, &settings, &state, input, now());
        state = next;
        last = Some(verdict);
        if state.halted.is_some() {
            break;
        }
    }
    let v = last.unwrap();
    let TestState::Paired { promote, .. } = &state.test else {
        panic!()
    };
    assert!(promote.max_ln_m >= crate::logic::stats::ln_threshold(0.05));
    assert!(!v.verdict.is_promote_ready(), "{v:?}");
}

#[test]
fn a_halt_is_new_evidence_once_and_not_again_on_every_later_tick() {
    let config = GateSettings::default();
    let mut states = BTreeMap::new();
    let mut fired_at = Vec::new();
    for t in 0..12u64 {
        // A broken canary for 6 ticks, then windows with no requests at all.
        let input = if t < 6 {
            eval_tick((20, 30, 0), (45, 5, 0), 50, t)
        } else {
            eval_tick((0, 0, 0), (0, 0, 0), 50, t)
        };
        let eval = evaluate_tick(&config, &plan(16), &states, &input, now());
        let halted = eval
            .verdicts
            .iter()
            .find(|v| v.metric == "pass_rate")
            .is_some_and(|v| v.verdict.is_halt());
        if eval.new_halts.iter().any(|m| m == "pass_rate") {
            fired_at.push(t);
        }
        if !fired_at.is_empty() {
            assert!(halted, "the halt is sticky (tick {t})");
        }
        states = eval.states;
    }
    assert_eq!(fired_at.len(), 1, "{fired_at:?}");
}
