//! Rollout tables (migration 0004): `rollouts` (plan and state as JSON, with an optimistic
//! version so two writers cannot both apply a transition), `rollout_events` (the audit trail),
//! `traffic_splits` (what gateways read, with a generation counter); `drills` are in
//! [`super::drills`]. Plans and
//! states are stored as JSON values in a versioned format that [`super::rollout_format`] alone
//! encodes and decodes.

use serde::Serialize;
use serde_json::Value;
use sqlx::types::Json;

use super::integrity::{CHECK_FENCE, INSERT_OUTBOX};
use super::{Fence, OutboxItem, Store, StoreError, StoreResult, TickKey};
use crate::domain::rollout::PhaseName;
use crate::domain::{SplitRecord, SplitWrite, Timestamp};
use crate::logic::attribution::RolloutTargets;
use crate::with_pool;

/// A rollout to create.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewRollout {
    /// The rollout id.
    pub id: String,
    /// The flag key gateways read.
    pub flag_key: String,
    /// The owning team.
    pub owner: Option<String>,
    /// The owner's notification webhook (overrides `[notify].webhook`).
    pub webhook: Option<String>,
    /// The eval suite.
    pub suite: Option<String>,
    /// What the baseline arm serves, e.g. `support-bot@v41`.
    pub baseline_target: String,
    /// What the canary arm serves, e.g. `support-bot@v42`.
    pub canary_target: String,
    /// The routing salt (DESIGN.md §6; by default the flag key).
    pub salt: String,
    /// Tenants that always get the canary while its split is above 0.
    pub always_tenants: Vec<String>,
    /// Tenants that never get the canary.
    pub never_tenants: Vec<String>,
    /// The plan (JSON of `domain::rollout::Plan`).
    pub plan: Value,
    /// The initial state (JSON of `domain::rollout::RolloutState`).
    pub state: Value,
    /// The phase, for queries that do not parse the state.
    pub phase: PhaseName,
    /// When it was created.
    pub created_at: Timestamp,
}

/// A stored rollout.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RolloutRow {
    /// The rollout id.
    pub id: String,
    /// The flag key gateways read.
    pub flag_key: String,
    /// The owning team.
    pub owner: Option<String>,
    /// The owner's notification webhook.
    pub webhook: Option<String>,
    /// The eval suite.
    pub suite: Option<String>,
    /// What the baseline arm serves.
    pub baseline_target: String,
    /// What the canary arm serves.
    pub canary_target: String,
    /// The routing salt.
    pub salt: String,
    /// Tenants that always get the canary while its split is above 0.
    pub always_tenants: Vec<String>,
    /// Tenants that never get the canary.
    pub never_tenants: Vec<String>,
    /// The plan as stored.
    pub plan: Value,
    /// The state as stored.
    pub state: Value,
    /// The phase (stored as its name; an unknown name fails the read, naming the column).
    pub phase: PhaseName,
    /// When the next decision is due (None when pending or over).
    pub wake_at: Option<Timestamp>,
    /// The last decision's reason (every tick, not only transitions).
    pub last_reason: String,
    /// The last decision's evidence (the gate verdicts it looked at).
    pub last_evidence: Value,
    /// False once the rollout reached a terminal phase.
    pub active: bool,
    /// Grows by one on every state update; writers must present the version they read.
    pub version: i64,
    /// When it was created.
    pub created_at: Timestamp,
    /// When its state last changed.
    pub updated_at: Timestamp,
    /// Consecutive tick windows whose tick failed (0 after a tick that decided).
    pub failed_windows: i64,
    /// The window of the latest failed tick, while ticks fail.
    pub failing_window: Option<Timestamp>,
    /// The latest failed tick's error, while ticks fail.
    pub last_tick_error: Option<String>,
    /// The newest tick window whose decision was applied: a redo of it (or of an older one)
    /// applies nothing.
    pub last_window: Option<Timestamp>,
    /// A split the controller was writing to the sinks when it last stopped (None once the
    /// decision committed): on a restart, sinks showing it are its own write, not drift.
    pub pending_split_bp: Option<i64>,
}

super::from_row!(RolloutRow {
    plain: [
        id,
        flag_key,
        owner,
        webhook,
        suite,
        baseline_target,
        canary_target,
        salt,
        wake_at,
        last_reason,
        active,
        version,
        created_at,
        updated_at,
        failed_windows,
        failing_window,
        last_tick_error,
        last_window,
        pending_split_bp
    ],
    json: [always_tenants, never_tenants, plan, state, last_evidence],
    parsed: [phase]
});

impl RolloutRow {
    /// What the rollout serves on each arm and since when: the attribution rule's input
    /// (`logic::attribution`).
    pub fn targets(&self) -> RolloutTargets {
        RolloutTargets {
            rollout_id: self.id.clone(),
            baseline_model: self.baseline_target.clone(),
            canary_model: self.canary_target.clone(),
            started_at: self.created_at,
        }
    }
}

/// A new state for a rollout, applied only if the stored version is still `expected_version`.
#[derive(Debug, Clone, PartialEq)]
pub struct StateUpdate {
    /// The version the writer read.
    pub expected_version: i64,
    /// The new state.
    pub state: Value,
    /// The new phase.
    pub phase: PhaseName,
    /// False when the new phase is terminal.
    pub active: bool,
    /// When the next decision is due.
    pub wake_at: Option<Timestamp>,
    /// This decision's reason.
    pub last_reason: String,
    /// This decision's evidence.
    pub last_evidence: Value,
    /// When the update happens.
    pub at: Timestamp,
}

/// What commits with a decision, in the same transaction as its state: the lease that must
/// still be held, the tick window it decides (at most one decision per window), the tick row it
/// finishes, and the notifications it owes.
#[derive(Debug, Clone, Default)]
pub struct DecisionCommit {
    /// The writer lease the decision was made under (ticks); None for manual commands, which
    /// rely on the optimistic version alone.
    pub fence: Option<Fence>,
    /// The tick window this decision is for; recorded as the rollout's `last_window`.
    pub window: Option<Timestamp>,
    /// The tick row to mark `done`, with its final report.
    pub tick: Option<FinishedTick>,
    /// Notifications to deliver (at least once) after the commit.
    pub outbox: Vec<OutboxItem>,
}

/// A tick row finished by a decision.
#[derive(Debug, Clone)]
pub struct FinishedTick {
    /// The tick.
    pub key: TickKey,
    /// Its final report.
    pub report: Value,
    /// The wall time it finished (not the tick time).
    pub finished_at: Timestamp,
}

/// One audit row: who did what to a rollout, why, and the state before and after.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RolloutEvent {
    /// The event id.
    pub id: String,
    /// The rollout.
    pub rollout_id: String,
    /// When it happened.
    pub at: Timestamp,
    /// Who: a user name, `controller` for automatic transitions.
    pub actor: String,
    /// What: `start`, `promote`, `halt`, `rollback`, `set_split`, `sink_failure`, …
    pub action: String,
    /// Why, in words.
    pub reason: String,
    /// State (or value) before.
    pub before: Value,
    /// State (or value) after.
    pub after: Value,
    /// The numbers behind the decision.
    pub evidence: Value,
    /// True for a human override of the gates (`promote --force`).
    pub is_override: bool,
}

super::from_row!(RolloutEvent {
    plain: [id, rollout_id, at, actor, action, reason, is_override],
    json: [before, after, evidence]
});

const INSERT_ROLLOUT: &str = "INSERT INTO rollouts (id, flag_key, owner, webhook, suite, \
     baseline_target, canary_target, salt, always_tenants, never_tenants, plan, state, phase, \
     wake_at, last_reason, last_evidence, active, version, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, NULL, '', $14, $15, 0, $16, \
     $16) ON CONFLICT (id) DO NOTHING";

const SELECT_ROLLOUT: &str = "SELECT id, flag_key, owner, webhook, suite, baseline_target, \
     canary_target, salt, always_tenants, never_tenants, plan, state, phase, wake_at, last_reason, \
     last_evidence, active, version, created_at, updated_at, failed_windows, failing_window, \
     last_tick_error, last_window, pending_split_bp FROM rollouts WHERE id = $1";

const SELECT_ACTIVE: &str = "SELECT id, flag_key, owner, webhook, suite, baseline_target, \
     canary_target, salt, always_tenants, never_tenants, plan, state, phase, wake_at, last_reason, \
     last_evidence, active, version, created_at, updated_at, failed_windows, failing_window, \
     last_tick_error, last_window, pending_split_bp FROM rollouts WHERE active = $1 ORDER BY created_at, id";

const SELECT_TARGETS: &str =
    "SELECT id, baseline_target, canary_target, created_at FROM rollouts ORDER BY created_at, id";
const SELECT_ALL: &str = "SELECT id, flag_key, owner, webhook, suite, baseline_target, \
     canary_target, salt, always_tenants, never_tenants, plan, state, phase, wake_at, last_reason, \
     last_evidence, active, version, created_at, updated_at, failed_windows, failing_window, \
     last_tick_error, last_window, pending_split_bp FROM rollouts ORDER BY created_at, id";

const UPDATE_STATE: &str = "UPDATE rollouts SET state = $1, phase = $2, active = $3, \
     wake_at = $4, last_reason = $5, last_evidence = $6, version = version + 1, updated_at = $7, \
     pending_split_bp = NULL, \
     last_window = CASE WHEN $10 IS NULL THEN last_window ELSE $10 END, \
     failed_windows = CASE WHEN $10 IS NULL THEN failed_windows ELSE 0 END, \
     failing_window = CASE WHEN $10 IS NULL THEN failing_window ELSE NULL END, \
     last_tick_error = CASE WHEN $10 IS NULL THEN last_tick_error ELSE NULL END \
     WHERE id = $8 AND version = $9";

const TICK_DONE: &str = "UPDATE ticks SET status = 'done', report = $3, finished_at = $4 \
     WHERE rollout_id = $1 AND window_start = $2";

const INSERT_EVENT: &str = "INSERT INTO rollout_events (id, rollout_id, at, actor, action, \
     reason, before, after, evidence, is_override) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

const SELECT_EVENTS: &str = "SELECT id, rollout_id, at, actor, action, reason, before, after, \
     evidence, is_override FROM rollout_events WHERE rollout_id = $1 ORDER BY at, id";

const UPSERT_SPLIT: &str = "INSERT INTO traffic_splits (flag_key, basis_points, generation, \
     salt, always, never, updated_at, updated_by) VALUES ($1, $2, 1, $3, $4, $5, $6, $7) \
     ON CONFLICT (flag_key) DO UPDATE SET basis_points = excluded.basis_points, \
     generation = traffic_splits.generation + 1, salt = excluded.salt, \
     always = excluded.always, never = excluded.never, updated_at = excluded.updated_at, \
     updated_by = excluded.updated_by \
     RETURNING generation";

const SELECT_SPLIT: &str = "SELECT flag_key, basis_points, generation, salt, always, never, \
     updated_at, updated_by FROM traffic_splits WHERE flag_key = $1";

const SELECT_SPLITS: &str = "SELECT flag_key, basis_points, generation, salt, always, never, \
     updated_at, updated_by FROM traffic_splits ORDER BY flag_key";

/// The `traffic_splits` row as stored.
struct SplitRow {
    flag_key: String,
    basis_points: i32,
    generation: i64,
    salt: String,
    always: Vec<String>,
    never: Vec<String>,
    updated_at: Timestamp,
    updated_by: String,
}

super::from_row!(SplitRow {
    plain: [
        flag_key,
        basis_points,
        generation,
        salt,
        updated_at,
        updated_by
    ],
    json: [always, never]
});

impl SplitRow {
    fn into_record(self) -> StoreResult<SplitRecord> {
        let bad = |column: &'static str, detail: String| StoreError::BadValue {
            table: "traffic_splits",
            column,
            detail,
        };
        let basis_points =
            u32::try_from(self.basis_points).map_err(|err| bad("basis_points", err.to_string()))?;
        let generation =
            u64::try_from(self.generation).map_err(|err| bad("generation", err.to_string()))?;
        Ok(SplitRecord {
            flag_key: self.flag_key,
            basis_points,
            generation,
            salt: self.salt,
            always: self.always,
            never: self.never,
            updated_at: self.updated_at,
            updated_by: self.updated_by,
        })
    }
}

/// The `INSERT_EVENT` query with one audit row bound, for either backend (the one place its
/// columns are listed in order).
macro_rules! insert_event {
    ($event:expr) => {{
        let event: &RolloutEvent = $event;
        sqlx::query(INSERT_EVENT)
            .bind(&event.id)
            .bind(&event.rollout_id)
            .bind(event.at)
            .bind(&event.actor)
            .bind(&event.action)
            .bind(&event.reason)
            .bind(Json(&event.before))
            .bind(Json(&event.after))
            .bind(Json(&event.evidence))
            .bind(event.is_override)
    }};
}

fn fenced(fence: &Fence) -> StoreError {
    StoreError::Fenced {
        rollout_id: fence.rollout_id.clone(),
        holder: fence.holder.clone(),
    }
}

impl Store {
    /// Creates a rollout; false when a rollout with that id already exists.
    pub async fn create_rollout(&self, rollout: &NewRollout) -> StoreResult<bool> {
        self.create_rollout_with_events(rollout, &[]).await
    }

    /// Creates a rollout together with its first audit rows, in one transaction: false (and
    /// nothing written) when a rollout with that id already exists. A crash cannot leave the
    /// rollout without the rows that say why it exists.
    pub async fn create_rollout_with_events(
        &self,
        rollout: &NewRollout,
        events: &[RolloutEvent],
    ) -> StoreResult<bool> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let affected = sqlx::query(INSERT_ROLLOUT)
                .bind(&rollout.id)
                .bind(&rollout.flag_key)
                .bind(&rollout.owner)
                .bind(&rollout.webhook)
                .bind(&rollout.suite)
                .bind(&rollout.baseline_target)
                .bind(&rollout.canary_target)
                .bind(&rollout.salt)
                .bind(Json(&rollout.always_tenants))
                .bind(Json(&rollout.never_tenants))
                .bind(Json(&rollout.plan))
                .bind(Json(&rollout.state))
                .bind(rollout.phase.as_str())
                .bind(Json(serde_json::json!([])))
                .bind(true)
                .bind(rollout.created_at)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if affected != 1 {
                tx.rollback().await?;
                return Ok(false);
            }
            for event in events {
                insert_event!(event).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(true)
    }

    /// One rollout by id.
    pub async fn get_rollout(&self, id: &str) -> StoreResult<Option<RolloutRow>> {
        let row = with_pool!(self, pool => sqlx::query_as::<_, RolloutRow>(SELECT_ROLLOUT)
            .bind(id)
            .fetch_optional(pool)
            .await?);
        Ok(row)
    }

    /// Rollouts that have not reached a terminal phase, oldest first.
    pub async fn list_active_rollouts(&self) -> StoreResult<Vec<RolloutRow>> {
        let rows = with_pool!(self, pool => sqlx::query_as::<_, RolloutRow>(SELECT_ACTIVE)
            .bind(true)
            .fetch_all(pool)
            .await?);
        Ok(rows)
    }

    /// Every rollout, oldest first.
    pub async fn list_rollouts(&self) -> StoreResult<Vec<RolloutRow>> {
        let rows = with_pool!(self, pool => sqlx::query_as::<_, RolloutRow>(SELECT_ALL)
            .fetch_all(pool)
            .await?);
        Ok(rows)
    }

    /// What every rollout (active or over) serves on each arm and since when, for placing
    /// request rows logged without an arm (`logic::attribution`).
    pub async fn rollout_targets(&self) -> StoreResult<Vec<RolloutTargets>> {
        let rows: Vec<(String, String, String, Timestamp)> = with_pool!(self, pool => {
            sqlx::query_as(SELECT_TARGETS).fetch_all(pool).await?
        });
        let targets = rows
            .into_iter()
            .map(
                |(rollout_id, baseline_model, canary_model, started_at)| RolloutTargets {
                    rollout_id,
                    baseline_model,
                    canary_model,
                    started_at,
                },
            )
            .collect();
        Ok(targets)
    }

    /// Applies `update` and appends `events` in one transaction, only if the stored version is
    /// still `update.expected_version`. Returns false (and changes nothing) when another writer
    /// got there first.
    pub async fn update_rollout_state(
        &self,
        id: &str,
        update: &StateUpdate,
        events: &[RolloutEvent],
    ) -> StoreResult<bool> {
        self.commit_decision(id, update, events, &DecisionCommit::default())
            .await
    }

    /// `update_rollout_state` with what commits alongside a decision (`DecisionCommit`): the
    /// fence is checked first (a lost lease is `StoreError::Fenced`, nothing stored), then the
    /// state, the audit rows, the finished tick row and the outbox rows are written together.
    pub async fn commit_decision(
        &self,
        id: &str,
        update: &StateUpdate,
        events: &[RolloutEvent],
        commit: &DecisionCommit,
    ) -> StoreResult<bool> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            if let Some(fence) = &commit.fence {
                let held = sqlx::query(CHECK_FENCE)
                    .bind(&fence.rollout_id).bind(&fence.holder).bind(fence.token)
                    .execute(&mut *tx).await?.rows_affected();
                if held != 1 {
                    tx.rollback().await?;
                    return Err(fenced(fence));
                }
            }
            let affected = sqlx::query(UPDATE_STATE)
                .bind(Json(&update.state))
                .bind(update.phase.as_str())
                .bind(update.active)
                .bind(update.wake_at)
                .bind(&update.last_reason)
                .bind(Json(&update.last_evidence))
                .bind(update.at)
                .bind(id)
                .bind(update.expected_version)
                .bind(commit.window)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if affected != 1 {
                tx.rollback().await?;
                return Ok(false);
            }
            for event in events {
                insert_event!(event).execute(&mut *tx).await?;
            }
            if let Some(finished) = &commit.tick {
                sqlx::query(TICK_DONE)
                    .bind(&finished.key.rollout_id)
                    .bind(finished.key.window_start)
                    .bind(Json(&finished.report))
                    .bind(finished.finished_at)
                    .execute(&mut *tx)
                    .await?;
            }
            for item in &commit.outbox {
                sqlx::query(INSERT_OUTBOX)
                    .bind(&item.id)
                    .bind(&item.rollout_id)
                    .bind(item.created_at)
                    .bind(&item.webhook)
                    .bind(Json(&item.notification))
                    .bind(item.next_attempt_at)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(true)
    }

    /// Appends one audit row.
    pub async fn append_rollout_event(&self, event: &RolloutEvent) -> StoreResult<()> {
        with_pool!(self, pool => insert_event!(event).execute(pool).await.map(|_| ())?);
        Ok(())
    }

    /// A rollout's audit trail, oldest first.
    pub async fn list_rollout_events(&self, rollout_id: &str) -> StoreResult<Vec<RolloutEvent>> {
        let rows = with_pool!(self, pool => sqlx::query_as::<_, RolloutEvent>(SELECT_EVENTS)
            .bind(rollout_id)
            .fetch_all(pool)
            .await?);
        Ok(rows)
    }

    /// The split gateways read for `flag_key`, if it was ever written.
    pub async fn get_split(&self, flag_key: &str) -> StoreResult<Option<SplitRecord>> {
        let row_opt = with_pool!(self, pool => sqlx::query_as::<_, SplitRow>(SELECT_SPLIT)
            .bind(flag_key)
            .fetch_optional(pool)
            .await?);
        row_opt.map(SplitRow::into_record).transpose()
    }

    /// Every stored split, by flag key.
    pub async fn list_splits(&self) -> StoreResult<Vec<SplitRecord>> {
        let rows = with_pool!(self, pool => sqlx::query_as::<_, SplitRow>(SELECT_SPLITS)
            .fetch_all(pool)
            .await?);
        rows.into_iter().map(SplitRow::into_record).collect()
    }

    /// Writes `flag_key`'s split; the generation grows by one on every write (1 on the first).
    pub async fn put_split(&self, flag_key: &str, split: &SplitWrite) -> StoreResult<SplitRecord> {
        let basis_points =
            i32::try_from(split.basis_points).map_err(|err| StoreError::BadValue {
                table: "traffic_splits",
                column: "basis_points",
                detail: err.to_string(),
            })?;
        let generation: i64 = with_pool!(self, pool => sqlx::query_scalar(UPSERT_SPLIT)
            .bind(flag_key)
            .bind(basis_points)
            .bind(&split.salt)
            .bind(Json(&split.always))
            .bind(Json(&split.never))
            .bind(split.updated_at)
            .bind(&split.updated_by)
            .fetch_one(pool)
            .await?);
        Ok(SplitRecord {
            flag_key: flag_key.to_string(),
            basis_points: split.basis_points,
            generation: u64::try_from(generation).map_err(|err| StoreError::BadValue {
                table: "traffic_splits",
                column: "generation",
                detail: err.to_string(),
            })?,
            salt: split.salt.clone(),
            always: split.always.clone(),
            never: split.never.clone(),
            updated_at: split.updated_at,
            updated_by: split.updated_by.clone(),
        })
    }
}
