//! The `ticks` table (one row per rollout and window start: the key that makes a tick
//! idempotent) and the `score_queue` that replicas on PostgreSQL share with
//! `FOR UPDATE SKIP LOCKED`.

use sqlx::Row;

use super::{Store, StoreError, StoreResult};
use crate::domain::Timestamp;
use crate::with_pool;

/// Identifies one tick of one rollout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TickKey {
    /// The rollout.
    pub rollout_id: String,
    /// Start of the scored window.
    pub window_start: Timestamp,
}

/// The progress a tick row records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TickStatus {
    /// Sampling and scoring are under way (or were, when the process died).
    Running,
    /// Gates are updated and persisted; the controller step may still be pending.
    Gated,
    /// Everything, including the controller step, is done.
    Done,
}

impl TickStatus {
    fn as_str(self) -> &'static str {
        match self {
            TickStatus::Running => "running",
            TickStatus::Gated => "gated",
            TickStatus::Done => "done",
        }
    }

    fn parse(text: &str) -> StoreResult<TickStatus> {
        match text {
            "running" => Ok(TickStatus::Running),
            "gated" => Ok(TickStatus::Gated),
            "done" => Ok(TickStatus::Done),
            other => Err(StoreError::BadValue {
                table: "ticks",
                column: "status",
                detail: format!("unknown tick status `{other}` (expected running, gated or done)"),
            }),
        }
    }
}

/// What `begin_tick` found.
#[derive(Debug, Clone, PartialEq)]
pub enum TickClaim {
    /// A new tick: nothing was done for this window before.
    Fresh,
    /// A tick that started before and did not finish (a crash or a kill): redo from `status`.
    Resume {
        status: TickStatus,
        attempts: i64,
        report: Option<serde_json::Value>,
    },
    /// The tick finished before; here is what it decided.
    Done { report: Option<serde_json::Value> },
}

/// The newest tick row of a rollout.
#[derive(Debug, Clone, PartialEq)]
pub struct LatestTick {
    /// Start of its canary window.
    pub window_start: Timestamp,
    /// The tick time.
    pub tick_at: Timestamp,
    /// The stage it ran in.
    pub stage_index: i64,
    /// How far it got.
    pub status: TickStatus,
    /// Its report (`pipeline::RolloutTick`), once it was gated.
    pub report: Option<serde_json::Value>,
}

/// One claimed unit of scoring work.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueItem {
    /// The tick it belongs to.
    pub key: TickKey,
    /// The request to score.
    pub request_id: String,
    /// The suite to score it with.
    pub suite: String,
}

/// What a tick row starts with.
#[derive(Debug, Clone, PartialEq)]
pub struct TickStart<'a> {
    /// End of the canary window.
    pub window_end: Timestamp,
    /// The tick time (what the window is computed from).
    pub tick_at: Timestamp,
    /// The wall time the tick started (differs from `tick_at` for `tick --at` and backfills).
    pub started_at: Timestamp,
    /// The stage the tick runs in.
    pub stage_index: i64,
    /// The seed of the outcome-blind pairing.
    pub pairing_seed: u64,
    /// The process running it.
    pub worker: &'a str,
}

const INSERT_TICK: &str = "INSERT INTO ticks (rollout_id, window_start, window_end, tick_at, stage_index, \
     pairing_seed, status, attempts, worker, started_at) \
     VALUES ($1, $2, $3, $4, $5, $6, 'running', 1, $7, $8) ON CONFLICT DO NOTHING";
const SELECT_TICK: &str =
    "SELECT status, attempts, report FROM ticks WHERE rollout_id = $1 AND window_start = $2";
const RETRY_TICK: &str = "UPDATE ticks SET attempts = attempts + 1, worker = $3 \
     WHERE rollout_id = $1 AND window_start = $2";
const MARK_TICK: &str = "UPDATE ticks SET status = $3, report = $4, finished_at = $5 \
     WHERE rollout_id = $1 AND window_start = $2";
const LAST_DONE: &str =
    "SELECT MAX(tick_at) FROM ticks WHERE status = 'done' AND ($1 IS NULL OR rollout_id = $1)";
const LATEST_TICK: &str = "SELECT window_start, tick_at, stage_index, status, report FROM ticks \
     WHERE rollout_id = $1 ORDER BY window_start DESC LIMIT 1";
const COUNT_TICKS: &str = "SELECT COUNT(*) FROM ticks WHERE rollout_id = $1 AND status = 'done'";

const ENQUEUE: &str = "INSERT INTO score_queue (rollout_id, window_start, request_id, suite, seq, status) \
     VALUES ($1, $2, $3, $4, $5, 'pending') ON CONFLICT DO NOTHING";
const CLAIM_PG: &str = "UPDATE score_queue SET status = 'claimed', claimed_by = $1, claimed_at = $2 \
     WHERE (rollout_id, window_start, request_id) IN ( \
       SELECT rollout_id, window_start, request_id FROM score_queue \
       WHERE status = 'pending' OR (status = 'claimed' AND claimed_at < $3) \
       ORDER BY seq LIMIT $4 FOR UPDATE SKIP LOCKED) \
     RETURNING rollout_id, window_start, request_id, suite";
const CLAIM_SQLITE: &str = "UPDATE score_queue SET status = 'claimed', claimed_by = $1, claimed_at = $2 \
     WHERE (rollout_id, window_start, request_id) IN ( \
       SELECT rollout_id, window_start, request_id FROM score_queue \
       WHERE status = 'pending' OR (status = 'claimed' AND claimed_at < $3) \
       ORDER BY seq LIMIT $4) \
     RETURNING rollout_id, window_start, request_id, suite";
const COMPLETE: &str = "UPDATE score_queue SET status = 'done' \
     WHERE rollout_id = $1 AND window_start = $2 AND request_id = $3";
const RELEASE: &str = "UPDATE score_queue SET status = 'pending', claimed_by = NULL, claimed_at = NULL \
     WHERE rollout_id = $1 AND window_start = $2 AND status = 'claimed'";
const OPEN_ITEMS: &str = "SELECT COUNT(*) FROM score_queue \
     WHERE rollout_id = $1 AND window_start = $2 AND status <> 'done'";
const CLAIMS_BY: &str = "SELECT claimed_by, COUNT(*) FROM score_queue \
     WHERE rollout_id = $1 AND window_start = $2 AND status = 'done' GROUP BY claimed_by";

impl Store {
    /// Starts the tick for `key` (at the tick time `start.tick_at`, on the wall clock at
    /// `start.started_at`), or reports that it is under way or done.
    pub async fn begin_tick(&self, key: &TickKey, start: &TickStart<'_>) -> StoreResult<TickClaim> {
        let seed_bits = i64::from_ne_bytes(start.pairing_seed.to_ne_bytes());
        let inserted = with_pool!(self, pool => sqlx::query(INSERT_TICK)
            .bind(&key.rollout_id).bind(key.window_start).bind(start.window_end)
            .bind(start.tick_at).bind(start.stage_index).bind(seed_bits).bind(start.worker)
            .bind(start.started_at)
            .execute(pool).await?.rows_affected());
        if inserted == 1 {
            return Ok(TickClaim::Fresh);
        }
        let (status, attempts, report) = with_pool!(self, pool => {
            let row = sqlx::query(SELECT_TICK).bind(&key.rollout_id).bind(key.window_start)
                .fetch_one(pool).await?;
            let status: String = row.try_get(0)?;
            let attempts: i64 = row.try_get(1)?;
            let report: Option<sqlx::types::Json<serde_json::Value>> = row.try_get(2)?;
            (status, attempts, report.map(|json| json.0))
        });
        let status = TickStatus::parse(&status)?;
        if status == TickStatus::Done {
            return Ok(TickClaim::Done { report });
        }
        with_pool!(self, pool => sqlx::query(RETRY_TICK).bind(&key.rollout_id)
            .bind(key.window_start).bind(start.worker).execute(pool).await?.rows_affected());
        Ok(TickClaim::Resume {
            status,
            attempts: attempts + 1,
            report,
        })
    }

    /// The status and report of a tick, if it was ever started (reads only).
    pub async fn tick_report(
        &self,
        key: &TickKey,
    ) -> StoreResult<Option<(TickStatus, Option<serde_json::Value>)>> {
        let row = with_pool!(self, pool => {
            let row_opt = sqlx::query(SELECT_TICK).bind(&key.rollout_id).bind(key.window_start)
                .fetch_optional(pool).await?;
            match row_opt {
                Some(row) => {
                    let status: String = row.try_get(0)?;
                    let report: Option<sqlx::types::Json<serde_json::Value>> = row.try_get(2)?;
                    Some((status, report.map(|json| json.0)))
                }
                None => None,
            }
        });
        row.map(|(status, report)| Ok((TickStatus::parse(&status)?, report)))
            .transpose()
    }

    /// Records a tick's progress and what it decided so far.
    pub async fn mark_tick(
        &self,
        key: &TickKey,
        status: TickStatus,
        report: &serde_json::Value,
        finished_at: Option<Timestamp>,
    ) -> StoreResult<()> {
        with_pool!(self, pool => sqlx::query(MARK_TICK)
            .bind(&key.rollout_id).bind(key.window_start).bind(status.as_str())
            .bind(sqlx::types::Json(report)).bind(finished_at)
            .execute(pool).await?.rows_affected());
        Ok(())
    }

    /// The tick time of the newest finished tick (of one rollout, or of any).
    pub async fn last_done_tick(&self, rollout_id: Option<&str>) -> StoreResult<Option<Timestamp>> {
        let last: Option<Timestamp> = with_pool!(self, pool => sqlx::query_scalar(LAST_DONE)
            .bind(rollout_id).fetch_one(pool).await?);
        Ok(last)
    }

    /// The newest tick (by window) of a rollout, whatever its status.
    pub async fn latest_tick(&self, rollout_id: &str) -> StoreResult<Option<LatestTick>> {
        let row_opt = with_pool!(self, pool => {
            let row_opt = sqlx::query(LATEST_TICK).bind(rollout_id).fetch_optional(pool).await?;
            match row_opt {
                Some(row) => {
                    let window_start: Timestamp = row.try_get(0)?;
                    let tick_at: Timestamp = row.try_get(1)?;
                    let stage_index: i64 = row.try_get(2)?;
                    let status: String = row.try_get(3)?;
                    let report: Option<sqlx::types::Json<serde_json::Value>> = row.try_get(4)?;
                    Some((window_start, tick_at, stage_index, status, report.map(|json| json.0)))
                }
                None => None,
            }
        });
        let Some((window_start, tick_at, stage_index, status, report)) = row_opt else {
            return Ok(None);
        };
        Ok(Some(LatestTick {
            window_start,
            tick_at,
            stage_index,
            status: TickStatus::parse(&status)?,
            report,
        }))
    }

    /// How many ticks of a rollout finished.
    pub async fn count_done_ticks(&self, rollout_id: &str) -> StoreResult<i64> {
        let count: i64 = with_pool!(self, pool => sqlx::query_scalar(COUNT_TICKS)
            .bind(rollout_id).fetch_one(pool).await?);
        Ok(count)
    }

    /// Queues the scoring of `request_ids` for a tick (idempotent).
    pub async fn enqueue_scoring(
        &self,
        key: &TickKey,
        suite: &str,
        request_ids: &[String],
    ) -> StoreResult<()> {
        let base = key.window_start.timestamp() * 10_000;
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for (index, request_id) in request_ids.iter().enumerate() {
                let seq = base + i64::try_from(index).unwrap_or(i64::MAX - base);
                sqlx::query(ENQUEUE).bind(&key.rollout_id).bind(key.window_start)
                    .bind(request_id).bind(suite).bind(seq).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Claims up to `limit` pending items (or items whose claim is older than `stale_before`).
    pub async fn claim_scoring(
        &self,
        worker: &str,
        now: Timestamp,
        stale_before: Timestamp,
        limit: i64,
    ) -> StoreResult<Vec<QueueItem>> {
        let rows = match self {
            Store::Postgres(pool) => sqlx::query(CLAIM_PG)
                .bind(worker)
                .bind(now)
                .bind(stale_before)
                .bind(limit)
                .fetch_all(pool)
                .await?
                .into_iter()
                .map(queue_item_pg)
                .collect::<Result<Vec<_>, _>>()?,
            Store::Sqlite(pool) => sqlx::query(CLAIM_SQLITE)
                .bind(worker)
                .bind(now)
                .bind(stale_before)
                .bind(limit)
                .fetch_all(pool)
                .await?
                .into_iter()
                .map(queue_item_sqlite)
                .collect::<Result<Vec<_>, _>>()?,
        };
        Ok(rows)
    }

    /// Marks claimed items done.
    pub async fn complete_scoring(&self, items: &[QueueItem]) -> StoreResult<()> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for item in items {
                sqlx::query(COMPLETE).bind(&item.key.rollout_id).bind(item.key.window_start)
                    .bind(&item.request_id).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Puts a tick's claimed items back to pending (a resumed tick's claims may belong to a
    /// process that died; if its owner is alive after all, the work is done twice, harmlessly,
    /// because scores are unique per evaluator version). Returns how many were released.
    pub async fn release_claims(&self, key: &TickKey) -> StoreResult<u64> {
        let released = with_pool!(self, pool => sqlx::query(RELEASE)
            .bind(&key.rollout_id).bind(key.window_start).execute(pool).await?.rows_affected());
        Ok(released)
    }

    /// Items of a tick not yet done.
    pub async fn open_scoring(&self, key: &TickKey) -> StoreResult<i64> {
        let count: i64 = with_pool!(self, pool => sqlx::query_scalar(OPEN_ITEMS)
            .bind(&key.rollout_id).bind(key.window_start).fetch_one(pool).await?);
        Ok(count)
    }

    /// How many of a tick's items each worker scored.
    pub async fn scoring_by_worker(&self, key: &TickKey) -> StoreResult<Vec<(String, i64)>> {
        let rows: Vec<(Option<String>, i64)> = with_pool!(self, pool => sqlx::query_as(CLAIMS_BY)
            .bind(&key.rollout_id).bind(key.window_start).fetch_all(pool).await?);
        Ok(rows
            .into_iter()
            .map(|(worker, count)| (worker.unwrap_or_default(), count))
            .collect())
    }
}

fn queue_item_pg(row: sqlx::postgres::PgRow) -> Result<QueueItem, sqlx::Error> {
    Ok(QueueItem {
        key: TickKey {
            rollout_id: row.try_get(0)?,
            window_start: row.try_get(1)?,
        },
        request_id: row.try_get(2)?,
        suite: row.try_get(3)?,
    })
}

fn queue_item_sqlite(row: sqlx::sqlite::SqliteRow) -> Result<QueueItem, sqlx::Error> {
    Ok(QueueItem {
        key: TickKey {
            rollout_id: row.try_get(0)?,
            window_start: row.try_get(1)?,
        },
        request_id: row.try_get(2)?,
        suite: row.try_get(3)?,
    })
}
