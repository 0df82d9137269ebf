//! `evalgate route` (not built yet: owned by its issue).

use crate::app::{CmdResult, Context};
use crate::cli::RouteArgs;

/// Runs `evalgate route`.
pub async fn run(_ctx: &Context, _args: RouteArgs) -> CmdResult {
    anyhow::bail!("`evalgate route` is not built yet")
}
