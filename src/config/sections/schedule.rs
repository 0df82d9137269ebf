//! `[schedule]`: the daemon's cron schedules (filled in by the daemon issue).

use serde::{Deserialize, Serialize};

/// The `[schedule]` section.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScheduleConfig {}

impl ScheduleConfig {
    /// Checks the values.
    pub fn validate(&self) -> Result<(), super::Invalid> {
        Ok(())
    }
}
