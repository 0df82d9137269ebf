//! Ingest throughput over HTTP push against file ingest, whole process, same rows: LiteLLM
//! `StandardLoggingPayload` bodies (the real capture in
//! `fixtures/formats/litellm/captured-1.108.7-hook-json_array.json`, ~5 KB each, given unique
//! ids, tenants, arms and times).
//!
//! - **file**: `evalgate ingest rows.jsonl --format litellm` into an empty SQLite store, timed
//!   from spawn to exit, with the process's peak RSS.
//! - **push**: the release `evalgate serve` (empty SQLite store), sent the same rows as LiteLLM's
//!   generic API logger sends them (`ndjson`, batches of 100, `POST /v1/ingest?format=litellm`)
//!   from `EVALGATE_BENCH_PUSH_SENDERS` concurrent senders (4), timed from the first POST to the
//!   last answer; the serve process's peak RSS; every row must be reported inserted.
//!
//! Run: `cargo bench --bench push`. Knobs: `EVALGATE_BENCH_PUSH_ROWS` (50000),
//! `EVALGATE_BENCH_PUSH_BATCH` (100), `EVALGATE_BENCH_PUSH_SENDERS` (4), `EVALGATE_BENCH_DIR`.

#[path = "support/peak_rss.rs"]
mod peak_rss;

use std::io::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use peak_rss::PeakRss;
use serde_json::Value;

const TOKEN: &str = "bench-ingest-token";

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn bench_dir() -> anyhow::Result<tempfile::TempDir> {
    Ok(match std::env::var_os("EVALGATE_BENCH_DIR") {
        Some(dir) => tempfile::tempdir_in(dir)?,
        None => tempfile::tempdir()?,
    })
}

/// `count` payloads made from the captured one, one JSON text each.
fn payloads(count: usize) -> anyhow::Result<Vec<String>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/formats/litellm/captured-1.108.7-hook-json_array.json");
    let captured: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
    let template = captured.first().context("the capture holds no payload")?;
    let start = 1_796_300_000.0_f64;
    let mut rows = Vec::with_capacity(count);
    for index in 0..count {
        let mut row = template.clone();
        let arm = if index % 2 == 0 { "baseline" } else { "canary" };
        let model = if arm == "baseline" {
            "support-bot@v41"
        } else {
            "support-bot@v42"
        };
        let tenant = format!("tenant-{:05}", index % 5000);
        let at = start + index as f64 * 0.05;
        row["id"] = Value::from(format!("chatcmpl-bench-{index:08}"));
        row["litellm_call_id"] = Value::from(format!("call-bench-{index:08}"));
        row["startTime"] = Value::from(at);
        row["endTime"] = Value::from(at + 0.8);
        row["completionStartTime"] = Value::from(at + 0.3);
        row["model_group"] = Value::from(model);
        row["end_user"] = Value::from(tenant.clone());
        if let Some(meta) = row["metadata"]["requester_metadata"].as_object_mut() {
            meta.insert("evalgate_arm".into(), Value::from(arm));
            meta.insert("evalgate_tenant".into(), Value::from(tenant));
        }
        rows.push(serde_json::to_string(&row)?);
    }
    Ok(rows)
}

fn evalgate(store: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_evalgate"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("EVALGATE_") {
            command.env_remove(name);
        }
    }
    command.args(["--store", store]).env("EVALGATE_LOG", "warn");
    command
}

struct Measured {
    seconds: f64,
    peak_rss_mib: f64,
}

fn file_ingest(dir: &Path, rows: &[String]) -> anyhow::Result<Measured> {
    let file = dir.join("rows.jsonl");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&file)?);
    for row in rows {
        out.write_all(row.as_bytes())?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    drop(out);
    let store = format!("sqlite://{}", dir.join("file.db").display());
    let status = evalgate(&store).arg("migrate").status()?;
    if !status.success() {
        bail!("migrate failed");
    }
    let started = Instant::now();
    let mut child = evalgate(&store)
        .args([
            "ingest",
            &file.display().to_string(),
            "--format",
            "litellm",
            "--json",
        ])
        .stdout(Stdio::piped())
        .spawn()?;
    let peak = PeakRss::watch(child.id());
    let output = {
        use std::io::Read as _;
        let mut text = String::new();
        child
            .stdout
            .take()
            .context("stdout")?
            .read_to_string(&mut text)?;
        text
    };
    let status = child.wait()?;
    let seconds = started.elapsed().as_secs_f64();
    let peak_rss_mib = peak.finish();
    let summary: Value =
        serde_json::from_str(output.trim()).with_context(|| format!("ingest summary: {output}"))?;
    if !status.success() || summary["inserted"].as_u64() != Some(rows.len() as u64) {
        bail!("file ingest did not insert every row ({status}): {summary}");
    }
    Ok(Measured {
        seconds,
        peak_rss_mib,
    })
}

struct Serve {
    child: Child,
    base: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_serve(dir: &Path) -> anyhow::Result<Serve> {
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let store = format!("sqlite://{}", dir.join("push.db").display());
    let bind = format!("127.0.0.1:{port}");
    let child = evalgate(&store)
        .args(["serve", "--bind", &bind])
        .env("EVALGATE_INGEST_TOKEN", TOKEN)
        .stdout(Stdio::null())
        .spawn()?;
    let serve = Serve {
        child,
        base: format!("http://{bind}"),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(&bind).is_ok() {
            return Ok(serve);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("serve did not listen on {bind}")
}

fn push_ingest(
    dir: &Path,
    rows: &[String],
    batch: usize,
    senders: usize,
) -> anyhow::Result<Measured> {
    let serve = start_serve(dir)?;
    let peak = PeakRss::watch(serve.child.id());
    let bodies: Vec<String> = rows.chunks(batch).map(|chunk| chunk.join("\n")).collect();
    let bodies = Arc::new(bodies);
    let next = Arc::new(AtomicU64::new(0));
    let inserted = Arc::new(AtomicU64::new(0));
    let url = format!("{}/v1/ingest?format=litellm", serve.base);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let started = Instant::now();
    runtime.block_on(async {
        let client = evalgate::adapters::http_client::builder().build().unwrap();
        let mut tasks = Vec::new();
        for _ in 0..senders {
            let (client, bodies, next, inserted, url) = (
                client.clone(),
                bodies.clone(),
                next.clone(),
                inserted.clone(),
                url.clone(),
            );
            tasks.push(tokio::spawn(async move {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed) as usize;
                    let Some(body) = bodies.get(index) else {
                        return anyhow::Ok(());
                    };
                    let response = client
                        .post(&url)
                        .bearer_auth(TOKEN)
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await?;
                    let status = response.status();
                    let summary: Value = response.json().await?;
                    if !status.is_success() {
                        bail!("push answered {status}: {summary}");
                    }
                    inserted
                        .fetch_add(summary["inserted"].as_u64().unwrap_or(0), Ordering::Relaxed);
                }
            }));
        }
        for task in tasks {
            task.await??;
        }
        anyhow::Ok(())
    })?;
    let seconds = started.elapsed().as_secs_f64();
    drop(serve);
    let peak_rss_mib = peak.finish();
    let got = inserted.load(Ordering::Relaxed);
    if got != rows.len() as u64 {
        bail!("push inserted {got} of {} rows", rows.len());
    }
    Ok(Measured {
        seconds,
        peak_rss_mib,
    })
}

fn main() -> anyhow::Result<()> {
    let count = knob("EVALGATE_BENCH_PUSH_ROWS", 50_000);
    let batch = knob("EVALGATE_BENCH_PUSH_BATCH", 100).max(1);
    let senders = knob("EVALGATE_BENCH_PUSH_SENDERS", 4).max(1);
    let rows = payloads(count)?;
    let bytes: usize = rows.iter().map(|row| row.len() + 1).sum();
    let dir = bench_dir()?;
    let dir_path: PathBuf = dir.path().to_path_buf();
    println!(
        "LiteLLM StandardLoggingPayload rows: {count} ({:.1} MB, {:.1} KB each); SQLite store",
        bytes as f64 / 1e6,
        bytes as f64 / count as f64 / 1e3
    );
    let file = file_ingest(&dir_path, &rows)?;
    let push = push_ingest(&dir_path, &rows, batch, senders)?;
    println!("| path | rows | seconds | rows/s | MB/s | peak RSS MiB |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, run) in [
        (
            "file: `evalgate ingest --format litellm`".to_string(),
            &file,
        ),
        (
            format!("push: `POST /v1/ingest?format=litellm`, ndjson × {batch}, {senders} senders"),
            &push,
        ),
    ] {
        println!(
            "| {name} | {count} | {:.2} | {:.0} | {:.1} | {:.0} |",
            run.seconds,
            count as f64 / run.seconds,
            bytes as f64 / 1e6 / run.seconds,
            run.peak_rss_mib
        );
    }
    println!("push / file throughput: {:.2}", file.seconds / push.seconds);
    Ok(())
}
