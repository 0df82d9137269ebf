//! Who runs the scheduler. On PostgreSQL several `serve` replicas share one database and one of
//! them holds a session-level advisory lock on a dedicated connection; when that process dies its
//! session ends (or PostgreSQL restarts), PostgreSQL releases the lock and another replica takes
//! it on its next try. On SQLite a second process can open the same file: the leader holds a
//! lease in `scheduler_leader` that it renews, and another process leads only once the lease has
//! gone stale ([`SQLITE_LEASE_TTL`]). The scheduler checks [`LeaderLock::still_held`] every few
//! seconds while a tick runs and stops the tick at once when leadership is gone.

use sqlx::Connection as _;
use sqlx::postgres::PgConnection;

use super::Store;
use crate::domain::Timestamp;
use crate::logic::hash::sha256_u64;

/// A SQLite leader whose lease was not renewed for this long is presumed dead.
pub const SQLITE_LEASE_TTL: chrono::TimeDelta = chrono::TimeDelta::seconds(30);

/// The advisory lock key every replica contends for.
pub fn scheduler_lock_key() -> i64 {
    i64::from_be_bytes(sha256_u64(&[b"evalgate", b"scheduler"]).to_be_bytes())
}

/// The scheduler lock of this process.
#[derive(Debug)]
pub enum LeaderLock {
    /// SQLite: a renewed lease row.
    SqliteLease {
        /// The store holding the lease row.
        store: Store,
        /// This process's name in it.
        holder: String,
        /// Whether the last claim succeeded.
        held: bool,
    },
    /// PostgreSQL: the connection holding the advisory lock, when held.
    Postgres {
        /// The pool to take a dedicated connection from.
        pool: sqlx::PgPool,
        /// The detached connection whose session holds the lock.
        held: Option<PgConnection>,
    },
}

const TRY_LOCK_SQL: &str = "SELECT pg_try_advisory_lock($1)";
const UNLOCK_SQL: &str = "SELECT pg_advisory_unlock($1)";

impl LeaderLock {
    /// The lock for `store`'s backend, not yet taken.
    pub fn for_store(store: &Store, holder: &str) -> LeaderLock {
        match store {
            Store::Sqlite(_) => LeaderLock::SqliteLease {
                store: store.clone(),
                holder: holder.to_string(),
                held: false,
            },
            Store::Postgres(pool) => LeaderLock::Postgres {
                pool: pool.clone(),
                held: None,
            },
        }
    }

    /// True when this process holds the scheduler: checks that a held lock's session is still
    /// alive (renews the SQLite lease), or tries to take the lock. Errors count as "not the
    /// leader".
    pub async fn ensure(&mut self, now: Timestamp) -> bool {
        let (pool, held) = match self {
            LeaderLock::SqliteLease {
                store,
                holder,
                held,
            } => {
                let mut claimed = store
                    .claim_scheduler_lease(holder, now, now - SQLITE_LEASE_TTL, None)
                    .await;
                if matches!(claimed, Ok(false))
                    && let Ok(Some(other)) = store.scheduler_lease_holder().await
                    && crate::adapters::holder::is_dead(&other)
                {
                    tracing::info!(dead = %other, "the scheduler lease's holder is gone; taking over");
                    claimed = store
                        .claim_scheduler_lease(holder, now, now - SQLITE_LEASE_TTL, Some(&other))
                        .await;
                }
                let now_held = match claimed {
                    Ok(taken) => taken,
                    Err(err) => {
                        tracing::warn!(error = %err, "cannot renew the scheduler lease");
                        false
                    }
                };
                if now_held && !*held {
                    tracing::info!("took the scheduler lease");
                } else if !now_held && *held {
                    tracing::warn!("lost the scheduler lease");
                } else if !now_held {
                    tracing::debug!("another process leads the scheduler on this store");
                }
                *held = now_held;
                return now_held;
            }
            LeaderLock::Postgres { pool, held } => (pool, held),
        };
        if let Some(conn) = held.as_mut() {
            if conn.ping().await.is_ok() {
                return true;
            }
            tracing::warn!("lost the scheduler lock: its database session ended");
            *held = None;
        }
        match try_take(pool).await {
            Ok(Some(conn)) => {
                tracing::info!("took the scheduler lock");
                *held = Some(conn);
                true
            }
            Ok(None) => false,
            Err(err) => {
                tracing::warn!(error = %err, "cannot try the scheduler lock");
                false
            }
        }
    }

    /// Checks, without taking it anew, that a held lock is still held: the advisory lock's
    /// session answers (PostgreSQL), or the lease renews (SQLite). False steps down at once.
    pub async fn still_held(&mut self, now: Timestamp) -> bool {
        match self {
            LeaderLock::SqliteLease { held: false, .. } => false,
            LeaderLock::SqliteLease { .. } => self.ensure(now).await,
            LeaderLock::Postgres { held, .. } => {
                let Some(conn) = held.as_mut() else {
                    return false;
                };
                let alive = tokio::time::timeout(std::time::Duration::from_secs(2), conn.ping())
                    .await
                    .is_ok_and(|pinged| pinged.is_ok());
                if !alive {
                    tracing::warn!("lost the scheduler lock: its database session ended");
                    *held = None;
                }
                alive
            }
        }
    }

    /// Whether the lock is held right now (without checking the session).
    pub fn is_held(&self) -> bool {
        match self {
            LeaderLock::SqliteLease { held, .. } => *held,
            LeaderLock::Postgres { held, .. } => held.is_some(),
        }
    }

    /// Releases the lock (at shutdown, so another replica can take over at once).
    pub async fn release(&mut self) {
        let held = match self {
            LeaderLock::SqliteLease {
                store,
                holder,
                held,
            } => {
                if *held && let Err(err) = store.release_scheduler_lease(holder).await {
                    tracing::warn!(error = %err, "cannot release the scheduler lease; it goes stale by itself");
                }
                *held = false;
                return;
            }
            LeaderLock::Postgres { held, .. } => held,
        };
        if let Some(mut conn) = held.take() {
            let unlocked = sqlx::query(UNLOCK_SQL)
                .bind(scheduler_lock_key())
                .execute(&mut conn)
                .await;
            if let Err(err) = unlocked {
                tracing::warn!(error = %err, "cannot release the scheduler lock; closing its session");
            }
            let _ = conn.close().await;
        }
    }
}

async fn try_take(pool: &sqlx::PgPool) -> Result<Option<PgConnection>, sqlx::Error> {
    let mut conn = pool.acquire().await?.detach();
    let taken: bool = sqlx::query_scalar(TRY_LOCK_SQL)
        .bind(scheduler_lock_key())
        .fetch_one(&mut conn)
        .await?;
    if taken {
        return Ok(Some(conn));
    }
    let _ = conn.close().await;
    Ok(None)
}
