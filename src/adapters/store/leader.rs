//! Who runs the scheduler. On PostgreSQL several `serve` replicas share one database and one of
//! them holds a session-level advisory lock on a dedicated connection; when that process dies its
//! session ends, PostgreSQL releases the lock and another replica takes it on its next try. On
//! SQLite the single process is always the leader.

use sqlx::Connection as _;
use sqlx::postgres::PgConnection;

use super::Store;
use crate::logic::hash::sha256_u64;

/// The advisory lock key every replica contends for.
pub fn scheduler_lock_key() -> i64 {
    i64::from_be_bytes(sha256_u64(&[b"evalgate", b"scheduler"]).to_be_bytes())
}

/// The scheduler lock of this process.
#[derive(Debug)]
pub enum LeaderLock {
    /// SQLite: one process, always the leader.
    Single,
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
    pub fn for_store(store: &Store) -> LeaderLock {
        match store {
            Store::Sqlite(_) => LeaderLock::Single,
            Store::Postgres(pool) => LeaderLock::Postgres {
                pool: pool.clone(),
                held: None,
            },
        }
    }

    /// True when this process holds the scheduler: checks that a held lock's session is still
    /// alive, or tries to take the lock. Errors count as "not the leader".
    pub async fn ensure(&mut self) -> bool {
        let LeaderLock::Postgres { pool, held } = self else {
            return true;
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

    /// Whether the lock is held right now (without checking the session).
    pub fn is_held(&self) -> bool {
        match self {
            LeaderLock::Single => true,
            LeaderLock::Postgres { held, .. } => held.is_some(),
        }
    }

    /// Releases the lock (at shutdown, so another replica can take over at once).
    pub async fn release(&mut self) {
        let LeaderLock::Postgres { held, .. } = self else {
            return;
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
