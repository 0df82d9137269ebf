//! `evalgate evals run --suite NAME --input FILE.jsonl [--json]`: scores the rows of a file with
//! one suite through the scoring engine (the same path as ticks and rescore, without a store),
//! then prints each row's verdict with its assertions and the pass rate. For authoring suites.

use std::collections::HashMap;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use serde::Serialize;

use super::evals_cmd::{judge_names, suites_dir};
use super::scoring::{OutcomeCounts, ScoringEngine, ScoringReport, judge_http_client};
use crate::adapters::jsonl::{ParseLimits, Record, parse_line};
use crate::app::{CmdResult, Context};
use crate::cli::EvalsRunArgs;
use crate::config::IngestConfig;
use crate::domain::{Outcome, Request, Score};
use crate::evaluators::load_suites;

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

/// A line of the input that was not scored.
#[derive(Debug, Clone, Serialize)]
pub struct RejectedLine {
    /// 1-based line number.
    pub line: usize,
    /// Why it was rejected.
    pub reason: String,
}

/// What `evals run` found.
#[derive(Debug, Clone, Serialize)]
pub struct EvalsRunOutput {
    /// The suite.
    pub suite: String,
    /// One entry per request row, in file order.
    pub rows: Vec<RowResult>,
    /// Suite verdict counts over all rows.
    pub summary: OutcomeCounts,
    /// Passes over scorable rows.
    pub pass_rate: Option<f64>,
    /// Lines that could not be read as request rows.
    pub rejected: Vec<RejectedLine>,
    /// Feedback lines skipped.
    pub feedback_lines: usize,
    /// Judge calls made.
    pub judge_calls: u64,
    /// Judge tokens used.
    pub judge_tokens: u64,
    /// Judge dollars spent.
    pub judge_cost_usd: f64,
}

/// Runs `evalgate evals run`.
pub async fn run(ctx: &Context, args: EvalsRunArgs) -> CmdResult {
    let json = args.json;
    let output = evaluate_file(ctx, &args).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&output)?);
    } else {
        print_human(&output);
    }
    if output.rejected.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::from(1))
    }
}

/// Loads the suite, reads the rows and scores them (no printing; tests call this).
pub async fn evaluate_file(ctx: &Context, args: &EvalsRunArgs) -> anyhow::Result<EvalsRunOutput> {
    let dir = suites_dir(args.dir.clone());
    let suites = match load_suites(&dir, &judge_names(ctx)) {
        Ok(suites) => suites,
        Err(diagnostics) => {
            let lines: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
            anyhow::bail!(
                "the suites in {} do not load (run `evalgate evals check`):\n{}",
                dir.display(),
                lines.join("\n")
            );
        }
    };
    let Some(suite) = suites.iter().find(|suite| suite.name == args.suite) else {
        let names: Vec<&str> = suites.iter().map(|suite| suite.name.as_str()).collect();
        anyhow::bail!(
            "no suite named `{}` in {} (found: {})",
            args.suite,
            dir.display(),
            names.join(", ")
        );
    };
    let (requests, rejected, feedback_lines) = read_rows(&args.input, &ctx.config.ingest)?;
    let engine = ScoringEngine::new(
        None,
        &ctx.config.judges,
        judge_http_client()?,
        ctx.clock.clone(),
    );
    let report = engine
        .score(suite, &requests, &engine.default_budgets())
        .await?;
    Ok(assemble(&report, &requests, rejected, feedback_lines))
}

/// Reads request rows with the ingest parser; bad lines are reported, not dropped silently.
fn read_rows(
    path: &Path,
    limits: &IngestConfig,
) -> anyhow::Result<(Vec<Request>, Vec<RejectedLine>, usize)> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let parse_limits = ParseLimits {
        max_field_bytes: limits.max_field_bytes,
    };
    let mut requests = Vec::new();
    let mut rejected = Vec::new();
    let mut feedback_lines = 0;
    for (index, raw_line) in bytes.split(|byte| *byte == b'\n').enumerate() {
        let line = raw_line.strip_suffix(b"\r").unwrap_or(raw_line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if line.len() > limits.max_line_bytes {
            rejected.push(RejectedLine {
                line: index + 1,
                reason: format!("line longer than {} bytes", limits.max_line_bytes),
            });
            continue;
        }
        match parse_line(line, &parse_limits) {
            Ok(Record::Request(request)) => requests.push(*request),
            Ok(Record::Feedback(_)) => feedback_lines += 1,
            Err(reject) => rejected.push(RejectedLine {
                line: index + 1,
                reason: reject.reason,
            }),
        }
    }
    Ok((requests, rejected, feedback_lines))
}

fn assemble(
    report: &ScoringReport,
    requests: &[Request],
    rejected: Vec<RejectedLine>,
    feedback_lines: usize,
) -> EvalsRunOutput {
    let mut by_request: HashMap<&str, Vec<&Score>> = HashMap::new();
    for score in &report.scores {
        by_request
            .entry(score.request_id.as_str())
            .or_default()
            .push(score);
    }
    let mut summary = OutcomeCounts::default();
    let mut rows = Vec::with_capacity(requests.len());
    for request in requests {
        let scores = by_request
            .get(request.request_id.as_str())
            .cloned()
            .unwrap_or_default();
        let suite_score = scores.iter().find(|score| score.evaluator == report.suite);
        let (outcome, score, reason) = match suite_score {
            Some(found) => (found.outcome, found.score, found.reason.clone()),
            None => (Outcome::Unscorable, None, "not scored".to_string()),
        };
        summary.add(outcome);
        let prefix = format!("{}/", report.suite);
        let assertions = scores
            .iter()
            .filter(|score| score.evaluator.starts_with(&prefix))
            .map(|score| (*score).clone())
            .collect();
        rows.push(RowResult {
            request_id: request.request_id.clone(),
            arm: request.arm.as_str().to_string(),
            outcome,
            score,
            reason,
            assertions,
        });
    }
    EvalsRunOutput {
        suite: report.suite.clone(),
        pass_rate: summary.pass_rate(),
        rows,
        summary,
        rejected,
        feedback_lines,
        judge_calls: report.judge_calls,
        judge_tokens: report.judge_tokens,
        judge_cost_usd: report.judge_cost_usd,
    }
}

fn print_human(output: &EvalsRunOutput) {
    for row in &output.rows {
        println!(
            "{} ({}): {}  {}",
            row.request_id,
            row.arm,
            row.outcome.as_str().to_uppercase(),
            row.reason
        );
        for assertion in &row.assertions {
            let name = assertion
                .evaluator
                .strip_prefix(&format!("{}/", output.suite))
                .unwrap_or(&assertion.evaluator);
            println!(
                "    {:<10} {name}: {}",
                assertion.outcome.as_str(),
                assertion.reason
            );
        }
    }
    for rejected in &output.rejected {
        eprintln!("line {}: rejected: {}", rejected.line, rejected.reason);
    }
    let summary = &output.summary;
    let rate = match output.pass_rate {
        Some(rate) => format!(
            "{:.1}% ({} of {} scorable)",
            rate * 100.0,
            summary.pass,
            summary.pass + summary.fail
        ),
        None => "n/a (nothing scorable)".to_string(),
    };
    println!(
        "suite {}: {} rows: {} pass, {} fail, {} unscorable; pass rate {rate}",
        output.suite,
        output.rows.len(),
        summary.pass,
        summary.fail,
        summary.unscorable
    );
    if output.judge_calls > 0 {
        println!(
            "judges: {} calls, {} tokens, ${:.4}",
            output.judge_calls, output.judge_tokens, output.judge_cost_usd
        );
    }
    if !output.rejected.is_empty() {
        println!("{} line(s) rejected (see above)", output.rejected.len());
    }
}
