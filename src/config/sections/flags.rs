//! `[flags]`: the flag sinks every split change is written to (and read back from), and how hard
//! to retry a sink that cannot be written before the rollout holds.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Invalid;

/// One kind of flag sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SinkKind {
    /// The `traffic_splits` table (also served by `GET /v1/flags/{key}`).
    Table,
    /// An atomically replaced JSON file holding every flag.
    File,
}

/// The `[flags]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FlagsConfig {
    /// The sinks a split change is written to; every one must take it.
    pub sinks: Vec<SinkKind>,
    /// The JSON file of the `file` sink.
    pub file: Option<PathBuf>,
    /// Extra attempts after a failed write or read-back, per sink.
    pub retries: u32,
    /// Delay before the first retry, in milliseconds; it doubles on each retry.
    pub retry_backoff_ms: u64,
    /// The flag `evalgate drill` exercises by default.
    pub drill_flag: String,
}

impl Default for FlagsConfig {
    fn default() -> Self {
        FlagsConfig {
            sinks: vec![SinkKind::Table],
            file: None,
            retries: 3,
            retry_backoff_ms: 200,
            drill_flag: "evalgate-drill".to_string(),
        }
    }
}

impl FlagsConfig {
    /// Checks that there is at least one sink, no sink twice, and a path for the file sink.
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.sinks.is_empty() {
            return Err(Invalid::new(
                "flags.sinks",
                "is empty; allowed: one or more of \"table\", \"file\"".to_string(),
            ));
        }
        for (index, sink) in self.sinks.iter().enumerate() {
            if self.sinks[..index].contains(sink) {
                return Err(Invalid::new("flags.sinks", format!("lists {sink:?} twice")));
            }
        }
        let wants_file = self.sinks.contains(&SinkKind::File);
        let has_path = self
            .file
            .as_ref()
            .is_some_and(|path| !path.as_os_str().is_empty());
        if wants_file && !has_path {
            return Err(Invalid::new(
                "flags.file",
                "is missing; the \"file\" sink needs a path".to_string(),
            ));
        }
        if self.retries > 10 {
            return Err(Invalid::new(
                "flags.retries",
                format!("is {}; allowed: 0 to 10", self.retries),
            ));
        }
        if self.retry_backoff_ms > 60_000 {
            return Err(Invalid::new(
                "flags.retry_backoff_ms",
                format!("is {}; allowed: 0 to 60000", self.retry_backoff_ms),
            ));
        }
        if self.drill_flag.trim().is_empty() {
            return Err(Invalid::new("flags.drill_flag", "is empty".to_string()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_write_the_table() {
        let config = FlagsConfig::default();
        assert!(config.validate().is_ok());
        assert_eq!(config.sinks, vec![SinkKind::Table]);
    }

    #[test]
    fn the_file_sink_needs_a_path() {
        let config = FlagsConfig {
            sinks: vec![SinkKind::Table, SinkKind::File],
            ..FlagsConfig::default()
        };
        assert_eq!(config.validate().unwrap_err().key, "flags.file");
        let with_path = FlagsConfig {
            file: Some(PathBuf::from("/tmp/flags.json")),
            ..config
        };
        assert!(with_path.validate().is_ok());
    }

    #[test]
    fn empty_or_duplicate_sinks_are_rejected() {
        let empty = FlagsConfig {
            sinks: vec![],
            ..FlagsConfig::default()
        };
        assert_eq!(empty.validate().unwrap_err().key, "flags.sinks");
        let twice = FlagsConfig {
            sinks: vec![SinkKind::Table, SinkKind::Table],
            ..FlagsConfig::default()
        };
        assert!(twice.validate().unwrap_err().message.contains("twice"));
    }
}
