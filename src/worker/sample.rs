//! `evalgate sample` (not built yet: owned by its issue).

use crate::app::{CmdResult, Context};
use crate::cli::SampleArgs;

/// Runs `evalgate sample`.
pub async fn run(_ctx: &Context, _args: SampleArgs) -> CmdResult {
    anyhow::bail!("`evalgate sample` is not built yet")
}
