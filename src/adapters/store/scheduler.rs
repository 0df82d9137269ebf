//! The scheduler's own rows: the last completed scheduled time per job (`ticks`, `drills`) and
//! the leader's heartbeat (`scheduler_state`, `scheduler_leader`, migration 0006).

use super::{Store, StoreResult};
use crate::domain::Timestamp;
use crate::with_pool;

const LAST_RUN_SQL: &str = "SELECT last_run_at FROM scheduler_state WHERE job = $1";
const SET_LAST_RUN_SQL: &str = "INSERT INTO scheduler_state (job, last_run_at, updated_at) \
     VALUES ($1, $2, $3) \
     ON CONFLICT (job) DO UPDATE SET last_run_at = excluded.last_run_at, updated_at = excluded.updated_at";
const HEARTBEAT_SQL: &str = "INSERT INTO scheduler_leader (id, holder, heartbeat_at) VALUES (1, $1, $2) \
     ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, heartbeat_at = excluded.heartbeat_at";
const LEADER_SQL: &str = "SELECT holder, heartbeat_at FROM scheduler_leader WHERE id = 1";
const NEWEST_REQUEST_SQL: &str = "SELECT MAX(ts) FROM requests";

impl Store {
    /// The last completed scheduled time of `job`, if it ever ran.
    pub async fn scheduler_last_run(&self, job: &str) -> StoreResult<Option<Timestamp>> {
        let row: Option<Timestamp> = with_pool!(self, pool => {
            sqlx::query_scalar(LAST_RUN_SQL).bind(job).fetch_optional(pool).await?
        });
        Ok(row)
    }

    /// Records that `job`'s run at `at` completed (written at `now`).
    pub async fn scheduler_set_last_run(
        &self,
        job: &str,
        at: Timestamp,
        now: Timestamp,
    ) -> StoreResult<()> {
        with_pool!(self, pool => {
            sqlx::query(SET_LAST_RUN_SQL).bind(job).bind(at).bind(now).execute(pool).await?;
        });
        Ok(())
    }

    /// Records that `holder` holds the scheduler at `now`.
    pub async fn scheduler_heartbeat(&self, holder: &str, now: Timestamp) -> StoreResult<()> {
        with_pool!(self, pool => {
            sqlx::query(HEARTBEAT_SQL).bind(holder).bind(now).execute(pool).await?;
        });
        Ok(())
    }

    /// Who last held the scheduler and when it last beat.
    pub async fn scheduler_leader(&self) -> StoreResult<Option<(String, Timestamp)>> {
        let row: Option<(String, Timestamp)> = with_pool!(self, pool => {
            sqlx::query_as(LEADER_SQL).fetch_optional(pool).await?
        });
        Ok(row)
    }

    /// The start time of the newest request in the log store (for the ingest-lag gauge).
    pub async fn newest_request_ts(&self) -> StoreResult<Option<Timestamp>> {
        let row: Option<Timestamp> = with_pool!(self, pool => {
            sqlx::query_scalar(NEWEST_REQUEST_SQL).fetch_one(pool).await?
        });
        Ok(row)
    }
}

impl Store {
    /// Closes the pool (at shutdown), waiting for checked-out connections to return.
    pub async fn close(&self) {
        with_pool!(self, pool => pool.close().await);
    }
}
