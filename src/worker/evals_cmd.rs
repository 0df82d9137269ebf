//! `evalgate evals check|run` (not built yet: owned by the evaluators issue).

use crate::app::{CmdResult, Context};
use crate::cli::{EvalsCheckArgs, EvalsRunArgs};

/// Runs `evalgate evals check`.
pub async fn check(_ctx: &Context, _args: EvalsCheckArgs) -> CmdResult {
    anyhow::bail!("`evalgate evals check` is not built yet")
}

/// Runs `evalgate evals run`.
pub async fn run(_ctx: &Context, _args: EvalsRunArgs) -> CmdResult {
    anyhow::bail!("`evalgate evals run` is not built yet")
}
