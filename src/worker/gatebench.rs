//! `evalgate gatebench` (not built yet: owned by its issue).

use crate::app::{CmdResult, Context};
use crate::cli::GatebenchArgs;

/// Runs `evalgate gatebench`.
pub async fn run(_ctx: &Context, _args: GatebenchArgs) -> CmdResult {
    anyhow::bail!("`evalgate gatebench` is not built yet")
}
