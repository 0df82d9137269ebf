//! `[evals]` section (filled in by its issue).

use serde::{Deserialize, Serialize};

/// The `[evals]` section.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvalsConfig {}
