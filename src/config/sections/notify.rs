//! `[notify]` section (filled in by its issue).

use serde::{Deserialize, Serialize};

/// The `[notify]` section.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {}
