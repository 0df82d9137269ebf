//! The append-only `eval_scores` table: one row per (request, evaluator, evaluator version).
//! Inserting a row that exists is a no-op, so a redone tick or a rescore never counts twice.

use std::collections::HashSet;
use std::sync::Arc;

use sqlx::Row;

use super::placeholders::Placeholders;
use super::{Store, StoreError, StoreResult};
use crate::domain::{Outcome, Score, Timestamp};
use crate::with_pool;

const SCORE_COLUMNS: usize = 11;
/// Most score rows per INSERT statement (2,816 parameters; a power of two): one statement per
/// row made rescore round-trip-bound (BENCHMARKS.md, rescore).
const SCORES_PER_STATEMENT: usize = 256;

/// The row counts of the statements that insert `rows` rows: full statements, then the rest
/// as its binary digits (e.g. 700 → 256, 256, 128, 32, 16, 8, 4). Only nine statement texts
/// exist, so each is prepared once and stays in sqlx's statement cache; cutting the rest as
/// one statement of its own size gave up to 200 texts, more than the cache holds, and a batch
/// of whatever had arrived re-prepared a 2,000-parameter statement most of the time.
fn statement_sizes(rows: usize) -> impl Iterator<Item = usize> {
    let full = std::iter::repeat_n(SCORES_PER_STATEMENT, rows / SCORES_PER_STATEMENT);
    let rest = rows % SCORES_PER_STATEMENT;
    let digits = (0..SCORES_PER_STATEMENT.trailing_zeros())
        .rev()
        .map(|bit| 1usize << bit)
        .filter(move |size| rest & size != 0);
    full.chain(digits)
}

fn insert_scores_sql(style: Placeholders, rows: usize) -> String {
    format!(
        "INSERT INTO eval_scores (request_id, evaluator, evaluator_version, outcome, score, \
         reason, latency_ms, prompt_tokens, completion_tokens, cost_usd, scored_at) VALUES {} \
         ON CONFLICT (request_id, evaluator, evaluator_version) DO NOTHING",
        style.rows(rows, SCORE_COLUMNS)
    )
}

const SELECT_COLUMNS: &str = "SELECT request_id, evaluator, evaluator_version, outcome, score, \
     reason, latency_ms, prompt_tokens, completion_tokens, cost_usd FROM eval_scores";

/// Ids per query, well below SQLite's and PostgreSQL's bind limits.
const CHUNK: usize = 400;

/// Identifies one stored score.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ScoreKey {
    /// The scored request.
    pub request_id: String,
    /// The evaluator's name.
    pub evaluator: String,
    /// The evaluator's version.
    pub evaluator_version: String,
}

impl ScoreKey {
    /// The key of `score`.
    pub fn of(score: &Score) -> ScoreKey {
        ScoreKey {
            request_id: score.request_id.clone(),
            evaluator: score.evaluator.clone(),
            evaluator_version: score.evaluator_version.clone(),
        }
    }
}

impl Store {
    /// Appends `scores` in one transaction (on PostgreSQL, one statement); rows that exist are
    /// skipped. Returns how many rows were new.
    pub async fn insert_scores(&self, scores: &[Score], scored_at: Timestamp) -> StoreResult<u64> {
        if scores.is_empty() {
            return Ok(0);
        }
        let pool = match self {
            Store::Postgres(pool) => return insert_scores_unnest(pool, scores, scored_at).await,
            Store::Sqlite(pool) => pool,
        };
        let style = self.placeholders();
        // sqlx's SQLite binds own their text: a `&String` is cloned into a new `Arc`, a
        // timestamp formatted per row. The values every row repeats (evaluator, version,
        // outcome, `scored_at`) are bound as shared `Arc<str>`s, made once per call; the
        // timestamp text is what sqlx's own encoding of it writes.
        let mut shared = SharedText::default();
        let scored_at_text: Arc<str> = Arc::from(sqlite_time_text(scored_at));
        let mut tx = pool.begin().await?;
        let mut inserted = 0u64;
        let mut rest = scores;
        for size in statement_sizes(scores.len()) {
            let (chunk, after) = rest.split_at(size);
            rest = after;
            let sql = insert_scores_sql(style, chunk.len());
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for score in chunk {
                query = query
                    .bind(score.request_id.as_str())
                    .bind(shared.get(&score.evaluator))
                    .bind(shared.get(&score.evaluator_version))
                    .bind(shared.get(score.outcome.as_str()))
                    .bind(score.score)
                    .bind(score.reason.as_str())
                    .bind(score.latency_ms)
                    .bind(score.prompt_tokens)
                    .bind(score.completion_tokens)
                    .bind(score.cost_usd)
                    .bind(scored_at_text.clone());
            }
            inserted += query.execute(&mut *tx).await?.rows_affected();
        }
        tx.commit().await?;
        Ok(inserted)
    }

    /// Stored scores of `request_ids`, restricted to `evaluator_versions` unless that is empty.
    pub async fn scores_for(
        &self,
        request_ids: &[String],
        evaluator_versions: &[String],
    ) -> StoreResult<Vec<Score>> {
        let mut scores = Vec::new();
        let style = self.placeholders();
        for ids in request_ids.chunks(CHUNK) {
            let mut sql = format!(
                "{SELECT_COLUMNS} WHERE request_id IN ({})",
                style.list(1, ids.len())
            );
            if !evaluator_versions.is_empty() {
                sql.push_str(&format!(
                    " AND evaluator_version IN ({})",
                    style.list(ids.len() + 1, evaluator_versions.len())
                ));
            }
            sql.push_str(" ORDER BY request_id, evaluator");
            let rows = with_pool!(self, pool => {
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.clone()));
                for id in ids {
                    query = query.bind(id);
                }
                for version in evaluator_versions {
                    query = query.bind(version);
                }
                let rows = query.fetch_all(pool).await?;
                rows.iter().map(read_score).collect::<StoreResult<Vec<Score>>>()
            })?;
            scores.extend(rows);
        }
        Ok(scores)
    }

    /// The (request, evaluator, version) keys stored for `request_ids`.
    pub async fn scored_keys(&self, request_ids: &[String]) -> StoreResult<HashSet<ScoreKey>> {
        let scores = self.scores_for(request_ids, &[]).await?;
        Ok(scores.iter().map(ScoreKey::of).collect())
    }

    /// True when a score for this exact key is stored.
    pub async fn has_score(&self, key: &ScoreKey) -> StoreResult<bool> {
        const SQL: &str = "SELECT COUNT(*) FROM eval_scores \
             WHERE request_id = $1 AND evaluator = $2 AND evaluator_version = $3";
        let count: i64 = with_pool!(self, pool => {
            sqlx::query_scalar(SQL)
                .bind(&key.request_id)
                .bind(&key.evaluator)
                .bind(&key.evaluator_version)
                .fetch_one(pool)
                .await?
        });
        Ok(count > 0)
    }
}

/// A timestamp as sqlx's SQLite encoding of `DateTime<Utc>` writes it (the test checks it
/// against sqlx), so a pre-formatted bind stores the same text.
fn sqlite_time_text(at: Timestamp) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false)
}

/// Most distinct texts [`SharedText`] keeps (a suite has a handful of evaluators); past it a
/// text is allocated per row, as sqlx would.
const SHARED_TEXTS: usize = 32;

/// The few distinct texts a batch of scores repeats, each allocated once (a linear scan).
#[derive(Default)]
struct SharedText {
    texts: Vec<Arc<str>>,
}

impl SharedText {
    fn get(&mut self, text: &str) -> Arc<str> {
        if let Some(shared) = self.texts.iter().find(|shared| &***shared == text) {
            return shared.clone();
        }
        let shared: Arc<str> = Arc::from(text);
        if self.texts.len() < SHARED_TEXTS {
            self.texts.push(shared.clone());
        }
        shared
    }
}

/// PostgreSQL: one statement per transaction whatever the row count, the columns bound as 10
/// arrays (`UNNEST`), so the statement text is the same every time (prepared once per
/// connection) and there is no bind limit to chunk around.
const INSERT_SCORES_UNNEST: &str = "INSERT INTO eval_scores (request_id, evaluator, \
     evaluator_version, outcome, score, reason, latency_ms, prompt_tokens, completion_tokens, \
     cost_usd, scored_at) \
     SELECT request_id, evaluator, evaluator_version, outcome, score, reason, latency_ms, \
       prompt_tokens, completion_tokens, cost_usd, $11 \
     FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::float8[], $6::text[], \
       $7::float8[], $8::int8[], $9::int8[], $10::float8[]) \
       AS t(request_id, evaluator, evaluator_version, outcome, score, reason, latency_ms, \
       prompt_tokens, completion_tokens, cost_usd) \
     ON CONFLICT (request_id, evaluator, evaluator_version) DO NOTHING";

async fn insert_scores_unnest(
    pool: &sqlx::PgPool,
    scores: &[Score],
    scored_at: Timestamp,
) -> StoreResult<u64> {
    let mut request_ids = Vec::with_capacity(scores.len());
    let mut evaluators = Vec::with_capacity(scores.len());
    let mut versions = Vec::with_capacity(scores.len());
    let mut outcomes = Vec::with_capacity(scores.len());
    let mut values = Vec::with_capacity(scores.len());
    let mut reasons = Vec::with_capacity(scores.len());
    let mut latencies = Vec::with_capacity(scores.len());
    let mut prompt_tokens = Vec::with_capacity(scores.len());
    let mut completion_tokens = Vec::with_capacity(scores.len());
    let mut costs = Vec::with_capacity(scores.len());
    for score in scores {
        request_ids.push(score.request_id.as_str());
        evaluators.push(score.evaluator.as_str());
        versions.push(score.evaluator_version.as_str());
        outcomes.push(score.outcome.as_str());
        values.push(score.score);
        reasons.push(score.reason.as_str());
        latencies.push(score.latency_ms);
        prompt_tokens.push(score.prompt_tokens);
        completion_tokens.push(score.completion_tokens);
        costs.push(score.cost_usd);
    }
    let result = sqlx::query(INSERT_SCORES_UNNEST)
        .bind(request_ids)
        .bind(evaluators)
        .bind(versions)
        .bind(outcomes)
        .bind(values)
        .bind(reasons)
        .bind(latencies)
        .bind(prompt_tokens)
        .bind(completion_tokens)
        .bind(costs)
        .bind(scored_at)
        .execute(pool)
        .await?;
    Ok(result.rows_affected())
}

fn read_score<R>(row: &R) -> StoreResult<Score>
where
    R: Row,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<f64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> f64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let outcome_text: String = row.try_get("outcome")?;
    let outcome = Outcome::parse(&outcome_text).ok_or_else(|| StoreError::BadValue {
        table: "eval_scores",
        column: "outcome",
        detail: outcome_text.clone(),
    })?;
    Ok(Score {
        request_id: row.try_get("request_id")?,
        evaluator: row.try_get("evaluator")?,
        evaluator_version: row.try_get("evaluator_version")?,
        outcome,
        score: row.try_get("score")?,
        reason: row.try_get("reason")?,
        latency_ms: row.try_get("latency_ms")?,
        prompt_tokens: row.try_get("prompt_tokens")?,
        completion_tokens: row.try_get("completion_tokens")?,
        cost_usd: row.try_get("cost_usd")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_time_text_is_what_sqlx_writes_for_a_timestamp() {
        use chrono::TimeZone;
        let pool = sqlx::SqlitePool::connect("sqlite::memory:").await.unwrap();
        let whole = chrono::Utc.timestamp_opt(1_700_000_000, 0).unwrap();
        for at in [
            whole,
            whole + chrono::Duration::milliseconds(250),
            whole + chrono::Duration::microseconds(123_456),
            whole + chrono::Duration::nanoseconds(7),
        ] {
            let by_sqlx: String = sqlx::query_scalar("SELECT ?")
                .bind(at)
                .fetch_one(&pool)
                .await
                .unwrap();
            assert_eq!(sqlite_time_text(at), by_sqlx, "{at:?}");
        }
    }

    #[test]
    fn shared_texts_are_allocated_once_up_to_the_cap() {
        let mut shared = SharedText::default();
        let first = shared.get("support/no-refusal");
        let again = shared.get("support/no-refusal");
        assert!(Arc::ptr_eq(&first, &again));
        assert_eq!(&*shared.get("v1"), "v1");
        for index in 0..SHARED_TEXTS * 2 {
            let text = format!("evaluator-{index}");
            assert_eq!(&*shared.get(&text), text.as_str());
        }
        assert_eq!(shared.texts.len(), SHARED_TEXTS);
    }

    #[test]
    fn statement_sizes_cover_the_rows_with_few_distinct_texts() {
        let mut texts = HashSet::new();
        for rows in 0..2_000 {
            let sizes: Vec<usize> = statement_sizes(rows).collect();
            assert_eq!(sizes.iter().sum::<usize>(), rows, "{rows}: {sizes:?}");
            assert!(sizes.iter().all(|size| size.is_power_of_two()), "{sizes:?}");
            assert!(sizes.windows(2).all(|pair| pair[0] >= pair[1]), "{sizes:?}");
            texts.extend(sizes);
        }
        assert_eq!(texts.len(), 9, "{texts:?}");
        assert_eq!(
            statement_sizes(700).collect::<Vec<_>>(),
            [256, 256, 128, 32, 16, 8, 4]
        );
    }
}
