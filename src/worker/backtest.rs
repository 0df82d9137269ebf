//! `evalgate backtest` (not built yet: owned by its issue).

use crate::app::{CmdResult, Context};
use crate::cli::BacktestArgs;

/// Runs `evalgate backtest`.
pub async fn run(_ctx: &Context, _args: BacktestArgs) -> CmdResult {
    anyhow::bail!("`evalgate backtest` is not built yet")
}
