//! Keyset-paged reads over request history for `rescore` and `backtest`: constant memory
//! however long the range, because each page resumes after the last (ts, request_id) seen. A
//! scan of one rollout selects its requests by the attribution rule (`owner::owned_by`).

use sqlx::AssertSqlSafe;

use super::owner::{bind_owner, owned_by};
use super::{Store, StoreResult};
use crate::domain::{Arm, Timestamp};
use crate::logic::attribution::RolloutTargets;
use crate::with_pool;

/// Which requests a history scan covers.
#[derive(Debug, Clone)]
pub struct HistoryFilter {
    /// Inclusive start.
    pub from: Timestamp,
    /// Exclusive end.
    pub to: Timestamp,
    /// Only this rollout's requests (`logic::attribution::belongs_to`).
    pub rollout: Option<RolloutTargets>,
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
     WHERE ts >= $1 AND ts < $2 AND status = 'ok' AND ($3 IS NULL OR arm = $3)";
const PAGE: &str = "SELECT ts, request_id FROM requests \
     WHERE ts >= $1 AND ts < $2 AND status = 'ok' AND ($3 IS NULL OR arm = $3) \
       AND (ts > $4 OR (ts = $4 AND request_id > $5))";
const PAGE_ORDER: &str = " ORDER BY ts, request_id LIMIT $6";

/// `select`, of the filter's rollout when it has one (its `OwnerBinds` from `$first`).
fn history_sql(select: &str, filter: &HistoryFilter, first: usize, order: &str) -> String {
    match filter.rollout {
        Some(_) => format!("{select} AND {}{order}", owned_by("requests", first)),
        None => format!("{select}{order}"),
    }
}

impl Store {
    /// How many scorable (status ok) requests the filter covers.
    pub async fn count_history(&self, filter: &HistoryFilter) -> StoreResult<u64> {
        let arm = filter.arm.map(Arm::as_str);
        let sql = history_sql(COUNT, filter, 4, "");
        let count: i64 = with_pool!(self, pool => {
            let mut query = sqlx::query_scalar(AssertSqlSafe(sql.as_str()))
                .bind(filter.from).bind(filter.to).bind(arm);
            if let Some(rollout) = &filter.rollout {
                query = bind_owner!(query, rollout.binds());
            }
            query.fetch_one(pool).await?
        });
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
        let sql = history_sql(PAGE, filter, 7, PAGE_ORDER);
        let rows: Vec<(Timestamp, String)> = with_pool!(self, pool => {
            let mut query = sqlx::query_as(AssertSqlSafe(sql.as_str()))
                .bind(filter.from).bind(filter.to).bind(arm)
                .bind(after_ts).bind(after_id).bind(limit);
            if let Some(rollout) = &filter.rollout {
                query = bind_owner!(query, rollout.binds());
            }
            query.fetch_all(pool).await?
        });
        Ok(rows
            .into_iter()
            .map(|(ts, request_id)| HistoryCursor { ts, request_id })
            .collect())
    }
}
