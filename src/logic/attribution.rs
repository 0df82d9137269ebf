//! Which arm a logged request was served by when its log line does not say: the served model is
//! matched against the targets rollouts were started with (`rollout start --baseline/--canary`).
//! Ingest (file and push) builds one [`ModelArms`] from the store's rollouts and asks it for every
//! row without an `arm`; a row it cannot place is rejected with a reason saying how to supply one.
//! Pure: the caller reads the rollouts, this file decides.

use std::fmt::Write as _;

use crate::domain::{Arm, Timestamp};

/// What one rollout serves on each arm, and since when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutTargets {
    /// The rollout id.
    pub rollout_id: String,
    /// The model/prompt version the baseline arm serves.
    pub baseline_model: String,
    /// The model/prompt version the canary arm serves.
    pub canary_model: String,
    /// When the rollout was started; earlier requests are not its traffic.
    pub started_at: Timestamp,
}

/// The arm lookup by served model, over every rollout the store knows.
#[derive(Debug, Clone, Default)]
pub struct ModelArms {
    /// Newest first, so the latest rollout that serves a model decides.
    rollouts: Vec<RolloutTargets>,
}

/// Why a model could not be placed on an arm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArmUnknown {
    /// No rollout started at or before the request serves this model on either arm.
    NoRollout {
        /// The served model.
        model: String,
    },
    /// The rollout that serves the model serves it on both arms (a prompt-only change), so only
    /// a logged arm can tell them apart.
    BothArms {
        /// The served model.
        model: String,
        /// The rollout.
        rollout_id: String,
    },
}

impl ModelArms {
    /// The lookup over `rollouts` (any order).
    pub fn new(mut rollouts: Vec<RolloutTargets>) -> ModelArms {
        rollouts.sort_by(|left, right| {
            right
                .started_at
                .cmp(&left.started_at)
                .then_with(|| left.rollout_id.cmp(&right.rollout_id))
        });
        ModelArms { rollouts }
    }

    /// True when no rollout is known.
    pub fn is_empty(&self) -> bool {
        self.rollouts.is_empty()
    }

    /// The arm a request that served `model` at `ts` was on: decided by the newest rollout
    /// started at or before `ts` that serves `model` on either arm.
    pub fn arm_of(&self, model: &str, ts: Timestamp) -> Result<Arm, ArmUnknown> {
        let model = model.trim();
        let owner_opt = self.rollouts.iter().find(|rollout| {
            rollout.started_at <= ts
                && (rollout.baseline_model == model || rollout.canary_model == model)
        });
        let Some(owner) = owner_opt else {
            return Err(ArmUnknown::NoRollout {
                model: model.to_string(),
            });
        };
        match (owner.baseline_model == model, owner.canary_model == model) {
            (true, true) => Err(ArmUnknown::BothArms {
                model: model.to_string(),
                rollout_id: owner.rollout_id.clone(),
            }),
            (true, false) => Ok(Arm::Baseline),
            _ => Ok(Arm::Canary),
        }
    }

    /// Up to `limit` `model → arm (rollout)` pairs, newest rollout first, for reject reasons.
    pub fn describe(&self, limit: usize) -> String {
        if self.rollouts.is_empty() {
            return "no rollout has been started".to_string();
        }
        let mut text = String::from("known: ");
        for (index, rollout) in self.rollouts.iter().take(limit).enumerate() {
            if index > 0 {
                text.push_str("; ");
            }
            let _ = write!(
                text,
                "{} → baseline, {} → canary ({})",
                rollout.baseline_model, rollout.canary_model, rollout.rollout_id
            );
        }
        if self.rollouts.len() > limit {
            let _ = write!(text, "; and {} more", self.rollouts.len() - limit);
        }
        text
    }
}

impl ArmUnknown {
    /// Why, and how to supply the arm; `field_hint` names where the source can carry it (e.g.
    /// "metadata key `evalgate_arm`").
    pub fn reason(&self, arms: &ModelArms, field_hint: &str) -> String {
        match self {
            ArmUnknown::NoRollout { model } => format!(
                "no `arm` logged, and model `{model}` is neither arm of a rollout started before \
                 the request ({}); log the arm as {field_hint}, or start the rollout with \
                 --baseline/--canary naming the served models",
                arms.describe(3)
            ),
            ArmUnknown::BothArms { model, rollout_id } => format!(
                "no `arm` logged, and rollout `{rollout_id}` serves model `{model}` on both arms; \
                 log the arm as {field_hint}"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    fn at(hour: u32) -> Timestamp {
        Utc.with_ymd_and_hms(2026, 12, 1, hour, 0, 0)
            .single()
            .expect("valid time")
    }

    fn rollout(id: &str, baseline: &str, canary: &str, hour: u32) -> RolloutTargets {
        RolloutTargets {
            rollout_id: id.to_string(),
            baseline_model: baseline.to_string(),
            canary_model: canary.to_string(),
            started_at: at(hour),
        }
    }

    #[test]
    fn the_served_model_names_the_arm() {
        let arms = ModelArms::new(vec![rollout("r1", "bot@v41", "bot@v42", 1)]);
        assert_eq!(arms.arm_of("bot@v41", at(2)), Ok(Arm::Baseline));
        assert_eq!(arms.arm_of("bot@v42", at(2)), Ok(Arm::Canary));
        assert!(matches!(
            arms.arm_of("bot@v40", at(2)),
            Err(ArmUnknown::NoRollout { .. })
        ));
    }

    #[test]
    fn requests_before_the_rollout_started_are_not_placed() {
        let arms = ModelArms::new(vec![rollout("r1", "bot@v41", "bot@v42", 5)]);
        assert!(arms.arm_of("bot@v42", at(4)).is_err());
    }

    #[test]
    fn the_newest_rollout_decides_a_model_that_changed_sides() {
        let arms = ModelArms::new(vec![
            rollout("r1", "bot@v41", "bot@v42", 1),
            rollout("r2", "bot@v42", "bot@v43", 6),
        ]);
        assert_eq!(arms.arm_of("bot@v42", at(3)), Ok(Arm::Canary));
        assert_eq!(arms.arm_of("bot@v42", at(7)), Ok(Arm::Baseline));
    }

    #[test]
    fn one_model_on_both_arms_needs_a_logged_arm() {
        let arms = ModelArms::new(vec![rollout("r1", "bot", "bot", 1)]);
        let unknown = arms.arm_of("bot", at(2)).expect_err("ambiguous");
        let reason = unknown.reason(&arms, "metadata key `evalgate_arm`");
        assert!(reason.contains("both arms"), "{reason}");
        assert!(reason.contains("evalgate_arm"), "{reason}");
    }

    #[test]
    fn the_reason_lists_what_is_known() {
        let arms = ModelArms::new(vec![rollout("r1", "bot@v41", "bot@v42", 1)]);
        let unknown = arms.arm_of("gpt-x", at(2)).expect_err("unknown");
        let reason = unknown.reason(&arms, "`metadata.arm`");
        assert!(reason.contains("gpt-x"), "{reason}");
        assert!(reason.contains("bot@v41 → baseline"), "{reason}");
    }
}
