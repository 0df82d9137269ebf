//! Keyset-paged reads over request history for `rescore` and `backtest`: constant memory
//! however long the range, because each page resumes after the last (ts, request_id) seen.

use super::{Store, StoreResult};
use crate::domain::{Arm, Timestamp};
use crate::with_pool;

/// Which requests a history scan covers.
#[derive(Debug, Clone)]
pub struct HistoryFilter {
    /// Inclusive start.
    pub from: Timestamp,
    /// Exclusive end.
    pub to: Timestamp,
    /// Only this rollout.
    pub rollout_id: Option<String>,
    /// Only this arm.
    pub arm: Option<Arm>,
}

/// Where the next page starts: after this (ts, request_id).
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryCursor {
    /// The last timestamp seen.
    pub ts: Timestamp,
    /// The last request id seen at that timestamp.
    pub request_id: String,
}

const COUNT: &str = "SELECT COUNT(*) FROM requests \
     WHERE ts >= $1 AND ts < $2 AND status = 'ok' \
       AND ($3 IS NULL OR rollout_id = $3) AND ($4 IS NULL OR arm = $4)";
const PAGE: &str = "SELECT ts, request_id FROM requests \
     WHERE ts >= $1 AND ts < $2 AND status = 'ok' \
       AND ($3 IS NULL OR rollout_id = $3) AND ($4 IS NULL OR arm = $4) \
       AND (ts > $5 OR (ts = $5 AND request_id > $6)) \
     ORDER BY ts, request_id LIMIT $7";

impl Store {
    /// How many scorable (status ok) requests the filter covers.
    pub async fn count_history(&self, filter: &HistoryFilter) -> StoreResult<u64> {
        let arm = filter.arm.map(Arm::as_str);
        let count: i64 = with_pool!(self, pool => sqlx::query_scalar(COUNT)
            .bind(filter.from).bind(filter.to).bind(filter.rollout_id.as_deref()).bind(arm)
            .fetch_one(pool).await?);
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// The next page of request ids after `cursor_opt` (from the start when `None`).
    pub async fn history_page(
        &self,
        filter: &HistoryFilter,
        cursor_opt: Option<&HistoryCursor>,
        limit: i64,
    ) -> StoreResult<Vec<HistoryCursor>> {
        let arm = filter.arm.map(Arm::as_str);
        let (after_ts, after_id) = match cursor_opt {
            Some(cursor) => (cursor.ts, cursor.request_id.as_str()),
            None => (filter.from, ""),
        };
        let rows: Vec<(Timestamp, String)> = with_pool!(self, pool => sqlx::query_as(PAGE)
            .bind(filter.from).bind(filter.to).bind(filter.rollout_id.as_deref()).bind(arm)
            .bind(after_ts).bind(after_id).bind(limit)
            .fetch_all(pool).await?);
        Ok(rows
            .into_iter()
            .map(|(ts, request_id)| HistoryCursor { ts, request_id })
            .collect())
    }
}
