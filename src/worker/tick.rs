//! One tick of the pipeline (DESIGN.md §1) for every active rollout, and `evalgate tick`.
//! (The pipeline itself is being built; `tick_all` is the entry point the scheduler calls.)

use serde::Serialize;

use crate::adapters::store::Store;
use crate::app::{CmdResult, Context};
use crate::cli::TickArgs;
use crate::domain::Timestamp;

/// What one tick did, for logs, `evalgate tick` and the metrics gauges.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TickReport {
    /// The tick time.
    pub at: Option<Timestamp>,
    /// One line per rollout: what was decided and why.
    pub rollouts: Vec<RolloutTickReport>,
}

/// What one tick did for one rollout.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RolloutTickReport {
    /// The rollout id.
    pub rollout_id: String,
    /// Start of the scored window.
    pub window_start: Option<Timestamp>,
    /// A one-line summary of the decision.
    pub decision: String,
}

/// Runs the tick at `at` for every active rollout. Idempotent per (rollout, window start).
pub async fn tick_all(
    _ctx: &Context,
    _store: &Store,
    _at: Timestamp,
) -> anyhow::Result<TickReport> {
    anyhow::bail!("the tick pipeline is not built yet")
}

/// Runs `evalgate tick`.
pub async fn run(_ctx: &Context, _args: TickArgs) -> CmdResult {
    anyhow::bail!("`evalgate tick` is not built yet")
}
