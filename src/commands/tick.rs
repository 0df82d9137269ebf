//! `evalgate tick`: runs one tick of the pipeline for every active rollout at `--at` (or now)
//! and prints what each decided (`--json` for scripts); exit 1 when any rollout's tick failed.

use std::process::ExitCode;

use crate::cli::TickArgs;
use crate::clock::parse_time;
use crate::commands::CmdResult;
use crate::context::Context;
use crate::worker::tick::{Pipeline, TickReport, worker_name};

/// Runs `evalgate tick`.
pub async fn run(ctx: &Context, args: TickArgs) -> CmdResult {
    let at = match &args.at {
        Some(text) => parse_time("--at", text)?,
        None => ctx.clock.now(),
    };
    let services = ctx.services().await?;
    let pipeline = Pipeline::load(&services, &worker_name())?;
    let report = pipeline.tick_all(&services, at).await?;
    if args.json {
        crate::outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    let failed = report.rollouts.iter().any(|entry| entry.error.is_some());
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn print_report(report: &TickReport) {
    let at = report.at.map(|at| at.to_rfc3339()).unwrap_or_default();
    if report.rollouts.is_empty() {
        crate::outln!("tick at {at}: no active rollout");
        return;
    }
    crate::outln!("tick at {at}");
    for entry in &report.rollouts {
        crate::outln!("\n{}: {}", entry.rollout_id, entry.decision);
        if let Some(error) = &entry.error {
            crate::outln!("  error: {error}");
        }
        if let Some(fail_safe) = &entry.fail_safe {
            crate::outln!("  FAIL-SAFE: {fail_safe}");
        }
        let Some(tick) = &entry.detail else { continue };
        let rate =
            |value: Option<f64>| value.map_or("-".to_string(), |r| format!("{:.1}%", r * 100.0));
        // Canary first, as the demo and `rollout status` print it; stages count from 1.
        crate::outln!(
            "  window {} .. {}  stage {}  split {} bp  sampled canary {} / baseline {}",
            tick.window_start
                .map(|t| t.format("%H:%M").to_string())
                .unwrap_or_default(),
            tick.window_end
                .map(|t| t.format("%H:%M").to_string())
                .unwrap_or_default(),
            tick.stage_index + 1,
            tick.split_bp,
            tick.sampled.1,
            tick.sampled.0,
        );
        if let Some(hint) = &tick.attribution_hint {
            crate::outln!("  hint: {hint}");
        }
        crate::outln!(
            "  pass rate canary {} vs baseline {}  unscorable canary {} / baseline {}  phase {} at {} bp",
            rate(tick.pass_rate.1),
            rate(tick.pass_rate.0),
            tick.unscorable.1,
            tick.unscorable.0,
            tick.phase,
            tick.split_after_bp,
        );
        for verdict in &tick.verdicts {
            crate::outln!("    {:<28} {}", verdict.metric, verdict.verdict.reason());
        }
    }
}
