//! The streaming loop of `evals run`: read a bounded chunk of lines, score it, write its rows
//! in input order, repeat; then the repeats of request ids found at the end of the input
//! ([`super::evals_seen`]). Memory is one chunk plus the bounded duplicate-id table, whatever
//! the input size.
//!
//! * Rule-only suites: each chunk is parsed, scored and rendered on rayon in one parallel pass
//!   over blocks of [`BLOCK_LINES`] lines (order kept by `par_chunks().map().collect()`; each
//!   block renders its result lines into one buffer) while a reader thread fetches the next
//!   one; plain flat rows skip the `Value` tree ([`super::evals_flat`]); the lowercase output
//!   is computed once per row for every case-insensitive rule ([`Row`]).
//! * Suites with judge assertions go through the scoring engine (the one path ticks and
//!   rescore use) one smaller chunk at a time, under one judge budget for the whole run.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, Write};
use std::sync::Arc;

use rayon::prelude::*;

use super::evals_flat;
use super::evals_lines::{self, Parsed, RawLine};
use super::evals_output::{RowResult, RowWriter, RuleRow, RunSummary, render_row, render_rule_row};
use super::evals_seen::{self, Seen, SeenIds};
use crate::adapters::jsonl::{ParseLimits, Record, parse_line};
use crate::adapters::judge_tick::JudgeTick;
use crate::cli::EvalsFormat;
use crate::domain::{Outcome, Request, Score};
use crate::evaluators::rules::Row;
use crate::evaluators::versions::{self, EvaluatorId, VersionedSuite};
use crate::evaluators::{AssertionKind, Suite, suite_outcome};
use crate::worker::scoring::ScoringEngine;

/// Lines per chunk for rule-only suites (a few MB of input and output at ~2 KB a row).
pub const RULE_CHUNK_LINES: usize = 2048;

/// Lines per chunk when judges are involved (each chunk waits for its slowest judge call).
pub const JUDGE_CHUNK_LINES: usize = 256;

/// How lines are read and results written.
#[derive(Debug, Clone, Copy)]
pub struct StreamSettings {
    /// Longer lines are rejected without being held in memory.
    pub max_line_bytes: usize,
    /// Per-field limits of the ingest parser.
    pub parse_limits: ParseLimits,
    /// The output format.
    pub format: EvalsFormat,
    /// Lines per chunk.
    pub chunk_lines: usize,
    /// Kept request ids held in memory by the duplicate check ([`evals_seen::TABLE_IDS`]).
    pub seen_table_ids: usize,
}

/// Lines of a chunk scored by one rayon task: their rendered result lines end to end in one
/// buffer (one allocation for the block, not one per row) and what the writer needs of each.
struct Block {
    text: Vec<u8>,
    done: Vec<Done>,
}

/// Lines scored by one task of the parallel pass.
const BLOCK_LINES: usize = 64;

/// One line of a rule-only chunk after the parallel pass.
enum Done {
    Row {
        request_id: String,
        id_hash: u64,
        content_hash: u64,
        outcome: Outcome,
        /// Where its result line sits in the block's text.
        rendered: std::ops::Range<usize>,
    },
    Feedback,
    Rejected(String),
}

/// Scores a rule-only suite over `reader`, writing rows to `writer`; counts go to `summary`.
/// Three stages, one chunk in flight between each: a reader thread fetches the next chunk, this
/// thread scores the current one on rayon, and a writer thread checks the ids of the one before
/// and writes its rows (so the pool never waits for the output).
pub fn stream_rules<W: Write + Send>(
    suite: &Suite,
    reader: &mut (impl BufRead + Send),
    writer: &mut RowWriter<W>,
    settings: &StreamSettings,
    summary: &mut RunSummary,
) -> anyhow::Result<()> {
    let evaluators =
        assertion_evaluators(suite, &versions::suite_evaluators(suite, &BTreeMap::new()));
    std::thread::scope(|scope| {
        let (sender, chunks) = std::sync::mpsc::sync_channel(1);
        scope.spawn(move || {
            let mut line_number = 0;
            loop {
                let chunk = evals_lines::read_chunk(
                    reader,
                    &mut line_number,
                    settings.chunk_lines,
                    settings.max_line_bytes,
                );
                let last = match &chunk {
                    Ok(lines) => lines.is_empty(),
                    Err(_) => true,
                };
                if sender.send(chunk).is_err() || last {
                    return;
                }
            }
        });
        // A rendezvous: a scored chunk waits for the writer, so at most three chunks are held.
        let (scored_sender, scored) =
            std::sync::mpsc::sync_channel::<(Vec<RawLine>, Vec<Block>)>(0);
        let writing = scope.spawn(move || -> anyhow::Result<()> {
            let mut seen = SeenIds::with_table(settings.seen_table_ids);
            for (lines, blocks) in scored {
                write_chunk(&lines, blocks, &mut seen, writer, summary)?;
            }
            late_repeats(seen, summary)
        });
        let scoring = (|| -> anyhow::Result<()> {
            for chunk in chunks {
                let lines = chunk?;
                if lines.is_empty() {
                    break;
                }
                let blocks: Vec<Block> = lines
                    .par_chunks(BLOCK_LINES)
                    .map(|block| score_block(suite, &evaluators, block, settings))
                    .collect();
                if scored_sender.send((lines, blocks)).is_err() {
                    // The writer stopped on an error, returned below.
                    break;
                }
            }
            Ok(())
        })();
        drop(scored_sender);
        let written = writing
            .join()
            .map_err(|_| anyhow::anyhow!("the evals run writer thread panicked"))?;
        scoring.and(written)
    })
}

/// Merges the duplicate check's spilled runs and takes the repeats found back out of the counts.
fn late_repeats(seen: SeenIds, summary: &mut RunSummary) -> anyhow::Result<()> {
    seen.finish(|repeat| {
        if repeat.conflict {
            crate::errln!(
                "line {}: request_id `{}` conflicts with line {} (same id, different content; \
                 found at the end of the input, after its result was written)",
                repeat.line,
                repeat.request_id.escape_debug(),
                repeat.first_line
            );
        }
        summary.late_repeat(repeat);
    })
    .map_err(|error| anyhow::anyhow!("the duplicate check's temporary file failed: {error}"))
}

/// Checks the ids of one scored chunk and writes its rows in order.
fn write_chunk<W: Write>(
    lines: &[RawLine],
    blocks: Vec<Block>,
    seen: &mut SeenIds,
    writer: &mut RowWriter<W>,
    summary: &mut RunSummary,
) -> anyhow::Result<()> {
    let done = blocks
        .iter()
        .flat_map(|block| block.done.iter().map(move |result| (&block.text, result)));
    for (line, (text, result)) in lines.iter().zip(done) {
        match result {
            Done::Feedback => summary.feedback_lines += 1,
            Done::Rejected(reason) => report_rejected(summary, line.number, reason.clone()),
            Done::Row {
                request_id,
                id_hash,
                content_hash,
                outcome,
                rendered,
            } => match seen.check(*id_hash, *content_hash, line.number, request_id) {
                Seen::First => {
                    seen.scored(*id_hash, *outcome);
                    writer.row(&text[rendered.clone()])?;
                    summary.scored += 1;
                    summary.summary.add(*outcome);
                }
                Seen::Duplicate => summary.duplicates += 1,
                Seen::Conflict => summary.conflict(request_id),
            },
        }
    }
    seen.end_chunk()?;
    Ok(())
}

fn report_rejected(summary: &mut RunSummary, line: usize, reason: String) {
    // Rejected values may carry control characters: escape them before a terminal sees them.
    crate::errln!("line {line}: rejected: {}", reason.escape_debug());
    summary.reject(line, reason);
}

/// The evaluator of each assertion, by assertion index.
fn assertion_evaluators(suite: &Suite, evaluators: &[EvaluatorId]) -> Vec<EvaluatorId> {
    let by_index: HashMap<usize, &EvaluatorId> = evaluators
        .iter()
        .filter_map(|evaluator| evaluator.index.map(|index| (index, evaluator)))
        .collect();
    (0..suite.assertions.len())
        .map(|index| match by_index.get(&index) {
            Some(evaluator) => (*evaluator).clone(),
            None => EvaluatorId {
                index: Some(index),
                name: format!("{}/{}", suite.name, suite.assertions[index].id),
                version: suite.assertions[index].definition_hash.clone(),
            },
        })
        .collect()
}

/// Scores one block of lines, rendering their result lines into one buffer.
fn score_block(
    suite: &Suite,
    evaluators: &[EvaluatorId],
    lines: &[RawLine],
    settings: &StreamSettings,
) -> Block {
    let mut block = Block {
        text: Vec::with_capacity(lines.len() * 2048),
        done: Vec::with_capacity(lines.len()),
    };
    for line in lines {
        let done = score_line(suite, evaluators, line, settings, &mut block.text);
        block.done.push(done);
    }
    block
}

fn score_line(
    suite: &Suite,
    evaluators: &[EvaluatorId],
    line: &RawLine,
    settings: &StreamSettings,
    text: &mut Vec<u8>,
) -> Done {
    let Some(bytes) = &line.bytes else {
        return Done::Rejected(format!(
            "line longer than {} bytes",
            settings.max_line_bytes
        ));
    };
    let request = match evals_flat::parse_flat(bytes, &settings.parse_limits) {
        Some(request) => request,
        None => match parse_line(bytes, &settings.parse_limits) {
            Ok(Record::Request(request)) => *request,
            Ok(Record::Feedback(_)) => return Done::Feedback,
            Err(reject) => return Done::Rejected(reject.reason),
        },
    };
    let row = score_rules(suite, evaluators, &request);
    let start = text.len();
    render_rule_row(text, settings.format, &suite.name, &row);
    Done::Row {
        id_hash: evals_seen::id_hash(&request.request_id),
        content_hash: evals_seen::content_hash(&request),
        outcome: row.outcome,
        rendered: start..text.len(),
        request_id: request.request_id.clone(),
    }
}

/// Every rule of `suite` on one request (sharing one lowercase output), then the verdict.
pub fn score_rules<'a>(
    suite: &Suite,
    evaluators: &'a [EvaluatorId],
    request: &'a Request,
) -> RuleRow<'a> {
    let row = Row::new(request);
    let mut per_assertion = Vec::with_capacity(suite.assertions.len());
    let mut assertions = Vec::with_capacity(suite.assertions.len());
    // One clock reading between rules: a rule's end is the next one's start.
    let mut started = std::time::Instant::now();
    for (index, assertion) in suite.assertions.iter().enumerate() {
        let AssertionKind::Rule(check) = &assertion.kind else {
            continue;
        };
        let result = check.evaluate_row(&row);
        let finished = std::time::Instant::now();
        let latency_ms = finished.duration_since(started).as_secs_f64() * 1000.0;
        started = finished;
        let evaluator = &evaluators[index];
        per_assertion.push((index, result.outcome, result.score));
        assertions.push(evaluator.rule_score_ref(&request.request_id, result, latency_ms));
    }
    let (outcome, score, reason) = suite_outcome(suite, &per_assertion);
    RuleRow {
        request_id: &request.request_id,
        arm: request.arm.as_str(),
        outcome,
        score: Some(score),
        reason,
        assertions,
    }
}

/// Scores a suite with judge assertions through `engine`, chunk by chunk, under `ticks`.
pub async fn stream_judged<W: Write>(
    engine: &ScoringEngine,
    ticks: &BTreeMap<String, Arc<JudgeTick>>,
    suite: &VersionedSuite,
    reader: &mut impl BufRead,
    writer: &mut RowWriter<W>,
    settings: &StreamSettings,
    summary: &mut RunSummary,
) -> anyhow::Result<()> {
    let mut seen = SeenIds::with_table(settings.seen_table_ids);
    let mut line_number = 0;
    loop {
        // Blocking reads of a local file between async judge batches: a CLI command, and the
        // runtime has nothing else to run meanwhile.
        let lines = evals_lines::read_chunk(
            reader,
            &mut line_number,
            settings.chunk_lines,
            settings.max_line_bytes,
        )?;
        if lines.is_empty() {
            return late_repeats(seen, summary);
        }
        let parsed =
            evals_lines::parse_chunk(&lines, &settings.parse_limits, settings.max_line_bytes);
        let mut requests = Vec::new();
        for (line, item) in lines.iter().zip(parsed) {
            match item {
                Parsed::Feedback => summary.feedback_lines += 1,
                Parsed::Rejected(reason) => report_rejected(summary, line.number, reason),
                Parsed::Request(request) => match seen.check(
                    evals_seen::id_hash(&request.request_id),
                    evals_seen::content_hash(&request),
                    line.number,
                    &request.request_id,
                ) {
                    Seen::First => requests.push(*request),
                    Seen::Duplicate => summary.duplicates += 1,
                    Seen::Conflict => summary.conflict(&request.request_id),
                },
            }
        }
        if !requests.is_empty() {
            let report = engine.score_with_ticks(suite, &requests, ticks).await?;
            for row in rows_of(&report.suite, &requests, report.scores) {
                seen.scored(evals_seen::id_hash(&row.request_id), row.outcome);
                writer.row(render_row(settings.format, &suite.name, &row).as_bytes())?;
                summary.scored += 1;
                summary.summary.add(row.outcome);
            }
        }
        seen.end_chunk()?;
    }
}

/// Groups a report's scores (sorted by request, then evaluator) into one row per request.
fn rows_of(suite: &str, requests: &[Request], scores: Vec<Score>) -> Vec<RowResult> {
    let mut by_request: HashMap<String, Vec<Score>> = HashMap::new();
    for score in scores {
        by_request
            .entry(score.request_id.clone())
            .or_default()
            .push(score);
    }
    let prefix = format!("{suite}/");
    requests
        .iter()
        .map(|request| {
            let scores = by_request.remove(&request.request_id).unwrap_or_default();
            let verdict = scores.iter().find(|score| score.evaluator == suite);
            let (outcome, score, reason) = match verdict {
                Some(found) => (found.outcome, found.score, found.reason.clone()),
                None => (Outcome::Unscorable, None, "not scored".to_string()),
            };
            let assertions = scores
                .into_iter()
                .filter(|score| score.evaluator.starts_with(&prefix))
                .collect();
            RowResult {
                request_id: request.request_id.clone(),
                arm: request.arm.as_str().to_string(),
                outcome,
                score,
                reason,
                assertions,
            }
        })
        .collect()
}
