//! Rule scoring throughput: responses/s for the standard mix (icontains, not-icontains, regex,
//! is-json with a schema, a length bound, not-is-refusal) on ~2 KB responses, on a rayon pool
//! of 1 and of 2 threads.
//!
//! Run: `cargo bench --bench rules` (optional args: responses per round, rounds).
//!
//! `cargo bench --bench rules -- agreement 20000` compares evalgate's verdicts with promptfoo's
//! semantics run on node (see `support/agreement.rs`).
//!
//! `cargo bench --bench rules -- mix 100000 1000000` instead runs the nine-assertion mix of
//! issue 14 (see `support/mix_rows.rs`) through the whole `evalgate evals run` process, once
//! per row count: rows are generated into a temporary JSONL file first, then the binary is
//! timed with `--format jsonl` (output to /dev/null) and its peak RSS sampled from /proc.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[path = "support/agreement.rs"]
mod agreement;
#[path = "support/mix_rows.rs"]
mod mix_rows;
#[path = "support/peak_rss.rs"]
mod peak_rss;

use std::io::Write as _;
use std::process::{Command, Stdio};

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

/// Generates `count` mix rows, runs `evals run` over them and prints rows/s and peak RSS.
fn run_mix(dir: &Path, count: usize) {
    let input = dir.join(format!("rows-{count}.jsonl"));
    let file = std::fs::File::create(&input).expect("create the rows file");
    let mut writer = std::io::BufWriter::with_capacity(1 << 20, file);
    let bytes = mix_rows::write_rows(&mut writer, count, 7).expect("write rows");
    writer.flush().expect("flush rows");
    drop(writer);
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_evalgate"))
        .arg("--config")
        .arg(dir.join("evalgate.toml"))
        .args([
            "evals", "run", "--suite", "mix", "--format", "jsonl", "--input",
        ])
        .arg(&input)
        .arg("--dir")
        .arg(dir)
        .env("RUST_LOG", "off")
        .stdout(Stdio::null())
        .spawn()
        .expect("start evalgate");
    let peak = peak_rss::PeakRss::watch(child.id());
    let status = child.wait().expect("wait for evalgate");
    let seconds = started.elapsed().as_secs_f64();
    let peak_mib = peak.finish();
    println!(
        "mix: {count} rows, {:.0} MB input ({} B/row): {seconds:.2} s, {:.0} rows/s, max RSS {peak_mib:.1} MiB, exit {:?}",
        bytes as f64 / 1e6,
        bytes / count.max(1) as u64,
        count as f64 / seconds,
        status.code()
    );
    let _ = std::fs::remove_file(&input);
}

/// Pass counts per assertion on a small sample, so the mix is known to exercise both sides.
fn describe_mix() {
    let suite = load_suite_text(Path::new("mix.yaml"), mix_rows::MIX_SUITE, &BTreeSet::new())
        .expect("the mix suite loads");
    let mut rows = Vec::new();
    mix_rows::write_rows(&mut rows, 2_000, 7).expect("write rows");
    let limits = evalgate::adapters::jsonl::ParseLimits {
        max_field_bytes: 1 << 20,
    };
    let mut passes = vec![0usize; suite.assertions.len()];
    let mut total = 0;
    for line in rows
        .split(|byte| *byte == b'\n')
        .filter(|line| !line.is_empty())
    {
        let Ok(evalgate::adapters::jsonl::Record::Request(request)) =
            evalgate::adapters::jsonl::parse_line(line, &limits)
        else {
            panic!("a generated row does not parse");
        };
        total += 1;
        for (index, assertion) in suite.assertions.iter().enumerate() {
            if assertion
                .evaluate_rule(&request)
                .map(|result| result.outcome)
                == Some(Outcome::Pass)
            {
                passes[index] += 1;
            }
        }
    }
    let mean = rows.len() / total.max(1);
    println!("mix: {total} sample rows of {mean} B on average; passes per assertion:");
    for (assertion, count) in suite.assertions.iter().zip(passes) {
        println!("  {:<16} {count}", assertion.type_name);
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with('-'))
        .collect();
    if args.first().map(String::as_str) == Some("agreement") {
        let count = args
            .get(1)
            .and_then(|arg| arg.parse().ok())
            .unwrap_or(20_000);
        agreement::run(count);
        return;
    }
    if args.first().map(String::as_str) == Some("mix-write") {
        // `mix-write N DIR`: the suite, an empty config and N rows in DIR, kept for profiling
        // (`perf record evalgate --config DIR/evalgate.toml evals run --suite mix --dir DIR …`).
        let count: usize = args
            .get(1)
            .and_then(|arg| arg.parse().ok())
            .unwrap_or(100_000);
        let dir = PathBuf::from(args.get(2).map_or("mix-rows", String::as_str));
        std::fs::create_dir_all(&dir).expect("create the directory");
        std::fs::write(dir.join("mix.yaml"), mix_rows::MIX_SUITE).expect("write suite");
        std::fs::write(dir.join("evalgate.toml"), "").expect("write config");
        let file = std::fs::File::create(dir.join("rows.jsonl")).expect("create the rows file");
        let mut writer = std::io::BufWriter::with_capacity(1 << 20, file);
        let bytes = mix_rows::write_rows(&mut writer, count, 7).expect("write rows");
        writer.flush().expect("flush rows");
        println!(
            "mix-write: {count} rows, {bytes} bytes in {}",
            dir.join("rows.jsonl").display()
        );
        return;
    }
    if args.first().map(String::as_str) == Some("mix") {
        let dir = tempfile::tempdir().expect("a temporary directory");
        std::fs::write(dir.path().join("mix.yaml"), mix_rows::MIX_SUITE).expect("write suite");
        std::fs::write(dir.path().join("evalgate.toml"), "").expect("write config");
        describe_mix();
        let counts: Vec<usize> = args[1..]
            .iter()
            .filter_map(|arg| arg.parse().ok())
            .collect();
        for count in if counts.is_empty() {
            vec![100_000]
        } else {
            counts
        } {
            run_mix(dir.path(), count);
        }
        return;
    }
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
