//! Sampling latency as the table grows: at each size, time what a tick does to pick its sample
//! (`Store::window_candidates` + `logic::sampling::sample`, for both arms, N = 100 per arm) on
//! recent windows (what the scheduler hits) and on random windows across the history (what
//! backtests and rescoring hit), with and without the rollout filter.

use std::time::{Duration, Instant};

use evalgate::adapters::store::Store;
use evalgate::config::SamplingConfig;
use evalgate::domain::{Arm, Timestamp};
use evalgate::logic::attribution::RolloutTargets;
use evalgate::logic::sampling::{self, SamplePlan};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::load::{LoadState, ROLLOUT, grow_to};
use crate::{Backend, BenchConfig, BenchStore};

const N_PER_ARM: u32 = 100;

/// One line of the sampling table.
pub struct SamplingRow {
    backend: Backend,
    rows: u64,
    load: Duration,
    windows: &'static str,
    filter: &'static str,
    candidates: [f64; 2],
    selected: [f64; 2],
    p50_ms: f64,
    p95_ms: f64,
    max_ms: f64,
}

/// Grows one store through every configured size and times sampling at each.
pub async fn bench(config: &BenchConfig, backend: Backend) -> anyhow::Result<Vec<SamplingRow>> {
    let bench_store = BenchStore::create(config, backend, "sampling").await?;
    let mut state = LoadState::new();
    let mut rows = Vec::new();
    for &size in &config.sizes {
        eprintln!("{}: growing to {size} requests", backend.name());
        let load = grow_to(&bench_store.store, &mut state, size, config.rpm).await?;
        bench_store.analyze().await?;
        let stored = bench_store.store.count_requests().await?;
        if config.explain {
            explain(&bench_store, state.next_start).await?;
        }
        let rollout = bench_rollout(&state);
        for filter in [Some(&rollout), None] {
            for recent in [true, false] {
                let mut row =
                    time_ticks(&bench_store.store, config, &state, filter, recent).await?;
                row.backend = backend;
                row.rows = stored;
                row.load = load;
                eprintln!(
                    "  {} rows, {} windows, {}: p50 {:.2} ms",
                    stored, row.windows, row.filter, row.p50_ms
                );
                rows.push(row);
            }
        }
    }
    bench_store.remove().await?;
    Ok(rows)
}

/// The rollout the bench's rows are tagged with, started before the history.
fn bench_rollout(state: &LoadState) -> RolloutTargets {
    let spec = evalgate::sim::synth::SynthSpec::default();
    RolloutTargets {
        rollout_id: ROLLOUT.to_string(),
        baseline_model: spec.baseline.model,
        canary_model: spec.canary.model,
        started_at: state.first_ts,
    }
}

/// The windows of the ticks to time: sliding back from the newest data, or spread at random.
fn tick_windows(state: &LoadState, ticks: usize, recent: bool, seed: u64) -> Vec<Timestamp> {
    let window = chrono::Duration::minutes(15);
    let newest = state.next_start;
    let oldest_end = state.first_ts + window;
    let span_ms = (newest - oldest_end).num_milliseconds().max(1);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..ticks)
        .map(|tick| {
            if recent {
                newest - chrono::Duration::minutes(tick as i64)
            } else {
                oldest_end + chrono::Duration::milliseconds(rng.random_range(0..span_ms))
            }
        })
        .collect()
}

async fn time_ticks(
    store: &Store,
    config: &BenchConfig,
    state: &LoadState,
    filter: Option<&RolloutTargets>,
    recent: bool,
) -> anyhow::Result<SamplingRow> {
    let defaults = SamplingConfig::default();
    let plan = SamplePlan {
        n_per_arm: N_PER_ARM,
        ..SamplePlan::of(&defaults)
    };
    let ends = tick_windows(state, config.ticks, recent, state.loaded);
    let mut timings = Vec::with_capacity(ends.len());
    let mut candidates = [0usize; 2];
    let mut selected = [0usize; 2];
    for to in &ends {
        let from = *to - chrono::Duration::minutes(15);
        let key = sampling::tick_key(filter.map(|targets| targets.rollout_id.as_str()), from);
        let started = Instant::now();
        for (index, arm) in Arm::ALL.into_iter().enumerate() {
            let found = store.window_candidates(filter, arm, from, *to).await?;
            let sample = sampling::sample(&plan, &key, &found);
            candidates[index] += found.len();
            selected[index] += sample.selected.len();
        }
        timings.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    timings.sort_by(f64::total_cmp);
    let ticks = ends.len().max(1) as f64;
    let quantile = |q: f64| {
        let index = ((timings.len() as f64 - 1.0) * q).round() as usize;
        timings.get(index).copied().unwrap_or(f64::NAN)
    };
    Ok(SamplingRow {
        backend: Backend::Sqlite,
        rows: 0,
        load: Duration::ZERO,
        windows: if recent { "recent" } else { "history" },
        filter: if filter.is_some() { "rollout" } else { "all" },
        candidates: [candidates[0] as f64 / ticks, candidates[1] as f64 / ticks],
        selected: [selected[0] as f64 / ticks, selected[1] as f64 / ticks],
        p50_ms: quantile(0.5),
        p95_ms: quantile(0.95),
        max_ms: timings.last().copied().unwrap_or(f64::NAN),
    })
}

/// The candidates query of `Store::window_candidates` with a rollout (`owner::owned_by`).
const CANDIDATES_OWNED: &str = "SELECT request_id, tenant_id, status FROM requests \
     WHERE arm = $1 AND ts >= $2 AND ts < $3 AND (requests.rollout_id = $4 OR \
     (requests.rollout_id IS NULL AND requests.ts >= $5 AND ((requests.arm = 'baseline' AND \
     requests.model = $6) OR (requests.arm = 'canary' AND requests.model = $7))))";

/// Prints the plan of the candidates query, to show which index it uses.
async fn explain(bench_store: &BenchStore, newest: Timestamp) -> anyhow::Result<()> {
    let from = newest - chrono::Duration::minutes(15);
    let rollout = RolloutTargets {
        rollout_id: ROLLOUT.to_string(),
        baseline_model: "support-bot@v41".to_string(),
        canary_model: "support-bot@v42".to_string(),
        started_at: from - chrono::Duration::days(1),
    };
    match &bench_store.store {
        Store::Sqlite(pool) => {
            let sql = format!("EXPLAIN QUERY PLAN {CANDIDATES_OWNED}");
            let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind("canary")
                .bind(from)
                .bind(newest)
                .bind(&rollout.rollout_id)
                .bind(rollout.started_at)
                .bind(&rollout.baseline_model)
                .bind(&rollout.canary_model)
                .fetch_all(pool)
                .await?;
            for (_, _, _, detail) in plan {
                eprintln!("  plan: {detail}");
            }
        }
        Store::Postgres(pool) => {
            let sql = format!("EXPLAIN (ANALYZE, BUFFERS) {CANDIDATES_OWNED}");
            let plan: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind("canary")
                .bind(from)
                .bind(newest)
                .bind(&rollout.rollout_id)
                .bind(rollout.started_at)
                .bind(&rollout.baseline_model)
                .bind(&rollout.canary_model)
                .fetch_all(pool)
                .await?;
            for (line,) in plan {
                eprintln!("  plan: {line}");
            }
        }
    }
    Ok(())
}

/// Prints the sampling table (markdown).
pub fn print_table(rows: &[SamplingRow]) {
    println!(
        "sampling: window_candidates + sample, both arms, N = {N_PER_ARM} per arm, 15-min windows"
    );
    println!(
        "| backend | stored requests | load (s) | windows | filter | candidates/window (baseline, canary) | selected (b, c) | p50 ms | p95 ms | max ms |"
    );
    println!("|---|---:|---:|---|---|---:|---:|---:|---:|---:|");
    for row in rows {
        println!(
            "| {} | {} | {:.0} | {} | {} | {:.0}, {:.0} | {:.0}, {:.0} | {:.2} | {:.2} | {:.2} |",
            row.backend.name(),
            row.rows,
            row.load.as_secs_f64(),
            row.windows,
            row.filter,
            row.candidates[0],
            row.candidates[1],
            row.selected[0],
            row.selected[1],
            row.p50_ms,
            row.p95_ms,
            row.max_ms
        );
    }
}
