//! The `judge_cache` table: a judge's verdict keyed by a hash of (evaluator version, input,
//! output, reference), so a rescore or a redone tick never pays for the same judgment twice.

use sqlx::Row;

use super::{Store, StoreError, StoreResult};
use crate::domain::{Outcome, Timestamp};
use crate::with_pool;

const SELECT_ENTRY: &str = "SELECT outcome, score, reason, prompt_tokens, completion_tokens, \
     cost_usd FROM judge_cache WHERE cache_key = $1";

const INSERT_ENTRY: &str = "INSERT INTO judge_cache (cache_key, evaluator_version, outcome, \
     score, reason, prompt_tokens, completion_tokens, cost_usd, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (cache_key) DO NOTHING";

/// A judgment as the cache keeps it (what was paid for it, once).
#[derive(Debug, Clone, PartialEq)]
pub struct CachedJudgment {
    /// Pass or fail (unscorable judgments are not cached: a later try may succeed).
    pub outcome: Outcome,
    /// The judge's score.
    pub score: Option<f64>,
    /// The judge's reason.
    pub reason: String,
    /// Prompt tokens the original judgment used.
    pub prompt_tokens: i64,
    /// Completion tokens the original judgment used.
    pub completion_tokens: i64,
    /// What the original judgment cost.
    pub cost_usd: f64,
}

impl Store {
    /// The cached judgment under `cache_key`, if any.
    pub async fn judge_cache_get(&self, cache_key: &str) -> StoreResult<Option<CachedJudgment>> {
        with_pool!(self, pool => {
            let row_opt = sqlx::query(SELECT_ENTRY).bind(cache_key).fetch_optional(pool).await?;
            let Some(row) = row_opt else {
                return Ok(None);
            };
            let outcome_text: String = row.try_get("outcome")?;
            let outcome = Outcome::parse(&outcome_text).ok_or_else(|| StoreError::BadValue {
                table: "judge_cache",
                column: "outcome",
                detail: outcome_text.clone(),
            })?;
            Ok(Some(CachedJudgment {
                outcome,
                score: row.try_get("score")?,
                reason: row.try_get("reason")?,
                prompt_tokens: row.try_get("prompt_tokens")?,
                completion_tokens: row.try_get("completion_tokens")?,
                cost_usd: row.try_get("cost_usd")?,
            }))
        })
    }

    /// Stores a judgment under `cache_key` (the first one written wins).
    pub async fn judge_cache_put(
        &self,
        cache_key: &str,
        evaluator_version: &str,
        judgment: &CachedJudgment,
        now: Timestamp,
    ) -> StoreResult<()> {
        with_pool!(self, pool => {
            sqlx::query(INSERT_ENTRY)
                .bind(cache_key)
                .bind(evaluator_version)
                .bind(judgment.outcome.as_str())
                .bind(judgment.score)
                .bind(&judgment.reason)
                .bind(judgment.prompt_tokens)
                .bind(judgment.completion_tokens)
                .bind(judgment.cost_usd)
                .bind(now)
                .execute(pool)
                .await?;
        });
        Ok(())
    }
}
