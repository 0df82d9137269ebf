//! `evalgate serve` (not built yet: owned by its issue).

use crate::app::{CmdResult, Context};
use crate::cli::ServeArgs;

/// Runs `evalgate serve`.
pub async fn run(_ctx: &Context, _args: ServeArgs) -> CmdResult {
    anyhow::bail!("`evalgate serve` is not built yet")
}
