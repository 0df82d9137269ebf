//! `evalgate rescore` (not built yet: owned by its issue).

use crate::app::{CmdResult, Context};
use crate::cli::RescoreArgs;

/// Runs `evalgate rescore`.
pub async fn run(_ctx: &Context, _args: RescoreArgs) -> CmdResult {
    anyhow::bail!("`evalgate rescore` is not built yet")
}
