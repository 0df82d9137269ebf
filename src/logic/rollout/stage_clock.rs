//! Where the current stage stands in time (elapsed against its minimum, the extension deadline),
//! for `rollout status` and the HTTP API. Time spent held does not count, as in `step`.

use serde::Serialize;

use crate::domain::rollout::{Plan, RolloutState};
use crate::domain::{HumanDuration, Timestamp};

/// The current stage's timing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StageClock {
    /// The stage index in the plan.
    pub stage_index: usize,
    /// The stage's name.
    pub stage_name: String,
    /// Time in the stage so far, excluding the current hold.
    pub elapsed: HumanDuration,
    /// The stage's minimum duration.
    pub min_duration: HumanDuration,
    /// When the minimum is (or was) reached, if the rollout is not held.
    pub min_reached_at: Option<Timestamp>,
    /// When extension ends and the stage holds (or rolls back when fail-closed).
    pub deadline: Option<Timestamp>,
}

/// The stage clock of a started rollout (None before start or past the plan).
pub fn stage_clock(state: &RolloutState, plan: &Plan, now: Timestamp) -> Option<StageClock> {
    let stage = plan.stage(state.stage_index)?;
    let started = state.stage_started_at?;
    let until = state.held_at.unwrap_or(now).max(started);
    let held = state.phase.is_held();
    Some(StageClock {
        stage_index: state.stage_index,
        stage_name: stage.name.clone(),
        elapsed: HumanDuration::from_secs((until - started).num_seconds()),
        min_duration: stage.min_duration,
        min_reached_at: (!held).then(|| started + stage.min_duration.to_chrono()),
        deadline: state
            .stage_deadline
            .or_else(|| Some(started + stage.max_duration.to_chrono())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::rollout::{Command, Input};
    use crate::logic::rollout::step;
    use chrono::{Duration, TimeZone, Utc};

    #[test]
    fn the_clock_counts_time_in_stage_and_freezes_while_held() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let plan = Plan::seed_default();
        let pending = RolloutState::new("r", "f", "team", t0);
        assert_eq!(stage_clock(&pending, &plan, t0), None);
        let actor = "bob".to_string();
        let start = Input::commands(vec![Command::Start {
            actor: actor.clone(),
        }]);
        let running = step(&pending, &plan, &start, t0).next;
        let clock = stage_clock(&running, &plan, t0 + Duration::hours(1)).unwrap();
        assert_eq!(clock.elapsed, HumanDuration::from_hours(1));
        assert_eq!(clock.min_reached_at, Some(t0 + Duration::hours(4)));
        assert_eq!(clock.deadline, Some(t0 + Duration::hours(8)));
        let halt = Input::commands(vec![Command::Halt {
            actor,
            reason: "look".into(),
        }]);
        let held = step(&running, &plan, &halt, t0 + Duration::hours(2)).next;
        let clock = stage_clock(&held, &plan, t0 + Duration::hours(5)).unwrap();
        assert_eq!(clock.elapsed, HumanDuration::from_hours(2));
        assert_eq!(clock.min_reached_at, None);
    }
}
