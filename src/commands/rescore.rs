//! `evalgate rescore`: re-scores history with the current evaluator versions through the one
//! scoring engine. It streams keyset pages (constant memory in the number of requests), prints
//! the estimated judge cost first and refuses to exceed `--budget`, shows a progress bar with
//! rate and ETA, and writes pass-rate series for the current versions next to the older ones
//! (series are keyed by evaluator version). Scores are unique per (request, evaluator,
//! version), so a rerun skips finished work and pays nothing twice. A request counts in the
//! series of the rollouts it belongs to (`logic::attribution::owners`): the one it names, else
//! every rollout whose target it served on its arm since that rollout started.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::adapters::judge_tick::TickBudget;
use crate::adapters::store::{
    HistoryCursor, HistoryFilter, PassRateRow, RolloutRow, ScoredHistoryEntry, Store,
};
use crate::cli::RescoreArgs;
use crate::clock::parse_time;
use crate::commands::CmdResult;
use crate::context::Context;
use crate::domain::{Arm, Outcome, Timestamp};
use crate::evaluators::Suite;
use crate::evaluators::versions::VersionedSuite;
use crate::evaluators::versions::judge_of;
use crate::logic::attribution::{self, RolloutTargets};
use crate::logic::gates::series::{OVERALL, point_from_counts};
use crate::worker::scoring::{ReadPage, ScoringEngine, judge_http_client};
use crate::worker::tick::load_suite_map;

/// Requests per page.
const PAGE: i64 = 500;
/// Pages read ahead of the one being scored (memory: this many pages more).
const PAGES_AHEAD: usize = 1;
/// Tokens a judge call is assumed to spend beyond the request's own text.
const PROMPT_OVERHEAD_TOKENS: f64 = 250.0;
/// Completion tokens a judge reply is assumed to spend.
const REPLY_TOKENS: f64 = 150.0;

/// Counts per (rollout, arm, window start), then evaluator: pass, fail, unscorable.
type SeriesCounts = BTreeMap<(String, Arm, Timestamp), BTreeMap<String, [u64; 3]>>;

/// Runs `evalgate rescore`.
pub async fn run(ctx: &Context, args: RescoreArgs) -> CmdResult {
    let from = parse_time("--from", &args.from)?;
    let to = parse_time("--to", &args.to)?;
    anyhow::ensure!(from < to, "--from must be before --to");
    let arm = match &args.arm {
        Some(text) => Some(
            Arm::parse(text).with_context(|| format!("--arm `{text}`: use baseline or canary"))?,
        ),
        None => None,
    };
    let suite = select_suite(ctx, &args)?;
    let store = ctx.store().await?;
    let rollouts = rollouts_to_rescore(&store, args.rollout.as_deref()).await?;
    let filter = HistoryFilter {
        from,
        to,
        rollout: match args.rollout {
            Some(_) => rollouts.first().cloned(),
            None => None,
        },
        arm,
    };
    let total = store
        .count_history(&filter)
        .await
        .context("cannot count the history")?;
    let engine = ScoringEngine::new(
        Some(store.clone()),
        &ctx.config.judges,
        judge_http_client()?,
        ctx.clock.clone(),
    );
    let suite = engine.versioned(suite);
    let estimate = estimate_cost(ctx, &store, &filter, &suite, total).await?;
    let mut report = RescoreJson {
        from,
        to,
        requests_total: total,
        suite: suite.name.clone(),
        evaluators: suite.assertions.len(),
        judge_calls_per_request: judge_calls_per_request(&suite),
        estimated_cost_usd: estimate,
        budget_usd: args.budget,
        refused: false,
        dry_run: args.dry_run,
        rescored: None,
    };
    // Refused when the estimate is over `--budget`: decided once, reported either way.
    let refused = args.budget.is_some_and(|budget| estimate > budget);
    report.refused = refused;
    if args.json {
        if refused || args.dry_run {
            crate::outln!("{}", serde_json::to_string_pretty(&report)?);
            return Ok(if refused {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            });
        }
    } else {
        crate::outln!(
            "rescore {} .. {}: {total} requests, suite `{}` ({} evaluators, {} judge calls per \
             request)",
            from.to_rfc3339(),
            to.to_rfc3339(),
            suite.name,
            suite.assertions.len(),
            judge_calls_per_request(&suite)
        );
        crate::outln!(
            "estimated judge cost: ${estimate:.4} at most (already-scored requests cost nothing)"
        );
        if let Some(budget) = args.budget.filter(|_| refused) {
            crate::outln!(
                "refusing: the estimate exceeds --budget ${budget:.4}; narrow the range or raise the budget"
            );
            return Ok(ExitCode::FAILURE);
        }
        if args.dry_run {
            crate::outln!("dry run: nothing scored");
            return Ok(ExitCode::SUCCESS);
        }
    }
    let scope = RescoreScope {
        filter: &filter,
        rollouts: &rollouts,
        total,
    };
    let outcome = rescore(ctx, &store, &engine, &suite, &scope, args.budget).await?;
    if args.json {
        report.rescored = Some(outcome);
        crate::outln!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    crate::outln!(
        "rescored {} requests: {} new scores, {} reused; judge spend ${:.4}; {} series points written",
        outcome.requests,
        outcome.inserted,
        outcome.reused,
        outcome.judge_cost_usd,
        outcome.series_points
    );
    Ok(ExitCode::SUCCESS)
}

/// What `rescore --json` prints: the estimate, whether it was refused or a dry run, and what
/// was rescored.
#[derive(Debug, Clone, Serialize)]
struct RescoreJson {
    from: Timestamp,
    to: Timestamp,
    requests_total: u64,
    suite: String,
    evaluators: usize,
    judge_calls_per_request: usize,
    estimated_cost_usd: f64,
    budget_usd: Option<f64>,
    refused: bool,
    dry_run: bool,
    rescored: Option<RescoreOutcome>,
}

/// What a rescore did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RescoreOutcome {
    /// Requests visited.
    pub requests: u64,
    /// Scores written.
    pub inserted: u64,
    /// Scores already stored for the current versions.
    pub reused: u64,
    /// Judge spend.
    pub judge_cost_usd: f64,
    /// Pass-rate series points written.
    pub series_points: usize,
}

/// What a rescore covers.
pub struct RescoreScope<'a> {
    /// The requests to score.
    pub filter: &'a HistoryFilter,
    /// The rollouts whose series the scores count in (with `--rollout`, that one).
    pub rollouts: &'a [RolloutTargets],
    /// How many requests the filter covers (for the progress bar).
    pub total: u64,
}

/// The rollouts a rescore writes series for: the one `--rollout` names (which must exist), else
/// every rollout.
async fn rollouts_to_rescore(
    store: &Store,
    rollout_opt: Option<&str>,
) -> anyhow::Result<Vec<RolloutTargets>> {
    let Some(id) = rollout_opt else {
        let rows = store
            .list_rollouts()
            .await
            .context("cannot list the rollouts")?;
        return Ok(rows.iter().map(RolloutRow::targets).collect());
    };
    let row = store
        .get_rollout(id)
        .await
        .context("cannot read the rollout")?
        .with_context(|| format!("--rollout: no rollout `{id}` (see `evalgate rollout status`)"))?;
    Ok(vec![row.targets()])
}

/// Streams the scope's requests through the engine and writes the series. The next page is
/// read (with the requests it must score, in full) while the current one is scored and
/// written: two futures of this task joined by a channel of [`PAGES_AHEAD`] pages, so memory
/// stays a few pages whatever the range. A failure on either side stops both.
pub async fn rescore(
    ctx: &Context,
    store: &Store,
    engine: &ScoringEngine,
    suite: &VersionedSuite,
    scope: &RescoreScope<'_>,
    budget_opt: Option<f64>,
) -> anyhow::Result<RescoreOutcome> {
    let (filter, total) = (scope.filter, scope.total);
    let bar = progress_bar(total);
    let mut outcome = RescoreOutcome::default();
    let mut counts = SeriesCounts::new();
    let versions = suite.versions();
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<ReadPage>(PAGES_AHEAD);
    let read = async move {
        let mut cursor: Option<HistoryCursor> = None;
        loop {
            let page = store
                .history_page_scored(filter, cursor.as_ref(), PAGE, &versions)
                .await
                .context("cannot read history")?;
            let Some(last) = page.last().map(|entry| entry.cursor.clone()) else {
                return anyhow::Ok(());
            };
            let read = engine.read_history_page(suite, page).await?;
            if sender.send(read).await.is_err() {
                // The scoring side stopped; its error is the one to report.
                return Ok(());
            }
            cursor = Some(last);
        }
    };
    let score = async {
        while let Some(read) = receiver.recv().await {
            let budgets = remaining_budgets(engine, budget_opt, outcome.judge_cost_usd);
            let scored = engine.score_read_page(suite, read, &budgets).await?;
            outcome.requests += scored.requests.len() as u64;
            outcome.inserted += scored.inserted;
            outcome.reused += scored.reused;
            outcome.judge_cost_usd += scored.judge_cost_usd;
            accumulate(ctx, &mut counts, &scored.requests, suite, scope.rollouts);
            bar.inc(scored.requests.len() as u64);
            tracing::debug!(done = outcome.requests, total, "rescore page");
            // A page is stored and the next one is (being) read: the crash test's point.
            crate::worker::failpoint::hit("rescore_after_page");
        }
        anyhow::Ok(())
    };
    tokio::try_join!(read, score)?;
    bar.finish_and_clear();
    outcome.series_points = write_series(ctx, store, suite, counts).await?;
    Ok(outcome)
}

fn progress_bar(total: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "{spinner} rescoring [{bar:40}] {pos}/{len} requests  {per_sec}  eta {eta}",
    );
    if let Ok(style) = style {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Each judge's cap for the next page: what is left of `--budget` (no cap without one).
fn remaining_budgets(
    engine: &ScoringEngine,
    budget_opt: Option<f64>,
    spent: f64,
) -> BTreeMap<String, TickBudget> {
    let Some(budget) = budget_opt else {
        return BTreeMap::new();
    };
    let left = (budget - spent).max(0.0);
    engine
        .judge_configs()
        .into_keys()
        .map(|name| {
            (
                name,
                TickBudget {
                    usd: left,
                    ..TickBudget::default()
                },
            )
        })
        .collect()
}

/// Counts each request's outcomes in the series of its window for every rollout it belongs
/// to (window and owners decided once per request).
fn accumulate(
    ctx: &Context,
    counts: &mut SeriesCounts,
    requests: &[ScoredHistoryEntry],
    suite: &Suite,
    rollouts: &[RolloutTargets],
) {
    let sampling_cfg = &ctx.config.sampling;
    for request in requests {
        let ts = request.cursor.ts;
        let owners = attribution::owners_of(
            request.rollout_id.as_deref(),
            ts,
            request.arm,
            &request.model,
            rollouts,
        );
        if owners.is_empty() {
            continue;
        }
        let Some(tick_at) = crate::logic::sampling::tick_at_for(
            ts,
            sampling_cfg.window,
            sampling_cfg.readiness_delay,
        ) else {
            continue;
        };
        let (window_start, _) = crate::logic::sampling::window_for(
            tick_at,
            sampling_cfg.window,
            sampling_cfg.readiness_delay,
        );
        for rollout_id in owners {
            let key = (rollout_id.to_string(), request.arm, window_start);
            let per_evaluator = counts.entry(key).or_default();
            for score in &request.outcomes {
                let evaluator = if score.evaluator == suite.name {
                    OVERALL
                } else {
                    score.evaluator.as_str()
                };
                let entry = match per_evaluator.get_mut(evaluator) {
                    Some(entry) => entry,
                    None => per_evaluator.entry(evaluator.to_string()).or_default(),
                };
                match score.outcome {
                    Outcome::Pass => entry[0] += 1,
                    Outcome::Fail => entry[1] += 1,
                    Outcome::Unscorable => entry[2] += 1,
                }
            }
        }
    }
}

async fn write_series(
    ctx: &Context,
    store: &Store,
    suite: &VersionedSuite,
    counts: SeriesCounts,
) -> anyhow::Result<usize> {
    let versions = suite.version_by_name();
    let window = ctx.config.sampling.window.to_chrono();
    let mut by_rollout: BTreeMap<String, Vec<PassRateRow>> = BTreeMap::new();
    let flat = counts
        .into_iter()
        .flat_map(|((rollout_id, arm, window_start), per_evaluator)| {
            per_evaluator.into_iter().map(move |(evaluator, tally)| {
                ((rollout_id.clone(), arm, window_start, evaluator), tally)
            })
        });
    for ((rollout_id, arm, window_start, evaluator), [passes, fails, unscorable]) in flat {
        let name = if evaluator == OVERALL {
            suite.name.as_str()
        } else {
            evaluator.as_str()
        };
        let version = versions.get(name).cloned().unwrap_or_default();
        let point = point_from_counts(arm, &evaluator, passes, fails, unscorable);
        by_rollout.entry(rollout_id).or_default().push(PassRateRow {
            window_start,
            window_end: window_start + window,
            evaluator_version: version,
            point,
        });
    }
    let mut written = 0;
    for (rollout_id, rows) in by_rollout {
        store
            .upsert_pass_rate_series(&rollout_id, &rows)
            .await
            .context("cannot write the series")?;
        written += rows.len();
    }
    Ok(written)
}

fn select_suite(ctx: &Context, args: &RescoreArgs) -> anyhow::Result<Suite> {
    let suites = load_suite_map(ctx)?;
    let name = args
        .suite
        .clone()
        .unwrap_or_else(|| ctx.config.evals.default_suite.clone());
    let mut suite = suites.get(&name).cloned().with_context(|| {
        format!(
            "no suite named `{name}` in {}",
            ctx.config.evals.dir.display()
        )
    })?;
    if let Some(evaluator) = &args.evaluator {
        let full = |id: &str| format!("{}/{id}", suite.name);
        suite
            .assertions
            .retain(|assertion| &assertion.id == evaluator || &full(&assertion.id) == evaluator);
        anyhow::ensure!(
            !suite.assertions.is_empty(),
            "suite `{name}` has no evaluator `{evaluator}`"
        );
    }
    Ok(suite)
}

fn judge_calls_per_request(suite: &Suite) -> usize {
    suite
        .assertions
        .iter()
        .filter(|assertion| judge_of(assertion).is_some())
        .map(|assertion| {
            if assertion.type_name.ends_with("pairwise") {
                2
            } else {
                1
            }
        })
        .sum()
}

/// The judge cost upper bound: the first page's mean text length, priced per judge.
async fn estimate_cost(
    ctx: &Context,
    store: &Store,
    filter: &HistoryFilter,
    suite: &Suite,
    total: u64,
) -> anyhow::Result<f64> {
    if judge_calls_per_request(suite) == 0 || total == 0 {
        return Ok(0.0);
    }
    let page = store.history_page(filter, None, 200).await?;
    let ids: Vec<String> = page.into_iter().map(|entry| entry.request_id).collect();
    let requests = store.get_requests(&ids).await?;
    let chars: usize = requests
        .iter()
        .map(|r| r.input.len() + r.output.len() + r.reference.as_deref().map_or(0, str::len))
        .sum();
    let mean_tokens = chars as f64 / requests.len().max(1) as f64 / 4.0 + PROMPT_OVERHEAD_TOKENS;
    let mut per_request = 0.0;
    for assertion in &suite.assertions {
        let Some(judge) = judge_of(assertion) else {
            continue;
        };
        let Some(config) = ctx.config.judges.get(judge) else {
            continue;
        };
        let calls = if assertion.type_name.ends_with("pairwise") {
            2.0
        } else {
            1.0
        };
        let call = mean_tokens * config.price_per_million_input / 1e6
            + REPLY_TOKENS * config.price_per_million_output / 1e6;
        per_request += calls * call;
    }
    Ok(per_request * total as f64)
}
