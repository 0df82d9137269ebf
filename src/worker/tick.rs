//! `evalgate tick` (not built yet: owned by its issue).

use crate::app::{CmdResult, Context};
use crate::cli::TickArgs;

/// Runs `evalgate tick`.
pub async fn run(_ctx: &Context, _args: TickArgs) -> CmdResult {
    anyhow::bail!("`evalgate tick` is not built yet")
}
