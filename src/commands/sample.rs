//! `evalgate sample --at TIME`: prints what a tick at TIME would score: per arm, the window, the
//! selected requests (tenant and a short output preview), how many were available, how many
//! error rows were excluded, and the shortfall. It runs the same code as the tick pipeline
//! (`pipeline::sample_tick`: `window_candidates` → `logic::sampling::sample` with `tick_key`), so
//! the output is the same every time for the same store.

use std::process::ExitCode;

use serde::Serialize;

use crate::adapters::store::Store;
use crate::cli::SampleArgs;
use crate::clock::parse_time;
use crate::commands::CmdResult;
use crate::config::SamplingConfig;
use crate::context::Context;
use crate::domain::{Arm, Timestamp};
use crate::logic::attribution::RolloutTargets;
use crate::logic::sampling::{self, ArmSample, SamplePlan};
use crate::worker::pipeline::{TickSample, sample_tick};

const PREVIEW_CHARS: usize = 60;

/// The sample of one arm, as printed.
#[derive(Debug, Clone, Serialize)]
pub struct ArmReport {
    /// The arm.
    pub arm: Arm,
    /// The window this arm was sampled from (the baseline's differs at 100%).
    pub window: (Timestamp, Timestamp),
    /// The sampling result.
    #[serde(flatten)]
    pub sample: ArmSample,
    /// The selected requests with tenant and preview, in sampling order.
    pub requests: Vec<SampledRequest>,
}

/// One selected request.
#[derive(Debug, Clone, Serialize)]
pub struct SampledRequest {
    /// Its id.
    pub request_id: String,
    /// Its tenant.
    pub tenant_id: String,
    /// When it was served.
    pub ts: Timestamp,
    /// The first characters of its output.
    pub preview: String,
}

/// What a tick at `at` would score.
#[derive(Debug, Clone, Serialize)]
pub struct SampleReport {
    /// The tick time.
    pub at: Timestamp,
    /// Window start (inclusive).
    pub from: Timestamp,
    /// Window end (exclusive).
    pub to: Timestamp,
    /// The rollout filter, if any.
    pub rollout_id: Option<String>,
    /// The plan used.
    pub plan: SamplePlan,
    /// The hash key of this tick.
    pub tick_key: String,
    /// Baseline first, then canary.
    pub arms: Vec<ArmReport>,
}

/// Runs `evalgate sample`.
pub async fn run(ctx: &Context, args: SampleArgs) -> CmdResult {
    let at = parse_time("--at", &args.at)?;
    if args.n == Some(0) {
        anyhow::bail!("--n is 0; allowed: at least 1");
    }
    let store = ctx.store().await?;
    // With a rollout, its stage decides the windows exactly as in its ticks (at 100% the
    // baseline comes from before the stage), and its targets which requests are its own.
    let (owner, position) = match args.rollout.as_deref() {
        Some(id) => {
            let rollout = crate::worker::controller::LoadedRollout::load(&store, id).await?;
            let position = crate::worker::pipeline::position_of(&rollout.state, &rollout.plan);
            (Some(rollout.row.targets()), Some(position))
        }
        None => (None, None),
    };
    let report = sample_at(
        &store,
        &ctx.config.sampling,
        at,
        owner.as_ref(),
        position,
        args.n,
    )
    .await?;
    if args.json {
        crate::outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_human(&report);
    }
    Ok(ExitCode::SUCCESS)
}

/// Samples both arms for a tick at `at`, exactly as the tick pipeline does.
pub async fn sample_at(
    store: &Store,
    config: &SamplingConfig,
    at: Timestamp,
    owner_opt: Option<&RolloutTargets>,
    position: Option<sampling::RolloutPosition>,
    n_opt: Option<u32>,
) -> anyhow::Result<SampleReport> {
    let windows = sampling::tick_windows(
        at,
        config.window,
        config.readiness_delay,
        config.feedback_maturity,
        position,
    );
    let (from, to) = windows.canary;
    let plan = SamplePlan {
        n_per_arm: n_opt.unwrap_or(config.n_per_arm),
        ..SamplePlan::of(config)
    };
    let rollout_id_opt = owner_opt.map(|targets| targets.rollout_id.as_str());
    let tick_key = sampling::tick_key(rollout_id_opt, from);
    let TickSample {
        arms: samples,
        requests,
    } = sample_tick(store, &plan, owner_opt, &windows).await?;
    let mut arms = Vec::with_capacity(Arm::ALL.len());
    for (arm, sample) in [
        (Arm::Baseline, samples.baseline),
        (Arm::Canary, samples.canary),
    ] {
        let requests = requests
            .iter()
            .filter(|row| row.arm == arm)
            .map(|row| SampledRequest {
                preview: preview(&row.output),
                request_id: row.request_id.clone(),
                tenant_id: row.tenant_id.clone(),
                ts: row.ts,
            })
            .collect();
        arms.push(ArmReport {
            arm,
            window: windows.of(arm),
            sample,
            requests,
        });
    }
    Ok(SampleReport {
        at,
        from,
        to,
        rollout_id: rollout_id_opt.map(str::to_string),
        plan,
        tick_key,
        arms,
    })
}

/// The first characters of `text` on one line.
fn preview(text: &str) -> String {
    let flat: String = text
        .chars()
        .map(|ch| if ch.is_control() { ' ' } else { ch })
        .collect();
    let mut chars = flat.chars();
    let head: String = chars.by_ref().take(PREVIEW_CHARS).collect();
    if chars.next().is_some() {
        return format!("{head}…");
    }
    head
}

fn print_human(report: &SampleReport) {
    let rollout = report.rollout_id.as_deref().unwrap_or("all traffic");
    crate::outln!(
        "tick at {}  window [{}, {})  rollout {rollout}",
        report.at.to_rfc3339(),
        report.from.to_rfc3339(),
        report.to.to_rfc3339()
    );
    crate::outln!(
        "plan: n_per_arm {}, per_tenant_cap {}, seed {}",
        report.plan.n_per_arm,
        report.plan.per_tenant_cap,
        report.plan.seed
    );
    for arm in &report.arms {
        crate::outln!();
        crate::outln!(
            "{}: selected {} of {} available ({} eligible, {} errors excluded, shortfall {})  \
             window [{}, {})",
            arm.arm,
            arm.sample.selected.len(),
            arm.sample.available,
            arm.sample.eligible,
            arm.sample.excluded_errors,
            arm.sample.shortfall,
            arm.window.0.to_rfc3339(),
            arm.window.1.to_rfc3339(),
        );
        for request in &arm.requests {
            crate::outln!(
                "  {}  {}  {}  {}",
                request.request_id,
                request.tenant_id,
                request.ts.format("%H:%M:%S"),
                request.preview
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preview_is_one_line_and_cut_with_an_ellipsis() {
        assert_eq!(preview("a\nb"), "a b");
        let long = "x".repeat(100);
        let cut = preview(&long);
        assert_eq!(cut.chars().count(), PREVIEW_CHARS + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(preview(""), "");
    }
}
