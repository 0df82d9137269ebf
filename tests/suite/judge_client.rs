//! The judge client and the scoring engine against a local server speaking the chat
//! completions protocol: success, retries, timeouts, unparseable replies, auth stops, budgets,
//! the cache and the pairwise position swap.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::TimeZone;
use common::fake_judge::{Behaviour, FakeJudge, FakeReply};
use evalgate::adapters::judge_client::{JudgeClient, JudgeSettings};
use evalgate::clock::SystemClock;
use evalgate::config::JudgeConfig;
use evalgate::domain::{Arm, Outcome, Request, Score};
use evalgate::evaluators::{Suite, load_suite_text};
use evalgate::worker::scoring::{ScoringEngine, ScoringReport, TickBudgets};
use serde_json::Value;

const RUBRIC_SUITE: &str = "name: judged\nassert:\n  - type: llm-rubric\n    judge: default\n    \
                            metric: polite\n    value: Is the answer polite?\n";

fn judge_config(base_url: &str) -> JudgeConfig {
    JudgeConfig {
        base_url: base_url.to_string(),
        model: "judge-test".to_string(),
        api_key_env: None,
        max_concurrency: 4,
        requests_per_minute: 0,
        price_per_million_input: 1.0,
        price_per_million_output: 4.0,
        ..JudgeConfig::default()
    }
}

fn fast_settings() -> JudgeSettings {
    JudgeSettings {
        timeout: Duration::from_secs(5),
        max_retries: 2,
        backoff_base: Duration::from_millis(10),
        backoff_max: Duration::from_millis(50),
        max_retry_after: Duration::from_secs(10),
    }
}

fn engine_with(config: JudgeConfig, settings: JudgeSettings) -> ScoringEngine {
    let client = JudgeClient::with_settings(
        "default",
        config,
        settings,
        evalgate::adapters::http_client::builder().build().unwrap(),
    );
    let clients = BTreeMap::from([("default".to_string(), Arc::new(client))]);
    ScoringEngine::with_clients(None, clients, Arc::new(SystemClock))
}

fn suite(text: &str) -> Suite {
    let names = BTreeSet::from(["default".to_string()]);
    load_suite_text(Path::new("judged.yaml"), text, &names).expect("suite loads")
}

fn request(id: &str, arm: Arm, output: &str) -> Request {
    Request {
        ts: chrono::Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
        input: "How do I reset my password?".to_string(),
        output: output.to_string(),
        reference: Some("Use the reset link.".to_string()),
        ..crate::common::request(id, arm)
    }
}

fn requests(count: usize) -> Vec<Request> {
    (0..count)
        .map(|i| {
            let arm = if i % 2 == 0 {
                Arm::Baseline
            } else {
                Arm::Canary
            };
            request(&format!("r{i}"), arm, &format!("answer number {i}"))
        })
        .collect()
}

fn behaviour(reply: impl Fn(usize, &Value) -> FakeReply + Send + Sync + 'static) -> Behaviour {
    Arc::new(reply)
}

fn assertion_scores(report: &ScoringReport) -> Vec<&Score> {
    let mut scores: Vec<&Score> = report
        .scores
        .iter()
        .filter(|score| score.evaluator.contains('/'))
        .collect();
    scores.sort_by(|a, b| a.request_id.cmp(&b.request_id));
    scores
}

async fn score(engine: &ScoringEngine, suite_text: &str, requests: &[Request]) -> ScoringReport {
    let budgets: TickBudgets = engine.default_budgets();
    engine
        .score(&engine.versioned(suite(suite_text)), requests, &budgets)
        .await
        .expect("scoring runs")
}

#[tokio::test]
async fn a_passing_verdict_is_scored_with_tokens_and_cost() {
    let fake = FakeJudge::start(behaviour(|_, _| FakeReply::verdict(true, 0.9))).await;
    let engine = engine_with(judge_config(&fake.base_url), fast_settings());
    let report = score(&engine, RUBRIC_SUITE, &requests(1)).await;
    let scores = assertion_scores(&report);
    assert_eq!(scores.len(), 1);
    let only = scores[0];
    assert_eq!(only.outcome, Outcome::Pass);
    assert_eq!(only.score, Some(0.9));
    assert_eq!(only.evaluator, "judged/polite");
    assert_eq!((only.prompt_tokens, only.completion_tokens), (100, 20));
    // 100 prompt tokens at $1/M plus 20 completion tokens at $4/M.
    assert!((only.cost_usd - 0.00018).abs() < 1e-12, "{}", only.cost_usd);
    assert_eq!(report.judge_calls, 1);
    let suite_row = report
        .scores
        .iter()
        .find(|s| s.evaluator == "judged")
        .unwrap();
    assert_eq!(suite_row.outcome, Outcome::Pass);
    let call = &fake.calls()[0];
    assert_eq!(call.body["temperature"], 0.0);
    assert_eq!(call.body["seed"], 42);
    assert_eq!(call.body["model"], "judge-test");
    assert_eq!(call.body["response_format"]["type"], "json_schema");
    assert!(call.user_message().contains("Is the answer polite?"));
    assert!(call.user_message().contains("answer number 0"));
    assert_eq!(call.authorization, None);
}

#[tokio::test]
async fn a_429_is_retried_after_the_retry_after_the_server_asked_for() {
    let fake = FakeJudge::start(behaviour(|index, _| {
        if index == 0 {
            FakeReply::status(429).header("retry-after", "1")
        } else {
            FakeReply::verdict(true, 1.0)
        }
    }))
    .await;
    let engine = engine_with(judge_config(&fake.base_url), fast_settings());
    let report = score(&engine, RUBRIC_SUITE, &requests(1)).await;
    assert_eq!(assertion_scores(&report)[0].outcome, Outcome::Pass);
    let calls = fake.calls();
    assert_eq!(calls.len(), 2);
    // The client's own backoff is 10 ms; only honouring Retry-After makes the gap a second.
    let gap = calls[1].at.duration_since(calls[0].at);
    assert!(gap >= Duration::from_millis(990), "retried after {gap:?}");
}

#[tokio::test]
async fn server_errors_until_retries_run_out_are_unscorable() {
    let fake = FakeJudge::start(behaviour(|_, _| FakeReply::status(503))).await;
    let engine = engine_with(judge_config(&fake.base_url), fast_settings());
    let report = score(&engine, RUBRIC_SUITE, &requests(1)).await;
    let only = assertion_scores(&report)[0];
    assert_eq!(only.outcome, Outcome::Unscorable);
    assert_eq!(
        only.reason,
        "judge server error http 503 (retries exhausted)"
    );
    // One attempt and two retries.
    assert_eq!(fake.call_count(), 3);
    let suite_row = report
        .scores
        .iter()
        .find(|s| s.evaluator == "judged")
        .unwrap();
    assert_eq!(suite_row.outcome, Outcome::Unscorable);
}

#[tokio::test]
async fn other_client_errors_are_not_retried() {
    let fake = FakeJudge::start(behaviour(|_, _| FakeReply::status(422))).await;
    let engine = engine_with(judge_config(&fake.base_url), fast_settings());
    let report = score(&engine, RUBRIC_SUITE, &requests(1)).await;
    let only = assertion_scores(&report)[0];
    assert_eq!(only.outcome, Outcome::Unscorable);
    assert!(only.reason.contains("http 422"), "{}", only.reason);
    assert_eq!(fake.call_count(), 1);
}

#[tokio::test]
async fn a_judge_slower_than_the_timeout_is_unscorable_after_retries() {
    let fake = FakeJudge::start(behaviour(|_, _| {
        FakeReply::verdict(true, 1.0).delayed(Duration::from_secs(3))
    }))
    .await;
    let settings = JudgeSettings {
        timeout: Duration::from_millis(200),
        max_retries: 1,
        ..fast_settings()
    };
    let engine = engine_with(judge_config(&fake.base_url), settings);
    let report = score(&engine, RUBRIC_SUITE, &requests(1)).await;
    let only = assertion_scores(&report)[0];
    assert_eq!(only.outcome, Outcome::Unscorable);
    assert_eq!(only.reason, "judge timed out (retries exhausted)");
    assert_eq!(fake.call_count(), 2);
}

#[tokio::test]
async fn a_reply_that_is_not_json_is_unscorable_but_json_in_prose_is_read() {
    let fake = FakeJudge::start(behaviour(|_, body| {
        let user = body["messages"][1]["content"].as_str().unwrap_or("");
        if user.contains("answer number 0") {
            FakeReply::content("The answer seems polite enough to me.")
        } else {
            FakeReply::content(
                "Verdict:\n```json\n{\"pass\": false, \"score\": 0.1, \"reason\": \"curt\"}\n```",
            )
        }
    }))
    .await;
    let engine = engine_with(judge_config(&fake.base_url), fast_settings());
    let report = score(&engine, RUBRIC_SUITE, &requests(2)).await;
    let scores = assertion_scores(&report);
    assert_eq!(scores[0].outcome, Outcome::Unscorable);
    assert!(
        scores[0].reason.starts_with("unparseable judge reply: "),
        "{}",
        scores[0].reason
    );
    assert_eq!(scores[1].outcome, Outcome::Fail);
    assert_eq!(scores[1].reason, "curt");
}

#[tokio::test]
async fn a_401_stops_the_judge_for_the_tick_without_further_calls() {
    let fake = FakeJudge::start(behaviour(|_, _| FakeReply::status(401))).await;
    let config = JudgeConfig {
        max_concurrency: 1,
        ..judge_config(&fake.base_url)
    };
    let engine = engine_with(config, fast_settings());
    let report = score(&engine, RUBRIC_SUITE, &requests(5)).await;
    assert_eq!(fake.call_count(), 1, "no call after the 401");
    let scores = assertion_scores(&report);
    assert_eq!(scores.len(), 5);
    for score in scores {
        assert_eq!(score.outcome, Outcome::Unscorable);
        assert_eq!(score.reason, "judge auth failed");
    }
    assert_eq!(report.judges_stopped, vec!["default".to_string()]);
}

#[tokio::test]
async fn a_missing_api_key_variable_stops_the_judge_before_any_call() {
    let fake = FakeJudge::start(behaviour(|_, _| FakeReply::verdict(true, 1.0))).await;
    let config = JudgeConfig {
        api_key_env: Some("EVALGATE_TEST_SURELY_UNSET_JUDGE_KEY".to_string()),
        ..judge_config(&fake.base_url)
    };
    let engine = engine_with(config, fast_settings());
    let report = score(&engine, RUBRIC_SUITE, &requests(3)).await;
    assert_eq!(fake.call_count(), 0);
    assert!(
        assertion_scores(&report)
            .iter()
            .all(|s| s.reason == "judge auth failed")
    );
}

#[tokio::test]
async fn an_exhausted_budget_leaves_the_remaining_judgments_unscorable() {
    let fake = FakeJudge::start(behaviour(|_, _| FakeReply::verdict(true, 1.0))).await;
    let config = JudgeConfig {
        max_concurrency: 1,
        budget_calls: 3,
        ..judge_config(&fake.base_url)
    };
    let engine = engine_with(config, fast_settings());
    let report = score(&engine, RUBRIC_SUITE, &requests(6)).await;
    assert_eq!(fake.call_count(), 3);
    let scores = assertion_scores(&report);
    let passed = scores.iter().filter(|s| s.outcome == Outcome::Pass).count();
    let budget = scores.iter().filter(|s| s.reason == "budget").count();
    assert_eq!((passed, budget), (3, 3));
    assert_eq!(report.judge_calls, 3);
}

#[tokio::test]
async fn a_dollar_budget_stops_spending_once_reached() {
    let fake = FakeJudge::start(behaviour(|_, _| FakeReply::verdict(true, 1.0))).await;
    let config = JudgeConfig {
        max_concurrency: 1,
        // Each call costs $0.00018 (see the first test): two calls reach $0.0003.
        budget_usd: 0.0003,
        ..judge_config(&fake.base_url)
    };
    let engine = engine_with(config, fast_settings());
    let report = score(&engine, RUBRIC_SUITE, &requests(4)).await;
    assert_eq!(fake.call_count(), 2);
    assert_eq!(
        report.unscorable,
        2 + 2,
        "two assertion rows and their suite rows"
    );
}

#[tokio::test]
async fn identical_content_is_judged_once_and_served_from_the_cache_after() {
    let fake = FakeJudge::start(behaviour(|_, _| FakeReply::verdict(true, 0.8))).await;
    let engine = engine_with(judge_config(&fake.base_url), fast_settings());
    let first = score(
        &engine,
        RUBRIC_SUITE,
        &[request("a", Arm::Baseline, "same text")],
    )
    .await;
    let second = score(
        &engine,
        RUBRIC_SUITE,
        &[request("b", Arm::Canary, "same text")],
    )
    .await;
    assert_eq!(fake.call_count(), 1, "the second judgment is a cache hit");
    assert_eq!(second.cache_hits, 1);
    assert_eq!(second.judge_calls, 0);
    let cached = assertion_scores(&second)[0];
    assert_eq!(cached.outcome, assertion_scores(&first)[0].outcome);
    assert_eq!(cached.score, Some(0.8));
    assert_eq!(cached.cost_usd, 0.0, "a cache hit costs nothing");
}

const PAIRWISE_SUITE: &str = "name: judged\nassert:\n  - type: llm-pairwise\n    judge: default\n    \
                              metric: better\n    criteria: Which answer is more helpful?\n";

#[tokio::test]
async fn a_pairwise_judge_that_always_prefers_the_first_position_is_a_tie() {
    let fake = FakeJudge::start(behaviour(|_, _| {
        FakeReply::content(r#"{"winner": "A", "reason": "first is better"}"#)
    }))
    .await;
    let engine = engine_with(judge_config(&fake.base_url), fast_settings());
    let report = score(&engine, PAIRWISE_SUITE, &requests(1)).await;
    assert_eq!(fake.call_count(), 2, "both orders are asked");
    let only = assertion_scores(&report)[0];
    assert_eq!(only.score, Some(0.5));
    assert!(
        only.reason.starts_with("tie: the verdict flipped"),
        "{}",
        only.reason
    );
    assert_eq!((only.prompt_tokens, only.completion_tokens), (200, 40));
    let first_a = fake.calls()[0].user_message();
    let second_a = fake.calls()[1].user_message();
    assert_ne!(
        first_a, second_a,
        "the answers are swapped between the two calls"
    );
}

#[tokio::test]
async fn a_pairwise_judge_that_prefers_the_output_in_both_orders_is_a_win() {
    let fake = FakeJudge::start(behaviour(|_, body| {
        let user = body["messages"][1]["content"].as_str().unwrap_or("");
        let response_a = user.split("<response_a>").nth(1).unwrap_or("");
        let winner = if response_a.trim_start().starts_with("answer number") {
            "A"
        } else {
            "B"
        };
        FakeReply::content(&format!(r#"{{"winner": "{winner}"}}"#))
    }))
    .await;
    let engine = engine_with(judge_config(&fake.base_url), fast_settings());
    let report = score(&engine, PAIRWISE_SUITE, &requests(1)).await;
    let only = assertion_scores(&report)[0];
    assert_eq!(only.outcome, Outcome::Pass);
    assert_eq!(only.score, Some(1.0));
    assert!(
        only.reason.starts_with("output in both orders"),
        "{}",
        only.reason
    );
}

#[tokio::test]
async fn judge_calls_alternate_between_the_arms() {
    let fake = FakeJudge::start(behaviour(|_, _| FakeReply::verdict(true, 1.0))).await;
    let config = JudgeConfig {
        max_concurrency: 1,
        ..judge_config(&fake.base_url)
    };
    let engine = engine_with(config, fast_settings());
    // All baseline rows first in the input; the engine must still alternate.
    let mut rows: Vec<Request> = (0..3)
        .map(|i| {
            request(
                &format!("b{i}"),
                Arm::Baseline,
                &format!("baseline output {i}"),
            )
        })
        .collect();
    rows.extend(
        (0..3).map(|i| request(&format!("c{i}"), Arm::Canary, &format!("canary output {i}"))),
    );
    score(&engine, RUBRIC_SUITE, &rows).await;
    let arms: Vec<&str> = fake
        .calls()
        .iter()
        .map(|call| {
            if call.user_message().contains("baseline output") {
                "baseline"
            } else {
                "canary"
            }
        })
        .collect();
    assert_eq!(
        arms,
        [
            "baseline", "canary", "baseline", "canary", "baseline", "canary"
        ]
    );
}

#[tokio::test]
async fn a_server_that_rejects_structured_output_is_asked_again_with_plain_json() {
    let fake = FakeJudge::start(behaviour(|_, body| {
        if body.get("response_format").is_some() {
            let mut reply = FakeReply::status(400);
            reply.body = serde_json::json!({"error": {"message": "response_format json_schema is not supported", "type": "invalid_request_error"}});
            reply
        } else {
            FakeReply::verdict(true, 1.0)
        }
    }))
    .await;
    let config = JudgeConfig {
        max_concurrency: 1,
        ..judge_config(&fake.base_url)
    };
    let engine = engine_with(config, fast_settings());
    let report = score(&engine, RUBRIC_SUITE, &requests(3)).await;
    assert!(
        assertion_scores(&report)
            .iter()
            .all(|s| s.outcome == Outcome::Pass)
    );
    // One rejected call, then every call (the first retried, the other two) without it.
    assert_eq!(fake.call_count(), 4);
    let with_format = fake
        .calls()
        .iter()
        .filter(|call| call.body.get("response_format").is_some())
        .count();
    assert_eq!(with_format, 1);
}

#[tokio::test]
async fn report_scores_follow_the_input_order_then_the_suite_order() {
    let fake = FakeJudge::start(behaviour(|_, _| FakeReply::verdict(true, 1.0))).await;
    let engine = engine_with(judge_config(&fake.base_url), fast_settings());
    let text = "name: judged\nassert:\n  - type: icontains\n    value: answer\n    metric: a_rule\n  \
                - type: llm-rubric\n    judge: default\n    metric: polite\n    value: Polite?\n  \
                - type: not-icontains\n    value: sorry\n    metric: b_rule\n";
    let rows = requests(4);
    let report = score(&engine, text, &rows).await;
    let order: Vec<(String, String)> = report
        .scores
        .iter()
        .map(|s| (s.request_id.clone(), s.evaluator.clone()))
        .collect();
    let mut expected = Vec::new();
    for row in &rows {
        for evaluator in ["judged/a_rule", "judged/polite", "judged/b_rule", "judged"] {
            expected.push((row.request_id.clone(), evaluator.to_string()));
        }
    }
    assert_eq!(order, expected);
}

#[tokio::test]
async fn an_unreachable_judge_is_unscorable_after_its_retries() {
    // Bind a port, then free it: nothing listens there any more.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let engine = engine_with(
        judge_config(&format!("http://{address}/v1")),
        fast_settings(),
    );
    let report = score(&engine, RUBRIC_SUITE, &requests(1)).await;
    let only = assertion_scores(&report)[0];
    assert_eq!(only.outcome, Outcome::Unscorable);
    assert!(
        only.reason
            .starts_with("judge error: judge connection failed"),
        "{}",
        only.reason
    );
    assert_eq!(report.judge_calls, 3, "one attempt and two retries");
}

#[tokio::test]
async fn the_api_key_is_read_from_the_named_variable_and_sent_as_a_bearer_token() {
    // Tests may not set variables (clippy bans set_var); HOME is set in every test environment.
    let Ok(home) = std::env::var("HOME") else {
        return;
    };
    let fake = FakeJudge::start(behaviour(|_, _| FakeReply::verdict(true, 1.0))).await;
    let config = JudgeConfig {
        api_key_env: Some("HOME".to_string()),
        ..judge_config(&fake.base_url)
    };
    let engine = engine_with(config, fast_settings());
    score(&engine, RUBRIC_SUITE, &requests(1)).await;
    assert_eq!(
        fake.calls()[0].authorization,
        Some(format!("Bearer {home}"))
    );
}
