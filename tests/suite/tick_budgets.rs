//! The judges' per-tick budgets and auth stop hold for the whole tick, not per claim batch: a
//! tick's requests are queued, then claimed in batches of two by one or two workers (as `serve`
//! replicas do), and a real local judge server counts the calls. On both backends.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::TimeZone;
use common::fake_judge::{Behaviour, FakeJudge, FakeReply};
use evalgate::adapters::judge_client::{JudgeClient, JudgeSettings};
use evalgate::adapters::store::{Store, TickKey};
use evalgate::clock::SystemClock;
use evalgate::config::{Config, JudgeConfig};
use evalgate::context::{Context, Services};
use evalgate::domain::{Arm, Outcome, Request, Timestamp};
use evalgate::evaluators::load_suite_text;
use evalgate::evaluators::versions::VersionedSuite;
use evalgate::worker::pipeline::{TickEnv, score_worker_once};
use evalgate::worker::scoring::ScoringEngine;
use serde_json::Value;

const SUITE: &str = "name: judged\nassert:\n  - type: llm-rubric\n    judge: default\n    \
                     metric: polite\n    value: Is the answer polite?\n";
/// Requests in the tick; claimed two at a time, that is three batches or more.
const REQUESTS: usize = 6;
const CLAIM_BATCH: u32 = 2;

fn at() -> Timestamp {
    chrono::Utc.timestamp_opt(1_700_000_000, 0).unwrap()
}

fn key() -> TickKey {
    TickKey {
        rollout_id: "ro-1".to_string(),
        window_start: at(),
    }
}

fn judge_config(base_url: &str, max_concurrency: u32) -> JudgeConfig {
    JudgeConfig {
        base_url: base_url.to_string(),
        model: "judge-test".to_string(),
        api_key_env: None,
        max_concurrency,
        requests_per_minute: 0,
        price_per_million_input: 1.0,
        price_per_million_output: 4.0,
        ..JudgeConfig::default()
    }
}

fn engine(store: &Store, config: JudgeConfig) -> ScoringEngine {
    let settings = JudgeSettings {
        timeout: Duration::from_secs(5),
        max_retries: 0,
        backoff_base: Duration::from_millis(10),
        backoff_max: Duration::from_millis(50),
        max_retry_after: Duration::from_secs(10),
    };
    let client = JudgeClient::with_settings(
        "default",
        config,
        settings,
        evalgate::adapters::http_client::builder().build().unwrap(),
    );
    let clients = BTreeMap::from([("default".to_string(), Arc::new(client))]);
    ScoringEngine::with_clients(Some(store.clone()), clients, Arc::new(SystemClock))
}

/// The test suite, versioned by `engine` (as `Pipeline::load` does).
fn suites(engine: &ScoringEngine) -> BTreeMap<String, VersionedSuite> {
    let names = BTreeSet::from(["default".to_string()]);
    let suite = load_suite_text(Path::new("judged.yaml"), SUITE, &names).expect("suite loads");
    BTreeMap::from([(suite.name.clone(), engine.versioned(suite))])
}

fn context() -> Context {
    let mut config = Config::default();
    config.schedule.claim_batch = CLAIM_BATCH;
    Context::with_config(config, Arc::new(SystemClock))
}

fn requests() -> Vec<Request> {
    (0..REQUESTS)
        .map(|i| Request {
            ts: at(),
            rollout_id: Some("ro-1".to_string()),
            input: "How do I reset my password?".to_string(),
            output: format!("answer number {i}"),
            ..crate::common::request(
                &format!("r{i}"),
                if i % 2 == 0 {
                    Arm::Baseline
                } else {
                    Arm::Canary
                },
            )
        })
        .collect()
}

/// Stores the requests and queues them as one tick's scoring work.
async fn queue_tick(store: &Store) {
    let rows = requests();
    store.insert_requests(&rows).await.expect("insert requests");
    let ids: Vec<String> = rows.iter().map(|r| r.request_id.clone()).collect();
    store
        .enqueue_scoring(&key(), "judged", &ids)
        .await
        .expect("enqueue");
}

/// Works the queue as worker `worker_id` until nothing is left to claim; returns the batches.
async fn drain(store: &Store, engine: &ScoringEngine, worker_id: &str) -> usize {
    let services = Services::new(context(), store.clone()).expect("services");
    let suites = suites(engine);
    let env = TickEnv {
        services: &services,
        suites: &suites,
        engine,
        worker_id,
    };
    let mut batches = 0;
    loop {
        let round = score_worker_once(&env, at())
            .await
            .expect("a scoring round");
        if round.claimed == 0 {
            return batches;
        }
        assert!(round.claimed <= CLAIM_BATCH as usize);
        batches += 1;
    }
}

/// The judge outcomes stored for the tick's requests.
async fn judge_outcomes(store: &Store) -> Vec<(Outcome, String)> {
    let ids: Vec<String> = requests().into_iter().map(|r| r.request_id).collect();
    let scores = store.scores_for(&ids, &all_versions(store).await).await;
    let mut outcomes: Vec<(Outcome, String)> = scores
        .expect("scores")
        .into_iter()
        .filter(|score| score.evaluator == "judged/polite")
        .map(|score| (score.outcome, score.reason))
        .collect();
    outcomes.sort_by(|a, b| a.1.cmp(&b.1));
    outcomes
}

async fn all_versions(store: &Store) -> Vec<String> {
    let engine = engine(store, judge_config("http://127.0.0.1:9/v1", 1));
    suites(&engine)["judged"].versions()
}

fn behaviour(reply: impl Fn(usize, &Value) -> FakeReply + Send + Sync + 'static) -> Behaviour {
    Arc::new(reply)
}

async fn a_call_budget_caps_the_whole_tick_across_batches_and_replicas(store: Store) {
    let fake = FakeJudge::start_with(
        behaviour(|_, _| FakeReply::verdict(true, 0.9)),
        Duration::from_millis(20),
        None,
    )
    .await;
    let config = JudgeConfig {
        budget_calls: 3,
        ..judge_config(&fake.base_url, 4)
    };
    queue_tick(&store).await;
    // Two replicas, each with its own engine and judge client, on one store.
    let (first, second) = (engine(&store, config.clone()), engine(&store, config));
    let (batches_a, batches_b) = tokio::join!(
        drain(&store, &first, "replica-a"),
        drain(&store, &second, "replica-b")
    );
    assert!(batches_a + batches_b >= 3, "the tick took several batches");
    assert_eq!(fake.call_count(), 3, "budget_calls = 3 for the whole tick");
    let spend = store
        .tick_spend(&key(), "default")
        .await
        .expect("read spend")
        .expect("a spend row");
    assert_eq!(spend.spent.calls, 3);
    assert_eq!(spend.spent.tokens, 3 * 120);
    let outcomes = judge_outcomes(&store).await;
    assert_eq!(outcomes.len(), REQUESTS);
    let over_budget = outcomes.iter().filter(|(_, reason)| reason == "budget");
    assert_eq!(over_budget.count(), REQUESTS - 3);
}

contract_test!(
    call_budget_is_per_tick,
    a_call_budget_caps_the_whole_tick_across_batches_and_replicas
);

async fn an_auth_failure_in_the_first_batch_stops_the_judge_for_later_batches(store: Store) {
    let fake = FakeJudge::start(behaviour(|index, _| {
        if index == 0 {
            FakeReply::status(401)
        } else {
            FakeReply::verdict(true, 0.9)
        }
    }))
    .await;
    queue_tick(&store).await;
    let engine = engine(&store, judge_config(&fake.base_url, 1));
    let batches = drain(&store, &engine, "replica-a").await;
    assert_eq!(batches, REQUESTS / CLAIM_BATCH as usize);
    assert_eq!(fake.call_count(), 1, "no call after the 401, in any batch");
    let spend = store
        .tick_spend(&key(), "default")
        .await
        .expect("read spend")
        .expect("a spend row");
    assert!(spend.auth_stopped);
    assert_eq!(
        spend.auth_error.as_deref(),
        Some("judge auth failed (http 401)")
    );
    let outcomes = judge_outcomes(&store).await;
    assert_eq!(outcomes.len(), REQUESTS);
    for (outcome, reason) in outcomes {
        assert_eq!(
            (outcome, reason.as_str()),
            (Outcome::Unscorable, "judge auth failed")
        );
    }
}

contract_test!(
    auth_stop_is_per_tick,
    an_auth_failure_in_the_first_batch_stops_the_judge_for_later_batches
);

async fn cheap_calls_add_up_against_the_dollar_budget(store: Store) {
    let fake = FakeJudge::start(behaviour(|_, _| FakeReply::verdict(true, 0.9))).await;
    // 100 prompt tokens at $0.004 per million: $0.0000004 a call (the fake's completion
    // tokens are free here), against a budget of $0.000001.
    let config = JudgeConfig {
        price_per_million_input: 0.004,
        price_per_million_output: 0.0,
        budget_usd: 0.000001,
        ..judge_config(&fake.base_url, 1)
    };
    queue_tick(&store).await;
    let engine = engine(&store, config);
    drain(&store, &engine, "replica-a").await;
    // 0.4 and 0.8 µUSD are under the budget, 1.2 µUSD is not: the fourth call is refused.
    assert_eq!(fake.call_count(), 3);
    let spend = store
        .tick_spend(&key(), "default")
        .await
        .expect("read spend")
        .expect("a spend row");
    assert_eq!(spend.spent.pico_usd, 3 * 400_000);
    let over_budget = judge_outcomes(&store).await;
    let over_budget = over_budget.iter().filter(|(_, reason)| reason == "budget");
    assert_eq!(over_budget.count(), REQUESTS - 3);
}

contract_test!(
    dollar_budget_is_exact,
    cheap_calls_add_up_against_the_dollar_budget
);
