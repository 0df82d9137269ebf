//! `evalgate ingest FILE|-`: streams JSONL request and feedback rows (evalgate's contract or a
//! gateway's own format, `--format`, detected from the first line by default) into the store in
//! batched, idempotent transactions. Rows logged without an arm are placed by their served model
//! against the store's rollouts, read once per run. Every bad record is reported with its line
//! number and reason (stderr, a structured log event, and a rejects file) while the good ones
//! still load; the summary says which format was read and how many lines were read and records
//! inserted, duplicate and rejected, and the exit code is 1 when any record was rejected.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use tokio::io::{AsyncBufRead, AsyncWriteExt, BufReader, BufWriter};
use tokio::task::JoinHandle;

use crate::adapters::formats::{
    self, Format, ParseContext, ParseLimits, Record, Reject, RejectKind,
};
use crate::adapters::line_reader::{LineReader, LineStatus};
use crate::adapters::store::{InsertReport, Store, StoreResult};
use crate::app::{CmdResult, Context};
use crate::cli::IngestArgs;
use crate::domain::{FeedbackEvent, Request};
use crate::logic::attribution::ModelArms;

/// Rejects echoed to stderr one by one; the rest go to the rejects file and the summary.
const ECHOED_REJECTS: u64 = 20;
const READ_BUFFER_BYTES: usize = 256 * 1024;

/// How one ingest run behaves.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Rows per transaction.
    pub batch_size: usize,
    /// Field size limit in bytes.
    pub max_field_bytes: usize,
    /// Line size limit in bytes.
    pub max_line_bytes: usize,
    /// Where rejected lines are written (created on the first reject).
    pub rejects_path: PathBuf,
    /// The source format; None detects it from the first line that tells.
    pub format_opt: Option<Format>,
}

/// What an ingest run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IngestSummary {
    /// The format the lines were read as (given, or detected); None when no line told.
    pub format: Option<Format>,
    /// Non-blank lines read.
    pub read: u64,
    /// Records the lines held (an OTLP line holds one per GenAI span), accepted or rejected.
    pub records: u64,
    /// Rows new to the store (requests + feedback).
    pub inserted: u64,
    /// Rows already in the store (or repeated in the input).
    pub duplicates: u64,
    /// Records rejected (each is in the rejects file).
    pub rejected: u64,
    /// Lines that held no record (an OTLP document without GenAI spans).
    pub empty: u64,
    /// Empty or whitespace-only lines, skipped.
    pub blank: u64,
    /// Request rows.
    pub requests: InsertReport,
    /// Feedback rows.
    pub feedback: InsertReport,
    /// The rejects file, when something was rejected.
    pub rejects_file: Option<String>,
}

/// One line of the rejects file.
#[derive(Debug, Serialize)]
struct RejectLine<'a> {
    line: u64,
    kind: &'static str,
    reason: &'a str,
    raw: String,
}

/// Runs `evalgate ingest`.
pub async fn run(ctx: &Context, args: IngestArgs) -> CmdResult {
    let options = options_from(ctx, &args)?;
    let store = ctx.store().await?;
    let from_stdin = args.file.as_os_str() == "-";
    let progress = progress_bar(&args.file, from_stdin).await;
    let summary = if from_stdin {
        let reader = BufReader::with_capacity(READ_BUFFER_BYTES, tokio::io::stdin());
        ingest_stream(&store, reader, &options, &progress).await?
    } else {
        let file = tokio::fs::File::open(&args.file)
            .await
            .with_context(|| format!("cannot open {}", args.file.display()))?;
        let reader = BufReader::with_capacity(READ_BUFFER_BYTES, file);
        ingest_stream(&store, reader, &options, &progress).await?
    };
    progress.finish_and_clear();
    print_summary(&summary, args.json)?;
    if summary.rejected > 0 {
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn options_from(ctx: &Context, args: &IngestArgs) -> anyhow::Result<IngestOptions> {
    let config = &ctx.config.ingest;
    let batch_size = args.batch_size.unwrap_or(config.batch_size);
    if batch_size == 0 {
        anyhow::bail!("--batch-size is 0; allowed: at least 1");
    }
    let max_field_bytes = args.max_field_bytes.unwrap_or(config.max_field_bytes);
    if max_field_bytes == 0 {
        anyhow::bail!("--max-field-bytes is 0; allowed: at least 1");
    }
    let rejects_path = match &args.rejects {
        Some(path) => path.clone(),
        None => default_rejects_path(&args.file),
    };
    Ok(IngestOptions {
        batch_size,
        max_field_bytes,
        max_line_bytes: config.max_line_bytes.max(max_field_bytes),
        rejects_path,
        format_opt: parse_format(&args.format)?,
    })
}

/// `--format`: `auto` → None.
fn parse_format(name: &str) -> anyhow::Result<Option<Format>> {
    if name.trim().eq_ignore_ascii_case("auto") {
        return Ok(None);
    }
    match Format::parse(name) {
        Some(format) => Ok(Some(format)),
        None => {
            let names: Vec<&str> = Format::ALL.iter().map(|format| format.as_str()).collect();
            anyhow::bail!("--format is `{name}`; allowed: auto, {}", names.join(", "))
        }
    }
}

/// `logs.jsonl` → `logs.rejects.jsonl`; stdin → `rejects.jsonl`.
pub fn default_rejects_path(file: &Path) -> PathBuf {
    if file.as_os_str() == "-" {
        return PathBuf::from("rejects.jsonl");
    }
    file.with_extension("rejects.jsonl")
}

async fn progress_bar(file: &Path, from_stdin: bool) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let len_opt = match from_stdin {
        true => None,
        false => tokio::fs::metadata(file).await.ok().map(|meta| meta.len()),
    };
    let Some(len) = len_opt else {
        let spinner = ProgressBar::new_spinner();
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({binary_bytes} read)") {
            spinner.set_style(style);
        }
        return spinner;
    };
    let bar = ProgressBar::new(len);
    let template = "{bar:40} {binary_bytes}/{binary_total_bytes} {msg} eta {eta}";
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar
}

/// Loads every line of `reader` into `store`; returns the counts. Store errors abort (the
/// batches already committed stay, and re-running is safe: ingest is idempotent).
pub async fn ingest_stream<R: AsyncBufRead + Unpin>(
    store: &Store,
    reader: R,
    options: &IngestOptions,
    progress: &ProgressBar,
) -> anyhow::Result<IngestSummary> {
    let arms = ModelArms::new(
        store
            .rollout_targets()
            .await
            .context("cannot read the rollouts' served models")?,
    );
    let ctx = ParseContext {
        limits: ParseLimits {
            max_field_bytes: options.max_field_bytes,
        },
        arms: &arms,
    };
    let mut lines = LineReader::new(reader, options.max_line_bytes);
    let mut rejects = RejectsFile::new(options.rejects_path.clone());
    let mut summary = IngestSummary {
        format: options.format_opt,
        ..IngestSummary::default()
    };
    let mut writer = RequestWriter::new(store.clone());
    let mut requests: Vec<Request> = Vec::with_capacity(options.batch_size);
    let mut feedback: Vec<FeedbackEvent> = Vec::new();
    let mut buf = Vec::new();
    let mut line_number = 0u64;
    while let Some(status) = lines
        .next_line(&mut buf)
        .await
        .context("cannot read input")?
    {
        line_number += 1;
        let records = match status {
            LineStatus::TooLong { len } => vec![Err(Reject::new(
                RejectKind::LineTooLong,
                format!(
                    "line is {len} bytes; the limit is {} (ingest.max_line_bytes)",
                    options.max_line_bytes
                ),
            ))],
            LineStatus::Complete if buf.iter().all(u8::is_ascii_whitespace) => {
                summary.blank += 1;
                continue;
            }
            LineStatus::Complete => {
                let parsed = formats::parse_line(summary.format, &buf, &ctx);
                if summary.format.is_none()
                    && let Some(format) = parsed.format_opt
                {
                    summary.format = Some(format);
                    report_detected(format, line_number, progress);
                }
                parsed.records
            }
        };
        summary.read += 1;
        if records.is_empty() {
            summary.empty += 1;
        }
        for record in records {
            summary.records += 1;
            match record {
                Ok(Record::Request(request)) => requests.push(*request),
                Ok(Record::Feedback(event)) => feedback.push(event),
                Err(reject) => {
                    summary.rejected += 1;
                    report_reject(line_number, &reject, summary.rejected, progress);
                    rejects.write(line_number, &reject, &buf).await?;
                }
            }
        }
        if requests.len() >= options.batch_size {
            let batch = std::mem::replace(&mut requests, Vec::with_capacity(options.batch_size));
            writer.submit(batch, &mut summary).await?;
            progress.set_position(lines.bytes_read());
            progress.set_message(format!("{} rows", summary.inserted));
        }
        if feedback.len() >= options.batch_size {
            flush_feedback(store, &mut feedback, &mut summary).await?;
        }
    }
    writer.submit(requests, &mut summary).await?;
    writer.finish(&mut summary).await?;
    flush_feedback(store, &mut feedback, &mut summary).await?;
    progress.set_position(lines.bytes_read());
    summary.rejects_file = rejects.finish().await?;
    tracing::info!(
        format = summary.format.map(Format::as_str).unwrap_or("unknown"),
        read = summary.read,
        inserted = summary.inserted,
        duplicates = summary.duplicates,
        rejected = summary.rejected,
        "ingest finished"
    );
    Ok(summary)
}

/// Inserts request batches in the background, one at a time, so parsing the next batch overlaps
/// with writing the previous one.
struct RequestWriter {
    store: Store,
    pending_opt: Option<JoinHandle<StoreResult<InsertReport>>>,
}

impl RequestWriter {
    fn new(store: Store) -> RequestWriter {
        RequestWriter {
            store,
            pending_opt: None,
        }
    }

    /// Waits for the batch in flight, then starts writing `batch`.
    async fn submit(
        &mut self,
        batch: Vec<Request>,
        summary: &mut IngestSummary,
    ) -> anyhow::Result<()> {
        self.finish(summary).await?;
        if batch.is_empty() {
            return Ok(());
        }
        let store = self.store.clone();
        let handle = tokio::spawn(async move { store.insert_requests(&batch).await });
        self.pending_opt = Some(handle);
        Ok(())
    }

    /// Waits for the batch in flight and counts it.
    async fn finish(&mut self, summary: &mut IngestSummary) -> anyhow::Result<()> {
        let Some(handle) = self.pending_opt.take() else {
            return Ok(());
        };
        let report = handle
            .await
            .context("request writer task failed")?
            .context("cannot insert requests")?;
        summary.requests.add(report);
        summary.inserted += report.inserted;
        summary.duplicates += report.duplicates;
        Ok(())
    }
}

async fn flush_feedback(
    store: &Store,
    rows: &mut Vec<FeedbackEvent>,
    summary: &mut IngestSummary,
) -> anyhow::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let report = store
        .insert_feedback(rows)
        .await
        .context("cannot insert feedback")?;
    summary.feedback.add(report);
    summary.inserted += report.inserted;
    summary.duplicates += report.duplicates;
    rows.clear();
    Ok(())
}

fn report_detected(format: Format, line: u64, progress: &ProgressBar) {
    tracing::info!(format = format.as_str(), line, "format detected");
    progress.suspend(|| eprintln!("format: {format} (detected from line {line})"));
}

fn report_reject(line: u64, reject: &Reject, count: u64, progress: &ProgressBar) {
    if count > ECHOED_REJECTS {
        return;
    }
    tracing::warn!(
        line,
        kind = reject.kind.as_str(),
        reason = %reject.reason,
        "rejected line"
    );
    progress.suspend(|| {
        eprintln!(
            "line {line}: rejected ({}): {}",
            reject.kind.as_str(),
            reject.reason
        );
        if count == ECHOED_REJECTS {
            eprintln!("further rejects are only written to the rejects file");
        }
    });
}

/// The rejects file, created on the first reject.
struct RejectsFile {
    path: PathBuf,
    writer_opt: Option<BufWriter<tokio::fs::File>>,
}

impl RejectsFile {
    fn new(path: PathBuf) -> RejectsFile {
        RejectsFile {
            path,
            writer_opt: None,
        }
    }

    async fn write(&mut self, line: u64, reject: &Reject, raw: &[u8]) -> anyhow::Result<()> {
        if self.writer_opt.is_none() {
            let file = tokio::fs::File::create(&self.path)
                .await
                .with_context(|| format!("cannot create rejects file {}", self.path.display()))?;
            self.writer_opt = Some(BufWriter::new(file));
        }
        let Some(writer) = self.writer_opt.as_mut() else {
            return Ok(());
        };
        let record = RejectLine {
            line,
            kind: reject.kind.as_str(),
            reason: &reject.reason,
            raw: String::from_utf8_lossy(raw).into_owned(),
        };
        let mut text = serde_json::to_string(&record).context("cannot encode a reject")?;
        text.push('\n');
        writer
            .write_all(text.as_bytes())
            .await
            .with_context(|| format!("cannot write rejects file {}", self.path.display()))?;
        Ok(())
    }

    async fn finish(self) -> anyhow::Result<Option<String>> {
        let Some(mut writer) = self.writer_opt else {
            return Ok(None);
        };
        writer
            .flush()
            .await
            .with_context(|| format!("cannot write rejects file {}", self.path.display()))?;
        Ok(Some(self.path.display().to_string()))
    }
}

fn print_summary(summary: &IngestSummary, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(summary)?);
        return Ok(());
    }
    match summary.format {
        Some(format) => println!("format      {format}"),
        None => println!("format      unknown (no line told)"),
    }
    println!("read        {}", summary.read);
    if summary.records != summary.read {
        println!("records     {}", summary.records);
    }
    println!(
        "inserted    {}  (requests {}, feedback {})",
        summary.inserted, summary.requests.inserted, summary.feedback.inserted
    );
    println!("duplicates  {}", summary.duplicates);
    match &summary.rejects_file {
        Some(path) => println!("rejected    {}  (see {path})", summary.rejected),
        None => println!("rejected    {}", summary.rejected),
    }
    if summary.blank > 0 {
        println!("blank       {}  (skipped)", summary.blank);
    }
    if summary.empty > 0 {
        println!(
            "empty       {}  (lines without a request, e.g. no GenAI span)",
            summary.empty
        );
    }
    Ok(())
}
