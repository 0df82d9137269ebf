//! `evalgate demo`: two canary rollouts of a support assistant in simulated time, on a local
//! SQLite store, through the real pipeline: synthetic gateway traffic arrives window by window
//! (the canary's share follows the controller's split), every 15 simulated minutes the tick
//! samples, scores with the starter suite, updates the anytime-valid gates and runs the
//! controller, and the demo prints the timeline. One rollout is healthy and goes all the way to
//! 100%; the other's canary regresses partway and is rolled back by the gates.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use chrono::{Duration, TimeZone, Utc};

use crate::adapters::store::{HistoryFilter, NewRollout, Store, rollout_format};
use crate::cli::DemoArgs;
use crate::clock::ManualClock;
use crate::commands::CmdResult;
use crate::config::Config;
use crate::context::{Context, Services};
use crate::domain::plan::Plan;
use crate::domain::rollout::{Command, Input, PhaseName, RolloutState};
use crate::domain::{Arm, MetricVerdict, Timestamp, Verdict};
use crate::evaluators::load_suite_text;
use crate::sim::synth::{Regression, SynthEvent, SynthSpec, SynthStream};
use crate::worker::controller::{LoadedRollout, control_once};
use crate::worker::pipeline::RolloutTick;
use crate::worker::scoring::{ScoringEngine, judge_http_client};
use crate::worker::tick::Pipeline;

/// The starter suite and its schema, embedded so the demo runs from any directory.
const STARTER_SUITE: &str = include_str!("../../evals/support.yaml");
const STARTER_SCHEMA: &str = include_str!("../../evals/schemas/support_answer.json");
/// Where the demo's store lives unless `--store` says otherwise.
const DEMO_STORE: &str = "sqlite://evalgate-demo.db";
/// Requests per minute per rollout (both arms).
const RPM: f64 = 60.0;
/// Requests scored per arm per tick in the demo.
const DEMO_N: u32 = 16;
/// Baseline-only history before the rollouts start (the gates' references).
const HISTORY_HOURS: i64 = 6;
/// The simulated clock stops here whatever happens.
const MAX_HOURS: i64 = 160;

struct DemoRollout {
    id: &'static str,
    flag: &'static str,
    story: &'static str,
    canary_model: &'static str,
    regression_after: Option<Duration>,
    seed_offset: u64,
}

const ROLLOUTS: [DemoRollout; 2] = [
    DemoRollout {
        id: "support-v42",
        flag: "support-bot-v42",
        story: "a healthy canary",
        canary_model: "support-bot@v42",
        regression_after: None,
        seed_offset: 1,
    },
    DemoRollout {
        id: "support-v43",
        flag: "support-bot-v43",
        story: "a canary that regresses 9h in",
        canary_model: "support-bot@v43",
        regression_after: Some(Duration::hours(9)),
        seed_offset: 2,
    },
];

/// Runs `evalgate demo`.
pub async fn run(ctx: &Context, args: DemoArgs) -> CmdResult {
    let start = Utc
        .with_ymd_and_hms(2026, 11, 2, 0, 0, 0)
        .single()
        .context("demo start time")?;
    let clock = ManualClock::new(start);
    // The suite is embedded and written out before anything runs, so the demo (and `--serve`
    // after it) works outside a source checkout.
    let suite_dir = write_demo_suite()?;
    let config = demo_config(&ctx.config, &suite_dir)?;
    let demo_ctx = Context::with_config(config, Arc::new(clock.clone()));
    let store = open_fresh_store(&demo_ctx.config.store.url).await?;
    crate::outln!(
        "evalgate demo: two canary rollouts in simulated time (seed {})",
        args.seed
    );
    crate::outln!(
        "store {}  ·  {RPM} requests/min per rollout  ·  N = {DEMO_N} per arm every 15 min  ·  plan: \
         1% ≥ 4h → 10% ≥ 24h → 50% ≥ 48h + approval → 100% for 72h\n",
        demo_ctx.config.store.url
    );
    let services = Services::new(demo_ctx.clone(), store.clone())?;
    let pipeline = demo_pipeline(&services)?;
    let mut sim = Simulation {
        ctx: &demo_ctx,
        store: &store,
        seed: args.seed,
        start,
        chunk: 0,
    };
    sim.write_history().await?;
    for rollout in &ROLLOUTS {
        start_rollout(&services, rollout, start).await?;
        crate::outln!(
            "{}  {:<12} started ({}): 1% of traffic on {}",
            stamp(start),
            rollout.id,
            rollout.story,
            rollout.canary_model
        );
    }
    let mut t = start;
    let end = start + Duration::hours(args.hours.clamp(1, MAX_HOURS));
    let mut ticks = 0u64;
    while t < end && !all_over(&store).await? {
        t += Duration::minutes(15);
        clock.set(t);
        sim.write_traffic(t).await?;
        let report = pipeline.tick_all(&services, t).await?;
        ticks += 1;
        for entry in &report.rollouts {
            if let Some(error) = &entry.error {
                anyhow::bail!("the tick of {} failed at {t}: {error}", entry.rollout_id);
            }
            if let Some(tick) = &entry.detail {
                narrate(tick, start);
                if tick.phase == PhaseName::AwaitingApproval {
                    approve(&services, &tick.rollout_id, t).await?;
                }
            }
        }
    }
    summarize(&store, start, ticks).await?;
    crate::outln!("\n{}", explore_hint(&demo_ctx.config.store.url));
    if args.serve {
        crate::outln!("\nserving the HTTP API and the web view on the demo store");
        let serve_args = crate::cli::ServeArgs { bind: args.bind };
        return crate::commands::serve::serve(&demo_ctx, serve_args, true).await;
    }
    Ok(ExitCode::SUCCESS)
}

/// The demo's config: `base` with the demo store (unless `--store` or the config named one),
/// the embedded suite in `suite_dir`, no judges, sinks or notifications.
fn demo_config(base: &Config, suite_dir: &Path) -> anyhow::Result<Config> {
    let mut config = base.clone();
    if config.store.url == crate::config::StoreConfig::default().url {
        config.store.url = DEMO_STORE.to_string();
    }
    config.evals.dir = suite_dir.to_path_buf();
    config.evals.default_suite = "support".to_string();
    config.sampling.n_per_arm = DEMO_N;
    config.sampling.per_tenant_cap = DEMO_N;
    // At 1% of 60 requests/min a 15-minute window holds ~9 canary requests, fewer than N: count
    // a tick as a shortfall only below a quarter of N, so the 1% stage still learns.
    config.gates.min_canary_fill = 0.25;
    config.judges.clear();
    config.flags = crate::config::FlagsConfig::default();
    config.notify = crate::config::NotifyConfig::default();
    Ok(config.validated("demo")?)
}

async fn open_fresh_store(url: &str) -> anyhow::Result<Store> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        for suffix in ["", "-wal", "-shm"] {
            let file = format!("{path}{suffix}");
            if std::fs::metadata(&file).is_ok() {
                std::fs::remove_file(&file)
                    .with_context(|| format!("cannot remove the old demo store {file}"))?;
            }
        }
    }
    Store::open(url)
        .await
        .with_context(|| format!("cannot open the demo store {url}"))
}

/// Writes the embedded starter suite and its schema to a directory of this process; returns it.
fn write_demo_suite() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("evalgate-demo-{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        std::fs::create_dir_all(dir.join("schemas"))?;
        std::fs::write(dir.join("schemas/support_answer.json"), STARTER_SCHEMA)?;
        std::fs::write(dir.join("support.yaml"), STARTER_SUITE)
    };
    write().with_context(|| format!("cannot write the demo suite to {}", dir.display()))?;
    Ok(dir)
}

/// The closing hint, naming the store the demo wrote.
fn explore_hint(store_url: &str) -> String {
    format!(
        "explore: evalgate --store {store_url} rollout status   ·   evalgate --store {store_url} \
         demo --serve"
    )
}

fn demo_pipeline(services: &Services) -> anyhow::Result<Pipeline> {
    let (ctx, store) = (&services.ctx, &services.store);
    let suite_path = ctx.config.evals.dir.join("support.yaml");
    let suite = load_suite_text(&suite_path, STARTER_SUITE, &Default::default()).map_err(
        |diagnostics| {
            let lines: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
            anyhow::anyhow!(
                "the embedded starter suite is invalid:\n{}",
                lines.join("\n")
            )
        },
    )?;
    let engine = ScoringEngine::new(
        Some(store.clone()),
        &BTreeMap::new(),
        judge_http_client()?,
        ctx.clock.clone(),
    );
    let suites = BTreeMap::from([(suite.name.clone(), engine.versioned(suite))]);
    Ok(Pipeline {
        suites,
        engine,
        worker_id: "demo".to_string(),
    })
}

async fn start_rollout(
    services: &Services,
    rollout: &DemoRollout,
    now: Timestamp,
) -> anyhow::Result<()> {
    let store = &services.store;
    let plan = Plan::seed_default();
    let state = RolloutState::new(rollout.id, rollout.flag, "support-team", now);
    let row = NewRollout {
        id: rollout.id.to_string(),
        flag_key: rollout.flag.to_string(),
        owner: Some("support-team".to_string()),
        webhook: None,
        suite: Some("support".to_string()),
        baseline_target: "support-bot@v41".to_string(),
        canary_target: rollout.canary_model.to_string(),
        salt: rollout.flag.to_string(),
        always_tenants: Vec::new(),
        never_tenants: Vec::new(),
        plan: rollout_format::encode_plan(&plan)?,
        state: rollout_format::encode_state(&state)?,
        phase: state.phase.kind(),
        created_at: now,
    };
    store.create_rollout(&row).await?;
    let input = Input::commands(vec![Command::Start {
        actor: "demo".to_string(),
    }]);
    control_once(services, rollout.id, input, now).await?;
    Ok(())
}

struct Simulation<'a> {
    ctx: &'a Context,
    store: &'a Store,
    seed: u64,
    start: Timestamp,
    chunk: u64,
}

impl Simulation<'_> {
    /// Baseline-only traffic before the rollouts start.
    async fn write_history(&mut self) -> anyhow::Result<()> {
        let from = self.start - Duration::hours(HISTORY_HOURS);
        for rollout in &ROLLOUTS {
            self.write_chunk(rollout, from, Duration::hours(HISTORY_HOURS), 0.0)
                .await?;
        }
        Ok(())
    }

    /// The traffic of `[t − 15 min, t)` for every rollout still running, at its current split.
    /// A finished rollout's traffic is not written: no tick reads it any more.
    async fn write_traffic(&mut self, t: Timestamp) -> anyhow::Result<()> {
        for rollout in &ROLLOUTS {
            let Some(row) = self.store.get_rollout(rollout.id).await? else {
                continue;
            };
            let state = LoadedRollout::from_row(row)?.state;
            if !state.phase.is_tickable() {
                continue;
            }
            let share = f64::from(state.split_bp) / 10_000.0;
            self.write_chunk(
                rollout,
                t - Duration::minutes(15),
                Duration::minutes(15),
                share,
            )
            .await?;
        }
        Ok(())
    }

    async fn write_chunk(
        &mut self,
        rollout: &DemoRollout,
        from: Timestamp,
        length: Duration,
        canary_share: f64,
    ) -> anyhow::Result<()> {
        self.chunk += 1;
        let mut spec = SynthSpec {
            seed: self
                .seed
                .wrapping_mul(1_000_003)
                .wrapping_add(rollout.seed_offset * 7_919 + self.chunk),
            start: from,
            duration: crate::domain::HumanDuration::from_secs(length.num_seconds()),
            rpm: RPM,
            canary_share,
            tenants: 400,
            rollout_id: Some(rollout.id.to_string()),
            ..SynthSpec::default()
        };
        spec.canary.model = rollout.canary_model.to_string();
        if let Some(after) = rollout.regression_after {
            spec.regression = Some(Regression::new(self.start + after, 4.0));
        }
        let mut requests = Vec::new();
        let mut feedback = Vec::new();
        for event in SynthStream::new(spec)? {
            match event {
                SynthEvent::Request(request) => requests.push(request),
                SynthEvent::Feedback(event) => feedback.push(event),
            }
        }
        let batch = self.ctx.config.ingest.batch_size.max(1);
        for rows in requests.chunks(batch) {
            self.store.insert_requests(rows).await?;
        }
        for rows in feedback.chunks(batch) {
            self.store.insert_feedback(rows).await?;
        }
        Ok(())
    }
}

async fn all_over(store: &Store) -> anyhow::Result<bool> {
    Ok(store.list_active_rollouts().await?.is_empty())
}

async fn approve(services: &Services, rollout_id: &str, now: Timestamp) -> anyhow::Result<()> {
    let input = Input::commands(vec![Command::Approve {
        actor: "demo".to_string(),
        reason: None,
    }]);
    control_once(services, rollout_id, input, now).await?;
    crate::outln!(
        "{}  {:<12} approved by the demo itself (in production a person reviews \
         `evalgate rollout review {rollout_id}` and runs `evalgate rollout approve`)",
        stamp(now),
        rollout_id
    );
    Ok(())
}

fn stamp(at: Timestamp) -> String {
    at.format("%a %d %b %H:%M").to_string()
}

/// Prints a line for every tick that changed something, with the evidence behind it.
fn narrate(tick: &RolloutTick, start: Timestamp) {
    if tick.transition.is_empty() || tick.transition == "stay" {
        return;
    }
    let at = tick.at.unwrap_or(start);
    let elapsed = at - start;
    crate::outln!(
        "{}  {:<12} {} (+{}h{:02}m) → {} at {}: {}",
        stamp(at),
        tick.rollout_id,
        tick.transition.replace('_', " "),
        elapsed.num_hours(),
        elapsed.num_minutes() % 60,
        tick.phase.as_str().replace('_', " "),
        percent(tick.split_after_bp),
        tick.reason
    );
    for verdict in tick
        .verdicts
        .iter()
        .filter(|v| v.verdict.is_halt() || v.metric == "pass_rate")
    {
        crate::outln!("{:>30}{}", "", evidence_line(verdict));
    }
}

fn percent(basis_points: u32) -> String {
    let value = f64::from(basis_points) / 100.0;
    if value.fract() == 0.0 {
        format!("{value:.0}%")
    } else {
        format!("{value}%")
    }
}

fn evidence_line(verdict: &MetricVerdict) -> String {
    let evidence = &verdict.evidence;
    let rate = |value: Option<f64>| value.map_or("-".to_string(), |r| format!("{:.1}%", r * 100.0));
    let e_value = evidence.ln_e_value.map_or("-".to_string(), |ln| {
        let value = ln.exp();
        if value >= 1000.0 {
            format!("{value:.2e}")
        } else {
            format!("{value:.2}")
        }
    });
    let kind = match &verdict.verdict {
        Verdict::Halt { .. } => "HALT",
        Verdict::PromoteReady { .. } => "ok",
        Verdict::Inconclusive { .. } => "wait",
    };
    format!(
        "{kind:<4} {:<18} canary {} vs baseline {} (n = {}/{}), e-value {}, {}",
        verdict.metric,
        rate(evidence.estimate_canary),
        rate(evidence.estimate_baseline),
        evidence.n_canary,
        evidence.n_baseline,
        e_value,
        verdict.verdict.reason()
    )
}

async fn summarize(store: &Store, start: Timestamp, ticks: u64) -> anyhow::Result<()> {
    crate::outln!("\nsummary after {ticks} ticks ({}h simulated):", ticks / 4);
    for rollout in &ROLLOUTS {
        let Some(row) = store.get_rollout(rollout.id).await? else {
            continue;
        };
        let targets = row.targets();
        let loaded = LoadedRollout::from_row(row)?;
        crate::outln!(
            "  {:<12} {} at {} — {}",
            rollout.id,
            loaded.state.phase.name(),
            percent(loaded.state.split_bp),
            loaded.row.last_reason
        );
        let Some(after) = rollout.regression_after else {
            continue;
        };
        let onset = start + after;
        let events = store.list_rollout_events(rollout.id).await?;
        let Some(rollback) = events.iter().find(|event| event.action == "rollback") else {
            crate::outln!("  {:<12} was NOT rolled back", rollout.id);
            continue;
        };
        let filter = HistoryFilter {
            from: onset,
            to: rollback.at,
            rollout: Some(targets),
            arm: Some(Arm::Canary),
        };
        let served = store.count_history(&filter).await?;
        let delay = rollback.at - onset;
        crate::outln!(
            "  {:<12} the regression began at {}; the gates rolled it back {}h{:02}m later, after the bad \
             canary served {served} requests",
            rollout.id,
            stamp(onset),
            delay.num_hours(),
            delay.num_minutes() % 60
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluators::load_suites;

    // See: issue 13 (`demo --serve` outside a checkout failed on the missing `evals/` dir).
    #[test]
    fn the_demo_config_points_at_the_embedded_suite_written_out_up_front() {
        let dir = write_demo_suite().unwrap();
        let config = demo_config(&Config::default(), &dir).unwrap();
        assert_eq!(config.evals.dir, dir);
        let suites = load_suites(&config.evals.dir, &Default::default()).unwrap();
        assert!(
            suites.iter().any(|suite| suite.name == "support"),
            "{suites:?}"
        );
    }

    #[test]
    fn the_explore_hint_names_the_store_the_demo_used() {
        let mut base = Config::default();
        base.store.url = "sqlite:///tmp/elsewhere.db".to_string();
        let config = demo_config(&base, Path::new("/tmp")).unwrap();
        let hint = explore_hint(&config.store.url);
        assert!(
            hint.contains("--store sqlite:///tmp/elsewhere.db rollout status"),
            "{hint}"
        );
        let default_hint = explore_hint(
            &demo_config(&Config::default(), Path::new("/tmp"))
                .unwrap()
                .store
                .url,
        );
        assert!(default_hint.contains(DEMO_STORE), "{default_hint}");
    }
}
