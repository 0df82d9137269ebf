//! `evalgate drill [--flag KEY] [--json]`: one rollback drill through every flag sink, printed
//! for people or as JSON; exit 1 when a sink failed or drifted (the drill is
//! [`crate::worker::drill`]).

use std::process::ExitCode;

use crate::cli::DrillArgs;
use crate::commands::CmdResult;
use crate::context::Context;
use crate::worker::drill::{drill_with, render};

/// Runs `evalgate drill [--flag KEY] [--json]`; exit 1 when a sink failed or drifted.
pub async fn run(ctx: &Context, args: DrillArgs) -> CmdResult {
    let services = ctx.services().await?;
    let flag = args
        .flag
        .clone()
        .unwrap_or_else(|| ctx.config.flags.drill_flag.clone());
    let report = drill_with(&services.store, &services.sinks, &flag, ctx.clock.now()).await?;
    if args.json {
        crate::outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        crate::out!("{}", render(&report));
    }
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
