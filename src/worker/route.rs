//! `evalgate route`: which bucket and arm a tenant gets under a flag, computed by the same pure
//! function gateways must match (`logic::routing`), with the `[rollout]` cohorts applied.

use std::process::ExitCode;

use anyhow::Context as _;
use serde::Serialize;

use crate::app::{CmdResult, Context};
use crate::cli::RouteArgs;
use crate::domain::rollout::FULL_BASIS_POINTS;
use crate::logic::routing::{BUCKETS, FlagRouting, RouteDecision, route};

/// What `evalgate route` prints.
#[derive(Debug, Clone, Serialize)]
pub struct RouteReport {
    /// The flag key.
    pub flag: String,
    /// The tenant id.
    pub tenant: String,
    /// The salt used.
    pub salt: String,
    /// The split evaluated, in basis points.
    pub basis_points: u32,
    /// The decision: bucket, arm, reason.
    #[serde(flatten)]
    pub decision: RouteDecision,
}

/// Routes one tenant; pure apart from reading the config already in `ctx`.
pub fn route_report(ctx: &Context, args: &RouteArgs, basis_points: u32) -> RouteReport {
    let rollout = &ctx.config.rollout;
    let salt = args
        .salt
        .clone()
        .unwrap_or_else(|| rollout.salt_for(&args.flag, None));
    let flag = FlagRouting {
        salt: salt.clone(),
        basis_points,
        always: rollout.always_canary.clone(),
        never: rollout.never_canary.clone(),
    };
    RouteReport {
        flag: args.flag.clone(),
        tenant: args.tenant.clone(),
        salt,
        basis_points,
        decision: route(&flag, &args.tenant),
    }
}

/// Renders the report as a small aligned table.
pub fn render(report: &RouteReport) -> String {
    format!(
        "flag    {}\ntenant  {}\nsalt    {}\nbucket  {} of {BUCKETS}\nsplit   {} bp ({:.2}%)\narm     {} ({})\n",
        report.flag,
        report.tenant,
        report.salt,
        report.decision.bucket,
        report.basis_points,
        f64::from(report.basis_points) / 100.0,
        report.decision.arm,
        report.decision.reason.describe(),
    )
}

/// Runs `evalgate route`.
pub async fn run(ctx: &Context, args: RouteArgs) -> CmdResult {
    let Some(basis_points) = args.basis_points else {
        anyhow::bail!(
            "--basis-points is required: reading the flag's current split from the store is not \
             available yet (it comes with the traffic_splits table)"
        );
    };
    if basis_points > FULL_BASIS_POINTS {
        anyhow::bail!("--basis-points is {basis_points}; allowed: 0..=10000 (50 = 0.5%)");
    }
    let report = route_report(ctx, &args, basis_points);
    if args.json {
        let text = serde_json::to_string_pretty(&report).context("cannot render json")?;
        println!("{text}");
    } else {
        print!("{}", render(&report));
    }
    Ok(ExitCode::SUCCESS)
}
