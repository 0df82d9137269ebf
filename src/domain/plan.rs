//! Rollout plans: the ordered stages a canary walks through (split, minimum and maximum duration,
//! approval, minimum samples), the seed's default plan, and the TOML plan file format with
//! validation errors that name the key (`stages[2].min_duration …`).

use serde::{Deserialize, Serialize};

use super::HumanDuration;

/// The largest split: 100% of tenants, in basis points.
pub const FULL_BASIS_POINTS: u32 = 10_000;

/// One stage of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageSpec {
    /// A short name shown in status and notifications, e.g. `1%`.
    pub name: String,
    /// The canary's share of tenants in basis points (1..=10000; 50 = 0.5%).
    pub canary_basis_points: u32,
    /// The stage cannot promote before this much time has passed in it.
    pub min_duration: HumanDuration,
    /// While inconclusive after `min_duration`, the stage is extended up to this; then it holds
    /// (or rolls back when the plan is fail-closed).
    pub max_duration: HumanDuration,
    /// Promotion out of this stage needs a human `approve` once the gates are green.
    #[serde(default)]
    pub approval_required: bool,
    /// Every metric with promotion authority needs at least this many samples per arm.
    #[serde(default)]
    pub min_samples: u64,
    /// A monitoring stage (the last, at 100%): it watches for regressions against the
    /// pre-rollout baseline for `min_duration`, can still roll back, then completes.
    #[serde(default)]
    pub monitoring: bool,
}

impl StageSpec {
    /// The split as a percentage, e.g. `0.5` for 50 basis points.
    pub fn percent(&self) -> f64 {
        f64::from(self.canary_basis_points) / 100.0
    }
}

/// A rollout plan: the stages in order and what to do when a stage stays inconclusive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// The stages, with strictly increasing splits.
    pub stages: Vec<StageSpec>,
    /// Still inconclusive at a stage's maximum: roll back (true) instead of holding (false).
    #[serde(default)]
    pub fail_closed: bool,
    /// How often the controller decides (the tick); `wake_at` is at most this far ahead.
    #[serde(default = "default_tick_interval")]
    pub tick_interval: HumanDuration,
}

fn default_tick_interval() -> HumanDuration {
    HumanDuration::from_mins(15)
}

/// The field names a value serialises with (the known keys of the stored format).
fn field_names<T: Serialize>(value: &T) -> Vec<String> {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// A plan that is not valid, with the key it concerns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The text is not a valid plan file (TOML syntax, unknown key, wrong type).
    #[error("{label}: {message}")]
    Parse { label: String, message: String },
    /// A value parsed but is not allowed.
    #[error("{label}: `{key}` {message}")]
    Invalid {
        label: String,
        key: String,
        message: String,
    },
}

impl Default for Plan {
    fn default() -> Plan {
        Plan::seed_default()
    }
}

impl Plan {
    /// The seed's plan: 1% for ≥ 4 h (auto), 10% for ≥ 24 h (auto), 50% for ≥ 48 h (promotion
    /// needs a human approval), then 100% with 72 h of monitoring, then completed. Each stage
    /// may be extended to twice its minimum while inconclusive (STATS.md §6).
    pub fn seed_default() -> Plan {
        let stage = |name: &str, bp: u32, min_h: i64, max_h: i64| StageSpec {
            name: name.to_string(),
            canary_basis_points: bp,
            min_duration: HumanDuration::from_hours(min_h),
            max_duration: HumanDuration::from_hours(max_h),
            approval_required: false,
            min_samples: 0,
            monitoring: false,
        };
        let mut stages = vec![
            stage("1%", 100, 4, 8),
            stage("10%", 1_000, 24, 48),
            stage("50%", 5_000, 48, 96),
            stage("100%", FULL_BASIS_POINTS, 72, 144),
        ];
        stages[2].approval_required = true;
        stages[3].monitoring = true;
        Plan {
            stages,
            fail_closed: false,
            tick_interval: default_tick_interval(),
        }
    }

    /// Parses and validates a TOML plan file (see `fixtures/plan.example.toml`). `label` names
    /// the source in errors.
    pub fn from_toml_str(label: &str, text: &str) -> Result<Plan, PlanError> {
        let plan: Plan = toml::from_str(text).map_err(|err| PlanError::Parse {
            label: label.to_string(),
            message: err.to_string(),
        })?;
        plan.validate()
            .map_err(|(key, message)| PlanError::Invalid {
                label: label.to_string(),
                key,
                message,
            })?;
        Ok(plan)
    }

    /// Decodes a plan as stored in the `rollouts` row, by this or another evalgate version: keys
    /// this version does not know are dropped, so a stored-format change never locks a rollout
    /// (plan files stay strict: `from_toml_str` rejects unknown keys).
    pub fn from_stored(value: &serde_json::Value) -> Result<Plan, serde_json::Error> {
        let template = Plan::seed_default();
        let plan_keys = field_names(&template);
        let stage_keys = template.stages.first().map(field_names).unwrap_or_default();
        let mut value = value.clone();
        if let Some(plan) = value.as_object_mut() {
            plan.retain(|key, _| plan_keys.contains(key));
            if let Some(stages) = plan
                .get_mut("stages")
                .and_then(serde_json::Value::as_array_mut)
            {
                for stage in stages
                    .iter_mut()
                    .filter_map(serde_json::Value::as_object_mut)
                {
                    stage.retain(|key, _| stage_keys.contains(key));
                }
            }
        }
        serde_json::from_value(value)
    }

    /// The stage at `index`, if the plan has one.
    pub fn stage(&self, index: usize) -> Option<&StageSpec> {
        self.stages.get(index)
    }

    /// How the lists and `rollout status` name stage `index`: `2/4 (10%)`, or `5 (not in
    /// plan)` for an index past the plan's stages.
    pub fn stage_label(&self, index: usize) -> String {
        match self.stage(index) {
            Some(spec) => format!("{}/{} ({})", index + 1, self.stages.len(), spec.name),
            None => format!("{} (not in plan)", index + 1),
        }
    }

    /// Checks the plan; the error is `(key, message)` with keys like `stages[2].min_duration`.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if self.stages.is_empty() {
            return Err(("stages".into(), "must list at least one stage".into()));
        }
        if self.tick_interval.as_secs() <= 0 {
            return Err(("tick_interval".into(), "must be longer than 0s".into()));
        }
        let last = self.stages.len() - 1;
        let mut previous_bp = 0;
        for (index, stage) in self.stages.iter().enumerate() {
            let key = |field: &str| format!("stages[{index}].{field}");
            if stage.name.trim().is_empty() {
                return Err((key("name"), "must not be empty".into()));
            }
            if self.stages[..index].iter().any(|s| s.name == stage.name) {
                return Err((key("name"), format!("`{}` is used twice", stage.name)));
            }
            let bp = stage.canary_basis_points;
            if bp == 0 || bp > FULL_BASIS_POINTS {
                return Err((
                    key("canary_basis_points"),
                    format!("is {bp}; must be 1..=10000 (50 = 0.5%, 10000 = 100%)"),
                ));
            }
            if bp <= previous_bp {
                return Err((
                    key("canary_basis_points"),
                    format!("is {bp}; must be larger than the previous stage's {previous_bp}"),
                ));
            }
            previous_bp = bp;
            if stage.min_duration.as_secs() < 0 {
                return Err((key("min_duration"), "must not be negative".into()));
            }
            if stage.max_duration < stage.min_duration {
                return Err((
                    key("max_duration"),
                    format!(
                        "is {}; must be at least min_duration ({})",
                        stage.max_duration, stage.min_duration
                    ),
                ));
            }
            if stage.monitoring {
                if index != last {
                    return Err((key("monitoring"), "only the last stage can monitor".into()));
                }
                if bp != FULL_BASIS_POINTS {
                    return Err((
                        key("monitoring"),
                        format!("needs canary_basis_points = 10000, not {bp}"),
                    ));
                }
                if stage.approval_required {
                    return Err((
                        key("approval_required"),
                        "has no meaning on a monitoring stage (it completes on its own)".into(),
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_plan_with_keys_of_another_version_still_decodes() {
        let mut stored = serde_json::to_value(Plan::seed_default()).unwrap();
        stored["max_canary_share"] = serde_json::json!(0.5);
        stored["stages"][1]["owner_team"] = serde_json::json!("x");
        assert!(serde_json::from_value::<Plan>(stored.clone()).is_err());
        assert_eq!(Plan::from_stored(&stored).unwrap(), Plan::seed_default());
        // A plan file stays strict.
        let file = "surprise = 1\n[[stages]]\nname = \"1%\"\ncanary_basis_points = 100\n\
                    min_duration = \"4h\"\nmax_duration = \"8h\"\n";
        let err = Plan::from_toml_str("p.toml", file).unwrap_err();
        assert!(err.to_string().contains("surprise"), "{err}");
    }

    #[test]
    fn seed_default_plan_is_valid_and_matches_the_seed() {
        let plan = Plan::seed_default();
        plan.validate().unwrap();
        let splits: Vec<u32> = plan.stages.iter().map(|s| s.canary_basis_points).collect();
        assert_eq!(splits, vec![100, 1_000, 5_000, 10_000]);
        let mins: Vec<i64> = plan
            .stages
            .iter()
            .map(|s| s.min_duration.as_secs() / 3600)
            .collect();
        assert_eq!(mins, vec![4, 24, 48, 72]);
        assert!(plan.stages[2].approval_required);
        assert!(!plan.stages[0].approval_required && !plan.stages[1].approval_required);
        assert!(plan.stages[3].monitoring);
    }

    #[test]
    fn example_plan_file_parses() {
        let text = include_str!("../../fixtures/plan.example.toml");
        let plan = Plan::from_toml_str("plan.example.toml", text).unwrap();
        assert_eq!(plan.stages[0].canary_basis_points, 50);
        assert!(plan.stages.last().unwrap().monitoring);
    }

    #[test]
    fn a_bad_duration_names_the_stage_and_key() {
        let text = r#"
            [[stages]]
            name = "1%"
            canary_basis_points = 100
            min_duration = "4h"
            max_duration = "2h"
        "#;
        let err = Plan::from_toml_str("plan.toml", text).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("plan.toml"), "{text}");
        assert!(text.contains("stages[0].max_duration"), "{text}");
    }

    #[test]
    fn decreasing_splits_and_misplaced_monitoring_are_rejected() {
        let mut plan = Plan::seed_default();
        plan.stages[1].canary_basis_points = 50;
        assert_eq!(
            plan.validate().unwrap_err().0,
            "stages[1].canary_basis_points"
        );
        let mut plan = Plan::seed_default();
        plan.stages[1].monitoring = true;
        assert_eq!(plan.validate().unwrap_err().0, "stages[1].monitoring");
        let mut plan = Plan::seed_default();
        plan.stages[0].canary_basis_points = 0;
        assert_eq!(
            plan.validate().unwrap_err().0,
            "stages[0].canary_basis_points"
        );
    }

    #[test]
    fn unknown_keys_and_unparseable_durations_are_parse_errors() {
        let text = "[[stages]]\nname = \"a\"\ncanary_basis_points = 1\nmin_duration = \"4x\"\nmax_duration = \"4h\"\n";
        let err = Plan::from_toml_str("p.toml", text).unwrap_err();
        assert!(err.to_string().contains("unknown unit"), "{err}");
        let text = "fail_closd = true\n[[stages]]\nname = \"a\"\ncanary_basis_points = 1\nmin_duration = \"4h\"\nmax_duration = \"4h\"\n";
        let err = Plan::from_toml_str("p.toml", text).unwrap_err();
        assert!(err.to_string().contains("fail_closd"), "{err}");
    }
}
