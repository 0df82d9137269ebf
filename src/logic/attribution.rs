//! Which rollout a logged request belongs to, and which arm it was served by when its log line
//! does not say. Both are decided by the targets rollouts were started with (`rollout start
//! --baseline/--canary`), described once here as [`RolloutTargets`].
//!
//! **Belonging** ([`belongs_to`]): a row that names a rollout (`rollout_id`) belongs to that
//! rollout only; a row without one belongs to every rollout R for which it served R's target on
//! its arm (`baseline_model` on the baseline arm, `canary_model` on the canary arm) at or after
//! R was started. The store's window reads apply the same rule in SQL, with the values
//! [`RolloutTargets::binds`] gives (`adapters::store::owner`); the contract tests check the two
//! against each other on both backends.
//!
//! **Arms** ([`ModelArms`]): ingest (file and push) builds one lookup from the store's rollouts
//! and asks it for every row without an `arm`; a row it cannot place is rejected with a reason
//! saying how to supply one.
//!
//! Pure: the caller reads the rollouts, this file decides.

use std::fmt::Write as _;

use crate::domain::{Arm, Request, Timestamp};

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

impl RolloutTargets {
    /// The model the rollout serves on `arm`.
    pub fn model_on(&self, arm: Arm) -> &str {
        match arm {
            Arm::Baseline => &self.baseline_model,
            Arm::Canary => &self.canary_model,
        }
    }

    /// What the store binds to select this rollout's requests in SQL, in the order of
    /// [`OwnerBinds`]' fields.
    pub fn binds(&self) -> OwnerBinds<'_> {
        OwnerBinds {
            rollout_id: &self.rollout_id,
            since: self.started_at,
            baseline_model: &self.baseline_model,
            canary_model: &self.canary_model,
        }
    }
}

/// The SQL form of [`belongs_to`]: a row belongs when `rollout_id = rollout_id`, or when
/// `rollout_id IS NULL AND ts >= since` and its `model` is `baseline_model` on the baseline arm
/// or `canary_model` on the canary arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OwnerBinds<'a> {
    /// The rollout id a row may name.
    pub rollout_id: &'a str,
    /// When the rollout started: rows without a rollout id before it are not its traffic.
    pub since: Timestamp,
    /// The baseline arm's model.
    pub baseline_model: &'a str,
    /// The canary arm's model.
    pub canary_model: &'a str,
}

/// True when `request` is traffic of the rollout `targets` describes: its `rollout_id` names
/// the rollout, or it has none and served the rollout's target on its arm at or after the start.
/// Models compare exactly, as in SQL.
pub fn belongs_to(request: &Request, targets: &RolloutTargets) -> bool {
    match request.rollout_id.as_deref() {
        Some(rollout_id) => rollout_id == targets.rollout_id,
        None => request.ts >= targets.started_at && request.model == targets.model_on(request.arm),
    }
}

/// The rollouts `request` belongs to: the one it names (known or not), else every rollout of
/// `rollouts` it [`belongs_to`].
pub fn owners<'a>(request: &'a Request, rollouts: &'a [RolloutTargets]) -> Vec<&'a str> {
    owners_of(
        request.rollout_id.as_deref(),
        request.ts,
        request.arm,
        &request.model,
        rollouts,
    )
}

/// [`owners`] of a request known by the fields the rule reads (its named rollout, time, arm
/// and served model), for callers that did not read the whole request (`rescore`).
pub fn owners_of<'a>(
    rollout_id_opt: Option<&'a str>,
    ts: Timestamp,
    arm: Arm,
    model: &str,
    rollouts: &'a [RolloutTargets],
) -> Vec<&'a str> {
    if let Some(rollout_id) = rollout_id_opt {
        return vec![rollout_id];
    }
    rollouts
        .iter()
        .filter(|targets| ts >= targets.started_at && model == targets.model_on(arm))
        .map(|targets| targets.rollout_id.as_str())
        .collect()
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

    fn logged(rollout_id: Option<&str>, arm: Arm, model: &str, hour: u32) -> Request {
        Request {
            request_id: "q".to_string(),
            ts: at(hour),
            tenant_id: "t".to_string(),
            arm,
            model: model.to_string(),
            rollout_id: rollout_id.map(str::to_string),
            input: String::new(),
            output: String::new(),
            reference: None,
            status: crate::domain::RequestStatus::Ok,
            error: None,
            latency_ms: None,
            prompt_tokens: None,
            completion_tokens: None,
            cost_usd: None,
            ttft_ms: None,
            metadata: serde_json::Value::Null,
        }
    }

    #[test]
    fn a_row_naming_the_rollout_belongs_to_it_whatever_its_model_arm_or_time() {
        let r1 = rollout("r1", "bot@v41", "bot@v42", 5);
        assert!(belongs_to(
            &logged(Some("r1"), Arm::Canary, "bot@v42", 6),
            &r1
        ));
        assert!(belongs_to(
            &logged(Some("r1"), Arm::Canary, "bot@v41", 6),
            &r1
        ));
        assert!(belongs_to(
            &logged(Some("r1"), Arm::Baseline, "gpt-x", 2),
            &r1
        ));
    }

    #[test]
    fn a_row_naming_another_rollout_does_not_belong_even_with_the_right_model() {
        let r1 = rollout("r1", "bot@v41", "bot@v42", 5);
        assert!(!belongs_to(
            &logged(Some("r-old"), Arm::Canary, "bot@v42", 6),
            &r1
        ));
    }

    #[test]
    fn a_row_without_an_id_belongs_by_its_arm_model_and_time() {
        let r1 = rollout("r1", "bot@v41", "bot@v42", 5);
        assert!(belongs_to(&logged(None, Arm::Baseline, "bot@v41", 5), &r1));
        assert!(belongs_to(&logged(None, Arm::Canary, "bot@v42", 6), &r1));
        assert!(
            !belongs_to(&logged(None, Arm::Canary, "bot@v42", 4), &r1),
            "before the start"
        );
        assert!(
            !belongs_to(&logged(None, Arm::Baseline, "bot@v42", 6), &r1),
            "canary model on baseline"
        );
        assert!(
            !belongs_to(&logged(None, Arm::Canary, "bot@v40", 6), &r1),
            "another model"
        );
    }

    #[test]
    fn the_binds_carry_the_targets_in_order() {
        let r1 = rollout("r1", "bot@v41", "bot@v42", 5);
        let binds = r1.binds();
        assert_eq!(
            (
                binds.rollout_id,
                binds.since,
                binds.baseline_model,
                binds.canary_model
            ),
            ("r1", at(5), "bot@v41", "bot@v42")
        );
    }

    #[test]
    fn an_untagged_row_is_owned_by_every_rollout_serving_its_model_and_a_tagged_row_by_its_own() {
        let rollouts = vec![
            rollout("r1", "bot@v41", "bot@v42", 1),
            rollout("r2", "bot@v41", "bot@v43", 3),
        ];
        assert_eq!(
            owners(&logged(None, Arm::Baseline, "bot@v41", 2), &rollouts),
            ["r1"]
        );
        assert_eq!(
            owners(&logged(None, Arm::Baseline, "bot@v41", 4), &rollouts),
            ["r1", "r2"]
        );
        assert_eq!(
            owners(&logged(None, Arm::Canary, "bot@v43", 4), &rollouts),
            ["r2"]
        );
        assert_eq!(
            owners(&logged(Some("r-old"), Arm::Canary, "bot@v43", 4), &rollouts),
            ["r-old"]
        );
        assert!(owners(&logged(None, Arm::Canary, "bot@v40", 4), &rollouts).is_empty());
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
