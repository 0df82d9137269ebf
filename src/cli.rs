//! Clap definitions only: the commands, their flags and their help. `commands::run` runs them.

use crate::domain::rollout::PhaseName;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// evalgate gates canary rollouts of LLM changes on quality, not only on HTTP errors.
#[derive(Debug, Parser)]
#[command(name = "evalgate", version, about, long_about = None)]
pub struct Cli {
    /// The store: sqlite://PATH (default sqlite://evalgate.db) or postgres://…
    #[arg(long, global = true, env = "EVALGATE_STORE")]
    pub store: Option<String>,

    /// The config file (default: ./evalgate.toml when it exists).
    #[arg(long, global = true, env = "EVALGATE_CONFIG")]
    pub config: Option<PathBuf>,

    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Every command.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create or upgrade the store's tables (idempotent).
    Migrate(MigrateArgs),
    /// Load request and feedback logs from JSONL (a file or `-` for stdin).
    Ingest(IngestArgs),
    /// Write synthetic gateway logs for a baseline and a canary arm.
    Synth(SynthArgs),
    /// Print the requests a tick at a given time would score.
    Sample(SampleArgs),
    /// Validate and run eval suites.
    #[command(subcommand)]
    Evals(EvalsCommand),
    /// Start, inspect and control rollouts.
    #[command(subcommand)]
    Rollout(RolloutCommand),
    /// Print a tenant's routing bucket and arm for a flag.
    Route(RouteArgs),
    /// Exercise the rollback path through every flag sink.
    Drill(DrillArgs),
    /// Run the gate statistics benchmark of STATS.md.
    Gatebench(GatebenchArgs),
    /// Replay stored history tick by tick and print what the gates would have decided.
    Backtest(BacktestArgs),
    /// Run the daemon: the tick scheduler and the HTTP API.
    Serve(ServeArgs),
    /// Run one tick now (or at --at) and print what it decided.
    Tick(TickArgs),
    /// Re-score history with the current evaluator versions.
    Rescore(RescoreArgs),
    /// Show a whole canary rollout in simulated time on a local SQLite store.
    Demo(DemoArgs),
    /// Print a shell completion script (e.g. `evalgate completion bash > ~/.local/share/bash-completion/completions/evalgate`).
    Completion(CompletionArgs),
}

/// Flags of `evalgate completion`.
#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// The shell: bash, zsh, fish, elvish or powershell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Flags of `evalgate migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

// ---- ingest -------------------------------------------------------------------------------

/// Flags of `evalgate ingest`.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// The JSONL file, or `-` for stdin.
    pub file: PathBuf,
    /// Where rejected lines go (default: FILE.rejects.jsonl, or rejects.jsonl for stdin).
    #[arg(long)]
    pub rejects: Option<PathBuf>,
    /// Rows per transaction (overrides ingest.batch_size).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Reject any field larger than this many bytes (overrides ingest.max_field_bytes).
    #[arg(long)]
    pub max_field_bytes: Option<usize>,
    /// The source format: auto (detected from the first line), evalgate, litellm, langfuse,
    /// helicone, otel or openai.
    #[arg(long, default_value = "auto")]
    pub format: String,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

// ---- synth --------------------------------------------------------------------------------

/// Flags of `evalgate synth`.
#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Seed: the same seed writes the same logs.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// How much traffic to write, e.g. 6h, 3d.
    #[arg(long, default_value = "1h")]
    pub duration: String,
    /// Requests per minute over both arms.
    #[arg(long, default_value_t = 60.0)]
    pub rpm: f64,
    /// Share of traffic on the canary, in [0, 1].
    #[arg(long, default_value_t = 0.1)]
    pub canary_share: f64,
    /// First request time (RFC 3339; default 2026-11-01T00:00:00Z).
    #[arg(long)]
    pub start: Option<String>,
    /// Rollout id written on every row.
    #[arg(long)]
    pub rollout_id: Option<String>,
    /// Number of tenants.
    #[arg(long, default_value_t = 500)]
    pub tenants: u32,
    /// When the canary starts to regress (RFC 3339 or an offset like 2h from start).
    #[arg(long)]
    pub regression_at: Option<String>,
    /// Multiplier on the canary's defect probabilities after the regression starts.
    #[arg(long, default_value_t = 3.0)]
    pub regression_factor: f64,
    /// Write JSONL here (`-` for stdout, the default).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Insert straight into the store instead of writing JSONL.
    #[arg(long, conflicts_with = "out")]
    pub into_store: bool,
    /// With --into-store: print what was written as JSON on stdout.
    #[arg(long, requires = "into_store")]
    pub json: bool,
}

// ---- sample -------------------------------------------------------------------------------

/// Flags of `evalgate sample`.
#[derive(Debug, Args)]
pub struct SampleArgs {
    /// The tick time (RFC 3339).
    #[arg(long)]
    pub at: String,
    /// Requests per arm (overrides sampling.n_per_arm).
    #[arg(long)]
    pub n: Option<u32>,
    /// Only requests of this rollout.
    #[arg(long)]
    pub rollout: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

// ---- evals --------------------------------------------------------------------------------

/// `evalgate evals …`
#[derive(Debug, Subcommand)]
pub enum EvalsCommand {
    /// Validate every suite in DIR (default: evals/).
    Check(EvalsCheckArgs),
    /// Score rows of a JSONL file with one suite.
    Run(EvalsRunArgs),
}

/// Flags of `evalgate evals check`.
#[derive(Debug, Args)]
pub struct EvalsCheckArgs {
    /// The suites directory (default: `[evals].dir` of the config, else evals/).
    pub dir: Option<PathBuf>,
}

/// How `evalgate evals run` prints its results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EvalsFormat {
    /// Each row's verdict and assertions as text, then the summary.
    Human,
    /// One JSON document: `{"suite":…,"rows":[…],…summary fields}`, written as it goes.
    Json,
    /// One JSON object per row, then one `{"summary":{…}}` line.
    Jsonl,
}

/// Flags of `evalgate evals run`.
#[derive(Debug, Args)]
pub struct EvalsRunArgs {
    /// The suite's name.
    #[arg(long)]
    pub suite: String,
    /// Rows to score (JSONL in the ingest format; `-` for stdin).
    #[arg(long)]
    pub input: PathBuf,
    /// The suites directory (default: `[evals].dir` of the config, else evals/).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Print JSON (the same as `--format json`).
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// The output format.
    #[arg(long, value_enum)]
    pub format: Option<EvalsFormat>,
    /// Exit 3 when the pass rate over scorable rows is below RATE (0 to 1), or when no row
    /// was scorable: a CI gate.
    #[arg(long, value_name = "RATE")]
    pub fail_under: Option<f64>,
}

impl EvalsRunArgs {
    /// The output format the flags ask for (human by default).
    pub fn output_format(&self) -> EvalsFormat {
        match (self.format, self.json) {
            (Some(format), _) => format,
            (None, true) => EvalsFormat::Json,
            (None, false) => EvalsFormat::Human,
        }
    }
}

// ---- rollout ------------------------------------------------------------------------------

/// `evalgate rollout …`
#[derive(Debug, Subcommand)]
pub enum RolloutCommand {
    /// Start a rollout.
    Start(RolloutStartArgs),
    /// List rollouts, finished ones included (filters: --phase, --active/--finished, --flag).
    List(RolloutListArgs),
    /// Show one rollout in detail; --watch redraws it until it finishes.
    Get(RolloutGetArgs),
    /// Show a rollout's audit trail: who did what, when and why.
    History(RolloutIdArgs),
    /// Start a new attempt of a rolled-back or killed rollout, same flag and plan.
    Retry(RolloutRetryArgs),
    /// Show a rollout's state, gates and next decision.
    Status(RolloutStatusArgs),
    /// Prepare the 50% human review.
    Review(RolloutIdArgs),
    /// Approve promotion from a stage that needs a human.
    Approve(RolloutActionArgs),
    /// Freeze the current split.
    Halt(RolloutActionArgs),
    /// Resume a held rollout.
    Resume(RolloutActionArgs),
    /// Roll the canary back to 0%.
    Rollback(RolloutActionArgs),
    /// Kill switch: canary to 0% at once, the rollout ends.
    Kill(RolloutActionArgs),
    /// Promote to the next stage now (an override, recorded as such).
    Promote(RolloutPromoteArgs),
}

/// Flags of `evalgate rollout start`.
#[derive(Debug, Args)]
pub struct RolloutStartArgs {
    /// A plan file (TOML).
    #[arg(long)]
    pub plan: Option<PathBuf>,
    /// The rollout id (default: the flag key).
    #[arg(long)]
    pub id: Option<String>,
    /// The flag key gateways read.
    #[arg(long)]
    pub flag: Option<String>,
    /// The baseline target, e.g. support-bot@v41.
    #[arg(long)]
    pub baseline: Option<String>,
    /// The canary target, e.g. support-bot@v42.
    #[arg(long)]
    pub canary: Option<String>,
    /// The owning team.
    #[arg(long)]
    pub owner: Option<String>,
    /// The owner's webhook for notifications.
    #[arg(long)]
    pub webhook: Option<String>,
    /// The eval suite.
    #[arg(long)]
    pub suite: Option<String>,
    /// Who starts it, for the audit trail (default: $USER, then $LOGNAME, then `cli`).
    #[arg(long, env = "USER")]
    pub actor: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Flags of `evalgate rollout status`.
#[derive(Debug, Args)]
pub struct RolloutStatusArgs {
    /// The rollout id (default: every active rollout).
    pub id: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Block until the rollout completes (exit 0), is rolled back or killed (1), or needs a person
    /// (held or awaiting approval: 3); for CI pipelines. Needs an ID.
    #[arg(long, requires = "id")]
    pub wait: bool,
    /// With --wait: give up after this long (e.g. 30m, 2h) and exit 4.
    #[arg(long, requires = "wait")]
    pub timeout: Option<crate::domain::HumanDuration>,
}

/// A rollout id.
#[derive(Debug, Args)]
pub struct RolloutIdArgs {
    /// The rollout id.
    pub id: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// A manual action on a rollout.
#[derive(Debug, Args)]
pub struct RolloutActionArgs {
    /// The rollout id.
    pub id: String,
    /// Why (recorded in the audit log).
    #[arg(long)]
    pub reason: Option<String>,
    /// Who (default: $USER, then $LOGNAME, then `cli`).
    #[arg(long, env = "USER")]
    pub actor: Option<String>,
    /// Print what the action did as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Which rollouts `rollout list` shows, by phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PhaseFilter {
    /// Created, not started.
    Pending,
    /// Running a stage.
    Running,
    /// Past a stage's minimum, waiting for conclusive gates.
    Extended,
    /// Gates green, a person must approve.
    AwaitingApproval,
    /// Frozen at its split.
    Held,
    /// At 100%, monitoring against the last baseline.
    Monitoring,
    /// Finished at 100%.
    Completed,
    /// The canary was rolled back to 0%.
    RolledBack,
    /// Killed.
    Killed,
}

impl PhaseFilter {
    /// The phase this filter keeps.
    pub fn phase(self) -> PhaseName {
        match self {
            PhaseFilter::Pending => PhaseName::Pending,
            PhaseFilter::Running => PhaseName::Running,
            PhaseFilter::Extended => PhaseName::Extended,
            PhaseFilter::AwaitingApproval => PhaseName::AwaitingApproval,
            PhaseFilter::Held => PhaseName::Held,
            PhaseFilter::Monitoring => PhaseName::Monitoring,
            PhaseFilter::Completed => PhaseName::Completed,
            PhaseFilter::RolledBack => PhaseName::RolledBack,
            PhaseFilter::Killed => PhaseName::Killed,
        }
    }
}

/// Flags of `evalgate rollout list`.
#[derive(Debug, Args)]
pub struct RolloutListArgs {
    /// Only rollouts in these phases (repeat or comma-separate: `--phase held,awaiting-approval`).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub phase: Vec<PhaseFilter>,
    /// Only rollouts that have not finished.
    #[arg(long, conflicts_with = "finished")]
    pub active: bool,
    /// Only finished rollouts (completed, rolled back, killed).
    #[arg(long)]
    pub finished: bool,
    /// Only rollouts of this flag.
    #[arg(long)]
    pub flag: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Flags of `evalgate rollout get`.
#[derive(Debug, Args)]
pub struct RolloutGetArgs {
    /// The rollout id.
    pub id: String,
    /// Keep showing it: redraw on a terminal, one line per change when piped; stops when the
    /// rollout finishes (exit 0 completed, 1 rolled back or killed) or at --timeout (exit 4).
    #[arg(long)]
    pub watch: bool,
    /// With --watch: how often to read the rollout again (e.g. 2s, 1m).
    #[arg(long, requires = "watch", default_value = "2s")]
    pub interval: crate::domain::HumanDuration,
    /// With --watch: stop after this long (e.g. 30m) and exit 4.
    #[arg(long, requires = "watch")]
    pub timeout: Option<crate::domain::HumanDuration>,
    /// Print JSON (with --watch: one JSON object per change, one per line).
    #[arg(long)]
    pub json: bool,
}

/// Flags of `evalgate rollout retry`.
#[derive(Debug, Args)]
pub struct RolloutRetryArgs {
    /// The rolled-back or killed rollout to try again.
    pub id: String,
    /// The new attempt's id (default: ID-attempt-N).
    #[arg(long = "new-id")]
    pub new_id: Option<String>,
    /// Why it is worth another try (recorded in the audit log of both rollouts).
    #[arg(long)]
    pub reason: Option<String>,
    /// Who (default: $USER, then $LOGNAME, then `cli`).
    #[arg(long, env = "USER")]
    pub actor: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Flags of `evalgate rollout promote`.
#[derive(Debug, Args)]
pub struct RolloutPromoteArgs {
    /// The rollout id.
    pub id: String,
    /// Required: this bypasses the gates.
    #[arg(long)]
    pub force: bool,
    /// Why (required).
    #[arg(long)]
    pub reason: String,
    /// Who (default: $USER, then $LOGNAME, then `cli`).
    #[arg(long, env = "USER")]
    pub actor: Option<String>,
    /// Print what the promotion did as JSON.
    #[arg(long)]
    pub json: bool,
}

// ---- route, drill -------------------------------------------------------------------------

/// Flags of `evalgate route`.
#[derive(Debug, Args)]
pub struct RouteArgs {
    /// The flag key.
    #[arg(long)]
    pub flag: String,
    /// The tenant id.
    #[arg(long)]
    pub tenant: String,
    /// The salt (default: the flag key).
    #[arg(long)]
    pub salt: Option<String>,
    /// The split in basis points to evaluate (default: the flag's current split in the store).
    #[arg(long)]
    pub basis_points: Option<u32>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Flags of `evalgate drill`.
#[derive(Debug, Args)]
pub struct DrillArgs {
    /// The drill flag (default: evalgate-drill).
    #[arg(long)]
    pub flag: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

// ---- gatebench, backtest ------------------------------------------------------------------

/// Flags of `evalgate gatebench`.
#[derive(Debug, Args)]
pub struct GatebenchArgs {
    /// The CI subset (reference cells, 2,000 replicates).
    #[arg(long)]
    pub smoke: bool,
    /// Print one JSON object per check.
    #[arg(long)]
    pub json: bool,
    /// Seeds, comma-separated: a target is met only when it passes at every one.
    #[arg(long, value_delimiter = ',', default_values_t = [1u64, 2, 3, 4, 5])]
    pub seed: Vec<u64>,
    /// Replicates per cell (overrides the preset).
    #[arg(long)]
    pub reps: Option<u32>,
    /// Run only the cells whose id, or one of whose check ids, starts with one of these
    /// (comma-separated prefixes: `--cell LATE,ERR-3`).
    #[arg(long, value_delimiter = ',')]
    pub cell: Vec<String>,
}

/// Flags of `evalgate backtest`.
#[derive(Debug, Args)]
pub struct BacktestArgs {
    /// Start of the replay (RFC 3339).
    #[arg(long)]
    pub from: String,
    /// End of the replay (RFC 3339).
    #[arg(long)]
    pub to: String,
    /// Only this rollout.
    #[arg(long)]
    pub rollout: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

// ---- serve, tick, rescore, demo -----------------------------------------------------------

/// Flags of `evalgate serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Listen address (overrides server.bind).
    #[arg(long)]
    pub bind: Option<String>,
}

/// Flags of `evalgate tick`.
#[derive(Debug, Args)]
pub struct TickArgs {
    /// The tick time (RFC 3339; default now).
    #[arg(long)]
    pub at: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Flags of `evalgate rescore`.
#[derive(Debug, Args)]
pub struct RescoreArgs {
    /// Start (RFC 3339).
    #[arg(long)]
    pub from: String,
    /// End (RFC 3339).
    #[arg(long)]
    pub to: String,
    /// Only this rollout.
    #[arg(long)]
    pub rollout: Option<String>,
    /// Only this arm.
    #[arg(long)]
    pub arm: Option<String>,
    /// Only this suite.
    #[arg(long, conflicts_with = "evaluator")]
    pub suite: Option<String>,
    /// Only this evaluator.
    #[arg(long)]
    pub evaluator: Option<String>,
    /// Refuse to spend more than this on judges (USD).
    #[arg(long)]
    pub budget: Option<f64>,
    /// Print the estimate and stop.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the estimate and what was rescored as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Flags of `evalgate demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Keep the HTTP API and the web view up afterwards (prints the web view's URL).
    #[arg(long)]
    pub serve: bool,
    /// Listen address with --serve (overrides server.bind).
    #[arg(long, requires = "serve")]
    pub bind: Option<String>,
    /// Seed of the simulated traffic.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Stop the simulation after this many simulated hours (1-160; a short demo for tests).
    #[arg(long, default_value_t = 160, value_parser = clap::value_parser!(i64).range(1..=160))]
    pub hours: i64,
}
