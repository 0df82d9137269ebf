//! The store: one `Store` over a SQLite or a PostgreSQL pool, with runtime queries written once
//! with `$N` placeholders (they work on both backends). Each table family's queries live in their
//! own file as an `impl Store` block; this file owns connecting and migrating.

mod api_reads;
mod conflicts;
mod drills;
mod integrity;
pub mod leader;
mod review;
pub mod rollout_format;
mod rollouts;
mod scheduler;

pub use api_reads::{FlagOwner, GateTick, LatestSeries};
pub use drills::DrillRow;
pub use integrity::{Fence, LeaseHolder, OutboxItem};
pub use review::{FailedScore, ServedResponse};
pub use rollouts::{
    DecisionCommit, FinishedTick, NewRollout, RolloutEvent, RolloutRow, StateUpdate,
};

use std::str::FromStr;
use std::time::Duration;

mod judge_cache;
mod owner;
mod placeholders;
mod scores;

pub use judge_cache::CachedJudgment;
pub use scores::ScoreKey;

use sqlx::ConnectOptions;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

mod requests;

pub use requests::{InsertReport, RequestInsert, TelemetryRow};

/// Errors the store's callers branch on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL is neither `sqlite://…` nor `postgres://…`.
    #[error("unsupported store url `{0}`: expected sqlite://PATH or postgres://…")]
    BadUrl(String),
    /// A database error (said once: the message is the whole story, see [`db_message`]).
    #[error("database error: {}", db_message(.0))]
    Db(sqlx::Error),
    /// The first connection failed: the server's or the OS's reason, said at once.
    #[error("cannot connect: {0}")]
    Connect(String),
    /// A migration failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A writer's lease on a rollout was taken over: its write was refused (nothing stored).
    #[error(
        "rollout {rollout_id}: this process ({holder}) no longer holds the rollout's writer lease \
         (another tick or replica took it over); nothing was stored"
    )]
    Fenced { rollout_id: String, holder: String },
    /// A stored value could not be decoded into a domain type.
    #[error("bad stored value in {table}.{column}: {detail}")]
    BadValue {
        table: &'static str,
        column: &'static str,
        detail: String,
    },
}

impl StoreError {
    /// A bounded-cardinality label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            StoreError::BadUrl(_) => "bad_url",
            StoreError::Db(_) => "db",
            StoreError::Connect(_) => "connect",
            StoreError::Migrate(_) => "migrate",
            StoreError::BadValue { .. } => "bad_value",
            StoreError::Fenced { .. } => "fenced",
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> StoreError {
        StoreError::Db(err)
    }
}

/// What a database error says, without sqlx's ` at line N` (the line of PostgreSQL's own C
/// source, which reads as a line of the user's input): the server's message, its detail and its
/// SQLSTATE; other errors as sqlx says them.
pub fn db_message(err: &sqlx::Error) -> String {
    let sqlx::Error::Database(db_err) = err else {
        return err.to_string();
    };
    let mut text = db_err.message().to_string();
    if let Some(pg_err) = db_err.try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
        && let Some(detail) = pg_err.detail()
    {
        text.push_str(" (");
        text.push_str(detail);
        text.push(')');
    }
    if let Some(code) = db_err.code() {
        text.push_str(&format!(" [SQLSTATE {code}]"));
    }
    text
}

/// Result alias for store calls.
pub type StoreResult<T> = Result<T, StoreError>;

mod gates;
mod history;
mod migrations;
pub mod tick_budgets;
mod ticks;

pub use gates::{HaltSignal, MetricRow, PassRateRow};
pub use history::{HistoryCursor, HistoryFilter, ScoredHistoryEntry, StoredOutcome};
pub use ticks::{LatestTick, QueueItem, TickClaim, TickKey, TickStart, TickStatus};

/// The log store and everything evalgate writes, on SQLite or PostgreSQL.
#[derive(Clone, Debug)]
pub enum Store {
    /// The embedded default.
    Sqlite(SqlitePool),
    /// Production, and the backend that supports several `serve` replicas.
    Postgres(PgPool),
}

/// Implements `sqlx::FromRow` on both backends for a struct whose fields are named as its columns:
/// `plain` fields decode as their own type, `json` fields from a JSON column (`sqlx::types::Json`).
/// Hand-rolled instead of `#[derive(sqlx::FromRow)]`, whose feature compiles both drivers again for
/// the proc-macro host build.
macro_rules! from_row {
    ($ty:ident { plain: [$($plain:ident),* $(,)?] $(, json: [$($json:ident),* $(,)?])? $(, parsed: [$($parsed:ident),* $(,)?])? $(,)? }) => {
        $crate::adapters::store::from_row!(@impl sqlx::sqlite::SqliteRow, $ty { [$($plain),*] [$($($json),*)?] [$($($parsed),*)?] });
        $crate::adapters::store::from_row!(@impl sqlx::postgres::PgRow, $ty { [$($plain),*] [$($($json),*)?] [$($($parsed),*)?] });
    };
    (@impl $row:ty, $ty:ident { [$($plain:ident),*] [$($json:ident),*] [$($parsed:ident),*] }) => {
        impl<'r> sqlx::FromRow<'r, $row> for $ty {
            fn from_row(row: &'r $row) -> Result<Self, sqlx::Error> {
                use sqlx::Row as _;
                Ok(Self {
                    $($plain: row.try_get(stringify!($plain))?,)*
                    $($json: row.try_get::<sqlx::types::Json<_>, _>(stringify!($json))?.0,)*
                    $($parsed: row
                        .try_get::<String, _>(stringify!($parsed))?
                        .parse()
                        .map_err(|err| sqlx::Error::ColumnDecode {
                            index: stringify!($parsed).to_string(),
                            source: Box::new(err),
                        })?,)*
                })
            }
        }
    };
}
pub(crate) use from_row;

/// Runs `$body` with `$pool` bound to the concrete pool of either backend; the body is
/// type-checked once per backend.
#[macro_export]
macro_rules! with_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            $crate::adapters::store::Store::Sqlite($pool) => $body,
            $crate::adapters::store::Store::Postgres($pool) => $body,
        }
    };
}

/// How long the first PostgreSQL connection may take before `connect` gives up.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One direct connection before the pool is built: the pool retries a refused connection until
/// its 30 s acquire timeout and then says only "pool timed out"; this says why, at once
/// ("Connection refused", a bad password, an unknown database).
async fn probe_postgres(options: &PgConnectOptions) -> StoreResult<()> {
    use sqlx::Connection as _;
    let attempt = sqlx::PgConnection::connect_with(options);
    match tokio::time::timeout(CONNECT_TIMEOUT, attempt).await {
        Ok(Ok(connection)) => {
            // Closing cleanly is a courtesy to the server; failing to is not the caller's error.
            let _closed = connection.close().await;
            Ok(())
        }
        Ok(Err(err)) => Err(StoreError::Connect(db_message(&err))),
        Err(_elapsed) => Err(StoreError::Connect(format!(
            "no answer from the server within {} s",
            CONNECT_TIMEOUT.as_secs()
        ))),
    }
}

impl Store {
    /// Connects to `url` (`sqlite://PATH`, created if missing, or `postgres://…`).
    pub async fn connect(url: &str) -> StoreResult<Store> {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(30))
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                // sqlx would log every slow statement with its full SQL (thousands of
                // placeholders for a batch insert); callers log their own spans instead
                .disable_statement_logging();
            let pool = SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(options)
                .await?;
            return Ok(Store::Sqlite(pool));
        }
        if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options = PgConnectOptions::from_str(url)?.disable_statement_logging();
            probe_postgres(&options).await?;
            let pool = PgPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(options)
                .await?;
            return Ok(Store::Postgres(pool));
        }
        Err(StoreError::BadUrl(url.to_string()))
    }

    /// Connects and applies every pending migration (idempotent).
    pub async fn open(url: &str) -> StoreResult<Store> {
        let store = Store::connect(url).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Applies every pending migration; running it twice is a no-op.
    pub async fn migrate(&self) -> StoreResult<()> {
        match self {
            Store::Sqlite(pool) => migrations::sqlite().run(pool).await?,
            Store::Postgres(pool) => migrations::postgres().run(pool).await?,
        }
        Ok(())
    }

    /// The placeholder style of this backend's run-time built statements.
    fn placeholders(&self) -> placeholders::Placeholders {
        match self {
            Store::Sqlite(_) => placeholders::Placeholders::Anonymous,
            Store::Postgres(_) => placeholders::Placeholders::Numbered,
        }
    }

    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    /// True when the store answers a trivial query.
    pub async fn ping(&self) -> bool {
        with_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.is_ok())
    }

    /// [`Store::ping`] within `limit` (false when it takes longer): a readiness probe must not
    /// wait out the pool's 30 s acquire timeout while the store is down.
    pub async fn ping_within(&self, limit: Duration) -> bool {
        tokio::time::timeout(limit, self.ping())
            .await
            .unwrap_or(false)
    }
}
