//! Maps a parsed command line onto the worker: loads and validates the config, builds the
//! context every command shares, and dispatches. Errors bubble up as `anyhow` to `main`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;

use crate::adapters::store::Store;
use crate::cli::{Cli, Command, EvalsCommand, RolloutCommand};
use crate::clock::{Clock, SystemClock};
use crate::config::{self, Config};
use crate::worker;

/// What a command returns: an exit code (0 ok, 1 "ran but found problems").
pub type CmdResult = anyhow::Result<ExitCode>;

/// What every command gets: the validated config and the clock.
#[derive(Clone)]
pub struct Context {
    /// The validated configuration (flags already applied).
    pub config: Config,
    /// The config file it came from, if any.
    pub config_path: Option<PathBuf>,
    /// The clock: the system clock, or a manual one in the demo and tests.
    pub clock: Arc<dyn Clock>,
}

impl Context {
    /// Builds the context from the command line and the process environment.
    pub fn from_cli(cli: &Cli) -> anyhow::Result<Context> {
        let config_path = config::resolve_path(cli.config.clone());
        let mut config = Config::load(config_path.as_deref(), std::env::vars())?;
        if let Some(url) = &cli.store {
            config.store.url = url.clone();
            config.validate("--store")?;
        }
        Ok(Context {
            config,
            config_path,
            clock: Arc::new(SystemClock),
        })
    }

    /// A context over an explicit config (tests, the demo).
    pub fn with_config(config: Config, clock: Arc<dyn Clock>) -> Context {
        Context {
            config,
            config_path: None,
            clock,
        }
    }

    /// Opens the configured store and applies pending migrations.
    pub async fn store(&self) -> anyhow::Result<Store> {
        Store::open(&self.config.store.url)
            .await
            .with_context(|| format!("cannot open store {}", redact_url(&self.config.store.url)))
    }
}

/// Hides a password in a database URL before it reaches a log or an error.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

/// Runs one command.
pub async fn run(cli: Cli) -> CmdResult {
    if let Command::Completion(args) = &cli.command {
        return completion(args.shell);
    }
    let ctx = Context::from_cli(&cli)?;
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
        Command::Ingest(args) => worker::ingest::run(&ctx, args).await,
        Command::Synth(args) => worker::synth::run(&ctx, args).await,
        Command::Sample(args) => worker::sample::run(&ctx, args).await,
        Command::Evals(EvalsCommand::Check(args)) => worker::evals_cmd::check(&ctx, args).await,
        Command::Evals(EvalsCommand::Run(args)) => worker::evals_cmd::run(&ctx, args).await,
        Command::Rollout(command) => run_rollout(&ctx, command).await,
        Command::Route(args) => worker::route::run(&ctx, args).await,
        Command::Drill(args) => worker::drill::run(&ctx, args).await,
        Command::Gatebench(args) => worker::gatebench::run(&ctx, args).await,
        Command::Backtest(args) => worker::backtest::run(&ctx, args).await,
        Command::Serve(args) => worker::serve::run(&ctx, args).await,
        Command::Tick(args) => worker::tick::run(&ctx, args).await,
        Command::Rescore(args) => worker::rescore::run(&ctx, args).await,
        Command::Demo(args) => worker::demo::run(&ctx, args).await,
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

async fn run_rollout(ctx: &Context, command: RolloutCommand) -> CmdResult {
    worker::rollout_cmd::run(ctx, command).await
}

/// `err` and its causes joined by `: `, each said once: a cause whose text the message before it
/// already holds (thiserror's `{0}` next to `#[from]`) is skipped.
pub fn error_chain(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let part = cause.to_string();
        if text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("database error: {0}")]
    struct Wrapping(#[from] std::io::Error);

    #[test]
    fn an_error_chain_says_each_cause_once() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        let err = anyhow::Error::from(Wrapping(io)).context("cannot open store");
        assert_eq!(
            format!("{err:#}").matches("connection refused").count(),
            2,
            "anyhow repeats a cause that the message already holds"
        );
        let text = error_chain(&err);
        assert_eq!(
            text,
            "cannot open store: database error: connection refused"
        );
    }

    #[test]
    fn redact_url_hides_the_password_only() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("sqlite://evalgate.db"), "sqlite://evalgate.db");
    }
}
