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

    /// The phase without its reason.
    pub fn kind(&self) -> PhaseName {
        match self {
            Phase::Pending => PhaseName::Pending,
            Phase::Running => PhaseName::Running,
            Phase::AwaitingApproval => PhaseName::AwaitingApproval,
            Phase::Extended => PhaseName::Extended,
            Phase::Held { .. } => PhaseName::Held,
            Phase::Monitoring => PhaseName::Monitoring,
            Phase::RolledBack { .. } => PhaseName::RolledBack,
            Phase::Killed { .. } => PhaseName::Killed,
            Phase::Completed => PhaseName::Completed,
        }
    }

    /// The snake_case name used in storage, JSON and tables.
    pub fn name(&self) -> &'static str {
        self.kind().as_str()
    }

    /// True while the canary serves traffic under the gates (see [`PhaseName::is_live`]).
    pub fn is_live(&self) -> bool {
        self.kind().is_live()
    }

    /// True when ticks gate the rollout (see [`PhaseName::is_tickable`]).
    pub fn is_tickable(&self) -> bool {
        self.kind().is_tickable()
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
            phase: self.phase.kind(),
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
    /// The phase.
    pub phase: PhaseName,
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

/// A phase without its reason: what the store's `phase` column holds, what `rollout list
/// --phase` filters on and what the API reports. Parsing an unknown name is an error, never a
/// default.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum PhaseName {
    /// See [`Phase::Pending`]; the phase a rollout is created in.
    #[default]
    Pending,
    /// See [`Phase::Running`].
    Running,
    /// See [`Phase::AwaitingApproval`].
    AwaitingApproval,
    /// See [`Phase::Extended`].
    Extended,
    /// See [`Phase::Held`].
    Held,
    /// See [`Phase::Monitoring`].
    Monitoring,
    /// See [`Phase::RolledBack`].
    RolledBack,
    /// See [`Phase::Killed`].
    Killed,
    /// See [`Phase::Completed`].
    Completed,
}

impl PhaseName {
    /// Every phase, in declaration order (the order of `/metrics`' phase state set).
    pub const ALL: [PhaseName; 9] = [
        PhaseName::Pending,
        PhaseName::Running,
        PhaseName::AwaitingApproval,
        PhaseName::Extended,
        PhaseName::Held,
        PhaseName::Monitoring,
        PhaseName::RolledBack,
        PhaseName::Killed,
        PhaseName::Completed,
    ];

    /// The snake_case name used in storage, JSON and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            PhaseName::Pending => "pending",
            PhaseName::Running => "running",
            PhaseName::AwaitingApproval => "awaiting_approval",
            PhaseName::Extended => "extended",
            PhaseName::Held => "held",
            PhaseName::Monitoring => "monitoring",
            PhaseName::RolledBack => "rolled_back",
            PhaseName::Killed => "killed",
            PhaseName::Completed => "completed",
        }
    }

    /// The phase named `name`, or `None` for a name no phase has.
    pub fn parse(name: &str) -> Option<PhaseName> {
        PhaseName::ALL
            .into_iter()
            .find(|phase| phase.as_str() == name)
    }

    /// True for `rolled_back`, `killed` and `completed`.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            PhaseName::RolledBack | PhaseName::Killed | PhaseName::Completed
        )
    }

    /// True while the canary serves traffic under the gates: running, extended, awaiting
    /// approval or monitoring (not pending, not held, not over). The fail-safe acts only then.
    pub fn is_live(self) -> bool {
        matches!(
            self,
            PhaseName::Running
                | PhaseName::Extended
                | PhaseName::AwaitingApproval
                | PhaseName::Monitoring
        )
    }

    /// True when ticks gate the rollout: started and not over (a held rollout is still ticked,
    /// so its evidence keeps accruing).
    pub fn is_tickable(self) -> bool {
        self != PhaseName::Pending && !self.is_terminal()
    }

    /// True when the canary is stopped: held, rolled back or killed.
    pub fn is_halted(self) -> bool {
        matches!(
            self,
            PhaseName::Held | PhaseName::RolledBack | PhaseName::Killed
        )
    }
}

/// A stored phase name no phase has (a newer binary's phase, or a damaged row).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown rollout phase `{0}` (known: pending, running, extended, awaiting_approval, held, monitoring, completed, rolled_back, killed)"
)]
pub struct UnknownPhase(pub String);

impl std::str::FromStr for PhaseName {
    type Err = UnknownPhase;

    fn from_str(name: &str) -> Result<PhaseName, UnknownPhase> {
        PhaseName::parse(name).ok_or_else(|| UnknownPhase(name.to_string()))
    }
}

impl std::fmt::Display for PhaseName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
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

impl TransitionKind {
    /// The snake_case name used in audit rows, JSON and tables (as serde writes it).
    pub fn as_str(self) -> &'static str {
        match self {
            TransitionKind::Stay => "stay",
            TransitionKind::Started => "started",
            TransitionKind::Promoted => "promoted",
            TransitionKind::AwaitingApproval => "awaiting_approval",
            TransitionKind::Extended => "extended",
            TransitionKind::Held => "held",
            TransitionKind::Resumed => "resumed",
            TransitionKind::RolledBack => "rolled_back",
            TransitionKind::Killed => "killed",
            TransitionKind::ForcePromoted => "force_promoted",
            TransitionKind::Completed => "completed",
            TransitionKind::Notified => "notified",
            TransitionKind::Rejected => "rejected",
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn phases() -> Vec<Phase> {
        let reason = "r".to_string();
        vec![
            Phase::Pending,
            Phase::Running,
            Phase::AwaitingApproval,
            Phase::Extended,
            Phase::Held {
                reason: reason.clone(),
            },
            Phase::Monitoring,
            Phase::RolledBack {
                reason: reason.clone(),
            },
            Phase::Killed { reason },
            Phase::Completed,
        ]
    }

    #[test]
    fn a_phase_name_is_what_serde_stores_and_parses_back() {
        let mut seen = Vec::new();
        for phase in phases() {
            let stored = serde_json::to_value(&phase).unwrap();
            assert_eq!(stored["phase"], phase.name(), "{phase:?}");
            let kind = phase.kind();
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
            assert_eq!(PhaseName::parse(kind.as_str()), Some(kind));
            assert_eq!(kind.is_terminal(), phase.is_terminal());
            seen.push(kind);
        }
        seen.sort();
        let mut all = PhaseName::ALL.to_vec();
        all.sort();
        assert_eq!(seen, all, "ALL lists every phase once");
        assert_eq!(PhaseName::parse("rolledback"), None);
        assert_eq!(PhaseName::parse(""), None);
    }

    #[test]
    fn live_tickable_and_halted_phases() {
        let names = |keep: fn(PhaseName) -> bool| -> Vec<&str> {
            PhaseName::ALL
                .into_iter()
                .filter(|p| keep(*p))
                .map(PhaseName::as_str)
                .collect()
        };
        assert_eq!(
            names(PhaseName::is_live),
            ["running", "awaiting_approval", "extended", "monitoring"]
        );
        assert_eq!(
            names(PhaseName::is_tickable),
            [
                "running",
                "awaiting_approval",
                "extended",
                "held",
                "monitoring"
            ]
        );
        assert_eq!(
            names(PhaseName::is_halted),
            ["held", "rolled_back", "killed"]
        );
    }

    #[test]
    fn a_transition_kind_name_is_what_serde_writes() {
        use TransitionKind::*;
        for kind in [
            Stay,
            Started,
            Promoted,
            AwaitingApproval,
            Extended,
            Held,
            Resumed,
            RolledBack,
            Killed,
            ForcePromoted,
            Completed,
            Notified,
            Rejected,
        ] {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
    }
}
