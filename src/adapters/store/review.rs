//! Reads for the 50% human review (`evalgate rollout review`): the canary responses that failed
//! an evaluator, with the evaluators' reasons (table `eval_scores`, migration 0002), and recent
//! baseline responses to compare them with.

use super::{Store, StoreResult};
use crate::domain::Timestamp;
use crate::with_pool;

/// One failed evaluation of a canary response.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
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

/// One served response.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
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

const SQLITE_TABLE_EXISTS: &str =
    "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = $1";
const PG_TABLE_EXISTS: &str = "SELECT COUNT(*) FROM information_schema.tables \
     WHERE table_schema = current_schema() AND table_name = $1";

const FAILED_CANARY: &str = "SELECT r.request_id, r.tenant_id, r.ts, r.input, r.output, \
     s.evaluator, s.reason FROM eval_scores s JOIN requests r ON r.request_id = s.request_id \
     WHERE r.arm = 'canary' AND s.outcome = 'fail' AND (r.rollout_id = $1 OR r.model = $2) \
     ORDER BY r.ts DESC, r.request_id, s.evaluator LIMIT $3";

const RECENT_BASELINE: &str = "SELECT request_id, tenant_id, ts, input, output FROM requests \
     WHERE arm = 'baseline' AND status = 'ok' AND (rollout_id = $1 OR model = $2) \
     ORDER BY ts DESC, request_id LIMIT $3";

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

    /// The newest failed evaluations of canary responses of a rollout (by rollout id or by the
    /// canary's model), at most `limit` rows, newest first.
    pub async fn failed_canary_scores(
        &self,
        rollout_id: &str,
        canary_model: &str,
        limit: i64,
    ) -> StoreResult<Vec<FailedScore>> {
        let rows = with_pool!(self, pool => sqlx::query_as::<_, FailedScore>(FAILED_CANARY)
            .bind(rollout_id)
            .bind(canary_model)
            .bind(limit)
            .fetch_all(pool)
            .await?);
        Ok(rows)
    }

    /// The newest successful baseline responses of a rollout (by rollout id or by the
    /// baseline's model), at most `limit`.
    pub async fn recent_baseline_responses(
        &self,
        rollout_id: &str,
        baseline_model: &str,
        limit: i64,
    ) -> StoreResult<Vec<ServedResponse>> {
        let rows = with_pool!(self, pool => sqlx::query_as::<_, ServedResponse>(RECENT_BASELINE)
            .bind(rollout_id)
            .bind(baseline_model)
            .bind(limit)
            .fetch_all(pool)
            .await?);
        Ok(rows)
    }
}
