//! One file per config section; each section validates its own values and returns the failing
//! key (relative to the file) with what is allowed.

mod evals;
mod flags;
mod gates;
mod ingest;
mod judges;
mod notify;
mod rollout;
mod sampling;
mod schedule;
mod server;
mod store;

pub use evals::EvalsConfig;
pub use flags::{FlagsConfig, SinkKind};
pub use gates::{
    Authority, Direction, GateSettings, GatesConfig, MetricKind, MetricOverride, MetricSettings,
    PER_EVALUATOR_KEY, Scale,
};
pub use ingest::IngestConfig;
pub use judges::{JudgeConfig, MaxTokensField};
pub use notify::{NotifyConfig, NotifyFormat};
pub use rollout::{FailSafe, RolloutConfig, SaltPolicy};
pub use sampling::SamplingConfig;
pub use schedule::{ScheduleConfig, Schedules};
pub use server::ServerConfig;
pub use store::StoreConfig;

/// A validation failure: the dotted key (relative to the file, e.g. `schedule.ticks`) and what
/// is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{key}` {message}")]
pub struct Invalid {
    /// The dotted key.
    pub key: String,
    /// What is wrong with its value, and what is allowed.
    pub message: String,
}

impl Invalid {
    /// `key` is invalid: `message`.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Invalid {
        Invalid {
            key: key.into(),
            message: message.into(),
        }
    }

    /// The same failure with its key under `prefix` (a judge's keys under `judges.NAME`).
    pub fn under(self, prefix: &str) -> Invalid {
        Invalid {
            key: format!("{prefix}.{}", self.key),
            ..self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Invalid;

    #[test]
    fn an_invalid_value_names_its_key_and_nests_under_a_prefix() {
        let err = Invalid::new("model", "is empty");
        assert_eq!(err.to_string(), "`model` is empty");
        let nested = err.under("judges.default");
        assert_eq!(nested.key, "judges.default.model");
        assert_eq!(nested.message, "is empty");
    }
}
