//! The `tick_budgets` table: what each judge has spent in one tick (calls, tokens, pico-dollars)
//! and whether an auth failure stopped it, shared by every claim batch and every replica that
//! scores the tick. A call is reserved with one conditional `UPDATE` (a row lock on PostgreSQL,
//! the single writer on SQLite), so two replicas can never both take the last call of a budget.

use sqlx::Row;

use super::{Store, StoreError, StoreResult, TickKey};
use crate::with_pool;

/// A judge's spend in one tick; as a cap, 0 in a field means no cap on that dimension.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JudgeSpend {
    /// HTTP calls, retries included.
    pub calls: u64,
    /// Prompt plus completion tokens.
    pub tokens: u64,
    /// Dollars in whole pico-dollars (1e-12 USD).
    pub pico_usd: u64,
}

/// What reserving a call found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallGrant {
    /// The call is reserved (and counted).
    Granted,
    /// A cap of the tick is reached.
    OverBudget,
    /// The judge failed authentication earlier in the tick.
    AuthStopped,
}

/// One judge's row for one tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TickSpendRow {
    /// What was spent.
    pub spent: JudgeSpend,
    /// True once an auth failure stopped the judge for the tick.
    pub auth_stopped: bool,
    /// The failure that stopped it.
    pub auth_error: Option<String>,
}

const OPEN: &str = "INSERT INTO tick_budgets (rollout_id, window_start, judge) \
     VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";
const RESERVE: &str = "UPDATE tick_budgets SET calls = calls + 1 \
     WHERE rollout_id = $1 AND window_start = $2 AND judge = $3 AND auth_stopped = $4 \
       AND ($5 = 0 OR calls < $5) AND ($6 = 0 OR tokens < $6) AND ($7 = 0 OR cost_pico_usd < $7)";
const RECORD: &str = "UPDATE tick_budgets SET tokens = tokens + $4, cost_pico_usd = cost_pico_usd + $5 \
     WHERE rollout_id = $1 AND window_start = $2 AND judge = $3";
const STOP: &str = "UPDATE tick_budgets SET auth_stopped = $4, auth_error = $5 \
     WHERE rollout_id = $1 AND window_start = $2 AND judge = $3 AND auth_stopped = $6";
const SELECT: &str = "SELECT calls, tokens, cost_pico_usd, auth_stopped, auth_error FROM tick_budgets \
     WHERE rollout_id = $1 AND window_start = $2 AND judge = $3";

impl Store {
    /// Creates the (empty) spend rows of `judges` for the tick; existing rows are kept.
    pub async fn open_tick_budgets(&self, key: &TickKey, judges: &[String]) -> StoreResult<()> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for judge in judges {
                sqlx::query(OPEN).bind(&key.rollout_id).bind(key.window_start).bind(judge)
                    .execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Reserves one call of `judge` in the tick unless the judge is auth-stopped or a cap of
    /// `cap` is reached. Calls never exceed `cap.calls`. Tokens and dollars are known only once
    /// a reply arrives, so they can exceed their cap by what the calls in flight (on every
    /// replica) when it is crossed then spend: at most one call's cost each.
    pub async fn reserve_judge_call(
        &self,
        key: &TickKey,
        judge: &str,
        cap: &JudgeSpend,
    ) -> StoreResult<CallGrant> {
        let reserved = with_pool!(self, pool => sqlx::query(RESERVE)
            .bind(&key.rollout_id).bind(key.window_start).bind(judge).bind(false)
            .bind(to_i64(cap.calls)).bind(to_i64(cap.tokens)).bind(to_i64(cap.pico_usd))
            .execute(pool).await?.rows_affected());
        if reserved == 1 {
            return Ok(CallGrant::Granted);
        }
        let row = self
            .tick_spend(key, judge)
            .await?
            .ok_or_else(|| StoreError::BadValue {
                table: "tick_budgets",
                column: "judge",
                detail: format!(
                    "no spend row for judge `{judge}` in tick {} {}",
                    key.rollout_id, key.window_start
                ),
            })?;
        Ok(if row.auth_stopped {
            CallGrant::AuthStopped
        } else {
            CallGrant::OverBudget
        })
    }

    /// Adds what one call used to the tick's spend.
    pub async fn record_judge_spend(
        &self,
        key: &TickKey,
        judge: &str,
        tokens: u64,
        pico_usd: u64,
    ) -> StoreResult<()> {
        with_pool!(self, pool => sqlx::query(RECORD)
            .bind(&key.rollout_id).bind(key.window_start).bind(judge)
            .bind(to_i64(tokens)).bind(to_i64(pico_usd))
            .execute(pool).await?.rows_affected());
        Ok(())
    }

    /// Stops `judge` for the rest of the tick; true when this call stopped it (false when it
    /// was stopped already), so the failure is logged once per tick.
    pub async fn stop_judge_for_auth(
        &self,
        key: &TickKey,
        judge: &str,
        error: &str,
    ) -> StoreResult<bool> {
        let stopped = with_pool!(self, pool => sqlx::query(STOP)
            .bind(&key.rollout_id).bind(key.window_start).bind(judge).bind(true).bind(error)
            .bind(false).execute(pool).await?.rows_affected());
        Ok(stopped == 1)
    }

    /// The tick's spend row of `judge`, if it was opened.
    pub async fn tick_spend(
        &self,
        key: &TickKey,
        judge: &str,
    ) -> StoreResult<Option<TickSpendRow>> {
        with_pool!(self, pool => {
            let row_opt = sqlx::query(SELECT).bind(&key.rollout_id).bind(key.window_start)
                .bind(judge).fetch_optional(pool).await?;
            let Some(row) = row_opt else {
                return Ok(None);
            };
            Ok(Some(TickSpendRow {
                spent: JudgeSpend {
                    calls: to_u64(row.try_get("calls")?, "calls")?,
                    tokens: to_u64(row.try_get("tokens")?, "tokens")?,
                    pico_usd: to_u64(row.try_get("cost_pico_usd")?, "cost_pico_usd")?,
                },
                auth_stopped: row.try_get("auth_stopped")?,
                auth_error: row.try_get("auth_error")?,
            }))
        })
    }
}

/// Counters beyond `i64::MAX` (9.2 million dollars in pico-dollars) saturate.
fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn to_u64(value: i64, column: &'static str) -> StoreResult<u64> {
    u64::try_from(value).map_err(|_| StoreError::BadValue {
        table: "tick_budgets",
        column,
        detail: format!("negative count {value}"),
    })
}
