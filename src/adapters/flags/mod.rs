//! Flag sinks: the places gateways read a flag's traffic split from (the `traffic_splits` table
//! and an atomically replaced JSON file). A split change is written to EVERY configured sink and
//! read back; a sink that does not show the new value is retried with backoff and then reported
//! as failed, so the controller never believes a split the gateway does not see.

mod fanout;
mod file;
mod table;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

pub use fanout::{FlagSinks, SinkOutcome, SinkWriteReport};
pub use file::{FileSink, FlagsFile};
pub use table::TableSink;

use crate::adapters::store::{Store, StoreError};
use crate::config::{FlagsConfig, SinkKind};
use crate::domain::{SplitRecord, SplitWrite};

/// A boxed future, so sinks can be trait objects.
pub type SinkFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, FlagError>> + Send + 'a>>;

/// Why a sink could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum FlagError {
    /// The table sink's store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The file sink could not read, write or rename its file.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file exists but is not a flags file.
    #[error("{path}: not a flags file: {detail}")]
    BadContent { path: PathBuf, detail: String },
    /// The sink took the write but reads back something else.
    #[error("read back {got} after writing {wanted}")]
    NotVisible { wanted: String, got: String },
    /// A blocking task died.
    #[error("background task failed: {0}")]
    Task(String),
}

impl FlagError {
    /// A bounded-cardinality label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            FlagError::Store(_) => "store",
            FlagError::Io { .. } => "io",
            FlagError::BadContent { .. } => "bad_content",
            FlagError::NotVisible { .. } => "not_visible",
            FlagError::Task(_) => "task",
        }
    }
}

/// Somewhere a gateway reads traffic splits from.
pub trait FlagSink: Send + Sync {
    /// A short name for reports and logs (`table`, `file`).
    fn name(&self) -> &str;

    /// Writes `flag`'s split; the sink bumps its generation counter and returns what it holds.
    fn write<'a>(&'a self, flag: &'a str, split: &'a SplitWrite) -> SinkFuture<'a, SplitRecord>;

    /// What the sink holds for `flag`, if anything.
    fn read<'a>(&'a self, flag: &'a str) -> SinkFuture<'a, Option<SplitRecord>>;
}

/// Builds the sinks `[flags]` configures, in order.
pub fn sinks_from_config(config: &FlagsConfig, store: &Store) -> Vec<Arc<dyn FlagSink>> {
    let mut sinks: Vec<Arc<dyn FlagSink>> = Vec::new();
    for kind in &config.sinks {
        match kind {
            SinkKind::Table => sinks.push(Arc::new(TableSink::new(store.clone()))),
            SinkKind::File => {
                if let Some(path) = &config.file {
                    sinks.push(Arc::new(FileSink::new(path.clone())));
                }
            }
        }
    }
    sinks
}
