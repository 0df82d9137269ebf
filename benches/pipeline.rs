//! The daemon's jobs end to end, run as users run them: the release `evalgate` binary as a child
//! process, timed from spawn to exit, with its peak resident memory (VmHWM, sampled from
//! `/proc/PID/status` every 10 ms; the last reading before exit is the peak).
//!
//! - **tick**: `evalgate tick --at T` with N = 200 per arm, the starter suite `support` plus one
//!   `llm-rubric` judge against a local fake judge answering after 50 ms (concurrency 16). Three
//!   consecutive windows, each a fresh sample (no judge-cache hits).
//! - **rescore**: `evalgate rescore` over 1,000,000 stored requests with the rule suite `support`,
//!   then the same command again (everything is already scored: it must skip it all).
//!
//! Run: `cargo bench --bench pipeline`. Knobs: `EVALGATE_BENCH_RESCORE_ROWS` (1000000; 0 skips),
//! `EVALGATE_BENCH_DIR` (where the SQLite files go; default the system temp dir).

#[path = "../tests/suite/common/fake_judge.rs"]
mod fake_judge;
#[path = "support/peak_rss.rs"]
mod peak_rss;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use chrono::DurationRound;
use evalgate::clock::{Clock, SystemClock};
use fake_judge::{FakeJudge, FakeReply};
use peak_rss::PeakRss;

const JUDGE_LATENCY: Duration = Duration::from_millis(50);
const JUDGE_CONCURRENCY: u32 = 16;
const N_PER_ARM: u32 = 200;

/// What one run of the binary took.
struct Run {
    seconds: f64,
    peak_rss_mib: f64,
    stdout: String,
}

/// Runs `evalgate ARGS` to completion, measuring wall time and peak RSS.
fn measure(base: &[String], args: &[&str]) -> anyhow::Result<Run> {
    let started = Instant::now();
    let mut command = Command::new(env!("CARGO_BIN_EXE_evalgate"));
    // the bench's own knobs are not config overrides of the binary
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("EVALGATE_BENCH_") {
            command.env_remove(name);
        }
    }
    let mut child = command
        .args(base)
        .args(args)
        .env("EVALGATE_LOG", "warn")
        .env("PIPELINE_BENCH_JUDGE_KEY", "sk-bench")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("spawn evalgate")?;
    let peak = PeakRss::watch(child.id());
    let stdout = {
        use std::io::Read as _;
        let mut text = String::new();
        child
            .stdout
            .take()
            .context("child stdout")?
            .read_to_string(&mut text)?;
        text
    };
    let status = child.wait()?;
    let seconds = started.elapsed().as_secs_f64();
    let peak_rss_mib = peak.finish();
    if !status.success() {
        bail!("evalgate {args:?} failed with {status}:\n{stdout}");
    }
    Ok(Run {
        seconds,
        peak_rss_mib,
        stdout,
    })
}

/// The starter suite plus one judge assertion, written to `dir/evals`.
fn write_suites(dir: &Path) -> anyhow::Result<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("evals");
    let evals = dir.join("evals");
    std::fs::create_dir_all(evals.join("schemas"))?;
    let starter = std::fs::read_to_string(root.join("support.yaml"))?;
    std::fs::write(evals.join("support.yaml"), &starter)?;
    std::fs::copy(
        root.join("schemas/support_answer.json"),
        evals.join("schemas/support_answer.json"),
    )?;
    let judged = starter.replacen("name: support\n", "name: support-judge\n", 1)
        + "\n  - type: llm-rubric\n    metric: helpful\n    judge: fake\n    threshold: 0.7\n    \
           rubric: \"Is this answer to {{input}} helpful and on topic? {{output}}\"\n";
    std::fs::write(evals.join("support-judge.yaml"), judged)?;
    Ok(evals)
}

fn write_config(dir: &Path, evals: &Path, judge_url: &str) -> anyhow::Result<PathBuf> {
    let config = dir.join("evalgate.toml");
    std::fs::write(
        &config,
        format!(
            "[evals]\ndir = \"{}\"\n\n[sampling]\nn_per_arm = {N_PER_ARM}\n\n\
             [judges.fake]\nbase_url = \"{judge_url}\"\nmodel = \"fake\"\n\
             api_key_env = \"PIPELINE_BENCH_JUDGE_KEY\"\n\
             max_concurrency = {JUDGE_CONCURRENCY}\nrequests_per_minute = 60000\n\
             tokens_per_minute = 100000000\n",
            evals.display()
        ),
    )?;
    Ok(config)
}

fn bench_dir() -> anyhow::Result<tempfile::TempDir> {
    Ok(match std::env::var_os("EVALGATE_BENCH_DIR") {
        Some(dir) => tempfile::tempdir_in(dir)?,
        None => tempfile::tempdir()?,
    })
}

fn tick_bench(server: &tokio::runtime::Runtime) -> anyhow::Result<()> {
    let judge = server.block_on(FakeJudge::start_with(
        Arc::new(|_, _| FakeReply::verdict(true, 0.9)),
        JUDGE_LATENCY,
        None,
    ));
    let dir = bench_dir()?;
    let evals = write_suites(dir.path())?;
    let config = write_config(dir.path(), &evals, &judge.base_url)?;
    let store = format!("sqlite://{}", dir.path().join("tick.db").display());
    let base = vec![
        "--store".to_string(),
        store,
        "--config".to_string(),
        config.display().to_string(),
    ];
    let start = SystemClock
        .now()
        .duration_trunc(chrono::Duration::minutes(15))?;
    let traffic_from = (start - chrono::Duration::hours(1)).to_rfc3339();
    measure(
        &base,
        &[
            "synth",
            "--seed",
            "7",
            "--duration",
            "2h",
            "--rpm",
            "240",
            "--canary-share",
            "0.5",
            "--start",
            &traffic_from,
            "--rollout-id",
            "bench",
            "--into-store",
        ],
    )?;
    measure(
        &base,
        &[
            "rollout",
            "start",
            "--id",
            "bench",
            "--flag",
            "bench-flag",
            "--baseline",
            "v1",
            "--canary",
            "v2",
            "--suite",
            "support-judge",
        ],
    )?;
    println!(
        "tick: N = {N_PER_ARM} per arm, suite support + 1 llm-rubric, fake judge {} ms, concurrency {JUDGE_CONCURRENCY}",
        JUDGE_LATENCY.as_millis()
    );
    println!(
        "| window | sampled (b, c) | judge calls | scores written | wall s | ideal judge s | peak RSS MiB |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for step in 1..=3 {
        let at = start + chrono::Duration::minutes(15 * step);
        let calls_before = judge.call_count();
        let run = measure(&base, &["tick", "--at", &at.to_rfc3339(), "--json"])?;
        let calls = judge.call_count() - calls_before;
        let report: serde_json::Value = serde_json::from_str(&run.stdout)?;
        let detail = &report["rollouts"][0]["detail"];
        if detail.is_null() {
            bail!("tick at {at} did not run: {}", run.stdout);
        }
        let ideal = calls as f64 * JUDGE_LATENCY.as_secs_f64() / f64::from(JUDGE_CONCURRENCY);
        println!(
            "| {} | {}, {} | {calls} | {} | {:.2} | {ideal:.2} | {:.1} |",
            detail["window_start"].as_str().unwrap_or("?"),
            detail["sampled"][0],
            detail["sampled"][1],
            detail["scores_written"],
            run.seconds,
            run.peak_rss_mib
        );
    }
    Ok(())
}

fn rescore_bench(rows: u64) -> anyhow::Result<()> {
    let dir = bench_dir()?;
    let evals = write_suites(dir.path())?;
    let config = write_config(dir.path(), &evals, "http://127.0.0.1:9/v1")?;
    let store = format!("sqlite://{}", dir.path().join("rescore.db").display());
    let base = vec![
        "--store".to_string(),
        store,
        "--config".to_string(),
        config.display().to_string(),
    ];
    // 2,000 requests a minute: `rows` requests take rows / 2000 minutes of history.
    let minutes = rows.div_ceil(2000);
    let from = chrono::DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z")?.to_utc();
    let to = from + chrono::Duration::minutes(i64::try_from(minutes)? + 1);
    let load = measure(
        &base,
        &[
            "synth",
            "--seed",
            "3",
            "--duration",
            &format!("{minutes}m"),
            "--rpm",
            "2000",
            "--canary-share",
            "0.1",
            "--start",
            &from.to_rfc3339(),
            "--into-store",
        ],
    )?;
    println!(
        "\nrescore: suite support (rules), {rows} stored requests (synth into the store took {:.1} s)",
        load.seconds
    );
    println!("| run | requests | scores written | wall s | requests/s | peak RSS MiB |");
    println!("|---|---:|---:|---:|---:|---:|");
    for label in ["first", "rerun"] {
        let run = measure(
            &base,
            &[
                "rescore",
                "--from",
                &from.to_rfc3339(),
                "--to",
                &to.to_rfc3339(),
                "--suite",
                "support",
            ],
        )?;
        // "rescored N requests: M new scores, K reused; …"
        let summary = run
            .stdout
            .lines()
            .find_map(|line| line.strip_prefix("rescored "))
            .with_context(|| format!("rescore printed: {}", run.stdout))?;
        let numbers: Vec<u64> = summary
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|word| word.parse().ok())
            .collect();
        let (requests, written) = (numbers[0], numbers[1]);
        println!(
            "| {label} | {requests} | {written} | {:.1} | {:.0} | {:.1} |",
            run.seconds,
            requests as f64 / run.seconds,
            run.peak_rss_mib
        );
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    tick_bench(&server)?;
    let rows: u64 = std::env::var("EVALGATE_BENCH_RESCORE_ROWS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(1_000_000);
    if rows > 0 {
        rescore_bench(rows)?;
    }
    Ok(())
}
