//! The scoring engine with a store, on SQLite and PostgreSQL: scores stream into the
//! append-only `eval_scores`, a redone tick reuses what is stored and pays nothing twice, and
//! the judge cache survives a new engine.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::TimeZone;
use common::fake_judge::{FakeJudge, FakeReply};
use evalgate::adapters::judge_client::{JudgeClient, JudgeSettings};
use evalgate::adapters::store::{ScoreKey, Store};
use evalgate::clock::SystemClock;
use evalgate::config::JudgeConfig;
use evalgate::domain::{Arm, Outcome, Request, Score};
use evalgate::evaluators::versions::EvaluatorId;
use evalgate::evaluators::{Suite, load_suite_text};
use evalgate::worker::scoring::ScoringEngine;

const MIXED_SUITE: &str = "name: mixed\nassert:\n  - type: icontains\n    value: reset\n    \
                           metric: mentions_reset\n  - type: llm-rubric\n    judge: default\n    \
                           metric: polite\n    value: Is the answer polite?\n";

fn engine(store: &Store, base_url: &str) -> ScoringEngine {
    let config = JudgeConfig {
        base_url: base_url.to_string(),
        model: "judge-test".to_string(),
        api_key_env: None,
        requests_per_minute: 0,
        ..JudgeConfig::default()
    };
    let settings = JudgeSettings {
        timeout: Duration::from_secs(5),
        max_retries: 1,
        backoff_base: Duration::from_millis(10),
        backoff_max: Duration::from_millis(20),
        max_retry_after: Duration::from_secs(5),
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

fn suite() -> Suite {
    let names = BTreeSet::from(["default".to_string()]);
    load_suite_text(Path::new("mixed.yaml"), MIXED_SUITE, &names).expect("suite loads")
}

fn request(id: &str, arm: Arm, output: &str) -> Request {
    Request {
        ts: chrono::Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
        input: "How do I reset my password?".to_string(),
        output: output.to_string(),
        ..crate::common::request(id, arm)
    }
}

fn rows() -> Vec<Request> {
    vec![
        request("r1", Arm::Baseline, "Use the reset link, please."),
        request("r2", Arm::Canary, "No idea."),
        request("r3", Arm::Baseline, "Click reset."),
        request("r4", Arm::Canary, "Reset it from settings, thanks!"),
    ]
}

async fn a_redone_tick_reuses_stored_scores_and_pays_nothing_twice(store: Store) {
    let fake = FakeJudge::start(Arc::new(|_, _| FakeReply::verdict(true, 0.9))).await;
    let engine = engine(&store, &fake.base_url);
    let budgets = engine.default_budgets();
    let first = engine
        .score(&engine.versioned(suite()), &rows(), &budgets)
        .await
        .unwrap();
    // 4 requests × (2 assertions + the suite verdict).
    assert_eq!(first.inserted, 12);
    assert_eq!(first.scores.len(), 12);
    assert_eq!(fake.call_count(), 4);
    assert_eq!(
        first.suite_per_arm["canary"].fail, 1,
        "r2 does not mention reset"
    );
    assert_eq!(first.suite_per_arm["canary"].pass, 1);
    assert_eq!(first.suite_per_arm["baseline"].pass, 2);

    let again = engine
        .score(&engine.versioned(suite()), &rows(), &budgets)
        .await
        .unwrap();
    assert_eq!(again.inserted, 0);
    assert_eq!(again.reused, 12);
    assert_eq!(again.scores.len(), 12);
    assert_eq!(again.judge_calls, 0);
    assert_eq!(fake.call_count(), 4);

    let ids: Vec<String> = rows().iter().map(|r| r.request_id.clone()).collect();
    let stored = store.scores_for(&ids, &[]).await.unwrap();
    assert_eq!(stored.len(), 12);
    let suite_row = stored
        .iter()
        .find(|s| s.request_id == "r2" && s.evaluator == "mixed")
        .unwrap();
    assert_eq!(suite_row.outcome, Outcome::Fail);
    assert_eq!(suite_row.reason, "failed: mentions_reset");
}
contract_test!(
    redone_tick,
    a_redone_tick_reuses_stored_scores_and_pays_nothing_twice
);

/// r1's judge score as a crash left it stored: a fail the engine must reuse, not pay for again.
fn stored_judge_score(judge: &EvaluatorId) -> Score {
    Score {
        request_id: "r1".to_string(),
        evaluator: judge.name.clone(),
        evaluator_version: judge.version.clone(),
        outcome: Outcome::Fail,
        score: Some(0.2),
        reason: "stored before the crash".to_string(),
        latency_ms: 1.0,
        prompt_tokens: 10,
        completion_tokens: 2,
        cost_usd: 0.0,
    }
}

async fn a_partly_scored_tick_only_computes_what_is_missing(store: Store) {
    let fake = FakeJudge::start(Arc::new(|_, _| FakeReply::verdict(true, 0.9))).await;
    let engine = engine(&store, &fake.base_url);
    let evaluators = engine.versioned(suite()).evaluators().to_vec();
    let judge = &evaluators[1];
    // A crash left the judge score of r1 stored, nothing else.
    let stored = stored_judge_score(judge);
    let now = chrono::Utc.timestamp_opt(1_700_000_100, 0).unwrap();
    assert_eq!(
        store
            .insert_scores(std::slice::from_ref(&stored), now)
            .await
            .unwrap(),
        1
    );
    let report = engine
        .score(
            &engine.versioned(suite()),
            &rows(),
            &engine.default_budgets(),
        )
        .await
        .unwrap();
    assert_eq!(fake.call_count(), 3, "r1's judgment is not redone");
    assert_eq!(report.reused, 1);
    assert_eq!(report.inserted, 11);
    let r1_suite = report
        .scores
        .iter()
        .find(|s| s.request_id == "r1" && s.evaluator == "mixed")
        .unwrap();
    assert_eq!(
        r1_suite.outcome,
        Outcome::Fail,
        "the stored judge fail decides"
    );
}
contract_test!(
    partial_tick,
    a_partly_scored_tick_only_computes_what_is_missing
);

async fn the_judge_cache_outlives_the_engine(store: Store) {
    let fake = FakeJudge::start(Arc::new(|_, _| FakeReply::verdict(false, 0.1))).await;
    let first = engine(&store, &fake.base_url);
    let rows_a = vec![request("a1", Arm::Baseline, "Reset, as the docs say.")];
    first
        .score(&first.versioned(suite()), &rows_a, &first.default_budgets())
        .await
        .unwrap();
    assert_eq!(fake.call_count(), 1);
    let second = engine(&store, &fake.base_url);
    let rows_b = vec![request("b1", Arm::Canary, "Reset, as the docs say.")];
    let report = second
        .score(
            &second.versioned(suite()),
            &rows_b,
            &second.default_budgets(),
        )
        .await
        .unwrap();
    assert_eq!(
        fake.call_count(),
        1,
        "same content and version: served from judge_cache"
    );
    assert_eq!(report.cache_hits, 1);
    let judged = report
        .scores
        .iter()
        .find(|s| s.evaluator == "mixed/polite")
        .unwrap();
    assert_eq!(judged.outcome, Outcome::Fail);
    assert_eq!(judged.score, Some(0.1));
}
contract_test!(judge_cache, the_judge_cache_outlives_the_engine);

async fn inserting_a_score_twice_keeps_one_row(store: Store) {
    let score = Score {
        request_id: "x".to_string(),
        evaluator: "s/a".to_string(),
        evaluator_version: "v1".to_string(),
        outcome: Outcome::Unscorable,
        score: None,
        reason: "budget".to_string(),
        latency_ms: 0.0,
        prompt_tokens: 0,
        completion_tokens: 0,
        cost_usd: 0.0,
    };
    let now = chrono::Utc.timestamp_opt(1_700_000_000, 0).unwrap();
    assert_eq!(
        store
            .insert_scores(std::slice::from_ref(&score), now)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .insert_scores(std::slice::from_ref(&score), now)
            .await
            .unwrap(),
        0
    );
    let newer = Score {
        evaluator_version: "v2".to_string(),
        ..score.clone()
    };
    assert_eq!(store.insert_scores(&[newer], now).await.unwrap(), 1);
    let key = ScoreKey::of(&score);
    assert!(store.has_score(&key).await.unwrap());
    let only_v1 = store
        .scores_for(&["x".to_string()], &["v1".to_string()])
        .await
        .unwrap();
    assert_eq!(only_v1, vec![score]);
    assert_eq!(
        store.scored_keys(&["x".to_string()]).await.unwrap().len(),
        2
    );
}
contract_test!(insert_twice, inserting_a_score_twice_keeps_one_row);

/// The outcomes of each request of a scored page, sorted, by request id.
fn outcomes_by_request(
    page: &[evalgate::adapters::store::ScoredHistoryEntry],
) -> BTreeMap<String, Vec<(String, String, Outcome)>> {
    page.iter()
        .map(|entry| {
            let mut outcomes: Vec<(String, String, Outcome)> = entry
                .outcomes
                .iter()
                .map(|o| (o.evaluator.clone(), o.evaluator_version.clone(), o.outcome))
                .collect();
            outcomes.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
            (entry.cursor.request_id.clone(), outcomes)
        })
        .collect()
}

async fn a_history_page_carries_stored_outcomes_and_only_unfinished_requests_are_scored(
    store: Store,
) {
    use evalgate::adapters::store::HistoryFilter;
    use evalgate::logic::attribution::RolloutTargets;

    let fake = FakeJudge::start(Arc::new(|_, _| FakeReply::verdict(true, 0.9))).await;
    let engine = engine(&store, &fake.base_url);
    let suite = engine.versioned(suite());
    let evaluators = suite.evaluators();
    let versions: Vec<String> = evaluators.iter().map(|e| e.version.clone()).collect();
    store.insert_requests(&rows()).await.unwrap();
    // A crash left r1's judge score stored, nothing else.
    let judge = &evaluators[1];
    let stored = stored_judge_score(judge);
    let ts = chrono::Utc.timestamp_opt(1_700_000_000, 0).unwrap();
    store
        .insert_scores(std::slice::from_ref(&stored), ts)
        .await
        .unwrap();
    let filter = HistoryFilter {
        from: ts - chrono::Duration::seconds(1),
        to: ts + chrono::Duration::seconds(1),
        rollout: None,
        arm: None,
    };

    let page = store
        .history_page_scored(&filter, None, 10, &versions)
        .await
        .unwrap();
    let ids: Vec<&str> = page.iter().map(|e| e.cursor.request_id.as_str()).collect();
    assert_eq!(ids, ["r1", "r2", "r3", "r4"]);
    assert_eq!(page[0].outcomes.len(), 1, "r1's stored judge score");
    assert_eq!(page[0].outcomes[0].outcome, Outcome::Fail);
    assert!(page[1..].iter().all(|e| e.outcomes.is_empty()));
    assert_eq!(
        (page[1].arm, page[1].model.as_str()),
        (Arm::Canary, "bot@v1")
    );
    assert_eq!(page[1].rollout_id, None);

    let budgets = engine.default_budgets();
    let first = engine
        .score_history_page(&suite, page, &budgets)
        .await
        .unwrap();
    assert_eq!((first.inserted, first.reused), (11, 1));
    assert_eq!(fake.call_count(), 3, "r1's judgment is not redone");
    assert!(first.requests.iter().all(|e| e.outcomes.len() == 3));

    // Rerun: every outcome comes from the page; nothing is written or paid again.
    let again_page = store
        .history_page_scored(&filter, None, 10, &versions)
        .await
        .unwrap();
    assert_eq!(
        outcomes_by_request(&again_page),
        outcomes_by_request(&first.requests)
    );
    let again = engine
        .score_history_page(&suite, again_page, &budgets)
        .await
        .unwrap();
    assert_eq!((again.inserted, again.reused), (0, 12));
    assert_eq!(fake.call_count(), 3);
    assert_eq!(
        outcomes_by_request(&again.requests),
        outcomes_by_request(&first.requests)
    );

    // Other versions are not reported; a rollout and arm filter keep the page's binds apart.
    let other = store
        .history_page_scored(&filter, None, 10, &["other".to_string()])
        .await
        .unwrap();
    assert!(other.iter().all(|e| e.outcomes.is_empty()));
    let owned = HistoryFilter {
        rollout: Some(RolloutTargets {
            rollout_id: "r-9".to_string(),
            baseline_model: "bot@v0".to_string(),
            canary_model: "bot@v1".to_string(),
            started_at: ts - chrono::Duration::seconds(10),
        }),
        arm: Some(Arm::Canary),
        ..filter
    };
    let canary = store
        .history_page_scored(&owned, None, 10, &versions)
        .await
        .unwrap();
    let ids: Vec<&str> = canary
        .iter()
        .map(|e| e.cursor.request_id.as_str())
        .collect();
    assert_eq!(ids, ["r2", "r4"]);
    assert!(canary.iter().all(|e| e.outcomes.len() == 3));
    let after_first = store
        .history_page_scored(&owned, Some(&canary[0].cursor), 10, &versions)
        .await
        .unwrap();
    assert_eq!(after_first.len(), 1);
    assert_eq!(after_first[0].cursor.request_id, "r4");
}
contract_test!(
    history_page_scored,
    a_history_page_carries_stored_outcomes_and_only_unfinished_requests_are_scored
);
