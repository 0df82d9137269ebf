//! `[store]`: where the log store and evalgate's tables live.

use serde::{Deserialize, Serialize};

use super::Invalid;

/// The `[store]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `sqlite://PATH` (default `sqlite://evalgate.db`) or `postgres://…`. `--store` and
    /// `EVALGATE_STORE` override it.
    pub url: String,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            url: "sqlite://evalgate.db".to_string(),
        }
    }
}

impl StoreConfig {
    /// Checks the URL scheme.
    pub fn validate(&self) -> Result<(), Invalid> {
        let allowed = ["sqlite:", "postgres:", "postgresql:"];
        if allowed.iter().any(|prefix| self.url.starts_with(prefix)) {
            return Ok(());
        }
        Err(Invalid::new(
            "store.url",
            format!("is `{}`; allowed: sqlite://PATH or postgres://…", self.url),
        ))
    }
}
