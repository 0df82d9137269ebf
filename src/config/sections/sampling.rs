//! `[sampling]`: how many requests each tick scores per arm, and from which window.

use serde::{Deserialize, Serialize};

use super::Invalid;

use crate::domain::HumanDuration;

/// The largest baseline over-sampling: beyond 8, doubling k adds under 10% information.
pub const MAX_BASELINE_MULTIPLIER: u32 = 8;

/// The `[sampling]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SamplingConfig {
    /// Requests scored per arm per tick (N).
    pub n_per_arm: u32,
    /// k: the baseline arm is sampled k·N per tick, and each canary unit is paired with k
    /// baseline units (1: paired 1:1). The baseline serves most of the traffic, so the extra units
    /// are there; they cost k·N more judge calls per tick and give the pass-rate gate about 1.7×
    /// the information per canary unit at k = 4 (docs/STATISTICS.md §6).
    pub baseline_multiplier: u32,
    /// Length of one tick's window.
    pub window: HumanDuration,
    /// How long a request must be old before it is sampled (lets logs and judges catch up).
    pub readiness_delay: HumanDuration,
    /// At most this many requests from one tenant per arm per tick.
    pub per_tenant_cap: u32,
    /// Seed of the deterministic sampling order.
    pub seed: u64,
    /// How long feedback (thumbs, regenerations, escalations, refunds) takes to arrive: each tick
    /// gates the feedback of the cohort whose window ended this long before its own.
    pub feedback_maturity: HumanDuration,
}

impl Default for SamplingConfig {
    fn default() -> Self {
        SamplingConfig {
            n_per_arm: 50,
            baseline_multiplier: 1,
            window: HumanDuration::from_mins(15),
            readiness_delay: HumanDuration::from_mins(5),
            per_tenant_cap: 3,
            seed: 0,
            feedback_maturity: HumanDuration::from_hours(2),
        }
    }
}

impl SamplingConfig {
    /// Checks the bounds.
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.n_per_arm == 0 {
            return Err(Invalid::new(
                "sampling.n_per_arm",
                "is 0; allowed: at least 1".to_string(),
            ));
        }
        if !(1..=MAX_BASELINE_MULTIPLIER).contains(&self.baseline_multiplier) {
            return Err(Invalid::new(
                "sampling.baseline_multiplier",
                format!(
                    "is {}; allowed: 1 to {MAX_BASELINE_MULTIPLIER}",
                    self.baseline_multiplier
                ),
            ));
        }
        // Windows under a minute are for accelerated loops (the LiteLLM closed-loop test).
        if self.window.as_secs() < 5 {
            return Err(Invalid::new(
                "sampling.window",
                format!("is {}; allowed: at least 5s", self.window),
            ));
        }
        if self.per_tenant_cap == 0 {
            return Err(Invalid::new(
                "sampling.per_tenant_cap",
                "is 0; allowed: at least 1".to_string(),
            ));
        }
        Ok(())
    }
}

impl crate::logic::sampling::SamplePlan {
    /// The plan of the `[sampling]` section (defined here so `logic` never imports `config`).
    pub fn of(config: &SamplingConfig) -> crate::logic::sampling::SamplePlan {
        crate::logic::sampling::SamplePlan {
            n_per_arm: config.n_per_arm,
            baseline_multiplier: config.baseline_multiplier,
            per_tenant_cap: config.per_tenant_cap,
            seed: config.seed,
        }
    }
}
