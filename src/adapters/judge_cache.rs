//! The judgment cache: an in-memory layer over the `judge_cache` table (when there is a store),
//! so a judgment with the same evaluator version and content is paid for once, across ticks,
//! rescores and restarts. Store errors degrade to a cache miss (logged), never to a failure.

use std::collections::HashMap;
use std::sync::Mutex;

use super::store::{CachedJudgment, Store};
use crate::domain::Timestamp;

/// Entries kept in memory before the layer is cleared (the store keeps everything).
const MEMORY_CAPACITY: usize = 50_000;

/// Cached judgments by key (`judge_prompt::judgment_cache_key`).
#[derive(Debug, Default)]
pub struct JudgmentCache {
    memory: Mutex<HashMap<String, CachedJudgment>>,
    store_opt: Option<Store>,
}

impl JudgmentCache {
    /// A cache in memory, backed by `store_opt` when given.
    pub fn new(store_opt: Option<Store>) -> JudgmentCache {
        JudgmentCache {
            memory: Mutex::new(HashMap::new()),
            store_opt,
        }
    }

    /// The judgment under `key`, from memory or the store.
    pub async fn get(&self, key: &str) -> Option<CachedJudgment> {
        if let Some(found) = self.lock().get(key) {
            return Some(found.clone());
        }
        let store = self.store_opt.as_ref()?;
        match store.judge_cache_get(key).await {
            Ok(Some(found)) => {
                self.remember(key, &found);
                Some(found)
            }
            Ok(None) => None,
            Err(err) => {
                tracing::warn!(error = %err, "judge cache read failed; treating as a miss");
                None
            }
        }
    }

    /// Keeps `judgment` under `key` in memory and in the store.
    pub async fn put(
        &self,
        key: &str,
        evaluator_version: &str,
        judgment: &CachedJudgment,
        now: Timestamp,
    ) {
        self.remember(key, judgment);
        let Some(store) = &self.store_opt else {
            return;
        };
        if let Err(err) = store
            .judge_cache_put(key, evaluator_version, judgment, now)
            .await
        {
            tracing::warn!(error = %err, "judge cache write failed");
        }
    }

    /// Entries held in memory.
    pub fn len_in_memory(&self) -> usize {
        self.lock().len()
    }

    fn remember(&self, key: &str, judgment: &CachedJudgment) {
        let mut memory = self.lock();
        if memory.len() >= MEMORY_CAPACITY {
            memory.clear();
        }
        memory.insert(key.to_string(), judgment.clone());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, CachedJudgment>> {
        self.memory
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
