//! `[ingest]`: limits for `evalgate ingest`.

use serde::{Deserialize, Serialize};

use super::Invalid;

/// The `[ingest]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Rows per transaction.
    pub batch_size: usize,
    /// A single field (input, output, reference, metadata) larger than this is rejected.
    pub max_field_bytes: usize,
    /// A line longer than this is rejected without being parsed.
    pub max_line_bytes: usize,
    /// The largest body `serve` accepts on `/v1/ingest` and `/v1/traces`, before and after
    /// gzip decompression (413 above it).
    pub max_push_bytes: usize,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            batch_size: 2000,
            max_field_bytes: 256 * 1024,
            max_line_bytes: 4 * 1024 * 1024,
            max_push_bytes: 32 * 1024 * 1024,
        }
    }
}

impl IngestConfig {
    /// Checks the bounds.
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.batch_size == 0 {
            return Err(Invalid::new(
                "ingest.batch_size",
                "is 0; allowed: at least 1".to_string(),
            ));
        }
        if self.max_field_bytes == 0 || self.max_line_bytes < self.max_field_bytes {
            return Err(Invalid::new(
                "ingest.max_line_bytes",
                "must be at least ingest.max_field_bytes, and both above 0".to_string(),
            ));
        }
        if self.max_push_bytes == 0 {
            return Err(Invalid::new(
                "ingest.max_push_bytes",
                "is 0; allowed: at least 1".to_string(),
            ));
        }
        Ok(())
    }
}
