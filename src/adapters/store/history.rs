//! Keyset-paged reads over request history for `rescore` and `backtest`: constant memory
//! however long the range, because each page resumes after the last (ts, request_id) seen. A
//! scan of one rollout selects its requests by the attribution rule (`owner::owned_by`).

use sqlx::AssertSqlSafe;

use super::owner::{bind_owner, owned_by};
use super::placeholders::Placeholders;
use super::{Store, StoreError, StoreResult};
use crate::domain::{Arm, Outcome, Timestamp};
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
       AND (ts, request_id) > ($4, $5)";
const PAGE_ORDER: &str = " ORDER BY ts, request_id LIMIT $6";

/// Where a page starts: the range's start raised to the cursor's timestamp (bound as `$1`), and
/// the cursor (`$4`, `$5`). SQLite seeks the `(ts, request_id)` index on the `ts >= $1` bound
/// only, not on the row-value comparison, so binding the range's own start made every page scan
/// the range from its start up to the cursor: quadratic in the range (a page 8 h into a 1M-request
/// store took 0.45 s instead of 0.01 s; BENCHMARKS.md, "Rescore over 1M requests").
fn page_start<'c>(
    filter: &HistoryFilter,
    cursor_opt: Option<&'c HistoryCursor>,
) -> (Timestamp, Timestamp, &'c str) {
    match cursor_opt {
        Some(cursor) => (
            cursor.ts.max(filter.from),
            cursor.ts,
            cursor.request_id.as_str(),
        ),
        None => (filter.from, filter.from, ""),
    }
}

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
        let (start, after_ts, after_id) = page_start(filter, cursor_opt);
        let sql = history_sql(PAGE, filter, 7, PAGE_ORDER);
        let rows: Vec<(Timestamp, String)> = with_pool!(self, pool => {
            let mut query = sqlx::query_as(AssertSqlSafe(sql.as_str()))
                .bind(start).bind(filter.to).bind(arm)
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

/// One history entry with what attribution needs and its stored outcomes for the asked
/// evaluator versions, packed into the request's row so a rescore of finished work reads one
/// row per request instead of one per score (BENCHMARKS.md, "Rescore, issue 14, structural
/// change").
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredHistoryEntry {
    /// The request's (ts, request_id), also the cursor of the next page.
    pub cursor: HistoryCursor,
    /// The arm that served it.
    pub arm: Arm,
    /// The model it served.
    pub model: String,
    /// The rollout it names, if any.
    pub rollout_id: Option<String>,
    /// Its stored (evaluator, evaluator version, outcome) for the asked versions, any order.
    pub outcomes: Vec<StoredOutcome>,
}

/// One stored score, reduced to what the series count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredOutcome {
    /// The evaluator's name.
    pub evaluator: String,
    /// The evaluator's version.
    pub evaluator_version: String,
    /// Its outcome.
    pub outcome: Outcome,
}

/// Separates the fields of one packed score (ASCII unit separator).
const FIELD_SEP: char = '\u{1f}';
/// Separates packed scores (ASCII record separator).
const SCORE_SEP: char = '\u{1e}';

/// The page query of [`Store::history_page_scored`]: [`PAGE`] plus, per request, its scores of
/// the `versions` evaluator versions packed by `group_concat` / `string_agg`. The version list
/// is numbered from `$first_version` (after the owner binds when the filter has a rollout).
fn scored_page_sql(postgres: bool, filter: &HistoryFilter, versions: usize) -> String {
    let first_version = if filter.rollout.is_some() { 11 } else { 7 };
    let list = Placeholders::Numbered.list(first_version, versions.max(1));
    let packed = if postgres {
        "string_agg(s.evaluator || chr(31) || s.evaluator_version || chr(31) || s.outcome, chr(30))"
    } else {
        "group_concat(s.evaluator || char(31) || s.evaluator_version || char(31) || s.outcome, \
         char(30))"
    };
    let select = PAGE.replacen(
        "SELECT ts, request_id FROM requests",
        &format!(
            "SELECT ts, request_id, arm, model, rollout_id, (SELECT {packed} FROM eval_scores s \
             WHERE s.request_id = requests.request_id AND s.evaluator_version IN ({list})) \
             AS packed FROM requests"
        ),
        1,
    );
    history_sql(&select, filter, 7, PAGE_ORDER)
}

/// The stored outcomes packed by [`scored_page_sql`]; `None` when the text does not split into
/// whole scores (an evaluator name holding a separator): the caller then treats the request as
/// not scored and lets the scoring engine read its scores in full.
fn unpack_outcomes(packed: &str) -> Option<Vec<StoredOutcome>> {
    let mut outcomes = Vec::new();
    for one in packed.split(SCORE_SEP) {
        let mut fields = one.split(FIELD_SEP);
        let (Some(evaluator), Some(version), Some(outcome), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return None;
        };
        outcomes.push(StoredOutcome {
            evaluator: evaluator.to_string(),
            evaluator_version: version.to_string(),
            outcome: Outcome::parse(outcome)?,
        });
    }
    Some(outcomes)
}

/// A page row of [`Store::history_page_scored`].
type ScoredRow = (
    Timestamp,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
);

impl Store {
    /// The next page after `cursor_opt`, like [`Store::history_page`], with each request's
    /// arm, model, rollout id and stored outcomes of `evaluator_versions` (one row per
    /// request). A request whose packed scores cannot be split reports none.
    pub async fn history_page_scored(
        &self,
        filter: &HistoryFilter,
        cursor_opt: Option<&HistoryCursor>,
        limit: i64,
        evaluator_versions: &[String],
    ) -> StoreResult<Vec<ScoredHistoryEntry>> {
        let arm = filter.arm.map(Arm::as_str);
        let (start, after_ts, after_id) = page_start(filter, cursor_opt);
        let postgres = matches!(self, Store::Postgres(_));
        let sql = scored_page_sql(postgres, filter, evaluator_versions.len());
        // With no versions asked, one version no score has, so the list is never empty.
        let unmatched = [String::new()];
        let versions = if evaluator_versions.is_empty() {
            &unmatched[..]
        } else {
            evaluator_versions
        };
        let rows: Vec<ScoredRow> = with_pool!(self, pool => {
            let mut query = sqlx::query_as(AssertSqlSafe(sql.as_str()))
                .bind(start).bind(filter.to).bind(arm)
                .bind(after_ts).bind(after_id).bind(limit);
            if let Some(rollout) = &filter.rollout {
                query = bind_owner!(query, rollout.binds());
            }
            for version in versions {
                query = query.bind(version.as_str());
            }
            query.fetch_all(pool).await?
        });
        let mut entries = Vec::with_capacity(rows.len());
        for (ts, request_id, arm_text, model, rollout_id, packed_opt) in rows {
            let arm = Arm::parse(&arm_text).ok_or_else(|| StoreError::BadValue {
                table: "requests",
                column: "arm",
                detail: arm_text.clone(),
            })?;
            let outcomes = packed_opt
                .as_deref()
                .and_then(unpack_outcomes)
                .unwrap_or_default();
            entries.push(ScoredHistoryEntry {
                cursor: HistoryCursor { ts, request_id },
                arm,
                model,
                rollout_id,
                outcomes,
            });
        }
        Ok(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_outcomes_unpack_and_a_stray_separator_gives_none() {
        let packed =
            format!("a{FIELD_SEP}v1{FIELD_SEP}pass{SCORE_SEP}b{FIELD_SEP}v2{FIELD_SEP}fail");
        let outcomes = unpack_outcomes(&packed).expect("two whole scores");
        assert_eq!(outcomes.len(), 2);
        assert_eq!(outcomes[1].evaluator, "b");
        assert_eq!(outcomes[1].evaluator_version, "v2");
        assert_eq!(outcomes[1].outcome, Outcome::Fail);
        let stray = format!("a{FIELD_SEP}x{FIELD_SEP}v1{FIELD_SEP}pass");
        assert_eq!(unpack_outcomes(&stray), None);
        assert_eq!(
            unpack_outcomes(&format!("a{FIELD_SEP}v1{FIELD_SEP}maybe")),
            None
        );
    }

    #[test]
    fn a_page_after_a_cursor_starts_at_the_cursor_not_at_the_range_start() {
        let from = Timestamp::default();
        let filter = HistoryFilter {
            from,
            to: from + chrono::Duration::hours(9),
            rollout: None,
            arm: None,
        };
        assert_eq!(page_start(&filter, None), (from, from, ""));
        let cursor = HistoryCursor {
            ts: from + chrono::Duration::hours(8),
            request_id: "r9".to_string(),
        };
        assert_eq!(
            page_start(&filter, Some(&cursor)),
            (cursor.ts, cursor.ts, "r9")
        );
    }

    #[test]
    fn the_version_list_follows_the_owner_binds() {
        let filter = HistoryFilter {
            from: Timestamp::default(),
            to: Timestamp::default(),
            rollout: None,
            arm: None,
        };
        let sql = scored_page_sql(false, &filter, 2);
        assert!(sql.contains("IN ($7, $8)"), "{sql}");
        assert!(sql.contains("group_concat"), "{sql}");
        let owned = HistoryFilter {
            rollout: Some(RolloutTargets {
                rollout_id: "r".to_string(),
                baseline_model: "b".to_string(),
                canary_model: "c".to_string(),
                started_at: Timestamp::default(),
            }),
            ..filter
        };
        let sql = scored_page_sql(true, &owned, 1);
        assert!(sql.contains("IN ($11)"), "{sql}");
        assert!(sql.contains("string_agg"), "{sql}");
        assert!(sql.ends_with(PAGE_ORDER), "{sql}");
    }
}
