//! `evalgate evals run --suite NAME --input FILE.jsonl [--format human|json|jsonl]
//! [--fail-under RATE]`: scores the rows of a file with one suite, streaming (see
//! [`super::evals_stream`]): each row's result is written as soon as its chunk is scored, then
//! the summary. For authoring suites and as a CI gate.
//!
//! Exit codes: 0 when every line was scored; 1 when lines were rejected or request ids
//! conflicted (same id, different content); 3 when the pass rate is below `--fail-under` (or
//! nothing was scorable), which wins over 1; errors (unreadable input, no such valid suite)
//! exit 2 from `main`.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::process::ExitCode;

use anyhow::Context as _;

use super::evals_cmd::{judge_names, suites_dir};
use super::evals_output::{RowWriter, RunSummary};
use super::evals_seen::TABLE_IDS;
use super::evals_stream::{
    JUDGE_CHUNK_LINES, RULE_CHUNK_LINES, StreamSettings, stream_judged, stream_rules,
};
use crate::adapters::jsonl::ParseLimits;
use crate::cli::EvalsRunArgs;
use crate::commands::CmdResult;
use crate::context::Context;
use crate::evaluators::{Suite, load_valid_suites};
use crate::worker::scoring::{ScoringEngine, judge_http_client};

/// The exit code when `--fail-under` is not reached.
pub const EXIT_BELOW_FAIL_UNDER: u8 = 3;

/// Runs `evalgate evals run`, writing to stdout. A closed stdout (`… | head`) drops the rest
/// of the output but not the run: the exit code is still the gate's.
pub async fn run(ctx: &Context, args: EvalsRunArgs) -> CmdResult {
    let stdout = std::io::BufWriter::with_capacity(
        256 * 1024,
        crate::out::ClosedPipeTolerant::new(std::io::stdout()),
    );
    let summary = run_to(ctx, &args, stdout).await?;
    Ok(ExitCode::from(exit_code(&summary)))
}

/// The exit code a summary calls for.
pub fn exit_code(summary: &RunSummary) -> u8 {
    if summary.gate_passed == Some(false) {
        return EXIT_BELOW_FAIL_UNDER;
    }
    if summary.rejected > 0 || summary.conflicts > 0 {
        return 1;
    }
    0
}

/// Loads the suite, streams the input through it into `out`, and returns the summary (which
/// was also written to `out`). Tests call this with a `Vec<u8>`.
pub async fn run_to<W: Write + Send>(
    ctx: &Context,
    args: &EvalsRunArgs,
    out: W,
) -> anyhow::Result<RunSummary> {
    if let Some(rate) = args.fail_under
        && !(0.0..=1.0).contains(&rate)
    {
        anyhow::bail!("--fail-under must be a pass rate between 0 and 1, got {rate}");
    }
    let (suite, other_problems) = find_suite(ctx, args)?;
    for problem in &other_problems {
        crate::errln!("warning: another suite does not load: {problem}");
    }
    let mut reader = open_input(args)?;
    let format = args.output_format();
    let mut writer = RowWriter::begin(out, format, &suite.name)?;
    let mut summary = RunSummary {
        suite: suite.name.clone(),
        other_suite_problems: other_problems,
        ..RunSummary::default()
    };
    let mut settings = StreamSettings {
        max_line_bytes: ctx.config.ingest.max_line_bytes,
        parse_limits: ParseLimits {
            max_field_bytes: ctx.config.ingest.max_field_bytes,
        },
        format,
        chunk_lines: RULE_CHUNK_LINES,
        seen_table_ids: TABLE_IDS,
    };
    if suite.assertions.iter().all(|assertion| assertion.is_rule()) {
        stream_rules(&suite, &mut reader, &mut writer, &settings, &mut summary)?;
    } else {
        settings.chunk_lines = JUDGE_CHUNK_LINES;
        let engine = ScoringEngine::new(
            None,
            &ctx.config.judges,
            judge_http_client()?,
            ctx.clock.clone(),
        );
        let ticks = engine.ticks(&engine.default_budgets());
        let versioned = engine.versioned(suite.clone());
        let streamed = stream_judged(
            &engine,
            &ticks,
            &versioned,
            &mut reader,
            &mut writer,
            &settings,
            &mut summary,
        )
        .await;
        for tick in ticks.values() {
            summary.judge_calls += tick.calls();
            summary.judge_tokens += tick.tokens();
            summary.judge_cost_usd += tick.spent_usd();
        }
        streamed?;
    }
    summary.finish(args.fail_under);
    writer
        .finish(&summary)
        .context("cannot write the results")?;
    Ok(summary)
}

/// The suite asked for, and the problems of the other suite files in the directory (which
/// do not stop this run). A problem in the directory when the suite is not found is an error
/// that names every problem, since the asked suite may be the broken one.
fn find_suite(ctx: &Context, args: &EvalsRunArgs) -> anyhow::Result<(Suite, Vec<String>)> {
    let dir = suites_dir(ctx, args.dir.clone());
    let (suites, diagnostics) = match load_valid_suites(&dir, &judge_names(ctx)) {
        Ok(loaded) => loaded,
        Err(diagnostics) => {
            let lines: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
            anyhow::bail!("{}", lines.join("\n"));
        }
    };
    let problems: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
    match suites.into_iter().find(|suite| suite.name == args.suite) {
        Some(suite) => Ok((suite, problems)),
        None if problems.is_empty() => anyhow::bail!(
            "no suite named `{}` in {} (run `evalgate evals check {}`)",
            args.suite,
            dir.display(),
            dir.display()
        ),
        None => anyhow::bail!(
            "no valid suite named `{}` in {}; these files have problems (it may be one of them):\n{}",
            args.suite,
            dir.display(),
            problems.join("\n")
        ),
    }
}

fn open_input(args: &EvalsRunArgs) -> anyhow::Result<Box<dyn BufRead + Send>> {
    if args.input.as_os_str() == "-" {
        return Ok(Box::new(BufReader::new(std::io::stdin())));
    }
    let file =
        File::open(&args.input).with_context(|| format!("cannot read {}", args.input.display()))?;
    Ok(Box::new(BufReader::with_capacity(256 * 1024, file)))
}
