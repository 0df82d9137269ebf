//! The rows that keep a gate gating (migration 0007): the per-rollout writer lease whose token
//! fences a tick's writes (`rollout_leases`), the per-rollout count of consecutive failed tick
//! windows, the notification outbox (`notify_outbox`, written in the transition's transaction and
//! delivered at least once), and the scheduler lease that makes one `serve` lead on SQLite.

use serde_json::Value;
use sqlx::types::Json;

use super::{Store, StoreError, StoreResult};
use crate::domain::Timestamp;
use crate::with_pool;

/// Proof that a writer still holds a rollout's lease: checked inside the transaction of every
/// gate and controller write of a tick, so a writer that lost its lease (expired and taken over)
/// cannot write evidence or a transition any more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    /// The rollout the lease is on.
    pub rollout_id: String,
    /// Who holds it.
    pub holder: String,
    /// Grows by one on every acquisition; a stale holder's token no longer matches.
    pub token: i64,
}

/// Who holds a rollout's lease, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseHolder {
    /// The holder's name.
    pub holder: String,
    /// When the lease runs out unless renewed.
    pub expires_at: Timestamp,
}

/// A notification waiting in the outbox (or delivered).
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxItem {
    /// Stable id: receivers dedupe on it (sent as `Idempotency-Key` and, in the JSON format, `id`).
    pub id: String,
    /// The rollout it is about.
    pub rollout_id: String,
    /// When the transition that produced it was committed.
    pub created_at: Timestamp,
    /// The rollout owner's webhook (None: the configured default).
    pub webhook: Option<String>,
    /// The notification (JSON of `adapters::notify::Notification`).
    pub notification: Value,
    /// Delivery attempts so far.
    pub attempts: i64,
    /// Not delivered before this time (a claim, or the next retry).
    pub next_attempt_at: Timestamp,
}

const ACQUIRE_LEASE: &str = "INSERT INTO rollout_leases (rollout_id, holder, token, acquired_at, \
     expires_at) VALUES ($1, $2, 1, $3, $4) \
     ON CONFLICT (rollout_id) DO UPDATE SET holder = excluded.holder, \
     token = rollout_leases.token + 1, acquired_at = excluded.acquired_at, \
     expires_at = excluded.expires_at \
     WHERE rollout_leases.expires_at <= excluded.acquired_at \
        OR rollout_leases.holder = excluded.holder \
     RETURNING token";
const RENEW_LEASE: &str = "UPDATE rollout_leases SET expires_at = $4 \
     WHERE rollout_id = $1 AND holder = $2 AND token = $3";
const RELEASE_LEASE: &str = "UPDATE rollout_leases SET expires_at = acquired_at \
     WHERE rollout_id = $1 AND holder = $2 AND token = $3";
const LEASE_HOLDER: &str = "SELECT holder, expires_at FROM rollout_leases WHERE rollout_id = $1";
/// Touches the lease row: 1 row while the fence holds. On PostgreSQL the row stays locked until
/// the transaction ends, so a takeover cannot slip in between the check and the commit.
pub(super) const CHECK_FENCE: &str = "UPDATE rollout_leases SET token = token \
     WHERE rollout_id = $1 AND holder = $2 AND token = $3";

const RECORD_FAILURE: &str = "UPDATE rollouts SET \
     failed_windows = CASE WHEN failing_window = $2 THEN failed_windows ELSE failed_windows + 1 END, \
     failing_window = $2, last_tick_error = $3 WHERE id = $1 RETURNING failed_windows";
const TICK_ERROR: &str =
    "UPDATE ticks SET last_error = $3 WHERE rollout_id = $1 AND window_start = $2";
const NEWEST_GATED: &str = "SELECT MAX(window_start) FROM ticks \
     WHERE rollout_id = $1 AND status IN ('gated', 'done')";
const SET_PENDING_SPLIT: &str = "UPDATE rollouts SET pending_split_bp = $2 WHERE id = $1";

pub(super) const INSERT_OUTBOX: &str = "INSERT INTO notify_outbox (id, rollout_id, created_at, \
     webhook, notification, attempts, next_attempt_at) VALUES ($1, $2, $3, $4, $5, 0, $6)";
const DUE_OUTBOX: &str = "SELECT id, rollout_id, created_at, webhook, notification, attempts, \
     next_attempt_at FROM notify_outbox WHERE delivered_at IS NULL AND next_attempt_at <= $1 \
     ORDER BY created_at, id LIMIT $2";
const CLAIM_OUTBOX: &str = "UPDATE notify_outbox SET next_attempt_at = $3, attempts = attempts + 1 \
     WHERE id = $1 AND next_attempt_at = $2 AND delivered_at IS NULL";
const DELIVERED_OUTBOX: &str =
    "UPDATE notify_outbox SET delivered_at = $2, last_error = NULL WHERE id = $1";
const RETRY_OUTBOX: &str =
    "UPDATE notify_outbox SET next_attempt_at = $2, last_error = $3 WHERE id = $1";
const PENDING_OUTBOX: &str = "SELECT COUNT(*) FROM notify_outbox WHERE delivered_at IS NULL";
const OUTBOX_OF: &str = "SELECT id, rollout_id, created_at, webhook, notification, attempts, \
     next_attempt_at FROM notify_outbox WHERE rollout_id = $1 ORDER BY created_at, id";

const CLAIM_LEADER: &str = "INSERT INTO scheduler_leader (id, holder, heartbeat_at) VALUES (1, $1, $2) \
     ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, heartbeat_at = excluded.heartbeat_at \
     WHERE scheduler_leader.holder = excluded.holder OR scheduler_leader.heartbeat_at < $3 \
        OR scheduler_leader.holder = $4 \
     RETURNING holder";
const LEADER_HOLDER: &str = "SELECT holder FROM scheduler_leader WHERE id = 1";
const TAKE_DEAD_LEASE: &str = "UPDATE rollout_leases SET holder = $3, token = token + 1, \
     acquired_at = $4, expires_at = $5 WHERE rollout_id = $1 AND holder = $2 RETURNING token";
const RELEASE_LEADER: &str = "DELETE FROM scheduler_leader WHERE id = 1 AND holder = $1";

type OutboxTuple = (
    String,
    String,
    Timestamp,
    Option<String>,
    Json<Value>,
    i64,
    Timestamp,
);

fn outbox_item(row: OutboxTuple) -> OutboxItem {
    let (id, rollout_id, created_at, webhook, notification, attempts, next_attempt_at) = row;
    OutboxItem {
        id,
        rollout_id,
        created_at,
        webhook,
        notification: notification.0,
        attempts,
        next_attempt_at,
    }
}

impl Store {
    /// Takes `rollout_id`'s writer lease until `expires_at` when it is free, expired, or already
    /// `holder`'s; returns the fence, or None while another holder's lease runs.
    pub async fn acquire_rollout_lease(
        &self,
        rollout_id: &str,
        holder: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> StoreResult<Option<Fence>> {
        let token: Option<i64> = with_pool!(self, pool => sqlx::query_scalar(ACQUIRE_LEASE)
            .bind(rollout_id).bind(holder).bind(now).bind(expires_at)
            .fetch_optional(pool).await?);
        Ok(token.map(|token| Fence {
            rollout_id: rollout_id.to_string(),
            holder: holder.to_string(),
            token,
        }))
    }

    /// Takes over `rollout_id`'s lease from `dead_holder` (a process known to have died), before
    /// it expires; None when someone else holds it by now.
    pub async fn take_dead_rollout_lease(
        &self,
        rollout_id: &str,
        dead_holder: &str,
        holder: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> StoreResult<Option<Fence>> {
        let token: Option<i64> = with_pool!(self, pool => sqlx::query_scalar(TAKE_DEAD_LEASE)
            .bind(rollout_id).bind(dead_holder).bind(holder).bind(now).bind(expires_at)
            .fetch_optional(pool).await?);
        Ok(token.map(|token| Fence {
            rollout_id: rollout_id.to_string(),
            holder: holder.to_string(),
            token,
        }))
    }

    /// Extends a held lease; false when it was lost (taken over after it expired).
    pub async fn renew_rollout_lease(
        &self,
        fence: &Fence,
        expires_at: Timestamp,
    ) -> StoreResult<bool> {
        let affected = with_pool!(self, pool => sqlx::query(RENEW_LEASE)
            .bind(&fence.rollout_id).bind(&fence.holder).bind(fence.token).bind(expires_at)
            .execute(pool).await?.rows_affected());
        Ok(affected == 1)
    }

    /// Gives a held lease up at once (the next writer need not wait for it to expire).
    pub async fn release_rollout_lease(&self, fence: &Fence) -> StoreResult<()> {
        with_pool!(self, pool => sqlx::query(RELEASE_LEASE)
            .bind(&fence.rollout_id).bind(&fence.holder).bind(fence.token)
            .execute(pool).await.map(|_| ())?);
        Ok(())
    }

    /// Who holds (or last held) a rollout's lease.
    pub async fn rollout_lease_holder(&self, rollout_id: &str) -> StoreResult<Option<LeaseHolder>> {
        let row: Option<(String, Timestamp)> = with_pool!(self, pool => sqlx::query_as(LEASE_HOLDER)
            .bind(rollout_id).fetch_optional(pool).await?);
        Ok(row.map(|(holder, expires_at)| LeaseHolder { holder, expires_at }))
    }

    /// Counts a failed tick of `rollout_id` for the window starting at `window_start` (a retry
    /// of the same window does not count again) and keeps its error on the rollout and the tick
    /// row. Returns the number of consecutive failed windows.
    pub async fn record_tick_failure(
        &self,
        rollout_id: &str,
        window_start: Timestamp,
        error: &str,
    ) -> StoreResult<i64> {
        let count: Option<i64> = with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let count: Option<i64> = sqlx::query_scalar(RECORD_FAILURE)
                .bind(rollout_id).bind(window_start).bind(error)
                .fetch_optional(&mut *tx).await?;
            sqlx::query(TICK_ERROR).bind(rollout_id).bind(window_start).bind(error)
                .execute(&mut *tx).await?;
            tx.commit().await?;
            count
        });
        count.ok_or_else(|| StoreError::BadValue {
            table: "rollouts",
            column: "id",
            detail: format!("no rollout `{rollout_id}` to count a failed tick against"),
        })
    }

    /// The newest window of a rollout whose gates were updated (`gated` or `done`).
    pub async fn newest_gated_window(&self, rollout_id: &str) -> StoreResult<Option<Timestamp>> {
        let newest: Option<Timestamp> = with_pool!(self, pool => sqlx::query_scalar(NEWEST_GATED)
            .bind(rollout_id).fetch_one(pool).await?);
        Ok(newest)
    }

    /// Records the split the controller is about to write to the sinks (cleared by the state
    /// commit), so a restart after a crash in between recognises its own write.
    pub async fn set_pending_split(&self, rollout_id: &str, basis_points: u32) -> StoreResult<()> {
        let bp = i64::from(basis_points);
        with_pool!(self, pool => sqlx::query(SET_PENDING_SPLIT)
            .bind(rollout_id).bind(bp).execute(pool).await.map(|_| ())?);
        Ok(())
    }

    /// Outbox items due at `now` (not delivered, not claimed), oldest first.
    pub async fn due_notifications(
        &self,
        now: Timestamp,
        limit: i64,
    ) -> StoreResult<Vec<OutboxItem>> {
        let rows: Vec<OutboxTuple> = with_pool!(self, pool => sqlx::query_as(DUE_OUTBOX)
            .bind(now).bind(limit).fetch_all(pool).await?);
        Ok(rows.into_iter().map(outbox_item).collect())
    }

    /// Every outbox item of a rollout, delivered or not (tests, status).
    pub async fn rollout_notifications(&self, rollout_id: &str) -> StoreResult<Vec<OutboxItem>> {
        let rows: Vec<OutboxTuple> = with_pool!(self, pool => sqlx::query_as(OUTBOX_OF)
            .bind(rollout_id).fetch_all(pool).await?);
        Ok(rows.into_iter().map(outbox_item).collect())
    }

    /// Claims a due item until `until` (one deliverer at a time); false when another took it.
    pub async fn claim_notification(
        &self,
        item: &OutboxItem,
        until: Timestamp,
    ) -> StoreResult<bool> {
        let affected = with_pool!(self, pool => sqlx::query(CLAIM_OUTBOX)
            .bind(&item.id).bind(item.next_attempt_at).bind(until)
            .execute(pool).await?.rows_affected());
        Ok(affected == 1)
    }

    /// Marks an item delivered.
    pub async fn notification_delivered(&self, id: &str, at: Timestamp) -> StoreResult<()> {
        with_pool!(self, pool => sqlx::query(DELIVERED_OUTBOX).bind(id).bind(at)
            .execute(pool).await.map(|_| ())?);
        Ok(())
    }

    /// Puts an item back for another attempt at `next_attempt_at`.
    pub async fn notification_retry(
        &self,
        id: &str,
        next_attempt_at: Timestamp,
        error: &str,
    ) -> StoreResult<()> {
        with_pool!(self, pool => sqlx::query(RETRY_OUTBOX).bind(id).bind(next_attempt_at)
            .bind(error).execute(pool).await.map(|_| ())?);
        Ok(())
    }

    /// Notifications not yet delivered.
    pub async fn pending_notifications(&self) -> StoreResult<i64> {
        let count: i64 = with_pool!(self, pool => sqlx::query_scalar(PENDING_OUTBOX)
            .fetch_one(pool).await?);
        Ok(count)
    }

    /// Takes or keeps the scheduler lease (SQLite: several processes can open one file, and only
    /// one may schedule): true when `holder` holds it, having beaten at `now`; another holder's
    /// lease is taken only when its last beat is older than `stale_before`, or when it is
    /// `dead_holder` (a process known to have died).
    pub async fn claim_scheduler_lease(
        &self,
        holder: &str,
        now: Timestamp,
        stale_before: Timestamp,
        dead_holder: Option<&str>,
    ) -> StoreResult<bool> {
        let dead = dead_holder.unwrap_or("");
        let row: Option<String> = with_pool!(self, pool => sqlx::query_scalar(CLAIM_LEADER)
            .bind(holder).bind(now).bind(stale_before).bind(dead).fetch_optional(pool).await?);
        Ok(row.is_some())
    }

    /// Who holds the scheduler lease row, if anyone.
    pub async fn scheduler_lease_holder(&self) -> StoreResult<Option<String>> {
        let row: Option<String> = with_pool!(self, pool => sqlx::query_scalar(LEADER_HOLDER)
            .fetch_optional(pool).await?);
        Ok(row)
    }

    /// Gives the scheduler lease up (at shutdown).
    pub async fn release_scheduler_lease(&self, holder: &str) -> StoreResult<()> {
        with_pool!(self, pool => sqlx::query(RELEASE_LEADER).bind(holder).execute(pool).await.map(|_| ())?);
        Ok(())
    }
}
