//! One tick of the pipeline (DESIGN.md §1) for every active rollout, and `evalgate tick`.
//! [`Pipeline`] holds what outlives a tick (the loaded suites and the scoring engine with its
//! judge clients, rate limits and cache); [`tick_all`] is the entry point the scheduler calls.

use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;

use anyhow::Context as _;
use serde::Serialize;

use crate::adapters::notify::Notifier;
use crate::adapters::store::Store;
use crate::app::{CmdResult, Context};
use crate::cli::TickArgs;
use crate::clock::parse_time;
use crate::domain::Timestamp;
use crate::evaluators::{Suite, load_suites};
use crate::worker::controller::outbox;
use crate::worker::fail_safe;
use crate::worker::pipeline::{self, RolloutTick, TickEnv};
use crate::worker::scoring::{ScoringEngine, judge_http_client};

/// What one tick did, for logs, `evalgate tick` and the metrics gauges.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TickReport {
    /// The tick time.
    pub at: Option<Timestamp>,
    /// One entry per active rollout.
    pub rollouts: Vec<RolloutTickReport>,
}

/// What one tick did for one rollout.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RolloutTickReport {
    /// The rollout id.
    pub rollout_id: String,
    /// Start of the scored window.
    pub window_start: Option<Timestamp>,
    /// A one-line summary of the decision.
    pub decision: String,
    /// The full tick, when it ran.
    pub detail: Option<RolloutTick>,
    /// Why the tick failed, when it did (the other rollouts still ticked).
    pub error: Option<String>,
    /// The fail-safe applied after too many failed windows, when it was.
    pub fail_safe: Option<String>,
}

/// The long-lived half of the pipeline.
pub struct Pipeline {
    /// Suites by name.
    pub suites: BTreeMap<String, Suite>,
    /// The one scoring path.
    pub engine: ScoringEngine,
    /// This process's name in the scoring queue.
    pub worker_id: String,
}

impl Pipeline {
    /// Loads the suites of `evals.dir` and builds the scoring engine over `store`.
    pub fn load(ctx: &Context, store: &Store, worker_id: &str) -> anyhow::Result<Pipeline> {
        let suites = load_suite_map(ctx)?;
        let http = judge_http_client()?;
        let engine = ScoringEngine::new(
            Some(store.clone()),
            &ctx.config.judges,
            http,
            ctx.clock.clone(),
        );
        Ok(Pipeline {
            suites,
            engine,
            worker_id: worker_id.to_string(),
        })
    }

    /// The environment a tick runs in.
    pub fn env<'a>(&'a self, ctx: &'a Context, store: &'a Store) -> TickEnv<'a> {
        TickEnv {
            ctx,
            store,
            suites: &self.suites,
            engine: &self.engine,
            worker_id: &self.worker_id,
        }
    }

    /// Runs the tick at `at` for every active rollout; one rollout's failure does not stop the
    /// others. A failure is counted against the rollout (consecutive failed windows, its error
    /// kept on the rollout and the tick row), and after `rollout.fail_safe_after` failed windows
    /// the fail-safe (`rollout.fail_safe`: hold, or roll back) is applied and the owner paged.
    /// The report lists every failure; callers treat any as a failed tick (`failures`).
    pub async fn tick_all(
        &self,
        ctx: &Context,
        store: &Store,
        at: Timestamp,
    ) -> anyhow::Result<TickReport> {
        let env = self.env(ctx, store);
        let rows = store
            .list_active_rollouts()
            .await
            .context("cannot list active rollouts")?;
        let mut report = TickReport {
            at: Some(at),
            rollouts: Vec::new(),
        };
        for row in rows {
            if !phase_name_is_tickable(&row.phase) {
                continue;
            }
            let entry = match pipeline::tick_rollout(&env, &row.id, at).await {
                Ok(tick) => RolloutTickReport {
                    rollout_id: row.id.clone(),
                    window_start: tick.window_start,
                    decision: summary(&tick),
                    detail: Some(tick),
                    error: None,
                    fail_safe: None,
                },
                Err(err) => {
                    let error = format!("{err:#}");
                    tracing::error!(rollout_id = %row.id, error = %error, "tick failed");
                    let window_start = pipeline::tick_window_start(&env, at);
                    let fail_safe = if err.is::<pipeline::TickRefused>() {
                        None
                    } else {
                        fail_safe::count_failure(ctx, store, &row, window_start, &error, at).await
                    };
                    RolloutTickReport {
                        rollout_id: row.id.clone(),
                        window_start: Some(window_start),
                        decision: "failed".to_string(),
                        detail: None,
                        error: Some(error),
                        fail_safe,
                    }
                }
            };
            report.rollouts.push(entry);
        }
        match Notifier::from_config(&ctx.config.notify) {
            Ok(notifier) => {
                outbox::flush_due(store, &notifier, ctx.clock.now()).await;
            }
            Err(err) => tracing::error!(error = %format!("{err:#}"), "cannot build the notifier"),
        }
        Ok(report)
    }
}

impl TickReport {
    /// The rollouts whose tick failed, as `id: error` lines (empty when every tick ran).
    pub fn failures(&self) -> Vec<String> {
        self.rollouts
            .iter()
            .filter_map(|entry| {
                entry
                    .error
                    .as_ref()
                    .map(|error| format!("{}: {error}", entry.rollout_id))
            })
            .collect()
    }
}

/// True when a rollout in the stored phase `name` is ticked (started and not over).
pub fn phase_name_is_tickable(name: &str) -> bool {
    !matches!(name, "pending" | "rolled_back" | "killed" | "completed")
}

/// Loads every suite of `evals.dir`; a broken suite is an error naming file:line:col.
pub fn load_suite_map(ctx: &Context) -> anyhow::Result<BTreeMap<String, Suite>> {
    let judge_names: BTreeSet<String> = ctx.config.judges.keys().cloned().collect();
    let dir = &ctx.config.evals.dir;
    let suites = load_suites(dir, &judge_names).map_err(|diagnostics| {
        let lines: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
        anyhow::anyhow!(
            "eval suites in {} are invalid:\n{}",
            dir.display(),
            lines.join("\n")
        )
    })?;
    Ok(suites
        .into_iter()
        .map(|suite| (suite.name.clone(), suite))
        .collect())
}

/// Runs the tick at `at` for every active rollout (builds a pipeline for this one call).
pub async fn tick_all(ctx: &Context, store: &Store, at: Timestamp) -> anyhow::Result<TickReport> {
    let pipeline = Pipeline::load(ctx, store, &worker_name())?;
    pipeline.tick_all(ctx, store, at).await
}

/// A name for this process in the scoring queue: host and pid.
pub fn worker_name() -> String {
    crate::adapters::holder::this_process()
}

fn summary(tick: &RolloutTick) -> String {
    if tick.already_done {
        return format!("already done: {}", tick.transition);
    }
    format!("{}: {}", tick.transition, tick.reason)
}

/// Runs `evalgate tick`.
pub async fn run(ctx: &Context, args: TickArgs) -> CmdResult {
    let at = match &args.at {
        Some(text) => parse_time("--at", text)?,
        None => ctx.clock.now(),
    };
    let store = ctx.store().await?;
    let report = tick_all(ctx, &store, at).await?;
    if args.json {
        crate::outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    let failed = report.rollouts.iter().any(|entry| entry.error.is_some());
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn print_report(report: &TickReport) {
    let at = report.at.map(|at| at.to_rfc3339()).unwrap_or_default();
    if report.rollouts.is_empty() {
        crate::outln!("tick at {at}: no active rollout");
        return;
    }
    crate::outln!("tick at {at}");
    for entry in &report.rollouts {
        crate::outln!("\n{}: {}", entry.rollout_id, entry.decision);
        if let Some(error) = &entry.error {
            crate::outln!("  error: {error}");
        }
        if let Some(fail_safe) = &entry.fail_safe {
            crate::outln!("  FAIL-SAFE: {fail_safe}");
        }
        let Some(tick) = &entry.detail else { continue };
        let rate =
            |value: Option<f64>| value.map_or("-".to_string(), |r| format!("{:.1}%", r * 100.0));
        // Canary first, as the demo and `rollout status` print it; stages count from 1.
        crate::outln!(
            "  window {} .. {}  stage {}  split {} bp  sampled canary {} / baseline {}",
            tick.window_start
                .map(|t| t.format("%H:%M").to_string())
                .unwrap_or_default(),
            tick.window_end
                .map(|t| t.format("%H:%M").to_string())
                .unwrap_or_default(),
            tick.stage_index + 1,
            tick.split_bp,
            tick.sampled.1,
            tick.sampled.0,
        );
        if let Some(hint) = &tick.attribution_hint {
            crate::outln!("  hint: {hint}");
        }
        crate::outln!(
            "  pass rate canary {} vs baseline {}  unscorable canary {} / baseline {}  phase {} at {} bp",
            rate(tick.pass_rate.1),
            rate(tick.pass_rate.0),
            tick.unscorable.1,
            tick.unscorable.0,
            tick.phase,
            tick.split_after_bp,
        );
        for verdict in &tick.verdicts {
            crate::outln!("    {:<28} {}", verdict.metric, verdict.verdict.reason());
        }
    }
}
