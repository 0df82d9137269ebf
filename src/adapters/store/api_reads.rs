//! Reads the HTTP API and the metrics feed need beyond what the owning areas expose: the latest
//! gate evidence of a rollout, and the per-rollout numbers `/metrics` mirrors (latest pass ratio
//! per arm and evaluator, cumulative verdict counts, halt signals per metric), the rollout
//! that owns a flag (`GET /v1/flags/{key}`), and every tick's e-value per metric (the web view's
//! e-value charts).

use crate::domain::rollout::PhaseName;
use sqlx::Row as _;

use super::{Store, StoreResult};
use crate::domain::Timestamp;
use crate::with_pool;

const LATEST_GATE_UPDATES_SQL: &str = "SELECT metric, stage, window_start, verdict, reason, evidence, \
     ln_e_value, bet, at FROM gate_updates \
     WHERE rollout_id = $1 AND window_start = \
       (SELECT MAX(window_start) FROM gate_updates WHERE rollout_id = $1) \
     ORDER BY metric";

/// Latest pass-rate point per (arm, evaluator), for the newest evaluator version of each pair.
const LATEST_SERIES_SQL: &str = "SELECT s.arm, s.evaluator, s.rate, s.n - s.unscorable, s.passes, s.fails, s.unscorable, \
       (SELECT CAST(SUM(t.passes) AS BIGINT) FROM pass_rate_series t WHERE t.rollout_id = s.rollout_id AND t.arm = s.arm \
          AND t.evaluator = s.evaluator AND t.evaluator_version = s.evaluator_version), \
       (SELECT CAST(SUM(t.fails) AS BIGINT) FROM pass_rate_series t WHERE t.rollout_id = s.rollout_id AND t.arm = s.arm \
          AND t.evaluator = s.evaluator AND t.evaluator_version = s.evaluator_version), \
       (SELECT CAST(SUM(t.unscorable) AS BIGINT) FROM pass_rate_series t WHERE t.rollout_id = s.rollout_id AND t.arm = s.arm \
          AND t.evaluator = s.evaluator AND t.evaluator_version = s.evaluator_version) \
     FROM pass_rate_series s \
     WHERE s.rollout_id = $1 AND s.window_end = \
       (SELECT MAX(u.window_end) FROM pass_rate_series u \
         WHERE u.rollout_id = s.rollout_id AND u.arm = s.arm AND u.evaluator = s.evaluator) \
     ORDER BY s.arm, s.evaluator, s.evaluator_version";

const HALT_COUNTS_SQL: &str = "SELECT metric, COUNT(*) FROM halt_signals WHERE rollout_id = $1 \
     GROUP BY metric ORDER BY metric";

/// Every tick's halting e-value per metric, oldest first.
const GATE_HISTORY_SQL: &str = "SELECT window_start, metric, stage, verdict, reason, ln_e_value, evidence \
     FROM gate_updates WHERE rollout_id = $1 ORDER BY window_start, metric";

/// The rollout owning a flag: the active one, else the newest.
const FLAG_OWNER_SQL: &str = "SELECT id, baseline_target, canary_target, phase FROM rollouts \
     WHERE flag_key = $1 ORDER BY active DESC, created_at DESC, id DESC LIMIT 1";

/// The rollout that owns a flag, as a gateway needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct FlagOwner {
    /// The rollout id.
    pub id: String,
    /// What the baseline arm serves.
    pub baseline_target: String,
    /// What the canary arm serves.
    pub canary_target: String,
    /// The phase.
    pub phase: PhaseName,
}

super::from_row!(FlagOwner {
    plain: [id, baseline_target, canary_target],
    parsed: [phase]
});

/// The latest pass ratio of one (arm, evaluator) and the cumulative verdict counts behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct LatestSeries {
    /// `baseline` or `canary`.
    pub arm: String,
    /// The evaluator.
    pub evaluator: String,
    /// Passes over scorable samples of the newest window.
    pub rate: Option<f64>,
    /// Scorable samples of the newest window.
    pub samples: i64,
    /// Cumulative passes, fails and unscorable over every window of this evaluator version.
    pub totals: (i64, i64, i64),
}

/// One tick of one metric's halting test.
#[derive(Debug, Clone, PartialEq)]
pub struct GateTick {
    /// The tick's window start.
    pub window_start: Timestamp,
    /// The metric.
    pub metric: String,
    /// Stage index (0-based).
    pub stage: i64,
    /// `halt`, `promote_ready` or `inconclusive`.
    pub verdict: String,
    /// The verdict's reason.
    pub reason: String,
    /// ln of the halting e-value after the tick.
    pub ln_e_value: Option<f64>,
    /// ln(1/α) of the halting test (from the tick's evidence), when it has one.
    pub ln_threshold: Option<f64>,
}

impl Store {
    /// The gate updates of the newest window of a rollout (one per metric), as JSON.
    pub async fn latest_gate_updates(
        &self,
        rollout_id: &str,
    ) -> StoreResult<Vec<serde_json::Value>> {
        let rows = with_pool!(self, pool => {
            let rows = sqlx::query(LATEST_GATE_UPDATES_SQL).bind(rollout_id).fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let evidence: sqlx::types::Json<serde_json::Value> = row.try_get(5)?;
                out.push(serde_json::json!({
                    "metric": row.try_get::<String, _>(0)?,
                    "stage": row.try_get::<i64, _>(1)?,
                    "window_start": row.try_get::<Timestamp, _>(2)?,
                    "verdict": row.try_get::<String, _>(3)?,
                    "reason": row.try_get::<String, _>(4)?,
                    "evidence": evidence.0,
                    "ln_e_value": row.try_get::<Option<f64>, _>(6)?,
                    "bet": row.try_get::<Option<f64>, _>(7)?,
                    "at": row.try_get::<Timestamp, _>(8)?,
                }));
            }
            out
        });
        Ok(rows)
    }

    /// The latest pass ratio per (arm, evaluator) of a rollout with cumulative verdict counts.
    pub async fn latest_series(&self, rollout_id: &str) -> StoreResult<Vec<LatestSeries>> {
        let rows = with_pool!(self, pool => {
            let rows = sqlx::query(LATEST_SERIES_SQL).bind(rollout_id).fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                out.push(LatestSeries {
                    arm: row.try_get(0)?,
                    evaluator: row.try_get(1)?,
                    rate: row.try_get(2)?,
                    samples: row.try_get(3)?,
                    totals: (
                        row.try_get::<Option<i64>, _>(7)?.unwrap_or(0),
                        row.try_get::<Option<i64>, _>(8)?.unwrap_or(0),
                        row.try_get::<Option<i64>, _>(9)?.unwrap_or(0),
                    ),
                });
            }
            out
        });
        Ok(rows)
    }

    /// Halt signals per metric of a rollout.
    pub async fn halt_signal_counts(&self, rollout_id: &str) -> StoreResult<Vec<(String, i64)>> {
        let rows: Vec<(String, i64)> = with_pool!(self, pool => {
            sqlx::query_as(HALT_COUNTS_SQL).bind(rollout_id).fetch_all(pool).await?
        });
        Ok(rows)
    }

    /// Every tick's halting test of a rollout (e-value and threshold per metric), oldest first.
    pub async fn gate_history(&self, rollout_id: &str) -> StoreResult<Vec<GateTick>> {
        let rows = with_pool!(self, pool => {
            let rows = sqlx::query(GATE_HISTORY_SQL).bind(rollout_id).fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let evidence: sqlx::types::Json<serde_json::Value> = row.try_get(6)?;
                out.push(GateTick {
                    window_start: row.try_get(0)?,
                    metric: row.try_get(1)?,
                    stage: row.try_get(2)?,
                    verdict: row.try_get(3)?,
                    reason: row.try_get(4)?,
                    ln_e_value: row.try_get(5)?,
                    ln_threshold: evidence.0.get("ln_threshold").and_then(serde_json::Value::as_f64),
                });
            }
            out
        });
        Ok(rows)
    }

    /// The rollout that owns `flag_key`: the active one, else the newest; None when no rollout
    /// uses the flag.
    pub async fn flag_owner(&self, flag_key: &str) -> StoreResult<Option<FlagOwner>> {
        let owner = with_pool!(self, pool => sqlx::query_as::<_, FlagOwner>(FLAG_OWNER_SQL)
            .bind(flag_key)
            .fetch_optional(pool)
            .await?);
        Ok(owner)
    }
}
