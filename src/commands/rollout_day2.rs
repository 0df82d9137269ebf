//! The day-2 reads in the shape of `kubectl argo rollouts`: `rollout list` (every rollout,
//! finished ones included, with filters), `rollout get ID [--watch]` (one rollout in detail,
//! redrawn on a terminal) and `rollout history ID` (the audit trail); `rollout retry` is in
//! [`super::rollout_retry`]. On a terminal times are relative and verdicts coloured
//! ([`Style`]); piped and `--json` they are RFC 3339 and plain.

use std::process::ExitCode;

use anyhow::Context as _;
use serde::Serialize;

use super::display::{Style, table};
use super::rollout_status::{RolloutStatus, full_status, render_styled};
use super::rollout_wait::WaitOutcome;
use crate::adapters::http::RolloutSummary;
use crate::adapters::store::{RolloutEvent, RolloutRow};
use crate::cli::{RolloutGetArgs, RolloutIdArgs, RolloutListArgs};
use crate::commands::CmdResult;
use crate::context::Services;
use crate::domain::Timestamp;
use crate::domain::rollout::StateSnapshot;
use crate::web::html::percent;
use crate::worker::controller::LoadedRollout;

// ---- list ---------------------------------------------------------------------------------

fn keep(args: &RolloutListArgs, row: &RolloutRow) -> bool {
    let finished = !row.active;
    (!args.active || !finished)
        && (!args.finished || finished)
        && args.flag.as_ref().is_none_or(|flag| *flag == row.flag_key)
        && (args.phase.is_empty() || args.phase.iter().any(|p| p.phase() == row.phase))
}

/// Runs `evalgate rollout list [--phase P,…] [--active|--finished] [--flag F] [--json]`.
pub async fn list(services: &Services, args: RolloutListArgs) -> CmdResult {
    let (ctx, store) = (&services.ctx, &services.store);
    let now = ctx.clock.now();
    // The API's rollout summaries, in an array: the same fields as `GET /api/v1/rollouts`.
    let entries: Vec<RolloutSummary> = store
        .list_rollouts()
        .await?
        .iter()
        .filter(|row| keep(&args, row))
        .map(|row| RolloutSummary::of(row, now))
        .collect();
    if args.json {
        crate::outln!("{}", serde_json::to_string_pretty(&entries)?);
        return Ok(ExitCode::SUCCESS);
    }
    if entries.is_empty() {
        crate::outln!("no rollouts match");
        return Ok(ExitCode::SUCCESS);
    }
    let style = Style::detect(now);
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|entry| {
            let in_stage = match (entry.in_stage, entry.min_duration, entry.finished_at) {
                (_, _, Some(_)) => "finished".to_string(),
                (Some(elapsed), Some(min), None) => format!("{elapsed} of {min}"),
                _ => "-".to_string(),
            };
            let when = match (entry.finished_at, entry.next_decision_at) {
                (Some(ended), _) => format!("ended {}", style.time(ended)),
                (None, Some(next)) => format!("next {}", style.time(next)),
                (None, None) => "-".to_string(),
            };
            vec![
                entry.id.clone(),
                entry.flag_key.clone(),
                style.phase(entry.phase),
                entry.stage.clone(),
                entry.split_bp.map_or_else(|| "-".to_string(), percent),
                entry.owner.clone().unwrap_or_else(|| "-".to_string()),
                in_stage,
                when,
                format!("{} → {}", entry.baseline_target, entry.canary_target),
            ]
        })
        .collect();
    crate::out!(
        "{}",
        table(
            &[
                "ID", "FLAG", "PHASE", "STAGE", "SPLIT", "OWNER", "IN STAGE", "WHEN", "TARGETS"
            ],
            &rows
        )
    );
    Ok(ExitCode::SUCCESS)
}

// ---- history ------------------------------------------------------------------------------

/// One audit row as `rollout history --json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryEntry {
    /// When (RFC 3339).
    pub at: Timestamp,
    /// Who: a person, or `controller`.
    pub actor: String,
    /// What: `start`, `promote`, `halt`, `rollback`, `retry`, `halt_rejected`, …
    pub action: String,
    /// Why.
    pub reason: String,
    /// True for a human override of the gates.
    pub is_override: bool,
    /// The state before (phase, stage, split) when the row recorded one.
    pub before: serde_json::Value,
    /// The state after.
    pub after: serde_json::Value,
    /// The numbers behind the decision.
    pub evidence: serde_json::Value,
}

impl From<RolloutEvent> for HistoryEntry {
    fn from(event: RolloutEvent) -> HistoryEntry {
        HistoryEntry {
            at: event.at,
            actor: event.actor,
            action: event.action,
            reason: event.reason,
            is_override: event.is_override,
            before: event.before,
            after: event.after,
            evidence: event.evidence,
        }
    }
}

/// The audit trail as a table: time, actor, action (marked when an override), the phase change
/// and the reason.
fn history_table(entries: &[HistoryEntry], style: &Style) -> String {
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|entry| {
            let action = if entry.is_override {
                format!("{} (override)", entry.action)
            } else {
                entry.action.clone()
            };
            let change = match (
                serde_json::from_value::<StateSnapshot>(entry.before.clone()),
                serde_json::from_value::<StateSnapshot>(entry.after.clone()),
            ) {
                (Ok(before), Ok(after)) if before != after => format!(
                    "{} {} → {} {}",
                    before.phase,
                    percent(before.split_bp),
                    style.phase(after.phase),
                    percent(after.split_bp)
                ),
                _ => "-".to_string(),
            };
            vec![
                style.time(entry.at),
                entry.actor.clone(),
                action,
                change,
                entry.reason.clone(),
            ]
        })
        .collect();
    table(&["TIME", "ACTOR", "ACTION", "CHANGE", "REASON"], &rows)
}

/// Runs `evalgate rollout history ID [--json]`.
pub async fn history(services: &Services, args: RolloutIdArgs) -> CmdResult {
    let (ctx, store) = (&services.ctx, &services.store);
    store
        .get_rollout(&args.id)
        .await
        .context("cannot read the rollout")?
        .with_context(|| format!("no rollout `{}`", args.id))?;
    let entries: Vec<HistoryEntry> = store
        .list_rollout_events(&args.id)
        .await?
        .into_iter()
        .map(HistoryEntry::from)
        .collect();
    if args.json {
        crate::outln!("{}", serde_json::to_string_pretty(&entries)?);
    } else {
        crate::out!(
            "{}",
            history_table(&entries, &Style::detect(ctx.clock.now()))
        );
    }
    Ok(ExitCode::SUCCESS)
}

// ---- get ----------------------------------------------------------------------------------

/// What `rollout get --json` prints: the status of `rollout status` and the audit trail.
#[derive(Debug, Serialize)]
struct GetOutput<'a> {
    #[serde(flatten)]
    status: &'a RolloutStatus,
    history: &'a [HistoryEntry],
}

/// How many audit rows `rollout get` shows under the status (all of them with `--json`).
const RECENT_EVENTS: usize = 8;

async fn snapshot(
    services: &Services,
    id: &str,
    now: Timestamp,
) -> anyhow::Result<(LoadedRollout, RolloutStatus, Vec<HistoryEntry>)> {
    let store = &services.store;
    let rollout = LoadedRollout::load(store, id).await?;
    let status = full_status(services, &rollout, now).await?;
    let events = store
        .list_rollout_events(id)
        .await?
        .into_iter()
        .map(HistoryEntry::from)
        .collect();
    Ok((rollout, status, events))
}

fn detail(status: &RolloutStatus, events: &[HistoryEntry], style: &Style) -> String {
    let mut out = render_styled(status, style);
    let recent = &events[events.len().saturating_sub(RECENT_EVENTS)..];
    if !recent.is_empty() {
        out.push_str(&format!(
            "\nrecent events ({} of {}; all: `evalgate rollout history {}`)\n",
            recent.len(),
            events.len(),
            status.summary.id
        ));
        out.push_str(&history_table(recent, style));
    }
    out
}

/// One plain line per change while watching through a pipe.
fn watch_line(status: &RolloutStatus, at: Timestamp) -> String {
    format!(
        "{} {} {} stage {} split {} — {}",
        at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        status.summary.id,
        status.summary.phase,
        status.summary.stage,
        status
            .summary
            .split_bp
            .map_or_else(|| "?".to_string(), percent),
        status.summary.last_reason
    )
}

/// Runs `evalgate rollout get ID [--watch [--interval D] [--timeout D]] [--json]`.
pub async fn get(services: &Services, args: RolloutGetArgs) -> CmdResult {
    let ctx = &services.ctx;
    if !args.watch {
        let now = ctx.clock.now();
        let (_, status, events) = snapshot(services, &args.id, now).await?;
        if args.json {
            let output = GetOutput {
                status: &status,
                history: &events,
            };
            crate::outln!("{}", serde_json::to_string_pretty(&output)?);
        } else {
            crate::out!("{}", detail(&status, &events, &Style::detect(now)));
        }
        return Ok(ExitCode::SUCCESS);
    }
    watch(services, &args).await
}

async fn watch(services: &Services, args: &RolloutGetArgs) -> CmdResult {
    let ctx = &services.ctx;
    let interval = args
        .interval
        .to_std()
        .max(std::time::Duration::from_millis(200));
    let deadline = args
        .timeout
        .map(|t| tokio::time::Instant::now() + t.to_std());
    let mut last_shown: Option<String> = None;
    loop {
        let now = ctx.clock.now();
        let style = Style::detect(now);
        let (rollout, status, events) = snapshot(services, &args.id, now).await?;
        if style.tty && !args.json {
            // Home, clear, redraw: the terminal shows the rollout as it is now.
            crate::out!(
                "\x1b[H\x1b[2J{}\n{}\n",
                detail(&status, &events, &style),
                style.paint(
                    super::display::Color::Dim,
                    &format!("watching every {} (Ctrl-C to stop)", args.interval)
                )
            );
        } else {
            let summary = &status.summary;
            let key = format!(
                "{}|{}|{:?}|{}",
                summary.phase, summary.stage, summary.split_bp, summary.last_reason
            );
            if last_shown.as_deref() != Some(&key) {
                if args.json {
                    crate::outln!("{}", serde_json::to_string(&status)?);
                } else {
                    crate::outln!("{}", watch_line(&status, now));
                }
                last_shown = Some(key);
            }
        }
        // A finished rollout ends the watch with `status --wait`'s code (0 completed, 1 rolled
        // back or killed); held or awaiting approval keeps watching.
        if rollout.state.phase.is_terminal()
            && let Some(outcome) = WaitOutcome::of(&rollout.state.phase)
        {
            return Ok(ExitCode::from(outcome.code()));
        }
        if crate::out::stdout_closed() {
            // The reader left (`… --watch | head -1`): nobody is watching any more.
            return Ok(ExitCode::SUCCESS);
        }
        let pause = match deadline {
            Some(deadline) => {
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                if left.is_zero() {
                    crate::errln!(
                        "timed out: rollout {} is still {}",
                        args.id,
                        rollout.state.phase.name()
                    );
                    return Ok(ExitCode::from(WaitOutcome::TimedOut.code()));
                }
                left.min(interval)
            }
            None => interval,
        };
        tokio::time::sleep(pause).await;
    }
}
