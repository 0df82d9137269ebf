//! `[evals]`: where eval suites live and which suite a rollout uses when it names none.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Invalid;

/// The `[evals]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvalsConfig {
    /// The directory of `*.yaml` suites.
    pub dir: PathBuf,
    /// The suite of a rollout started without `--suite`.
    pub default_suite: String,
}

impl Default for EvalsConfig {
    fn default() -> Self {
        EvalsConfig {
            dir: PathBuf::from("evals"),
            default_suite: "support".to_string(),
        }
    }
}

impl EvalsConfig {
    /// Checks the values.
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.default_suite.trim().is_empty() {
            return Err(Invalid::new(
                "evals.default_suite",
                "is empty; name a suite in evals.dir".to_string(),
            ));
        }
        Ok(())
    }
}
