//! Rollout state and the values the pure state machine (`logic::rollout::step`) consumes and
//! returns: the phase, the input of one decision (verdicts, data checks, manual commands), and the
//! transition (next state, effects to apply, when to decide again, reason and evidence). All of it
//! is serde-serialisable: the controller stores `RolloutState` as JSON and resumes from it.

use serde::{Deserialize, Serialize};

pub use super::plan::{FULL_BASIS_POINTS, Plan, PlanError, StageSpec};
use super::{MetricVerdict, Timestamp};

/// Where a rollout is. Terminal phases: `RolledBack`, `Killed`, `Completed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    /// Created, no traffic yet; waits for a `Start` command.
    Pending,
    /// A stage is running and gathering evidence.
    Running,
    /// The stage's gates were green after its minimum duration; a human must approve.
    AwaitingApproval,
    /// Past the minimum duration but inconclusive: the stage runs on, up to its maximum.
    Extended,
    /// Frozen at the current split (by a freeze halt, a human, or an inconclusive maximum).
    Held { reason: String },
    /// The last (100%) stage: watching for regressions before completing.
    Monitoring,
    /// The canary is at 0% after a rollback halt or command. Terminal.
    RolledBack { reason: String },
    /// The kill switch: canary at 0%, rollout over. Terminal.
    Killed { reason: String },
    /// The rollout finished its plan. Terminal.
    Completed,
}

impl Phase {
    /// True for `RolledBack`, `Killed` and `Completed`.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Phase::RolledBack { .. } | Phase::Killed { .. } | Phase::Completed
        )
    }

    /// True for `Held`.
    pub fn is_held(&self) -> bool {
        matches!(self, Phase::Held { .. })
    }

    /// The snake_case name used in storage, JSON and tables.
    pub fn name(&self) -> &'static str {
        match self {
            Phase::Pending => "pending",
            Phase::Running => "running",
            Phase::AwaitingApproval => "awaiting_approval",
            Phase::Extended => "extended",
            Phase::Held { .. } => "held",
            Phase::Monitoring => "monitoring",
            Phase::RolledBack { .. } => "rolled_back",
            Phase::Killed { .. } => "killed",
            Phase::Completed => "completed",
        }
    }

    /// The reason a held, rolled-back or killed phase carries.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Phase::Held { reason } | Phase::RolledBack { reason } | Phase::Killed { reason } => {
                Some(reason)
            }
            _ => None,
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.reason() {
            Some(reason) => write!(f, "{} ({reason})", self.name()),
            None => f.write_str(self.name()),
        }
    }
}

/// The controller's view of one rollout. Everything `step` needs besides the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutState {
    /// The rollout id.
    pub id: String,
    /// The flag whose split gateways read.
    pub flag_key: String,
    /// The team shipping the change; notifications go to it.
    pub owner: String,
    /// Where the rollout is.
    pub phase: Phase,
    /// The current stage in the plan (0 before start).
    pub stage_index: usize,
    /// When the current stage began (None before start). Time spent held does not count: on
    /// resume this moves forward by the time held.
    pub stage_started_at: Option<Timestamp>,
    /// The canary split the flag should hold, in basis points.
    pub split_bp: u32,
    /// Whether the current stage has been extended past its minimum duration.
    pub extended: bool,
    /// Why the rollout is held, while it is.
    pub hold_reason: Option<String>,
    /// When the current hold began.
    pub held_at: Option<Timestamp>,
    /// When the current stage's extension ends (None before start). Normally stage start +
    /// max duration; a resume after an inconclusive hold grants another extension window.
    pub stage_deadline: Option<Timestamp>,
    /// When the rollout was created.
    pub created_at: Timestamp,
    /// When the state last changed.
    pub updated_at: Timestamp,
    /// Metrics whose notify-role halt was already announced in this stage (notify once).
    #[serde(default)]
    pub notified_metrics: Vec<String>,
}

impl RolloutState {
    /// A new pending rollout at 0%.
    pub fn new(id: &str, flag_key: &str, owner: &str, now: Timestamp) -> RolloutState {
        RolloutState {
            id: id.to_string(),
            flag_key: flag_key.to_string(),
            owner: owner.to_string(),
            phase: Phase::Pending,
            stage_index: 0,
            stage_started_at: None,
            split_bp: 0,
            extended: false,
            hold_reason: None,
            held_at: None,
            stage_deadline: None,
            created_at: now,
            updated_at: now,
            notified_metrics: Vec::new(),
        }
    }

    /// The short summary audit rows keep as before/after.
    pub fn snapshot(&self) -> StateSnapshot {
        StateSnapshot {
            phase: self.phase.name().to_string(),
            stage_index: self.stage_index,
            split_bp: self.split_bp,
        }
    }
}

/// A manual action on a rollout, from the CLI or the HTTP API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    /// Begin the first stage.
    Start { actor: String },
    /// Approve promotion out of a stage awaiting approval; the reason, when given, goes into
    /// the audit row.
    Approve {
        actor: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Freeze at the current split.
    Halt { actor: String, reason: String },
    /// Leave a hold: back to running at the held split; the reason, when given, goes into the
    /// audit row.
    Resume {
        actor: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Canary to 0%; the rollout ends.
    Rollback { actor: String, reason: String },
    /// The kill switch: canary to 0% from any state; the rollout ends.
    Kill { actor: String, reason: String },
    /// Promote to the next stage whatever the gates say; recorded as an override.
    ForcePromote { actor: String, reason: String },
}

impl Command {
    /// Who issued it.
    pub fn actor(&self) -> &str {
        match self {
            Command::Start { actor }
            | Command::Approve { actor, .. }
            | Command::Resume { actor, .. }
            | Command::Halt { actor, .. }
            | Command::Rollback { actor, .. }
            | Command::Kill { actor, .. }
            | Command::ForcePromote { actor, .. } => actor,
        }
    }

    /// The snake_case action name used in audit rows.
    pub fn action(&self) -> &'static str {
        match self {
            Command::Start { .. } => "start",
            Command::Approve { .. } => "approve",
            Command::Halt { .. } => "halt",
            Command::Resume { .. } => "resume",
            Command::Rollback { .. } => "rollback",
            Command::Kill { .. } => "kill",
            Command::ForcePromote { .. } => "force_promote",
        }
    }
}

/// Everything one decision looks at besides the state, the plan and the time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Input {
    /// The gate verdicts of this tick; None when the tick produced no data. An input with
    /// commands and no verdicts is a manual action, not a tick: it is not treated as missing data.
    pub verdicts: Option<Vec<MetricVerdict>>,
    /// Data-quality checks (sample ratio, canary shortfall, evaluator failure parity) passed.
    pub data_checks_ok: bool,
    /// Why data checks failed, for reasons and notifications.
    #[serde(default)]
    pub data_check_failures: Vec<String>,
    /// Manual commands, applied in order before the verdicts.
    #[serde(default)]
    pub commands: Vec<Command>,
}

impl Input {
    /// An input carrying only commands (no tick data).
    pub fn commands(commands: Vec<Command>) -> Input {
        Input {
            verdicts: None,
            data_checks_ok: false,
            data_check_failures: Vec::new(),
            commands,
        }
    }

    /// An input carrying one tick's verdicts with passing data checks.
    pub fn verdicts(verdicts: Vec<MetricVerdict>) -> Input {
        Input {
            verdicts: Some(verdicts),
            data_checks_ok: true,
            data_check_failures: Vec::new(),
            commands: Vec::new(),
        }
    }
}

/// How loud a notification is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Progress: started, promoted, completed.
    Info,
    /// Attention: extended, awaiting approval, a notify-role halt.
    Warning,
    /// Action needed: held, rolled back, killed.
    Critical,
}

/// The phase, stage and split before or after a transition, as audit rows keep them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateSnapshot {
    /// The phase name.
    pub phase: String,
    /// The stage index.
    pub stage_index: usize,
    /// The split in basis points.
    pub split_bp: u32,
}

impl std::fmt::Display for StateSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} at stage {} ({} bp)",
            self.phase, self.stage_index, self.split_bp
        )
    }
}

/// Something the controller must do because of a transition, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum Effect {
    /// Write the flag's canary split to every sink.
    SetSplit { flag_key: String, basis_points: u32 },
    /// Tell the owner.
    Notify { severity: Severity, message: String },
    /// Record an audit row.
    Audit {
        /// `evalgate` for automatic transitions, else the human.
        actor: String,
        /// What happened, snake_case (`promote`, `rollback`, `force_promote`, …).
        action: String,
        /// Why.
        reason: String,
        /// True when a human overrode the gates (force promote).
        is_override: bool,
        /// The state before.
        before: StateSnapshot,
        /// The state after.
        after: StateSnapshot,
    },
}

/// What kind of transition `step` made (the last one, when commands and verdicts both acted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransitionKind {
    /// Nothing changed (waiting for time, data or a human).
    Stay,
    /// The first stage began.
    Started,
    /// Moved to the next stage.
    Promoted,
    /// Gates green; a human approval is now needed.
    AwaitingApproval,
    /// The stage ran past its minimum while inconclusive.
    Extended,
    /// Frozen at the current split.
    Held,
    /// Left a hold.
    Resumed,
    /// Canary to 0%.
    RolledBack,
    /// Kill switch.
    Killed,
    /// A human promoted over the gates.
    ForcePromoted,
    /// The plan finished.
    Completed,
    /// A notify-role halt fired; only a notification.
    Notified,
    /// A command that is not valid in the current phase; nothing changed.
    Rejected,
}

/// The result of one decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    /// The state to store.
    pub next: RolloutState,
    /// What to do, in order (set the split before notifying about it).
    pub effects: Vec<Effect>,
    /// When the next decision is due (None for terminal and pending rollouts).
    pub wake_at: Option<Timestamp>,
    /// Why, in one readable line.
    pub reason: String,
    /// The verdicts behind the decision.
    pub evidence: Vec<MetricVerdict>,
    /// What kind of transition it was.
    pub kind: TransitionKind,
}
