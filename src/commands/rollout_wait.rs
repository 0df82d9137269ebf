//! `rollout status ID --wait [--timeout D]`: blocks until the rollout's phase ends the wait, for
//! CI pipelines, and maps that phase to a documented exit code (README, `evalgate rollout`).

use crate::adapters::store::Store;
use crate::domain::rollout::Phase;
use crate::worker::controller::LoadedRollout;

/// How `rollout status --wait` ends: the phase it stopped on decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitOutcome {
    /// Completed: exit 0.
    Completed,
    /// Rolled back or killed: exit 1.
    Failed,
    /// Held or awaiting approval, a person must act: exit 3.
    NeedsPerson,
    /// `--timeout` passed while the rollout was still moving: exit 4.
    TimedOut,
}

impl WaitOutcome {
    /// The outcome a phase ends the wait with (`None`: still moving, keep waiting).
    pub fn of(phase: &Phase) -> Option<WaitOutcome> {
        match phase {
            Phase::Completed => Some(WaitOutcome::Completed),
            Phase::RolledBack { .. } | Phase::Killed { .. } => Some(WaitOutcome::Failed),
            Phase::Held { .. } | Phase::AwaitingApproval => Some(WaitOutcome::NeedsPerson),
            Phase::Pending | Phase::Running | Phase::Extended | Phase::Monitoring => None,
        }
    }

    /// The documented exit code.
    pub fn code(self) -> u8 {
        match self {
            WaitOutcome::Completed => 0,
            WaitOutcome::Failed => 1,
            WaitOutcome::NeedsPerson => 3,
            WaitOutcome::TimedOut => 4,
        }
    }
}

/// How often `--wait` reads the rollout again.
const WAIT_POLL: std::time::Duration = std::time::Duration::from_secs(2);

/// Polls the rollout until its phase ends the wait or the timeout passes.
pub async fn wait_for(
    store: &Store,
    id: &str,
    timeout: Option<std::time::Duration>,
) -> anyhow::Result<WaitOutcome> {
    let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
    loop {
        let rollout = LoadedRollout::load(store, id).await?;
        if let Some(outcome) = WaitOutcome::of(&rollout.state.phase) {
            return Ok(outcome);
        }
        let pause = match deadline {
            Some(deadline) => {
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                if left.is_zero() {
                    crate::errln!(
                        "timed out: rollout {id} is still {}",
                        rollout.state.phase.name()
                    );
                    return Ok(WaitOutcome::TimedOut);
                }
                left.min(WAIT_POLL)
            }
            None => WAIT_POLL,
        };
        tokio::time::sleep(pause).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_phase_either_ends_the_wait_with_its_code_or_keeps_waiting() {
        let reason = || "r".to_string();
        let cases = [
            (Phase::Completed, Some(0)),
            (Phase::RolledBack { reason: reason() }, Some(1)),
            (Phase::Killed { reason: reason() }, Some(1)),
            (Phase::Held { reason: reason() }, Some(3)),
            (Phase::AwaitingApproval, Some(3)),
            (Phase::Pending, None),
            (Phase::Running, None),
            (Phase::Extended, None),
            (Phase::Monitoring, None),
        ];
        for (phase, code) in cases {
            assert_eq!(
                WaitOutcome::of(&phase).map(WaitOutcome::code),
                code,
                "{phase:?}"
            );
        }
        assert_eq!(WaitOutcome::TimedOut.code(), 4);
    }
}
