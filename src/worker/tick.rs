//! One tick of the pipeline (DESIGN.md §1) for every active rollout, and `evalgate tick`.
//! [`Pipeline`] holds what outlives a tick (the loaded suites and the scoring engine with its
//! judge clients, rate limits and cache); [`tick_all`] is the entry point the scheduler calls.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context as _;
use serde::Serialize;

use crate::context::{Context, Services};
use crate::domain::Timestamp;
use crate::evaluators::versions::VersionedSuite;
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
    /// Suites by name, versioned under the engine's judges once, here.
    pub suites: BTreeMap<String, VersionedSuite>,
    /// The one scoring path.
    pub engine: ScoringEngine,
    /// This process's name in the scoring queue.
    pub worker_id: String,
}

impl Pipeline {
    /// Loads the suites of `evals.dir` and builds the scoring engine over `store`.
    pub fn load(services: &Services, worker_id: &str) -> anyhow::Result<Pipeline> {
        let http = judge_http_client()?;
        let engine = ScoringEngine::new(
            Some(services.store.clone()),
            &services.ctx.config.judges,
            http,
            services.ctx.clock.clone(),
        );
        let suites = load_suite_map(&services.ctx)?
            .into_iter()
            .map(|(name, suite)| (name, engine.versioned(suite)))
            .collect();
        Ok(Pipeline {
            suites,
            engine,
            worker_id: worker_id.to_string(),
        })
    }

    /// The environment a tick runs in.
    pub fn env<'a>(&'a self, services: &'a Services) -> TickEnv<'a> {
        TickEnv {
            services,
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
    pub async fn tick_all(&self, services: &Services, at: Timestamp) -> anyhow::Result<TickReport> {
        let env = self.env(services);
        let store = &services.store;
        let rows = store
            .list_active_rollouts()
            .await
            .context("cannot list active rollouts")?;
        let mut report = TickReport {
            at: Some(at),
            rollouts: Vec::new(),
        };
        for row in rows {
            if !row.phase.is_tickable() {
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
                        fail_safe::count_failure(services, &row, window_start, &error, at).await
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
        outbox::flush_due(store, &services.notifier, services.ctx.clock.now()).await;
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
