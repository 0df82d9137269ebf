//! `[rollout]` section: the default plan for new rollouts (the seed's plan unless `stages` is
//! given), fail-closed, how a flag's routing salt is chosen, and the always/never-canary cohorts.
//!
//! ```toml
//! [rollout]
//! fail_closed = false
//! salt_policy = "flag_key"          # or "rollout_id", or "fixed" with `salt = "..."`
//! always_canary = ["internal-qa"]
//! never_canary = ["bank-of-x"]
//! [[rollout.stages]]                # optional: replaces the seed's default plan
//! name = "1%"
//! canary_basis_points = 100
//! min_duration = "4h"
//! max_duration = "8h"
//! ```

use serde::{Deserialize, Serialize};

use super::Invalid;

use crate::domain::rollout::{Plan, StageSpec};

/// How a flag's routing salt is chosen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SaltPolicy {
    /// The flag key: the same tenants go first on every rollout of the flag.
    #[default]
    FlagKey,
    /// The rollout id: each rollout picks a fresh set of early tenants.
    RolloutId,
    /// The fixed `salt` string.
    Fixed,
}

/// What the controller does to a live rollout whose ticks keep failing (no window is gated, so
/// nothing watches the canary).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailSafe {
    /// Hold at the current split and page the owner (critical notification).
    #[default]
    Hold,
    /// Roll back to 0% and page the owner.
    Rollback,
}

/// The `[rollout]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RolloutConfig {
    /// Stages replacing the seed's default plan (empty: the seed's plan).
    pub stages: Vec<StageSpec>,
    /// Still inconclusive at a stage's maximum: roll back instead of holding.
    pub fail_closed: bool,
    /// How a flag's routing salt is chosen.
    pub salt_policy: SaltPolicy,
    /// The salt when `salt_policy = "fixed"`.
    pub salt: Option<String>,
    /// Tenants that get the canary whenever the split is above 0% (e.g. internal ones).
    pub always_canary: Vec<String>,
    /// Tenants that never get the canary.
    pub never_canary: Vec<String>,
    /// After this many consecutive tick windows failed for a rollout, apply `fail_safe`.
    pub fail_safe_after: u32,
    /// What to do then: `hold` (default) or `rollback`.
    pub fail_safe: FailSafe,
}

impl Default for RolloutConfig {
    fn default() -> Self {
        RolloutConfig {
            stages: Vec::new(),
            fail_closed: false,
            salt_policy: SaltPolicy::default(),
            salt: None,
            always_canary: Vec::new(),
            never_canary: Vec::new(),
            fail_safe_after: 3,
            fail_safe: FailSafe::default(),
        }
    }
}

impl RolloutConfig {
    /// The default plan for new rollouts: `stages` when given, else the seed's.
    pub fn plan(&self) -> Plan {
        let mut plan = Plan::seed_default();
        if !self.stages.is_empty() {
            plan.stages = self.stages.clone();
        }
        plan.fail_closed = self.fail_closed;
        plan
    }

    /// The routing salt of a flag under the salt policy.
    pub fn salt_for(&self, flag_key: &str, rollout_id: Option<&str>) -> String {
        match self.salt_policy {
            SaltPolicy::FlagKey => flag_key.to_string(),
            SaltPolicy::RolloutId => rollout_id.unwrap_or(flag_key).to_string(),
            SaltPolicy::Fixed => self.salt.clone().unwrap_or_else(|| flag_key.to_string()),
        }
    }

    /// Checks the section; the key is relative to the file, e.g. `rollout.stages[1].min_duration`.
    pub fn validate(&self) -> Result<(), Invalid> {
        if !self.stages.is_empty() {
            self.plan()
                .validate()
                .map_err(|(key, message)| Invalid::new(format!("rollout.{key}"), message))?;
        }
        match (self.salt_policy, &self.salt) {
            (SaltPolicy::Fixed, None) => {
                return Err(Invalid::new(
                    "rollout.salt",
                    "is missing; salt_policy = \"fixed\" needs a salt",
                ));
            }
            (SaltPolicy::Fixed, Some(salt)) if salt.is_empty() => {
                return Err(Invalid::new("rollout.salt", "must not be empty"));
            }
            (SaltPolicy::FlagKey | SaltPolicy::RolloutId, Some(_)) => {
                return Err(Invalid::new(
                    "rollout.salt",
                    "is only used with salt_policy = \"fixed\"",
                ));
            }
            _ => {}
        }
        if self.fail_safe_after == 0 {
            return Err(Invalid::new(
                "rollout.fail_safe_after",
                "is 0; allowed: at least 1 (failed tick windows before the fail-safe)",
            ));
        }
        if let Some(tenant) = self
            .always_canary
            .iter()
            .find(|t| self.never_canary.contains(t))
        {
            return Err(Invalid::new(
                "rollout.never_canary",
                format!("lists `{tenant}`, which always_canary lists too"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> RolloutConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn defaults_give_the_seed_plan_and_the_flag_key_salt() {
        let config = RolloutConfig::default();
        config.validate().unwrap();
        assert_eq!(config.plan(), Plan::seed_default());
        assert_eq!(config.salt_for("bot", Some("r-1")), "bot");
    }

    #[test]
    fn stage_overrides_are_validated_with_the_stage_key() {
        let config = parse(
            "fail_closed = true\n[[stages]]\nname = \"a\"\ncanary_basis_points = 50\n\
             min_duration = \"4h\"\nmax_duration = \"1h\"\n",
        );
        let crate::config::Invalid { key, message } = config.validate().unwrap_err();
        assert_eq!(key, "rollout.stages[0].max_duration");
        assert!(message.contains("at least min_duration"), "{message}");
    }

    #[test]
    fn salt_policy_and_cohorts_are_checked() {
        let fixed = parse("salt_policy = \"fixed\"\n");
        assert_eq!(fixed.validate().unwrap_err().key, "rollout.salt");
        let fixed = parse("salt_policy = \"fixed\"\nsalt = \"s1\"\n");
        fixed.validate().unwrap();
        assert_eq!(fixed.salt_for("bot", None), "s1");
        let per_rollout = parse("salt_policy = \"rollout_id\"\n");
        assert_eq!(per_rollout.salt_for("bot", Some("r-9")), "r-9");
        let both = parse("always_canary = [\"t\"]\nnever_canary = [\"t\"]\n");
        assert_eq!(both.validate().unwrap_err().key, "rollout.never_canary");
    }
}
