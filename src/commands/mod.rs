//! The CLI layer: one handler per command (parse its arguments, call the engine in
//! [`crate::worker`] or the store, print text or `--json`), and [`run`], which maps a parsed
//! command line onto them. Nothing below this layer imports it; `main.rs` only parses and
//! reports. Errors bubble up as `anyhow` to `main`.

use std::process::ExitCode;

use anyhow::Context as _;

use crate::cli::{Cli, Command, EvalsCommand};
use crate::context::Context;

pub mod backtest;
pub mod demo;
pub mod display;
pub mod drill;
pub mod evals_cmd;
pub mod evals_flat;
pub mod evals_lines;
pub mod evals_output;
pub mod evals_run;
pub mod evals_seen;
pub mod evals_stream;
pub mod gatebench;
pub mod ingest;
pub mod plan_power;
pub mod rescore;
pub mod rollout_cmd;
pub mod rollout_day2;
pub mod rollout_retry;
pub mod rollout_review;
pub mod rollout_status;
pub mod rollout_wait;
pub mod route;
pub mod sample;
pub mod serve;
pub mod synth;
pub mod tick;
pub mod web;

/// What a command returns: an exit code (0 ok, 1 "ran but found problems").
pub type CmdResult = anyhow::Result<ExitCode>;

/// Runs one command.
pub async fn run(cli: Cli) -> CmdResult {
    if let Command::Completion(args) = &cli.command {
        return completion(args.shell);
    }
    let ctx = Context::load(cli.config.clone(), cli.store.as_deref(), std::env::vars())?;
    match cli.command {
        Command::Migrate(args) => {
            let store = ctx.store().await?;
            if args.json {
                let output = serde_json::json!({"migrated": true, "backend": store.backend()});
                crate::outln!("{output}");
            } else {
                crate::outln!("migrations applied ({})", store.backend());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Ingest(args) => ingest::run(&ctx, args).await,
        Command::Synth(args) => synth::run(&ctx, args).await,
        Command::Sample(args) => sample::run(&ctx, args).await,
        Command::Evals(EvalsCommand::Check(args)) => evals_cmd::check(&ctx, args).await,
        Command::Evals(EvalsCommand::Run(args)) => evals_cmd::run(&ctx, args).await,
        Command::Rollout(command) => rollout_cmd::run(&ctx, command).await,
        Command::Route(args) => route::run(&ctx, args).await,
        Command::Drill(args) => drill::run(&ctx, args).await,
        Command::Gatebench(args) => gatebench::run(&ctx, args).await,
        Command::Backtest(args) => backtest::run(&ctx, args).await,
        Command::Serve(args) => serve::run(&ctx, args).await,
        Command::Tick(args) => tick::run(&ctx, args).await,
        Command::Rescore(args) => rescore::run(&ctx, args).await,
        Command::Demo(args) => demo::run(&ctx, args).await,
        Command::Completion(args) => completion(args.shell),
    }
}

/// `evalgate completion SHELL`: the shell's completion script on stdout (no config or store
/// needed; a closed pipe is not an error).
fn completion(shell: clap_complete::Shell) -> CmdResult {
    use clap::CommandFactory as _;
    let mut command = Cli::command();
    let mut out = crate::out::ClosedPipeTolerant::new(std::io::stdout().lock());
    clap_complete::generate(shell, &mut command, "evalgate", &mut out);
    std::io::Write::flush(&mut out).context("cannot write the completion script")?;
    Ok(ExitCode::SUCCESS)
}
