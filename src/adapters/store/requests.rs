//! Queries on the contract tables `requests` and `feedback` (DESIGN.md §3): idempotent batch
//! inserts, and the per-arm window reads a tick needs (sampling candidates, full rows of the
//! sample, telemetry of every request, matured feedback).
//!
//! Inserts are multi-row `INSERT … ON CONFLICT DO NOTHING` statements inside one transaction per
//! call; the window reads are bounded by the `(arm, ts, …)` index so their cost follows the
//! window, not the table, and select a rollout's requests by the attribution rule
//! (`owner::owned_by`: the logged rollout id, else the rollout's target model on the arm since
//! its start).

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use sqlx::AssertSqlSafe;
use sqlx::types::Json;

use super::conflicts;
use super::owner::{bind_owner, not_owned_by, owned_by};
use super::placeholders::Placeholders;
use super::{Store, StoreError, StoreResult};
use crate::domain::{Arm, FeedbackEvent, FeedbackKind, Request, RequestStatus, Timestamp};
use crate::logic::attribution::RolloutTargets;
use crate::logic::sampling::Candidate;
use crate::logic::unattributed::UnattributedGroup;
use crate::with_pool;

/// What a batch insert did: rows new to the store, rows whose key was already there (or
/// repeated inside the batch) with the same content, and (requests only) rows whose key was
/// there with different content: conflicts, skipped too (the first row stays).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InsertReport {
    /// Rows written.
    pub inserted: u64,
    /// Rows skipped because their key already existed with the same content.
    pub duplicates: u64,
    /// Rows skipped because their key already existed with different content.
    #[serde(default)]
    pub conflicts: u64,
}

impl InsertReport {
    /// Adds another report's counts to this one.
    pub fn add(&mut self, other: InsertReport) {
        self.inserted += other.inserted;
        self.duplicates += other.duplicates;
        self.conflicts += other.conflicts;
    }
}

/// A request batch insert's report and which rows conflicted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestInsert {
    /// The counts.
    pub report: InsertReport,
    /// Indices (into the rows given) of the rows skipped as conflicts, in order.
    pub conflicting: Vec<usize>,
}

/// The telemetry columns of one request, for the error, latency, cost and length gates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TelemetryRow {
    /// The request's id.
    pub request_id: String,
    /// Its tenant.
    pub tenant_id: String,
    /// `ok` or `error`.
    pub status: RequestStatus,
    /// End-to-end latency in milliseconds, when logged.
    pub latency_ms: Option<f64>,
    /// Time to first token in milliseconds, when logged (streamed responses).
    pub ttft_ms: Option<f64>,
    /// Cost in US dollars, when logged.
    pub cost_usd: Option<f64>,
    /// Completion tokens, when logged.
    pub completion_tokens: Option<i64>,
}

const REQUEST_COLUMNS: &str = "request_id, ts, tenant_id, arm, model, rollout_id, input, output, \
     reference, status, error, latency_ms, prompt_tokens, completion_tokens, cost_usd, metadata, \
     ttft_ms";
const REQUEST_COLUMN_COUNT: usize = 17;
/// Rows per INSERT statement (3,400 parameters). With `$N` placeholders SQLite bound a statement
/// in O(parameters²) and 40 rows was the sweet spot; with `?` on SQLite (see `placeholders`) larger
/// statements are faster on both backends (BENCHMARKS.md, "Store: ingest and sampling").
const REQUEST_ROWS_PER_STATEMENT: usize = 200;
const FEEDBACK_ROWS_PER_STATEMENT: usize = 500;
/// Ids per `IN (…)` lookup.
const IDS_PER_LOOKUP: usize = 500;

const CANDIDATES_SQL: &str = "SELECT request_id, tenant_id, status FROM requests \
     WHERE arm = $1 AND ts >= $2 AND ts < $3";
const TELEMETRY_SQL: &str = "SELECT request_id, tenant_id, status, latency_ms, ttft_ms, cost_usd, \
     completion_tokens FROM requests WHERE arm = $1 AND ts >= $2 AND ts < $3";
const TELEMETRY_ORDER: &str = " ORDER BY ts, request_id";
const FEEDBACK_WINDOW_SQL: &str = "SELECT f.request_id, f.kind, f.at, f.value \
     FROM feedback f JOIN requests r ON r.request_id = f.request_id \
     WHERE r.arm = $1 AND r.ts >= $2 AND r.ts < $3";
const FEEDBACK_WINDOW_ORDER: &str = " ORDER BY f.request_id, f.at, f.kind";
const UNATTRIBUTED_SQL: &str = "SELECT model, rollout_id, COUNT(*) FROM requests \
     WHERE arm = $1 AND ts >= $2 AND ts < $3";
const UNATTRIBUTED_GROUP: &str = " GROUP BY model, rollout_id ORDER BY model, rollout_id";
const COUNT_REQUESTS_SQL: &str = "SELECT COUNT(*) FROM requests";
const COUNT_FEEDBACK_SQL: &str = "SELECT COUNT(*) FROM feedback";

/// One `requests` row as stored, before its enums are checked.
struct RequestRow {
    request_id: String,
    ts: Timestamp,
    tenant_id: String,
    arm: String,
    model: String,
    rollout_id: Option<String>,
    input: String,
    output: String,
    reference: Option<String>,
    status: String,
    error: Option<String>,
    latency_ms: Option<f64>,
    prompt_tokens: Option<i64>,
    completion_tokens: Option<i64>,
    cost_usd: Option<f64>,
    metadata: Json<serde_json::Value>,
    ttft_ms: Option<f64>,
}

super::from_row!(RequestRow {
    plain: [
        request_id,
        ts,
        tenant_id,
        arm,
        model,
        rollout_id,
        input,
        output,
        reference,
        status,
        error,
        latency_ms,
        prompt_tokens,
        completion_tokens,
        cost_usd,
        metadata,
        ttft_ms
    ]
});

impl RequestRow {
    fn into_domain(self) -> StoreResult<Request> {
        Ok(Request {
            arm: decode_arm(&self.arm)?,
            status: decode_status(&self.status)?,
            request_id: self.request_id,
            ts: self.ts,
            tenant_id: self.tenant_id,
            model: self.model,
            rollout_id: self.rollout_id,
            input: self.input,
            output: self.output,
            reference: self.reference,
            error: self.error,
            latency_ms: self.latency_ms,
            ttft_ms: self.ttft_ms,
            prompt_tokens: self.prompt_tokens,
            completion_tokens: self.completion_tokens,
            cost_usd: self.cost_usd,
            metadata: self.metadata.0,
        })
    }
}

type TelemetryTuple = (
    String,
    String,
    String,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<i64>,
);

fn decode_arm(text: &str) -> StoreResult<Arm> {
    Arm::parse(text).ok_or_else(|| StoreError::BadValue {
        table: "requests",
        column: "arm",
        detail: format!("`{text}` is not baseline or canary"),
    })
}

fn decode_status(text: &str) -> StoreResult<RequestStatus> {
    RequestStatus::parse(text).ok_or_else(|| StoreError::BadValue {
        table: "requests",
        column: "status",
        detail: format!("`{text}` is not ok or error"),
    })
}

fn decode_kind(text: &str) -> StoreResult<FeedbackKind> {
    FeedbackKind::parse(text).ok_or_else(|| StoreError::BadValue {
        table: "feedback",
        column: "kind",
        detail: format!("`{text}` is not a feedback kind"),
    })
}

fn insert_requests_sql(style: Placeholders, rows: usize) -> String {
    format!(
        "INSERT INTO requests ({REQUEST_COLUMNS}) VALUES {} ON CONFLICT (request_id) DO NOTHING \
         RETURNING request_id",
        style.rows(rows, REQUEST_COLUMN_COUNT)
    )
}

fn insert_feedback_sql(style: Placeholders, rows: usize) -> String {
    format!(
        "INSERT INTO feedback (request_id, kind, at, value) VALUES {} \
         ON CONFLICT (request_id, kind, at) DO NOTHING",
        style.rows(rows, 4)
    )
}

fn get_requests_sql(style: Placeholders, ids: usize) -> String {
    format!(
        "SELECT {REQUEST_COLUMNS} FROM requests WHERE request_id IN ({})",
        style.list(1, ids)
    )
}

/// A window read (`arm = $1 AND ts >= $2 AND ts < $3`), of one rollout's requests when
/// `owned` (its `OwnerBinds` from `$4`), then `order`.
fn window_sql(select: &str, alias: &str, owned: bool, order: &str) -> String {
    if owned {
        return format!("{select} AND {}{order}", owned_by(alias, 4));
    }
    format!("{select}{order}")
}

/// The window's rows that none of `claimants` owns (their `OwnerBinds` from `$4`, four each),
/// counted by model and rollout id.
fn unattributed_sql(claimants: usize) -> String {
    let mut sql = UNATTRIBUTED_SQL.to_string();
    for index in 0..claimants {
        sql.push_str(" AND ");
        sql.push_str(&not_owned_by("requests", 4 + 4 * index));
    }
    sql.push_str(UNATTRIBUTED_GROUP);
    sql
}

fn owner_label(owner_opt: Option<&RolloutTargets>) -> &str {
    owner_opt.map_or("*", |targets| targets.rollout_id.as_str())
}

fn to_report(total: usize, inserted: u64) -> InsertReport {
    InsertReport {
        inserted,
        duplicates: (total as u64).saturating_sub(inserted),
        conflicts: 0,
    }
}

impl Store {
    /// Inserts request rows in one transaction; a `request_id` already stored (or repeated in
    /// `rows`) is skipped, and counted as a duplicate when its content is the same and as a
    /// conflict when it differs.
    pub async fn insert_requests(&self, rows: &[Request]) -> StoreResult<InsertReport> {
        Ok(self.insert_requests_checked(rows).await?.report)
    }

    /// [`Store::insert_requests`], also naming the rows that conflicted.
    #[tracing::instrument(skip_all, fields(rows = rows.len(), backend = self.backend()))]
    pub async fn insert_requests_checked(&self, rows: &[Request]) -> StoreResult<RequestInsert> {
        if rows.is_empty() {
            return Ok(RequestInsert::default());
        }
        let style = self.placeholders();
        let inserted_ids: HashSet<String> = with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let mut inserted_ids = HashSet::with_capacity(rows.len());
            for chunk in rows.chunks(REQUEST_ROWS_PER_STATEMENT) {
                let sql = insert_requests_sql(style, chunk.len());
                let mut query = sqlx::query_scalar::<_, String>(AssertSqlSafe(sql));
                for row in chunk {
                    query = query
                        .bind(row.request_id.as_str())
                        .bind(row.ts)
                        .bind(row.tenant_id.as_str())
                        .bind(row.arm.as_str())
                        .bind(row.model.as_str())
                        .bind(row.rollout_id.as_deref())
                        .bind(row.input.as_str())
                        .bind(row.output.as_str())
                        .bind(row.reference.as_deref())
                        .bind(row.status.as_str())
                        .bind(row.error.as_deref())
                        .bind(row.latency_ms)
                        .bind(row.prompt_tokens)
                        .bind(row.completion_tokens)
                        .bind(row.cost_usd)
                        .bind(Json(&row.metadata))
                        .bind(row.ttft_ms);
                }
                inserted_ids.extend(query.fetch_all(&mut *tx).await?);
            }
            tx.commit().await?;
            inserted_ids
        });
        let skipped = conflicts::skipped_rows(rows, &inserted_ids);
        let conflicting = self.conflicting_rows(rows, &skipped).await?;
        let mut report = to_report(rows.len(), inserted_ids.len() as u64);
        report.conflicts = conflicting.len() as u64;
        report.duplicates -= report.conflicts;
        Ok(RequestInsert {
            report,
            conflicting,
        })
    }

    /// Inserts feedback events in one transaction; an event already stored with the same
    /// (request_id, kind, at) is skipped and counted as a duplicate.
    #[tracing::instrument(skip_all, fields(rows = rows.len(), backend = self.backend()))]
    pub async fn insert_feedback(&self, rows: &[FeedbackEvent]) -> StoreResult<InsertReport> {
        if rows.is_empty() {
            return Ok(InsertReport::default());
        }
        let style = self.placeholders();
        let inserted: u64 = with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let mut inserted = 0u64;
            for chunk in rows.chunks(FEEDBACK_ROWS_PER_STATEMENT) {
                let sql = insert_feedback_sql(style, chunk.len());
                let mut query = sqlx::query(AssertSqlSafe(sql));
                for row in chunk {
                    query = query
                        .bind(row.request_id.as_str())
                        .bind(row.kind.as_str())
                        .bind(row.at)
                        .bind(row.value);
                }
                inserted += query.execute(&mut *tx).await?.rows_affected();
            }
            tx.commit().await?;
            inserted
        });
        Ok(to_report(rows.len(), inserted))
    }

    /// The sampling candidates of one arm in `[from, to)`, of one rollout's requests
    /// (`logic::attribution::belongs_to`) or of all: only the columns sampling needs, the scan
    /// bounded by the `(arm, ts, …)` index.
    #[tracing::instrument(skip_all, fields(arm = %arm, rollout = owner_label(owner_opt)))]
    pub async fn window_candidates(
        &self,
        owner_opt: Option<&RolloutTargets>,
        arm: Arm,
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<Vec<Candidate>> {
        let sql = window_sql(CANDIDATES_SQL, "requests", owner_opt.is_some(), "");
        let rows: Vec<(String, String, String)> = with_pool!(self, pool => {
            let mut query = sqlx::query_as(AssertSqlSafe(sql.as_str()))
                .bind(arm.as_str()).bind(from).bind(to);
            if let Some(owner) = owner_opt {
                query = bind_owner!(query, owner.binds());
            }
            query.fetch_all(pool).await?
        });
        let mut candidates = Vec::with_capacity(rows.len());
        for (request_id, tenant_id, status) in rows {
            let is_error = decode_status(&status)? == RequestStatus::Error;
            candidates.push(Candidate {
                request_id,
                tenant_id,
                arm,
                is_error,
            });
        }
        Ok(candidates)
    }

    /// Full rows for `ids`, in the order of `ids`; ids not in the store are left out.
    #[tracing::instrument(skip_all, fields(ids = ids.len()))]
    pub async fn get_requests(&self, ids: &[String]) -> StoreResult<Vec<Request>> {
        let mut by_id: HashMap<String, Request> = HashMap::with_capacity(ids.len());
        let style = self.placeholders();
        for chunk in ids.chunks(IDS_PER_LOOKUP) {
            let sql = get_requests_sql(style, chunk.len());
            let rows: Vec<RequestRow> = with_pool!(self, pool => {
                let mut query = sqlx::query_as(AssertSqlSafe(sql));
                for id in chunk {
                    query = query.bind(id.as_str());
                }
                query.fetch_all(pool).await?
            });
            for row in rows {
                let request = row.into_domain()?;
                by_id.insert(request.request_id.clone(), request);
            }
        }
        let mut ordered = Vec::with_capacity(by_id.len());
        for id in ids {
            if let Some(request) = by_id.remove(id) {
                ordered.push(request);
            }
        }
        Ok(ordered)
    }

    /// The telemetry of every request of one arm in `[from, to)` (errors included), of one
    /// rollout's requests or of all, ordered by time.
    #[tracing::instrument(skip_all, fields(arm = %arm, rollout = owner_label(owner_opt)))]
    pub async fn window_telemetry(
        &self,
        owner_opt: Option<&RolloutTargets>,
        arm: Arm,
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<Vec<TelemetryRow>> {
        let sql = window_sql(
            TELEMETRY_SQL,
            "requests",
            owner_opt.is_some(),
            TELEMETRY_ORDER,
        );
        let rows: Vec<TelemetryTuple> = with_pool!(self, pool => {
            let mut query = sqlx::query_as(AssertSqlSafe(sql.as_str()))
                .bind(arm.as_str()).bind(from).bind(to);
            if let Some(owner) = owner_opt {
                query = bind_owner!(query, owner.binds());
            }
            query.fetch_all(pool).await?
        });
        let mut telemetry = Vec::with_capacity(rows.len());
        for (request_id, tenant_id, status, latency_ms, ttft_ms, cost_usd, completion_tokens) in
            rows
        {
            telemetry.push(TelemetryRow {
                request_id,
                tenant_id,
                status: decode_status(&status)?,
                latency_ms,
                ttft_ms,
                cost_usd,
                completion_tokens,
            });
        }
        Ok(telemetry)
    }

    /// Every feedback event (whenever it arrived) about the requests of one arm whose `ts` is in
    /// `[from, to)`, of one rollout's requests or of all. Callers keep only events with
    /// `at <= now` when they replay the past.
    #[tracing::instrument(skip_all, fields(arm = %arm, rollout = owner_label(owner_opt)))]
    pub async fn feedback_for_window(
        &self,
        owner_opt: Option<&RolloutTargets>,
        arm: Arm,
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<Vec<FeedbackEvent>> {
        let sql = window_sql(
            FEEDBACK_WINDOW_SQL,
            "r",
            owner_opt.is_some(),
            FEEDBACK_WINDOW_ORDER,
        );
        let rows: Vec<(String, String, Timestamp, f64)> = with_pool!(self, pool => {
            let mut query = sqlx::query_as(AssertSqlSafe(sql.as_str()))
                .bind(arm.as_str()).bind(from).bind(to);
            if let Some(owner) = owner_opt {
                query = bind_owner!(query, owner.binds());
            }
            query.fetch_all(pool).await?
        });
        let mut events = Vec::with_capacity(rows.len());
        for (request_id, kind, at, value) in rows {
            events.push(FeedbackEvent {
                request_id,
                at,
                kind: decode_kind(&kind)?,
                value,
            });
        }
        Ok(events)
    }

    /// The requests of one arm in `[from, to)` that none of `claimants` owns
    /// (`logic::attribution::belongs_to` of none), counted by model and rollout id as logged.
    #[tracing::instrument(skip_all, fields(arm = %arm, claimants = claimants.len()))]
    pub async fn unattributed_in_window(
        &self,
        claimants: &[RolloutTargets],
        arm: Arm,
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<Vec<UnattributedGroup>> {
        let sql = unattributed_sql(claimants.len());
        let rows: Vec<(String, Option<String>, i64)> = with_pool!(self, pool => {
            let mut query = sqlx::query_as(AssertSqlSafe(sql.as_str()))
                .bind(arm.as_str()).bind(from).bind(to);
            for claimant in claimants {
                query = bind_owner!(query, claimant.binds());
            }
            query.fetch_all(pool).await?
        });
        let mut groups = Vec::with_capacity(rows.len());
        for (model, rollout_id, count) in rows {
            groups.push(UnattributedGroup {
                model,
                rollout_id,
                count: count.max(0).unsigned_abs(),
            });
        }
        Ok(groups)
    }

    /// How many requests the store holds.
    pub async fn count_requests(&self) -> StoreResult<u64> {
        let count: i64 = with_pool!(self, pool => {
            sqlx::query_scalar(COUNT_REQUESTS_SQL).fetch_one(pool).await?
        });
        Ok(count.max(0).unsigned_abs())
    }

    /// How many feedback events the store holds.
    pub async fn count_feedback(&self) -> StoreResult<u64> {
        let count: i64 = with_pool!(self, pool => {
            sqlx::query_scalar(COUNT_FEEDBACK_SQL).fetch_one(pool).await?
        });
        Ok(count.max(0).unsigned_abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_cover_every_column_of_every_row() {
        assert!(insert_requests_sql(Placeholders::Numbered, 1).ends_with("($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) ON CONFLICT (request_id) DO NOTHING RETURNING request_id"));
        assert_eq!(
            insert_requests_sql(Placeholders::Anonymous, 2)
                .matches('?')
                .count(),
            2 * REQUEST_COLUMN_COUNT
        );
        assert_eq!(
            get_requests_sql(Placeholders::Numbered, 2),
            format!("SELECT {REQUEST_COLUMNS} FROM requests WHERE request_id IN ($1, $2)")
        );
        assert_eq!(
            get_requests_sql(Placeholders::Anonymous, 2),
            format!("SELECT {REQUEST_COLUMNS} FROM requests WHERE request_id IN (?, ?)")
        );
    }

    #[test]
    fn duplicates_are_the_rows_not_inserted() {
        assert_eq!(
            to_report(10, 7),
            InsertReport {
                inserted: 7,
                duplicates: 3,
                conflicts: 0
            }
        );
    }
}
