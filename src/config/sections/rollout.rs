//! `[rollout]` section (filled in by its issue).

use serde::{Deserialize, Serialize};

/// The `[rollout]` section.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RolloutConfig {}
