//! `evalgate route`: which bucket and arm a tenant gets under a flag, computed by the same pure
//! function gateways must match (`logic::routing`). Without `--basis-points` it routes as the
//! flag's stored split does (split, salt, cohorts from `traffic_splits`); with it, it evaluates
//! that split with the `[rollout]` salt policy and cohorts.

use std::process::ExitCode;

use anyhow::Context as _;
use serde::Serialize;

use crate::cli::RouteArgs;
use crate::commands::CmdResult;
use crate::context::Context;
use crate::domain::flag::SplitRecord;
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

/// Routes one tenant at an explicit split, with the salt policy and cohorts of `[rollout]`.
pub fn route_report(ctx: &Context, args: &RouteArgs, basis_points: u32) -> RouteReport {
    let rollout = &ctx.config.rollout;
    let salt = args
        .salt
        .clone()
        .unwrap_or_else(|| rollout.salt_for(&args.flag, None));
    let flag = FlagRouting {
        salt,
        basis_points,
        always: rollout.always_canary.clone(),
        never: rollout.never_canary.clone(),
    };
    report(args, flag)
}

/// Routes one tenant exactly as the stored flag routes it (split, salt and cohorts as the
/// gateway reads them); `--salt` still overrides the salt.
pub fn stored_route_report(args: &RouteArgs, stored: &SplitRecord) -> RouteReport {
    let flag = FlagRouting {
        salt: args.salt.clone().unwrap_or_else(|| stored.salt.clone()),
        basis_points: stored.basis_points,
        always: stored.always.clone(),
        never: stored.never.clone(),
    };
    report(args, flag)
}

fn report(args: &RouteArgs, flag: FlagRouting) -> RouteReport {
    RouteReport {
        flag: args.flag.clone(),
        tenant: args.tenant.clone(),
        decision: route(&flag, &args.tenant),
        salt: flag.salt,
        basis_points: flag.basis_points,
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
    let report = match args.basis_points {
        Some(basis_points) if basis_points > FULL_BASIS_POINTS => {
            anyhow::bail!("--basis-points is {basis_points}; allowed: 0..=10000 (50 = 0.5%)")
        }
        Some(basis_points) => route_report(ctx, &args, basis_points),
        None => {
            let store = ctx.store().await?;
            let stored = store
                .get_split(&args.flag)
                .await
                .with_context(|| format!("cannot read the split of flag `{}`", args.flag))?;
            let Some(stored) = stored else {
                anyhow::bail!(
                    "flag `{}` has no stored split; pass --basis-points to evaluate one",
                    args.flag
                );
            };
            stored_route_report(&args, &stored)
        }
    };
    if args.json {
        let text = serde_json::to_string_pretty(&report).context("cannot render json")?;
        crate::outln!("{text}");
    } else {
        crate::out!("{}", render(&report));
    }
    Ok(ExitCode::SUCCESS)
}
