//! `evalgate synth` (not built yet: owned by its issue).

use crate::app::{CmdResult, Context};
use crate::cli::SynthArgs;

/// Runs `evalgate synth`.
pub async fn run(_ctx: &Context, _args: SynthArgs) -> CmdResult {
    anyhow::bail!("`evalgate synth` is not built yet")
}
