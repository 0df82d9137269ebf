//! `[judges.NAME]`: an OpenAI-compatible LLM judge (filled in by the evaluators issue).

use serde::{Deserialize, Serialize};

/// One `[judges.NAME]` table.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JudgeConfig {}

impl JudgeConfig {
    /// Checks the values.
    pub fn validate(&self) -> Result<(), super::Invalid> {
        Ok(())
    }
}
