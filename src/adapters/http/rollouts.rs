//! The rollout API: list, one rollout with its gate evidence and audit trail, its pass-rate
//! series, the flag gateways poll, and the mutating controls (approve, halt, resume, rollback,
//! kill) behind the bearer token. Controls go through [`RolloutControls`], which `serve` backs
//! with the real controller; a request without a valid token is refused before anything runs.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ApiError, AppState, auth};
use crate::adapters::store::{HaltSignal, PassRateRow, RolloutEvent, RolloutRow, rollout_format};
use crate::domain::rollout::{Command, PhaseName, Plan, RolloutState};
use crate::domain::{SplitRecord, Timestamp};
use crate::logic::rollout::stage_clock;

/// Applies a manual command to a rollout; returns whether it was accepted and a JSON report.
pub trait RolloutControls: Send + Sync {
    /// Applies `command` to `rollout_id`.
    fn apply(
        &self,
        rollout_id: String,
        command: Command,
    ) -> BoxFuture<'_, anyhow::Result<ControlOutcome>>;
}

/// What a control request did.
#[derive(Debug, Clone, Serialize)]
pub struct ControlOutcome {
    /// False when the state machine refused the command in the current phase.
    pub accepted: bool,
    /// The controller's report (transition, sinks, notifications).
    pub report: Value,
}

/// The body of a control request.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlBody {
    /// Why (required for halt, rollback and kill).
    #[serde(default)]
    pub reason: Option<String>,
    /// Who (recorded in the audit trail).
    pub actor: String,
}

pub use crate::domain::summary::RolloutSummary;

impl RolloutSummary {
    /// The summary of a stored row at `now`: the one place a row becomes the summary that the
    /// API, `rollout list --json`, `rollout status --json` and the web list show. A row whose
    /// stored plan or state does not decode is still summarised from its columns (split and
    /// stage index read from the stored state JSON when present), with the decode error as its
    /// `phase_reason`.
    pub fn of(row: &RolloutRow, now: Timestamp) -> RolloutSummary {
        let decoded = rollout_format::decode_plan(&row.id, &row.plan).and_then(|plan| {
            rollout_format::decode_state(&row.id, &row.state).map(|state| (plan, state))
        });
        match decoded {
            Ok((plan, state)) => RolloutSummary::of_decoded(row, &plan, &state, now),
            Err(err) => RolloutSummary {
                phase_reason: Some(err.to_string()),
                ..RolloutSummary::of_columns(row)
            },
        }
    }

    /// The summary of a row whose plan and state are decoded (`rollout status` holds them).
    pub fn of_decoded(
        row: &RolloutRow,
        plan: &Plan,
        state: &RolloutState,
        now: Timestamp,
    ) -> RolloutSummary {
        let finished = !row.active || state.phase.is_terminal();
        let clock = stage_clock(state, plan, now).filter(|_| !finished);
        RolloutSummary {
            phase: state.phase.kind(),
            phase_reason: state.phase.reason().map(str::to_string),
            stage: plan.stage_label(state.stage_index),
            stage_index: u64::try_from(state.stage_index).ok(),
            split_bp: Some(state.split_bp),
            in_stage: clock.as_ref().map(|c| c.elapsed),
            min_duration: clock.as_ref().map(|c| c.min_duration),
            next_decision_at: row.wake_at.filter(|_| !finished),
            finished_at: finished.then_some(row.updated_at),
            ..RolloutSummary::of_columns(row)
        }
    }

    /// What the row's columns (and the raw stored state) say without decoding.
    fn of_columns(row: &RolloutRow) -> RolloutSummary {
        let stored = |name: &str| row.state.get(name).and_then(Value::as_u64);
        RolloutSummary {
            id: row.id.clone(),
            flag_key: row.flag_key.clone(),
            owner: row.owner.clone(),
            suite: row.suite.clone(),
            baseline_target: row.baseline_target.clone(),
            canary_target: row.canary_target.clone(),
            phase: row.phase,
            phase_reason: None,
            active: row.active,
            stage: "?".to_string(),
            stage_index: stored("stage_index"),
            split_bp: stored("split_bp").and_then(|bp| u32::try_from(bp).ok()),
            in_stage: None,
            min_duration: None,
            next_decision_at: row.wake_at.filter(|_| row.active),
            finished_at: (!row.active).then_some(row.updated_at),
            created_at: row.created_at,
            updated_at: row.updated_at,
            last_reason: row.last_reason.clone(),
            failed_windows: row.failed_windows,
        }
    }
}

/// The body of `GET /api/v1/rollouts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutList {
    /// Every rollout, newest first.
    pub rollouts: Vec<RolloutSummary>,
}

/// `GET /api/v1/rollouts`: every rollout, newest first.
pub async fn list(State(state): State<AppState>) -> Result<Json<RolloutList>, ApiError> {
    let rows = state.store.list_rollouts().await?;
    let now = state.clock.now();
    let rollouts = rows
        .iter()
        .map(|row| RolloutSummary::of(row, now))
        .collect();
    Ok(Json(RolloutList { rollouts }))
}

async fn load(state: &AppState, id: &str) -> Result<RolloutRow, ApiError> {
    state
        .store
        .get_rollout(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("rollout `{id}`")))
}

/// The body of `GET /api/v1/rollouts/{id}`.
#[derive(Debug, Clone, Serialize)]
pub struct RolloutDetail {
    /// The rollout, as the list shows it.
    pub rollout: RolloutSummary,
    /// The plan as stored (with its `format_version`).
    pub plan: Value,
    /// The state as stored (with its `format_version`).
    pub state: Value,
    /// What gateways read for the rollout's flag, if written.
    pub split: Option<SplitRecord>,
    /// The latest gate update per metric.
    pub gate_evidence: Vec<Value>,
    /// Every halt signal, oldest first.
    pub halt_signals: Vec<HaltSignal>,
    /// The audit trail.
    pub events: Vec<RolloutEvent>,
}

/// `GET /api/v1/rollouts/{id}`: the rollout, its plan and state, the latest gate evidence per
/// metric, its halt signals and its audit trail.
pub async fn detail(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<RolloutDetail>, ApiError> {
    let row = load(&state, &id).await?;
    let gate_evidence = state.store.latest_gate_updates(&id).await?;
    let halt_signals = state.store.halt_signals(&id).await?;
    let events = state.store.list_rollout_events(&id).await?;
    let split = state.store.get_split(&row.flag_key).await?;
    Ok(Json(RolloutDetail {
        rollout: RolloutSummary::of(&row, state.clock.now()),
        split,
        gate_evidence,
        halt_signals,
        events,
        plan: row.plan,
        state: row.state,
    }))
}

/// The body of `GET /api/v1/rollouts/{id}/series`.
#[derive(Debug, Clone, Serialize)]
pub struct SeriesBody {
    /// The rollout.
    pub rollout_id: String,
    /// Its pass-rate points, oldest window first.
    pub series: Vec<PassRateRow>,
}

/// `GET /api/v1/rollouts/{id}/series`: the pass-rate series, oldest window first.
pub async fn series(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<SeriesBody>, ApiError> {
    load(&state, &id).await?;
    let series = state.store.pass_rate_series(&id).await?;
    Ok(Json(SeriesBody {
        rollout_id: id,
        series,
    }))
}

/// The body of `GET /v1/flags/{key}`: the split gateways route by (not who wrote it) and the
/// rollout that owns the flag.
#[derive(Debug, Clone, Serialize)]
pub struct FlagBody {
    /// The flag key.
    pub flag_key: String,
    /// The canary's share in basis points.
    pub basis_points: u32,
    /// Grows by one on every write.
    pub generation: u64,
    /// The routing salt.
    pub salt: String,
    /// Tenants that always get the canary while the split is above 0.
    pub always: Vec<String>,
    /// Tenants that never get the canary.
    pub never: Vec<String>,
    /// When it was last written.
    pub updated_at: Timestamp,
    /// The owning rollout (the active one, else the newest), to log as `rollout_id`.
    pub rollout_id: Option<String>,
    /// What the baseline arm serves.
    pub baseline_model: Option<String>,
    /// What the canary arm serves.
    pub canary_model: Option<String>,
    /// The owning rollout's phase.
    pub phase: Option<PhaseName>,
}

/// `GET /v1/flags/{key}`: the traffic split gateways route by, with the rollout that owns the
/// flag (the active one, else the newest; null fields when none): its id to log as
/// `rollout_id`, the models each arm serves, and its phase.
pub async fn flag(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Json<FlagBody>, ApiError> {
    let split = state
        .store
        .get_split(&key)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("flag `{key}`")))?;
    let owner_opt = state.store.flag_owner(&key).await?;
    Ok(Json(FlagBody {
        flag_key: split.flag_key,
        basis_points: split.basis_points,
        generation: split.generation,
        salt: split.salt,
        always: split.always,
        never: split.never,
        updated_at: split.updated_at,
        rollout_id: owner_opt.as_ref().map(|owner| owner.id.clone()),
        baseline_model: owner_opt
            .as_ref()
            .map(|owner| owner.baseline_target.clone()),
        canary_model: owner_opt.as_ref().map(|owner| owner.canary_target.clone()),
        phase: owner_opt.as_ref().map(|owner| owner.phase),
    }))
}

/// `POST /api/v1/rollouts/{id}/{action}` with `{reason, actor}` and a bearer token.
pub async fn control(
    State(state): State<AppState>,
    Path((id, action)): Path<(String, String)>,
    headers: HeaderMap,
    body: Option<Json<ControlBody>>,
) -> Result<Json<Value>, ApiError> {
    auth::authorize(state.admin_token.as_ref(), &headers)?;
    let Some(controls) = state.controls.clone() else {
        return Err(ApiError::Disabled);
    };
    let Some(Json(body)) = body else {
        return Err(ApiError::BadRequest(
            "expected a JSON body {\"actor\": …, \"reason\": …}".to_string(),
        ));
    };
    let command = command_for(&action, body)?;
    load(&state, &id).await?;
    let outcome = controls.apply(id, command).await?;
    if !outcome.accepted {
        return Err(ApiError::Conflict(outcome.report));
    }
    Ok(Json(outcome.report))
}

/// The longest `actor` or `reason` a control request may carry (they go into the audit trail,
/// notifications and logs).
pub const MAX_TEXT_FIELD_BYTES: usize = 4096;

fn check_length(field: &str, text_opt: Option<&str>) -> Result<(), ApiError> {
    let Some(text) = text_opt else {
        return Ok(());
    };
    if text.len() > MAX_TEXT_FIELD_BYTES {
        return Err(ApiError::TooLarge(format!(
            "`{field}` is {} bytes; the limit is {MAX_TEXT_FIELD_BYTES}",
            text.len()
        )));
    }
    Ok(())
}

fn command_for(action: &str, body: ControlBody) -> Result<Command, ApiError> {
    check_length("actor", Some(&body.actor))?;
    check_length("reason", body.reason.as_deref())?;
    let actor = body.actor.trim().to_string();
    if actor.is_empty() {
        return Err(ApiError::BadRequest("`actor` is empty".to_string()));
    }
    let reason = || {
        body.reason
            .clone()
            .filter(|r| !r.trim().is_empty())
            .ok_or_else(|| ApiError::BadRequest(format!("`{action}` needs a `reason`")))
    };
    let optional_reason = body
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|reason| !reason.is_empty())
        .map(str::to_string);
    match action {
        "approve" => Ok(Command::Approve {
            actor,
            reason: optional_reason,
        }),
        "resume" => Ok(Command::Resume {
            actor,
            reason: optional_reason,
        }),
        "halt" => Ok(Command::Halt {
            actor,
            reason: reason()?,
        }),
        "rollback" => Ok(Command::Rollback {
            actor,
            reason: reason()?,
        }),
        "kill" => Ok(Command::Kill {
            actor,
            reason: reason()?,
        }),
        other => Err(ApiError::NotFound(format!(
            "action `{other}` (allowed: approve, halt, resume, rollback, kill)"
        ))),
    }
}
