//! What happens when a rollout's ticks keep failing: every failed window is counted on the
//! rollout (a retry of the same window does not count again; a tick that decides resets the
//! count in its own commit), and after `rollout.fail_safe_after` consecutive failed windows the
//! controller applies `rollout.fail_safe` to a live rollout: hold at the current split (default)
//! or roll back, through the state machine like any halt, audited and paged as critical. A canary
//! nothing gates does not keep its traffic silently.

use crate::adapters::store::RolloutRow;
use crate::config::FailSafe;
use crate::context::Services;
use crate::domain::Timestamp;
use crate::domain::rollout::{Command, Input, TransitionKind};
use crate::logic::rollout::SYSTEM_ACTOR;
use crate::worker::controller::control_once;

/// Phases in which the fail-safe acts (traffic flows and gates should be watching it).
/// Counts a failed tick of `row` for `window_start`; applies the fail-safe when due. Returns
/// what the fail-safe did, when it acted. Never fails: problems are logged loudly.
pub async fn count_failure(
    services: &Services,
    row: &RolloutRow,
    window_start: Timestamp,
    error: &str,
    now: Timestamp,
) -> Option<String> {
    let (ctx, store) = (&services.ctx, &services.store);
    let failed = match store
        .record_tick_failure(&row.id, window_start, error)
        .await
    {
        Ok(failed) => failed,
        Err(err) => {
            tracing::error!(rollout_id = %row.id, error = %err, "cannot count the failed tick");
            return None;
        }
    };
    let limit = i64::from(ctx.config.rollout.fail_safe_after);
    tracing::error!(rollout_id = %row.id, failed_windows = failed, fail_safe_after = limit, "rollout tick failed");
    if failed < limit || !row.phase.is_live() {
        return None;
    }
    let reason = format!(
        "ticks failed for {failed} consecutive windows, so nothing gates the canary (last error: \
         {error})"
    );
    let command = match ctx.config.rollout.fail_safe {
        FailSafe::Hold => Command::Halt {
            actor: SYSTEM_ACTOR.to_string(),
            reason: reason.clone(),
        },
        FailSafe::Rollback => Command::Rollback {
            actor: SYSTEM_ACTOR.to_string(),
            reason: reason.clone(),
        },
    };
    match control_once(services, &row.id, Input::commands(vec![command]), now).await {
        Ok(report) if report.kind != TransitionKind::Rejected => {
            tracing::error!(rollout_id = %row.id, kind = ?report.kind, "fail-safe applied");
            Some(format!("{}: {reason}", report.kind.as_str()))
        }
        Ok(report) => {
            tracing::error!(rollout_id = %row.id, reason = %report.reason, "fail-safe rejected by the state machine");
            None
        }
        Err(err) => {
            tracing::error!(rollout_id = %row.id, error = %format!("{err:#}"), "cannot apply the fail-safe");
            None
        }
    }
}
