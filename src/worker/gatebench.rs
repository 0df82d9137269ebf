//! `evalgate gatebench`: runs the pure benchmark of `logic::gatebench` and prints the table (or
//! one JSON object per check with `--json`). Exit 1 when any check fails.

use std::process::ExitCode;

use crate::app::{CmdResult, Context};
use crate::cli::GatebenchArgs;
use crate::logic::gatebench::{Preset, render_json, render_table, run as run_bench};

/// Runs `evalgate gatebench`.
pub async fn run(_ctx: &Context, args: GatebenchArgs) -> CmdResult {
    let preset = match (args.reps, args.smoke) {
        (Some(reps), _) => Preset::Reps(reps),
        (None, true) => Preset::Smoke,
        (None, false) => Preset::Full,
    };
    let seed = args.seed;
    let results = tokio::task::spawn_blocking(move || run_bench(seed, preset)).await?;
    if args.json {
        crate::out!("{}", render_json(&results));
    } else {
        crate::out!("{}", render_table(&results));
        let failed = results.iter().filter(|r| !r.pass).count();
        crate::outln!("\n{} checks, {failed} failed (seed {seed})", results.len());
    }
    let all_pass = results.iter().all(|r| r.pass);
    Ok(if all_pass {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
