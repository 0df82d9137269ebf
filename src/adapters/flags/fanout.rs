//! Writing one split to every configured sink, reading each back to verify, and retrying a sink
//! that did not take it (bounded, doubling backoff). The result says, per sink, whether the
//! gateway-visible value is the one that was asked for; callers hold the rollout when not.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use serde::Serialize;

use super::{FlagError, FlagSink, sinks_from_config};
use crate::adapters::store::Store;
use crate::config::FlagsConfig;
use crate::domain::{SplitRecord, SplitWrite};

/// The longest pause between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What happened to one sink.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum SinkOutcome {
    /// The sink took the write and reads it back.
    Verified {
        /// What the sink holds now.
        record: SplitRecord,
        /// Attempts used (1 = first try).
        attempts: u32,
        /// From the first write until the read-back showed the value, in milliseconds.
        visible_after_ms: u64,
    },
    /// Every attempt failed; `error` is the last one's.
    Failed {
        /// The last error.
        error: String,
        /// Its kind (`io`, `store`, `not_visible`, …).
        kind: String,
        /// Attempts used.
        attempts: u32,
    },
}

/// One sink's result of a verified write.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SinkWriteReport {
    /// The sink's name.
    pub sink: String,
    /// What happened.
    #[serde(flatten)]
    pub outcome: SinkOutcome,
}

impl SinkWriteReport {
    /// True when the sink holds the written value.
    pub fn is_verified(&self) -> bool {
        matches!(self.outcome, SinkOutcome::Verified { .. })
    }
}

/// Every configured sink, with the retry policy.
#[derive(Clone)]
pub struct FlagSinks {
    sinks: Vec<Arc<dyn FlagSink>>,
    retries: u32,
    backoff: Duration,
}

impl std::fmt::Debug for FlagSinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlagSinks")
            .field("sinks", &self.names())
            .field("retries", &self.retries)
            .field("backoff", &self.backoff)
            .finish()
    }
}

impl FlagSinks {
    /// Sinks with `retries` extra attempts each, the first after `backoff` (doubling).
    pub fn new(sinks: Vec<Arc<dyn FlagSink>>, retries: u32, backoff: Duration) -> FlagSinks {
        FlagSinks {
            sinks,
            retries,
            backoff,
        }
    }

    /// The sinks `[flags]` configures.
    pub fn from_config(config: &FlagsConfig, store: &Store) -> FlagSinks {
        FlagSinks::new(
            sinks_from_config(config, store),
            config.retries,
            Duration::from_millis(config.retry_backoff_ms),
        )
    }

    /// The sinks, in order.
    pub fn sinks(&self) -> &[Arc<dyn FlagSink>] {
        &self.sinks
    }

    /// Their names, in order.
    pub fn names(&self) -> Vec<String> {
        self.sinks
            .iter()
            .map(|sink| sink.name().to_string())
            .collect()
    }

    /// Writes `split` to every sink at once and reads each back; one report per sink, in order.
    #[tracing::instrument(skip_all, fields(flag = %flag, basis_points = split.basis_points))]
    pub async fn write_verified(&self, flag: &str, split: &SplitWrite) -> Vec<SinkWriteReport> {
        let writes = self
            .sinks
            .iter()
            .map(|sink| self.write_one(sink.as_ref(), flag, split));
        join_all(writes).await
    }

    /// Rewrites (verified) only the sinks whose value for `flag` does not route like `wanted`;
    /// one report per rewritten sink, none when every sink already holds it.
    pub async fn reconcile(&self, flag: &str, wanted: &SplitWrite) -> Vec<SinkWriteReport> {
        let mut reports = Vec::new();
        for sink in &self.sinks {
            let holds_it = matches!(
                sink.read(flag).await,
                Ok(Some(record)) if record.routes_like(wanted)
            );
            if !holds_it {
                reports.push(self.write_one(sink.as_ref(), flag, wanted).await);
            }
        }
        reports
    }

    /// What every sink holds for `flag`: per sink, the record or the read error.
    pub async fn read_all(
        &self,
        flag: &str,
    ) -> Vec<(String, Result<Option<SplitRecord>, FlagError>)> {
        let reads = self
            .sinks
            .iter()
            .map(|sink| async move { (sink.name().to_string(), sink.read(flag).await) });
        join_all(reads).await
    }

    /// Writes `split` to one sink and reads it back, with the same retries as `write_verified`.
    pub async fn write_one(
        &self,
        sink: &dyn FlagSink,
        flag: &str,
        split: &SplitWrite,
    ) -> SinkWriteReport {
        let started = tokio::time::Instant::now();
        let mut attempts = 0;
        let mut delay = self.backoff;
        loop {
            attempts += 1;
            let error = match write_and_read_back(sink, flag, split).await {
                Ok(record) => {
                    let elapsed = started.elapsed().as_millis();
                    return SinkWriteReport {
                        sink: sink.name().to_string(),
                        outcome: SinkOutcome::Verified {
                            record,
                            attempts,
                            visible_after_ms: u64::try_from(elapsed).unwrap_or(u64::MAX),
                        },
                    };
                }
                Err(error) => error,
            };
            if attempts > self.retries {
                tracing::error!(sink = sink.name(), flag, attempts, error = %error, kind = error.kind(), "flag sink failed; giving up");
                return SinkWriteReport {
                    sink: sink.name().to_string(),
                    outcome: SinkOutcome::Failed {
                        error: error.to_string(),
                        kind: error.kind().to_string(),
                        attempts,
                    },
                };
            }
            tracing::warn!(sink = sink.name(), flag, attempts, error = %error, "flag sink write failed; retrying");
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(MAX_BACKOFF);
        }
    }
}

async fn write_and_read_back(
    sink: &dyn FlagSink,
    flag: &str,
    split: &SplitWrite,
) -> Result<SplitRecord, FlagError> {
    sink.write(flag, split).await?;
    let read_opt = sink.read(flag).await?;
    match read_opt {
        Some(record) if record.routes_like(split) => Ok(record),
        Some(record) => Err(FlagError::NotVisible {
            wanted: describe_write(split),
            got: describe_record(&record),
        }),
        None => Err(FlagError::NotVisible {
            wanted: describe_write(split),
            got: "nothing".to_string(),
        }),
    }
}

fn describe_write(split: &SplitWrite) -> String {
    format!(
        "{} bp (salt {}, {} always, {} never)",
        split.basis_points,
        split.salt,
        split.always.len(),
        split.never.len()
    )
}

fn describe_record(record: &SplitRecord) -> String {
    format!(
        "{} bp (salt {}, {} always, {} never, generation {})",
        record.basis_points,
        record.salt,
        record.always.len(),
        record.never.len(),
        record.generation
    )
}
