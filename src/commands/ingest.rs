//! `evalgate ingest FILE|-`: streams JSONL request and feedback rows (evalgate's contract or a
//! gateway's own format, `--format`, detected from the first line by default) into the store in
//! batched, idempotent transactions. Rows logged without an arm are placed by their served model
//! against the store's rollouts, read once per run. Every bad record is reported with its line
//! number and reason (stderr, a structured log event, and a rejects file) while the good ones
//! still load; a UTF-8 byte-order mark at the start is skipped. A `request_id` seen again with
//! different content is a conflict: the first row stays, and the conflict is counted and written
//! to the rejects file. The summary says which format was read and how many lines were read and
//! records inserted, duplicate, conflicting and rejected, and the exit code is 1 when any record
//! was rejected or conflicted.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use tokio::io::{AsyncBufRead, BufReader};
use tokio::task::JoinHandle;

use rejects::RejectsFile;

use crate::adapters::formats::{
    self, Format, ParseContext, ParseLimits, Record, Reject, RejectKind,
};
use crate::adapters::line_reader::{LineReader, LineStatus};
use crate::adapters::store::{InsertReport, RequestInsert, Store, StoreResult};
use crate::cli::IngestArgs;
use crate::commands::CmdResult;
use crate::context::Context;
use crate::domain::{FeedbackEvent, Request};
use crate::logic::attribution::ModelArms;

mod rejects;

/// The UTF-8 byte-order mark some editors put at the start of a file; skipped on line 1.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

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
    /// Rows already in the store (or repeated in the input) with the same content.
    pub duplicates: u64,
    /// Requests whose `request_id` was already stored (or came earlier in the input) with
    /// different content: skipped, the first row kept, each one in the rejects file.
    pub conflicts: u64,
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
    /// The rejects file, when something was rejected or conflicted.
    pub rejects_file: Option<String>,
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
    if summary.rejected > 0 || summary.conflicts > 0 {
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
    let mut request_lines: Vec<u64> = Vec::with_capacity(options.batch_size);
    let mut feedback: Vec<FeedbackEvent> = Vec::new();
    let mut buf = Vec::new();
    let mut line_number = 0u64;
    while let Some(status) = lines
        .next_line(&mut buf)
        .await
        .context("cannot read input")?
    {
        line_number += 1;
        if line_number == 1 && buf.starts_with(UTF8_BOM) {
            buf.drain(..UTF8_BOM.len());
        }
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
                Ok(Record::Request(request)) => {
                    requests.push(*request);
                    request_lines.push(line_number);
                }
                Ok(Record::Feedback(event)) => feedback.push(event),
                Err(reject) => {
                    summary.rejected += 1;
                    let count = summary.rejected + summary.conflicts;
                    let kind = reject.kind.as_str();
                    rejects::report(line_number, kind, &reject.reason, count, progress);
                    rejects.write(line_number, &reject, &buf).await?;
                }
            }
        }
        if requests.len() >= options.batch_size {
            let batch = std::mem::replace(&mut requests, Vec::with_capacity(options.batch_size));
            let batch_lines = std::mem::take(&mut request_lines);
            writer
                .submit(batch, batch_lines, &mut summary, &mut rejects, progress)
                .await?;
            progress.set_position(lines.bytes_read());
            progress.set_message(format!("{} rows", summary.inserted));
        }
        if feedback.len() >= options.batch_size {
            flush_feedback(store, &mut feedback, &mut summary).await?;
        }
    }
    writer
        .submit(
            requests,
            request_lines,
            &mut summary,
            &mut rejects,
            progress,
        )
        .await?;
    writer.finish(&mut summary, &mut rejects, progress).await?;
    flush_feedback(store, &mut feedback, &mut summary).await?;
    progress.set_position(lines.bytes_read());
    summary.rejects_file = rejects.finish().await?;
    tracing::info!(
        format = summary.format.map(Format::as_str).unwrap_or("unknown"),
        read = summary.read,
        inserted = summary.inserted,
        duplicates = summary.duplicates,
        conflicts = summary.conflicts,
        rejected = summary.rejected,
        "ingest finished"
    );
    Ok(summary)
}

/// A request batch in flight: its rows and their input line numbers come back with the result,
/// so conflicts can be reported by line.
type PendingBatch = JoinHandle<(Vec<Request>, Vec<u64>, StoreResult<RequestInsert>)>;

/// Inserts request batches in the background, one at a time, so parsing the next batch overlaps
/// with writing the previous one.
struct RequestWriter {
    store: Store,
    pending_opt: Option<PendingBatch>,
}

impl RequestWriter {
    fn new(store: Store) -> RequestWriter {
        RequestWriter {
            store,
            pending_opt: None,
        }
    }

    /// Waits for the batch in flight, then starts writing `batch` (read from `lines`).
    async fn submit(
        &mut self,
        batch: Vec<Request>,
        lines: Vec<u64>,
        summary: &mut IngestSummary,
        rejects: &mut RejectsFile,
        progress: &ProgressBar,
    ) -> anyhow::Result<()> {
        self.finish(summary, rejects, progress).await?;
        if batch.is_empty() {
            return Ok(());
        }
        let store = self.store.clone();
        let handle = tokio::spawn(async move {
            let result = store.insert_requests_checked(&batch).await;
            (batch, lines, result)
        });
        self.pending_opt = Some(handle);
        Ok(())
    }

    /// Waits for the batch in flight, counts it and reports its conflicts.
    async fn finish(
        &mut self,
        summary: &mut IngestSummary,
        rejects: &mut RejectsFile,
        progress: &ProgressBar,
    ) -> anyhow::Result<()> {
        let Some(handle) = self.pending_opt.take() else {
            return Ok(());
        };
        let (batch, lines, result) = handle.await.context("request writer task failed")?;
        let first_line = lines.first().copied().unwrap_or_default();
        let last_line = lines.last().copied().unwrap_or_default();
        let outcome = result.with_context(|| {
            format!("cannot insert the requests of input lines {first_line}-{last_line}")
        })?;
        let report = outcome.report;
        summary.requests.add(report);
        summary.inserted += report.inserted;
        summary.duplicates += report.duplicates;
        for index in outcome.conflicting {
            let (Some(row), Some(line)) = (batch.get(index), lines.get(index)) else {
                continue;
            };
            summary.conflicts += 1;
            let reason = rejects::conflict_reason(&row.request_id);
            let count = summary.rejected + summary.conflicts;
            rejects::report(*line, rejects::CONFLICT_KIND, &reason, count, progress);
            let raw = crate::adapters::jsonl::request_line(row);
            rejects
                .write_entry(*line, rejects::CONFLICT_KIND, &reason, raw)
                .await?;
        }
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
    progress.suspend(|| crate::errln!("format: {format} (detected from line {line})"));
}

fn print_summary(summary: &IngestSummary, json: bool) -> anyhow::Result<()> {
    if json {
        crate::outln!("{}", serde_json::to_string(summary)?);
        return Ok(());
    }
    match summary.format {
        Some(format) => crate::outln!("format      {format}"),
        None => crate::outln!("format      unknown (no line told)"),
    }
    crate::outln!("read        {}", summary.read);
    if summary.records != summary.read {
        crate::outln!("records     {}", summary.records);
    }
    crate::outln!(
        "inserted    {}  (requests {}, feedback {})",
        summary.inserted,
        summary.requests.inserted,
        summary.feedback.inserted
    );
    crate::outln!("duplicates  {}", summary.duplicates);
    if summary.conflicts > 0 {
        crate::outln!(
            "conflicts   {}  (request_id already stored with different content; first kept)",
            summary.conflicts
        );
    }
    match &summary.rejects_file {
        Some(path) => crate::outln!("rejected    {}  (see {path})", summary.rejected),
        None => crate::outln!("rejected    {}", summary.rejected),
    }
    if summary.blank > 0 {
        crate::outln!("blank       {}  (skipped)", summary.blank);
    }
    if summary.empty > 0 {
        crate::outln!(
            "empty       {}  (lines without a request, e.g. no GenAI span)",
            summary.empty
        );
    }
    Ok(())
}
