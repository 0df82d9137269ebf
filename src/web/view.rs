//! The plain data the web view's pages are drawn from. `commands::web` fills these from the store
//! (and the flag sinks); the page functions only read them. Strings here are raw user data: the
//! pages escape them.

use super::svg::{ArmSeries, EValuePoint, Segment};
use crate::domain::Timestamp;
use crate::domain::rollout::PhaseName;

/// One rollout as the list shows it: the API's summary (`domain::summary`).
pub use crate::domain::summary::RolloutSummary;

/// One audit row; `transition` marks the rows that changed the phase, stage or split.
#[derive(Debug, Clone, PartialEq)]
pub struct EventView {
    /// The event id.
    pub id: String,
    /// When.
    pub at: Timestamp,
    /// Who.
    pub actor: String,
    /// What (`promote`, `rollback`, `halt_rejected`, …).
    pub action: String,
    /// Why.
    pub reason: String,
    /// The state before (`running · stage 1 · 1%`), when the row carries one.
    pub before: Option<String>,
    /// The state after.
    pub after: Option<String>,
    /// A human override of the gates.
    pub is_override: bool,
    /// True when the phase, stage or split changed.
    pub transition: bool,
}

/// One gating metric: its latest verdict, its series per arm and its e-value per tick.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricPanel {
    /// The metric (`pass_rate`, `pass_rate:valid_json`, `latency_p95`, …).
    pub metric: String,
    /// The latest verdict (`halt`, `promote_ready`, `inconclusive`).
    pub verdict: String,
    /// The latest verdict's reason, with the promotion evidence.
    pub reason: String,
    /// Whether it must be promote-ready to promote.
    pub promotion_authority: bool,
    /// True when the series are rates (a percentage axis).
    pub ratio: bool,
    /// The per-window series of each arm.
    pub arms: Vec<ArmSeries>,
    /// The halting test per tick.
    pub e_values: Vec<EValuePoint>,
}

/// One recorded halt signal.
#[derive(Debug, Clone, PartialEq)]
pub struct HaltView {
    /// Stage index (0-based).
    pub stage: i64,
    /// The metric that fired.
    pub metric: String,
    /// `rollback`, `freeze` or `notify`.
    pub role: String,
    /// When.
    pub at: Timestamp,
    /// Why.
    pub reason: String,
}

/// What one flag sink holds.
#[derive(Debug, Clone, PartialEq)]
pub struct SinkView {
    /// The sink (`table`, `file`).
    pub sink: String,
    /// The split it holds.
    pub basis_points: Option<u32>,
    /// Its generation.
    pub generation: Option<u64>,
    /// True when it holds the controller's split.
    pub in_sync: bool,
    /// Why it could not be read.
    pub error: Option<String>,
}

/// Everything the page of one rollout shows.
#[derive(Debug, Clone, PartialEq)]
pub struct RolloutPage {
    /// The list's fields.
    pub summary: RolloutSummary,
    /// The eval suite.
    pub suite: Option<String>,
    /// The last decision's reason.
    pub last_reason: String,
    /// What a human should do next.
    pub hint: Option<String>,
    /// When the current stage's extension ends, while active.
    pub deadline: Option<Timestamp>,
    /// The stage timeline.
    pub segments: Vec<Segment>,
    /// When each stage began (the charts mark them).
    pub stage_starts: Vec<Timestamp>,
    /// The audit trail, oldest first.
    pub events: Vec<EventView>,
    /// The gating metrics.
    pub metrics: Vec<MetricPanel>,
    /// Halt signals, oldest first.
    pub halts: Vec<HaltView>,
    /// The flag sinks.
    pub sinks: Vec<SinkView>,
}

/// A response shown in the review.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseView {
    /// The request id.
    pub request_id: String,
    /// The tenant.
    pub tenant_id: String,
    /// When it was served (RFC 3339).
    pub ts: String,
    /// The user prompt.
    pub prompt: String,
    /// The response.
    pub output: String,
}

/// A failed canary response beside the nearest baseline response.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewPairView {
    /// The canary response.
    pub canary: ResponseView,
    /// (evaluator, reason) of each failure.
    pub failures: Vec<(String, String)>,
    /// The nearest baseline response.
    pub baseline: Option<ResponseView>,
    /// How it was matched.
    pub matched_by: Option<String>,
}

/// One gate's latest verdict, as the review lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct GateRow {
    /// The metric.
    pub metric: String,
    /// Whether it must be promote-ready to promote.
    pub promotion_authority: bool,
    /// The verdict.
    pub verdict: String,
    /// Its reason.
    pub reason: String,
}

/// The 50% review packet.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewPage {
    /// The rollout id.
    pub rollout_id: String,
    /// Baseline target.
    pub baseline_target: String,
    /// Canary target.
    pub canary_target: String,
    /// The phase.
    pub phase: PhaseName,
    /// The stage.
    pub stage: String,
    /// The latest gate verdicts.
    pub gates: Vec<GateRow>,
    /// Why failed responses are missing, when they are.
    pub note: Option<String>,
    /// The side-by-side pairs.
    pub pairs: Vec<ReviewPairView>,
}
