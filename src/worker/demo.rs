//! `evalgate demo` (not built yet: owned by its issue).

use crate::app::{CmdResult, Context};
use crate::cli::DemoArgs;

/// Runs `evalgate demo`.
pub async fn run(_ctx: &Context, _args: DemoArgs) -> CmdResult {
    anyhow::bail!("`evalgate demo` is not built yet")
}
