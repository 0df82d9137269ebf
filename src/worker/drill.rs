//! `evalgate drill` (not built yet: owned by its issue).

use crate::app::{CmdResult, Context};
use crate::cli::DrillArgs;

/// Runs `evalgate drill`.
pub async fn run(_ctx: &Context, _args: DrillArgs) -> CmdResult {
    anyhow::bail!("`evalgate drill` is not built yet")
}
