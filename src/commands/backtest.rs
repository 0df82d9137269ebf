//! `evalgate backtest --from --to [--rollout]`: replays stored history tick by tick in simulated
//! time through the production code path (sampling, the scoring engine, `logic::gates`,
//! `logic::rollout::step`), starting each rollout's plan afresh at `--from`, and prints the
//! decision log: what would have halted or promoted, when and why. Gate states and the rollout
//! state live in memory only: no flag, split, gate state, series or signal is written. (Missing
//! scores are computed and stored like any score: they are facts about requests.)

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::Context as _;
use serde::Serialize;

use crate::adapters::store::{RolloutRow, TickKey, rollout_format};
use crate::cli::BacktestArgs;
use crate::clock::parse_time;
use crate::commands::CmdResult;
use crate::context::Context;
use crate::domain::rollout::{Command, Input, RolloutState, TransitionKind};
use crate::domain::{MetricVerdict, Timestamp};
use crate::logic::{gates, rollout, sampling};
use crate::worker::pipeline::{self, Scoring, TickEnv};
use crate::worker::tick::Pipeline;

/// One line of the decision log.
#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    /// The rollout.
    pub rollout_id: String,
    /// The simulated tick time.
    pub at: Timestamp,
    /// What the controller would have done.
    pub kind: TransitionKind,
    /// Why.
    pub reason: String,
    /// The phase afterwards.
    pub phase: String,
    /// The split afterwards.
    pub split_bp: u32,
    /// The halting verdicts of the tick (on a `stay`: the halts whose test fired this tick, new
    /// evidence while the rollout already stood still, e.g. held).
    pub halts: Vec<MetricVerdict>,
    /// On a promotion (or approval wait, or completion): the non-inferiority proofs of the
    /// metrics with promotion authority, with their statistics.
    pub proofs: Vec<MetricVerdict>,
}

/// Runs `evalgate backtest`.
pub async fn run(ctx: &Context, args: BacktestArgs) -> CmdResult {
    let from = parse_time("--from", &args.from)?;
    let to = parse_time("--to", &args.to)?;
    anyhow::ensure!(from < to, "--from must be before --to");
    let services = ctx.services().await?;
    let store = &services.store;
    let pipeline = Pipeline::load(&services, "backtest")?;
    let env = pipeline.env(&services);
    let rows = store
        .list_rollouts()
        .await
        .context("cannot list rollouts")?;
    let rows: Vec<RolloutRow> = rows
        .into_iter()
        .filter(|row| args.rollout.as_ref().is_none_or(|id| &row.id == id))
        .collect();
    anyhow::ensure!(
        !rows.is_empty(),
        "no rollout to replay (see `evalgate rollout status`)"
    );
    let mut log = Vec::new();
    for row in &rows {
        log.extend(replay(&env, row, from, to).await?);
    }
    if args.json {
        crate::outln!("{}", serde_json::to_string_pretty(&log)?);
    } else {
        print_log(&log, from, to);
    }
    Ok(ExitCode::SUCCESS)
}

/// Replays one rollout's plan over `[from, to]`, returning every non-trivial decision.
pub async fn replay(
    env: &TickEnv<'_>,
    row: &RolloutRow,
    from: Timestamp,
    to: Timestamp,
) -> anyhow::Result<Vec<Decision>> {
    let plan = rollout_format::decode_plan(&row.id, &row.plan)?;
    let owner = row.owner.clone().unwrap_or_default();
    let fresh = RolloutState::new(&row.id, &row.flag_key, &owner, from);
    let start = Input::commands(vec![Command::Start {
        actor: "backtest".to_string(),
    }]);
    let mut state = rollout::step(&fresh, &plan, &start, from).next;
    let mut gate_states: BTreeMap<String, gates::GateState> = BTreeMap::new();
    let sampling_cfg = &env.ctx().config.sampling;
    let interval = plan.tick_interval.to_chrono();
    let mut log = Vec::new();
    let mut at = from + interval;
    while at <= to && !state.phase.is_terminal() {
        let (window_start, window_end) =
            sampling::window_for(at, sampling_cfg.window, sampling_cfg.readiness_delay);
        let key = TickKey {
            rollout_id: row.id.clone(),
            window_start,
        };
        let seed = pipeline::pairing_seed(sampling_cfg.seed, &row.id, window_start);
        let gathered = pipeline::gather_tick(
            env,
            row,
            &state,
            &plan,
            &key,
            window_end,
            seed,
            Scoring::Direct,
            &gate_states,
        )
        .await?;
        let evaluation = gates::evaluate_tick(
            &env.ctx().config.gate_settings,
            &gathered.stage_plan,
            &gate_states,
            &gathered.input,
            at,
        );
        gate_states = evaluation.states;
        let mut input = Input::verdicts(evaluation.verdicts.clone());
        let transition = rollout::step(&state, &plan, &input, at);
        let mut next = transition.next.clone();
        if transition.kind != TransitionKind::Stay {
            log.push(decision(
                &row.id,
                at,
                transition.kind,
                &transition.reason,
                &next,
                &evaluation.verdicts,
            ));
        } else if !evaluation.new_halts.is_empty() {
            let fired: Vec<MetricVerdict> = evaluation
                .verdicts
                .iter()
                .filter(|v| evaluation.new_halts.contains(&v.metric))
                .cloned()
                .collect();
            let reason = format!(
                "new halt evidence while {} (the rollout does not move)",
                next.phase.name()
            );
            log.push(decision(
                &row.id,
                at,
                transition.kind,
                &reason,
                &next,
                &fired,
            ));
        }
        if transition.kind == TransitionKind::AwaitingApproval {
            input = Input::commands(vec![Command::Approve {
                actor: "backtest (assumed)".to_string(),
                reason: None,
            }]);
            let approved = rollout::step(&next, &plan, &input, at);
            log.push(decision(
                &row.id,
                at,
                approved.kind,
                &approved.reason,
                &approved.next,
                &[],
            ));
            next = approved.next;
        }
        state = next;
        at += interval;
    }
    Ok(log)
}

fn decision(
    rollout_id: &str,
    at: Timestamp,
    kind: TransitionKind,
    reason: &str,
    next: &RolloutState,
    verdicts: &[MetricVerdict],
) -> Decision {
    Decision {
        rollout_id: rollout_id.to_string(),
        at,
        kind,
        reason: reason.to_string(),
        phase: next.phase.name().to_string(),
        split_bp: next.split_bp,
        halts: verdicts
            .iter()
            .filter(|v| v.verdict.is_halt())
            .cloned()
            .collect(),
        proofs: if matches!(
            kind,
            TransitionKind::Promoted | TransitionKind::AwaitingApproval | TransitionKind::Completed
        ) {
            verdicts
                .iter()
                .filter(|v| v.promotion_authority && v.verdict.is_promote_ready())
                .cloned()
                .collect()
        } else {
            Vec::new()
        },
    }
}

fn print_log(log: &[Decision], from: Timestamp, to: Timestamp) {
    crate::outln!(
        "backtest {} .. {} (nothing was written to flags or rollout state)",
        from.to_rfc3339(),
        to.to_rfc3339()
    );
    if log.is_empty() {
        crate::outln!("no decision besides waiting");
    }
    for entry in log {
        let kind = entry.kind.as_str();
        crate::outln!(
            "{}  {:<16} {:<18} → {} at {} bp: {}",
            entry.at.format("%Y-%m-%d %H:%M"),
            entry.rollout_id,
            kind,
            entry.phase,
            entry.split_bp,
            entry.reason
        );
        for halt in &entry.halts {
            crate::outln!("{:>36}halt  {}: {}", "", halt.metric, halt.verdict.reason());
        }
        for proof in &entry.proofs {
            crate::outln!("{:>36}proof {}", "", proof.verdict.reason());
        }
    }
}
