//! `evalgate rollout …` (not built yet: owned by the rollout controller issue).

use crate::app::{CmdResult, Context};
use crate::cli::RolloutCommand;

/// Runs one `evalgate rollout` subcommand.
pub async fn run(_ctx: &Context, _command: RolloutCommand) -> CmdResult {
    anyhow::bail!("`evalgate rollout` is not built yet")
}
