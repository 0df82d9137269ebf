//! The `traffic_splits` table as a flag sink (the HTTP endpoint `/v1/flags/{key}` serves it).

use super::{FlagSink, SinkFuture};
use crate::adapters::store::Store;
use crate::domain::{SplitRecord, SplitWrite};

/// Writes and reads splits in the store's `traffic_splits` table.
#[derive(Debug, Clone)]
pub struct TableSink {
    store: Store,
}

impl TableSink {
    /// A sink over `store`.
    pub fn new(store: Store) -> TableSink {
        TableSink { store }
    }
}

impl FlagSink for TableSink {
    fn name(&self) -> &str {
        "table"
    }

    fn write<'a>(&'a self, flag: &'a str, split: &'a SplitWrite) -> SinkFuture<'a, SplitRecord> {
        Box::pin(async move { Ok(self.store.put_split(flag, split).await?) })
    }

    fn read<'a>(&'a self, flag: &'a str) -> SinkFuture<'a, Option<SplitRecord>> {
        Box::pin(async move { Ok(self.store.get_split(flag).await?) })
    }
}
