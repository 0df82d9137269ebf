//! `evalgate synth`: turns the flags into a [`SynthSpec`], runs the pure generator and writes
//! its events as JSONL (the format `evalgate ingest` reads) to a file or stdout, or inserts them
//! straight into the store in batches.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use serde::Serialize;

use crate::adapters::jsonl;
use crate::adapters::store::{InsertReport, Store};
use crate::cli::SynthArgs;
use crate::clock::parse_time;
use crate::commands::CmdResult;
use crate::context::Context;
use crate::domain::{Arm, FeedbackEvent, HumanDuration, Request, Timestamp};
use crate::sim::synth::{Regression, SynthEvent, SynthSpec, SynthStream};

/// What one `synth` run produced.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SynthSummary {
    /// Requests generated.
    pub requests: u64,
    /// Of which served by the baseline.
    pub baseline: u64,
    /// Of which served by the canary.
    pub canary: u64,
    /// Feedback events generated.
    pub feedback: u64,
    /// Time of the first request.
    pub first_ts: Option<Timestamp>,
    /// Time of the last request.
    pub last_ts: Option<Timestamp>,
}

impl SynthSummary {
    /// Counts one event.
    pub fn record(&mut self, event: &SynthEvent) {
        match event {
            SynthEvent::Request(request) => {
                self.requests += 1;
                match request.arm {
                    Arm::Baseline => self.baseline += 1,
                    Arm::Canary => self.canary += 1,
                }
                self.first_ts.get_or_insert(request.ts);
                self.last_ts = Some(request.ts);
            }
            SynthEvent::Feedback(_) => self.feedback += 1,
        }
    }
}

/// Builds the generator spec from the command-line flags (defaults for everything else).
pub fn spec_from_args(args: &SynthArgs) -> anyhow::Result<SynthSpec> {
    let defaults = SynthSpec::default();
    let duration =
        HumanDuration::parse(&args.duration).map_err(|err| anyhow::anyhow!("--duration: {err}"))?;
    let start = match &args.start {
        Some(text) => parse_time("--start", text)?,
        None => defaults.start,
    };
    let regression = match &args.regression_at {
        Some(text) => Some(Regression::new(
            parse_regression_at(text, start)?,
            args.regression_factor,
        )),
        None => None,
    };
    let spec = SynthSpec {
        seed: args.seed,
        start,
        duration,
        rpm: args.rpm,
        canary_share: args.canary_share,
        tenants: args.tenants,
        rollout_id: args.rollout_id.clone(),
        regression,
        ..defaults
    };
    spec.validate()?;
    Ok(spec)
}

/// `--regression-at`: an RFC 3339 time, or an offset from the start such as `2h`.
fn parse_regression_at(text: &str, start: Timestamp) -> anyhow::Result<Timestamp> {
    if let Ok(offset) = HumanDuration::parse(text) {
        return Ok(start + offset.to_chrono());
    }
    parse_time("--regression-at", text)
        .context("--regression-at takes an RFC 3339 time or an offset from --start like 2h")
}

/// Writes every event of `stream` as one JSONL line in the ingest format
/// (`adapters::jsonl::{request_line, feedback_line}`); returns what was written.
pub fn write_jsonl<W: Write>(stream: SynthStream, writer: W) -> anyhow::Result<SynthSummary> {
    let mut out = BufWriter::with_capacity(1 << 18, writer);
    let mut summary = SynthSummary::default();
    for event in stream {
        summary.record(&event);
        let line = match &event {
            SynthEvent::Request(request) => jsonl::request_line(request),
            SynthEvent::Feedback(feedback) => jsonl::feedback_line(feedback),
        };
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(summary)
}

fn write_to(spec: SynthSpec, out_opt: Option<PathBuf>) -> anyhow::Result<SynthSummary> {
    let stream = SynthStream::new(spec)?;
    match out_opt {
        Some(path) if path != Path::new("-") => {
            let file = std::fs::File::create(&path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            write_jsonl(stream, file).with_context(|| format!("cannot write {}", path.display()))
        }
        _ => write_jsonl(stream, std::io::stdout().lock()),
    }
}

fn describe(summary: &SynthSummary, target: &str) -> String {
    format!(
        "synth: {} requests (baseline {}, canary {}) and {} feedback events → {target}",
        summary.requests, summary.baseline, summary.canary, summary.feedback
    )
}

/// What `synth --into-store` wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StoreSummary {
    /// What was generated.
    pub generated: SynthSummary,
    /// Request rows inserted and skipped as duplicates.
    pub requests: InsertReport,
    /// Feedback rows inserted and skipped as duplicates.
    pub feedback: InsertReport,
}

/// One batch on its way from the generator thread to the store.
#[derive(Default)]
struct Batch {
    requests: Vec<Request>,
    feedback: Vec<FeedbackEvent>,
}

/// Generates `spec`'s events on a blocking thread and inserts them in batches of `batch_size`
/// requests (one transaction each) while the next batch is being generated.
pub async fn insert_into_store(
    store: &Store,
    spec: SynthSpec,
    batch_size: usize,
) -> anyhow::Result<StoreSummary> {
    let stream = SynthStream::new(spec)?;
    let batch_size = batch_size.max(1);
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Batch>(2);
    let producer = tokio::task::spawn_blocking(move || -> anyhow::Result<SynthSummary> {
        let mut summary = SynthSummary::default();
        let mut batch = Batch::default();
        for event in stream {
            summary.record(&event);
            match event {
                SynthEvent::Request(request) => batch.requests.push(request),
                SynthEvent::Feedback(feedback) => batch.feedback.push(feedback),
            }
            if batch.requests.len() >= batch_size || batch.feedback.len() >= batch_size {
                sender
                    .blocking_send(std::mem::take(&mut batch))
                    .map_err(|_| anyhow::anyhow!("the store writer stopped"))?;
            }
        }
        if !batch.requests.is_empty() || !batch.feedback.is_empty() {
            sender
                .blocking_send(batch)
                .map_err(|_| anyhow::anyhow!("the store writer stopped"))?;
        }
        Ok(summary)
    });
    let mut requests = InsertReport::default();
    let mut feedback = InsertReport::default();
    while let Some(batch) = receiver.recv().await {
        // Requests first: feedback only refers to requests of this or an earlier batch.
        requests.add(store.insert_requests(&batch.requests).await?);
        feedback.add(store.insert_feedback(&batch.feedback).await?);
    }
    let generated = producer.await.context("the synth generator panicked")??;
    Ok(StoreSummary {
        generated,
        requests,
        feedback,
    })
}

/// Runs `evalgate synth`.
pub async fn run(ctx: &Context, args: SynthArgs) -> CmdResult {
    let spec = spec_from_args(&args)?;
    if args.into_store {
        let store = ctx.store().await?;
        let report = insert_into_store(&store, spec, ctx.config.ingest.batch_size).await?;
        if args.json {
            crate::outln!("{}", serde_json::to_string_pretty(&report)?);
            return Ok(ExitCode::SUCCESS);
        }
        crate::errln!(
            "{}; inserted {} requests ({} duplicates) and {} feedback events ({} duplicates)",
            describe(&report.generated, store.backend()),
            report.requests.inserted,
            report.requests.duplicates,
            report.feedback.inserted,
            report.feedback.duplicates
        );
        return Ok(ExitCode::SUCCESS);
    }
    let target = match &args.out {
        Some(path) if path != Path::new("-") => path.display().to_string(),
        _ => "stdout".to_string(),
    };
    let out_opt = args.out.clone();
    let summary = tokio::task::spawn_blocking(move || write_to(spec, out_opt))
        .await
        .context("the synth writer panicked")??;
    crate::errln!("{}", describe(&summary, &target));
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(extra: &[&str]) -> SynthArgs {
        let mut argv = vec!["evalgate", "synth"];
        argv.extend_from_slice(extra);
        match crate::cli::Cli::parse_from(argv).command {
            crate::cli::Command::Synth(args) => args,
            _ => unreachable!(),
        }
    }

    #[test]
    fn regression_at_takes_an_offset_or_a_time() {
        let spec = spec_from_args(&args(&["--regression-at", "2h"])).unwrap();
        let start = SynthSpec::default().start;
        assert_eq!(
            spec.regression.unwrap().at,
            start + chrono::Duration::hours(2)
        );
        let spec = spec_from_args(&args(&[
            "--regression-at",
            "2026-11-01T05:00:00Z",
            "--regression-factor",
            "4",
        ]))
        .unwrap();
        let regression = spec.regression.unwrap();
        assert_eq!(regression.at.to_rfc3339(), "2026-11-01T05:00:00+00:00");
        assert_eq!(regression.factor, 4.0);
        assert!(spec_from_args(&args(&["--regression-at", "soon"])).is_err());
    }

    #[test]
    fn bad_flags_are_rejected_with_the_flag_named() {
        let err = spec_from_args(&args(&["--canary-share", "1.5"])).unwrap_err();
        assert!(err.to_string().contains("canary_share"), "{err}");
        let err = spec_from_args(&args(&["--duration", "5x"])).unwrap_err();
        assert!(err.to_string().contains("--duration"), "{err}");
    }

    #[test]
    fn the_same_flags_write_byte_identical_jsonl() {
        let flags = ["--seed", "42", "--duration", "30m", "--rpm", "120"];
        let mut first = Vec::new();
        let mut second = Vec::new();
        let spec = spec_from_args(&args(&flags)).unwrap();
        let summary = write_jsonl(SynthStream::new(spec.clone()).unwrap(), &mut first).unwrap();
        write_jsonl(SynthStream::new(spec).unwrap(), &mut second).unwrap();
        assert_eq!(first, second);
        let lines = first.split(|&byte| byte == b'\n').filter(|l| !l.is_empty());
        assert_eq!(lines.count() as u64, summary.requests + summary.feedback);
        assert!(summary.requests > 3_000 && summary.baseline > summary.canary);
    }
}
