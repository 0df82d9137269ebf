//! What a judge that answers but does not judge leaves behind (issue 13), against a local
//! server speaking the chat completions protocol: a LiteLLM-style 400 for a wrong key is said
//! once per tick with the server's reason (it used to leave no log line at all), and replies
//! that carry no verdict count as `outcome="unparseable"` on `/metrics` (they counted as `ok`).
#![allow(clippy::unwrap_used)]

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::TimeZone;
use common::fake_judge::{Behaviour, FakeJudge, FakeReply};
use evalgate::adapters::judge_client::{JudgeClient, JudgeSettings};
use evalgate::clock::SystemClock;
use evalgate::config::JudgeConfig;
use evalgate::domain::{Arm, Outcome, Request};
use evalgate::evaluators::load_suite_text;
use evalgate::worker::scoring::{ScoringEngine, ScoringReport};
use serde_json::{Value, json};

const RUBRIC_SUITE: &str = "name: judged\nassert:\n  - type: llm-rubric\n    judge: default\n    \
                            metric: polite\n    value: Is the answer polite?\n";

fn engine(base_url: &str, model: &str) -> ScoringEngine {
    let config = JudgeConfig {
        base_url: base_url.to_string(),
        model: model.to_string(),
        api_key_env: None,
        max_concurrency: 2,
        requests_per_minute: 0,
        ..JudgeConfig::default()
    };
    let settings = JudgeSettings {
        timeout: Duration::from_secs(5),
        max_retries: 1,
        backoff_base: Duration::from_millis(5),
        backoff_max: Duration::from_millis(10),
        max_retry_after: Duration::from_secs(1),
    };
    let client = JudgeClient::with_settings(
        "default",
        config,
        settings,
        evalgate::adapters::http_client::builder().build().unwrap(),
    );
    let clients = BTreeMap::from([("default".to_string(), Arc::new(client))]);
    ScoringEngine::with_clients(None, clients, Arc::new(SystemClock))
}

fn requests(count: usize) -> Vec<Request> {
    (0..count)
        .map(|index| Request {
            ts: chrono::Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
            input: "How do I reset my password?".to_string(),
            output: format!("answer number {index}"),
            ..crate::common::request(
                &format!("r{index}"),
                if index % 2 == 0 {
                    Arm::Baseline
                } else {
                    Arm::Canary
                },
            )
        })
        .collect()
}

async fn score(engine: &ScoringEngine, count: usize) -> ScoringReport {
    let names = BTreeSet::from(["default".to_string()]);
    let suite = load_suite_text(Path::new("judged.yaml"), RUBRIC_SUITE, &names).unwrap();
    engine
        .score(
            &engine.versioned(suite),
            &requests(count),
            &engine.default_budgets(),
        )
        .await
        .unwrap()
}

fn behaviour(reply: impl Fn(usize, &Value) -> FakeReply + Send + Sync + 'static) -> Behaviour {
    Arc::new(reply)
}

/// Log lines written while the guard lives (this thread's subscriber; the test runtime is
/// single-threaded, so every task of the scoring run logs here).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).to_string()
    }
}

// See: issue 13 (a LiteLLM-style 400 "No connected db." made every judgment unscorable with no
// log line at all).
#[tokio::test]
async fn a_non_auth_4xx_is_logged_once_per_tick_with_the_servers_reason() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let fake = FakeJudge::start(behaviour(|_, _| FakeReply {
        status: 400,
        body: json!({"error": {"message": "No connected db.", "type": "auth_error",
                               "param": "None", "code": "400"}}),
        ..FakeReply::status(400)
    }))
    .await;
    let engine = engine(&fake.base_url, "judge-rejects");

    let report = score(&engine, 6).await;
    let judged: Vec<_> = report
        .scores
        .iter()
        .filter(|score| score.evaluator.contains('/'))
        .collect();
    assert_eq!(judged.len(), 6);
    assert!(judged.iter().all(|s| s.outcome == Outcome::Unscorable));
    assert_eq!(fake.call_count(), 6, "a 400 is not retried");
    let logged = captured.text();
    let lines: Vec<&str> = logged
        .lines()
        .filter(|line| line.contains("judge rejected the request"))
        .collect();
    assert_eq!(lines.len(), 1, "once per tick:\n{logged}");
    assert!(lines[0].contains("No connected db."), "{logged}");
    assert!(lines[0].contains("status=400"), "{logged}");
    assert!(lines[0].contains("WARN"), "{logged}");

    // The next tick (another `score` call) says it again, once.
    score(&engine, 2).await;
    let again = captured
        .text()
        .lines()
        .filter(|line| line.contains("judge rejected the request"))
        .count();
    assert_eq!(again, 2, "{}", captured.text());
}

/// The value of `evalgate_judge_requests_total{judge_model=model,outcome=outcome}`, or 0.
fn judge_requests(model: &str, outcome: &str) -> u64 {
    let wanted = format!("judge_model=\"{model}\"");
    let outcome_label = format!("outcome=\"{outcome}\"");
    evalgate::metrics::render()
        .lines()
        .filter(|line| line.starts_with("evalgate_judge_requests_total{"))
        .filter(|line| line.contains(&wanted) && line.contains(&outcome_label))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

// See: issue 13 (unparseable judge replies were counted as outcome="ok").
#[tokio::test]
async fn replies_without_a_verdict_count_as_unparseable_on_metrics() {
    evalgate::metrics::install().unwrap();
    let prose = FakeJudge::start(behaviour(|index, _| match index % 3 {
        0 => FakeReply::content("I think the answer is polite enough."),
        1 => FakeReply::verdict(true, 0.9),
        _ => FakeReply::content(""),
    }))
    .await;
    let report = score(&engine(&prose.base_url, "judge-prose"), 6).await;
    let unscorable = report
        .scores
        .iter()
        .filter(|s| s.evaluator.contains('/') && s.outcome == Outcome::Unscorable)
        .count();
    assert_eq!(unscorable, 4);
    assert_eq!(judge_requests("judge-prose", "unparseable"), 4);
    assert_eq!(judge_requests("judge-prose", "ok"), 2);
}
