//! `evalgate rollout retry ID`: a new attempt (`ID-attempt-N`) of a rolled-back or killed rollout
//! with the same flag, targets, suite, owner and stored plan, started from its first stage after
//! the checks `rollout start` makes. Audited on both rollouts (`retried` on the old one, `retry`
//! on the new one); a live or completed rollout is refused (exit 1) and audited as
//! `retry_rejected`.

use std::process::ExitCode;

use anyhow::Context as _;
use serde::Serialize;
use serde_json::json;

use super::display::Style;
use super::rollout_cmd::{
    actor_from_flag, check_sinks, check_suite, exit_code, print_report,
    refuse_second_rollout_on_flag,
};
use crate::adapters::store::{NewRollout, RolloutEvent, Store, rollout_format};
use crate::cli::RolloutRetryArgs;
use crate::commands::CmdResult;
use crate::context::Services;
use crate::domain::Timestamp;
use crate::domain::rollout::{Command, Input, Phase, PhaseName, RolloutState};
use crate::worker::controller::{ApplyReport, LoadedRollout, control_once};

/// What `rollout retry --json` prints.
#[derive(Debug, Serialize)]
struct RetryOutput<'a> {
    rollout_id: &'a str,
    retry_of: &'a str,
    attempt: u32,
    flag_key: &'a str,
    actor: &'a str,
    reason: &'a str,
    transition: &'a ApplyReport,
}

/// What `rollout retry --json` prints when the rollout cannot be retried.
#[derive(Debug, Serialize)]
struct RetryRejected<'a> {
    rollout_id: &'a str,
    kind: &'static str,
    phase: &'a str,
    reason: &'a str,
}

const ATTEMPT_SUFFIX: &str = "-attempt-";

/// The id a retry's chain starts from and the attempt `id` is (`r-attempt-3` → (`r`, 3); a
/// first attempt has no suffix).
fn attempt_of(id: &str) -> (&str, u32) {
    if let Some((root, number)) = id.rsplit_once(ATTEMPT_SUFFIX)
        && let Ok(attempt) = number.parse::<u32>()
        && attempt >= 2
        && !root.is_empty()
    {
        return (root, attempt);
    }
    (id, 1)
}

/// The first free `ROOT-attempt-N` after `id`'s own attempt.
async fn next_attempt_id(store: &Store, id: &str) -> anyhow::Result<(String, u32)> {
    let (root, attempt) = attempt_of(id);
    let mut next = attempt.saturating_add(1);
    loop {
        let candidate = format!("{root}{ATTEMPT_SUFFIX}{next}");
        if store.get_rollout(&candidate).await?.is_none() {
            return Ok((candidate, next));
        }
        next = next.saturating_add(1);
        anyhow::ensure!(next < u32::MAX, "no free attempt id after `{id}`");
    }
}

#[allow(clippy::too_many_arguments)] // one audit row's columns
fn retry_event(
    rollout_id: &str,
    at: Timestamp,
    actor: &str,
    action: &str,
    reason: &str,
    state: &RolloutState,
    evidence: serde_json::Value,
) -> RolloutEvent {
    RolloutEvent {
        id: uuid::Uuid::now_v7().to_string(),
        rollout_id: rollout_id.to_string(),
        at,
        actor: actor.to_string(),
        action: action.to_string(),
        reason: reason.to_string(),
        before: json!(state.snapshot()),
        after: json!(state.snapshot()),
        evidence,
        is_override: false,
    }
}

/// Runs `evalgate rollout retry ID [--new-id ID] [--reason R] [--actor A] [--json]`: refuses
/// (exit 1, audited as `retry_rejected`) unless the rollout was rolled back or killed; else
/// creates the next attempt with the same flag, targets, suite, owner and stored plan, audits
/// `retried` on the old rollout and `retry` on the new one, and starts it.
pub async fn retry(services: &Services, args: RolloutRetryArgs) -> CmdResult {
    let (ctx, store) = (&services.ctx, &services.store);
    let now = ctx.clock.now();
    let actor = actor_from_flag(args.actor.as_ref());
    let old = LoadedRollout::load(store, &args.id).await?;
    let phase = old.state.phase.name();
    let refusal = match &old.state.phase {
        Phase::RolledBack { .. } | Phase::Killed { .. } => None,
        Phase::Completed => Some(format!(
            "rollout {} completed: there is nothing to retry (start a new rollout for a new \
             change)",
            args.id
        )),
        _ => Some(format!(
            "rollout {} is still live ({phase}): only a rolled-back or killed rollout can be \
             retried; roll it back or kill it first",
            args.id
        )),
    };
    if let Some(refusal) = refusal {
        let event = retry_event(
            &args.id,
            now,
            &actor,
            "retry_rejected",
            &refusal,
            &old.state,
            json!({}),
        );
        store.append_rollout_event(&event).await?;
        if args.json {
            let output = RetryRejected {
                rollout_id: &args.id,
                kind: "rejected",
                phase,
                reason: &refusal,
            };
            crate::outln!("{}", serde_json::to_string_pretty(&output)?);
        }
        crate::errln!("error: {refusal}");
        return Ok(ExitCode::from(1));
    }
    let flag_key = old.row.flag_key.clone();
    // A retry that crashed after creating its attempt (and before starting it) left that
    // attempt pending on the flag: running the same retry again starts it, instead of refusing
    // because the flag is taken or creating one more attempt.
    let (new_id, attempt, reason) = match unstarted_attempt(store, &flag_key, &args.id).await? {
        Some(unstarted) => {
            tracing::info!(rollout = %unstarted.0, retry_of = %args.id, "starting the attempt an interrupted retry created");
            unstarted
        }
        None => create_attempt(services, &args, &old, &actor, now).await?,
    };
    let input = Input::commands(vec![Command::Start {
        actor: actor.clone(),
    }]);
    let report = control_once(services, &new_id, input, now).await?;
    if args.json {
        let output = RetryOutput {
            rollout_id: &new_id,
            retry_of: &args.id,
            attempt,
            flag_key: &flag_key,
            actor: &actor,
            reason: &reason,
            transition: &report,
        };
        crate::outln!("{}", serde_json::to_string_pretty(&output)?);
    } else {
        crate::outln!(
            "rollout {new_id}: attempt {attempt} of {} on flag {flag_key} ({reason})",
            args.id
        );
        print_report(&report, &Style::detect(now));
    }
    Ok(exit_code(&report))
}

/// The pending attempt an earlier, interrupted `rollout retry ID` created on `flag_key` (its
/// `retry` audit row names `ID`), as (id, attempt, reason).
async fn unstarted_attempt(
    store: &Store,
    flag_key: &str,
    retry_of: &str,
) -> anyhow::Result<Option<(String, u32, String)>> {
    for row in store.list_active_rollouts().await? {
        if row.flag_key != flag_key || row.phase != PhaseName::Pending {
            continue;
        }
        let events = store.list_rollout_events(&row.id).await?;
        let Some(retry) = events.iter().find(|event| event.action == "retry") else {
            continue;
        };
        if retry.evidence["retry_of"].as_str() != Some(retry_of) {
            continue;
        }
        let attempt = retry.evidence["attempt"]
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .with_context(|| {
                format!(
                    "the `retry` audit row of rollout {} has no attempt number: {}",
                    row.id, retry.evidence
                )
            })?;
        return Ok(Some((row.id, attempt, retry.reason.clone())));
    }
    Ok(None)
}

/// Creates the next attempt of `old` (pending, not started yet) with both audit rows, in one
/// transaction; returns (id, attempt, reason).
async fn create_attempt(
    services: &Services,
    args: &RolloutRetryArgs,
    old: &LoadedRollout,
    actor: &str,
    now: Timestamp,
) -> anyhow::Result<(String, u32, String)> {
    let (ctx, store) = (&services.ctx, &services.store);
    let flag_key = old.row.flag_key.clone();
    refuse_second_rollout_on_flag(store, &flag_key).await?;
    check_suite(ctx, old.row.suite.as_deref())?;
    check_sinks(services, &flag_key).await?;
    let (new_id, attempt) = match &args.new_id {
        Some(id) => (id.clone(), attempt_of(&args.id).1.saturating_add(1)),
        None => next_attempt_id(store, &args.id).await?,
    };
    let reason = args
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map_or_else(
            || format!("retry of {} (attempt {attempt})", args.id),
            str::to_string,
        );
    let owner = old.row.owner.clone();
    let state = RolloutState::new(
        &new_id,
        &flag_key,
        owner.as_deref().unwrap_or("unowned"),
        now,
    );
    let rollout = NewRollout {
        id: new_id.clone(),
        flag_key: flag_key.clone(),
        owner,
        webhook: old.row.webhook.clone(),
        suite: old.row.suite.clone(),
        baseline_target: old.row.baseline_target.clone(),
        canary_target: old.row.canary_target.clone(),
        salt: ctx.config.rollout.salt_for(&flag_key, Some(&new_id)),
        always_tenants: old.row.always_tenants.clone(),
        never_tenants: old.row.never_tenants.clone(),
        plan: rollout_format::encode_plan(&old.plan)?,
        state: rollout_format::encode_state(&state)?,
        phase: state.phase.kind(),
        created_at: now,
    };
    let events = [
        retry_event(
            &args.id,
            now,
            actor,
            "retried",
            &reason,
            &old.state,
            json!({"retried_as": new_id, "attempt": attempt}),
        ),
        retry_event(
            &new_id,
            now,
            actor,
            "retry",
            &reason,
            &state,
            json!({"retry_of": args.id, "attempt": attempt}),
        ),
    ];
    if !store.create_rollout_with_events(&rollout, &events).await? {
        anyhow::bail!("a rollout with id `{new_id}` already exists; pass another --new-id");
    }
    crate::worker::failpoint::hit("rollout_after_create");
    Ok((new_id, attempt, reason))
}

#[cfg(test)]
mod tests {
    use super::attempt_of;

    #[test]
    fn attempts_count_from_the_id_suffix() {
        assert_eq!(attempt_of("bot"), ("bot", 1));
        assert_eq!(attempt_of("bot-attempt-2"), ("bot", 2));
        assert_eq!(attempt_of("bot-attempt-x"), ("bot-attempt-x", 1));
        assert_eq!(attempt_of("bot-attempt-1"), ("bot-attempt-1", 1));
        assert_eq!(attempt_of("-attempt-3"), ("-attempt-3", 1));
    }
}
