//! `evalgate gatebench`: runs the pure benchmark of `sim::gatebench` and prints the table (or
//! one JSON object per check with `--json`). Exit 1 when any check fails.

use std::process::ExitCode;

use crate::cli::GatebenchArgs;
use crate::commands::CmdResult;
use crate::context::Context;
use crate::sim::gatebench::{Preset, render_json, render_table, run_seeds, summary};

/// Runs `evalgate gatebench`.
pub async fn run(_ctx: &Context, args: GatebenchArgs) -> CmdResult {
    let preset = match (args.reps, args.smoke) {
        (Some(reps), _) => Preset::Reps(reps),
        (None, true) => Preset::Smoke,
        (None, false) => Preset::Full,
    };
    let seeds = args.seed.clone();
    let only = args.cell.clone();
    let results = tokio::task::spawn_blocking(move || run_seeds(&seeds, preset, &only)).await?;
    if results.is_empty() {
        anyhow::bail!(
            "--cell {}: no cell or check id starts with that (ids: `evalgate gatebench --smoke --json`)",
            args.cell.join(",")
        );
    }
    if args.json {
        crate::out!("{}", render_json(&results));
    } else {
        for &seed in &args.seed {
            let of_seed: Vec<_> = results.iter().filter(|r| r.seed == seed).cloned().collect();
            crate::outln!("seed {seed}");
            crate::out!("{}", render_table(&of_seed));
            let failed = of_seed.iter().filter(|r| !r.pass).count();
            crate::outln!("{} checks, {failed} failed (seed {seed})\n", of_seed.len());
        }
        let checks = summary(&results);
        let short: Vec<String> = checks
            .iter()
            .filter(|(_, passed, ran)| passed < ran)
            .map(|(id, passed, ran)| format!("{id} ({passed}/{ran} seeds)"))
            .collect();
        if short.is_empty() {
            crate::outln!(
                "all {} targets pass at every seed ({})",
                checks.len(),
                seed_list(&args.seed)
            );
        } else {
            crate::outln!(
                "targets not met at every seed ({}): {}",
                seed_list(&args.seed),
                short.join(", ")
            );
        }
    }
    let all_pass = results.iter().all(|r| r.pass);
    Ok(if all_pass {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn seed_list(seeds: &[u64]) -> String {
    seeds
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
