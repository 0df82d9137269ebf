//! `evalgate ingest` (not built yet: owned by its issue).

use crate::app::{CmdResult, Context};
use crate::cli::IngestArgs;

/// Runs `evalgate ingest`.
pub async fn run(_ctx: &Context, _args: IngestArgs) -> CmdResult {
    anyhow::bail!("`evalgate ingest` is not built yet")
}
