//! `evalgate serve`: the HTTP API and the scheduler loop in one process, stopped cleanly by
//! SIGTERM/SIGINT within `schedule.shutdown_deadline`. The loop is a few lines around
//! [`Scheduler::serve_once`]; on PostgreSQL only the replica holding the advisory lock schedules,
//! and every replica runs [`scoring_loop`], which takes its share of each tick's scoring work from
//! the queue, so judge throughput grows with replicas while each tick is computed once.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use futures_util::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use crate::adapters::http::{
    self, AdminToken, AppState, ControlOutcome, PushIngest, RolloutControls, SchedulerHeartbeat,
    WebAccess, WebView,
};
use crate::adapters::jsonl::ParseLimits;
use crate::adapters::store::Store;
use crate::cli::ServeArgs;
use crate::commands::CmdResult;
use crate::commands::web::WebSource;
use crate::context::{Context, Services};
use crate::domain::rollout::{Command, Input, TransitionKind};
use crate::domain::{Outcome, Timestamp};
use crate::metrics::{self, GateEValue, RolloutSnapshot, SeriesGauge};
use crate::worker::controller;
use crate::worker::drill;
use crate::worker::pipeline;
use crate::worker::scheduler::{Jobs, LOOP_EVERY, Scheduler};
use crate::worker::tick::{Pipeline, TickReport, worker_name};

/// How often histogram buffers are drained.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);
/// How long the scoring loop waits after finding the queue empty.
const SCORING_IDLE: Duration = Duration::from_millis(250);
/// How long the scoring loop backs off after a failed round (the claims go stale and are
/// taken over, by this replica or another).
const SCORING_BACKOFF: Duration = Duration::from_secs(5);

/// The production jobs: the tick pipeline and the rollback drill, then a metrics refresh.
pub struct PipelineJobs {
    services: Services,
    pipeline: Arc<Pipeline>,
}

impl PipelineJobs {
    /// Jobs over `services`, ticking with `pipeline` (its suites, judge clients, rate limits
    /// and cache live as long as the daemon).
    pub fn new(services: Services, pipeline: Arc<Pipeline>) -> PipelineJobs {
        PipelineJobs { services, pipeline }
    }
}

impl Jobs for PipelineJobs {
    fn tick(&self, at: Timestamp) -> BoxFuture<'_, anyhow::Result<TickReport>> {
        Box::pin(async move {
            let report = self.pipeline.tick_all(&self.services, at).await?;
            refresh_metrics(&self.services.store, self.services.ctx.clock.now()).await;
            let failures = report.failures();
            anyhow::ensure!(
                failures.is_empty(),
                "{} rollout tick(s) failed: {}",
                failures.len(),
                failures.join("; ")
            );
            Ok(report)
        })
    }

    fn drill(&self, at: Timestamp) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(async move {
            let now = self.services.ctx.clock.now();
            let report = drill::drill_once(&self.services, now).await?;
            tracing::info!(drill_at = %at, ok = report.ok, flag = %report.flag_key, "rollback drill ran");
            anyhow::ensure!(
                report.ok,
                "rollback drill of {} failed: {}",
                report.flag_key,
                drill::render(&report)
            );
            Ok(())
        })
    }
}

/// The mutating HTTP endpoints backed by the real controller.
pub struct ControllerControls {
    services: Services,
}

impl ControllerControls {
    /// Controls over `services`.
    pub fn new(services: Services) -> ControllerControls {
        ControllerControls { services }
    }
}

impl RolloutControls for ControllerControls {
    fn apply(
        &self,
        rollout_id: String,
        command: Command,
    ) -> BoxFuture<'_, anyhow::Result<ControlOutcome>> {
        Box::pin(async move {
            let now = self.services.ctx.clock.now();
            let input = Input::commands(vec![command]);
            let report = controller::control_once(&self.services, &rollout_id, input, now).await?;
            let accepted = report.kind != TransitionKind::Rejected;
            refresh_metrics(&self.services.store, now).await;
            Ok(ControlOutcome {
                accepted,
                report: serde_json::to_value(&report)?,
            })
        })
    }
}

/// Mirrors the store into the gauges: the ingest lag, the last successful drill, the pending
/// notifications, and per active rollout its latest pass ratios, verdict counts, canary share,
/// halted flag, halt signals, status, phase, stage and e-values. A finished rollout keeps only its
/// final status, phase and stage, for [`metrics::status::FINISHED_RETENTION_DAYS`] after it
/// ended; then it disappears.
pub async fn refresh_metrics(store: &Store, now: Timestamp) {
    match store.newest_request_ts().await {
        Ok(Some(newest)) => {
            metrics::set_ingest_lag((now - newest).num_milliseconds() as f64 / 1000.0)
        }
        Ok(None) => {}
        Err(err) => tracing::warn!(error = %err, "cannot read the newest request time"),
    }
    // From the table, not only from this process's drills: a restart (or another replica's
    // drill) must not leave the gauge missing until the next drill here.
    match store.last_successful_drill().await {
        Ok(Some(at)) => metrics::set_last_drill(at),
        Ok(None) => {}
        Err(err) => tracing::warn!(error = %err, "cannot read the last successful drill"),
    }
    match store.pending_notifications().await {
        Ok(count) => metrics::set_notifications_pending(count),
        Err(err) => tracing::warn!(error = %err, "cannot count the pending notifications"),
    }
    match rollout_snapshots(store, now).await {
        Ok(snapshots) => metrics::sync_rollouts(snapshots),
        Err(err) => tracing::warn!(
            error = format!("{err:#}"),
            "cannot refresh the rollout gauges"
        ),
    }
}

/// The 1-based stage number of a stored state.
fn stage_number(state: &serde_json::Value) -> Option<u64> {
    state
        .get("stage_index")
        .and_then(serde_json::Value::as_u64)
        .map(|index| index + 1)
}

async fn rollout_snapshots(store: &Store, now: Timestamp) -> anyhow::Result<Vec<RolloutSnapshot>> {
    let mut out = Vec::new();
    for row in store.list_rollouts().await? {
        if !row.active {
            if metrics::status::keeps_final_status(row.updated_at, now) {
                out.push(RolloutSnapshot {
                    rollout_id: row.id.clone(),
                    finished: true,
                    phase: row.phase,
                    stage: stage_number(&row.state),
                    ..RolloutSnapshot::default()
                });
            }
            continue;
        }
        let split_bp = match store.get_split(&row.flag_key).await? {
            Some(split) => Some(f64::from(split.basis_points)),
            None => row
                .state
                .get("split_bp")
                .and_then(serde_json::Value::as_f64),
        };
        let mut snapshot = RolloutSnapshot {
            rollout_id: row.id.clone(),
            phase: row.phase,
            stage: stage_number(&row.state),
            canary_ratio: split_bp.map(|bp| bp / 10_000.0),
            halted: row.phase.is_halted(),
            failed_windows: u64::try_from(row.failed_windows).unwrap_or(0),
            ..RolloutSnapshot::default()
        };
        for update in store.latest_gate_updates(&row.id).await? {
            let number =
                |value: Option<&serde_json::Value>| value.and_then(serde_json::Value::as_f64);
            let Some(metric) = update.get("metric").and_then(serde_json::Value::as_str) else {
                continue;
            };
            snapshot.e_values.push(GateEValue {
                metric: metric.to_string(),
                e_value: number(update.get("ln_e_value")).map(f64::exp),
                threshold: number(update.get("evidence").and_then(|e| e.get("ln_threshold")))
                    .map(f64::exp),
            });
        }
        for series in store.latest_series(&row.id).await? {
            let (passes, fails, unscorable) = series.totals;
            for (outcome, total) in [
                (Outcome::Pass, passes),
                (Outcome::Fail, fails),
                (Outcome::Unscorable, unscorable),
            ] {
                let count = u64::try_from(total).unwrap_or(0);
                snapshot.scored.push((
                    series.arm.clone(),
                    series.evaluator.clone(),
                    outcome,
                    count,
                ));
            }
            snapshot.series.push(SeriesGauge {
                arm: series.arm,
                evaluator: series.evaluator,
                ratio: series.rate,
                samples: u64::try_from(series.samples).unwrap_or(0),
            });
        }
        for (metric, count) in store.halt_signal_counts(&row.id).await? {
            snapshot
                .halt_signals
                .push((metric, u64::try_from(count).unwrap_or(0)));
        }
        out.push(snapshot);
    }
    Ok(out)
}

/// Runs the scheduler until `cancel` fires, then releases the scheduler lock.
pub async fn scheduler_loop(
    mut scheduler: Scheduler,
    store: Store,
    jobs: Arc<dyn Jobs>,
    clock: Arc<dyn crate::clock::Clock>,
    cancel: CancellationToken,
) {
    while !cancel.is_cancelled() {
        let pass = scheduler.serve_once(&store, jobs.as_ref(), &cancel).await;
        let wait = (pass.next_wake - clock.now()).clamp(chrono::TimeDelta::zero(), LOOP_EVERY);
        tokio::select! {
            () = cancel.cancelled() => {}
            () = tokio::time::sleep(wait.to_std().unwrap_or_default()) => {}
        }
    }
    scheduler.release().await;
}

/// Works the scoring queue until `cancel` fires: claims a batch, scores it, marks it done; waits
/// [`SCORING_IDLE`] when the queue is empty. Runs in every replica on PostgreSQL, leader or not.
pub async fn scoring_loop(services: Services, pipeline: Arc<Pipeline>, cancel: CancellationToken) {
    let env = pipeline.env(&services);
    while !cancel.is_cancelled() {
        let pause = match pipeline::score_worker_once(&env, services.ctx.clock.now()).await {
            Ok(round) if round.claimed > 0 => {
                tracing::debug!(
                    claimed = round.claimed,
                    written = round.written,
                    "scored queued work"
                );
                continue;
            }
            Ok(_) => SCORING_IDLE,
            Err(err) => {
                tracing::warn!(
                    error = format!("{err:#}"),
                    "scoring round failed; backing off"
                );
                SCORING_BACKOFF
            }
        };
        tokio::select! {
            () = cancel.cancelled() => {}
            () = tokio::time::sleep(pause) => {}
        }
    }
}

/// Push ingest, when the ingest token variable is set.
fn push_ingest(ctx: &Context) -> Option<Arc<PushIngest>> {
    let token_env = &ctx.config.server.ingest_token_env;
    let token_opt = std::env::var(token_env)
        .ok()
        .and_then(|token| AdminToken::new(&token));
    let Some(token) = token_opt else {
        tracing::info!(variable = %token_env, "no ingest token: push ingest is disabled");
        return None;
    };
    let config = &ctx.config.ingest;
    Some(Arc::new(PushIngest {
        token,
        limits: ParseLimits {
            max_field_bytes: config.max_field_bytes,
        },
        max_body_bytes: config.max_push_bytes,
        batch_size: config.batch_size,
    }))
}

/// Runs `evalgate serve`.
pub async fn run(ctx: &Context, args: ServeArgs) -> CmdResult {
    serve(ctx, args, false).await
}

/// Runs `serve`; with `announce`, prints the web view's URL on stdout once it listens (the demo).
pub async fn serve(ctx: &Context, args: ServeArgs, announce: bool) -> CmdResult {
    let services = ctx.services().await?;
    let store = services.store.clone();
    metrics::install()?;
    refresh_metrics(&store, ctx.clock.now()).await;
    let bind = args.bind.unwrap_or_else(|| ctx.config.server.bind.clone());
    let listener = tokio::net::TcpListener::bind(&bind)
        .await
        .with_context(|| format!("cannot listen on {bind}"))?;
    let local = listener.local_addr()?;
    let token_env = &ctx.config.server.admin_token_env;
    let admin_token = std::env::var(token_env)
        .ok()
        .and_then(|token| AdminToken::new(&token));
    if admin_token.is_none() {
        tracing::warn!(variable = %token_env, "no admin token: mutating endpoints are disabled");
    }
    let ingest = push_ingest(ctx);
    let web_access = WebAccess::for_listener(local);
    if web_access == WebAccess::AdminToken && admin_token.is_none() {
        tracing::warn!(
            variable = %token_env,
            "serve listens beyond loopback and has no admin token: the web view is disabled"
        );
    }
    let heartbeat = SchedulerHeartbeat::default();
    let state = AppState {
        store: store.clone(),
        clock: ctx.clock.clone(),
        heartbeat: heartbeat.clone(),
        admin_token,
        controls: Some(Arc::new(ControllerControls::new(services.clone()))),
        ingest,
        web: Some(WebView {
            pages: Arc::new(WebSource::new(services.clone())),
            access: web_access,
        }),
    };
    let cancel = CancellationToken::new();
    let scheduler = Scheduler::new(
        ctx.config.schedules()?,
        ctx.config.schedule.catch_up_max,
        &store,
        ctx.clock.clone(),
        heartbeat,
    );
    let pipeline = Arc::new(
        Pipeline::load(&services, &worker_name()).context("cannot load the tick pipeline")?,
    );
    let jobs: Arc<dyn Jobs> = Arc::new(PipelineJobs::new(services.clone(), pipeline.clone()));
    // On SQLite there is one process and the tick works its own queue; replicas need PostgreSQL.
    let scoring_task = match &store {
        Store::Postgres(_) => Some(tokio::spawn(scoring_loop(
            services.clone(),
            pipeline,
            cancel.clone(),
        ))),
        Store::Sqlite(_) => None,
    };
    let scheduler_task = tokio::spawn(scheduler_loop(
        scheduler,
        store.clone(),
        jobs,
        ctx.clock.clone(),
        cancel.clone(),
    ));
    let upkeep_task = tokio::spawn(upkeep_loop(cancel.clone()));
    let outbox_task = tokio::spawn(controller::outbox::outbox_loop(
        store.clone(),
        services.notifier.clone(),
        ctx.clock.clone(),
        cancel.clone(),
    ));
    let limits = http::ServerLimits {
        max_connections: ctx.config.server.max_connections,
        header_read_timeout: ctx.config.server.header_read_timeout.to_std(),
    };
    let server = http::serve(listener, http::router(state), limits, cancel.clone());
    let mut http_task = tokio::spawn(server);
    tracing::info!(addr = %local, store = store.backend(), "evalgate serve listening on http://{local}");
    if announce {
        let host = if local.ip().is_unspecified() {
            format!("127.0.0.1:{}", local.port())
        } else {
            local.to_string()
        };
        crate::outln!("web view: http://{host}/  (Ctrl-C to stop)");
    }

    let signal = tokio::select! {
        signal = shutdown_signal() => signal?,
        joined = &mut http_task => {
            cancel.cancel();
            let served = joined.context("http server task panicked")?;
            served.context("http server failed")?;
            "http server stopped"
        }
    };
    tracing::info!(signal, "shutting down");
    cancel.cancel();
    let deadline = ctx.config.schedule.shutdown_deadline.to_std();
    let drained = tokio::time::timeout(deadline, async {
        let _ = scheduler_task.await;
        if let Some(task) = scoring_task {
            let _ = task.await;
        }
        let _ = upkeep_task.await;
        let _ = outbox_task.await;
        let _ = http_task.await;
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            deadline_secs = deadline.as_secs(),
            "shutdown deadline passed; exiting with work in flight (ticks are redone on restart)"
        );
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

async fn upkeep_loop(cancel: CancellationToken) {
    let mut interval = tokio::time::interval(UPKEEP_EVERY);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = interval.tick() => metrics::run_upkeep(),
        }
    }
}

/// Waits for SIGTERM or SIGINT and names it.
async fn shutdown_signal() -> anyhow::Result<&'static str> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
        let mut int = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
        tokio::select! {
            _ = term.recv() => Ok("SIGTERM"),
            _ = int.recv() => Ok("SIGINT"),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c()
            .await
            .context("cannot listen for ctrl-c")?;
        Ok("ctrl-c")
    }
}
