//! `evalgate rollout status`: where each rollout stands (phase, stage, split, time in stage
//! against its minimum, what every flag sink holds), each gate's latest verdict with its
//! evidence, and when the next decision is due; a readable table or `--json`.

use std::process::ExitCode;

use serde::Serialize;
use serde_json::Value;

use super::display::{Style, pad};
use crate::adapters::flags::FlagSinks;
use crate::adapters::store::{RolloutRow, Store};
use crate::cli::RolloutStatusArgs;
use crate::commands::CmdResult;
use crate::config::SamplingConfig;
use crate::context::Services;
use crate::domain::rollout::Phase;
use crate::domain::summary::RolloutSummary;
use crate::domain::{Evidence, MetricVerdict, Timestamp};
use crate::logic::rollout::{StageClock, stage_clock};
use crate::logic::unattributed::Unattributed;
use crate::worker::controller::LoadedRollout;
use crate::worker::pipeline::{self, RolloutTick};

/// One gate's latest verdict.
#[derive(Debug, Clone, Serialize)]
pub struct GateStatus {
    /// The metric.
    pub metric: String,
    /// Whether it must be PromoteReady to promote.
    pub promotion_authority: bool,
    /// `halt`, `promote_ready` or `inconclusive`.
    pub verdict: String,
    /// Why, in words.
    pub reason: String,
    /// The numbers behind it.
    pub evidence: Evidence,
}

/// One recorded halt signal.
#[derive(Debug, Clone, Serialize)]
pub struct HaltStatus {
    /// The metric.
    pub metric: String,
    /// `rollback`, `freeze` or `notify`.
    pub role: String,
    /// When it fired.
    pub at: Timestamp,
    /// Why.
    pub reason: String,
    /// The numbers behind it.
    pub evidence: Value,
}

/// What one flag sink holds for the rollout's flag.
#[derive(Debug, Clone, Serialize)]
pub struct SinkStatus {
    /// The sink.
    pub sink: String,
    /// The split it holds, if any.
    pub basis_points: Option<u32>,
    /// Its generation counter.
    pub generation: Option<u64>,
    /// True when it holds the controller's split.
    pub in_sync: bool,
    /// Why it could not be read.
    pub error: Option<String>,
}

/// Everything `rollout status` shows for one rollout: the summary the list and the API show
/// (flattened into the same JSON object), then what only the status reads (gates, halts, sinks).
#[derive(Debug, Clone, Serialize)]
pub struct RolloutStatus {
    /// Id, targets, phase, stage, split, timing: [`RolloutSummary::of_decoded`].
    #[serde(flatten)]
    pub summary: RolloutSummary,
    /// Whether the current stage needs a human approval to promote.
    pub approval_required: bool,
    /// The stage timing (None once the rollout has finished: a finished rollout is in no stage).
    pub clock: Option<StageClock>,
    /// The active rollout that now owns the flag, when this one finished and another (a retry)
    /// took the flag over: the sinks then hold that rollout's split, not drift.
    pub superseded_by: Option<String>,
    /// Whether the minimum duration has passed.
    pub min_duration_met: Option<bool>,
    /// Each gate's latest verdict.
    pub gates: Vec<GateStatus>,
    /// Halt signals recorded in the current stage (`halt_signals`), oldest first.
    pub halt_signals: Vec<HaltStatus>,
    /// The latest failed tick's error, while ticks fail.
    pub last_tick_error: Option<String>,
    /// What each sink holds.
    pub sinks: Vec<SinkStatus>,
    /// What a human should do next, if anything.
    pub hint: Option<String>,
    /// The latest tick's window: what it sampled, and the requests no active rollout claims
    /// (filled by `rollout status`, [`latest_window`]).
    pub latest_window: Option<WindowAttribution>,
    /// What the current and later stages can detect, with the canary units the latest tick
    /// sampled (filled by `rollout status`, [`crate::commands::plan_power`]).
    pub power: Vec<crate::logic::gates::power::StagePower>,
}

/// The windows of a rollout's latest tick, read again now: how many of their requests match no
/// active rollout, and the hint when the sample was short or such requests exist.
#[derive(Debug, Clone, Serialize)]
pub struct WindowAttribution {
    /// The tick time.
    pub tick_at: Timestamp,
    /// The canary window `[from, to)`.
    pub canary_window: (Timestamp, Timestamp),
    /// The baseline window (the canary's, except at 100%).
    pub baseline_window: (Timestamp, Timestamp),
    /// Sampled per arm (baseline, canary), when the tick recorded it.
    pub sampled: Option<(usize, usize)>,
    /// The windows' requests that no active rollout claims.
    pub unattributed: Unattributed,
    /// What to tell the operator, if anything.
    pub hint: Option<String>,
}

/// Builds the status of one rollout (without `latest_window`: see [`latest_window`]).
pub async fn rollout_status(
    store: &Store,
    sinks: &FlagSinks,
    rollout: &LoadedRollout,
    now: Timestamp,
) -> anyhow::Result<RolloutStatus> {
    let state = &rollout.state;
    let stage_opt = rollout.plan.stage(state.stage_index);
    let finished = state.phase.is_terminal();
    let clock = stage_clock(state, &rollout.plan, now).filter(|_| !finished);
    let min_duration_met = clock.as_ref().map(|c| c.elapsed >= c.min_duration);
    let gates = latest_gates(store, rollout).await?;
    let superseded_by = if finished {
        store
            .list_active_rollouts()
            .await?
            .into_iter()
            .find(|other| other.flag_key == rollout.row.flag_key && other.id != rollout.row.id)
            .map(|other| other.id)
    } else {
        None
    };
    let halt_signals = stage_halts(store, rollout).await?;
    let mut sink_statuses = Vec::new();
    for (sink, read) in sinks.read_all(&rollout.row.flag_key).await {
        let status = match read {
            Ok(record_opt) => SinkStatus {
                sink,
                basis_points: record_opt.as_ref().map(|r| r.basis_points),
                generation: record_opt.as_ref().map(|r| r.generation),
                in_sync: match &record_opt {
                    Some(record) => record.basis_points == state.split_bp,
                    None => state.phase == Phase::Pending,
                },
                error: None,
            },
            Err(err) => SinkStatus {
                sink,
                basis_points: None,
                generation: None,
                in_sync: false,
                error: Some(err.to_string()),
            },
        };
        sink_statuses.push(status);
    }
    let hint = match &state.phase {
        Phase::AwaitingApproval => Some(format!(
            "gates are green: review with `evalgate rollout review {0}`, then \
             `evalgate rollout approve {0}`",
            rollout.row.id
        )),
        Phase::Held { .. } => Some(format!(
            "held: fix the cause, then `evalgate rollout resume {}`",
            rollout.row.id
        )),
        Phase::Pending => Some("pending: not started".to_string()),
        _ => None,
    };
    Ok(RolloutStatus {
        summary: RolloutSummary::of_decoded(&rollout.row, &rollout.plan, state, now),
        approval_required: stage_opt.is_some_and(|spec| spec.approval_required),
        clock,
        superseded_by,
        min_duration_met,
        gates,
        halt_signals,
        last_tick_error: rollout.row.last_tick_error.clone(),
        sinks: sink_statuses,
        hint,
        latest_window: None,
        power: Vec::new(),
    })
}

/// The latest tick's windows (`sampling::tick_windows` through `pipeline::windows_at`, as the
/// tick read them) with their unattributed requests counted now; None before the first tick.
pub async fn latest_window(
    store: &Store,
    sampling: &SamplingConfig,
    rollout: &LoadedRollout,
) -> anyhow::Result<Option<WindowAttribution>> {
    let Some(tick) = store.latest_tick(&rollout.row.id).await? else {
        return Ok(None);
    };
    let stage_index = usize::try_from(tick.stage_index).map_err(|_| {
        anyhow::anyhow!(
            "ticks.stage_index of rollout {} at {}: {} is negative",
            rollout.row.id,
            tick.tick_at.to_rfc3339(),
            tick.stage_index
        )
    })?;
    let windows = pipeline::windows_at(
        sampling,
        &rollout.state,
        &rollout.plan,
        tick.tick_at,
        stage_index,
    );
    let owner = rollout.row.targets();
    let active: Vec<_> = store
        .list_active_rollouts()
        .await?
        .iter()
        .map(RolloutRow::targets)
        .collect();
    let unattributed = pipeline::unattributed_requests(store, &owner, &active, &windows).await?;
    // Every stored report is a `RolloutTick` (as a finished tick's redo also requires); one that
    // does not decode is a bad stored value, not "nothing sampled".
    let sampled = match tick.report {
        Some(report) => Some(
            serde_json::from_value::<RolloutTick>(report)
                .map_err(|error| {
                    anyhow::anyhow!(
                        "ticks.report of rollout {} at {}: bad stored tick report: {error}",
                        rollout.row.id,
                        tick.tick_at.to_rfc3339()
                    )
                })?
                .sampled,
        ),
        None => None,
    };
    // A tick that has not recorded its sample yet: only unattributed requests are worth a hint.
    let sampled_or_full = sampled.unwrap_or((usize::MAX, usize::MAX));
    let hint = unattributed.hint(&owner, sampled_or_full, u64::from(sampling.n_per_arm));
    Ok(Some(WindowAttribution {
        tick_at: tick.tick_at,
        canary_window: windows.canary,
        baseline_window: windows.baseline,
        sampled,
        unattributed,
        hint,
    }))
}

/// The latest gate verdicts: the last decision's evidence, else the newest audit row that
/// carried verdicts.
async fn latest_gates(store: &Store, rollout: &LoadedRollout) -> anyhow::Result<Vec<GateStatus>> {
    let mut verdicts = parse_verdicts(&rollout.row.last_evidence).map_err(|error| {
        anyhow::anyhow!("rollouts.last_evidence of {}: {error}", rollout.row.id)
    })?;
    if verdicts.is_empty() {
        let events = store.list_rollout_events(&rollout.row.id).await?;
        for event in events.iter().rev() {
            verdicts = parse_verdicts(&event.evidence).map_err(|error| {
                anyhow::anyhow!(
                    "rollout_events.evidence of {} at {}: {error}",
                    rollout.row.id,
                    event.at
                )
            })?;
            if !verdicts.is_empty() {
                break;
            }
        }
    }
    Ok(verdicts.iter().map(gate_status).collect())
}

/// The halt signals of the current stage, when the gates' table exists.
async fn stage_halts(store: &Store, rollout: &LoadedRollout) -> anyhow::Result<Vec<HaltStatus>> {
    if !store.table_exists("halt_signals").await? {
        return Ok(Vec::new());
    }
    let stage = i64::try_from(rollout.state.stage_index).unwrap_or(i64::MAX);
    let signals = store.halt_signals(&rollout.row.id).await?;
    Ok(signals
        .into_iter()
        .filter(|signal| signal.stage == stage)
        .map(|signal| HaltStatus {
            metric: signal.metric,
            role: signal.role.as_str().to_string(),
            at: signal.at,
            reason: signal.reason,
            evidence: signal.evidence,
        })
        .collect())
}

/// The gate verdicts a stored evidence value carries: an array is a decision's verdicts and
/// must decode (a bad stored value is an error, not "no verdicts"); anything else (null, or
/// an object such as a sink report) carries none.
fn parse_verdicts(value: &Value) -> Result<Vec<MetricVerdict>, String> {
    if !value.is_array() {
        return Ok(Vec::new());
    }
    serde_json::from_value(value.clone())
        .map_err(|error| format!("bad stored gate verdicts: {error}"))
}

fn gate_status(verdict: &MetricVerdict) -> GateStatus {
    let name = match &verdict.verdict {
        crate::domain::Verdict::Halt { .. } => "halt",
        crate::domain::Verdict::PromoteReady { .. } => "promote_ready",
        crate::domain::Verdict::Inconclusive { .. } => "inconclusive",
    };
    GateStatus {
        metric: verdict.metric.clone(),
        promotion_authority: verdict.promotion_authority,
        verdict: name.to_string(),
        reason: verdict.verdict.reason(),
        evidence: verdict.evidence.clone(),
    }
}

/// Renders one status as an aligned block, plain (RFC 3339 times, no colour).
pub fn render(status: &RolloutStatus) -> String {
    render_styled(status, &Style::plain(status.summary.updated_at))
}

/// Renders one status as an aligned block; times and verdicts as `style` shows them (relative
/// on a terminal, RFC 3339 when piped). A finished rollout shows when it ended, not a stage clock
/// or a next decision.
pub fn render_styled(status: &RolloutStatus, style: &Style) -> String {
    let summary = &status.summary;
    let mut out = String::new();
    let owner = summary.owner.as_deref().unwrap_or("-");
    out.push_str(&format!(
        "rollout  {}  (flag {}, owner {owner})\n",
        summary.id, summary.flag_key
    ));
    out.push_str(&format!(
        "targets  baseline {}  canary {}\n",
        summary.baseline_target, summary.canary_target
    ));
    let phase = match &summary.phase_reason {
        Some(reason) => format!("{} ({reason})", summary.phase),
        None => summary.phase.to_string(),
    };
    let name = summary.phase.as_str();
    let phase = phase.replacen(name, &style.phase(summary.phase), 1);
    out.push_str(&format!("phase    {phase}\n"));
    let approval = if status.approval_required {
        ", approval required"
    } else {
        ""
    };
    let split = summary.split_bp.map_or_else(
        || "?".to_string(),
        |bp| format!("{bp} bp ({:.2}%)", f64::from(bp) / 100.0),
    );
    out.push_str(&format!(
        "stage    {}  split {split}{approval}\n",
        summary.stage
    ));
    if let Some(clock) = &status.clock {
        let met = if clock.elapsed >= clock.min_duration {
            "met"
        } else {
            "not met"
        };
        out.push_str(&format!(
            "in stage {} of minimum {} ({met})\n",
            clock.elapsed, clock.min_duration
        ));
        if let Some(deadline) = clock.deadline {
            out.push_str(&format!("deadline {}\n", style.time(deadline)));
        }
    }
    match summary.finished_at {
        Some(ended) => out.push_str(&format!("ended    {}\n", style.time(ended))),
        None => {
            let next = summary
                .next_decision_at
                .map_or_else(|| "-".to_string(), |at| style.time(at));
            out.push_str(&format!("next     {next}\n"));
        }
    }
    for sink in &status.sinks {
        let held = sink
            .basis_points
            .map_or_else(|| "nothing".to_string(), |bp| format!("{bp} bp"));
        let generation = sink
            .generation
            .map_or_else(String::new, |g| format!(" gen {g}"));
        let verdict = match (&sink.error, sink.in_sync, &status.superseded_by) {
            (Some(error), _, _) => format!("ERROR {error}"),
            (None, true, _) => "in sync".to_string(),
            (None, false, Some(owner)) => format!("the flag is now rollout {owner}'s"),
            (None, false, None) => "DRIFT".to_string(),
        };
        out.push_str(&format!(
            "sink     {:<6} {held}{generation}  {verdict}\n",
            sink.sink
        ));
    }
    if status.gates.is_empty() {
        out.push_str("gates    no verdicts yet\n");
    } else {
        out.push_str(&format!(
            "gates    {:<28} {:<5} {:<14} {}\n",
            "METRIC", "AUTH", "VERDICT", "REASON"
        ));
        for gate in &status.gates {
            let authority = if gate.promotion_authority {
                "yes"
            } else {
                "no"
            };
            out.push_str(&format!(
                "         {:<28} {:<5} {} {}\n",
                gate.metric,
                authority,
                pad(&style.verdict(&gate.verdict), 14),
                gate.reason
            ));
        }
    }
    for halt in &status.halt_signals {
        out.push_str(&format!(
            "halt     {} ({}) at {}: {}\n",
            halt.metric,
            halt.role,
            style.time(halt.at),
            halt.reason
        ));
    }
    out.push_str(&format!("last     {}\n", summary.last_reason));
    if summary.failed_windows > 0 {
        out.push_str(&format!(
            "ticks    FAILING: {} consecutive window(s) not gated; last error: {}\n",
            summary.failed_windows,
            status.last_tick_error.as_deref().unwrap_or("-")
        ));
    }
    if let Some(window) = &status.latest_window
        && let Some(hint) = &window.hint
    {
        let sampled = window.sampled.map_or_else(
            || "-".to_string(),
            |(b, c)| format!("canary {c} / baseline {b}"),
        );
        out.push_str(&format!(
            "window   latest tick {}: canary [{}, {}), sampled {sampled}\n",
            style.time(window.tick_at),
            window.canary_window.0.to_rfc3339(),
            window.canary_window.1.to_rfc3339(),
        ));
        out.push_str(&format!("traffic  {hint}\n"));
    }
    for stage in &status.power {
        out.push_str(&format!("power    {}\n", stage.describe()));
    }
    if let Some(hint) = &status.hint {
        out.push_str(&format!("next step {hint}\n"));
    }
    out
}

/// Everything `rollout status` and `rollout get` show for one rollout: [`rollout_status`] with
/// the latest tick's window and, while it runs, what its stages can detect.
pub async fn full_status(
    services: &Services,
    rollout: &LoadedRollout,
    now: Timestamp,
) -> anyhow::Result<RolloutStatus> {
    let (ctx, store) = (&services.ctx, &services.store);
    let mut status = rollout_status(store, &services.sinks, rollout, now).await?;
    status.latest_window = latest_window(store, &ctx.config.sampling, rollout).await?;
    if !rollout.state.phase.is_terminal() {
        let sampled = status
            .latest_window
            .as_ref()
            .and_then(|w| w.sampled)
            .map(|(_, canary)| canary as f64);
        let p0 = status
            .gates
            .iter()
            .find(|g| g.metric == "pass_rate")
            .and_then(|g| g.evidence.estimate_baseline);
        status.power = crate::commands::plan_power::plan_power(
            &ctx.config,
            &rollout.plan,
            rollout.state.stage_index,
            sampled,
            p0,
        );
    }
    Ok(status)
}

/// Runs `evalgate rollout status [ID] [--json] [--wait [--timeout D]]`.
pub async fn run(services: &Services, args: RolloutStatusArgs) -> CmdResult {
    let (ctx, store) = (&services.ctx, &services.store);
    let outcome = match (&args.id, args.wait) {
        (Some(id), true) => Some(
            super::rollout_wait::wait_for(
                store,
                id,
                args.timeout.map(crate::domain::HumanDuration::to_std),
            )
            .await?,
        ),
        _ => None,
    };
    let code = outcome.map_or(ExitCode::SUCCESS, |o| ExitCode::from(o.code()));
    let now = ctx.clock.now();
    let rows = match &args.id {
        Some(id) => vec![LoadedRollout::load(store, id).await?.row],
        None => store.list_active_rollouts().await?,
    };
    let mut statuses = Vec::new();
    for row in rows {
        let rollout = LoadedRollout::from_row(row)?;
        statuses.push(full_status(services, &rollout, now).await?);
    }
    if args.json {
        let text = if args.id.is_some() {
            serde_json::to_string_pretty(&statuses.first())?
        } else {
            serde_json::to_string_pretty(&statuses)?
        };
        crate::outln!("{text}");
        return Ok(code);
    }
    let style = Style::detect(now);
    if statuses.is_empty() {
        crate::outln!("no active rollouts");
    }
    for (index, status) in statuses.iter().enumerate() {
        if index > 0 {
            crate::outln!();
        }
        crate::out!("{}", render_styled(status, &style));
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn stored_verdicts_decode_or_say_why_and_other_evidence_carries_none() {
        let verdict = MetricVerdict {
            metric: "pass_rate".to_string(),
            promotion_authority: true,
            verdict: crate::domain::Verdict::PromoteReady {
                reason: "canary not worse".to_string(),
            },
            evidence: Evidence {
                estimate_baseline: Some(0.9),
                ..Evidence::default()
            },
        };
        let stored = json!([verdict]);
        assert_eq!(parse_verdicts(&stored).unwrap(), vec![verdict]);
        assert!(parse_verdicts(&json!(null)).unwrap().is_empty());
        assert!(
            parse_verdicts(&json!({"sink_reports": []}))
                .unwrap()
                .is_empty()
        );
        assert!(parse_verdicts(&json!([])).unwrap().is_empty());
        let error = parse_verdicts(&json!([{"metric": "pass_rate"}])).unwrap_err();
        assert!(error.starts_with("bad stored gate verdicts"), "{error}");
    }
}
