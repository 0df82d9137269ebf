//! Rule scoring throughput: responses/s for the standard mix (icontains, not-icontains, regex,
//! is-json with a schema, a length bound, not-is-refusal) on ~2 KB responses, on a rayon pool
//! of 1 and of 2 threads.
//!
//! Run: `cargo bench --bench rules` (optional args: responses per round, rounds).

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Instant;

use chrono::TimeZone;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use evalgate::domain::{Arm, Outcome, Request, RequestStatus};
use evalgate::evaluators::{Suite, load_suite_text};

const SUITE: &str = r#"
name: bench
assert:
  - type: icontains
    value: order
  - type: not-icontains
    value: lawsuit
  - type: regex
    value: "\\b[A-Z]-\\d{5}\\b"
  - type: is-json
    schema:
      type: object
      required: [order_id, status, answer]
      properties:
        order_id: {type: string, pattern: "^[A-Z]-[0-9]{5}$"}
        status: {enum: [processing, shipped, delivered, refunded, cancelled]}
        answer: {type: string, minLength: 1}
  - type: char-length
    value: {max: 2500}
  - type: not-is-refusal
"#;

const WORDS: &[&str] = &[
    "your",
    "order",
    "has",
    "shipped",
    "and",
    "should",
    "arrive",
    "within",
    "three",
    "business",
    "days",
    "tracking",
    "number",
    "is",
    "available",
    "in",
    "account",
    "thanks",
    "for",
    "waiting",
    "we",
    "apologise",
    "delay",
    "carrier",
    "warehouse",
    "refund",
    "processed",
    "Friday",
    "été",
];

/// ~2 KB responses: mostly healthy JSON answers, some prose and refusals.
fn responses(count: usize, seed: u64) -> Vec<Request> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let statuses = [
        "processing",
        "shipped",
        "delivered",
        "refunded",
        "cancelled",
    ];
    (0..count)
        .map(|index| {
            let mut answer = String::new();
            while answer.len() < 1_900 {
                answer.push_str(WORDS[rng.random_range(0..WORDS.len())]);
                answer.push(' ');
            }
            let order = format!("A-{:05}", rng.random_range(0..100_000));
            let output = match index % 10 {
                8 => format!("Your order {order} is delayed. {answer}"),
                9 => format!("I'm sorry, but I can't help with that request. {answer}"),
                _ => serde_json::json!({
                    "order_id": order,
                    "status": statuses[index % statuses.len()],
                    "answer": answer.trim_end(),
                })
                .to_string(),
            };
            Request {
                request_id: format!("r{index}"),
                ts: chrono::Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
                tenant_id: format!("t{}", index % 50),
                arm: if index % 2 == 0 {
                    Arm::Baseline
                } else {
                    Arm::Canary
                },
                model: "support-bot@v2".to_string(),
                rollout_id: None,
                input: "[]".to_string(),
                output,
                reference: Some(order),
                status: RequestStatus::Ok,
                error: None,
                latency_ms: Some(800.0),
                ttft_ms: None,
                prompt_tokens: Some(100),
                completion_tokens: Some(400),
                cost_usd: Some(0.001),
                metadata: serde_json::Value::Null,
            }
        })
        .collect()
}

/// Scores every response with every assertion; returns the number of passes (kept so the
/// work cannot be optimised away).
fn score_all(suite: &Suite, requests: &[Request]) -> usize {
    requests
        .par_iter()
        .map(|request| {
            suite
                .assertions
                .iter()
                .filter_map(|assertion| assertion.evaluate_rule(request))
                .filter(|result| result.outcome == Outcome::Pass)
                .count()
        })
        .sum()
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with('-'))
        .collect();
    let count: usize = args
        .first()
        .and_then(|arg| arg.parse().ok())
        .unwrap_or(20_000);
    let rounds: usize = args.get(1).and_then(|arg| arg.parse().ok()).unwrap_or(5);
    let suite = load_suite_text(Path::new("bench.yaml"), SUITE, &BTreeSet::new())
        .expect("the bench suite loads");
    let requests = responses(count, 7);
    let mean_bytes = requests
        .iter()
        .map(|request| request.output.len())
        .sum::<usize>()
        / requests.len();
    println!(
        "rule throughput: {} assertions per response, {count} responses of {mean_bytes} bytes on average, {rounds} rounds",
        suite.assertions.len()
    );
    // Where the time goes: each assertion alone, one thread, µs per response.
    let single = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a rayon pool");
    for (index, assertion) in suite.assertions.iter().enumerate() {
        let started = Instant::now();
        let passes = single.install(|| {
            requests
                .par_iter()
                .filter_map(|request| assertion.evaluate_rule(request))
                .filter(|result| result.outcome == Outcome::Pass)
                .count()
        });
        let micros = started.elapsed().as_secs_f64() * 1e6 / count as f64;
        println!(
            "  assertion {index} ({}): {micros:.2} µs per response ({passes} passes)",
            assertion.type_name
        );
    }
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("a rayon pool");
        let passes = pool.install(|| score_all(&suite, &requests)); // warm-up
        let mut rates: Vec<f64> = (0..rounds)
            .map(|_| {
                let started = Instant::now();
                let again = pool.install(|| score_all(&suite, &requests));
                let elapsed = started.elapsed().as_secs_f64();
                assert_eq!(again, passes);
                count as f64 / elapsed
            })
            .collect();
        rates.sort_by(f64::total_cmp);
        let median = rates[rates.len() / 2];
        let best = rates[rates.len() - 1];
        println!(
            "threads={threads}: median {median:.0} responses/s, best {best:.0} responses/s, worst {:.0} ({} assertion passes per round)",
            rates[0], passes
        );
    }
}
