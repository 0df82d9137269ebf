//! Judge pipeline throughput: `llm-rubric` judgments per second through the real scoring engine
//! and judge client against a local fake judge that answers after 50 ms and enforces its own
//! rate limit (counting the 429s it sends). Each scenario reports the throughput as a fraction
//! of the ideal min(concurrency / latency, client rate limit) and the server's 429 count.
//!
//! Run: `cargo bench --bench judge` (optional arg: judgments per scenario, default 800).

#[path = "../tests/suite/common/fake_judge.rs"]
mod fake_judge;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::TimeZone;
use evalgate::adapters::judge_client::{JudgeClient, JudgeSettings};
use evalgate::clock::SystemClock;
use evalgate::config::JudgeConfig;
use evalgate::domain::{Arm, Outcome, Request, RequestStatus};
use evalgate::evaluators::load_suite_text;
use evalgate::worker::scoring::ScoringEngine;
use fake_judge::{FakeJudge, FakeReply};
use tokio::time::Instant;

const SUITE: &str = "name: bench\nassert:\n  - type: llm-rubric\n    judge: default\n    \
                     value: Is the answer polite and on topic?\n";

const LATENCY: Duration = Duration::from_millis(50);

struct Scenario {
    name: &'static str,
    concurrency: u32,
    client_rpm: u32,
    server_per_second: usize,
}

fn requests(count: usize, tag: &str) -> Vec<Request> {
    (0..count)
        .map(|i| Request {
            request_id: format!("{tag}-{i}"),
            ts: chrono::Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
            tenant_id: format!("t{}", i % 50),
            arm: if i % 2 == 0 {
                Arm::Baseline
            } else {
                Arm::Canary
            },
            model: "bot@v1".to_string(),
            rollout_id: None,
            input: "Where is my order A-12345?".to_string(),
            output: format!("{tag}: order A-12345 shipped on day {i}; anything else I can do?"),
            reference: None,
            status: RequestStatus::Ok,
            error: None,
            latency_ms: None,
            ttft_ms: None,
            prompt_tokens: None,
            completion_tokens: None,
            cost_usd: None,
            metadata: serde_json::Value::Null,
        })
        .collect()
}

/// Runs one scenario; the fake judge lives on its own runtime (`server`), as a remote judge
/// would, so its work is not scheduled on the client's worker threads.
async fn run(server: &tokio::runtime::Runtime, scenario: &Scenario, count: usize) {
    let limit = (scenario.server_per_second, Duration::from_secs(1));
    let fake = server
        .spawn(async move {
            FakeJudge::start_with(
                Arc::new(|_, _| FakeReply::verdict(true, 0.9)),
                LATENCY,
                Some(limit),
            )
            .await
        })
        .await
        .expect("fake judge starts");
    let config = JudgeConfig {
        base_url: fake.base_url.clone(),
        model: "judge-bench".to_string(),
        api_key_env: None,
        max_concurrency: scenario.concurrency,
        requests_per_minute: scenario.client_rpm,
        ..JudgeConfig::default()
    };
    let settings = JudgeSettings {
        timeout: Duration::from_secs(10),
        max_retries: 4,
        backoff_base: Duration::from_millis(100),
        backoff_max: Duration::from_secs(2),
        max_retry_after: Duration::from_secs(10),
    };
    let client = JudgeClient::with_settings(
        "default",
        config,
        settings,
        evalgate::adapters::http_client::builder().build().unwrap(),
    );
    let clients = BTreeMap::from([("default".to_string(), Arc::new(client))]);
    let engine = ScoringEngine::with_clients(None, clients, Arc::new(SystemClock));
    let names = BTreeSet::from(["default".to_string()]);
    let suite =
        engine.versioned(load_suite_text(Path::new("bench.yaml"), SUITE, &names).expect("suite"));
    let rows = requests(count, scenario.name);

    let started = Instant::now();
    let report = engine
        .score(&suite, &rows, &engine.default_budgets())
        .await
        .expect("scoring");
    let elapsed = started.elapsed().as_secs_f64();

    let passed = report
        .scores
        .iter()
        .filter(|s| s.evaluator.starts_with("bench/") && s.outcome == Outcome::Pass)
        .count();
    let throughput = count as f64 / elapsed;
    let concurrency_bound = f64::from(scenario.concurrency) / LATENCY.as_secs_f64();
    let rate_bound = if scenario.client_rpm == 0 {
        f64::INFINITY
    } else {
        f64::from(scenario.client_rpm) / 60.0
    };
    let ideal = concurrency_bound.min(rate_bound);
    println!(
        "{:<26} conc {:>3}  client {:>5}/min  server {:>4}/s  {:>5} judgments in {:>6.2} s  \
         {:>7.1}/s  ideal {:>6.1}/s  {:>5.1}%  pass {:>5}  calls {:>5}  server 429s {}",
        scenario.name,
        scenario.concurrency,
        scenario.client_rpm,
        scenario.server_per_second,
        count,
        elapsed,
        throughput,
        ideal,
        100.0 * throughput / ideal,
        passed,
        report.judge_calls,
        fake.rate_limited(),
    );
}

fn main() {
    let count: usize = std::env::args()
        .skip(1)
        .find_map(|arg| arg.parse().ok())
        .unwrap_or(800);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let scenarios = [
        Scenario {
            name: "concurrency-bound",
            concurrency: 8,
            client_rpm: 0,
            server_per_second: 10_000,
        },
        Scenario {
            name: "concurrency-bound-32",
            concurrency: 32,
            client_rpm: 0,
            server_per_second: 10_000,
        },
        Scenario {
            name: "rate-bound",
            concurrency: 32,
            client_rpm: 6_000,
            server_per_second: 120,
        },
        Scenario {
            name: "rate-bound-5%-below-server",
            concurrency: 64,
            client_rpm: 6_840,
            server_per_second: 120,
        },
        Scenario {
            name: "client-above-server-limit",
            concurrency: 64,
            client_rpm: 9_000,
            server_per_second: 100,
        },
    ];
    println!(
        "judge pipeline: fake judge latency {} ms",
        LATENCY.as_millis()
    );
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("server runtime");
    runtime.block_on(async {
        for scenario in &scenarios {
            run(&server, scenario, count).await;
        }
    });
}
