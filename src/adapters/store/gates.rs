//! Gate persistence: `gate_state` (one JSON state per rollout, stage and metric, so a restart
//! continues the same test), `gate_updates` (per window and metric: the pairing seed, the bet and
//! the verdict, so every decision can be replayed), `pass_rate_series` and `metric_series` (upserted
//! per window, so a redone tick does not duplicate), and `halt_signals` with their evidence.
//!
//! Redo safety: [`Store::save_gate_tick`] keeps the state from before the window beside the new
//! one; [`Store::load_gate_states`] for the same window returns the earlier state, so a tick that
//! crashed after saving and is redone does not count its window twice.

use serde::Serialize;
use std::collections::BTreeMap;

use sqlx::Row;
use sqlx::types::Json;

use super::{Fence, Store, StoreError, StoreResult};
use crate::domain::{Arm, MetricVerdict, Role, Timestamp, Verdict};
use crate::logic::gates::series::{MetricPoint, PassRatePoint};
use crate::logic::gates::{GateState, GateUpdate};
use crate::with_pool;

const SELECT_STATES: &str = "SELECT metric, stage, state, previous_state, window_start FROM gate_state \
     WHERE rollout_id = $1 ORDER BY metric, stage";
const UPSERT_STATE: &str = "INSERT INTO gate_state \
     (rollout_id, stage, metric, state, previous_state, window_start, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7) \
     ON CONFLICT (rollout_id, stage, metric) DO UPDATE SET \
     previous_state = CASE WHEN gate_state.window_start = excluded.window_start \
       THEN gate_state.previous_state ELSE gate_state.state END, \
     state = excluded.state, window_start = excluded.window_start, updated_at = excluded.updated_at";
const UPSERT_UPDATE: &str = "INSERT INTO gate_updates \
     (rollout_id, window_start, metric, stage, tick, pairing_seed, bet, ln_e_value, verdict, reason, evidence, at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
     ON CONFLICT (rollout_id, window_start, metric) DO UPDATE SET \
     stage = excluded.stage, tick = excluded.tick, pairing_seed = excluded.pairing_seed, \
     bet = excluded.bet, ln_e_value = excluded.ln_e_value, verdict = excluded.verdict, \
     reason = excluded.reason, evidence = excluded.evidence, at = excluded.at";
const SELECT_UPDATES: &str = "SELECT metric, stage, tick, pairing_seed, bet, ln_e_value, verdict, at \
     FROM gate_updates WHERE rollout_id = $1 AND window_start = $2 ORDER BY metric";
const UPSERT_PASS_RATE: &str = "INSERT INTO pass_rate_series \
     (rollout_id, arm, evaluator, evaluator_version, window_start, window_end, n, passes, fails, \
      unscorable, rate, wilson_low, wilson_high, interval_kind) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
     ON CONFLICT (rollout_id, arm, evaluator, evaluator_version, window_start, window_end) DO UPDATE SET \
     n = excluded.n, passes = excluded.passes, fails = excluded.fails, unscorable = excluded.unscorable, \
     rate = excluded.rate, wilson_low = excluded.wilson_low, wilson_high = excluded.wilson_high, \
     interval_kind = excluded.interval_kind";
const SELECT_PASS_RATE: &str = "SELECT arm, evaluator, evaluator_version, window_start, window_end, n, passes, \
     fails, unscorable, rate, wilson_low, wilson_high, interval_kind FROM pass_rate_series \
     WHERE rollout_id = $1 ORDER BY window_start, arm, evaluator, evaluator_version";
const UPSERT_METRIC: &str = "INSERT INTO metric_series \
     (rollout_id, arm, metric, window_start, window_end, n, value, extra) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
     ON CONFLICT (rollout_id, arm, metric, window_start, window_end) DO UPDATE SET \
     n = excluded.n, value = excluded.value, extra = excluded.extra";
const SELECT_METRIC: &str = "SELECT arm, metric, window_start, window_end, n, value, extra FROM metric_series \
     WHERE rollout_id = $1 ORDER BY window_start, arm, metric";
const INSERT_HALT: &str = "INSERT INTO halt_signals \
     (rollout_id, stage, metric, role, at, window_start, reason, evidence) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
     ON CONFLICT (rollout_id, stage, metric, window_start) DO NOTHING";
const SELECT_HALTS: &str = "SELECT stage, metric, role, at, window_start, reason, evidence FROM halt_signals \
     WHERE rollout_id = $1 ORDER BY at, metric";

/// One stored pass-rate point with its keys; serialised flat (the point's fields beside the
/// window's) as `GET /api/v1/rollouts/{id}/series` returns it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PassRateRow {
    /// Start of the window.
    pub window_start: Timestamp,
    /// End of the window.
    pub window_end: Timestamp,
    /// Evaluator version (hash of its definition); empty for the suite verdict if unknown.
    pub evaluator_version: String,
    /// The point (arm, evaluator, counts, rate, Wilson interval).
    #[serde(flatten)]
    pub point: PassRatePoint,
}

/// One stored metric point with its window.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricRow {
    /// Start of the window.
    pub window_start: Timestamp,
    /// End of the window.
    pub window_end: Timestamp,
    /// The point.
    pub point: MetricPoint,
}

/// One stored halt signal (as the API's rollout detail shows it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HaltSignal {
    /// Stage index.
    pub stage: i64,
    /// The metric that fired.
    pub metric: String,
    /// Its role.
    pub role: Role,
    /// When the tick decided.
    pub at: Timestamp,
    /// The tick's window start.
    pub window_start: Timestamp,
    /// The one-line reason.
    pub reason: String,
    /// The evidence JSON.
    pub evidence: serde_json::Value,
}

fn seed_to_i64(seed: u64) -> i64 {
    i64::from_ne_bytes(seed.to_ne_bytes())
}

fn seed_from_i64(bits: i64) -> u64 {
    u64::from_ne_bytes(bits.to_ne_bytes())
}

fn count(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn uncount(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn parse_arm(text: &str, table: &'static str) -> StoreResult<Arm> {
    Arm::parse(text).ok_or_else(|| StoreError::BadValue {
        table,
        column: "arm",
        detail: text.to_string(),
    })
}

fn parse_role(text: &str) -> StoreResult<Role> {
    match text {
        "rollback" => Ok(Role::Rollback),
        "freeze" => Ok(Role::Freeze),
        "notify" => Ok(Role::Notify),
        _ => Err(StoreError::BadValue {
            table: "halt_signals",
            column: "role",
            detail: text.to_string(),
        }),
    }
}

impl Store {
    /// The gate states of a rollout as they were before `window_start` was applied: per metric the
    /// newest stage's state, or, when that row was written by this very window, the state before it.
    pub async fn load_gate_states(
        &self,
        rollout_id: &str,
        window_start: Timestamp,
    ) -> StoreResult<BTreeMap<String, GateState>> {
        let rows = with_pool!(self, pool => {
            let rows = sqlx::query(SELECT_STATES).bind(rollout_id).fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let metric: String = row.try_get(0)?;
                let state: Json<GateState> = row.try_get(2)?;
                let previous: Option<Json<GateState>> = row.try_get(3)?;
                let window: Timestamp = row.try_get(4)?;
                out.push((metric, state.0, previous.map(|p| p.0), window));
            }
            out
        });
        let mut states = BTreeMap::new();
        for (metric, state, previous, window) in rows {
            let before = if window == window_start {
                previous
            } else {
                Some(state)
            };
            if let Some(before) = before {
                states.insert(metric, before);
            }
        }
        Ok(states)
    }

    /// Saves one tick of gates in one transaction: every new state, and one `gate_updates` row per
    /// metric (seed, bet, e-value, verdict, evidence). Redoing the same window overwrites.
    pub async fn save_gate_tick(
        &self,
        rollout_id: &str,
        window_start: Timestamp,
        states: &BTreeMap<String, GateState>,
        updates: &[GateUpdate],
        verdicts: &[MetricVerdict],
        fence: Option<&Fence>,
    ) -> StoreResult<()> {
        let by_metric: BTreeMap<&str, &MetricVerdict> =
            verdicts.iter().map(|v| (v.metric.as_str(), v)).collect();
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            if let Some(fence) = fence {
                let held = sqlx::query(super::integrity::CHECK_FENCE)
                    .bind(&fence.rollout_id).bind(&fence.holder).bind(fence.token)
                    .execute(&mut *tx).await?.rows_affected();
                if held != 1 {
                    tx.rollback().await?;
                    return Err(StoreError::Fenced {
                        rollout_id: fence.rollout_id.clone(),
                        holder: fence.holder.clone(),
                    });
                }
            }
            for (metric, state) in states {
                sqlx::query(UPSERT_STATE).bind(rollout_id).bind(i64::from(state.stage)).bind(metric)
                    .bind(Json(state)).bind(Option::<Json<GateState>>::None).bind(window_start)
                    .bind(updates.first().map_or(window_start, |u| u.at))
                    .execute(&mut *tx).await?;
            }
            for update in updates {
                let verdict = by_metric.get(update.metric.as_str());
                let reason = verdict.map(|v| v.verdict.reason()).unwrap_or_default();
                let evidence = verdict.map(|v| &v.evidence);
                sqlx::query(UPSERT_UPDATE).bind(rollout_id).bind(window_start).bind(&update.metric)
                    .bind(i64::from(update.stage)).bind(i64::from(update.tick))
                    .bind(seed_to_i64(update.pairing_seed)).bind(update.bet).bind(update.ln_e_value)
                    .bind(&update.verdict).bind(reason).bind(Json(evidence)).bind(update.at)
                    .execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// The replay records of one window, by metric.
    pub async fn gate_updates(
        &self,
        rollout_id: &str,
        window_start: Timestamp,
    ) -> StoreResult<Vec<GateUpdate>> {
        let updates = with_pool!(self, pool => {
            let rows = sqlx::query(SELECT_UPDATES).bind(rollout_id).bind(window_start).fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                out.push(GateUpdate {
                    metric: row.try_get(0)?,
                    stage: u32::try_from(row.try_get::<i64, _>(1)?).unwrap_or(0),
                    tick: u32::try_from(row.try_get::<i64, _>(2)?).unwrap_or(0),
                    pairing_seed: seed_from_i64(row.try_get(3)?),
                    bet: row.try_get(4)?,
                    ln_e_value: row.try_get(5)?,
                    verdict: row.try_get(6)?,
                    at: row.try_get(7)?,
                });
            }
            out
        });
        Ok(updates)
    }

    /// Upserts pass-rate points of one rollout (a redone window replaces, never duplicates).
    pub async fn upsert_pass_rate_series(
        &self,
        rollout_id: &str,
        rows: &[PassRateRow],
    ) -> StoreResult<()> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for row in rows {
                let p = &row.point;
                sqlx::query(UPSERT_PASS_RATE).bind(rollout_id).bind(p.arm.as_str()).bind(&p.evaluator)
                    .bind(&row.evaluator_version).bind(row.window_start).bind(row.window_end)
                    .bind(count(p.n)).bind(count(p.passes)).bind(count(p.fails)).bind(count(p.unscorable))
                    .bind(p.rate).bind(p.wilson_low).bind(p.wilson_high).bind(&p.interval_kind)
                    .execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// The pass-rate series of a rollout, oldest window first.
    pub async fn pass_rate_series(&self, rollout_id: &str) -> StoreResult<Vec<PassRateRow>> {
        let raw = with_pool!(self, pool => {
            let rows = sqlx::query(SELECT_PASS_RATE).bind(rollout_id).fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let arm: String = row.try_get(0)?;
                out.push((arm, PassRateRow {
                    evaluator_version: row.try_get(2)?,
                    window_start: row.try_get(3)?,
                    window_end: row.try_get(4)?,
                    point: PassRatePoint {
                        arm: Arm::Baseline,
                        evaluator: row.try_get(1)?,
                        n: uncount(row.try_get(5)?),
                        passes: uncount(row.try_get(6)?),
                        fails: uncount(row.try_get(7)?),
                        unscorable: uncount(row.try_get(8)?),
                        rate: row.try_get(9)?,
                        wilson_low: row.try_get(10)?,
                        wilson_high: row.try_get(11)?,
                        interval_kind: row.try_get(12)?,
                    },
                }));
            }
            out
        });
        let mut out = Vec::with_capacity(raw.len());
        for (arm, mut row) in raw {
            row.point.arm = parse_arm(&arm, "pass_rate_series")?;
            out.push(row);
        }
        Ok(out)
    }

    /// Upserts metric points of one rollout.
    pub async fn upsert_metric_series(
        &self,
        rollout_id: &str,
        rows: &[MetricRow],
    ) -> StoreResult<()> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for row in rows {
                let p = &row.point;
                sqlx::query(UPSERT_METRIC).bind(rollout_id).bind(p.arm.as_str()).bind(&p.metric)
                    .bind(row.window_start).bind(row.window_end).bind(count(p.n)).bind(p.value)
                    .bind(Json(&p.extra)).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// The metric series of a rollout, oldest window first.
    pub async fn metric_series(&self, rollout_id: &str) -> StoreResult<Vec<MetricRow>> {
        let raw = with_pool!(self, pool => {
            let rows = sqlx::query(SELECT_METRIC).bind(rollout_id).fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let arm: String = row.try_get(0)?;
                let extra: Json<serde_json::Value> = row.try_get(6)?;
                out.push((arm, MetricRow {
                    window_start: row.try_get(2)?,
                    window_end: row.try_get(3)?,
                    point: MetricPoint {
                        arm: Arm::Baseline,
                        metric: row.try_get(1)?,
                        n: uncount(row.try_get(4)?),
                        value: row.try_get(5)?,
                        extra: extra.0,
                    },
                }));
            }
            out
        });
        let mut out = Vec::with_capacity(raw.len());
        for (arm, mut row) in raw {
            row.point.arm = parse_arm(&arm, "metric_series")?;
            out.push(row);
        }
        Ok(out)
    }

    /// Records a halt signal for every halting verdict of a tick (idempotent per window).
    /// Returns how many were new.
    pub async fn record_halt_signals(
        &self,
        rollout_id: &str,
        stage: u32,
        window_start: Timestamp,
        at: Timestamp,
        verdicts: &[MetricVerdict],
    ) -> StoreResult<u64> {
        let mut inserted = 0;
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for verdict in verdicts {
                let Verdict::Halt { role, reason } = &verdict.verdict else { continue };
                inserted += sqlx::query(INSERT_HALT).bind(rollout_id).bind(i64::from(stage))
                    .bind(&verdict.metric).bind(role.as_str()).bind(at).bind(window_start)
                    .bind(reason).bind(Json(&verdict.evidence)).execute(&mut *tx).await?.rows_affected();
            }
            tx.commit().await?;
        });
        Ok(inserted)
    }

    /// The halt signals of a rollout, oldest first.
    pub async fn halt_signals(&self, rollout_id: &str) -> StoreResult<Vec<HaltSignal>> {
        let raw = with_pool!(self, pool => {
            let rows = sqlx::query(SELECT_HALTS).bind(rollout_id).fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let role: String = row.try_get(2)?;
                let evidence: Json<serde_json::Value> = row.try_get(6)?;
                out.push((role, HaltSignal {
                    stage: row.try_get(0)?,
                    metric: row.try_get(1)?,
                    role: Role::Notify,
                    at: row.try_get(3)?,
                    window_start: row.try_get(4)?,
                    reason: row.try_get(5)?,
                    evidence: evidence.0,
                }));
            }
            out
        });
        let mut out = Vec::with_capacity(raw.len());
        for (role, mut signal) in raw {
            signal.role = parse_role(&role)?;
            out.push(signal);
        }
        Ok(out)
    }
}

impl From<&super::TelemetryRow> for crate::logic::gates::TelemetryRow {
    fn from(row: &super::TelemetryRow) -> Self {
        crate::logic::gates::TelemetryRow {
            latency_ms: row.latency_ms,
            ttft_ms: row.ttft_ms,
            cost_usd: row.cost_usd,
            completion_tokens: row.completion_tokens,
            error: row.status == crate::domain::RequestStatus::Error,
        }
    }
}
