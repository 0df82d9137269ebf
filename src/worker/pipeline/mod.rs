//! One tick of one rollout, end to end (DESIGN.md §1): sample → score → telemetry → gates →
//! series and signals → controller. A tick is keyed by (rollout, window start) in `ticks`; every
//! step is idempotent or recorded before the next begins, so a crash or a kill at any point,
//! followed by a restart, finishes or redoes the tick with nothing counted twice:
//!
//! - sampling is deterministic for (seed, window), and scores are unique per (request,
//!   evaluator, version), so redoing sampling and scoring adds nothing twice;
//! - the gates start from the states as they were *before* this window
//!   (`Store::load_gate_states`), so a redone evaluation gives the same result, and
//!   `save_gate_tick` writes states and replay records in one transaction; series and halt
//!   signals are upserts keyed by window;
//! - the tick row moves `running` → `gated` (verdicts stored) → `done` (controller applied);
//!   a tick found `gated` skips straight to the controller with the stored verdicts; `done` is
//!   written in the controller's own transaction, and the rollout records the newest window it
//!   decided, so a redone window can never apply a second transition;
//! - one writer per rollout (`lease`): ticks of a rollout run one at a time and in window order,
//!   and the lease's token fences the gate and controller writes.

mod gather;
pub mod lease;
mod queue;
mod references;

use std::collections::BTreeMap;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use crate::adapters::store::{
    Fence, MetricRow, PassRateRow, RolloutRow, Store, TickClaim, TickKey, TickStart, TickStatus,
};
use crate::context::{Context, Services};
use crate::domain::plan::Plan;
use crate::domain::rollout::{Input, PhaseName, RolloutState};
use crate::domain::{Arm, MetricVerdict, Timestamp};
use crate::evaluators::versions::VersionedSuite;
use crate::logic::gates::{self, ArmScores, EvalSample, PerArm, TickInput};
use crate::logic::hash::sha256_u64;
use crate::logic::sampling::{self, RolloutPosition, SamplePlan};
use crate::logic::unattributed::Unattributed;
use crate::worker::failpoint;
use crate::worker::scoring::ScoringEngine;
use lease::RolloutLease;

pub use gather::{TickSample, TickWindows, sample_tick, unattributed_requests};
pub use queue::score_worker_once;

/// Everything a tick needs besides the rollout and the time.
pub struct TickEnv<'a> {
    /// The process's services (config, clock, store, flag sinks, notifier).
    pub services: &'a Services,
    /// Loaded suites by name.
    pub suites: &'a BTreeMap<String, VersionedSuite>,
    /// The one scoring path.
    pub engine: &'a ScoringEngine,
    /// This process's name in the scoring queue and the tick rows.
    pub worker_id: &'a str,
}

impl<'a> TickEnv<'a> {
    /// Config and clock.
    pub fn ctx(&self) -> &'a Context {
        &self.services.ctx
    }

    /// The store.
    pub fn store(&self) -> &'a Store {
        &self.services.store
    }
}

/// What one tick decided for one rollout; stored in the tick row and printed by `evalgate tick`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RolloutTick {
    /// The rollout.
    pub rollout_id: String,
    /// The tick time.
    pub at: Option<Timestamp>,
    /// The canary window scored.
    pub window_start: Option<Timestamp>,
    /// End of that window.
    pub window_end: Option<Timestamp>,
    /// The stage the tick ran in.
    pub stage_index: usize,
    /// The split during the tick.
    pub split_bp: u32,
    /// Sampled units per arm (baseline, canary).
    pub sampled: (usize, usize),
    /// Suite pass rate per arm over scorable units, when any.
    pub pass_rate: (Option<f64>, Option<f64>),
    /// Unscorable units per arm.
    pub unscorable: (usize, usize),
    /// Scores written this tick (0 on a redo that found them stored).
    pub scores_written: u64,
    /// The window's requests that no active rollout claims (older reports: none recorded).
    #[serde(default)]
    pub unattributed: Unattributed,
    /// What to tell the operator when the sample is short or unattributed requests exist.
    #[serde(default)]
    pub attribution_hint: Option<String>,
    /// The gate verdicts.
    pub verdicts: Vec<MetricVerdict>,
    /// Σ α of the gates (the rollout's false-halt budget).
    pub false_halt_budget: f64,
    /// What the controller did (`stay`, `promoted`, `rolled_back` …).
    pub transition: String,
    /// Why.
    pub reason: String,
    /// The phase after the tick.
    pub phase: PhaseName,
    /// The split after the tick.
    pub split_after_bp: u32,
    /// How many times the tick was started (more than 1 after a crash).
    pub attempts: i64,
    /// True when the tick had already finished and was not redone.
    pub already_done: bool,
}

/// A tick that was not run because it must not run now: another writer holds the rollout, the
/// window is older than one already gated, or the rollout is no longer ticked. Reported (the
/// `tick` command exits 1, `serve` retries) but not counted as a failed window.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TickRefused(pub String);

/// The window start of a tick at `at` (the tick's key, with the rollout).
pub fn tick_window_start(env: &TickEnv<'_>, at: Timestamp) -> Timestamp {
    let sampling_cfg = &env.ctx().config.sampling;
    sampling::window_for(at, sampling_cfg.window, sampling_cfg.readiness_delay).0
}

/// Runs the tick at `at` for one rollout. Idempotent per (rollout, window start); one writer
/// per rollout at a time (it waits for another, then refuses), in window order.
#[tracing::instrument(skip_all, fields(rollout_id = %rollout_id, at = %at))]
pub async fn tick_rollout(
    env: &TickEnv<'_>,
    rollout_id: &str,
    at: Timestamp,
) -> anyhow::Result<RolloutTick> {
    let lease =
        RolloutLease::acquire(env.store(), &env.ctx().clock, rollout_id, env.worker_id).await?;
    let outcome = tick_under_lease(env, rollout_id, at, lease.fence()).await;
    lease.release().await;
    outcome
}

async fn tick_under_lease(
    env: &TickEnv<'_>,
    rollout_id: &str,
    at: Timestamp,
    fence: &Fence,
) -> anyhow::Result<RolloutTick> {
    // Read under the lease: what another writer decided before is seen.
    let row = env
        .store()
        .get_rollout(rollout_id)
        .await
        .context("cannot read the rollout")?
        .with_context(|| format!("no rollout `{rollout_id}`"))?;
    let loaded = crate::worker::controller::LoadedRollout::from_row(row)?;
    let (row, state, plan) = (&loaded.row, &loaded.state, &loaded.plan);
    let sampling_cfg = &env.ctx().config.sampling;
    let (from, to) = sampling::window_for(at, sampling_cfg.window, sampling_cfg.readiness_delay);
    let key = TickKey {
        rollout_id: row.id.clone(),
        window_start: from,
    };
    if let Some(stored) = env
        .store()
        .tick_report(&key)
        .await
        .context("cannot read the tick")?
        && stored.0 == TickStatus::Done
    {
        return finished(stored.1, &row.id);
    }
    if !state.phase.is_tickable() {
        return Err(TickRefused(format!(
            "rollout {} is {} and is not ticked any more",
            row.id, state.phase
        ))
        .into());
    }
    if let Some(newest) = env
        .store()
        .newest_gated_window(&row.id)
        .await
        .context("cannot read the rollout's ticks")?
        && newest > from
    {
        return Err(TickRefused(format!(
            "window {} of rollout {} is older than its newest gated window {}: the gates are \
             sequential and a past window cannot be added after a later one",
            from.to_rfc3339(),
            row.id,
            newest.to_rfc3339()
        ))
        .into());
    }
    let pairing_seed = pairing_seed(sampling_cfg.seed, &row.id, from);
    let claim = env
        .store()
        .begin_tick(
            &key,
            &TickStart {
                window_end: to,
                tick_at: at,
                started_at: env.ctx().clock.now(),
                stage_index: state.stage_index as i64,
                pairing_seed,
                worker: env.worker_id,
            },
        )
        .await
        .context("cannot record the tick")?;
    let mut report = match claim {
        TickClaim::Done { report } => return finished(report, &row.id),
        TickClaim::Resume {
            status: TickStatus::Gated,
            attempts,
            report,
        } => {
            let stored = report.context("the gated tick has no stored report")?;
            let mut report: RolloutTick = serde_json::from_value(stored)
                .context("the gated tick's stored report does not decode")?;
            report.attempts = attempts;
            report
        }
        TickClaim::Resume { attempts, .. } => {
            let released = env
                .store()
                .release_claims(&key)
                .await
                .context("cannot release old claims")?;
            tracing::warn!(attempts, released, "redoing a tick that did not finish");
            let mut report =
                evaluate(env, row, state, plan, &key, to, at, pairing_seed, fence).await?;
            report.attempts = attempts;
            report
        }
        TickClaim::Fresh => {
            let mut report =
                evaluate(env, row, state, plan, &key, to, at, pairing_seed, fence).await?;
            report.attempts = 1;
            report
        }
    };
    control(env, &key, &mut report, at, fence).await?;
    Ok(report)
}

fn finished(
    report_opt: Option<serde_json::Value>,
    rollout_id: &str,
) -> anyhow::Result<RolloutTick> {
    let stored = report_opt
        .with_context(|| format!("rollout {rollout_id}: a finished tick has no stored report"))?;
    let mut report: RolloutTick = serde_json::from_value(stored).with_context(|| {
        format!("rollout {rollout_id}: a finished tick's report does not decode")
    })?;
    report.already_done = true;
    // This call scored nothing: the stored count belongs to the run that finished the tick.
    report.scores_written = 0;
    Ok(report)
}

/// The tick's data, gathered and scored: what the gates are fed.
pub struct Gathered {
    /// The gates' input.
    pub input: TickInput,
    /// What was sampled.
    pub sample: TickSample,
    /// The stage plan (with references when the stage's tests start this tick).
    pub stage_plan: gates::StagePlan,
    /// Scores this process wrote.
    pub scores_written: u64,
    /// The window's requests that no active rollout claims.
    pub unattributed: Unattributed,
}

/// How a gathered tick gets its scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scoring {
    /// Through the shared queue (live ticks: replicas may help).
    Queue,
    /// Straight through the engine (backtests).
    Direct,
}

/// Samples, scores and reads telemetry and feedback for one tick of one rollout. Reads only,
/// apart from the scores (which are facts about requests, unique per evaluator version).
#[allow(clippy::too_many_arguments)]
pub async fn gather_tick(
    env: &TickEnv<'_>,
    row: &RolloutRow,
    state: &RolloutState,
    plan: &Plan,
    key: &TickKey,
    window_end: Timestamp,
    pairing_seed: u64,
    scoring: Scoring,
    states: &BTreeMap<String, gates::GateState>,
) -> anyhow::Result<Gathered> {
    let config = &env.ctx().config;
    let suite = suite_of(env, row)?;
    let windows = windows_for(env, state, plan, key.window_start);
    debug_assert_eq!(windows.canary.1, window_end);
    let sample_plan = SamplePlan::of(&config.sampling);
    let owner = row.targets();
    let sample = sample_tick(env.store(), &sample_plan, Some(&owner), &windows).await?;
    let scores_written = match scoring {
        Scoring::Queue => queue::score_tick(env, key, suite, &sample.requests).await?,
        Scoring::Direct => {
            let budgets = env.engine.default_budgets();
            env.engine
                .score(suite, &sample.requests, &budgets)
                .await?
                .inserted
        }
    };
    let arms = arm_scores(env, suite, &sample).await?;
    let telemetry = gather::telemetry(env.store(), &owner, &windows).await?;
    let feedback = gather::feedback_cohort(env.store(), &owner, &windows).await?;
    let active: Vec<_> = env
        .store()
        .list_active_rollouts()
        .await
        .context("cannot list the active rollouts")?
        .iter()
        .map(RolloutRow::targets)
        .collect();
    let unattributed =
        gather::unattributed_requests(env.store(), &owner, &active, &windows).await?;
    let input = TickInput {
        window_start: Some(key.window_start),
        window_end: Some(window_end),
        pairing_seed,
        canary_share: Some(f64::from(state.split_bp) / 10_000.0),
        eval: EvalSample {
            arms,
            wanted_per_arm: u64::from(config.sampling.n_per_arm),
        },
        telemetry,
        feedback,
    };
    let stage_index = state.stage_index;
    let needs_references = states.is_empty()
        || states
            .values()
            .any(|gate| gate.stage as usize != stage_index);
    let stage_plan = match plan.stage(stage_index) {
        Some(spec) => {
            let facts = references::StageFacts {
                stage_index,
                spec,
                stage_started_at: state.stage_started_at.unwrap_or(key.window_start),
                window: config.sampling.window,
                n_per_arm: config.sampling.n_per_arm,
                baseline_multiplier: config.sampling.baseline_multiplier,
                canary_requests: input.telemetry.canary.len(),
                canary_feedback: input
                    .feedback
                    .as_ref()
                    .map_or(0, |cohort| cohort.arms.canary.len()),
            };
            references::stage_plan(
                env.store(),
                &config.gate_settings,
                &owner,
                &facts,
                needs_references,
            )
            .await?
        }
        None => gates::StagePlan::default(),
    };
    // The stage's false-halt budget is split over the suite's declared evaluators, not the ones
    // this tick happened to see, so every per-evaluator gate gets the same share all stage.
    let evaluators = suite.assertion_names();
    let stage_plan = gates::StagePlan {
        alpha: gates::budget::allocate(
            &config.gate_settings,
            &gates::budget::family_names(&config.gate_settings, &evaluators),
        )
        .alpha,
        ..stage_plan
    };
    Ok(Gathered {
        input,
        sample,
        stage_plan,
        scores_written,
        unattributed,
    })
}

/// The suite a rollout is scored with.
pub fn suite_of<'a>(env: &'a TickEnv<'_>, row: &RolloutRow) -> anyhow::Result<&'a VersionedSuite> {
    let name = row
        .suite
        .clone()
        .unwrap_or_else(|| env.ctx().config.evals.default_suite.clone());
    env.suites.get(&name).with_context(|| {
        format!(
            "rollout {} names suite `{name}`, which is not loaded",
            row.id
        )
    })
}

/// The seed of a tick's outcome-blind pairing shuffle: derived from the sampling seed, the
/// rollout and the window, and stored with the tick so the decision can be replayed.
pub fn pairing_seed(sampling_seed: u64, rollout_id: &str, window_start: Timestamp) -> u64 {
    sha256_u64(&[
        &sampling_seed.to_be_bytes(),
        rollout_id.as_bytes(),
        &window_start.timestamp().to_be_bytes(),
    ])
}

/// Sample, score, read telemetry, update the gates and persist them; the tick ends `gated`.
#[allow(clippy::too_many_arguments)]
async fn evaluate(
    env: &TickEnv<'_>,
    row: &RolloutRow,
    state: &RolloutState,
    plan: &Plan,
    key: &TickKey,
    window_end: Timestamp,
    at: Timestamp,
    pairing_seed: u64,
    fence: &Fence,
) -> anyhow::Result<RolloutTick> {
    let states = env
        .store()
        .load_gate_states(&row.id, key.window_start)
        .await
        .context("cannot load the gate states")?;
    let gathered = gather_tick(
        env,
        row,
        state,
        plan,
        key,
        window_end,
        pairing_seed,
        Scoring::Queue,
        &states,
    )
    .await?;
    failpoint::hit("tick_after_scoring");
    let evaluation = gates::evaluate_tick(
        &env.ctx().config.gate_settings,
        &gathered.stage_plan,
        &states,
        &gathered.input,
        at,
    );
    let suite = suite_of(env, row)?;
    persist(
        env,
        &row.id,
        state,
        key,
        window_end,
        at,
        &gathered.input,
        &evaluation,
        suite,
        fence,
    )
    .await?;
    failpoint::hit("tick_after_persist");
    let report = tick_report(row, state, key, window_end, at, &gathered, &evaluation);
    let value = serde_json::to_value(&report).context("cannot serialise the tick report")?;
    env.store()
        .mark_tick(key, TickStatus::Gated, &value, None)
        .await
        .context("cannot mark the tick gated")?;
    failpoint::hit("tick_after_gated");
    Ok(report)
}

/// The report of an evaluated tick (before the controller runs).
pub fn tick_report(
    row: &RolloutRow,
    state: &RolloutState,
    key: &TickKey,
    window_end: Timestamp,
    at: Timestamp,
    gathered: &Gathered,
    evaluation: &gates::TickEvaluation,
) -> RolloutTick {
    let arms = &gathered.input.eval.arms;
    let sampled = (
        gathered.sample.arms.baseline.selected.len(),
        gathered.sample.arms.canary.selected.len(),
    );
    let attribution_hint =
        gathered
            .unattributed
            .hint(&row.targets(), sampled, gathered.input.eval.wanted_per_arm);
    RolloutTick {
        rollout_id: row.id.clone(),
        at: Some(at),
        window_start: Some(key.window_start),
        window_end: Some(window_end),
        stage_index: state.stage_index,
        split_bp: state.split_bp,
        sampled,
        pass_rate: (suite_rate(&arms.baseline), suite_rate(&arms.canary)),
        unscorable: (
            unscorable_count(&arms.baseline),
            unscorable_count(&arms.canary),
        ),
        scores_written: gathered.scores_written,
        unattributed: gathered.unattributed.clone(),
        attribution_hint,
        verdicts: evaluation.verdicts.clone(),
        false_halt_budget: evaluation.false_halt_budget,
        ..RolloutTick::default()
    }
}

/// The windows of each arm (`sampling::tick_windows`, the one place that decides them).
fn windows_for(
    env: &TickEnv<'_>,
    state: &RolloutState,
    plan: &Plan,
    at_from: Timestamp,
) -> TickWindows {
    let sampling_cfg = &env.ctx().config.sampling;
    // `at_from` is the canary window start; the tick time is its end plus the readiness delay.
    let at = at_from + sampling_cfg.window.to_chrono() + sampling_cfg.readiness_delay.to_chrono();
    windows_at(sampling_cfg, state, plan, at, state.stage_index)
}

/// Where `state` is in `plan`, for the tick windows.
pub fn position_of(state: &RolloutState, plan: &Plan) -> RolloutPosition {
    position_in_stage(state, plan, state.stage_index)
}

/// The position of a tick that ran in stage `stage_index` (a past tick may have run in the stage
/// before the current one): the stage decides whether the baseline window walks back; only a
/// 100% stage reads its start, which is the current stage's (100% is the last stage).
pub fn position_in_stage(state: &RolloutState, plan: &Plan, stage_index: usize) -> RolloutPosition {
    RolloutPosition {
        full: plan
            .stage(stage_index)
            .is_some_and(|spec| spec.canary_basis_points >= 10_000),
        stage_started_at: state.stage_started_at,
    }
}

/// The windows of a tick at `at` that ran in stage `stage_index` (`sampling::tick_windows`).
pub fn windows_at(
    config: &crate::config::SamplingConfig,
    state: &RolloutState,
    plan: &Plan,
    at: Timestamp,
    stage_index: usize,
) -> TickWindows {
    sampling::tick_windows(
        at,
        config.window,
        config.readiness_delay,
        config.feedback_maturity,
        Some(position_in_stage(state, plan, stage_index)),
    )
}

async fn arm_scores(
    env: &TickEnv<'_>,
    suite: &VersionedSuite,
    sample: &TickSample,
) -> anyhow::Result<PerArm<ArmScores>> {
    let versions: Vec<String> = suite
        .evaluators()
        .iter()
        .map(|evaluator| evaluator.version.clone())
        .collect();
    let mut arms = PerArm::default();
    for arm in Arm::ALL {
        let ids = match arm {
            Arm::Baseline => &sample.arms.baseline.selected,
            Arm::Canary => &sample.arms.canary.selected,
        };
        let scores = env
            .store()
            .scores_for(ids, &versions)
            .await
            .with_context(|| format!("cannot read the {arm} scores"))?;
        let arm_scores = ArmScores::from_scores(&scores, &suite.name);
        match arm {
            Arm::Baseline => arms.baseline = arm_scores,
            Arm::Canary => arms.canary = arm_scores,
        }
    }
    Ok(arms)
}

fn suite_rate(arm: &ArmScores) -> Option<f64> {
    let passes = arm
        .overall
        .iter()
        .filter(|o| **o == crate::domain::Outcome::Pass)
        .count();
    let fails = arm
        .overall
        .iter()
        .filter(|o| **o == crate::domain::Outcome::Fail)
        .count();
    let scorable = passes + fails;
    (scorable > 0).then(|| passes as f64 / scorable as f64)
}

fn unscorable_count(arm: &ArmScores) -> usize {
    arm.overall
        .iter()
        .filter(|o| **o == crate::domain::Outcome::Unscorable)
        .count()
}

/// Saves the gate states with their replay records, the series and the halt signals.
#[allow(clippy::too_many_arguments)]
async fn persist(
    env: &TickEnv<'_>,
    rollout_id: &str,
    state: &RolloutState,
    key: &TickKey,
    window_end: Timestamp,
    at: Timestamp,
    input: &TickInput,
    evaluation: &gates::TickEvaluation,
    suite: &VersionedSuite,
    fence: &Fence,
) -> anyhow::Result<()> {
    let store = env.store();
    store
        .save_gate_tick(
            rollout_id,
            key.window_start,
            &evaluation.states,
            &evaluation.updates,
            &evaluation.verdicts,
            Some(fence),
        )
        .await
        .context("cannot save the gate states")?;
    let versions = suite.version_by_name();
    let pass_rows: Vec<PassRateRow> = gates::series::pass_rate_points(input)
        .into_iter()
        .map(|point| PassRateRow {
            window_start: key.window_start,
            window_end,
            evaluator_version: series_version(&versions, &point.evaluator, &suite.name),
            point,
        })
        .collect();
    store
        .upsert_pass_rate_series(rollout_id, &pass_rows)
        .await
        .context("cannot write the pass-rate series")?;
    let metric_rows: Vec<MetricRow> = gates::series::metric_points(input)
        .into_iter()
        .map(|point| MetricRow {
            window_start: key.window_start,
            window_end,
            point,
        })
        .collect();
    store
        .upsert_metric_series(rollout_id, &metric_rows)
        .await
        .context("cannot write the metric series")?;
    let stage = u32::try_from(state.stage_index).unwrap_or(u32::MAX);
    // One signal per halt, when its test fires: a sticky halt repeats in every later verdict.
    let fired: Vec<MetricVerdict> = evaluation
        .verdicts
        .iter()
        .filter(|v| evaluation.new_halts.contains(&v.metric))
        .cloned()
        .collect();
    store
        .record_halt_signals(rollout_id, stage, key.window_start, at, &fired)
        .await
        .context("cannot record the halt signals")?;
    Ok(())
}

fn series_version(versions: &BTreeMap<String, String>, evaluator: &str, suite: &str) -> String {
    let name = if evaluator == gates::series::OVERALL {
        suite
    } else {
        evaluator
    };
    versions.get(name).cloned().unwrap_or_default()
}

/// Runs the controller on the tick's verdicts; the tick row is marked done in the controller's
/// own transaction (or, when this window was already decided, on its own).
async fn control(
    env: &TickEnv<'_>,
    key: &TickKey,
    report: &mut RolloutTick,
    at: Timestamp,
    fence: &Fence,
) -> anyhow::Result<()> {
    let input = Input::verdicts(report.verdicts.clone());
    let decision = crate::worker::controller::TickDecision {
        key: key.clone(),
        fence: fence.clone(),
        stage_index: report.stage_index,
        report: report.clone(),
        clock: env.ctx().clock.clone(),
    };
    let outcome = crate::worker::controller::control_tick(env.services, input, at, decision)
        .await
        .context("the controller step failed")?;
    *report = outcome;
    failpoint::hit("tick_after_control");
    Ok(())
}
