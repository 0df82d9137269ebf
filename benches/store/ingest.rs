//! Ingest throughput: a synth JSONL file (requests and their feedback, full content) held in
//! memory, loaded into an empty store through `commands::ingest::ingest_stream`, the code path of
//! `evalgate ingest` (line reader, parser, batched idempotent transactions) with the default
//! `[ingest]` settings. The clock runs from the first line read to the last commit.

use std::time::Instant;

use evalgate::adapters::formats::Format;
use evalgate::commands::ingest::{IngestOptions, ingest_stream};
use evalgate::commands::synth::write_jsonl;
use evalgate::config::IngestConfig;
use evalgate::domain::HumanDuration;
use evalgate::sim::synth::{SynthSpec, SynthStream};

use crate::{Backend, BenchConfig, BenchStore};

/// One line of the ingest table.
pub struct IngestRow {
    backend: Backend,
    lines: u64,
    requests: u64,
    feedback: u64,
    megabytes: f64,
    seconds: f64,
    synth_seconds: f64,
}

/// The JSONL of about `requests` synthetic requests (at 1,000 rpm) and their feedback.
fn synth_file(requests: u64) -> anyhow::Result<(Vec<u8>, u64, u64)> {
    let minutes = (requests as f64 / 1_000.0).ceil().max(1.0) as i64;
    let spec = SynthSpec {
        seed: 2026,
        duration: HumanDuration::from_mins(minutes),
        rpm: 1_000.0,
        canary_share: 0.1,
        rollout_id: Some("bench-ingest".to_string()),
        ..SynthSpec::default()
    };
    let mut bytes = Vec::new();
    let summary = write_jsonl(SynthStream::new(spec)?, &mut bytes)?;
    Ok((bytes, summary.requests, summary.feedback))
}

/// Times one ingest of the synth file into a fresh store on `backend`.
pub async fn bench(config: &BenchConfig, backend: Backend) -> anyhow::Result<IngestRow> {
    let synth_started = Instant::now();
    let (bytes, requests, feedback) = synth_file(config.ingest_rows)?;
    let synth_seconds = synth_started.elapsed().as_secs_f64();
    eprintln!(
        "{}: ingesting {requests} requests + {feedback} feedback rows ({:.0} MB)",
        backend.name(),
        bytes.len() as f64 / 1e6
    );
    let bench_store = BenchStore::create(config, backend, "ingest").await?;
    let defaults = IngestConfig::default();
    let rejects = tempfile::tempdir()?;
    let options = IngestOptions {
        batch_size: defaults.batch_size,
        max_field_bytes: defaults.max_field_bytes,
        max_line_bytes: defaults.max_line_bytes,
        rejects_path: rejects.path().join("rejects.jsonl"),
        format_opt: Some(Format::Evalgate),
    };
    let progress = indicatif::ProgressBar::hidden();
    let started = Instant::now();
    let summary = ingest_stream(&bench_store.store, bytes.as_slice(), &options, &progress).await?;
    let seconds = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        summary.rejected == 0,
        "{} synth lines were rejected",
        summary.rejected
    );
    anyhow::ensure!(
        summary.requests.inserted == requests && summary.feedback.inserted == feedback,
        "ingest inserted {:?} / {:?}, expected {requests} / {feedback}",
        summary.requests,
        summary.feedback
    );
    bench_store.remove().await?;
    Ok(IngestRow {
        backend,
        lines: summary.read,
        requests,
        feedback,
        megabytes: bytes.len() as f64 / 1e6,
        seconds,
        synth_seconds,
    })
}

/// Prints the ingest table (markdown).
pub fn print_table(rows: &[IngestRow]) {
    println!(
        "ingest: synth JSONL through ingest_stream (evalgate ingest), batch_size = {}",
        IngestConfig::default().batch_size
    );
    println!(
        "| backend | lines | requests | feedback | MB | seconds | rows/s (all lines) | requests/s | synth writes (lines/s) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        println!(
            "| {} | {} | {} | {} | {:.0} | {:.2} | {:.0} | {:.0} | {:.0} |",
            row.backend.name(),
            row.lines,
            row.requests,
            row.feedback,
            row.megabytes,
            row.seconds,
            row.lines as f64 / row.seconds,
            row.requests as f64 / row.seconds,
            row.lines as f64 / row.synth_seconds
        );
    }
}
