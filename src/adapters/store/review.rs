//! Reads for the 50% human review (`evalgate rollout review`): the canary responses that failed
//! an evaluator, with the evaluators' reasons (table `eval_scores`, migration 0002), and recent
//! baseline responses to compare them with. Both select the rollout's requests by the
//! attribution rule (`owner::owned_by`).

use sqlx::AssertSqlSafe;

use super::owner::{bind_owner, owned_by};
use super::{Store, StoreResult};
use crate::domain::Timestamp;
use crate::logic::attribution::RolloutTargets;
use crate::with_pool;

/// One failed evaluation of a canary response.
#[derive(Debug, Clone, PartialEq)]
pub struct FailedScore {
    /// The request.
    pub request_id: String,
    /// Its tenant.
    pub tenant_id: String,
    /// When it was served.
    pub ts: Timestamp,
    /// The request messages.
    pub input: String,
    /// The response.
    pub output: String,
    /// The evaluator that failed it.
    pub evaluator: String,
    /// The evaluator's reason.
    pub reason: String,
}

super::from_row!(FailedScore {
    plain: [request_id, tenant_id, ts, input, output, evaluator, reason]
});

/// One served response.
#[derive(Debug, Clone, PartialEq)]
pub struct ServedResponse {
    /// The request.
    pub request_id: String,
    /// Its tenant.
    pub tenant_id: String,
    /// When it was served.
    pub ts: Timestamp,
    /// The request messages.
    pub input: String,
    /// The response.
    pub output: String,
}

super::from_row!(ServedResponse {
    plain: [request_id, tenant_id, ts, input, output]
});

const SQLITE_TABLE_EXISTS: &str =
    "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = $1";
const PG_TABLE_EXISTS: &str = "SELECT COUNT(*) FROM information_schema.tables \
     WHERE table_schema = current_schema() AND table_name = $1";

const FAILED_CANARY: &str = "SELECT r.request_id, r.tenant_id, r.ts, r.input, r.output, \
     s.evaluator, s.reason FROM eval_scores s JOIN requests r ON r.request_id = s.request_id \
     WHERE r.arm = 'canary' AND s.outcome = 'fail'";
const FAILED_CANARY_ORDER: &str = " ORDER BY r.ts DESC, r.request_id, s.evaluator LIMIT $1";

const RECENT_BASELINE: &str = "SELECT r.request_id, r.tenant_id, r.ts, r.input, r.output \
     FROM requests r WHERE r.arm = 'baseline' AND r.status = 'ok'";
const RECENT_BASELINE_ORDER: &str = " ORDER BY r.ts DESC, r.request_id LIMIT $1";

/// `select` of the rollout's requests (its `OwnerBinds` from `$2`), then `order`.
fn owned_sql(select: &str, order: &str) -> String {
    format!("{select} AND {}{order}", owned_by("r", 2))
}

impl Store {
    /// True when the table exists (tables of other areas may not be migrated yet).
    pub async fn table_exists(&self, table: &str) -> StoreResult<bool> {
        let count: i64 = match self {
            Store::Sqlite(pool) => {
                sqlx::query_scalar(SQLITE_TABLE_EXISTS)
                    .bind(table)
                    .fetch_one(pool)
                    .await?
            }
            Store::Postgres(pool) => {
                sqlx::query_scalar(PG_TABLE_EXISTS)
                    .bind(table)
                    .fetch_one(pool)
                    .await?
            }
        };
        Ok(count > 0)
    }

    /// The newest failed evaluations of a rollout's canary responses, at most `limit` rows,
    /// newest first.
    pub async fn failed_canary_scores(
        &self,
        rollout: &RolloutTargets,
        limit: i64,
    ) -> StoreResult<Vec<FailedScore>> {
        let sql = owned_sql(FAILED_CANARY, FAILED_CANARY_ORDER);
        let rows = with_pool!(self, pool => {
            let query = sqlx::query_as::<_, FailedScore>(AssertSqlSafe(sql.as_str())).bind(limit);
            bind_owner!(query, rollout.binds()).fetch_all(pool).await?
        });
        Ok(rows)
    }

    /// The newest successful baseline responses of a rollout, at most `limit`.
    pub async fn recent_baseline_responses(
        &self,
        rollout: &RolloutTargets,
        limit: i64,
    ) -> StoreResult<Vec<ServedResponse>> {
        let sql = owned_sql(RECENT_BASELINE, RECENT_BASELINE_ORDER);
        let rows = with_pool!(self, pool => {
            let query = sqlx::query_as::<_, ServedResponse>(AssertSqlSafe(sql.as_str())).bind(limit);
            bind_owner!(query, rollout.binds()).fetch_all(pool).await?
        });
        Ok(rows)
    }
}
