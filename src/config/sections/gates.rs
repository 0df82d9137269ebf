//! `[gates]` section (filled in by its issue).

use serde::{Deserialize, Serialize};

/// The `[gates]` section.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatesConfig {}
