//! The `drills` table (migration 0004): one row per rollback drill, and the time of the last
//! successful one (what `evalgate_last_successful_drill_timestamp_seconds` shows from start-up,
//! not only after the next drill).

use serde::Serialize;
use serde_json::Value;
use sqlx::types::Json;

use super::{Store, StoreResult};
use crate::domain::Timestamp;
use crate::with_pool;

/// One rollback drill's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DrillRow {
    /// The drill id.
    pub id: String,
    /// The drill flag.
    pub flag_key: String,
    /// When it ran.
    pub at: Timestamp,
    /// True when every sink took the rollback and no drift was found.
    pub ok: bool,
    /// Per-sink results.
    pub results: Value,
    /// The slowest sink's time until the rollback was visible, if every sink showed it.
    pub time_to_visible_ms: Option<i64>,
    /// Drift between the controller's state and the sinks.
    pub drift: Value,
}

super::from_row!(DrillRow {
    plain: [id, flag_key, at, ok, time_to_visible_ms],
    json: [results, drift]
});

const INSERT_DRILL: &str = "INSERT INTO drills (id, flag_key, at, ok, results, \
     time_to_visible_ms, drift) VALUES ($1, $2, $3, $4, $5, $6, $7)";

const SELECT_DRILLS: &str = "SELECT id, flag_key, at, ok, results, time_to_visible_ms, drift \
     FROM drills ORDER BY at DESC, id DESC LIMIT $1";

const LAST_SUCCESSFUL_DRILL: &str = "SELECT MAX(at) FROM drills WHERE ok";

impl Store {
    /// Records one drill.
    pub async fn record_drill(&self, drill: &DrillRow) -> StoreResult<()> {
        with_pool!(self, pool => sqlx::query(INSERT_DRILL)
            .bind(&drill.id)
            .bind(&drill.flag_key)
            .bind(drill.at)
            .bind(drill.ok)
            .bind(Json(&drill.results))
            .bind(drill.time_to_visible_ms)
            .bind(Json(&drill.drift))
            .execute(pool)
            .await
            .map(|_| ())?);
        Ok(())
    }

    /// The latest `limit` drills, newest first.
    pub async fn list_drills(&self, limit: i64) -> StoreResult<Vec<DrillRow>> {
        let rows = with_pool!(self, pool => sqlx::query_as::<_, DrillRow>(SELECT_DRILLS)
            .bind(limit)
            .fetch_all(pool)
            .await?);
        Ok(rows)
    }

    /// When the newest successful drill ran, if any did.
    pub async fn last_successful_drill(&self) -> StoreResult<Option<Timestamp>> {
        let last: Option<Timestamp> = with_pool!(self, pool => sqlx::query_scalar(LAST_SUCCESSFUL_DRILL)
            .fetch_one(pool)
            .await?);
        Ok(last)
    }
}
