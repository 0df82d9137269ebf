//! The read model of one rollout: what the API's list and detail bodies, `rollout list --json`
//! and the web view's list show of it, one type so the three cannot drift apart. It is built
//! from a stored row in one place (`adapters::http::RolloutSummary::of`); a row whose stored
//! plan or state does not decode is still summarised, from its columns, with the decode error
//! as its `phase_reason`.

use serde::{Deserialize, Serialize};

use super::Timestamp;
use super::duration::HumanDuration;
use super::rollout::PhaseName;

/// One rollout as the lists show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutSummary {
    /// The rollout id.
    pub id: String,
    /// The flag key gateways read.
    pub flag_key: String,
    /// The owning team.
    pub owner: Option<String>,
    /// The eval suite (None: the configured default).
    pub suite: Option<String>,
    /// What the baseline arm serves.
    pub baseline_target: String,
    /// What the canary arm serves.
    pub canary_target: String,
    /// The phase.
    pub phase: PhaseName,
    /// Why it is held, rolled back or killed; the decode error when the stored state does not
    /// decode.
    pub phase_reason: Option<String>,
    /// False once the rollout is over.
    pub active: bool,
    /// `2/4 (10%)`: the current stage, or the one it finished in (`?` when the stored state
    /// does not decode).
    pub stage: String,
    /// The stage index (from 0) the stored state holds.
    pub stage_index: Option<u64>,
    /// The split the controller holds, in basis points (null when the stored state has none).
    pub split_bp: Option<u32>,
    /// Time in the current stage, held time excluded (None once finished).
    pub in_stage: Option<HumanDuration>,
    /// The current stage's minimum (None once finished).
    pub min_duration: Option<HumanDuration>,
    /// When the next decision is due (None once finished).
    pub next_decision_at: Option<Timestamp>,
    /// When it finished (None while it runs).
    pub finished_at: Option<Timestamp>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When its state last changed.
    pub updated_at: Timestamp,
    /// The last decision's reason.
    pub last_reason: String,
    /// Consecutive tick windows whose tick failed (0 while ticks decide).
    pub failed_windows: i64,
}
