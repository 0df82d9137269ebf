//! The scoring engine: the ONE path that scores requests with a suite, for ticks, rescore and
//! `evals run`. Rule assertions run on rayon (off the async runtime, results back through a
//! channel); judge assertions run concurrently on tokio through each judge's client, with the
//! arms interleaved (baseline, canary, baseline, …) so judge drift during a tick cannot favour
//! one arm. Scores already in `eval_scores` for the same (request, evaluator, version) are
//! reused, never recomputed or paid for again; new ones stream into the store in batches as
//! they complete. The suite's own verdict per request comes last, via `suite_outcome`.
//!
//! Without a store (`evals run`) nothing is persisted and nothing is skipped, but the
//! in-memory judgment cache still avoids paying twice for identical content.

mod history_page;
mod judging;
mod report;
mod sink;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use anyhow::Context as _;
use futures_util::StreamExt;
use rayon::prelude::*;

use crate::adapters::judge_cache::JudgmentCache;
use crate::adapters::judge_client::JudgeClient;
use crate::adapters::judge_tick::{JudgeTick, TickBudget};
use crate::adapters::store::{ScoreKey, Store, TickKey};
use crate::clock::Clock;
use crate::config::JudgeConfig;
use crate::domain::{Arm, Outcome, Request, Score};
use crate::evaluators::versions::{EvaluatorId, VersionedSuite};
use crate::evaluators::{Suite, suite_outcome};

pub use history_page::{PageScores, ReadPage};
pub use judging::unscorable_reason;
pub use report::{OutcomeCounts, ScoringReport};

/// Each judge's spending cap for one `score` call, by judge name.
pub type TickBudgets = BTreeMap<String, TickBudget>;

/// Most scores written per transaction: whatever has arrived, up to this. Judge scores arrive
/// a few at a time and are written as they come; rule scores arrive by the thousand, and 64 per
/// transaction made rescore's writes commit-bound (BENCHMARKS.md, rescore).
const SCORE_BATCH: usize = 1000;

/// Which of the requests to score may have stored scores of the suite's current evaluator
/// versions, i.e. which `existing_scores` must read.
#[derive(Debug, Clone, Copy)]
enum Stored<'a> {
    /// Not known: read the stored scores of every request.
    Unknown,
    /// Only these ids may have some; the others were just read with none (a rescore's page
    /// shows each request's current outcomes, and a first run's requests have none). A score
    /// written by someone else in between is not read: the insert skips it (`ON CONFLICT DO
    /// NOTHING`, nothing counted twice); a judge score written in between is paid again, as it
    /// already could be between the read and this call.
    Only(&'a std::collections::HashSet<String>),
}

/// Scores requests with suites; cheap to share behind an `Arc`.
pub struct ScoringEngine {
    store_opt: Option<Store>,
    judges: BTreeMap<String, Arc<JudgeClient>>,
    cache: JudgmentCache,
    clock: Arc<dyn Clock>,
    batch_size: usize,
}

/// The HTTP client judges share: connect timeout and pooled connections.
pub fn judge_http_client() -> anyhow::Result<reqwest::Client> {
    crate::adapters::http_client::builder()
        .connect_timeout(std::time::Duration::from_secs(5))
        .pool_max_idle_per_host(64)
        .build()
        .context("cannot build the judge http client")
}

impl ScoringEngine {
    /// An engine over `store_opt` with one client per configured judge.
    pub fn new(
        store_opt: Option<Store>,
        judges: &BTreeMap<String, JudgeConfig>,
        http: reqwest::Client,
        clock: Arc<dyn Clock>,
    ) -> ScoringEngine {
        let clients = judges
            .iter()
            .map(|(name, config)| {
                let client = JudgeClient::new(name, config.clone(), http.clone());
                (name.clone(), Arc::new(client))
            })
            .collect();
        ScoringEngine::with_clients(store_opt, clients, clock)
    }

    /// An engine over prebuilt judge clients (tests and benchmarks tune their timings).
    pub fn with_clients(
        store_opt: Option<Store>,
        judges: BTreeMap<String, Arc<JudgeClient>>,
        clock: Arc<dyn Clock>,
    ) -> ScoringEngine {
        ScoringEngine {
            cache: JudgmentCache::new(store_opt.clone()),
            store_opt,
            judges,
            clock,
            batch_size: SCORE_BATCH,
        }
    }

    /// The configured per-tick budget of every judge.
    pub fn default_budgets(&self) -> TickBudgets {
        self.judges
            .iter()
            .map(|(name, client)| {
                let config = client.config();
                let budget = TickBudget {
                    calls: config.budget_calls,
                    tokens: config.budget_tokens,
                    usd: config.budget_usd,
                };
                (name.clone(), budget)
            })
            .collect()
    }

    /// The judge configs, by name (what evaluator versions hash).
    pub fn judge_configs(&self) -> BTreeMap<String, JudgeConfig> {
        self.judges
            .iter()
            .map(|(name, client)| (name.clone(), client.config().clone()))
            .collect()
    }

    /// `suite` with its evaluator versions under this engine's judges: the one place a suite
    /// is versioned for scoring, done once when it is loaded, never per call.
    pub fn versioned(&self, suite: Suite) -> VersionedSuite {
        VersionedSuite::new(suite, &self.judge_configs())
    }

    /// Scores `requests` (both arms) with every assertion of `suite` and the suite verdict.
    /// `budgets` cap this one call; a judge missing from them runs without a cap.
    #[tracing::instrument(skip_all, fields(suite = %suite.name, requests = requests.len()))]
    pub async fn score(
        &self,
        suite: &VersionedSuite,
        requests: &[Request],
        budgets: &TickBudgets,
    ) -> anyhow::Result<ScoringReport> {
        let requests = Arc::from(requests);
        self.score_with(suite, requests, self.ticks(budgets), Stored::Unknown)
            .await
    }

    /// [`ScoringEngine::score`] for requests of which only `may_have_scores` can have a stored
    /// score of a current evaluator version of `suite` (a rescore's page shows which): the
    /// others' stored scores are not read (BENCHMARKS.md, rescore3).
    async fn score_partly_stored(
        &self,
        suite: &VersionedSuite,
        requests: Arc<[Request]>,
        budgets: &TickBudgets,
        may_have_scores: &std::collections::HashSet<String>,
    ) -> anyhow::Result<ScoringReport> {
        let stored = Stored::Only(may_have_scores);
        self.score_with(suite, requests, self.ticks(budgets), stored)
            .await
    }

    /// In-memory judge ticks capped by `budgets` (uncapped for a judge missing from them),
    /// to share across several [`ScoringEngine::score_with_ticks`] calls.
    pub fn ticks(&self, budgets: &TickBudgets) -> BTreeMap<String, Arc<JudgeTick>> {
        self.judges
            .keys()
            .map(|name| {
                let budget = budgets.get(name).copied().unwrap_or_default();
                (name.clone(), Arc::new(JudgeTick::new(budget)))
            })
            .collect()
    }

    /// Scores one batch against budgets shared with other batches (`evals run` streams its
    /// input in batches under one budget). The report's judge totals are the ticks' so far.
    pub async fn score_with_ticks(
        &self,
        suite: &VersionedSuite,
        requests: &[Request],
        ticks: &BTreeMap<String, Arc<JudgeTick>>,
    ) -> anyhow::Result<ScoringReport> {
        let requests = Arc::from(requests);
        self.score_with(suite, requests, ticks.clone(), Stored::Unknown)
            .await
    }

    /// Scores part of the requests of the live tick `key` (one claim batch). The configured
    /// per-tick budgets and the auth stop are shared through the store by every batch and
    /// every replica scoring the tick, so they hold for the whole tick.
    #[tracing::instrument(skip_all, fields(suite = %suite.name, requests = requests.len(), rollout_id = %key.rollout_id))]
    pub async fn score_for_tick(
        &self,
        suite: &VersionedSuite,
        requests: &[Request],
        key: &TickKey,
    ) -> anyhow::Result<ScoringReport> {
        let Some(store) = &self.store_opt else {
            anyhow::bail!("a tick's judge budget needs a store");
        };
        let names: Vec<String> = self.judges.keys().cloned().collect();
        store
            .open_tick_budgets(key, &names)
            .await
            .context("cannot open the tick's judge budgets")?;
        let ticks = self
            .default_budgets()
            .into_iter()
            .map(|(name, budget)| {
                let tick = JudgeTick::shared(budget, store.clone(), key.clone(), &name);
                (name, Arc::new(tick))
            })
            .collect();
        let requests = Arc::from(requests);
        self.score_with(suite, requests, ticks, Stored::Unknown)
            .await
    }

    async fn score_with(
        &self,
        suite: &VersionedSuite,
        shared_requests: Arc<[Request]>,
        ticks: BTreeMap<String, Arc<JudgeTick>>,
        stored: Stored<'_>,
    ) -> anyhow::Result<ScoringReport> {
        let requests: &[Request] = &shared_requests;
        let evaluators = suite.evaluators();
        let existing = self.existing_scores(requests, evaluators, stored).await?;
        let order = interleave_arms(requests);
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel::<Score>();
        let writer = tokio::spawn(sink::write_scores(
            self.store_opt.clone(),
            receiver,
            self.batch_size,
            self.clock.now(),
        ));
        let rules_done = self.spawn_rules(
            suite,
            shared_requests.clone(),
            evaluators,
            &existing,
            sender.clone(),
        );
        let run = judging::JudgeRun {
            clients: &self.judges,
            ticks: &ticks,
            cache: &self.cache,
            now: self.clock.now(),
            cache_hits: AtomicU64::new(0),
        };
        self.run_judges(
            &run, suite, requests, &order, evaluators, &existing, &sender,
        )
        .await;
        rules_done
            .await
            .context("the rule scoring thread stopped before finishing")?;
        drop(sender);
        let written = writer.await.context("the score writer task failed")??;
        // Judgments refused because the shared budget could not be read or written were not
        // stored (they are undecided, not unscorable); the batch fails and is redone.
        if let Some(name) = ticks
            .iter()
            .find_map(|(name, tick)| tick.ledger_failed().then_some(name))
        {
            anyhow::bail!("cannot account judge `{name}`'s spend in the tick's budget");
        }
        let mut scores: Vec<Score> = existing.into_values().collect();
        let reused = scores.len();
        scores.extend(written.scores);
        let suite_rows = self.suite_rows(suite, requests, evaluators, &scores);
        let mut inserted = written.inserted;
        if let Some(store) = &self.store_opt {
            inserted += store
                .insert_scores(&suite_rows, self.clock.now())
                .await
                .context("cannot store suite scores")?;
        }
        scores.extend(suite_rows);
        sort_like_input(&mut scores, requests, evaluators);
        Ok(report::build(
            suite, requests, scores, reused, inserted, &ticks, &run,
        ))
    }

    async fn existing_scores(
        &self,
        requests: &[Request],
        evaluators: &[EvaluatorId],
        stored: Stored<'_>,
    ) -> anyhow::Result<HashMap<ScoreKey, Score>> {
        let Some(store) = &self.store_opt else {
            return Ok(HashMap::new());
        };
        let ids: Vec<String> = requests
            .iter()
            .filter(|r| match stored {
                Stored::Unknown => true,
                Stored::Only(ids) => ids.contains(&r.request_id),
            })
            .map(|r| r.request_id.clone())
            .collect();
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let versions: Vec<String> = evaluators.iter().map(|e| e.version.clone()).collect();
        let stored = store
            .scores_for(&ids, &versions)
            .await
            .context("cannot read existing scores")?;
        let names: std::collections::HashSet<(&str, &str)> = evaluators
            .iter()
            .map(|e| (e.name.as_str(), e.version.as_str()))
            .collect();
        let mut existing = HashMap::new();
        for score in stored {
            if names.contains(&(score.evaluator.as_str(), score.evaluator_version.as_str())) {
                existing.insert(ScoreKey::of(&score), score);
            }
        }
        Ok(existing)
    }

    /// Hands every missing (request, rule) pair to rayon; results stream into `sender`.
    fn spawn_rules(
        &self,
        suite: &Suite,
        requests: Arc<[Request]>,
        evaluators: &[EvaluatorId],
        existing: &HashMap<ScoreKey, Score>,
        sender: tokio::sync::mpsc::UnboundedSender<Score>,
    ) -> tokio::sync::oneshot::Receiver<()> {
        let mut jobs: Vec<(usize, usize)> = Vec::new();
        for (request_index, request) in requests.iter().enumerate() {
            for evaluator in evaluators {
                let Some(index) = evaluator.index else {
                    continue;
                };
                if suite.assertions[index].is_rule() && !is_stored(existing, request, evaluator) {
                    jobs.push((request_index, index));
                }
            }
        }
        let (done_sender, done_receiver) = tokio::sync::oneshot::channel();
        let suite = Arc::new(suite.clone());
        let evaluators: Arc<Vec<EvaluatorId>> = Arc::new(evaluators.to_vec());
        rayon::spawn(move || {
            jobs.par_iter().for_each(|&(request_index, index)| {
                let request = &requests[request_index];
                let evaluator = &evaluators[index];
                let started = std::time::Instant::now();
                let Some(result) = suite.assertions[index].evaluate_rule(request) else {
                    return;
                };
                let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
                let score = evaluator.rule_score(&request.request_id, result, latency_ms);
                // The receiver only goes away if the tick was abandoned.
                let _ = sender.send(score);
            });
            let _ = done_sender.send(());
        });
        done_receiver
    }

    #[allow(clippy::too_many_arguments)]
    async fn run_judges(
        &self,
        run: &judging::JudgeRun<'_>,
        suite: &Suite,
        requests: &[Request],
        order: &[usize],
        evaluators: &[EvaluatorId],
        existing: &HashMap<ScoreKey, Score>,
        sender: &tokio::sync::mpsc::UnboundedSender<Score>,
    ) {
        let mut jobs: Vec<(usize, usize)> = Vec::new();
        for &request_index in order {
            let request = &requests[request_index];
            for evaluator in evaluators {
                let Some(index) = evaluator.index else {
                    continue;
                };
                if !suite.assertions[index].is_rule() && !is_stored(existing, request, evaluator) {
                    jobs.push((request_index, index));
                }
            }
        }
        if jobs.is_empty() {
            return;
        }
        let in_flight: usize = self
            .judges
            .values()
            .map(|client| client.config().max_concurrency as usize * 2)
            .sum::<usize>()
            .max(2);
        let mut results = futures_util::stream::iter(jobs)
            .map(|(request_index, index)| {
                run.judge(
                    &requests[request_index],
                    &suite.assertions[index],
                    &evaluators[index],
                )
            })
            .buffer_unordered(in_flight);
        while let Some(score_opt) = results.next().await {
            if let Some(score) = score_opt {
                let _ = sender.send(score);
            }
        }
    }

    /// The suite verdict of every request that has no stored one for this suite version.
    fn suite_rows(
        &self,
        suite: &Suite,
        requests: &[Request],
        evaluators: &[EvaluatorId],
        scores: &[Score],
    ) -> Vec<Score> {
        let Some(suite_evaluator) = evaluators.iter().find(|e| e.index.is_none()) else {
            return Vec::new();
        };
        let index_of: HashMap<(&str, &str), usize> = evaluators
            .iter()
            .filter_map(|e| e.index.map(|i| ((e.name.as_str(), e.version.as_str()), i)))
            .collect();
        let mut per_request: HashMap<&str, Vec<(usize, Outcome, f64)>> = HashMap::new();
        let mut has_suite_row: std::collections::HashSet<&str> = Default::default();
        for score in scores {
            let id = score.request_id.as_str();
            if score.evaluator == suite_evaluator.name
                && score.evaluator_version == suite_evaluator.version
            {
                has_suite_row.insert(id);
                continue;
            }
            let pair = (score.evaluator.as_str(), score.evaluator_version.as_str());
            if let Some(&index) = index_of.get(&pair) {
                let value = score.score.unwrap_or(match score.outcome {
                    Outcome::Pass => 1.0,
                    _ => 0.0,
                });
                per_request
                    .entry(id)
                    .or_default()
                    .push((index, score.outcome, value));
            }
        }
        let mut rows = Vec::new();
        for request in requests {
            let id = request.request_id.as_str();
            if has_suite_row.contains(id) {
                continue;
            }
            let results = per_request.get(id).map(Vec::as_slice).unwrap_or(&[]);
            let (outcome, score, reason) = suite_outcome(suite, results);
            rows.push(Score {
                request_id: request.request_id.clone(),
                evaluator: suite_evaluator.name.clone(),
                evaluator_version: suite_evaluator.version.clone(),
                outcome,
                score: Some(score),
                reason,
                latency_ms: 0.0,
                prompt_tokens: 0,
                completion_tokens: 0,
                cost_usd: 0.0,
            });
        }
        rows
    }
}

/// Orders scores by request (input order), then evaluator (suite order, the verdict last).
fn sort_like_input(scores: &mut [Score], requests: &[Request], evaluators: &[EvaluatorId]) {
    let request_position: HashMap<&str, usize> = requests
        .iter()
        .enumerate()
        .map(|(position, request)| (request.request_id.as_str(), position))
        .collect();
    let evaluator_position: HashMap<&str, usize> = evaluators
        .iter()
        .enumerate()
        .map(|(position, evaluator)| (evaluator.name.as_str(), position))
        .collect();
    // Each key once (two hash lookups per score), not twice per comparison.
    scores.sort_by_cached_key(|score| {
        (
            request_position
                .get(score.request_id.as_str())
                .copied()
                .unwrap_or(usize::MAX),
            evaluator_position
                .get(score.evaluator.as_str())
                .copied()
                .unwrap_or(usize::MAX),
        )
    });
}

/// True when `existing` holds the score of `evaluator` for `request` (no key is built when
/// nothing is stored, as in a first rescore).
fn is_stored(
    existing: &HashMap<ScoreKey, Score>,
    request: &Request,
    evaluator: &EvaluatorId,
) -> bool {
    !existing.is_empty() && existing.contains_key(&key(request, evaluator))
}

fn key(request: &Request, evaluator: &EvaluatorId) -> ScoreKey {
    ScoreKey {
        request_id: request.request_id.clone(),
        evaluator: evaluator.name.clone(),
        evaluator_version: evaluator.version.clone(),
    }
}

/// Request indices in the order baseline, canary, baseline, canary, … (each arm keeps its own
/// order; the longer arm's tail comes last).
pub fn interleave_arms(requests: &[Request]) -> Vec<usize> {
    let baseline: Vec<usize> = (0..requests.len())
        .filter(|&i| requests[i].arm == Arm::Baseline)
        .collect();
    let canary: Vec<usize> = (0..requests.len())
        .filter(|&i| requests[i].arm == Arm::Canary)
        .collect();
    let mut order = Vec::with_capacity(requests.len());
    for position in 0..baseline.len().max(canary.len()) {
        if let Some(&index) = baseline.get(position) {
            order.push(index);
        }
        if let Some(&index) = canary.get(position) {
            order.push(index);
        }
    }
    order
}
