//! `evalgate rollout …`: start a rollout, show its status, prepare the 50% review, and the
//! manual controls (approve, halt, resume, rollback, kill, force promote). Every action goes
//! through `controller::control_once`, so it is decided by the same state machine, written to
//! the flag sinks with verification, audited and notified like an automatic transition.

use std::process::ExitCode;

use anyhow::Context as _;
use serde::Serialize;

use super::display::Style;
use super::{rollout_day2, rollout_retry, rollout_review, rollout_status};
use crate::adapters::store::{NewRollout, Store, rollout_format};
use crate::cli::{RolloutActionArgs, RolloutCommand, RolloutPromoteArgs, RolloutStartArgs};
use crate::commands::CmdResult;
use crate::context::{Context, Services};
use crate::domain::rollout::{Command, Input, PhaseName, Plan, RolloutState, TransitionKind};
use crate::worker::controller::{ApplyReport, control_once};

/// The actor recorded when neither `--actor`, `$USER` nor `$LOGNAME` names one.
const CLI_ACTOR: &str = "cli";

/// Who acts: `--actor` (clap also reads `$USER` into it), else `$LOGNAME`, else `cli` — never an
/// empty or "unknown" name in the audit trail.
pub fn resolve_actor(flag_opt: Option<&str>, logname_opt: Option<&str>) -> String {
    [flag_opt, logname_opt]
        .into_iter()
        .flatten()
        .map(str::trim)
        .find(|name| !name.is_empty())
        .unwrap_or(CLI_ACTOR)
        .to_string()
}

/// The actor of a command: `--actor` (or `$USER`), else `$LOGNAME`, else `cli`.
pub fn actor_from_flag(flag_opt: Option<&String>) -> String {
    let logname_opt = std::env::var("LOGNAME").ok();
    resolve_actor(flag_opt.map(String::as_str), logname_opt.as_deref())
}

/// Runs one `evalgate rollout` subcommand.
pub async fn run(ctx: &Context, command: RolloutCommand) -> CmdResult {
    let services = ctx.services().await?;
    match command {
        RolloutCommand::Start(args) => start(&services, args).await,
        RolloutCommand::List(args) => rollout_day2::list(&services, args).await,
        RolloutCommand::Get(args) => rollout_day2::get(&services, args).await,
        RolloutCommand::History(args) => rollout_day2::history(&services, args).await,
        RolloutCommand::Retry(args) => rollout_retry::retry(&services, args).await,
        RolloutCommand::Status(args) => rollout_status::run(&services, args).await,
        RolloutCommand::Review(args) => rollout_review::run(&services, args).await,
        RolloutCommand::Approve(args) => {
            let command = Command::Approve {
                actor: actor_of(&args),
                reason: optional_reason(&args),
            };
            act(&services, &args.id, command, args.json).await
        }
        RolloutCommand::Halt(args) => {
            let reason = required_reason(&args, "halt")?;
            let command = Command::Halt {
                actor: actor_of(&args),
                reason,
            };
            act(&services, &args.id, command, args.json).await
        }
        RolloutCommand::Resume(args) => {
            let command = Command::Resume {
                actor: actor_of(&args),
                reason: optional_reason(&args),
            };
            act(&services, &args.id, command, args.json).await
        }
        RolloutCommand::Rollback(args) => {
            let reason = required_reason(&args, "rollback")?;
            let command = Command::Rollback {
                actor: actor_of(&args),
                reason,
            };
            act(&services, &args.id, command, args.json).await
        }
        RolloutCommand::Kill(args) => {
            let actor = actor_of(&args);
            let reason = args
                .reason
                .clone()
                .unwrap_or_else(|| "kill switch".to_string());
            kill(&services, &args.id, actor, reason, args.json).await
        }
        RolloutCommand::Promote(args) => promote(&services, args).await,
    }
}

fn actor_of(args: &RolloutActionArgs) -> String {
    actor_from_flag(args.actor.as_ref())
}

/// `--reason` when it says something (approve and resume do not need one, but keep it).
fn optional_reason(args: &RolloutActionArgs) -> Option<String> {
    let reason = args.reason.as_deref()?.trim();
    (!reason.is_empty()).then(|| reason.to_string())
}

fn required_reason(args: &RolloutActionArgs, action: &str) -> anyhow::Result<String> {
    match args.reason.as_deref().map(str::trim) {
        Some(reason) if !reason.is_empty() => Ok(reason.to_string()),
        _ => anyhow::bail!("`rollout {action}` needs --reason (it goes into the audit log)"),
    }
}

async fn promote(services: &Services, args: RolloutPromoteArgs) -> CmdResult {
    if !args.force {
        anyhow::bail!(
            "`rollout promote` overrides the gates and needs --force; to promote a stage that \
             awaits a human, use `rollout approve`"
        );
    }
    if args.reason.trim().is_empty() {
        anyhow::bail!("`rollout promote --force` needs a non-empty --reason");
    }
    let actor = actor_from_flag(args.actor.as_ref());
    let command = Command::ForcePromote {
        actor,
        reason: args.reason.trim().to_string(),
    };
    act(services, &args.id, command, args.json).await
}

/// The kill switch. Through the state machine when the rollout's stored plan and state decode;
/// when they do not (a stored-format change, a damaged row), it still writes 0% to every sink,
/// marks the rollout killed and audits why (`controller::kill_unreadable`).
async fn kill(
    services: &Services,
    id: &str,
    actor: String,
    reason: String,
    json: bool,
) -> CmdResult {
    let (ctx, store) = (&services.ctx, &services.store);
    let row = store
        .get_rollout(id)
        .await
        .context("cannot read the rollout")?
        .with_context(|| format!("no rollout `{id}`"))?;
    if let Err(err) = crate::worker::controller::LoadedRollout::from_row(row.clone()) {
        let now = ctx.clock.now();
        let report = crate::worker::controller::kill_unreadable(
            services,
            &row,
            &actor,
            &reason,
            &format!("{err:#}"),
            now,
        )
        .await?;
        let ok = report
            .iter()
            .all(crate::adapters::flags::SinkWriteReport::is_verified);
        let code = if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        };
        if json {
            let output = serde_json::json!({
                "rollout_id": id,
                "kind": "kill",
                "after": {"phase": "killed", "split_bp": 0},
                "reason": reason,
                "unreadable": format!("{err:#}"),
                "sink_reports": report,
            });
            crate::outln!("{}", serde_json::to_string_pretty(&output)?);
            return Ok(code);
        }
        crate::outln!(
            "rollout {id}: KILLED with its stored plan or state unreadable ({err:#}); every sink \
             was written 0%"
        );
        for sink in &report {
            let status = if sink.is_verified() {
                "verified"
            } else {
                "FAILED"
            };
            crate::outln!("  sink {}: {status}", sink.sink);
        }
        return Ok(code);
    }
    let command = Command::Kill { actor, reason };
    act(services, id, command, json).await
}

/// Applies one manual command and prints what it did (the controller's report as JSON with
/// `--json`); exit 1 when it was rejected or a sink did not take the split.
async fn act(services: &Services, id: &str, command: Command, json: bool) -> CmdResult {
    let ctx = &services.ctx;
    let now = ctx.clock.now();
    let report = control_once(services, id, Input::commands(vec![command]), now).await?;
    if json {
        crate::outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report, &Style::detect(now));
    }
    Ok(exit_code(&report))
}

/// Exit 1 when the command was rejected or a sink did not take the split, else 0.
pub fn exit_code(report: &ApplyReport) -> ExitCode {
    let rejected = report.kind == TransitionKind::Rejected;
    if rejected || report.held_for_sink_failure || !report.sinks_ok() {
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

/// Prints what a transition did (next decision relative on a terminal, RFC 3339 when piped).
pub fn print_report(report: &ApplyReport, style: &Style) {
    crate::outln!(
        "rollout {}: {} → {}",
        report.rollout_id,
        report.before,
        report.after
    );
    crate::outln!("  {}", report.reason);
    for sink in &report.sink_reports {
        let status = if sink.is_verified() {
            "verified"
        } else {
            "FAILED"
        };
        crate::outln!("  sink {}: {status}", sink.sink);
    }
    if report.held_for_sink_failure {
        crate::outln!("  HELD: a flag sink did not take the new split (see the audit log)");
    }
    if let Some(wake_at) = report.wake_at {
        crate::outln!("  next decision due {}", style.time(wake_at));
    }
}

/// What `rollout start --json` prints.
#[derive(Debug, Serialize)]
struct StartOutput<'a> {
    rollout_id: &'a str,
    flag_key: &'a str,
    plan: &'a Plan,
    transition: &'a ApplyReport,
    /// What each stage can detect (the smallest pass-rate drop), with warnings.
    power: &'a [crate::logic::gates::power::StagePower],
}

async fn start(services: &Services, args: RolloutStartArgs) -> CmdResult {
    let (ctx, store) = (&services.ctx, &services.store);
    let plan = match &args.plan {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read plan file {}", path.display()))?;
            Plan::from_toml_str(&path.display().to_string(), &text)?
        }
        None => ctx.config.rollout.plan(),
    };
    let flag_key = args
        .flag
        .clone()
        .context("`rollout start` needs --flag (the flag key gateways read)")?;
    let baseline = args
        .baseline
        .clone()
        .context("`rollout start` needs --baseline (what the baseline arm serves)")?;
    let canary = args
        .canary
        .clone()
        .context("`rollout start` needs --canary (what the canary arm serves)")?;
    if let Some(webhook) = &args.webhook
        && !(webhook.starts_with("http://") || webhook.starts_with("https://"))
    {
        anyhow::bail!("--webhook is not an http:// or https:// URL");
    }
    let id = args.id.clone().unwrap_or_else(|| flag_key.clone());
    // A start that crashed after creating the rollout (before starting it) left it pending on
    // the flag: the same command again starts it instead of refusing because the flag is taken.
    let unstarted = store
        .get_rollout(&id)
        .await?
        .filter(|row| row.phase == PhaseName::Pending && row.flag_key == flag_key);
    if unstarted.is_none() {
        refuse_second_rollout_on_flag(store, &flag_key).await?;
    }
    let plan = check_before_start(services, &args, plan, &flag_key).await?;
    let now = ctx.clock.now();
    let owner = args.owner.clone();
    let state = RolloutState::new(&id, &flag_key, owner.as_deref().unwrap_or("unowned"), now);
    let rollout = NewRollout {
        id: id.clone(),
        flag_key: flag_key.clone(),
        owner,
        webhook: args.webhook.clone(),
        suite: args.suite.clone(),
        baseline_target: baseline,
        canary_target: canary,
        salt: ctx.config.rollout.salt_for(&flag_key, Some(&id)),
        always_tenants: ctx.config.rollout.always_canary.clone(),
        never_tenants: ctx.config.rollout.never_canary.clone(),
        plan: rollout_format::encode_plan(&plan)?,
        state: rollout_format::encode_state(&state)?,
        phase: state.phase.kind(),
        created_at: now,
    };
    match unstarted {
        Some(row) => {
            anyhow::ensure!(
                row.baseline_target == rollout.baseline_target
                    && row.canary_target == rollout.canary_target
                    && row.plan == rollout.plan,
                "rollout `{id}` was created but never started, with other targets or another \
                 plan; start it with the same arguments, or kill it first"
            );
            tracing::info!(rollout = %id, "starting the rollout an interrupted start created");
        }
        None => {
            if !store.create_rollout(&rollout).await? {
                anyhow::bail!("a rollout with id `{id}` already exists; pass another --id");
            }
            crate::worker::failpoint::hit("rollout_after_create");
        }
    }
    let actor = actor_from_flag(args.actor.as_ref());
    let input = Input::commands(vec![Command::Start { actor }]);
    let report = control_once(services, &id, input, now).await?;
    let power = crate::commands::plan_power::plan_power(&ctx.config, &plan, 0, None, None);
    if args.json {
        let output = StartOutput {
            rollout_id: &id,
            flag_key: &flag_key,
            plan: &plan,
            transition: &report,
            power: &power,
        };
        crate::outln!("{}", serde_json::to_string_pretty(&output)?);
    } else {
        print_report(&report, &Style::detect(now));
        for stage in &power {
            crate::outln!("  power {}", stage.describe());
        }
    }
    for stage in power.iter().filter(|s| s.warn) {
        tracing::warn!(rollout = %id, "{}", stage.describe());
    }
    Ok(exit_code(&report))
}

/// Everything a rollout needs to be gated, checked before any split is written: the suite is
/// loaded (ticks would fail and leave the canary ungated), the plan's tick interval is the
/// sampling window, and every flag sink answers a read.
async fn check_before_start(
    services: &Services,
    args: &RolloutStartArgs,
    mut plan: Plan,
    flag_key: &str,
) -> anyhow::Result<Plan> {
    let ctx = &services.ctx;
    check_suite(ctx, args.suite.as_deref())?;
    let window = ctx.config.sampling.window;
    // A plan file that names another cadence than the ticks' windows is refused; otherwise the
    // plan takes the window as its tick interval.
    let names_interval = match &args.plan {
        Some(path) => std::fs::read_to_string(path)
            .ok()
            .and_then(|text| text.parse::<toml::Table>().ok())
            .is_some_and(|table| table.contains_key("tick_interval")),
        None => false,
    };
    match &args.plan {
        Some(path) if names_interval && plan.tick_interval != window => anyhow::bail!(
            "{}: `tick_interval` is {} but sampling.window is {window}: the controller must \
             decide once per scored window; remove tick_interval or set it to {window}",
            path.display(),
            plan.tick_interval
        ),
        _ => plan.tick_interval = window,
    }
    check_sinks(services, flag_key).await?;
    Ok(plan)
}

/// The suite a rollout is gated with must load, or its ticks would fail and leave the canary
/// ungated.
pub fn check_suite(ctx: &Context, suite_opt: Option<&str>) -> anyhow::Result<()> {
    let suite = suite_opt.map_or_else(|| ctx.config.evals.default_suite.clone(), str::to_string);
    let suites = crate::worker::tick::load_suite_map(ctx)
        .context("`rollout start` checks the suite the rollout is gated with")?;
    if !suites.contains_key(&suite) {
        let known: Vec<&str> = suites.keys().map(String::as_str).collect();
        anyhow::bail!(
            "--suite `{suite}` is not a suite in {} (found: {}); nothing was started",
            ctx.config.evals.dir.display(),
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        );
    }
    Ok(())
}

/// Every configured flag sink must answer a read of `flag_key` before a split is written.
pub async fn check_sinks(services: &Services, flag_key: &str) -> anyhow::Result<()> {
    let sinks = &services.sinks;
    anyhow::ensure!(
        !sinks.sinks().is_empty(),
        "no flag sink is configured ([flags] sinks); nothing was started"
    );
    for sink in sinks.sinks() {
        if let Err(err) = sink.read(flag_key).await {
            anyhow::bail!(
                "flag sink `{}` cannot be read for `{flag_key}`: {err}; nothing was started",
                sink.name()
            );
        }
    }
    Ok(())
}

/// Refuses a second active rollout on one flag.
pub async fn refuse_second_rollout_on_flag(store: &Store, flag_key: &str) -> anyhow::Result<()> {
    let active = store.list_active_rollouts().await?;
    if let Some(other) = active.iter().find(|row| row.flag_key == flag_key) {
        anyhow::bail!(
            "rollout `{}` is already active on flag `{flag_key}`; finish, roll back or kill it first",
            other.id
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::resolve_actor;

    #[test]
    fn the_actor_is_the_flag_then_logname_then_cli_never_unknown() {
        assert_eq!(resolve_actor(Some("alice"), Some("bob")), "alice");
        assert_eq!(resolve_actor(Some("  "), Some("bob")), "bob");
        assert_eq!(resolve_actor(None, Some("bob")), "bob");
        assert_eq!(resolve_actor(None, None), "cli");
        assert_eq!(resolve_actor(Some(""), Some("")), "cli");
    }
}
