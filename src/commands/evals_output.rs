//! Output side of `evals run`: one result per row written as soon as its chunk is scored
//! (human text, one streamed JSON document, or JSON lines), then the run summary.

use std::io::Write;

use serde::Serialize;

use super::evals_seen::LateRepeat;
use crate::cli::EvalsFormat;
use crate::domain::{Outcome, Score, ScoreRef};
use crate::worker::scoring::OutcomeCounts;

/// At most this many rejected lines and conflicting ids are listed in the summary (all are
/// counted; every rejected line is also reported on stderr as it is read).
pub const MAX_LISTED: usize = 1000;

/// One scored row.
#[derive(Debug, Clone, Serialize)]
pub struct RowResult {
    /// The row's request id.
    pub request_id: String,
    /// `baseline` or `canary`.
    pub arm: String,
    /// The suite verdict.
    pub outcome: Outcome,
    /// The suite score.
    pub score: Option<f64>,
    /// Why.
    pub reason: String,
    /// Every assertion's score, in suite order.
    pub assertions: Vec<Score>,
}

/// One row scored by rules only: [`RowResult`]'s fields in its order, borrowing.
#[derive(Debug, Clone, Serialize)]
pub struct RuleRow<'a> {
    /// The row's request id.
    pub request_id: &'a str,
    /// `baseline` or `canary`.
    pub arm: &'a str,
    /// The suite verdict.
    pub outcome: Outcome,
    /// The suite score.
    pub score: Option<f64>,
    /// Why.
    pub reason: String,
    /// Every assertion's score, in suite order.
    pub assertions: Vec<ScoreRef<'a>>,
}

/// A line of the input that was not scored.
#[derive(Debug, Clone, Serialize)]
pub struct RejectedLine {
    /// 1-based line number.
    pub line: usize,
    /// Why it was rejected.
    pub reason: String,
}

/// A conflict found when the input ended (its result line was written).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LateConflict {
    /// The request id.
    pub request_id: String,
    /// The line of the later row.
    pub line: u64,
    /// The line of the first row, the one that counts.
    pub first_line: u64,
}

/// What `evals run` found, printed last.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunSummary {
    /// The suite.
    pub suite: String,
    /// Rows scored and reported (the first row of each request id).
    pub scored: u64,
    /// Suite verdict counts over the scored rows.
    pub summary: OutcomeCounts,
    /// Passes over scorable rows.
    pub pass_rate: Option<f64>,
    /// Lines that could not be read as rows.
    pub rejected: u64,
    /// The first [`MAX_LISTED`] of them.
    pub rejected_lines: Vec<RejectedLine>,
    /// Feedback lines skipped.
    pub feedback_lines: u64,
    /// Rows repeating an earlier request id with the same content (dropped).
    pub duplicates: u64,
    /// Rows repeating an earlier request id with different content (dropped; the first kept).
    pub conflicts: u64,
    /// The first [`MAX_LISTED`] conflicting ids, in input order (those found late last).
    pub conflicting_ids: Vec<String>,
    /// Rows whose result line was written before they were found, at the end of the input, to
    /// repeat an id kept long before (evals/README.md, "Repeated request ids"): counted in
    /// `duplicates` or `conflicts`, not in `scored` or `summary`.
    pub late_repeats: u64,
    /// The first [`MAX_LISTED`] conflicts found at the end, with the lines of both rows.
    pub late_conflicts: Vec<LateConflict>,
    /// Judge calls made.
    pub judge_calls: u64,
    /// Judge tokens used.
    pub judge_tokens: u64,
    /// Judge dollars spent.
    pub judge_cost_usd: f64,
    /// `--fail-under`, when given.
    pub fail_under: Option<f64>,
    /// Whether the pass rate reached `--fail-under` (None without the flag).
    pub gate_passed: Option<bool>,
    /// Problems in other suite files of the directory (they did not stop this run).
    pub other_suite_problems: Vec<String>,
}

impl RunSummary {
    /// Counts a rejected line, listing it while there is room.
    pub fn reject(&mut self, line: usize, reason: String) {
        self.rejected += 1;
        if self.rejected_lines.len() < MAX_LISTED {
            self.rejected_lines.push(RejectedLine { line, reason });
        }
    }

    /// Counts a conflicting row, listing its id while there is room.
    pub fn conflict(&mut self, request_id: &str) {
        self.conflicts += 1;
        if self.conflicting_ids.len() < MAX_LISTED {
            self.conflicting_ids.push(request_id.to_string());
        }
    }

    /// Takes a row found to repeat an id at the end of the input back out of the counts.
    pub fn late_repeat(&mut self, repeat: LateRepeat) {
        self.scored = self.scored.saturating_sub(1);
        self.summary.remove(repeat.outcome);
        self.late_repeats += 1;
        if !repeat.conflict {
            self.duplicates += 1;
            return;
        }
        self.conflict(&repeat.request_id);
        if self.late_conflicts.len() < MAX_LISTED {
            self.late_conflicts.push(LateConflict {
                request_id: repeat.request_id,
                line: repeat.line,
                first_line: repeat.first_line,
            });
        }
    }

    /// Fills the pass rate and the gate once every row is counted.
    pub fn finish(&mut self, fail_under: Option<f64>) {
        self.pass_rate = self.summary.pass_rate();
        self.fail_under = fail_under;
        self.gate_passed = fail_under.map(|floor| self.pass_rate.is_some_and(|rate| rate >= floor));
    }
}

/// The text written for one row (ends with a newline).
pub fn render_row(format: EvalsFormat, suite: &str, row: &RowResult) -> String {
    match format {
        EvalsFormat::Json | EvalsFormat::Jsonl => {
            // A row is plain data (strings and finite numbers); if it ever failed to
            // serialise, say so in place of the row rather than drop it.
            let mut text = serde_json::to_string(row).unwrap_or_else(|error| {
                serde_json::json!({"request_id": row.request_id, "error": error.to_string()})
                    .to_string()
            });
            text.push('\n');
            text
        }
        EvalsFormat::Human => render_human(
            suite,
            (&row.request_id, &row.arm, row.outcome, &row.reason),
            row.assertions.iter().map(|assertion| {
                (
                    assertion.evaluator.as_str(),
                    assertion.outcome,
                    assertion.reason.as_str(),
                )
            }),
        ),
    }
}

/// Appends the text of one rule-only row to `out`: the same bytes [`render_row`] gives for
/// the equivalent [`RowResult`], without building one.
pub fn render_rule_row(out: &mut Vec<u8>, format: EvalsFormat, suite: &str, row: &RuleRow<'_>) {
    match format {
        EvalsFormat::Json | EvalsFormat::Jsonl => {
            let start = out.len();
            // As in `render_row`: an error in place of a row that did not serialise.
            if let Err(error) = write_rule_row_json(out, row) {
                out.truncate(start);
                let text =
                    serde_json::json!({"request_id": row.request_id, "error": error.to_string()});
                out.extend_from_slice(text.to_string().as_bytes());
            }
            out.push(b'\n');
        }
        EvalsFormat::Human => {
            let text = render_human(
                suite,
                (row.request_id, row.arm, row.outcome, &row.reason),
                row.assertions.iter().map(|assertion| {
                    (
                        assertion.evaluator,
                        assertion.outcome,
                        assertion.reason.as_str(),
                    )
                }),
            );
            out.extend_from_slice(text.as_bytes());
        }
    }
}

/// Appends `row` as the JSON `serde_json::to_writer` gives for it (the test below checks the
/// bytes against the derived form of the owned row), with the keys written as fixed text and
/// strings that need no escaping copied as they are: the derived form escapes every key of
/// every assertion, a fifth of the time `evals run` spent writing (BENCHMARKS.md).
fn write_rule_row_json(out: &mut Vec<u8>, row: &RuleRow<'_>) -> serde_json::Result<()> {
    out.extend_from_slice(b"{\"request_id\":");
    json_str(out, row.request_id)?;
    out.extend_from_slice(b",\"arm\":");
    json_str(out, row.arm)?;
    out.extend_from_slice(b",\"outcome\":");
    json_str(out, row.outcome.as_str())?;
    out.extend_from_slice(b",\"score\":");
    serde_json::to_writer(&mut *out, &row.score)?;
    out.extend_from_slice(b",\"reason\":");
    json_str(out, &row.reason)?;
    out.extend_from_slice(b",\"assertions\":[");
    for (index, score) in row.assertions.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"request_id\":");
        json_str(out, score.request_id)?;
        out.extend_from_slice(b",\"evaluator\":");
        json_str(out, score.evaluator)?;
        out.extend_from_slice(b",\"evaluator_version\":");
        json_str(out, score.evaluator_version)?;
        out.extend_from_slice(b",\"outcome\":");
        json_str(out, score.outcome.as_str())?;
        out.extend_from_slice(b",\"score\":");
        serde_json::to_writer(&mut *out, &score.score)?;
        out.extend_from_slice(b",\"reason\":");
        json_str(out, &score.reason)?;
        out.extend_from_slice(b",\"latency_ms\":");
        serde_json::to_writer(&mut *out, &score.latency_ms)?;
        out.extend_from_slice(b",\"prompt_tokens\":");
        serde_json::to_writer(&mut *out, &score.prompt_tokens)?;
        out.extend_from_slice(b",\"completion_tokens\":");
        serde_json::to_writer(&mut *out, &score.completion_tokens)?;
        out.extend_from_slice(b",\"cost_usd\":");
        serde_json::to_writer(&mut *out, &score.cost_usd)?;
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
    Ok(())
}

/// A JSON string: copied between quotes when no byte needs escaping, else through serde_json.
fn json_str(out: &mut Vec<u8>, text: &str) -> serde_json::Result<()> {
    // Checked 32 bytes at a time without an early exit inside a block, which vectorises.
    let plain = text.as_bytes().chunks(32).all(|block| {
        block.iter().fold(true, |plain, &byte| {
            plain & (byte >= 0x20) & (byte != b'"') & (byte != b'\\')
        })
    });
    if plain {
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
        Ok(())
    } else {
        serde_json::to_writer(&mut *out, text)
    }
}

/// A row's request id, arm, verdict and reason, for the human format.
type Head<'a> = (&'a str, &'a str, Outcome, &'a str);

fn render_human<'a>(
    suite: &str,
    (request_id, arm, outcome, reason): Head<'_>,
    assertions: impl Iterator<Item = (&'a str, Outcome, &'a str)>,
) -> String {
    let mut text = format!(
        "{} ({}): {}  {}\n",
        request_id,
        arm,
        outcome.as_str().to_uppercase(),
        reason
    );
    let prefix = format!("{suite}/");
    for (evaluator, outcome, reason) in assertions {
        let name = evaluator.strip_prefix(&prefix).unwrap_or(evaluator);
        text.push_str(&format!(
            "    {:<10} {name}: {}\n",
            outcome.as_str(),
            reason
        ));
    }
    text
}

/// Writes rows as they come and the summary at the end, in one format.
pub struct RowWriter<W: Write> {
    out: W,
    format: EvalsFormat,
    rows_written: u64,
}

impl<W: Write> RowWriter<W> {
    /// Starts the output (the JSON document's opening).
    pub fn begin(mut out: W, format: EvalsFormat, suite: &str) -> std::io::Result<RowWriter<W>> {
        if format == EvalsFormat::Json {
            write!(
                out,
                "{{\"suite\":{},\"rows\":[",
                serde_json::Value::from(suite)
            )?;
        }
        Ok(RowWriter {
            out,
            format,
            rows_written: 0,
        })
    }

    /// Writes one rendered row.
    pub fn row(&mut self, rendered: &[u8]) -> std::io::Result<()> {
        if self.format == EvalsFormat::Json && self.rows_written > 0 {
            self.out.write_all(b",")?;
        }
        self.out.write_all(rendered)?;
        self.rows_written += 1;
        Ok(())
    }

    /// Writes the summary and flushes; returns the underlying writer.
    pub fn finish(mut self, summary: &RunSummary) -> std::io::Result<W> {
        match self.format {
            EvalsFormat::Json => {
                self.out.write_all(b"]")?;
                let fields = serde_json::to_value(summary).map_err(std::io::Error::other)?;
                if let serde_json::Value::Object(map) = fields {
                    for (key, value) in map {
                        write!(self.out, ",{}:{value}", serde_json::Value::from(key))?;
                    }
                }
                self.out.write_all(b"}\n")?;
            }
            EvalsFormat::Jsonl => {
                let line = serde_json::json!({ "summary": summary });
                writeln!(self.out, "{line}")?;
            }
            EvalsFormat::Human => write_human_summary(&mut self.out, summary)?,
        }
        self.out.flush()?;
        Ok(self.out)
    }
}

fn write_human_summary(out: &mut impl Write, summary: &RunSummary) -> std::io::Result<()> {
    let counts = &summary.summary;
    let rate = match summary.pass_rate {
        Some(rate) => format!(
            "{:.1}% ({} of {} scorable)",
            rate * 100.0,
            counts.pass,
            counts.pass + counts.fail
        ),
        None => "n/a (nothing scorable)".to_string(),
    };
    writeln!(
        out,
        "suite {}: {} rows: {} pass, {} fail, {} unscorable; pass rate {rate}",
        summary.suite, summary.scored, counts.pass, counts.fail, counts.unscorable
    )?;
    if summary.judge_calls > 0 {
        writeln!(
            out,
            "judges: {} calls, {} tokens, ${:.4}",
            summary.judge_calls, summary.judge_tokens, summary.judge_cost_usd
        )?;
    }
    if summary.rejected > 0 {
        writeln!(out, "{} line(s) rejected (see stderr)", summary.rejected)?;
    }
    if summary.duplicates > 0 {
        writeln!(
            out,
            "{} duplicate row(s) dropped (same request_id and content as an earlier row)",
            summary.duplicates
        )?;
    }
    if summary.late_repeats > 0 {
        writeln!(
            out,
            "{} row(s) were written before they were found to repeat an earlier request_id \
             (not counted above; see stderr for conflicts)",
            summary.late_repeats
        )?;
    }
    if summary.conflicts > 0 {
        writeln!(
            out,
            "{} conflicting row(s) dropped (same request_id, different content; the first was kept): {}",
            summary.conflicts,
            summary.conflicting_ids.join(", ")
        )?;
    }
    if let (Some(floor), Some(passed)) = (summary.fail_under, summary.gate_passed) {
        let verdict = if passed { "reached" } else { "NOT reached" };
        writeln!(out, "--fail-under {floor}: {verdict}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_row_renders_as_the_row_result_it_stands_for() {
        same_bytes_as_the_row_result("r\"1", "1 of 2 failed: \u{1F4E6} é", 0.012_5);
    }

    proptest::proptest! {
        #[test]
        fn any_rule_row_renders_as_the_row_result_it_stands_for(
            request_id in "(\\PC|\\pC){0,12}",
            reason in "(\\PC|\\pC|[\"\\\\]){0,40}",
            latency_ms in proptest::num::f64::ANY,
        ) {
            same_bytes_as_the_row_result(&request_id, &reason, latency_ms);
        }
    }

    fn same_bytes_as_the_row_result(request_id: &str, reason: &str, latency_ms: f64) {
        let score = |evaluator: &str, outcome, score, reason: &str| Score {
            request_id: request_id.to_string(),
            evaluator: evaluator.to_string(),
            evaluator_version: "v1".to_string(),
            outcome,
            score,
            reason: reason.to_string(),
            latency_ms,
            prompt_tokens: 0,
            completion_tokens: 0,
            cost_usd: 0.0,
        };
        let owned = RowResult {
            request_id: request_id.to_string(),
            arm: "canary".to_string(),
            outcome: Outcome::Fail,
            score: Some(0.5),
            reason: reason.to_string(),
            assertions: vec![
                score("s/a", Outcome::Pass, Some(1.0), "output contains \"x\""),
                score("s/b", Outcome::Unscorable, None, "no reference\n"),
                score("s/c\u{7}", Outcome::Fail, Some(0.0), reason),
            ],
        };
        let borrowed = RuleRow {
            request_id: &owned.request_id,
            arm: &owned.arm,
            outcome: owned.outcome,
            score: owned.score,
            reason: owned.reason.clone(),
            assertions: owned
                .assertions
                .iter()
                .map(|score| ScoreRef {
                    request_id: &score.request_id,
                    evaluator: &score.evaluator,
                    evaluator_version: &score.evaluator_version,
                    outcome: score.outcome,
                    score: score.score,
                    reason: score.reason.clone(),
                    latency_ms: score.latency_ms,
                    prompt_tokens: score.prompt_tokens,
                    completion_tokens: score.completion_tokens,
                    cost_usd: score.cost_usd,
                })
                .collect(),
        };
        for format in [EvalsFormat::Json, EvalsFormat::Jsonl, EvalsFormat::Human] {
            let mut text = b"before".to_vec();
            render_rule_row(&mut text, format, "s", &borrowed);
            let expected = format!("before{}", render_row(format, "s", &owned));
            assert_eq!(String::from_utf8(text).unwrap(), expected);
        }
    }
}
